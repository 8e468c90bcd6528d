"""Cosine similarity structure: cosine matrices, R_order, R_cos, Mantel null, percentile-bin alignment.

Conventions (DESIGN.md "Metric conventions"; paper P Sec. 3 "R_order" and Sec. 5 "R_cos", Fig. 5 D/E):

* cosine matrix: rows L2-normalised, a zero row is an error;
* correlations between similarity structures use the *upper-triangle off-diagonal* entries ``i < j``
  only (the diagonal is identically 1 and would inflate the correlation; each unordered pair counts once);
* the Mantel null permutes rows and columns of the second matrix *together* (relabels the items).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._validate import as_array, as_matrix, check_rows_nonzero, check_square, upper_triangle

__all__ = [
    "MantelResult",
    "cosine_matrix",
    "mantel",
    "percentile_bin_alignment",
    "r_cos",
    "r_order",
]


def cosine_matrix(X: Any, Y: Any | None = None) -> np.ndarray:
    """Cosine similarity matrix ``C[i, j] = <x_i, y_j> / (|x_i| |y_j|)`` between the rows of ``X`` and ``Y``.

    Convention: rows are L2-normalised first; ``Y`` defaults to ``X`` (then the result is symmetric with
    unit diagonal). Paper P's ``cos(W)`` (Sec. 3, eq. for R_order). A zero row raises ``ValueError``.
    """
    x = as_matrix(X, "X")
    xn = x / check_rows_nonzero(x, "X")[:, None]
    if Y is None:
        c = xn @ xn.T
        c = 0.5 * (c + c.T)
        np.fill_diagonal(c, 1.0)
    else:
        y = as_matrix(Y, "Y")
        if y.shape[1] != x.shape[1]:
            raise ValueError(f"Y: expected {x.shape[1]} columns to match X, got shape {y.shape}")
        c = xn @ (y / check_rows_nonzero(y, "Y")[:, None]).T
    return np.clip(c, -1.0, 1.0)


def _pearson(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> float:
    """Pearson correlation of two equal-length vectors; constant input is an error (correlation undefined)."""
    for v, name in ((a, name_a), (b, name_b)):
        if np.ptp(v) == 0.0:
            raise ValueError(f"{name}: all compared entries are equal ({v[0]!r}); correlation is undefined")
    a = a - a.mean()
    b = b - b.mean()
    r = float(a @ b / np.sqrt((a @ a) * (b @ b)))
    return float(np.clip(r, -1.0, 1.0))


def _corr(a: np.ndarray, b: np.ndarray, method: str, name_a: str, name_b: str) -> float:
    if method == "pearson":
        return _pearson(a, b, name_a, name_b)
    if method == "spearman":
        return _pearson(stats.rankdata(a), stats.rankdata(b), name_a, name_b)
    raise ValueError(f"method: expected 'pearson' or 'spearman', got {method!r}")


def r_order(X: Any, values: Any, method: Literal["pearson", "spearman"] = "pearson") -> float:
    """R_order: Pearson correlation of ``cos(X_i, X_j)`` with ``|values_i - values_j|`` over pairs ``i < j``.

    Convention: paper P Sec. 3 (definition of R_order); the diagonal is excluded (released code that
    includes it is not followed). Embeddings ordered by ``values`` give strongly *negative* values
    (similarity falls with distance); points on an arc ordered by angle give values near -1 with the
    default Pearson (cosine is not linear in the angle gap, so not exactly -1).
    ``X`` is ``n x D`` with ``n >= 3``; ``values`` has length ``n`` and is not constant. ``method="spearman"``
    gives the rank version (exactly -1 whenever similarity is strictly decreasing in distance).
    """
    x = as_matrix(X, "X", min_rows=3)
    v = as_array(values, "values", ndim=1)
    if v.shape[0] != x.shape[0]:
        raise ValueError(f"values: expected length {x.shape[0]} (rows of X), got shape {v.shape}")
    sims = upper_triangle(cosine_matrix(x))
    diffs = upper_triangle(np.abs(v[:, None] - v[None, :]))
    return _corr(sims, diffs, method, "cosine similarities of X", "values")


def _pair_vectors(A: Any, B: Any) -> tuple[np.ndarray, np.ndarray]:
    a = check_square(A, "A")
    b = check_square(B, "B")
    if a.shape != b.shape:
        raise ValueError(f"B: expected shape {a.shape} to match A, got {b.shape}")
    return upper_triangle(a), upper_triangle(b)


def r_cos(A: Any, B: Any, method: Literal["pearson", "spearman"] = "pearson") -> float:
    """R_cos: correlation between two square similarity matrices over their upper-triangle entries ``i < j``.

    Convention: paper P Sec. 5 (``R_cos(W, phi) = Corr(cos(W), cos(phi))``) with the diagonal excluded and
    each unordered pair counted once. ``method="pearson"`` (default, the paper's Corr) or ``"spearman"``.
    Only the upper triangle is read, so non-symmetric input is not symmetrised.
    """
    a, b = _pair_vectors(A, B)
    return _corr(a, b, method, "A", "B")


@dataclass(frozen=True)
class MantelResult:
    """Mantel test outcome: observed ``statistic``, permutation ``null`` and one-sided ``p_value``."""

    statistic: float
    null: np.ndarray
    p_value: float
    n_perm: int


def _zscore_sym(m: np.ndarray, iu: np.ndarray, ju: np.ndarray, name: str) -> np.ndarray:
    """Symmetric matrix holding the z-scored upper-triangle entries (both triangles), zero diagonal."""
    vals = m[iu, ju]
    sd = vals.std()
    if sd == 0.0:
        raise ValueError(f"{name}: all off-diagonal entries are equal; correlation is undefined")
    z = np.zeros_like(m)
    z[iu, ju] = (vals - vals.mean()) / sd
    return z + z.T


#: Null values within this distance below the statistic count as ties (>=). The permutation loop runs in
#: float32 (memory-bound gathers), whose accumulated round-off is ~1e-7 of the statistic's scale.
_MANTEL_TIE_TOL = 1e-6


def _permutation_null(za: np.ndarray, zb: np.ndarray, n_perm: int, seed: int) -> np.ndarray:
    """``sum_{i<j} za[i, j] * zb[p_i, p_j]`` for ``n_perm`` uniform permutations ``p`` (float64 results).

    ``za`` must be zero on and below the diagonal and ``zb`` symmetric. Rows are processed in blocks of
    ~64k entries so the gathered block stays in cache; block ``[s0, s0 + m)`` only needs the columns
    ``j >= s0`` (a row gather, a column gather, a BLAS dot), which halves the work of a full-matrix pass.
    """
    rng = np.random.default_rng(seed)
    n = za.shape[0]
    bs = max(1, 65536 // n)
    buf_rows = np.empty((bs, n), dtype=zb.dtype)
    buf_perm = np.empty((bs * n,), dtype=zb.dtype)
    blocks = [(s0, min(bs, n - s0)) for s0 in range(0, n, bs)]
    za_blocks = [np.ascontiguousarray(za[s0 : s0 + m, s0:]).ravel() for s0, m in blocks]
    out = np.empty(n_perm)
    for t in range(n_perm):
        p = rng.permutation(n)
        acc = 0.0
        for (s0, m), za_blk in zip(blocks, za_blocks, strict=True):
            np.take(zb, p[s0 : s0 + m], axis=0, out=buf_rows[:m])
            gathered = buf_perm[: m * (n - s0)].reshape(m, n - s0)
            np.take(buf_rows[:m], p[s0:], axis=1, out=gathered)
            acc += float(za_blk @ gathered.ravel())
        out[t] = acc
    return out


def mantel(A: Any, B: Any, n_perm: int = 1000, seed: int = 0) -> MantelResult:
    """Mantel permutation test of the Pearson correlation between two symmetric similarity matrices.

    Convention: statistic = :func:`r_cos` (Pearson, upper triangle ``i < j``). Null: apply a uniformly random
    permutation ``p`` to rows *and* columns of ``B`` together (``B[p][:, p]``) and recompute; ``n_perm`` draws
    from ``np.random.default_rng(seed)``. ``p_value = (1 + #{null >= statistic - 1e-6}) / (1 + n_perm)``
    (one-sided, "more aligned than chance"; the ``1e-6`` absorbs the float32 round-off of the permutation
    loop, so permutations that reproduce the observed pairing count as ties). Both matrices must be symmetric (within ``1e-8`` relative), because the
    permuted upper triangle of ``B`` is read from both triangles.

    Implementation: entries are z-scored once (a permutation does not change the multiset of entries, so
    mean and standard deviation are invariant); each permutation is then a gather plus a dot product over
    the full symmetric matrices (each pair counted twice), evaluated in float32 in cache-sized row blocks.
    """
    a = check_square(A, "A")
    b = check_square(B, "B")
    if a.shape != b.shape:
        raise ValueError(f"B: expected shape {a.shape} to match A, got {b.shape}")
    for m, name in ((a, "A"), (b, "B")):
        scale = max(float(np.abs(m).max()), 1e-300)
        if not np.allclose(m, m.T, rtol=0.0, atol=1e-8 * scale):
            raise ValueError(
                f"{name}: Mantel test needs a symmetric matrix (max |M - M^T| = {np.abs(m - m.T).max():.3g})"
            )
    n_perm = int(n_perm)
    if n_perm < 1:
        raise ValueError(f"n_perm: must be >= 1, got {n_perm}")
    n = a.shape[0]
    iu, ju = np.triu_indices(n, k=1)
    n_pairs = iu.size
    za = _zscore_sym(a, iu, ju, "A")
    zb = _zscore_sym(b, iu, ju, "B")
    # full-matrix sum counts every pair twice (both triangles), hence the factor 2.
    statistic = float(np.clip(np.vdot(za, zb) / (2 * n_pairs), -1.0, 1.0))
    za_upper = np.triu(za, k=1).astype(np.float32)
    null = _permutation_null(za_upper, zb.astype(np.float32), n_perm, seed) / n_pairs
    p_value = (1.0 + np.count_nonzero(null >= statistic - _MANTEL_TIE_TOL)) / (1.0 + n_perm)
    return MantelResult(statistic=statistic, null=null, p_value=float(p_value), n_perm=n_perm)


def percentile_bin_alignment(sim_a: Any, sim_b: Any, n_bins: int = 10) -> np.ndarray:
    """Mean percentile of ``sim_b`` within each percentile bin of ``sim_a`` (off-diagonal pairs ``i < j``).

    Convention: paper P Sec. 5, Fig. 5 D/E (and App. C). Each matrix's upper-triangle entries are turned
    into percentiles ``100 * (rank - 0.5) / m`` (average ranks for ties, ``m`` pairs), so percentiles lie in
    ``(0, 100)`` with mean 50. Pairs are assigned to ``n_bins`` equal-width bins of ``sim_a``'s percentile
    (deciles by default); the result is the length-``n_bins`` array of mean ``sim_b`` percentiles per bin.
    Independent matrices give ~50 everywhere; identical ones give the bin centres ``100 (b + 0.5) / n_bins``.
    Raises ``ValueError`` if a bin is empty (too few pairs for ``n_bins``).
    """
    n_bins = int(n_bins)
    if n_bins < 1:
        raise ValueError(f"n_bins: must be >= 1, got {n_bins}")
    a, b = _pair_vectors(sim_a, sim_b)
    m = a.size
    pa = 100.0 * (stats.rankdata(a) - 0.5) / m
    pb = 100.0 * (stats.rankdata(b) - 0.5) / m
    bins = np.minimum((pa * n_bins / 100.0).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    if np.any(counts == 0):
        raise ValueError(f"n_bins: {n_bins} bins leave empty bins for {m} pairs (counts {counts.tolist()})")
    return np.bincount(bins, weights=pb, minlength=n_bins) / counts
