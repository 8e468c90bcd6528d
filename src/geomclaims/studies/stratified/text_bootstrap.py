"""Issue 25 item 1: the text-sampling noise of a ``strata`` run, for the spine's two-stage bootstrap CI.

Every seed draws its texts from ONE pool embedded once per model (data.py), so the seeds share much of their texts:
the spread of the per-seed values misses the noise of the pool itself (another pool would move every seed alike)
and a CI over the seeds alone is too narrow. Re-embedding disjoint texts per seed is unaffordable; instead each run
recomputes its metrics on ``text_bootstrap`` (R) resamples of the pool, and the evidence functions hand them to
the spine as ``Evidence.replicates`` (decision.py: seeds drawn with replacement, then ONE resample column for the
whole draw, each seed's value moved by its own deviation under that column).

* What is resampled: the pool's texts, by a Poisson bootstrap (each pool row gets an independent Poisson(1)
  multiplicity per resample; ``pool_multiplicities``). Resample r is the SAME for every seed and every model: the
  multiplicity of a pool row depends on (``data_seed``, the row, r) only, never on the seed or the model, so
  column r of the replicates is one resample of the shared pool (what the spine's shared column needs) and the two
  models of an S6/S7 pair see the same texts with the same multiplicities (their differences pair replicate r).
  A seed keeps its own texts, each repeated as often as its pool row is in the resample (``index_sets``).
* What is held fixed: the fitted MoE and its gate probabilities, the points (no re-embedding), the strata, the
  PCA-KMeans labels, the served strata of S11: only which texts enter each metric, and how often, changes.
* What is recomputed (``text_bootstrap_metrics``), exactly as the run computes it on the seed's texts, on the
  resampled rows: Table 1-2 spreads (``_table``'s recipe: PCA-75% dimension per stratum, soft-gate weighted
  sparsity, strata below ``min_stratum_size`` left out as ``strata.spread`` does), NMI / ARI of strata vs sources,
  the gate-vs-PCA-strata ARI, the normalised gate entropy, and the per-stratum dimensions S11's correlation reads
  (``sparsity_rho_replicates``).

The draws come from their own generator, never from the run's control generator ``_data_rng``: the controls keep
their numbers. Cost (ci size: 600 points, 5 strata, d = 384, R = 50): ~0.15 s per run, single-threaded on a busy
2-core box (~3-4 s at full size, 3000 points, d 768-1536): the PCA counts use the weighted scatter of the distinct
rows (exactly the duplicated rows' spectrum) instead of an SVD of the duplicated rows per stratum and resample;
NMI / ARI are ``metrics.nmi`` / ``metrics.ari`` of the duplicated labels. Tests check every number against the
run's own recipe on the duplicated rows.

Known level shift: a resample holds ~63% distinct texts, so its PCA-75% counts sit ~1 below the run's; the spine
uses each row only through its deviations from the row mean (decision.py), so the shift does not move the CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from geomclaims.metrics import ari, nmi, row_entropy
from geomclaims.metrics.spectra import rank_at_threshold

from . import strata as st

# Stream tag of the pool resamples: a constant of the bootstrap's definition (not a seed), distinct from the text
# draw's ``data._TEXT_STREAM`` and from the controls' ``default_rng([data_seed, seed])``.
POOL_BOOT_STREAM = 0xB0075
# Pool rows per generator block: the multiplicity of row j comes from block j // POOL_BLOCK's own generator, so it
# does not depend on how many rows a run asks for (a seed's sample reaches different pool rows).
POOL_BLOCK = 1024
# Replicate keys of a strata run and the seed-level key each one resamples.
BOOT_KEYS = {
    "boot_dim_spread": "dim_spread",
    "boot_ws_spread": "ws_spread",
    "boot_nmi": "nmi",
    "boot_ari": "ari",
    "boot_ari_gate_pca": "ari_gate_pca",
    "boot_entropy": "entropy",
    "boot_dims": "dims",
    "boot_sizes": "sizes",
}
CI_METHOD = "two-stage bootstrap: seeds, then one of R shared resamples of the text pool (texts of each seed reweighted)"


def pool_multiplicities(data_seed: int, rows: np.ndarray, n_resamples: int) -> np.ndarray:
    """(R, len(rows)) multiplicity of pool row ``rows[j]`` in pool resample r (Poisson(1), the Poisson bootstrap).

    Depends on (``data_seed``, the pool row, r) only: the same pool row (the same text: the pool's texts do not
    depend on the model) gets the same multiplicity in every seed's and every model's run. Poisson rather than
    multinomial multiplicities need no knowledge of the pool's size or layout; a source's total in a resample
    varies by ~sqrt(its count), as a seed's share of it does anyway.
    """
    rows = np.asarray(rows, dtype=np.int64)
    R = int(n_resamples)
    if R < 2:
        raise ValueError(f"text_bootstrap: need at least 2 resamples, got {n_resamples}")
    if rows.ndim != 1 or (rows.size and rows.min() < 0):
        raise ValueError(f"rows: expected 1-D non-negative pool row indices, got shape {rows.shape}")
    out = np.empty((R, rows.size), dtype=np.int64)
    block = rows // POOL_BLOCK
    for b in np.unique(block):
        w = np.random.default_rng([int(data_seed), POOL_BOOT_STREAM, int(b)]).poisson(
            1.0, size=(R, POOL_BLOCK)
        )
        sel = block == b
        out[:, sel] = w[:, rows[sel] % POOL_BLOCK]
    return out


def index_sets(multiplicities: np.ndarray) -> list[np.ndarray]:
    """Row indices of each resample: row j of the seed's sample repeated ``multiplicities[r, j]`` times."""
    m = np.asarray(multiplicities, dtype=np.int64)
    n = m.shape[1]
    return [np.repeat(np.arange(n), row) for row in m]


