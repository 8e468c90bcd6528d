"""Summaries of measured samples: the aggregate over seeds and its CI (used by :mod:`geomclaims.decision`).

**Aggregate and CI.** The aggregate (median or mean over seeds) gets a 95% percentile bootstrap CI over the seeds
(``scipy.stats.bootstrap``, ``N_BOOT`` resamples, fixed seed, samples sorted first so the order they arrive in does
not matter) and a bootstrap standard error ``se`` (the regression gate's drift scale). ``aggregate: single`` means
exactly one sample: CI = the value, se = 0. Identical samples give a degenerate CI = the value.

**Shared data resamples (``replicates``).** When the seeds draw their data from one shared sample (e.g. texts from
a fixed pool), the spread over seeds misses the sampling noise of that shared sample: it moves every seed alike.
An evidence function may then hand over ``replicates``, an (n seeds, R) array whose column r is the metric of
each seed recomputed on the r-th resample of the SHARED sample (the same resample for every seed; e.g. one
bootstrap of the pool, each seed keeping its texts with that resample's multiplicities). Each row is used only
through its deviations from its own mean (a resample with repeated points can bias a metric's level, e.g. a PCA
dimension count limited by the number of distinct points; its spread is what the resampling estimates). The CI
is then a two-stage percentile bootstrap: draw the seeds with replacement and ONE column for the whole draw, and
aggregate ``sample[seed] + deviation[seed, column]``. The column is shared because the pool's noise is common to
all seeds; for a mean-like metric this adds the pool's variance, which drawing a column per seed would average
away. The point value, the null comparison (Mann-Whitney) and the verdict rule are unchanged; the stability
resamples use the same two-stage CI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from scipy import stats

from geomclaims.claims_schema import NonFiniteEvidence

CI_LEVEL = 0.95
N_BOOT = 2000
BOOT_SEED = 0


class BadEvidence(ValueError):
    """Measured or null samples are not a 1-D sequence of real numbers (bools, strings, bytes, 2-D arrays)."""


@dataclass(frozen=True)
class Summary:
    """Aggregate of samples with a percentile-bootstrap CI of that aggregate (over the samples, i.e. seeds)."""

    value: float
    ci: tuple[float, float]
    n: int
    samples: tuple[float, ...]
    se: float = 0.0
    # (n, R) shared-data resamples of each sample (module docstring); None: the CI is over the samples alone.
    replicates: tuple[tuple[float, ...], ...] | None = None


# ----------------------------------------------------------------------------------------------------------
# Input checks and summaries
# ----------------------------------------------------------------------------------------------------------


def as_samples(samples: Any, what: str) -> np.ndarray:
    """A 1-D float array of finite real numbers, or a clear error (never a silent coercion)."""
    if samples is None:
        raise BadEvidence(f"{what}: no samples (None)")
    if isinstance(samples, (str, bytes, bytearray)):
        raise BadEvidence(
            f"{what}: expected a 1-D sequence of numbers, got {type(samples).__name__} {samples!r:.60}"
        )
    if hasattr(samples, "detach"):  # a torch tensor
        samples = samples.detach().cpu().numpy()
    if isinstance(samples, np.ndarray):
        if samples.dtype.kind not in "iuf" and samples.dtype != object:
            raise BadEvidence(f"{what}: expected real numbers, got an array of dtype {samples.dtype}")
        if samples.ndim != 1:
            raise BadEvidence(
                f"{what}: expected a 1-D array (one value per seed/draw), got shape {samples.shape}"
            )
        items: list[Any] = samples.tolist()
    elif isinstance(samples, Iterable):
        items = list(samples)
    else:
        raise BadEvidence(
            f"{what}: expected a 1-D sequence of numbers, got {type(samples).__name__} {samples!r:.60}"
        )
    for x in items:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (Real, np.integer, np.floating)):
            raise BadEvidence(f"{what}: expected real numbers, got {type(x).__name__} {x!r:.60}")
    arr = np.asarray(items, dtype=float).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{what}: no samples")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][:3].tolist()
        raise NonFiniteEvidence(f"{what} contain non-finite values {bad}; a NaN or inf never passes a claim")
    return arr


def statistic(how: str):
    if how == "median_over_seeds":
        return np.median
    if how == "mean_over_seeds":
        return np.mean
    raise ValueError(f"unknown seed aggregate {how!r}")


def aggregate(samples: np.ndarray, how: str) -> float:
    if how == "single":
        if samples.size != 1:
            raise ValueError(f"aggregate 'single' expects exactly one sample, got {samples.size}")
        return float(samples[0])
    return float(statistic(how)(samples))


def _bootstrap(
    samples: np.ndarray, how: str, n_boot: int, level: float, seed: int
) -> tuple[tuple[float, float], float]:
    value = aggregate(samples, how)
    if samples.size == 1 or float(np.ptp(samples)) == 0.0:
        return (value, value), 0.0
    res = stats.bootstrap(
        (np.sort(samples),),
        statistic(how),
        n_resamples=n_boot,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        axis=-1,
        rng=np.random.default_rng(seed),
    )
    ci = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return ci, float(res.standard_error)


def bootstrap_ci(
    samples: np.ndarray, how: str, *, n_boot: int = N_BOOT, level: float = CI_LEVEL, seed: int = BOOT_SEED
) -> tuple[float, float]:
    """Percentile bootstrap CI of the aggregate over the samples. One sample or identical samples -> the value."""
    return _bootstrap(as_samples(samples, "samples"), how, n_boot, level, seed)[0]


def as_replicates(replicates: Any, n: int, what: str = "replicates") -> np.ndarray:
    """An (n, R) float array of finite numbers with R >= 2, one row per measured sample, or a clear error."""
    if isinstance(replicates, (str, bytes, bytearray)):
        raise BadEvidence(
            f"{what}: expected an (n seeds, R) table of numbers, got {type(replicates).__name__}"
        )
    try:
        rows = [as_samples(row, f"{what} row {i}") for i, row in enumerate(replicates)]
    except TypeError as exc:
        raise BadEvidence(f"{what}: expected an (n seeds, R) table of numbers ({exc})") from exc
    if len(rows) != n:
        raise BadEvidence(f"{what}: {len(rows)} rows for {n} measured samples (one row per sample)")
    widths = {row.size for row in rows}
    if len(widths) != 1 or min(widths) < 2:
        raise BadEvidence(
            f"{what}: every row needs the same number R >= 2 of resamples, got {sorted(widths)}"
        )
    return np.stack(rows)


def order_of(samples: np.ndarray, reps: np.ndarray | None) -> np.ndarray:
    """Sorting order of the samples (ties broken by their replicate rows), so arrival order does not matter."""
    if reps is None:
        return np.argsort(samples, kind="stable")
    return np.lexsort((*reps.T[::-1], samples))


def _two_stage_stats(
    samples: np.ndarray, dev: np.ndarray, how: str, seed_idx: np.ndarray, col: np.ndarray
) -> np.ndarray:
    """Aggregate of ``samples[i] + dev[i, c]`` over the drawn seeds i of each row, c the row's shared column."""
    vals = samples[seed_idx] + dev[seed_idx, col[..., None]]
    return statistic(how)(vals, axis=-1)


