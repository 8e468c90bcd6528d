"""Entropies of stochastic rows (attention, gating) and label agreement (NMI / ARI).

Conventions (DESIGN.md; paper E Sec. 4 "attention entropy", paper S Sec. 4 "gating entropy"):
Shannon entropy ``H = -sum_j p_j log p_j`` per row with ``0 log 0 = 0``, natural log unless ``base`` is given.
Attention entropy is per query row; normalised entropy divides by ``log(number of visible keys)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn import metrics as skm

from ._validate import as_array

__all__ = ["ROW_SUM_TOL", "ari", "attention_entropy", "nmi", "row_entropy"]

#: Rows must sum to 1 within this absolute tolerance (float32 softmax outputs sum to 1 within ~1e-6).
ROW_SUM_TOL = 1e-4


def _check_stochastic(p: np.ndarray, name: str) -> None:
    if p.ndim < 1 or p.shape[-1] == 0:
        raise ValueError(f"{name}: expected rows along the last axis, got shape {p.shape}")
    if np.any(p < -1e-12):
        raise ValueError(f"{name}: negative probabilities (min {p.min()!r})")
    sums = p.sum(axis=-1)
    bad = np.abs(sums - 1.0) > ROW_SUM_TOL
    if np.any(bad):
        worst = sums.ravel()[np.argmax(np.abs(sums - 1.0).ravel())]
        raise ValueError(
            f"{name}: {int(bad.sum())} row(s) do not sum to 1 (worst sum {worst!r}, tol {ROW_SUM_TOL})"
        )


def _entropy_nats(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -terms.sum(axis=-1)


def row_entropy(P: Any, base: float = math.e) -> np.ndarray:
    """Shannon entropy of each row (last axis) of a row-stochastic array ``P`` of shape ``(..., n)``.

    Convention: ``H = -sum_j p_j log_base p_j`` with ``0 log 0 = 0``; result has shape ``P.shape[:-1]`` and lies
    in ``[0, log_base n]`` (``log n`` exactly for uniform rows). Paper S's gating entropy and paper E's
    attention entropy (Sec. 4) are rows of this. Rows must be non-negative and sum to 1 within
    :data:`ROW_SUM_TOL`.
    """
    p = as_array(P, "P")
    _check_stochastic(p, "P")
    if not (base > 0 and base != 1):
        raise ValueError(f"base: must be positive and != 1, got {base!r}")
    return _entropy_nats(p) / math.log(base)


def attention_entropy(attn: Any, causal: bool = True, normalize: bool = True) -> np.ndarray:
    """Entropy (nats) of every query row of attention weights ``attn`` of shape ``(..., T_query, T_key)``.

    Convention (DESIGN.md "attention entropy"; paper E Sec. 4, Fig. 2): with ``causal=True`` query ``t``
    sees ``t + 1 + (T_key - T_query)`` keys (``t + 1`` when ``T_query == T_key``; bottom-right alignment as with
    a key cache); weight on masked keys above ``ROW_SUM_TOL`` is an error. With ``normalize=True`` each
    row is divided by ``log(#visible keys)``, giving values in ``[0, 1]``; a row with a single visible key
    (query 0 under the causal mask) has entropy 0 and normalised entropy 0 by convention (its
    distribution is forced, there is no choice to measure). Returns an array of shape ``attn.shape[:-1]``.
    """
    a = as_array(attn, "attn")
    if a.ndim < 2:
        raise ValueError(f"attn: expected shape (..., T_query, T_key), got {a.shape}")
    _check_stochastic(a, "attn")
    tq, tk = a.shape[-2:]
    if causal:
        if tk < tq:
            raise ValueError(f"attn: causal attention needs T_key >= T_query, got shape {a.shape}")
        visible = np.arange(tq) + 1 + (tk - tq)
        masked = np.arange(tk)[None, :] >= visible[:, None]
        leak = np.abs(np.where(masked, a, 0.0)).max() if masked.any() else 0.0
        if leak > ROW_SUM_TOL:
            raise ValueError(f"attn: {leak!r} attention weight on causally masked (future) keys")
    else:
        visible = np.full(tq, tk)
    h = _entropy_nats(a)
    if not normalize:
        return h
    denom = np.log(visible.astype(float))
    safe = np.where(visible > 1, denom, 1.0)
    return np.where(visible > 1, h / safe, 0.0)


def _labels(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D label array, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN/inf labels")
    return arr


def _label_pair(labels_a: Any, labels_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _labels(labels_a, "labels_a")
    b = _labels(labels_b, "labels_b")
    if a.shape != b.shape:
        raise ValueError(f"labels_b: expected shape {a.shape} to match labels_a, got {b.shape}")
    return a, b


def nmi(labels_a: Any, labels_b: Any) -> float:
    """Normalised mutual information between two labelings (scikit-learn, arithmetic-mean normalisation).

    Convention: paper S Sec. 4 (strata vs domains); ``sklearn.metrics.normalized_mutual_info_score`` with
    its default ``average_method="arithmetic"``; in ``[0, 1]``, invariant to relabeling.
    """
    a, b = _label_pair(labels_a, labels_b)
    return float(skm.normalized_mutual_info_score(a, b))


def ari(labels_a: Any, labels_b: Any) -> float:
    """Adjusted Rand index between two labelings (``sklearn.metrics.adjusted_rand_score``; 0 at chance, 1 if equal)."""
    a, b = _label_pair(labels_a, labels_b)
    return float(skm.adjusted_rand_score(a, b))
