"""Orientation checks of the execution study (the study contract's item 7; geomclaims.orientation).

Each check hands an evidence function synthetic training runs whose answer is known by construction and swaps the two
inputs a directional metric compares (two runs, two time orders, a measurement and its control): a metric computed the
wrong way round gives the swapped value. The trajectories are isotropic: the centred snapshots of a matrix have k
equal singular values along k chosen orthonormal directions, so r90 and the participation ratio are exactly k (k < 10)
and a trajectory's execution subspace is exactly the span of those directions; every expected value below follows
from that by hand. Not part of the study's code version (registry.UNHASHED): nothing here is stored as a result.
tests/studies/execution holds the finer wiring tests (which run is the null, preconditions, details).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.orientation import CannedRuns, OrientationCheck, median_measured
from geomclaims.registry import study_settings
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution.dynamics import (
    commutator_evidence,
    curriculum_evidence,
    entropy_evidence,
    sae_evidence,
)
from geomclaims.studies.execution.experiment import trajectory_evidence
from geomclaims.studies.execution.statements import entropy_per_m_evidence

MEMBERS, SNAPSHOTS, SIDE = 3, 13, 4  # synthetic runs: members, snapshots, matrix side (16 coordinates)
D = SIDE * SIDE
M_VALUES = (1, 2, 3, 4)
LEARNED = (1.0, 0.98, 0.95, 0.92)
FRAME = np.linalg.qr(np.random.default_rng(99).standard_normal((D, D)))[
    0
].T  # fixed orthonormal directions (rows)


def isotropic(directions: np.ndarray, seed: int = 0) -> np.ndarray:
    """A trajectory [SNAPSHOTS, D] whose centred snapshots have equal variance along each row of ``directions``
    (orthonormal) and none elsewhere: mean-zero, mutually orthogonal unit coefficient columns, plus an offset."""
    rng = np.random.default_rng(seed)
    k = directions.shape[0]
    cols = np.linalg.qr(np.column_stack([np.ones(SNAPSHOTS), rng.standard_normal((SNAPSHOTS, k))]))[0][:, 1:]
    return cols @ directions + rng.standard_normal(D)


def plane(theta: float) -> np.ndarray:
    """The 2-plane spanned by FRAME[0] and cos(theta) FRAME[1] + sin(theta) FRAME[2]: two such planes meet at
    principal angles (0, |theta_a - theta_b|), so their overlap (mean cosine) is (1 + cos(theta_a - theta_b)) / 2."""
    return np.stack([FRAME[0], math.cos(theta) * FRAME[1] + math.sin(theta) * FRAME[2]])


Traj = Callable[[int, str, int], np.ndarray]  # (member, matrix type, layer) -> [SNAPSHOTS, D]


def synthetic_run(
    dims: Mapping[str, int],
    acc: tuple[float, ...],
    seed: int = 0,
    mlp: bool = False,
    traj: Traj | None = None,
    seeds: tuple[int, ...] | None = None,
    snapshots: int = SNAPSHOTS,
) -> dict:
    """A run whose matrix trajectories of type t spread isotropically over ``dims[t]`` random directions (default 6;
    ``traj`` overrides) and whose per-m accuracy is ``acc`` at every snapshot; ``mlp`` adds W_in / W_out."""
    rng = np.random.default_rng(seed)
    types = (*A.MATRIX_TYPES, "W_in", "W_out") if mlp else A.MATRIX_TYPES
    names = [f"L{layer}_{t}" for layer in range(2) for t in types]

    def default(member: int, mtype: str, layer: int) -> np.ndarray:
        k = dims.get(mtype, 6)
        return isotropic(np.linalg.qr(rng.standard_normal((D, k)))[0].T, seed=int(rng.integers(1 << 30)))

    make = traj or default
    seeds = seeds if seeds is not None else tuple(range(MEMBERS))
    run: dict[str, Any] = {
        "seeds": np.asarray(seeds),
        "matrices": names,
        "m_values": np.asarray(M_VALUES),
        "snap_steps": np.arange(snapshots) * 10,
        "acc": np.broadcast_to(np.asarray(acc, dtype=float), (len(seeds), snapshots, len(M_VALUES))).copy(),
        "stage_end_step": np.full((len(seeds), len(M_VALUES)), -1),
        "entropy": np.ones((len(seeds), snapshots, 2)),
    }
    for n in names:
        layer, mtype = int(n[1]), n.split("_", 1)[1]
        run[f"snap/{n}"] = np.stack([make(e, mtype, layer) for e in range(len(seeds))]).reshape(
            len(seeds), snapshots, SIDE, SIDE
        )
    return run


def _serve(runs: Mapping[str, dict]) -> Any:
    """Pick the synthetic run the evidence function asked for by its config's modifiers."""

    def serve(name: str, config: Mapping[str, Any], seed: int) -> dict:
        if config["init_seeds"]:
            return runs["twin"]
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
CHANCE = (0.125,) * 4

