"""Sec. 5 task bullets and App. B.1: exact signature identities of the addition tasks (P5, ``signature/signatures``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.metrics import cosine_matrix, r_cos, r_order
from geomclaims.registry import Evidence, RunContext, evidence

from . import signatures, train
from .shared import _upper
from .tasks import ANCHORS, TASKS, TaskSpec

IDENTICAL = {"f_add": ["phi_X"], "f_tadd": ["phi_y"], "f_mod": ["phi_y", "phi_X"]}
DISTINCT = {"f_add": ["phi_y"], "f_tadd": ["phi_X"], "f_mod": ["phi_Xy"]}


def exact_task_signatures(task: str) -> dict[str, Any]:
    """The claim-level signatures from the full enumeration (ground truth)."""
    X, y = TaskSpec(task).enumerate()
    return signatures.task_signatures(X, y, task)


@evidence("signature/signatures")
def signature_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    task = str(case.params["task"])
    metric = case.claim.metric
    exact = exact_task_signatures(task)
    details: dict[str, Any] = {
        "printed_vs_enumeration": signatures.printed_findings(task),
        "key_signature": signatures.KEY_SIGNATURE[task],
        "r_order_key_signature": r_order(exact[signatures.KEY_SIGNATURE[task]], np.asarray(ANCHORS, float)),
        "cos_key_signature": np.round(cosine_matrix(exact[signatures.KEY_SIGNATURE[task]]), 5).tolist(),
    }
    if metric == "identical_deviation":
        dev = [float(1.0 - _upper(cosine_matrix(exact[name])).min()) for name in IDENTICAL[task]]
        details["per_signature"] = dict(zip(IDENTICAL[task], dev, strict=True))
        return Evidence(measured=[max(dev)], details=details)
    if metric == "distinct_separation":
        sep = [float(1.0 - _upper(cosine_matrix(exact[name])).max()) for name in DISTINCT[task]]
        details["per_signature"] = dict(zip(DISTINCT[task], sep, strict=True))
        return Evidence(measured=[min(sep)], details=details)
    if metric == "sampling_r_cos":
        n = int(train.SCHEDULES[ctx.settings["toy_schedule"]]["n_samples"])
        key = signatures.KEY_SIGNATURE[task]
        vals, tvs = [], []
        for seed in ctx.settings["seeds"]:
            X, y = train.make_dataset(task, n, 1000 * int(seed) + TASKS.index(task))
            emp = signatures.task_signatures(X, y, task)
            ok = emp["varphi_X"].sum(axis=1) > 0  # a label absent from a small sample has no row
            vals.append(
                min(
                    r_cos(cosine_matrix(emp[key]), cosine_matrix(exact[key])),
                    r_cos(cosine_matrix(emp["varphi_X"][ok]), cosine_matrix(exact["varphi_X"][ok])),
                )
            )
            tvs.append(signatures.sampling_error(emp, exact))
        details["n_samples"] = n
        details["weighted_tv_error"] = tvs
        return Evidence(measured=vals, details=details)
    raise KeyError(f"signature/signatures has no metric {metric!r}")
