"""Study-specific analyses of recorded trajectories (paper E Sec. 3.3, 4.1-4.3).

Shared math (effective rank, participation ratio, projections, principal angles, nulls) comes from
``geomclaims.metrics``; this module only slices the training results into per-matrix trajectories and combines
those metrics the way the paper's figures do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from geomclaims.metrics import (
    effective_rank,
    participation_ratio,
    perpendicular_share,
    principal_angles,
    projection_ratio,
    random_subspace_ratio,
    step_matched_random_walk,
)

MATRIX_TYPES = ("W_Q", "W_K", "W_V", "W_O")
EARLY_FRACTION = 0.25  # paper E Sec. 4.1: collapse "within the first 20-30% of training steps"


ALL_ATTENTION = "attention"  # pseudo matrix type: every attention matrix (all four types, every layer)


def layers_of(result: Mapping[str, Any], mtype: str) -> list[str]:
    """Names ``L{l}_{mtype}`` of one matrix type across layers, in layer order; ``ALL_ATTENTION``: every attention
    matrix (types in MATRIX_TYPES order within each layer). A type with no recorded matrix is an error."""
    types = MATRIX_TYPES if mtype == ALL_ATTENTION else (mtype,)
    names = [n for n in result["matrices"] if any(str(n).endswith("_" + t) for t in types)]
    if not names:
        raise ValueError(f"no recorded matrix of type {mtype!r} among {list(result['matrices'])}")
    return names


def trajectory(result: Mapping[str, Any], name: str, member: int) -> np.ndarray:
    """Snapshots of one matrix of one member as an ``S x numel`` float64 array (rows in time order)."""
    snap = np.asarray(result[f"snap/{name}"][member], dtype=np.float64)
    return snap.reshape(snap.shape[0], -1)


def n_members(result: Mapping[str, Any]) -> int:
    return int(np.asarray(result["seeds"]).size)


def early(traj: np.ndarray) -> np.ndarray:
    """The snapshots of the first ``EARLY_FRACTION`` of training (at least 3, so a spectrum exists)."""
    return traj[: max(3, math.ceil(EARLY_FRACTION * (traj.shape[0] - 1)) + 1)]


def top_pcs(traj: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` principal directions (rows, ``k x D``) of the centred trajectory: the paper's execution subspace."""
    xc = traj - traj.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return vt[:k]


def captured_share(traj: np.ndarray, basis: np.ndarray) -> float:
    """Share of the (centred) trajectory variance lying in the span of the orthonormal rows of ``basis``."""
    xc = traj - traj.mean(axis=0, keepdims=True)
    return float(np.sum((xc @ basis.T) ** 2) / np.sum(xc**2))


class EarlyWindowTooShort(ValueError):
    """The early window has fewer snapshots than the whole-run r90 needs (E3 cannot be measured as defined)."""


def early_capture(traj: np.ndarray) -> float:
    """E3: share of the whole trajectory's variance in the top-r PCs of its first 25% (r = whole-run r90).

    If the trajectory has settled onto its low-dimensional subspace within the early window, the remaining 75% of
    training moves inside that subspace and the share is high; a diffusive walk keeps opening new directions.
    """
    r = effective_rank(traj, 0.9)
    win = early(traj)
    if r > win.shape[0] - 1:
        # A centred window of n snapshots spans at most n - 1 directions; capping r would silently change the test.
        raise EarlyWindowTooShort(
            f"early_capture: whole-run r90 = {r} exceeds the {win.shape[0] - 1} directions the early window "
            f"({win.shape[0]} snapshots) can span; record more snapshots (profile n_snapshots)"
        )
    return captured_share(traj, top_pcs(win, r))


def dimension(traj: np.ndarray, measure: str) -> float:
    if measure == "r90":
        return float(effective_rank(traj, 0.9))
    if measure == "participation_ratio":
        return participation_ratio(traj)
    if measure == "early_capture":
        return early_capture(traj)
    if measure == "r90_early":
        return float(effective_rank(early(traj), 0.9))
    raise ValueError(f"unknown trajectory measure {measure!r}")


def per_member(result: Mapping[str, Any], mtype: str, measure: str) -> np.ndarray:
    """``measure`` of each member's trajectories of one matrix type, averaged over layers: shape [E]."""
    names = layers_of(result, mtype)
    return np.array(
        [
            np.mean([dimension(trajectory(result, n, e), measure) for n in names])
            for e in range(n_members(result))
        ]
    )


def per_member_all(
    result: Mapping[str, Any], measure: str, types: tuple[str, ...] = MATRIX_TYPES
) -> np.ndarray:
    """``measure`` averaged over all attention matrices (types x layers) per member: shape [E]."""
    return np.mean([per_member(result, t, measure) for t in types], axis=0)