def _two_stage_bootstrap(
    samples: np.ndarray, reps: np.ndarray, how: str, n_boot: int, level: float, seed: int
) -> tuple[tuple[float, float], float]:
    """Percentile CI and standard error of the aggregate under the two-stage bootstrap (module docstring)."""
    value = aggregate(samples, how)
    order = order_of(samples, reps)
    samples, reps = samples[order], reps[order]
    dev = reps - reps.mean(axis=1, keepdims=True)
    if float(np.ptp(samples)) == 0.0 and not np.any(dev):
        return (value, value), 0.0
    rng = np.random.default_rng(seed)
    n, r = reps.shape
    seed_idx = rng.integers(0, n, size=(n_boot, n))
    col = rng.integers(0, r, size=n_boot)
    how_stat = "mean_over_seeds" if how == "single" else how
    stat = _two_stage_stats(samples, dev, how_stat, seed_idx, col)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stat, [alpha, 1.0 - alpha])
    return (float(lo), float(hi)), float(np.std(stat, ddof=1))


def summarize(
    samples: Iterable[float] | np.ndarray, how: str = "median_over_seeds", replicates: Any = None
) -> Summary:
    """Aggregate and CI of the measured samples; with ``replicates`` the CI is two-stage (module docstring)."""
    arr = as_samples(samples, "measured samples")
    if replicates is None:
        ci, se = _bootstrap(arr, how, N_BOOT, CI_LEVEL, BOOT_SEED)
        return Summary(value=aggregate(arr, how), ci=ci, n=int(arr.size), samples=tuple(arr.tolist()), se=se)
    reps = as_replicates(replicates, arr.size)
    ci, se = _two_stage_bootstrap(arr, reps, how, N_BOOT, CI_LEVEL, BOOT_SEED)
    return Summary(
        value=aggregate(arr, how),
        ci=ci,
        n=int(arr.size),
        samples=tuple(arr.tolist()),
        se=se,
        replicates=tuple(tuple(row) for row in reps.tolist()),
    )
