"""Strata and their statistics: PCA-75% dimension (Table 1), gate-weighted sparsity (Table 2), and the controls.

Conventions (paper S, Sec. 5.2):

* Table 1 "intrinsic dimension" of a stratum = ``effective_rank(points of the stratum, 0.75)`` (number of
  principal components reaching 75% of the centred variance). Text method: in the embedding space itself; released
  code: in the PCA-64 space it clusters in.
* Table 2 "weighted sparsity" of a stratum = mean over its points of ``sum_e w_e s_e`` (gate weights times the
  experts' sparsity levels).
* Strata with fewer than ``min_size`` points are left out of spreads (their PCA dimension is capped by their size,
  not by geometry); the table keeps them with their size so the report shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans

from geomclaims.metrics import effective_rank, mle_dimension, random_partition, twonn


def standardize(X: np.ndarray) -> np.ndarray:
    """Centre and scale by one global factor so the mean squared coordinate is 1 (keeps all angles and ratios)."""
    Xc = X - X.mean(0)
    return Xc / np.sqrt((Xc**2).mean())


def pca_project(X: np.ndarray, k: int) -> np.ndarray:
    """Coordinates of the centred rows on the top-``k`` principal axes (the released code's PCA-64 space)."""
    Xc = X - X.mean(0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ vt[:k].T


def kmeans_labels(Y: np.ndarray, k: int, seed: int, n_init: int = 10) -> np.ndarray:
    """KMeans(k) labels, relabelled by decreasing cluster size (ties by first appearance) for stable tables.

    ``n_init`` restarts (the best inertia wins): the suite's 10 by default; the released code runs 1 (a variant).
    """
    if int(n_init) < 1:
        raise ValueError(f"kmeans_n_init: need at least one KMeans restart, got {n_init}")
    raw = KMeans(n_clusters=k, n_init=int(n_init), random_state=seed).fit_predict(Y)
    return relabel_by_size(raw, k)


def relabel_by_size(labels: np.ndarray, k: int) -> np.ndarray:
    sizes = np.bincount(labels, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    new = np.empty(k, dtype=np.int64)
    new[order] = np.arange(k)
    return new[labels]


def stratum_dims(X: np.ndarray, strata: np.ndarray, k: int, threshold: float = 0.75) -> np.ndarray:
    """(k,) PCA-``threshold`` dimension per stratum (0 for strata with fewer than 2 distinct points).

    A stratum of identical points (duplicate texts in the corpus embed identically) is a single point: dimension 0.
    """
    out = np.zeros(k)
    for s in range(k):
        pts = X[strata == s]
        distinct = len(pts) >= 2 and bool(np.any(pts != pts[0]))
        out[s] = effective_rank(pts, threshold) if distinct else 0
    return out


def stratum_means(values: np.ndarray, strata: np.ndarray, k: int) -> np.ndarray:
    """(k, ...) mean of ``values`` (per point, any trailing shape) per stratum; 0 for empty strata."""
    out = np.zeros((k, *values.shape[1:]))
    for s in range(k):
        if np.any(strata == s):
            out[s] = values[strata == s].mean(0)
    return out


def spread(values: np.ndarray, sizes: np.ndarray, min_size: int) -> float:
    """max - min over strata with at least ``min_size`` points (0 when fewer than two qualify)."""
    keep = values[sizes >= min_size]
    return float(keep.max() - keep.min()) if keep.size >= 2 else 0.0


def cross_check_dims(
    X: np.ndarray, strata: np.ndarray, k: int, min_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """TwoNN and MLE (k=20) dimension per stratum on distinct points (duplicate texts give zero distances).

    Strata with fewer than ``min_size`` distinct points get 0 (reported as 'too small').
    """
    two, mle = np.zeros(k), np.zeros(k)
    for s in range(k):
        pts = np.unique(X[strata == s], axis=0)
        if len(pts) >= max(min_size, 22):
            two[s] = twonn(pts)
            mle[s] = mle_dimension(pts, k=20)
    return two, mle


def weighted_sparsity(gate: np.ndarray, sparsities: Sequence[int]) -> np.ndarray:
    """(n,) sum_e w_e s_e per point."""
    return gate @ np.asarray(sparsities, dtype=float)


def random_partition_spreads(
    X: np.ndarray,
    values: np.ndarray | None,
    strata: np.ndarray,
    k: int,
    min_size: int,
    n_draws: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Spreads of (PCA-75% dims, mean ``values``) over random partitions with the observed stratum sizes.

    The permutation control of S3/S4: same points, same stratum sizes, membership drawn at random. ``values`` may
    be None (then the second array is zeros).
    """
    sizes = np.bincount(strata, minlength=k)
    dims, vals = np.zeros(n_draws), np.zeros(n_draws)
    for r in range(n_draws):
        fake = random_partition(sizes, seed * 100_003 + r)
        dims[r] = spread(stratum_dims(X, fake, k), sizes, min_size)
        if values is not None:
            vals[r] = spread(stratum_means(values, fake, k), sizes, min_size)
    return dims, vals


def gaussian_same_spectrum(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A single Gaussian cloud with the same size, mean, principal axes and variance spectrum as ``X``.

    The S3 control: no strata at all, but the same global second-order geometry. If clustering it yields strata of
    different PCA dimension too, differing dimensions alone do not show stratification.
    """
    mean = X.mean(0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    n = X.shape[0]
    g = rng.standard_normal((n, s.size))
    return mean + (g * (s / np.sqrt(n))) @ vt


def mean_gate_by_group(gate: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """(k, E) mean gate row per group (strata x experts or sources x experts heatmaps)."""
    return stratum_means(gate, groups, k)


# ------------------------------------------------------------------------------------------------------------
# issue 25 item 6: text length, the single global manifold, and sparsity against dimension
# ------------------------------------------------------------------------------------------------------------


def length_bin_partitions(
    length: np.ndarray, sizes: np.ndarray, n_draws: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Pseudo-strata that only sort texts by length, with the observed stratum sizes (the length control).

    Texts sorted by length (ties broken at random) are cut into consecutive blocks; block ``j`` of a draw has the
    size of stratum ``order[j]`` for a random order of the strata, so every draw has exactly the strata's sizes and
    only the assignment of sizes to length ranges varies. If such partitions reproduce the strata's dimension
    spread (or their agreement with the sources), length alone explains it.
    """
    length = np.asarray(length, dtype=float)
    sizes = np.asarray(sizes, dtype=np.int64)
    if length.ndim != 1 or sizes.sum() != length.size:
        raise ValueError(f"length: {length.shape} texts for stratum sizes summing to {int(sizes.sum())}")
    out = []
    for _ in range(int(n_draws)):
        by_length = np.lexsort((rng.random(length.size), length))
        order = rng.permutation(sizes.size)
        labels = np.empty(length.size, dtype=np.int64)
        labels[by_length] = np.repeat(order, sizes[order])
        out.append(labels)
    return out


def equal_partition_spreads(
    X: np.ndarray, k: int, min_size: int, n_draws: int, seed: int, threshold: float = 0.75
) -> np.ndarray:
    """Dimension spreads of random partitions of ``X`` into ``k`` parts of equal size (n // k or n // k + 1).

    The single-global-manifold baseline (Sec. 1): random subsets of one cloud differ in PCA dimension only by
    sampling, so the strata's spread must exceed these.
    """
    equal = np.arange(X.shape[0]) % k
    sizes = np.bincount(equal, minlength=k)
    out = np.zeros(int(n_draws))
    for r in range(int(n_draws)):
        fake = random_partition(sizes, seed * 100_003 + r)
        out[r] = spread(stratum_dims(X, fake, k, threshold), sizes, min_size)
    return out


def served_strata(heat: np.ndarray, sizes: np.ndarray, min_size: int) -> np.ndarray:
    """(E,) the stratum each expert serves: the eligible stratum (>= ``min_size`` points) with its highest mean gate.

    ``heat`` is the (k, E) mean soft gate probability per stratum (the Figs. 2-6 heatmap).
    """
    heat = np.asarray(heat, dtype=float)
    keep = np.asarray(sizes) >= min_size
    if keep.sum() < 2:
        raise ValueError(
            f"sizes: fewer than two strata with >= {min_size} points ({np.asarray(sizes).tolist()})"
        )
    masked = np.where(keep[:, None], heat, -np.inf)
    return masked.argmax(0)


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation; 0.0 when either side is constant (no ordering to track, e.g. every expert serving one
    stratum), so an undefined value never passes as tracking."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"rank_correlation: shapes {x.shape} and {y.shape}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def random_assignment_rhos(
    sparsities: Sequence[float], dims: np.ndarray, sizes: np.ndarray, min_size: int, n_draws: int, seed: int
) -> np.ndarray:
    """The sparsity-dimension join under random expert<->stratum assignments: each expert gets an eligible stratum
    drawn uniformly (the control of "an expert's sparsity tracks the dimension of the stratum it serves")."""
    eligible = np.flatnonzero(np.asarray(sizes) >= min_size)
    rng = np.random.default_rng(seed)
    s = np.asarray(sparsities, dtype=float)
    return np.asarray(
        [
            rank_correlation(s, np.asarray(dims)[rng.choice(eligible, size=s.size)])
            for _ in range(int(n_draws))
        ]
    )
