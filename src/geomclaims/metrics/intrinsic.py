"""Intrinsic-dimension estimators: TwoNN, Levina-Bickel MLE, local PCA (cross-checks for PCA thresholds).

Distances are Euclidean between rows of an ``n x D`` array. Duplicate points (a zero nearest-neighbour
distance) make the nearest-neighbour ratios undefined: they raise ``ValueError`` naming how many points
are affected; remove duplicates first (e.g. ``np.unique(X, axis=0)``) if that is what you mean.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ._validate import as_matrix
from .spectra import rank_at_threshold

__all__ = ["local_pca_dimension", "mle_dimension", "twonn"]


def _neighbour_distances(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``k`` nearest *other* points of every row (self excluded)."""
    # Centre first: sklearn's Euclidean shortcut (|a|^2 + |b|^2 - 2ab) loses precision when the cloud sits far
    # from the origin (the synthetic generators add an offset); distances are translation invariant.
    x = x - x.mean(axis=0)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    dist, idx = nn.kneighbors(x)
    return dist[:, 1:], idx


def _check_no_duplicates(dist: np.ndarray) -> None:
    dup = np.count_nonzero(dist[:, 0] == 0.0)
    if dup:
        raise ValueError(
            f"X: {dup} point(s) have a duplicate (zero nearest-neighbour distance); "
            "nearest-neighbour ratios are undefined - remove duplicates first"
        )


def twonn(X: Any) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017): maximum-likelihood fit of the Pareto law of ``r2 / r1``.

    Convention: ``mu_i = r_2(i) / r_1(i)`` (second over first nearest-neighbour distance) follows
    ``P(mu > m) = m^-d`` for locally uniform data; the unbiased MLE is ``d = (n - 1) / sum_i log mu_i`` (no
    discarded tail). Sampling sd is about ``d / sqrt(n)``; known to under-count above ~10 dimensions at
    moderate ``n``. Needs ``n >= 3`` distinct points.
    """
    x = as_matrix(X, "X", min_rows=3)
    dist, _ = _neighbour_distances(x, 2)
    _check_no_duplicates(dist)
    log_mu = np.log(dist[:, 1] / dist[:, 0])
    total = log_mu.sum()
    if total == 0.0:
        raise ValueError(
            "X: every point has equidistant first and second neighbours (lattice); TwoNN undefined"
        )
    return float((x.shape[0] - 1) / total)


def mle_dimension(X: Any, k: int = 20) -> float:
    """Levina-Bickel maximum-likelihood intrinsic dimension with the MacKay-Ghahramani pooling.

    Convention: per point ``1 / m_k(x) = (1 / (k - 1)) sum_{j<k} log(T_k(x) / T_j(x))`` (``T_j`` distance to the
    j-th neighbour, Levina & Bickel 2005 eq. 8), pooled as ``m = 1 / mean_x(1 / m_k(x))`` (averaging the
    inverses is unbiased for ``1 / d`` under the local Poisson model). Needs ``n > k >= 2``. Under-counts for
    high ``d`` and near boundaries (neighbourhoods of ``k`` points then reach the edge).
    """
    k = int(k)
    x = as_matrix(X, "X", min_rows=3)
    if not (2 <= k < x.shape[0]):
        raise ValueError(f"k: must satisfy 2 <= k < n = {x.shape[0]}, got {k}")
    dist, _ = _neighbour_distances(x, k)
    _check_no_duplicates(dist)
    inv = np.log(dist[:, -1:] / dist[:, :-1]).sum(axis=1) / (k - 1)
    mean_inv = inv.mean()
    if mean_inv == 0.0:
        raise ValueError("X: all k nearest neighbours are equidistant; MLE dimension undefined")
    return float(1.0 / mean_inv)


def local_pca_dimension(
    X: Any,
    k: int = 20,
    threshold: float = 0.9,
    reduce: Literal["median", "none"] = "median",
) -> float | np.ndarray:
    """Local PCA dimension: effective rank at ``threshold`` of each point's neighbourhood, median over points.

    Convention: the neighbourhood of a point is the point and its ``k - 1`` nearest neighbours (``k`` points);
    its dimension is :func:`geomclaims.metrics.effective_rank` of that ``k x D`` cloud (centred, same
    ``SHARE_TOL`` rule). ``reduce="median"`` returns the median over points (a float, possibly ``x.5``);
    ``reduce="none"`` returns the per-point integer array. Needs ``3 <= k <= n``.
    """
    x = as_matrix(X, "X", min_rows=3)
    n, d = x.shape
    k = int(k)
    if not (3 <= k <= n):
        raise ValueError(f"k: must satisfy 3 <= k <= n = {n}, got {k}")
    t = float(threshold)
    if not (0.0 < t <= 1.0):
        raise ValueError(f"threshold: must be in (0, 1], got {threshold!r}")
    if reduce not in ("median", "none"):
        raise ValueError(f"reduce: expected 'median' or 'none', got {reduce!r}")
    _, idx = _neighbour_distances(x, k - 1)
    m = min(k - 1, d)
    dims = np.empty(n, dtype=int)
    chunk = max(1, 4_000_000 // (k * d))
    for s0 in range(0, n, chunk):
        nb = x[idx[s0 : s0 + chunk]]
        nb = nb - nb.mean(axis=1, keepdims=True)
        sv = np.linalg.svd(nb, compute_uv=False)[:, :m]
        lam = sv**2
        total = lam.sum(axis=1, keepdims=True)
        if np.any(total == 0.0):
            raise ValueError(
                "X: a neighbourhood has zero variance (duplicate points); remove duplicates first"
            )
        dims[s0 : s0 + chunk] = rank_at_threshold(lam / total, t)
    return float(np.median(dims)) if reduce == "median" else dims