# ----------------------------------------------------------------------------------------------------------
# Trajectory geometry (E2-E4, E9, E11)
# ----------------------------------------------------------------------------------------------------------


def _qk_minus_vo(case: ClaimCase, swapped: bool) -> float:
    """Q/K spread over 6 directions, V/O over 2; swapped: the reverse."""
    dims = HIGH_VO if swapped else HIGH_QK
    runs = {"main": synthetic_run(dims, LEARNED), "shuffled": synthetic_run(LOW, CHANCE, seed=1)}
    return _measure(trajectory_evidence, case, runs)


def _mul_minus_add(case: ClaimCase, swapped: bool) -> float:
    """The multiplication run spreads over 6 directions, the addition run over 2; swapped: the two runs exchanged."""
    mul, add = synthetic_run(HIGH, LEARNED, seed=3), synthetic_run(LOW, LEARNED)
    runs = {"main": mul if swapped else add, "mul": add if swapped else mul}
    return _measure(trajectory_evidence, case, runs)


def _mlp_runs(swapped: bool) -> dict[str, dict]:
    """Attention matrices over 6 directions in the MLP model, 2 in the attention-only one; the MLP's own W_in /
    W_out over 3 (so reading them into the attention comparison moves the value); swapped: the two runs exchanged."""
    mlp = synthetic_run({**HIGH, "W_in": 3, "W_out": 3}, LEARNED, seed=2, mlp=True)
    attn = synthetic_run(
        LOW, LEARNED, seed=5, mlp=swapped
    )  # an MLP-shaped run when it stands in for the MLP one
    return {"main": mlp, "mlp": attn} if swapped else {"main": attn, "mlp": mlp}


def _mlp_minus_attn(case: ClaimCase, swapped: bool) -> float:
    return _measure(trajectory_evidence, case, _mlp_runs(swapped))


def _mlp_dimension(case: ClaimCase, swapped: bool) -> float:
    return _measure(trajectory_evidence, case, _mlp_runs(swapped))


_MLP_ACC = (1.0, 1.0, 0.5, 0.4)


def _mlp_acc_minus_attn(case: ClaimCase, swapped: bool) -> float:
    """The MLP model ends at mean accuracy 0.725, the attention-only model at 0.9625; swapped: runs exchanged."""
    mlp, attn = synthetic_run(HIGH, _MLP_ACC, seed=2, mlp=True), synthetic_run(LOW, LEARNED)
    if swapped:
        mlp["acc"], attn["acc"] = attn["acc"].copy(), mlp["acc"].copy()
    return _measure(trajectory_evidence, case, {"main": attn, "mlp": mlp})


SPREAD = (2, 4, 6)  # per-member r90 of the E4 run: |2 - 5|, |4 - 4|, |6 - 3| -> median deviation 3


def _seed_deviation(case: ClaimCase, swapped: bool) -> float:
    """Members spread over 2, 4 and 6 directions (deviations 3, 0, 3); the shuffled twin's all over 4 (deviation 0);
    swapped: the main run and its shuffled-label twin exchanged."""
    spread = synthetic_run({}, LEARNED, traj=lambda e, t, li: isotropic(FRAME[: SPREAD[e]], seed=10 * e + li))
    flat = synthetic_run(LOW, CHANCE, traj=lambda e, t, li: isotropic(FRAME[:4], seed=10 * e + li))
    runs = {"main": flat, "shuffled": spread} if swapped else {"main": spread, "shuffled": flat}
    return _measure(trajectory_evidence, case, runs)


# E3 needs a longer run: the step-matched walk null is computed too, and at 13 snapshots (an early window of 4) a
# walk's r90 can exceed the 3 directions the window spans (Untestable). 41 snapshots: an early window of 11.
EARLY_SNAPSHOTS, EARLY_WINDOW = 41, 11


