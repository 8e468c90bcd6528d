"""Two readings of the Sec. 6 LMs beyond P8/P9: Corollary 4's specificity (a corpus's own signature fits its LM
better than another corpus's does, ``P8-specific``) and Fig. 5C's per-token relation (``P9-pertoken``).

Both read the recorded top-C rows of ``lm.train_lm``; the other corpora's signatures are counted inside that job
with the run's own tokenizer over the same rows (``cross_phi_next`` / ``cross_varphi_pre``), so no extra training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geomclaims.metrics import cosine_matrix, r_cos

LM_PAIRS = {"embedding": ("WE", "phi_next"), "unembedding": ("WU", "varphi_pre")}
CROSS_KEYS = {"embedding": "cross_phi_next", "unembedding": "cross_varphi_pre"}
# A row token must occur this often in the other corpus to enter the comparison: a token seen a handful of times
# there has a noisy signature row, and a margin made of that noise would read as specificity.
MIN_CROSS_COUNT = 20


# --------------------------------------------------------------------------------------------------------------
# Corollary 4 specificity
# --------------------------------------------------------------------------------------------------------------


def _common_rows(res: dict[str, Any], matrix: str, other: str) -> np.ndarray:
    """Rows whose own signature is defined and whose token occurs >= MIN_CROSS_COUNT times in ``other``."""
    own = res[LM_PAIRS[matrix][1]]
    cross = res[f"{CROSS_KEYS[matrix]}/{other}"]
    counts = np.asarray(res[f"cross_counts/{other}"])
    return (own.sum(axis=1) > 0) & (cross.sum(axis=1) > 0) & (counts >= MIN_CROSS_COUNT)


def _specificity_parts(
    res: dict[str, Any], matrix: str, others: list[str]
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per other corpus: its shared rows and the own and other signature cosine matrices over them (computed once,
    so the init null only recomputes the embedding side)."""
    if not others:
        raise ValueError("the specificity reading needs at least one other corpus")
    own = res[LM_PAIRS[matrix][1]].astype(np.float64)
    parts = []
    for o in others:
        ok = _common_rows(res, matrix, o)
        if ok.sum() < 3:
            raise ValueError(
                f"corpus {o!r} shares {int(ok.sum())} row tokens (>= {MIN_CROSS_COUNT} occurrences)"
            )
        other = res[f"{CROSS_KEYS[matrix]}/{o}"][ok].astype(np.float64)
        parts.append((o, ok, cosine_matrix(own[ok]), cosine_matrix(other)))
    return parts


def _margins(w: np.ndarray, parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, Any]:
    per: dict[str, dict[str, float]] = {}
    for o, ok, cs_own, cs_other in parts:
        cw = cosine_matrix(w[ok])
        r_own, r_other = r_cos(cw, cs_own), r_cos(cw, cs_other)
        per[o] = {"own": r_own, "other": r_other, "diff": r_own - r_other, "n_tokens": int(ok.sum())}
    best = min(per, key=lambda o: per[o]["diff"])
    return {"margin": per[best]["diff"], "best_other": best, "per_other": per}


def specificity(res: dict[str, Any], matrix: str, others: list[str], which: str = "final") -> dict[str, Any]:
    """Per other corpus: R_cos of the LM's rows with its own signature and with the other corpus's signature,
    both over the same rows (``_common_rows``), and their difference. ``margin`` is the smallest difference: the
    best-fitting other corpus decides (Corollary 4 read as specificity)."""
    w = res[f"{LM_PAIRS[matrix][0]}/{which}"].astype(np.float64)
    return _margins(w, _specificity_parts(res, matrix, others))


def specificity_init_null(
    res: dict[str, Any], matrix: str, others: list[str], n: int, seed: int
) -> np.ndarray:
    """The margin of iid init embeddings (the run's init std): a geometry no corpus has shaped. Its margins scatter
    around 0, so a trained margin beyond their 95% quantile is corpus-specific beyond chance."""
    w0 = res[f"{LM_PAIRS[matrix][0]}/init"]
    parts = _specificity_parts(res, matrix, others)
    rng = np.random.default_rng(seed)
    std = float(np.std(w0))
    return np.array([_margins(rng.normal(0.0, std, size=w0.shape), parts)["margin"] for _ in range(n)])


# --------------------------------------------------------------------------------------------------------------
# Fig. 5C: per-token correlation against the token's mean embedding similarity
# --------------------------------------------------------------------------------------------------------------


def _off_diagonal(m: np.ndarray) -> np.ndarray:
    c = m.shape[0]
    return m[~np.eye(c, dtype=bool)].reshape(c, c - 1)


def per_token_r(cos_w: np.ndarray, cos_s: np.ndarray) -> np.ndarray:
    """R(s) = Corr(cos(W_s, W), cos(phi_s, phi)) per token s (App. C.1, 'Remark about Figure 5 C'), over s' != s:
    the self-pair is 1 on both sides and would inflate R(s) most for tokens whose other similarities are small."""
    a, b = _off_diagonal(cos_w), _off_diagonal(cos_s)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), den, out=np.full(den.shape, np.nan), where=den > 0)


def mean_similarity(cos_w: np.ndarray) -> np.ndarray:
    """Mean(s): the token's mean cosine to the other top tokens (the paper's mean includes the self-pair, a
    constant 1/C shift that leaves every correlation unchanged)."""
    return _off_diagonal(cos_w).mean(axis=1)


def per_token_trend(cos_w: np.ndarray, cos_s: np.ndarray) -> float:
    """Pearson correlation over tokens of R(s) with Mean(s): Fig. 5C's 'positive correlation'."""
    r, m = per_token_r(cos_w, cos_s), mean_similarity(cos_w)
    ok = np.isfinite(r)
    if ok.sum() < 3:
        raise ValueError(f"per-token R(s) is defined for {int(ok.sum())} tokens; need >= 3")
    return float(np.corrcoef(r[ok], m[ok])[0, 1])


def per_token_permutation_null(
    pairs: list[tuple[np.ndarray, np.ndarray]], n_perm: int, seed: int
) -> np.ndarray:
    """Tokens of the signature side relabelled (rows and columns together) while Mean(s) stays with the embedding:
    the trend a geometry of the same shape shows without the token pairing. Median over seeds per permutation,
    the same permutation for every seed (as the claim aggregates the median)."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_perm)
    for k in range(n_perm):
        perm = rng.permutation(pairs[0][1].shape[0])
        out[k] = np.median([per_token_trend(cw, cs[np.ix_(perm, perm)]) for cw, cs in pairs])
    return out