def _weighted_dim(X: np.ndarray, w: np.ndarray, threshold: float) -> float:
    """PCA-``threshold`` dimension of the rows of ``X`` repeated ``w`` times (``strata.stratum_dims`` of one stratum).

    The duplicated rows' centred scatter is the ``w``-weighted scatter of the distinct rows, so its eigenvalues come
    from the (distinct x distinct) or (d x d) weighted Gram matrix, whichever is smaller. 0 for fewer than two
    distinct points, as ``stratum_dims``.
    """
    keep = w > 0
    Xk, wk = X[keep], w[keep].astype(float)
    if wk.sum() < 2 or not bool(np.any(Xk != Xk[0])):
        return 0.0
    Y = np.sqrt(wk)[:, None] * (Xk - (wk @ Xk) / wk.sum())
    lam = np.linalg.eigvalsh(Y @ Y.T if Y.shape[0] <= Y.shape[1] else Y.T @ Y)[::-1]
    lam = np.clip(lam, 0.0, None)
    if not lam.sum() > 0:
        return 0.0
    return float(rank_at_threshold(lam / lam.sum(), float(threshold)))


def text_bootstrap_metrics(
    space: np.ndarray,
    strata: np.ndarray,
    w_soft: np.ndarray,
    source: np.ndarray,
    pca_strata: np.ndarray,
    cfg: Mapping[str, Any],
    index_sets: Sequence[np.ndarray],
) -> dict[str, np.ndarray]:
    """The run's text-sampled metrics recomputed on each resample ``index_sets[r]`` (rows of the seed's sample, with
    repetition), the points, strata, gate and PCA-KMeans labels held fixed.

    Returns ``boot_dim_spread``, ``boot_ws_spread``, ``boot_nmi``, ``boot_ari``, ``boot_ari_gate_pca``,
    ``boot_entropy`` of shape (R,), and ``boot_dims`` / ``boot_sizes`` of shape (R, k) (Table 1 per resample).
    The identity resample (every row once) gives the run's own values.
    """
    k, m, t = int(cfg["n_strata"]), int(cfg["min_stratum_size"]), float(cfg["pca_threshold"])
    n = len(strata)
    ws_point = st.weighted_sparsity(w_soft, cfg["moe"]["sparsities"])
    ent_point = row_entropy(w_soft) / np.log(w_soft.shape[1])
    gate = w_soft.argmax(1)
    members = [np.flatnonzero(strata == s) for s in range(k)]
    R = len(index_sets)
    out = {key: np.zeros(R) for key in BOOT_KEYS if key not in ("boot_dims", "boot_sizes")}
    dims, sizes = np.zeros((R, k)), np.zeros((R, k), dtype=np.int64)
    for r, idx in enumerate(index_sets):
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size < 2:
            raise ValueError(f"text bootstrap: resample {r} holds {idx.size} texts (need at least 2)")
        c = np.bincount(idx, minlength=n)
        sizes[r] = np.bincount(strata, weights=c, minlength=k).astype(np.int64)
        dims[r] = [_weighted_dim(space[rows], c[rows], t) for rows in members]
        ws_sum = np.bincount(strata, weights=c * ws_point, minlength=k)
        ws = np.divide(ws_sum, sizes[r], out=np.zeros(k), where=sizes[r] > 0)
        out["boot_dim_spread"][r] = st.spread(dims[r], sizes[r], m)
        out["boot_ws_spread"][r] = st.spread(ws, sizes[r], m)
        out["boot_nmi"][r] = nmi(strata[idx], source[idx])
        out["boot_ari"][r] = ari(strata[idx], source[idx])
        out["boot_ari_gate_pca"][r] = ari(gate[idx], pca_strata[idx])
        out["boot_entropy"][r] = float(c @ ent_point / c.sum())
    return {**out, "boot_dims": dims, "boot_sizes": sizes}