def early_settled(seed: int = 0) -> np.ndarray:
    """A trajectory whose centred snapshots are c1 f0 + c2 f1 + c3 f2 with mean-zero, mutually orthogonal columns,
    |c1| = |c2| = 1, |c3|^2 = 0.1 and c3 = 0 on the early window (the first 11 of 41 snapshots). So r90 = 2 (shares
    1/2.1, 2/2.1), the early window spans exactly {f0, f1}, and the early capture is 2 / 2.1."""
    rng = np.random.default_rng(seed)
    n = EARLY_SNAPSHOTS
    c3 = np.zeros(n)
    c3[EARLY_WINDOW:] = rng.standard_normal(n - EARLY_WINDOW)
    c3[EARLY_WINDOW:] -= c3[EARLY_WINDOW:].mean()
    c3 *= math.sqrt(0.1) / np.linalg.norm(c3)
    basis = np.linalg.qr(np.column_stack([np.ones(n), c3, rng.standard_normal((n, 2))]))[0]
    return np.column_stack([basis[:, 2], basis[:, 3], c3]) @ FRAME[:3]


def _early_capture(case: ClaimCase, swapped: bool) -> float:
    """The trajectory settles onto {f0, f1} from the start and adds a small third direction later; swapped: time
    reversed (the early window then holds the late, three-direction part)."""

    def traj(e: int, t: str, li: int) -> np.ndarray:
        x = early_settled(seed=10 * e + li)
        return x[::-1] if swapped else x

    main = synthetic_run({}, LEARNED, traj=traj, snapshots=EARLY_SNAPSHOTS)
    shuffled = synthetic_run(
        {}, CHANCE, traj=lambda e, t, li: early_settled(seed=99 + e), snapshots=EARLY_SNAPSHOTS
    )
    return _measure(trajectory_evidence, case, {"main": main, "shuffled": shuffled})


THETA = (0.0, math.pi / 3, 2 * math.pi / 3)  # member planes: every pair meets at 60 degrees -> overlap 0.75


def _overlap_across(case: ClaimCase, swapped: bool) -> float:
    """Member e moves in plane(THETA[e]) (pairwise overlap 0.75; each run's split-half self-overlap, the control,
    is 1); swapped: every member in one plane (overlap 1, what a control read as the measurement gives)."""
    theta = (0.0,) * MEMBERS if swapped else THETA
    run = synthetic_run({}, LEARNED, traj=lambda e, t, li: isotropic(plane(theta[e]), seed=10 * e + li))
    return _measure(trajectory_evidence, case, {"main": run})


TWIN_OFFSET = math.pi / 12  # the twin's plane lies 15 degrees from its init partner's


def _overlap_shared_init(case: ClaimCase, swapped: bool) -> float:
    """Main members with seeds (5, 0, 7) in plane(THETA[e]); the shared-init twin of seed 0 (member 1, not member 0)
    15 degrees from member 1's plane; swapped: the twin placed by member 0 instead (its partner read by position)."""
    partner = 0 if swapped else 1
    main = synthetic_run(
        {}, LEARNED, seeds=(5, 0, 7), traj=lambda e, t, li: isotropic(plane(THETA[e]), seed=10 * e + li)
    )
    twin_plane = plane(THETA[partner] + TWIN_OFFSET)
    twin = synthetic_run({}, LEARNED, seeds=(100,), traj=lambda e, t, li: isotropic(twin_plane, seed=7 + li))
    return _measure(trajectory_evidence, case, {"main": main, "twin": twin})


# ----------------------------------------------------------------------------------------------------------
# Attention entropy (E5, E5 per m)
# ----------------------------------------------------------------------------------------------------------

# E5's smoothness curve: drops 0.1, 0.2, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0, 0, 0 and a final rise of 0.1. Largest
# drop 0.3 of a start-to-minimum drop of 1.1; time reversed, the curve falls once by 0.1 (its whole drop) then rises.
STEPS_DOWN = (0.1, 0.2, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0, 0.0, -0.1)
SMOOTH = 2.0 - np.concatenate([[0.0], np.cumsum(STEPS_DOWN)])
RATIO_PER_M = (0.2, 0.3, 0.4, 0.5)  # entropy end / start of the main run per m


def _entropy_runs(swapped: bool, curve: np.ndarray) -> dict[str, dict]:
    """The main run's entropy follows ``curve`` (both layers) and, per m, falls from 1 to RATIO_PER_M[m]; the
    shuffled twin's stays at 1; swapped: the two runs exchanged."""
    main, shuf = synthetic_run(LOW, LEARNED), synthetic_run(LOW, CHANCE, seed=1)
    main["entropy"] = np.broadcast_to(curve[None, :, None], (MEMBERS, SNAPSHOTS, 2)).copy()
    per_m = np.ones((MEMBERS, SNAPSHOTS, 2, len(M_VALUES)))
    per_m[:, -1] = RATIO_PER_M
    main["entropy_per_m"], shuf["entropy_per_m"] = per_m, np.ones_like(per_m)
    return {"main": shuf, "shuffled": main} if swapped else {"main": main, "shuffled": shuf}