def all_params_per_member(result: Mapping[str, Any], measure: str) -> np.ndarray:
    """``measure`` of the trajectory of every recorded parameter (all ``snap/*`` arrays concatenated) per member.

    The second reading of E9 (issue 22 item 5): the whole model's path, MLP and embeddings included, not only the
    attention matrices both models share.
    """
    keys = sorted(k for k in result if str(k).startswith("snap/"))
    if not keys:
        raise ValueError("result has no snap/* parameter snapshots")
    out = []
    for e in range(n_members(result)):
        traj = np.concatenate([trajectory(result, k.removeprefix("snap/"), e) for k in keys], axis=1)
        out.append(dimension(traj, measure))
    return np.asarray(out)


def null_per_member(
    result: Mapping[str, Any], mtype: str, measure: str, draws: int, seed: int = 0
) -> np.ndarray:
    """Step-matched random-walk null (same start, step norms and snapshot count): [E * draws] samples."""
    names = layers_of(result, mtype)
    out = []
    for e in range(n_members(result)):
        trajs = [trajectory(result, n, e) for n in names]
        for k in range(draws):
            out.append(
                np.mean(
                    [
                        dimension(step_matched_random_walk(t, seed=seed + 1000 * e + 100 * li + k), measure)
                        for li, t in enumerate(trajs)
                    ]
                )
            )
    return np.asarray(out)


def subspace_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine of the principal angles between two row spans (1 = same subspace, ~0 = orthogonal)."""
    return float(np.mean(np.cos(principal_angles(a, b))))


def execution_basis(traj: np.ndarray, k: int | None = None) -> np.ndarray:
    return top_pcs(traj, k if k is not None else effective_rank(traj, 0.9))


def split_half_overlap(traj: np.ndarray) -> float:
    """Overlap of the execution bases of one trajectory's even and odd snapshots (each with its own r90).

    The noise ceiling of :func:`subspace_overlap` on trajectories: two samples of the SAME run's subspace. When this
    is low too, a low overlap between seeds may be estimation noise rather than a different orientation.
    """
    traj = np.asarray(traj)
    if traj.shape[0] < 6:
        raise ValueError(f"split-half overlap needs >= 6 snapshots (3 per half), got {traj.shape[0]}")
    return subspace_overlap(execution_basis(traj[0::2]), execution_basis(traj[1::2]))


def random_overlaps(dim: int, k: int, n: int, seed: int) -> np.ndarray:
    """Null for subspace overlaps: pairs of Haar-random k-dim subspaces of R^dim."""
    rng = np.random.default_rng(seed)
    return np.array(
        [subspace_overlap(rng.standard_normal((k, dim)), rng.standard_normal((k, dim))) for _ in range(n)]
    )


def commutator_projection(
    result: Mapping[str, Any], mtype: str, member: int, n_draws: int, seed: int
) -> dict[str, np.ndarray]:
    """rho of the commutator, of the minibatch gradient, and of random k-subspaces, per checkpoint (layers pooled).

    The execution subspace of a matrix is the top-r90 PCs of its whole trajectory (paper Sec. 3.3.2, eq. 6).
    Checkpoint 0 (initialisation) is kept: the paper's Fig. 4 starts there too.
    """
    rho_c, rho_g, rho_null = [], [], []
    for li, name in enumerate(layers_of(result, mtype)):
        traj = trajectory(result, name, member)
        basis = execution_basis(traj)
        deltas = np.asarray(result[f"comm_delta/{name}"][member], dtype=np.float64)
        grads = np.asarray(result[f"comm_grad/{name}"][member], dtype=np.float64)
        rho_c.append(projection_ratio(deltas, basis))
        rho_g.append(projection_ratio(grads, basis))
        rho_null.append(
            np.stack(
                [
                    random_subspace_ratio(v, basis.shape[0], None, n_draws=n_draws, seed=seed + 97 * li + j)
                    for j, v in enumerate(deltas)
                ]
            )
        )
    return {
        "rho": np.mean(rho_c, axis=0),  # [K]
        "rho_grad": np.mean(rho_g, axis=0),  # [K]
        "rho_random": np.concatenate([r.ravel() for r in rho_null]),
        "perp": np.mean([perpendicular_share(r) for r in rho_c], axis=0),
        "perp_random": np.concatenate([perpendicular_share(r.ravel()) for r in rho_null]),
    }


def rho_trend(steps: np.ndarray, per_member: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Spearman correlation of the commutator's rho with the checkpoint step, per member: < 0 means rho falls."""
    steps = np.asarray(steps, dtype=float)
    out = []
    for p in per_member:
        rho = np.asarray(p["rho"], dtype=float)
        if rho.shape != steps.shape:
            raise ValueError(f"rho_trend: {rho.size} rho values for {steps.size} checkpoints")
        out.append(float(spearmanr(steps, rho).statistic))
    return np.asarray(out)
