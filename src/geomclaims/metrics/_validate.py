"""Input conversion and validation shared by the metric modules (private).

Every public metric converts its inputs here so that the error messages are uniform: they name the
argument and the offending value (shape, NaN/inf count, zero rows, too few points).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array", "as_matrix", "check_rows_nonzero", "check_square", "upper_triangle"]


def as_array(x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype=np.float64) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a finite numpy array.

    Torch tensors are converted with ``.detach().cpu().numpy()``. Raises ``ValueError`` naming
    ``name`` if the dimensionality differs from ``ndim`` or if any entry is NaN/inf.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert to a numeric array ({exc})") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name}: expected {' or '.join(map(str, allowed))}-D input, got shape {arr.shape}"
            )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: contains {bad} NaN/inf value(s) (shape {arr.shape})")
    return arr


def as_matrix(x: Any, name: str, *, min_rows: int = 1, min_cols: int = 1) -> np.ndarray:
    """Finite float64 2-D array with at least ``min_rows`` rows and ``min_cols`` columns."""
    arr = as_array(x, name, ndim=2)
    n, d = arr.shape
    if n < min_rows:
        raise ValueError(f"{name}: need at least {min_rows} rows (points), got shape {arr.shape}")
    if d < min_cols:
        raise ValueError(f"{name}: need at least {min_cols} columns, got shape {arr.shape}")
    return arr


def check_rows_nonzero(x: np.ndarray, name: str) -> np.ndarray:
    """Return the row norms of ``x``; raise if any row is exactly zero (cosine undefined)."""
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise ValueError(
            f"{name}: {zero.size} zero row(s) (first at index {int(zero[0])}); cosine is undefined"
        )
    return norms


def check_square(x: Any, name: str, *, min_size: int = 3) -> np.ndarray:
    """Finite square matrix of side >= ``min_size`` (so that >= 3 off-diagonal pairs exist by default)."""
    arr = as_array(x, name, ndim=2)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name}: expected a square matrix, got shape {arr.shape}")
    if arr.shape[0] < min_size:
        raise ValueError(f"{name}: need a matrix of side >= {min_size}, got shape {arr.shape}")
    return arr


def upper_triangle(m: np.ndarray) -> np.ndarray:
    """Entries ``m[i, j]`` with ``i < j`` (diagonal excluded), in row-major order."""
    iu, ju = np.triu_indices(m.shape[0], k=1)
    return m[iu, ju]