def run_text_bootstrap(
    space: np.ndarray,
    strata: np.ndarray,
    w_soft: np.ndarray,
    source: np.ndarray,
    pca_strata: np.ndarray,
    cfg: Mapping[str, Any],
    text_index: np.ndarray,
) -> dict[str, np.ndarray]:
    """The ``text_bootstrap`` pool resamples of one strata run (``text_index``: the seed's pool rows)."""
    mult = pool_multiplicities(cfg["data_seed"], text_index, int(cfg["text_bootstrap"]))
    return text_bootstrap_metrics(space, strata, w_soft, source, pca_strata, cfg, index_sets(mult))


# ---------------------------------------------------------------------------------------------------------------
# evidence side: (n seeds, R) tables for Evidence.replicates
# ---------------------------------------------------------------------------------------------------------------


def replicates(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    """(n seeds, R) replicate table of ``key`` (a ``boot_*`` key), one row per run in the runs' order."""
    missing = [i for i, r in enumerate(runs) if key not in r]
    if missing:
        raise KeyError(f"strata runs {missing} carry no {key!r} (text bootstrap replicates)")
    return np.stack([np.asarray(r[key], dtype=float) for r in runs])


def paired_replicates(
    small: list[dict[str, Any]], large: list[dict[str, Any]], key: str, sign: float
) -> np.ndarray:
    """(n seeds, R) ``sign * (large - small)`` of ``key`` per seed and resample r (the same pool resample for both
    models: ``pool_multiplicities`` depends on the pool row only)."""
    a, b = replicates(small, key), replicates(large, key)
    if a.shape != b.shape:
        raise ValueError(f"{key}: {a.shape} replicates for the smaller model, {b.shape} for the larger")
    return sign * (b - a)


def sparsity_rho_replicates(
    runs: list[dict[str, Any]], sparsities: Sequence[float], min_size: int
) -> np.ndarray:
    """(n seeds, R) S11 correlation per resample: Spearman(s_e, resampled dimension of the stratum e serves), the
    served strata fixed at the seed's (``strata.served_strata`` on the seed's heatmap and sizes, as
    ``strata_controls.sparsity_dimension``)."""
    s = np.asarray(sparsities, dtype=float)
    out = []
    for r in runs:
        served = st.served_strata(np.asarray(r["heat_strata"]), np.asarray(r["sizes"]), min_size)
        dims = replicates([r], "boot_dims")[0]
        out.append([st.rank_correlation(s, d[served]) for d in dims])
    return np.asarray(out, dtype=float)


def constant_replicates(run: Mapping[str, Any], n_resamples: int) -> dict[str, Any]:
    """``run`` with every missing ``boot_*`` key filled with R copies of the seed's own value: a canned run
    (orientation checks, tests) without text-sampling noise, whose two-stage CI is the seeds' CI."""
    out = dict(run)
    for key, base in BOOT_KEYS.items():
        if key not in out and base in out:
            v = np.asarray(out[base], dtype=float)
            out[key] = np.tile(v, (int(n_resamples), *([1] * v.ndim)))
    return out
