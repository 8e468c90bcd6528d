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
    if metric == "shift_deviation":
        dev = shift_deviation(task, "occurrence")
        details["shift_deviation_membership"] = shift_deviation(task, "membership")
        return Evidence(measured=[dev], details=details)
    raise KeyError(f"signature/signatures has no metric {metric!r}")


def shifted_key_rows(task: str, counting: str) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 1A's horizontal shift: every anchor's key signature (exact enumeration under ``counting``) and anchor
    11's shifted by the anchor difference along the axis the task moves. f_add: phi^y over labels, +1 per anchor
    step (y = z + a1 + a2); f~add: phi^X over keys, -1 (z = y - a1 - a2); f_mod: phi^{X|y} over the key block of
    each label, cyclically -1 modulo |Z| (y - min Z = z + a1 + a2 mod |Z|). Returns (actual, predicted) [|A|, ...]."""
    spec = TaskSpec(task)
    ex = signatures.enumerate_exact(task, counting=counting)
    anchors = np.asarray(spec.anchors)
    steps = anchors - anchors[0]
    if task == "f_add":
        rows = ex.phi_y[anchors]
        pred = np.stack([np.roll(rows[0], s) for s in steps])
    elif task == "f_tadd":
        rows = ex.phi_X[anchors][:, spec.key_domain]
        pred = np.stack([np.roll(rows[0], -s) for s in steps])
    elif task == "f_mod":
        rows = ex.phi_Xy[:, spec.label_domain][:, :, spec.key_domain]
        pred = np.stack([np.roll(rows[0], -s, axis=-1) for s in steps])
    else:
        raise ValueError(f"unknown task {task!r}")
    return rows, pred


def shift_deviation(task: str, counting: str = "occurrence") -> float:
    """Largest |actual - shifted| entry over all anchors (0 for an exact shift; see :func:`shifted_key_rows`)."""
    rows, pred = shifted_key_rows(task, counting)
    return float(np.max(np.abs(rows - pred)))
