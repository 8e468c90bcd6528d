"""Corollary 4's specificity (P8-specific) and Fig. 5C's per-token trend (P9-pertoken) on synthetic LM results.

Each LM result plants an embedding built from one corpus's signature, so the corpus whose signature fits is known:
a swapped own/other reading, or a margin read with the wrong sign, fails here.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from geomclaims.claims_schema import Expect, NullSpec
from geomclaims.decision import decide
from geomclaims.metrics import cosine_matrix
from geomclaims.studies.signature import language, lm_readings

C, V = 40, 60
CORPORA = ["a", "b", "c"]


def _signature(rng: np.random.Generator) -> np.ndarray:
    """Bigram-like rows: each token's next-token distribution concentrates on a few tokens."""
    return rng.dirichlet(np.full(V, 0.1), size=C).astype(np.float32)


def _embed(sig: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Rows whose cosine geometry follows ``sig``'s, plus noise."""
    return sig + noise * rng.normal(size=sig.shape)


def lm_result(fits: str, seed: int, sigs: dict[str, np.ndarray]) -> dict[str, Any]:
    """An LM trained on corpus 'a' (its own signatures are sigs['a']) whose embedding follows ``sigs[fits]``."""
    rng = np.random.default_rng(seed)
    res: dict[str, Any] = {
        "WE/final": _embed(sigs[fits], rng, 0.005),
        "WU/final": _embed(sigs[fits], rng, 0.005),
        "WE/init": rng.normal(0, 0.05, size=(C, V)),
        "WU/init": rng.normal(0, 0.05, size=(C, V)),
        "phi_next": sigs["a"],
        "varphi_pre": sigs["a"],
    }
    for o in CORPORA[1:]:
        res[f"cross_phi_next/{o}"] = sigs[o]
        res[f"cross_varphi_pre/{o}"] = sigs[o]
        res[f"cross_counts/{o}"] = np.full(C, 100)
    return res


@pytest.fixture(scope="module")
def sigs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {c: _signature(rng) for c in CORPORA}


@pytest.mark.parametrize("matrix", ["embedding", "unembedding"])
def test_own_signature_fits_gives_positive_margin(sigs: dict[str, np.ndarray], matrix: str) -> None:
    out = lm_readings.specificity(lm_result("a", 0, sigs), matrix, ["b", "c"])
    assert out["margin"] > 0.3
    for d in out["per_other"].values():
        assert d["own"] > 0.8 and d["diff"] == pytest.approx(d["own"] - d["other"])


def test_margin_is_the_best_other_corpus(sigs: dict[str, np.ndarray]) -> None:
    # the LM follows corpus c's signature: c is the best other corpus and the margin is negative
    out = lm_readings.specificity(lm_result("c", 0, sigs), "embedding", ["b", "c"])
    assert out["best_other"] == "c"
    assert out["margin"] == min(d["diff"] for d in out["per_other"].values()) < -0.3


def test_rare_tokens_of_the_other_corpus_are_left_out(sigs: dict[str, np.ndarray]) -> None:
    res = lm_result("a", 0, sigs)
    res["cross_counts/b"] = np.where(np.arange(C) < 10, 5, 100)
    out = lm_readings.specificity(res, "embedding", ["b"])
    assert out["per_other"]["b"]["n_tokens"] == C - 10


def _ctx() -> SimpleNamespace:
    return SimpleNamespace(
        settings={"n_null": 60, "null_seed": 7, "lm": {"corpora": CORPORA}}, profile="ci", device="cpu"
    )


def _case(metric: str, null: str, **params: Any) -> SimpleNamespace:
    return SimpleNamespace(
        claim=SimpleNamespace(metric=metric, null=SimpleNamespace(name=null)), params=params
    )


INIT_NULL = NullSpec(name="init", rule="above_quantile", q=0.95)
POSITIVE = Expect(op=">", value=0.0)


@pytest.mark.parametrize("fits, verdicts", [("a", {"replicated"}), ("b", {"not_replicated", "trivial"})])
def test_specificity_evidence_decides(sigs: dict[str, np.ndarray], fits: str, verdicts: set[str]) -> None:
    """Through the evidence function and the verdict rule: own fits -> replicated; another corpus's signature
    fits better -> not_replicated / trivial (a reading that swapped own and other would flip both)."""
    runs = [lm_result(fits, s, sigs) for s in range(4)]
    ev = language._specificity_evidence(
        _case("specificity_margin", "init", matrix="embedding"), _ctx(), runs, "a", {}, {}
    )
    d = decide(ev.measured, POSITIVE, ev.null, INIT_NULL, claim_id="P8-specific", stability=False)
    assert d.verdict.value in verdicts
    assert abs(float(np.median(ev.null))) < 0.2  # init margins scatter around 0


def test_per_token_r_matches_a_direct_correlation() -> None:
    rng = np.random.default_rng(1)
    cw, cs = cosine_matrix(rng.normal(size=(12, 5))), cosine_matrix(rng.normal(size=(12, 5)))
    r = lm_readings.per_token_r(cw, cs)
    keep = np.arange(12) != 4
    assert r[4] == pytest.approx(np.corrcoef(cw[4, keep], cs[4, keep])[0, 1])
    assert lm_readings.mean_similarity(cw)[4] == pytest.approx(cw[4, keep].mean())


def _graded(rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Tokens in tight clusters (high mean similarity) share their signature geometry; isolated tokens get a
    signature unrelated to their embedding: R(s) rises with Mean(s), as Fig. 5C reads."""
    centres = rng.normal(size=(4, 8))
    w = np.vstack([centres[i % 4] + 0.3 * rng.normal(size=8) for i in range(n // 2)])
    w = np.vstack([w, rng.normal(size=(n - n // 2, 8))])
    s = w.copy()
    s[n // 2 :] = rng.normal(size=(n - n // 2, 8))
    return cosine_matrix(w), cosine_matrix(s)


def test_per_token_trend_positive_and_beats_the_permutation_null() -> None:
    rng = np.random.default_rng(2)
    pairs = [_graded(rng) for _ in range(3)]
    trend = lm_readings.per_token_trend(*pairs[0])
    null = lm_readings.per_token_permutation_null(pairs, 200, 0)
    assert trend > 0.3
    assert trend > np.quantile(null, 0.95)
    assert abs(float(np.median(null))) < 0.15


def test_per_token_trend_without_pairing_is_not_significant() -> None:
    """Calibration: a signature unrelated to the embedding beats the null's 95% quantile in about 5% of draws."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(40):
        cw, cs = cosine_matrix(rng.normal(size=(30, 6))), cosine_matrix(rng.normal(size=(30, 6)))
        null = lm_readings.per_token_permutation_null([(cw, cs)], 100, int(rng.integers(1e6)))
        hits += lm_readings.per_token_trend(cw, cs) > np.quantile(null, 0.95)
    assert hits <= 7


def test_cross_signatures_count_the_other_corpus_with_this_tokenizer() -> None:
    """train_lm's cross-corpus counting: the other corpus encoded with this run's tokenizer, over this run's rows."""
    from geomclaims.studies.signature import lm
    from geomclaims.studies.signature.signatures import bigram_signatures

    docs, _ = lm.load_corpus("synthetic_a", 20_000)
    tok = lm.train_tokenizer(docs, 200)
    ids = lm.encode_docs(tok, docs)
    v = tok.get_vocab_size()
    rows = lm.top_tokens(ids, 30, exclude=(0,))
    out = lm.cross_signatures(tok, v, rows, ["synthetic_b"], 20_000)
    other_ids = lm.encode_docs(tok, lm.load_corpus("synthetic_b", 20_000)[0])
    nxt, pre = bigram_signatures(other_ids, v, rows)
    np.testing.assert_allclose(out["cross_phi_next"]["synthetic_b"], nxt, atol=1e-6)
    np.testing.assert_allclose(out["cross_varphi_pre"]["synthetic_b"], pre, atol=1e-6)
    assert (
        out["cross_counts"]["synthetic_b"].tolist()
        == np.bincount(np.concatenate(other_ids), minlength=v)[rows].tolist()
    )
    own_nxt, _ = bigram_signatures(ids, v, rows)
    assert not np.allclose(
        own_nxt, nxt
    )  # a different chain: the other corpus's rows are its own, not this one's
    assert lm.cross_signatures(tok, v, rows, [], 20_000) == {}


def test_report_shows_the_specificity_table_and_the_per_token_scatter(tmp_path: Any) -> None:
    from geomclaims.studies.signature import report

    per_other = [
        {"b": {"own": o, "other": t, "diff": o - t, "n_tokens": 30}}
        for o, t in ((0.5, 0.2), (0.7, 0.1), (0.6, 0.3))
    ]
    entries = [
        {
            "id": "P8-specific[a-embedding]",
            "claim_id": "P8-specific",
            "params": {"corpus": "a", "matrix": "embedding"},
            "details": {"per_other_per_seed": per_other},
        },
        {
            "id": "P9-pertoken[a]",
            "claim_id": "P9-pertoken",
            "params": {"corpus": "a"},
            "details": {
                "per_token_r_seed0": [0.1, 0.3, None, 0.5],
                "mean_similarity_seed0": [0.0, 0.1, 0.2, 0.3],
            },
        },
    ]
    md = report.section(entries, tmp_path)
    # seed medians of own and other R_cos
    assert "| a | embedding | b: 0.60 vs 0.20 |" in " ".join(md.split()).replace("  ", " ")
    assert (tmp_path / "signature_per_token.png").exists()


@pytest.mark.parametrize("arch, others", [("qwen2", ["b", "c"]), ("llama", [])])
def test_lm_runs_count_other_corpora_for_the_sec6_architecture_only(arch: str, others: list[str]) -> None:
    configs = []
    ctx = SimpleNamespace(
        settings={"lm": {"scale": "smoke", "corpora": CORPORA}, "lm_seeds": [0, 1]},
        profile="smoke",
        device="cpu",
        run=lambda name, cfg, seed, fn: configs.append(cfg) or {},
    )
    language.lm_runs(ctx, "a", arch)
    assert [c["cross_corpora"] for c in configs] == [others, others]
