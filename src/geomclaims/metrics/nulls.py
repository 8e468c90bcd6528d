"""Null-model generators: random walks, increment sign flips, random partitions, label permutations.

Every generator is a pure function of its arguments and ``seed`` (``np.random.default_rng(seed)``).
Trajectories are ``n x D`` arrays whose rows are snapshots in time order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_array, as_matrix

__all__ = [
    "label_permutation",
    "random_partition",
    "random_walk",
    "sign_flip_increments",
    "step_matched_random_walk",
]


def random_walk(n_steps: int, dim: int, seed: int, step_std: float = 1.0) -> np.ndarray:
    """I.i.d. Gaussian random walk: ``n_steps`` increments ``N(0, step_std^2 I_dim)`` from the origin.

    Returns the ``(n_steps + 1) x dim`` array of positions (row 0 is the origin). Null for ``r90`` of a
    trajectory: for many snapshots in ``dim >> n`` the k-th PC carries ``~6 / (pi^2 k^2)`` of the variance,
    so the walk's r90 is 6 (tests/metrics/test_spectra.py).
    """
    n_steps, dim = int(n_steps), int(dim)
    if n_steps < 1:
        raise ValueError(f"n_steps: must be >= 1, got {n_steps}")
    if dim < 1:
        raise ValueError(f"dim: must be >= 1, got {dim}")
    if not (np.isfinite(step_std) and step_std > 0):
        raise ValueError(f"step_std: must be a positive finite number, got {step_std!r}")
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=step_std, size=(n_steps, dim))
    return np.vstack([np.zeros((1, dim)), np.cumsum(steps, axis=0)])


def _increments(trajectory: Any) -> tuple[np.ndarray, np.ndarray]:
    traj = as_matrix(trajectory, "trajectory", min_rows=2)
    return traj, np.diff(traj, axis=0)


def step_matched_random_walk(trajectory: Any, seed: int) -> np.ndarray:
    """Random walk with the trajectory's step norms and isotropic random step directions.

    Convention: same start (``trajectory[0]``), same number of snapshots ``n``; step ``t`` has norm
    ``||x_{t+1} - x_t||`` and a uniformly random direction on the sphere in ``R^D``. Null for
    "low effective rank" claims that controls for the step-size schedule.
    """
    traj, inc = _increments(trajectory)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(inc.shape)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    steps = g * np.linalg.norm(inc, axis=1, keepdims=True)
    return np.vstack([traj[:1], traj[:1] + np.cumsum(steps, axis=0)])


def sign_flip_increments(trajectory: Any, seed: int) -> np.ndarray:
    """Trajectory rebuilt from its own increments, each multiplied by an independent random sign ``+-1``.

    Keeps every step's direction axis and norm (hence the increment covariance) but destroys their
    temporal coherence (drift). Same start and number of snapshots as ``trajectory``.
    """
    traj, inc = _increments(trajectory)
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(inc.shape[0], 1))
    return np.vstack([traj[:1], traj[:1] + np.cumsum(signs * inc, axis=0)])


def random_partition(sizes: Any, seed: int) -> np.ndarray:
    """Random labels ``0..len(sizes)-1`` with exactly ``sizes[g]`` items in group ``g``, in random order."""
    s = as_array(sizes, "sizes", ndim=1, dtype=np.int64)
    if s.size == 0 or np.any(s < 0) or s.sum() == 0:
        raise ValueError(f"sizes: expected non-negative group sizes with a positive total, got {s.tolist()}")
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(s.size), s))


def label_permutation(labels: Any, seed: int) -> np.ndarray:
    """Uniformly random permutation of ``labels`` (keeps the label multiset; breaks the item pairing)."""
    arr = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"labels: expected a non-empty 1-D array, got shape {arr.shape}")
    return np.random.default_rng(seed).permutation(arr)
