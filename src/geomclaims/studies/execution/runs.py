"""Run access and shared helpers of the execution-manifolds study's evidence functions.

Every trained quantity comes from ``ctx.run("train", config, seed, train_run)``: one cached ensemble run per
(variant, modifiers), shared by all claims that need it (``run_of``). The helpers here turn a run into the pieces
every evidence function reports: learning preconditions, accuracy curves and notes, paired-seed checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from geomclaims.registry import Evidence, NotRun, RunContext
from geomclaims.studies.execution.profiles import (
    DEFERRED_RUNS,
    MAIN_VARIANT,
    SGD_VARIANT,
    deferred_run,
    train_config,
)
from geomclaims.studies.execution.train import train_run

# Variants trained a second time on shuffled labels (the "nothing to learn" control of their trajectory claims).
SHUFFLED_TWIN_VARIANTS = frozenset({MAIN_VARIANT, SGD_VARIANT})


def uses_ordering_seeds(variant: str, mods: Mapping[str, Any]) -> bool:
    """Is this one of the runs the paired ordering claims (E2, E9, E11) read? Those get ``ordering_seeds``.

    They are the main variant's mixed-schedule runs without explicit seeds: the main run itself (E2), its
    shuffled-label twin (E2-vs-shuffled), the MLP run (E9) and the add/mul runs on the prime modulus (E11). Every
    other run (curriculum, shared-init twins, other variants) keeps ``seeds`` to save CPU.
    """
    return (
        variant == MAIN_VARIANT
        and mods.get("schedule", "mixed") == "mixed"
        and not mods.get("seeds")
        and not mods.get("init_seeds")
    )


def run_of(
    ctx: RunContext, variant: str = MAIN_VARIANT, **mods: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, result) of one ensemble run; the main variant's run always records commutators (one cache entry).

    Its shuffled-label twin records them too: E6's control (issue 22 item 8), the same persistence read off a run
    with nothing to learn. A run the profile defers (``deferred_runs``) raises NotRun before anything is trained.
    """
    deferred = deferred_run(
        dict(ctx.settings), mlp=bool(mods.get("mlp")), schedule=mods.get("schedule", "mixed"), C=mods.get("C")
    )
    if deferred:
        raise NotRun(
            f"budget deferral (issue 30): this profile does not train {DEFERRED_RUNS[deferred]}; with it a cold ci "
            "run took over CI's 90 minutes. The full profile trains it (profiles.py 'deferred_runs')."
        )
    if variant == MAIN_VARIANT and not any(mods.get(k) for k in ("mlp", "init_seeds", "seeds", "C")):
        if mods.get("schedule", "mixed") == "mixed" and mods.get("op", "add") == "add":
            mods["commutators"] = True
            mods["sae"] = mods.get("labels", "true") == "true"
    if uses_ordering_seeds(variant, mods):
        mods["seeds"] = [int(s) for s in ctx.settings["ordering_seeds"]]
    cfg = train_config(ctx.settings, variant, ctx.device, **mods)
    return cfg, ctx.run("train", cfg, cfg["seeds"][0], train_run)


def final_acc(result: Mapping[str, Any]) -> np.ndarray:
    return np.asarray(result["acc"])[:, -1]  # [E, n_m]


def learning_preconditions(result: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Did this run learn? ``final_acc_m_le_2`` / ``final_acc_all_m``: min over those m of the seed-mean final accuracy.

    Claims about the learned algorithm ``require`` these (Contract v2); a run that did not learn makes a claim
    untestable with the measured accuracy instead of not_replicated.
    """
    acc = final_acc(result).mean(0)
    ms = np.asarray(result["m_values"])
    if not np.any(ms <= 2):
        raise ValueError(f"run has no m <= 2 among m_values {ms.tolist()}")
    return {
        prefix + "final_acc_m_le_2": float(acc[ms <= 2].min()),
        prefix + "final_acc_all_m": float(acc.min()),
    }


def with_preconditions(
    measured: Any,
    null: Any = None,
    *,
    details: dict[str, Any],
    notes: list[str],
    preconditions: dict[str, float],
) -> Evidence:
    """Evidence with its preconditions (also copied into details so the report can show them)."""
    details = {**details, "preconditions": dict(preconditions)}
    return Evidence(measured=measured, null=null, details=details, notes=notes, preconditions=preconditions)


_ALTERNATIVE = {">": "greater", ">=": "greater", "<": "less", "<=": "less"}


def paired_wilcoxon(diff: Any, op: str) -> dict[str, Any]:
    """One-sided Wilcoxon signed-rank test of paired per-seed differences (scipy.stats.wilcoxon), for the report.

    ``diff`` holds one paired difference per seed; ``op`` is the claim's ``expect`` operator and sets the side
    (``>``: the differences lie above 0). Zero differences are dropped (scipy's default ``wilcox`` method), so an
    all-zero sample carries no evidence and gets p = 1. The verdict never reads this p: the decision is the decision
    module's seed-CI rule (ci_above / ci_below); the p shows how strong the same paired ordering is by ranks.
    """
    if op not in _ALTERNATIVE:
        raise ValueError(
            f"paired_wilcoxon: expect op {op!r} is not an ordering (use one of {list(_ALTERNATIVE)})"
        )
    d = np.asarray(diff, dtype=float).ravel()
    if d.size == 0 or not np.all(np.isfinite(d)):
        raise ValueError(f"paired_wilcoxon: differences must be finite and non-empty, got {d.tolist()}")
    alternative = _ALTERNATIVE[op]
    n_nonzero = int(np.count_nonzero(d))
    p = 1.0 if n_nonzero == 0 else float(stats.wilcoxon(d, alternative=alternative).pvalue)
    return {"p": p, "alternative": alternative, "n": int(d.size), "n_nonzero": n_nonzero}


def acc_curves(result: Mapping[str, Any]) -> dict[str, Any]:
    """Per-m accuracy curves (mean over seeds) and per-seed final accuracies, for details and the report."""
    acc = np.asarray(result["acc"])  # [E, S, n_m]
    return {
        "acc_steps": np.asarray(result["snap_steps"]).astype(int).tolist(),
        "acc_m_values": np.asarray(result["m_values"]).astype(int).tolist(),
        "acc_curve_per_m": acc.mean(0).T.round(4).tolist(),  # [n_m][S]
        "final_acc_per_seed": acc[:, -1].round(4).tolist(),  # [E][n_m]
    }


def acc_note(variant: str, result: Mapping[str, Any]) -> str:
    acc = final_acc(result).mean(0)
    ms = np.asarray(result["m_values"]).tolist()
    parts = ", ".join(f"m={m}: {a:.2f}" for m, a in zip(ms, acc, strict=True))
    return f"variant {variant}: final accuracy per m (mean over seeds; chance 0.125) {parts}"


def member_rows(result: Mapping[str, Any], seeds: Any) -> np.ndarray:
    """Member indices of ``seeds`` in ``result`` (raises naming the seed if a run lacks it)."""
    have = [int(s) for s in np.asarray(result["seeds"])]
    missing = [int(s) for s in seeds if int(s) not in have]
    if missing:
        raise ValueError(f"run with seeds {have} has no member for seeds {missing}")
    return np.array([have.index(int(s)) for s in seeds])