def _entropy_ratio(case: ClaimCase, swapped: bool) -> float:
    """Entropy 2.0 -> 0.5 in the main run, flat in the shuffled twin; swapped: runs exchanged."""
    return _measure(entropy_evidence, case, _entropy_runs(swapped, np.linspace(2.0, 0.5, SNAPSHOTS)))


def _entropy_smooth(case: ClaimCase, swapped: bool) -> float:
    """SMOOTH as recorded; swapped: time reversed (rises read as drops, start read as end)."""
    return _measure(entropy_evidence, case, _entropy_runs(False, SMOOTH[::-1] if swapped else SMOOTH))


def _entropy_per_m(case: ClaimCase, swapped: bool) -> float:
    return _measure(entropy_per_m_evidence, case, _entropy_runs(swapped, np.ones(SNAPSHOTS)))


# ----------------------------------------------------------------------------------------------------------
# Commutators (E6, E7)
# ----------------------------------------------------------------------------------------------------------

COMM_STEPS = np.arange(5) * 10
RHO_COMM = (0.5, 0.4, 0.3, 0.2, 0.1)  # the commutator's projection ratio falls over the checkpoints
RHO_GRAD = (0.6, 0.7, 0.8, 0.9, 0.95)  # the minibatch gradient's rises
NORMS = (100.0, 4.0, 4.0, 1.0, 1.0)  # step 0 (left out) huge; early half 4, late half 1 -> persistence 0.25


def _with_rho(rhos: tuple[float, ...]) -> np.ndarray:
    """Vectors [MEMBERS, K, D] with projection ratio rho onto {f0, f1}: rho f0 + sqrt(1 - rho^2) f5."""
    v = np.stack([r * FRAME[0] + math.sqrt(1 - r * r) * FRAME[5] for r in rhos])
    return np.broadcast_to(v, (MEMBERS, *v.shape)).copy()


def _commutator_run(swapped: bool, norms_reversed: bool = False) -> dict[str, dict]:
    """Every matrix moves in {f0, f1} (its execution subspace); commutators at RHO_COMM, gradients at RHO_GRAD;
    swapped: commutator and gradient exchanged."""
    run = synthetic_run({}, LEARNED, traj=lambda e, t, li: isotropic(FRAME[:2], seed=10 * e + li))
    comm, grad = _with_rho(RHO_COMM), _with_rho(RHO_GRAD)
    if swapped:
        comm, grad = grad, comm
    for n in run["matrices"]:
        run[f"comm_delta/{n}"], run[f"comm_grad/{n}"] = comm, grad
    norms = np.asarray(NORMS[:1] + NORMS[:0:-1] if norms_reversed else NORMS)
    run["comm_norm"] = run["comm_D"] = np.tile(norms, (MEMBERS, 1))
    run["comm_steps"] = COMM_STEPS
    return {"main": run}


def _persistence(case: ClaimCase, swapped: bool) -> float:
    """Norms 4, 4 early and 1, 1 late after a huge step-0 value; swapped: the checkpoints after step 0 reversed."""
    return _measure(commutator_evidence, case, _commutator_run(False, norms_reversed=swapped))


def _perpendicular(case: ClaimCase, swapped: bool) -> float:
    return _measure(commutator_evidence, case, _commutator_run(swapped))


# ----------------------------------------------------------------------------------------------------------
# SAE ablation (E8)
# ----------------------------------------------------------------------------------------------------------

SAE_DROP, SAE_DROP_ALL, SAE_DROP_STAGE0 = 0.02, 0.6, 0.3


def _sae(case: ClaimCase, swapped: bool) -> float:
    """Final-stage drop 0.02 of the correlated latents, 0.6 of all latents (the positive control), 0.3 at the first
    stage; swapped: the correlated-latent and all-latent drops exchanged."""
    run = synthetic_run(LOW, LEARNED)
    run["sae/stage_steps"] = np.asarray([40, 120])
    ones = np.ones(MEMBERS)
    for kind in ("relu_l1", "topk"):
        for j, drop in enumerate((SAE_DROP_STAGE0, SAE_DROP)):
            d, d_all = (SAE_DROP_ALL, drop) if swapped and j == 1 else (drop, SAE_DROP_ALL)
            rec = {
                "base_acc": ones,
                "ablated_acc": ones - d,
                "all_ablated_acc": ones - d_all,
                "drop": d * ones,
            }
            rec.update(
                {"drop_all": d_all * ones, "n_correlated": 3 * ones, "n_correlated_null": np.ones((3, 4))}
            )
            rec.update({"n_alive": 20 * ones, "rel_recon_error": 0.1 * ones, "l0": 4 * ones})
            rec.update({"drop_random": np.full((MEMBERS, 2), 0.01), "n_ablated_correlated": 3 * ones})
            for f, v in rec.items():
                run[f"sae/{kind}/stage{j}/{f}"] = v
    return _measure(sae_evidence, case, {"main": run})


