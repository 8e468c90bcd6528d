"""Projections onto subspaces, perpendicular shares, principal angles and the random-subspace null.

Convention (DESIGN.md; paper E Sec. 3.3.2 eq. 6-7): a subspace is given by the *rows* of a ``k x D``
matrix (any basis, orthonormalised here by QR). ``P`` is the orthogonal projector onto the row span;
the projection ratio is ``rho = ||P v|| / ||v||`` and the perpendicular share is
``||(I - P) v|| / ||v|| = sqrt(1 - rho^2)`` (not ``1 - rho`` as in released code).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from ._validate import as_array

__all__ = [
    "orthonormal_basis",
    "perpendicular_share",
    "principal_angles",
    "projection_ratio",
    "random_subspace_ratio",
]

#: Relative singular-value cutoff below which basis rows are declared linearly dependent.
RANK_TOL = 1e-10


def orthonormal_basis(basis: Any, name: str = "basis") -> np.ndarray:
    """Orthonormal rows spanning the same subspace as the rows of ``basis`` (``k x D`` or a single ``D``-vector).

    Uses a thin QR of ``basis.T``. Raises ``ValueError`` if ``k > D``, NaN/inf, or if the rows are linearly
    dependent (smallest ``|R_ii|`` below ``RANK_TOL`` times the largest), so a rank-deficient basis never
    silently defines a smaller subspace.
    """
    b = as_array(basis, name, ndim=(1, 2))
    if b.ndim == 1:
        b = b[None, :]
    k, d = b.shape
    if k == 0 or d == 0:
        raise ValueError(f"{name}: empty basis, shape {b.shape}")
    if k > d:
        raise ValueError(f"{name}: {k} basis rows cannot be independent in dimension {d} (shape {b.shape})")
    q, r = np.linalg.qr(b.T)
    diag = np.abs(np.diag(r))
    if diag.min() <= RANK_TOL * max(diag.max(), 1e-300):
        raise ValueError(
            f"{name}: rows are linearly dependent (|R_ii| = {np.array2string(diag, precision=3)})"
        )
    return q.T


def _as_vectors(v: Any, d: int) -> tuple[np.ndarray, bool]:
    vec = as_array(v, "v", ndim=(1, 2))
    single = vec.ndim == 1
    vec = vec[None, :] if single else vec
    if vec.shape[1] != d:
        raise ValueError(f"v: expected length {d} to match basis, got shape {as_array(v, 'v').shape}")
    norms = np.linalg.norm(vec, axis=1)
    if np.any(norms == 0.0):
        raise ValueError(f"v: zero vector at row(s) {np.flatnonzero(norms == 0.0).tolist()}; ratio undefined")
    return vec, single


def projection_ratio(v: Any, basis: Any) -> float | np.ndarray:
    """``rho = ||P v|| / ||v||`` with ``P`` the orthogonal projector onto the row span of ``basis``.

    Convention: paper E Sec. 3.3.2 (ratio of parallel commutator norm to full norm). ``basis`` rows need
    not be orthonormal (QR inside). ``v`` is a ``D``-vector (returns a float in ``[0, 1]``) or an ``m x D``
    stack (returns an array of ``m`` ratios). A zero ``v`` is an error.
    """
    q = orthonormal_basis(basis)
    vec, single = _as_vectors(v, q.shape[1])
    rho = np.linalg.norm(vec @ q.T, axis=1) / np.linalg.norm(vec, axis=1)
    rho = np.clip(rho, 0.0, 1.0)
    return float(rho[0]) if single else rho


def perpendicular_share(rho: Any) -> float | np.ndarray:
    """Perpendicular share ``||(I - P) v|| / ||v|| = sqrt(1 - rho^2)`` from a projection ratio ``rho``.

    Convention: DESIGN.md / paper E eq. 7 (Pythagoras; *not* ``1 - rho``). ``rho`` must lie in ``[0, 1]``
    (values within ``1e-12`` outside are clipped as round-off).
    """
    r = as_array(rho, "rho")
    if np.any(r < -1e-12) or np.any(r > 1 + 1e-12):
        raise ValueError(f"rho: projection ratios must lie in [0, 1], got range [{r.min()!r}, {r.max()!r}]")
    out = np.sqrt(1.0 - np.clip(r, 0.0, 1.0) ** 2)
    return float(out) if out.ndim == 0 else out


def principal_angles(U: Any, V: Any) -> np.ndarray:
    """Principal angles (radians, ascending) between the row spans of ``U`` (``k_u x D``) and ``V`` (``k_v x D``).

    Convention: rows are basis vectors (any basis; orthonormalised by QR). Returns ``min(k_u, k_v)``
    angles in ``[0, pi/2]``, from ``scipy.linalg.subspace_angles`` (Bjorck-Golub, which combines
    sines and cosines to keep small angles better resolved than an arccos of the singular values alone;
    angles below about 1e-8 are still at the level of float64 round-off), sorted ascending: 0 for shared directions, ``pi/2`` for orthogonal ones.
    """
    qu = orthonormal_basis(U, "U")
    qv = orthonormal_basis(V, "V")
    if qu.shape[1] != qv.shape[1]:
        raise ValueError(f"V: expected {qu.shape[1]} columns to match U, got {qv.shape[1]}")
    return np.sort(linalg.subspace_angles(qu.T, qv.T))


def random_subspace_ratio(
    v: Any,
    k: int,
    support_mask: Any | None = None,
    n_draws: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Samples of ``rho = ||P v|| / ||v||`` for uniformly random ``k``-dim subspaces inside the support.

    Convention: the null for :func:`projection_ratio`. Subspaces are Haar-random among ``k``-dim subspaces
    of the coordinate subspace selected by ``support_mask`` (boolean length-``D``; default all
    coordinates), i.e. only coordinates that can move. ``v`` keeps its off-support components, so
    ``rho <= ||v_S|| / ||v||``; ``E[rho^2] = (k / D_S) ||v_S||^2 / ||v||^2`` and ``E[rho] ~ sqrt(k / D_S)``
    for ``v`` in the support.

    Sampling: by rotation invariance, projecting a fixed vector on a Haar subspace has the same law as
    projecting a Haar-random direction on a fixed coordinate subspace, so each draw is a Gaussian
    ``g ~ N(0, I_{D_S})`` and ``rho = (||v_S|| / ||v||) sqrt(sum_{i<k} g_i^2 / sum_i g_i^2)`` (O(D_S) per draw,
    no QR). Returns an array of ``n_draws`` samples from ``np.random.default_rng(seed)``.
    """
    vec = as_array(v, "v", ndim=1)
    d = vec.shape[0]
    if support_mask is None:
        mask = np.ones(d, dtype=bool)
    else:
        mask = np.asarray(
            support_mask.detach().cpu().numpy() if hasattr(support_mask, "detach") else support_mask
        )
        if mask.dtype != bool or mask.shape != (d,):
            raise ValueError(
                f"support_mask: expected a boolean array of shape ({d},), got {mask.dtype} {mask.shape}"
            )
    d_s = int(mask.sum())
    k = int(k)
    if not (1 <= k <= d_s):
        raise ValueError(f"k: must satisfy 1 <= k <= support size {d_s}, got {k}")
    n_draws = int(n_draws)
    if n_draws < 1:
        raise ValueError(f"n_draws: must be >= 1, got {n_draws}")
    norm = np.linalg.norm(vec)
    if norm == 0.0:
        raise ValueError("v: zero vector; projection ratio undefined")
    scale = np.linalg.norm(vec[mask]) / norm
    rng = np.random.default_rng(seed)
    out = np.empty(n_draws)
    chunk = max(1, 2_000_000 // d_s)
    for s0 in range(0, n_draws, chunk):
        g2 = rng.standard_normal((min(chunk, n_draws - s0), d_s)) ** 2
        out[s0 : s0 + g2.shape[0]] = np.sqrt(g2[:, :k].sum(axis=1) / g2.sum(axis=1))
    return scale * out
