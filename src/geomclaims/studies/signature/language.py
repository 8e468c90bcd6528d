"""Sec. 6 and App. C: language models trained on one domain corpus (P8-P10, ``signature/lm``) and the pretrained
tied-embedding model (P11, ``signature/pretrained``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.metrics import cosine_matrix, mantel, percentile_bin_alignment, r_cos, r_order
from geomclaims.registry import Evidence, RunContext, Untestable, evidence

from . import lm_readings
from .shared import _null_name, _permutation_null, null_seed

LM_PAIRS = lm_readings.LM_PAIRS


def lm_runs(ctx: RunContext, corpus: str, arch: str) -> list[dict[str, Any]]:
    """One LM per seed of ``lm_seeds`` (a seed sets the init and the data order; corpus and tokenizer are fixed)."""
    from . import lm

    s = ctx.settings["lm"]
    if corpus not in s["corpora"]:
        raise Untestable(
            f"corpus {corpus!r} is not part of the {ctx.profile} profile's LM corpora {s['corpora']}"
        )
    # the other corpora's signatures, counted with this run's tokenizer (Corollary 4's specificity, P8-specific,
    # read on the Sec. 6 architecture only: ~8 s of loading and encoding per job, so the llama runs skip it)
    others = [c for c in s["corpora"] if c != corpus] if arch == "qwen2" else []
    cfg = lm.lm_config(s["scale"], corpus, arch, device=ctx.device, cross_corpora=others)
    return [ctx.run("lm", cfg, int(seed), lm.train_lm) for seed in ctx.settings["lm_seeds"]]


def partial_r_cos_given_frequency(cos_w: np.ndarray, cos_s: np.ndarray, counts: np.ndarray) -> float:
    """Pearson correlation of the upper triangles of ``cos_w`` and ``cos_s`` after regressing both on the pair's
    log token frequencies (intercept, log f_i + log f_j, |log f_i - log f_j|): the alignment frequency cannot explain.
    Frequent tokens share contexts and are pushed alike by the softmax, so raw R_cos can be a frequency effect.
    Computed by :class:`FrequencyResidual` (one definition for the measurement and its permutation null)."""
    return FrequencyResidual(cos_w, counts).partial_r(cos_s)


def _lm_counts(res: dict[str, Any], matrix: str) -> np.ndarray:
    s_key = LM_PAIRS[matrix][1]
    ok = res[s_key].astype(np.float64).sum(axis=1) > 0
    return np.asarray(res["token_counts"], dtype=np.float64)[ok]


def _lm_cos_pair(res: dict[str, Any], matrix: str, which: str = "final") -> tuple[np.ndarray, np.ndarray]:
    """cos(W) and cos(signature) over the top-C tokens whose signature row is defined (seen in that position)."""
    w_key, s_key = LM_PAIRS[matrix]
    sig = res[s_key].astype(np.float64)
    ok = sig.sum(axis=1) > 0
    return cosine_matrix(res[f"{w_key}/{which}"][ok].astype(np.float64)), cosine_matrix(sig[ok])


def _corpus_param(case: ClaimCase, ctx: RunContext) -> str:
    corpus = str(case.params["corpus"])
    if ctx.profile == "smoke":  # plumbing only: the synthetic corpora stand in, by position
        names = ctx.settings["lm"]["corpora"]
        corpus = names[sum(map(ord, corpus)) % len(names)] if corpus not in names else corpus
    return corpus


@evidence("signature/lm")
def lm_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    arch = str(case.params.get("arch", "qwen2"))
    if case.claim.metric == "decile_asymmetry_pooled":
        return _pooled_asymmetry(case, ctx, arch)
    corpus = _corpus_param(case, ctx)
    runs = lm_runs(ctx, corpus, arch)
    metric = case.claim.metric
    n = int(ctx.settings["n_null"])
    res = runs[0]
    details: dict[str, Any] = {
        "corpus": corpus,
        "arch": arch,
        "seeds": [int(r["data_seed"]) for r in runs],
        "corpus_bytes": int(res["corpus_bytes"]),
        "corpus_tokens": int(res["corpus_tokens"]),
        "vocab_size": int(res["vocab_size"]),
        "steps": int(res["steps"]),
        "tokens_seen": int(res["tokens_seen"]),
        "train_seconds": [round(float(r["train_seconds"]), 1) for r in runs],
        "n_params": int(res["n_params"]),
        "loss_first_last": [[float(r["loss"][:10].mean()), float(r["loss"][-10:].mean())] for r in runs],
    }
    # a model that did not lower its loss has no trained geometry to read
    pre = {"loss_drop_min": float(min(r["loss"][:10].mean() - r["loss"][-10:].mean() for r in runs))}
    if metric in ("r_cos_lm", "partial_r_cos_lm"):
        matrix = str(case.params["matrix"])
        pairs = [_lm_cos_pair(r, matrix) for r in runs]
        raw = [r_cos(cw, cs) for cw, cs in pairs]
        partial = [
            partial_r_cos_given_frequency(cw, cs, _lm_counts(r, matrix))
            for (cw, cs), r in zip(pairs, runs, strict=True)
        ]
        details["r_cos_per_seed"] = raw
        details["partial_r_cos_given_log_freq"] = partial
        measured = raw if metric == "r_cos_lm" else partial
        name = _null_name(case)
        cw, cs = pairs[0]
        if name == "init":
            # the same model at init: its own init rows, plus fresh draws of the same iid init for a distribution
            w0 = res[f"{LM_PAIRS[matrix][0]}/init"]
            rng = np.random.default_rng(null_seed(ctx) + 2)
            draws = rng.normal(0.0, float(np.std(w0)), size=(min(n, 200), cw.shape[0], w0.shape[1]))
            null = np.array([r_cos(cosine_matrix(d), cs) for d in draws])
            details["r_cos_at_init"] = [r_cos(_lm_cos_pair(r, matrix, "init")[0], cs) for r in runs]
        elif name == "token_permutation":
            if metric == "r_cos_lm":
                null = _permutation_null([p[0] for p in pairs], cs, n, null_seed(ctx))
            else:
                null = _frequency_permutation_null(
                    pairs, [_lm_counts(r, matrix) for r in runs], n, null_seed(ctx)
                )
        else:
            raise KeyError(f"LM R_cos claims support nulls init/token_permutation, not {name!r}")
        details["n_tokens"] = int(cw.shape[0])
        details["cos_w_head"] = np.round(cw[:30, :30], 3).tolist()
        details["cos_sig_head"] = np.round(cs[:30, :30], 3).tolist()
        details["tokens_head"] = [str(t) for t in res["tokens"][:30]]
        return Evidence(measured=measured, null=null, details=details, preconditions=pre)
    if metric == "specificity_margin":
        return _specificity_evidence(case, ctx, runs, corpus, details, pre)
    if metric == "per_token_trend":
        return _per_token_evidence(case, ctx, runs, details, pre)
    if metric in ("decile_spread", "decile_asymmetry"):
        stat = _decile_stat(metric)
        curves = []
        for r in runs:
            cw, cs = _lm_cos_pair(r, "embedding")
            curves.append(percentile_bin_alignment(cw, cs, n_bins=10))
        cw0, _ = _lm_cos_pair(res, "embedding", "init")
        curve0 = percentile_bin_alignment(cw0, cs, n_bins=10)
        details["decile_curve"] = np.round(curves[0], 3).tolist()
        details["decile_curves"] = np.round(np.asarray(curves), 3).tolist()
        details["decile_curve_init"] = np.round(curve0, 3).tolist()
        if _null_name(case) != "init":
            raise KeyError("decile claims use the 'init' null")
        w0 = res["WE/init"]
        rng = np.random.default_rng(null_seed(ctx) + 3)
        draws = rng.normal(0.0, float(np.std(w0)), size=(min(n, 200), cw.shape[0], w0.shape[1]))
        null = np.array([stat(percentile_bin_alignment(cosine_matrix(d), cs, n_bins=10)) for d in draws])
        return Evidence(measured=[stat(c) for c in curves], null=null, details=details, preconditions=pre)
    raise KeyError(f"signature/lm has no metric {metric!r}")


def _specificity_evidence(
    case: ClaimCase, ctx: RunContext, runs: list[dict[str, Any]], corpus: str, details: dict, pre: dict
) -> Evidence:
    """P8-specific: per seed, own R_cos minus the best other corpus's R_cos over the same rows; null: the same
    margin for iid init embeddings."""
    matrix = str(case.params["matrix"])
    if str(case.params.get("arch", "qwen2")) != "qwen2":
        raise KeyError("the specificity margin is recorded for the qwen2 LMs only (lm_runs counts it there)")
    others = [c for c in ctx.settings["lm"]["corpora"] if c != corpus]
    readings = [lm_readings.specificity(r, matrix, others) for r in runs]
    details["best_other_per_seed"] = [x["best_other"] for x in readings]
    details["per_other_per_seed"] = [
        {o: {k: round(v, 4) for k, v in d.items()} for o, d in x["per_other"].items()} for x in readings
    ]
    if _null_name(case) != "init":
        raise KeyError(f"the specificity margin takes the 'init' null, not {_null_name(case)!r}")
    null = lm_readings.specificity_init_null(
        runs[0], matrix, others, min(int(ctx.settings["n_null"]), 200), null_seed(ctx) + 4
    )
    measured = [x["margin"] for x in readings]
    return Evidence(measured=measured, null=null, details=details, preconditions=pre)


def _per_token_evidence(
    case: ClaimCase, ctx: RunContext, runs: list[dict[str, Any]], details: dict, pre: dict
) -> Evidence:
    """P9-pertoken (Fig. 5C): per seed, the correlation over tokens of R(s) with Mean(s); null: the signature's
    tokens permuted. Seed 0's per-token points are kept for the report's scatter."""
    pairs = [_lm_cos_pair(r, "embedding") for r in runs]
    if _null_name(case) != "token_permutation":
        raise KeyError(f"the per-token trend takes the 'token_permutation' null, not {_null_name(case)!r}")
    cw, cs = pairs[0]
    details["per_token_r_seed0"] = np.round(lm_readings.per_token_r(cw, cs), 4).tolist()
    details["mean_similarity_seed0"] = np.round(lm_readings.mean_similarity(cw), 4).tolist()
    details["n_tokens"] = int(cw.shape[0])
    null = lm_readings.per_token_permutation_null(pairs, int(ctx.settings["n_null"]), null_seed(ctx) + 5)
    measured = [lm_readings.per_token_trend(a, b) for a, b in pairs]
    return Evidence(measured=measured, null=null, details=details, preconditions=pre)


def _frequency_permutation_null(
    pairs: list[tuple[np.ndarray, np.ndarray]], counts: list[np.ndarray], n_perm: int, seed: int
) -> np.ndarray:
    """Null of the frequency-controlled R_cos: tokens of the signature side relabelled by a random permutation
    (rows and columns together; the frequency covariates stay with the embedding side), median over seeds per
    permutation."""
    rng = np.random.default_rng(seed)
    fixed = [FrequencyResidual(cw, c) for (cw, _), c in zip(pairs, counts, strict=True)]
    out = np.empty(n_perm)
    for k in range(n_perm):
        perm = rng.permutation(pairs[0][1].shape[0])
        out[k] = np.median(
            [f.partial_r(cs[np.ix_(perm, perm)]) for f, (_, cs) in zip(fixed, pairs, strict=True)]
        )
    return out


class FrequencyResidual:
    """The frequency-controlled R_cos with the embedding side and the covariates fixed: the covariates' basis and the
    embedding residual are computed once, so a permutation null only projects each relabelled signature side
    (measured ~4x faster than one least-squares fit per permutation: 0.59 s vs 2.5 s for 200 permutations x 3 seeds
    of 150-token matrices).

    With Q an orthonormal basis of the covariates and ``a`` the embedding residual (orthogonal to Q), the residual of
    ``v`` is ``b = v - Q Q^T v``, so ``a.b = a.v`` and ``|b|^2 = |v|^2 - |Q^T v|^2``."""

    def __init__(self, cos_w: np.ndarray, counts: np.ndarray) -> None:
        if np.any(counts <= 0):
            raise ValueError("token counts must be positive (a top-C token occurs in the corpus)")
        lf = np.log(np.asarray(counts, dtype=np.float64))
        self.iu = np.triu_indices(cos_w.shape[0], k=1)
        i, j = self.iu
        z = np.column_stack([np.ones(i.size), lf[i] + lf[j], np.abs(lf[i] - lf[j])])
        u, sv, _ = np.linalg.svd(z, full_matrices=False)
        self.q = u[
            :, sv > 1e-12 * sv[0]
        ]  # the covariates' column span, as lstsq uses it (also when rank-deficient)
        w = cos_w[self.iu]
        self.a = w - self.q @ (self.q.T @ w)
        self.a_norm2 = float(self.a @ self.a)

    def partial_r(self, cos_s: np.ndarray) -> float:
        v = cos_s[self.iu]
        qv = self.q.T @ v
        b_norm2 = float(v @ v - qv @ qv)
        return float((self.a @ v) / np.sqrt(self.a_norm2 * b_norm2))


def _pooled_asymmetry(case: ClaimCase, ctx: RunContext, arch: str) -> Evidence:
    """Fig. 5D/E pool the percentile pairs of all corpora (App. C.1). Every corpus contributes the same number of
    pairs to every decile, so the pooled decile curve is the mean of the per-corpus curves and its asymmetry is the
    mean of theirs: measured = per-corpus asymmetries, aggregated by their mean (the CI then covers corpora). Each
    corpus's value is the mean over every LM seed of that corpus (issue #24 item 7: seed 0 alone was read before)."""
    stat = _decile_stat("decile_asymmetry")
    n = min(int(ctx.settings["n_null"]), 200)
    per_corpus, per_seed, null_draws, curves = [], {}, [], {}
    for corpus in ctx.settings["lm"]["corpora"]:
        runs = lm_runs(ctx, corpus, arch)
        seed_curves = []
        for res in runs:
            cw, cs = _lm_cos_pair(res, "embedding")
            seed_curves.append(percentile_bin_alignment(cw, cs, n_bins=10))
        curves[corpus] = np.round(np.mean(seed_curves, axis=0), 3).tolist()
        per_seed[corpus] = [stat(c) for c in seed_curves]
        per_corpus.append(float(np.mean(per_seed[corpus])))
        # the signature is the corpus's (tokenizer and corpus fixed across seeds): one init null per corpus
        res0 = runs[0]
        cw, cs = _lm_cos_pair(res0, "embedding")
        w0 = res0["WE/init"]
        rng = np.random.default_rng(null_seed(ctx) + 3)
        draws = rng.normal(0.0, float(np.std(w0)), size=(n, cw.shape[0], w0.shape[1]))
        null_draws.append([stat(percentile_bin_alignment(cosine_matrix(d), cs, n_bins=10)) for d in draws])
    if _null_name(case) != "init":
        raise KeyError("decile claims use the 'init' null")
    details = {
        "per_corpus": dict(zip(ctx.settings["lm"]["corpora"], per_corpus, strict=True)),
        "per_corpus_per_seed": per_seed,
        "seeds": [int(x) for x in ctx.settings["lm_seeds"]],
        "curves": curves,
    }
    return Evidence(measured=per_corpus, null=np.mean(np.asarray(null_draws), axis=0), details=details)