# ----------------------------------------------------------------------------------------------------------
# Curriculum (E10)
# ----------------------------------------------------------------------------------------------------------


def _mixed_minus_curriculum(case: ClaimCase, swapped: bool) -> float:
    """Mixed training keeps m = 1 at 1.0, the curriculum forgets it to 0.3; swapped: the two runs exchanged."""
    mixed, cur = synthetic_run(LOW, LEARNED), synthetic_run(LOW, (0.3, 0.5, 0.9, 0.95), seed=4)
    cur["stage_end_step"] = np.tile([20, 40, 60, -1], (MEMBERS, 1))  # every stage left once learned
    if swapped:
        mixed["acc"], cur["acc"] = cur["acc"].copy(), mixed["acc"].copy()
    return _measure(curriculum_evidence, case, {"main": mixed, "curriculum": cur})


def _check(experiment: str, metric: str, what: str, measure: Any, expected: float) -> OrientationCheck:
    # Every expected value is exact by construction (isotropic trajectories, hand-set curves), so a tight atol.
    return OrientationCheck(experiment, metric, what, measure, expected=float(expected), atol=1e-6)


T, C = "execution/trajectory", "execution/commutator"
CHECKS = (
    _check(T, "qk_minus_vo", "Q/K minus V/O read as V/O minus Q/K", _qk_minus_vo, 6 - 2),
    _check(T, "mul_minus_add", "multiplication and addition runs exchanged", _mul_minus_add, 6 - 2),
    _check(T, "mlp_minus_attn", "MLP and attention-only runs exchanged", _mlp_minus_attn, 6 - 2),
    _check(T, "mlp_dimension", "MLP and attention-only runs exchanged", _mlp_dimension, 6),
    _check(
        T,
        "mlp_acc_minus_attn",
        "MLP and attention-only runs exchanged",
        _mlp_acc_minus_attn,
        np.mean(_MLP_ACC) - np.mean(LEARNED),
    ),
    _check(T, "r90_seed_deviation", "main run and its shuffled-label twin exchanged", _seed_deviation, 3),
    _check(T, "early_capture", "trajectory read in reverse time order", _early_capture, 2 / 2.1),
    _check(
        T,
        "overlap_across_seeds",
        "members given one plane (the value a control read as the measurement gives)",
        _overlap_across,
        (1 + math.cos(math.pi / 3)) / 2,
    ),
    _check(
        T,
        "overlap_shared_init",
        "twin paired with the main member at its position, not its init seed",
        _overlap_shared_init,
        (1 + math.cos(TWIN_OFFSET)) / 2,
    ),
    _check(
        "execution/entropy",
        "entropy_end_over_start",
        "main run and shuffled twin exchanged",
        _entropy_ratio,
        0.25,
    ),
    _check(
        "execution/entropy",
        "entropy_max_step_share",
        "entropy curve read in reverse time order",
        _entropy_smooth,
        0.3 / 1.1,
    ),
    _check(
        "execution/entropy_per_m",
        "entropy_end_over_start",
        "main run and shuffled twin exchanged",
        _entropy_per_m,
        RATIO_PER_M[0],
    ),
    _check(C, "commutator_persistence", "checkpoints after step 0 reversed", _persistence, 1 / 4),
    _check(
        C,
        "perpendicular_share",
        "commutator and gradient exchanged",
        _perpendicular,
        math.sqrt(1 - RHO_COMM[2] ** 2),
    ),
    _check(C, "rho_trend", "commutator and gradient exchanged", _perpendicular, -1.0),
    _check(
        C,
        "rho_commutator_minus_gradient",
        "commutator and gradient exchanged",
        _perpendicular,
        float(np.median(np.subtract(RHO_COMM, RHO_GRAD))),
    ),
    _check(
        "execution/sae", "ablation_drop", "correlated-latent and all-latent drops exchanged", _sae, SAE_DROP
    ),
    _check(
        "execution/curriculum",
        "acc_m1_mixed_minus_curriculum",
        "mixed and curriculum runs exchanged",
        _mixed_minus_curriculum,
        LEARNED[0] - 0.3,
    ),
)
