"""Orientation checks of the execution study (the study contract's item 7; geomclaims.orientation).

Each check hands an evidence function synthetic training runs whose answer is known by construction (trajectories
spread over k orthonormal directions have r90 close to k; constant accuracy curves have a known mean) and swaps the
two runs a paired difference compares: a difference computed the wrong way round gives the swapped value. Not part
of the study's code version (registry.UNHASHED): nothing here is stored as a result. tests/studies/execution holds
the finer wiring tests (which run is the null, preconditions, details).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.orientation import CannedRuns, OrientationCheck, median_measured
from geomclaims.registry import study_settings
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution.dynamics import curriculum_evidence
from geomclaims.studies.execution.experiment import trajectory_evidence

MEMBERS, SNAPSHOTS, SIDE = 3, 13, 4  # synthetic runs: members, snapshots, matrix side (16 coordinates)
M_VALUES = (1, 2, 3, 4)
LEARNED = (1.0, 0.98, 0.95, 0.92)


def synthetic_run(dims: Mapping[str, int], acc: tuple[float, ...], seed: int = 0, mlp: bool = False) -> dict:
    """A run whose matrix trajectories of type t spread over ``dims[t]`` directions (default 6) and whose per-m
    accuracy is ``acc`` at every snapshot; ``mlp`` adds W_in / W_out as an MLP model records them."""
    rng = np.random.default_rng(seed)
    types = (*A.MATRIX_TYPES, "W_in", "W_out") if mlp else A.MATRIX_TYPES
    names = [f"L{layer}_{t}" for layer in range(2) for t in types]

    def trajectory(k: int) -> np.ndarray:
        basis = np.linalg.qr(rng.standard_normal((SIDE * SIDE, k)))[0].T
        return (rng.standard_normal((SNAPSHOTS, k)) @ basis).reshape(SNAPSHOTS, SIDE, SIDE)

    run: dict[str, Any] = {
        "seeds": np.arange(MEMBERS),
        "matrices": names,
        "m_values": np.asarray(M_VALUES),
        "snap_steps": np.arange(SNAPSHOTS) * 10,
        "acc": np.broadcast_to(np.asarray(acc, dtype=float), (MEMBERS, SNAPSHOTS, len(M_VALUES))).copy(),
        "stage_end_step": np.full((MEMBERS, len(M_VALUES)), -1),
        "entropy": np.ones((MEMBERS, SNAPSHOTS, 2)),
    }
    for n in names:
        run[f"snap/{n}"] = np.stack([trajectory(dims.get(n.split("_", 1)[1], 6)) for _ in range(MEMBERS)])
    return run


def _serve(runs: Mapping[str, dict]) -> Any:
    """Pick the synthetic run the evidence function asked for by its config's modifiers."""

    def serve(name: str, config: Mapping[str, Any], seed: int) -> dict:
        if config["model"]["mlp"]:
            return runs["mlp"]
        if config["task"]["op"] == "mul":
            return runs["mul"]
        if config["task"]["schedule"] == "curriculum":
            return runs["curriculum"]
        if config["labels"] == "shuffled":
            return runs["shuffled"]
        return runs["main"]

    return serve


def _measure(evidence: Any, case: ClaimCase, runs: Mapping[str, dict]) -> float:
    return median_measured(evidence(case, CannedRuns(study_settings("execution", "smoke"), _serve(runs))))


LOW = dict.fromkeys(A.MATRIX_TYPES, 2)
HIGH = dict.fromkeys(A.MATRIX_TYPES, 6)
HIGH_QK = {"W_Q": 6, "W_K": 6, "W_V": 2, "W_O": 2}
HIGH_VO = {"W_Q": 2, "W_K": 2, "W_V": 6, "W_O": 6}


def _r90_gap(high: Mapping[str, int], low: Mapping[str, int]) -> float:
    """r90 of ``high``'s matrices minus ``low``'s, read off the same synthetic trajectories (their own metric)."""
    a, b = synthetic_run(high, LEARNED, seed=7), synthetic_run(low, LEARNED, seed=7)
    return float(
        np.median(A.per_member(a, "W_Q", "r90") - A.per_member(b, "W_Q", "r90"))
    )  # W_Q: 6 directions vs 2


def _qk_minus_vo(case: ClaimCase, swapped: bool) -> float:
    """Q/K spread over 6 directions, V/O over 2; swapped: the reverse."""
    dims = HIGH_VO if swapped else HIGH_QK
    runs = {"main": synthetic_run(dims, LEARNED), "shuffled": synthetic_run(LOW, (0.125,) * 4, seed=1)}
    return _measure(trajectory_evidence, case, runs)


def _mul_minus_add(case: ClaimCase, swapped: bool) -> float:
    """The multiplication run spreads over 6 directions, the addition run over 2; swapped: the two runs exchanged."""
    mul, add = synthetic_run(HIGH, LEARNED, seed=3), synthetic_run(LOW, LEARNED)
    runs = {"main": mul if swapped else add, "mul": add if swapped else mul}
    return _measure(trajectory_evidence, case, runs)


_MLP_ACC = (1.0, 1.0, 0.5, 0.4)


def _mlp_acc_minus_attn(case: ClaimCase, swapped: bool) -> float:
    """The MLP model ends at mean accuracy 0.725, the attention-only model at 0.9625; swapped: runs exchanged."""
    mlp, attn = synthetic_run(HIGH, _MLP_ACC, seed=2, mlp=True), synthetic_run(LOW, LEARNED)
    if swapped:
        mlp["acc"], attn["acc"] = attn["acc"].copy(), mlp["acc"].copy()
    return _measure(trajectory_evidence, case, {"main": attn, "mlp": mlp})


def _mixed_minus_curriculum(case: ClaimCase, swapped: bool) -> float:
    """Mixed training keeps m = 1 at 1.0, the curriculum forgets it to 0.3; swapped: the two runs exchanged."""
    mixed, cur = synthetic_run(LOW, LEARNED), synthetic_run(LOW, (0.3, 0.5, 0.9, 0.95), seed=4)
    cur["stage_end_step"] = np.tile([20, 40, 60, -1], (MEMBERS, 1))  # every stage left once learned
    if swapped:
        mixed["acc"], cur["acc"] = cur["acc"].copy(), mixed["acc"].copy()
    return _measure(curriculum_evidence, case, {"main": mixed, "curriculum": cur})


CHECKS = (
    OrientationCheck(
        "execution/trajectory",
        "qk_minus_vo",
        "Q/K minus V/O read as V/O minus Q/K",
        _qk_minus_vo,
        expected=_r90_gap(HIGH_QK, HIGH_VO),
        atol=1.0,
    ),
    OrientationCheck(
        "execution/trajectory",
        "mul_minus_add",
        "multiplication and addition runs exchanged",
        _mul_minus_add,
        expected=_r90_gap(HIGH, LOW),
        atol=1.0,
    ),
    OrientationCheck(
        "execution/trajectory",
        "mlp_acc_minus_attn",
        "MLP and attention-only runs exchanged",
        _mlp_acc_minus_attn,
        expected=float(np.mean(_MLP_ACC) - np.mean(LEARNED)),
    ),
    OrientationCheck(
        "execution/curriculum",
        "acc_m1_mixed_minus_curriculum",
        "mixed and curriculum runs exchanged",
        _mixed_minus_curriculum,
        expected=LEARNED[0] - 0.3,
    ),
)
