"""Explained-variance spectra of point clouds and trajectories.

Convention (DESIGN.md "Metric conventions"): the spectrum of an ``n x D`` cloud ``X`` (rows are points or
snapshots) is the list of eigenvalues of its sample covariance, obtained from the singular values of the
*centred* matrix ``Xc = X - mean(X, axis=0)``: ``lambda_k = s_k**2 / n`` (paper E, Sec. 3.3.1, eq. 1 uses
the ``1/n`` normalisation; shares do not depend on it). Only ``min(n - 1, D)`` eigenvalues can be non-zero
after centring, so the spectrum has exactly that length. When ``D >> n`` the eigenvalues come from the
``n x n`` Gram matrix ``Xc Xc^T``; the ``D x D`` covariance is never formed except by the explicit
``method="covariance"`` reference route used in tests and benchmarks.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ._validate import as_matrix

__all__ = [
    "SHARE_TOL",
    "effective_rank",
    "explained_variance",
    "participation_ratio",
    "rank_at_threshold",
    "variance_spectrum",
]

#: Tolerance on the cumulative explained-variance share in :func:`effective_rank`. Eigenvalues from
#: SVD/Gram carry a relative round-off of order ``1e-15 * n``; a spectrum whose top-k share is exactly the
#: threshold in exact arithmetic (e.g. ten equal eigenvalues at threshold 0.9) may sum to
#: ``0.8999999999999999``. Shares within ``SHARE_TOL`` below the threshold count as reaching it.
SHARE_TOL = 1e-9

Method = Literal["auto", "svd", "gram", "covariance"]


def variance_spectrum(X: Any, method: Method = "auto") -> np.ndarray:
    """Eigenvalues of the sample covariance of the rows of ``X`` (descending, length ``min(n-1, D)``).

    Convention: ``lambda_k = s_k^2 / n`` with ``s_k`` the singular values of the column-centred ``n x D``
    matrix (paper E, eq. 1). Routes: ``"svd"`` (thin SVD of the centred matrix), ``"gram"`` (eigenvalues of
    the ``n x n`` Gram matrix; used by ``"auto"`` when ``D >= 4 n``), ``"covariance"`` (eigenvalues of the
    ``D x D`` covariance; reference route for tests/benchmarks only, O(D^3)). Tiny negative eigenvalues
    produced by round-off are clipped to 0.

    Raises ``ValueError`` for non-2-D input, NaN/inf, fewer than 2 rows, or an unknown ``method``.
    """
    x = as_matrix(X, "X", min_rows=2)
    n, d = x.shape
    xc = x - x.mean(axis=0, keepdims=True)
    m = min(n - 1, d)
    if method == "auto":
        method = "gram" if d >= 4 * n else "svd"
    if method == "svd":
        s = np.linalg.svd(xc, full_matrices=False, compute_uv=False)
        lam = s**2 / n
    elif method == "gram":
        lam = np.linalg.eigvalsh(xc @ xc.T)[::-1] / n
    elif method == "covariance":
        lam = np.linalg.eigvalsh(xc.T @ xc)[::-1] / n
    else:
        raise ValueError(f"method: expected 'auto', 'svd', 'gram' or 'covariance', got {method!r}")
    lam = np.sort(np.clip(lam, 0.0, None))[::-1][:m]
    return np.ascontiguousarray(lam)


def explained_variance(X: Any, method: Method = "auto") -> np.ndarray:
    """Explained-variance ratios of the principal components of ``X`` (descending, summing to 1).

    Convention: ``lambda_k / sum(lambda)`` over the ``min(n-1, D)`` eigenvalues of the centred sample
    covariance (see :func:`variance_spectrum`; paper E eq. 1-2, paper S Sec. 4 "PCA at 75%").
    Raises ``ValueError`` if all points coincide (zero total variance).
    """
    lam = variance_spectrum(X, method=method)
    total = lam.sum()
    if not total > 0.0:
        raise ValueError("X: all rows are identical (zero total variance); explained variance is undefined")
    return lam / total


def effective_rank(X: Any, threshold: float = 0.9, method: Method = "auto") -> int:
    """Smallest ``k`` whose top-``k`` principal components explain at least ``threshold`` of the variance.

    Convention: paper E eq. 2 (``r90`` with ``threshold=0.9``); paper S's "PCA intrinsic dimension at 75%"
    is ``threshold=0.75``. No cap other than the rank bound: ``1 <= k <= min(n - 1, D)`` (released code that
    caps at the number of computed PCs is *not* followed). A cumulative share within :data:`SHARE_TOL`
    below the threshold counts as reaching it (float round-off at exact ties). ``threshold`` must lie in
    ``(0, 1]``.
    """
    t = float(threshold)
    if not (0.0 < t <= 1.0):
        raise ValueError(f"threshold: must be in (0, 1], got {threshold!r}")
    return int(rank_at_threshold(explained_variance(X, method=method), t))


def rank_at_threshold(ratios: np.ndarray, threshold: float) -> np.ndarray | int:
    """Smallest ``k`` with ``sum(ratios[..., :k]) >= threshold - SHARE_TOL`` along the last axis.

    ``ratios`` are descending explained-variance shares (last axis); batched input gives an integer array.
    Shared by :func:`effective_rank` and :func:`geomclaims.metrics.intrinsic.local_pca_dimension`.
    """
    cum = np.cumsum(ratios, axis=-1)
    k = np.sum(cum < threshold - SHARE_TOL, axis=-1) + 1
    return np.minimum(k, ratios.shape[-1])


def participation_ratio(X: Any, method: Method = "auto") -> float:
    """Participation ratio ``(sum lambda)^2 / sum lambda^2`` of the centred covariance spectrum.

    Convention: DESIGN.md "participation ratio"; a continuous dimension in ``[1, min(n-1, D)]`` equal to
    ``d`` for ``d`` equal eigenvalues. Raises ``ValueError`` on zero total variance.
    """
    ratios = explained_variance(X, method=method)
    return float(1.0 / np.sum(ratios**2))
