"""Synthetic point clouds with known intrinsic dimension (calibration controls, tests/controls/).

Each generator samples ``n`` points of a d-dimensional set in its natural coordinates, then embeds them
isometrically into ``R^ambient_dim`` with a random orthonormal frame and a random offset (so no estimator
can profit from axis alignment). All are pure functions of their arguments and ``seed``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "affine_subspace",
    "helix",
    "hyperball",
    "sphere",
    "stratified_union",
    "swiss_roll",
    "touching_line_disk_ball",
]


def _embed(
    coords: np.ndarray, ambient_dim: int, rng: np.random.Generator, offset_scale: float = 3.0
) -> np.ndarray:
    m = coords.shape[1]
    if ambient_dim < m:
        raise ValueError(f"ambient_dim: must be >= {m} for this set, got {ambient_dim}")
    frame, _ = np.linalg.qr(rng.standard_normal((ambient_dim, m)))
    return coords @ frame.T + offset_scale * rng.standard_normal(ambient_dim)


def _ball(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    g = rng.standard_normal((n, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return g * rng.uniform(size=(n, 1)) ** (1.0 / d)


def affine_subspace(
    n: int, d: int, ambient_dim: int, seed: int, scales: np.ndarray | None = None
) -> np.ndarray:
    """Gaussian cloud on a random d-dim affine subspace: coordinates ``N(0, diag(scales^2))`` (default isotropic)."""
    rng = np.random.default_rng(seed)
    s = np.ones(d) if scales is None else np.asarray(scales, dtype=float)
    return _embed(rng.standard_normal((n, d)) * s, ambient_dim, rng)


def hyperball(n: int, d: int, ambient_dim: int, seed: int) -> np.ndarray:
    """Uniform sample of the unit d-ball (intrinsic dimension d, with a boundary)."""
    rng = np.random.default_rng(seed)
    return _embed(_ball(n, d, rng), ambient_dim, rng)


def sphere(n: int, d: int, ambient_dim: int, seed: int) -> np.ndarray:
    """Uniform sample of the unit d-sphere ``S^d`` in ``R^(d+1)`` (intrinsic dimension d, no boundary)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d + 1))
    return _embed(g / np.linalg.norm(g, axis=1, keepdims=True), ambient_dim, rng)


def helix(n: int, ambient_dim: int, seed: int, turns: float = 3.0, pitch: float = 0.5) -> np.ndarray:
    """Circular helix of unit radius (intrinsic dimension 1), arc-length-uniform sample."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 2 * np.pi * turns, size=n)
    coords = np.stack([np.cos(t), np.sin(t), pitch * t / (2 * np.pi)], axis=1)
    return _embed(coords, ambient_dim, rng)


def swiss_roll(n: int, ambient_dim: int, seed: int, height: float = 10.0) -> np.ndarray:
    """Swiss roll (intrinsic dimension 2): ``(t cos t, h, t sin t)`` with ``t`` in ``[1.5 pi, 4.5 pi]``.

    ``t`` is drawn with density proportional to ``t`` so the sample is uniform in arc length x height.
    """
    rng = np.random.default_rng(seed)
    lo, hi = 1.5 * np.pi, 4.5 * np.pi
    t = np.sqrt(rng.uniform(lo**2, hi**2, size=n))
    h = rng.uniform(0.0, height, size=n)
    return _embed(np.stack([t * np.cos(t), h, t * np.sin(t)], axis=1), ambient_dim, rng)


def stratified_union(
    n_per_stratum: int, ambient_dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Union of a segment (dim 1), a disk (dim 2) and a ball (dim 3), unit size, in separated regions.

    Returns ``(X, labels, dims)`` with labels 0/1/2 per stratum and ``dims = (1, 2, 3)``. Each stratum lies
    in its own random 3-dim block of coordinates with centres 10 apart, so neighbourhoods of up to a few
    hundred points never mix strata.
    """
    if ambient_dim < 9:
        raise ValueError(f"ambient_dim: must be >= 9 for three disjoint 3-dim blocks, got {ambient_dim}")
    rng = np.random.default_rng(seed)
    frame, _ = np.linalg.qr(rng.standard_normal((ambient_dim, 9)))
    parts = []
    for s, d in enumerate((1, 2, 3)):
        coords = np.zeros((n_per_stratum, 3))
        coords[:, :d] = _ball(n_per_stratum, d, rng)
        centre = np.zeros(3)
        centre[0] = 10.0 * s
        parts.append((coords + centre) @ frame[:, 3 * s : 3 * s + 3].T)
    labels = np.repeat(np.arange(3), n_per_stratum)
    return np.vstack(parts), labels, (1, 2, 3)


def touching_line_disk_ball(
    n_per_stratum: int, ambient_dim: int, seed: int, noise: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """A line piercing a disk that touches a ball (dims 1/2/3), in one 3-dim subspace, plus small isotropic noise.

    In 3-d coordinates: the unit disk in the plane ``z = 0`` centred at the origin; the segment ``{(0, 0, z): |z| <=
    1}`` through the disk's centre (it pierces the disk); the unit ball centred at ``(2, 0, 0)``, touching the disk's
    rim at ``(1, 0, 0)``. Unlike :func:`stratified_union` the pieces meet, so neighbourhoods near the junctions mix
    strata: the geometry of a stratified space proper. Gaussian noise of s.d. ``noise`` is added in all
    ``ambient_dim`` coordinates. Returns ``(X, labels, coords3, dims)``: labels 0/1/2 (line/disk/ball), the
    noiseless 3-d coordinates (for figures) and ``dims = (1, 2, 3)``.
    """
    if ambient_dim < 3:
        raise ValueError(f"ambient_dim: must be >= 3, got {ambient_dim}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: must be a finite number >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    line = np.zeros((n_per_stratum, 3))
    line[:, 2] = rng.uniform(-1.0, 1.0, size=n_per_stratum)
    disk = np.zeros((n_per_stratum, 3))
    disk[:, :2] = _ball(n_per_stratum, 2, rng)
    ball = _ball(n_per_stratum, 3, rng) + np.array([2.0, 0.0, 0.0])
    coords = np.vstack([line, disk, ball])
    frame, _ = np.linalg.qr(rng.standard_normal((ambient_dim, 3)))
    X = coords @ frame.T + noise * rng.standard_normal((coords.shape[0], ambient_dim))
    labels = np.repeat(np.arange(3), n_per_stratum)
    return X, labels, coords, (1, 2, 3)
