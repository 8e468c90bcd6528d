"""Builders of well-conditioned test inputs with known truth (orthonormal factors x chosen spectra)."""

from __future__ import annotations

import numpy as np


def centred_orthonormal_columns(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """``n x r`` matrix with orthonormal columns, each orthogonal to the all-ones vector (already centred)."""
    g = rng.standard_normal((n, r))
    g -= g.mean(axis=0, keepdims=True)
    q, _ = np.linalg.qr(g)
    return q


def orthonormal_rows(r: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``r x d`` matrix with orthonormal rows (Haar-random ``r``-frame in ``R^d``)."""
    q, _ = np.linalg.qr(rng.standard_normal((d, r)))
    return q.T


def cloud_with_spectrum(n: int, d: int, sing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n x d`` cloud whose centred singular values are exactly ``sing`` (so eigenvalues ``sing^2 / n``)."""
    r = len(sing)
    return centred_orthonormal_columns(n, r, rng) @ np.diag(sing) @ orthonormal_rows(r, d, rng)


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-random ``d x d`` orthogonal matrix."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def shares_rank(shares: np.ndarray, threshold: float) -> int:
    """Reference r(threshold) by a plain loop over descending shares (independent of the library)."""
    total = 0.0
    for k, s in enumerate(sorted(shares, reverse=True), start=1):
        total += s
        if total >= threshold - 1e-9:
            return k
    return len(shares)