def _decile_stat(metric: str):
    """decile_spread: top minus bottom decile mean percentile. decile_asymmetry: how much further the top decile
    sits above 50 than the bottom one sits below it (alignment stronger among the most similar pairs, Fig. 5E)."""
    if metric == "decile_spread":
        return lambda c: float(c[-1] - c[0])
    return lambda c: float((c[-1] - 50.0) - (50.0 - c[0]))


# --------------------------------------------------------------------------------------------------------------
# pretrained tied model: P11
# --------------------------------------------------------------------------------------------------------------


@evidence("signature/pretrained")
def pretrained_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    from . import pretrained

    s = ctx.settings["pretrained"]
    if not s["model"]:
        raise Untestable(f"the {ctx.profile} profile loads no pretrained model (plumbing only)")
    cfg = pretrained.pretrained_config(s["model"], s["corpora"], s["max_bytes_per_corpus"], s["top_c"])
    res = ctx.run("pretrained", cfg, 0, pretrained.run_pretrained)
    n = int(ctx.settings["n_null"])
    details: dict[str, Any] = {
        "model": s["model"],
        "model_sha": str(res["model_sha"]),
        "corpus_bytes": int(res["corpus_bytes"]),
        "corpus_tokens": int(res["corpus_tokens"]),
    }
    if case.claim.metric == "r_cos_tilde":
        ok = res["phi_tilde"].sum(axis=1) > 0
        cw = cosine_matrix(res["WE"][ok].astype(np.float64))
        cs = cosine_matrix(res["phi_tilde"][ok].astype(np.float64))
        details["n_tokens"] = int(ok.sum())
        details["cos_w_head"] = np.round(cw[:40, :40], 3).tolist()
        details["cos_sig_head"] = np.round(cs[:40, :40], 3).tolist()
        details["tokens_head"] = [str(t) for t in res["tokens"][:40]]
        return Evidence(
            measured=[r_cos(cw, cs)], null=mantel(cw, cs, n_perm=n, seed=null_seed(ctx)).null, details=details
        )
    if case.claim.metric in ("digit_r_order", "digit_r_order_tilde"):
        values = np.arange(10, dtype=float)
        we = res["digits/WE"].astype(np.float64)
        tilde = res["digits/phi_tilde"].astype(np.float64)
        dist = np.abs(values[:, None] - values[None, :])
        details["digit_cos"] = np.round(cosine_matrix(we), 4).tolist()
        details["digit_phi_tilde_cos"] = np.round(
            cosine_matrix(res["digits/phi_tilde"].astype(np.float64)), 4
        ).tolist()
        details["r_order_phi_tilde"] = r_order(res["digits/phi_tilde"].astype(np.float64), values)
        details["digit_counts"] = res["digits/counts"].tolist()
        details["r_order_WE"] = r_order(we, values)
        details["r_cos_digit_WE_phi_tilde"] = r_cos(cosine_matrix(we), cosine_matrix(tilde))
        # Fig. 6B shows both heatmaps ordered: the embedding (digit_r_order) and the signature (digit_r_order_tilde)
        target = we if case.claim.metric == "digit_r_order" else tilde
        null = mantel(cosine_matrix(target), dist, n_perm=n, seed=null_seed(ctx)).null
        return Evidence(measured=[r_order(target, values)], null=null, details=details)
    raise KeyError(f"signature/pretrained has no metric {case.claim.metric!r}")
