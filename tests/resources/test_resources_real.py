"""Integration tests on the real MiniLM, SmolLM2 and real corpora (skip with the reason when unavailable)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from resources_helpers import skip_unavailable

from geomclaims.resources import fetcher as F
from geomclaims.resources.corpora import load_source, multidomain_dataset
from geomclaims.resources.embeddings import embed, embed_with
from geomclaims.resources.lm_corpora import lm_corpus
from geomclaims.resources.models import load_model

pytestmark = pytest.mark.resources

SHORT = "The cat sat on the mat."
LONGER = [
    "A considerably longer sentence, written so that the short one has to be padded by many positions "
    "whenever the two share a batch; padding must never change an embedding.",
    "A medium-length second text about something else entirely.",
]


@pytest.fixture(scope="module")
def minilm() -> Any:
    return skip_unavailable(lambda: load_model("minilm-l6"))


@pytest.fixture(scope="module")
def smollm2() -> Any:
    return skip_unavailable(lambda: load_model("smollm2-135m"))


def _alone_vs_batched(tok: Any, model: Any, decoder: bool, pooling: str) -> tuple[np.ndarray, np.ndarray]:
    alone = embed_with(tok, model, [SHORT], decoder=decoder, pooling=pooling, progress=False)
    batched = embed_with(tok, model, [*LONGER, SHORT], decoder=decoder, pooling=pooling, progress=False)
    return alone[0], batched[-1]


def test_minilm_is_float32_eval_and_padding_invariant(minilm: Any) -> None:
    tok, model = minilm
    assert not model.training and next(model.parameters()).dtype.is_floating_point
    assert str(next(model.parameters()).dtype) == "torch.float32"
    a, b = _alone_vs_batched(tok, model, decoder=False, pooling="mean")
    assert a.shape == (384,)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_smollm2_padding_invariant(smollm2: Any, side: str, pooling: str) -> None:
    """Decoder: the same text alone or padded (on either side) next to longer texts gives the same vector.
    Tolerance: round-off of different matmul shapes, |diff| ~1e-5 on hidden values of magnitude ~1-10."""
    tok, model = smollm2
    old = tok.padding_side
    tok.padding_side = side
    try:
        a, b = _alone_vs_batched(tok, model, decoder=True, pooling=pooling)
    finally:
        tok.padding_side = old
    assert a.shape == (576,)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5 if pooling == "mean" else 5e-5)


def test_embed_restores_order_and_caches(minilm: Any) -> None:
    texts = [LONGER[0], SHORT, LONGER[1], SHORT + " Again."]
    first = embed("minilm-l6", texts, batch_size=2, progress=False, cache=False)
    one_by_one = np.stack([embed("minilm-l6", [t], progress=False, cache=False)[0] for t in texts])
    np.testing.assert_allclose(first, one_by_one, atol=1e-5, rtol=1e-5)
    cached = embed("minilm-l6", texts, batch_size=2, progress=False)
    again = embed("minilm-l6", texts, batch_size=2, progress=False)
    assert cached.dtype == np.float32 and np.array_equal(cached, again)
    layer0 = embed("minilm-l6", texts, layer=0, progress=False)
    assert not np.allclose(layer0, cached)


def test_chunked_cache_matches_one_piece(minilm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Chunks of 4 texts (batches of 2): the padding pooling keeps its input-order batches exactly, so chunked and
    one-piece results are identical; the length-sorted mean pooling agrees to round-off."""
    from geomclaims.resources import embeddings as E

    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path))
    monkeypatch.setattr(E, "CHUNK_TEXTS", 4)
    texts = [*LONGER, SHORT, SHORT + " Again.", LONGER[0] + " More.", "Short."]
    for pooling in ("mean_with_padding", "mean"):
        whole = embed("minilm-l6", texts, pooling=pooling, batch_size=2, progress=False, cache=False)
        chunked = embed("minilm-l6", texts, pooling=pooling, batch_size=2, progress=False)
        assert len(list((tmp_path / "embeddings").glob("minilm-l6-*.npy"))) >= 2
        if pooling == "mean_with_padding":
            np.testing.assert_array_equal(chunked, whole)
        else:
            np.testing.assert_allclose(chunked, whole, atol=1e-5, rtol=1e-5)


def test_minilm_weights_verify() -> None:
    skip_unavailable(lambda: F.fetch("minilm-l6", progress=False))
    assert F.is_cached("minilm-l6", verify=True)


def test_multidomain_real_two_sources() -> None:
    sources = ("imdb_pang_lee", "rt_vader_movies")
    ds = skip_unavailable(lambda: multidomain_dataset(60, seed=3, sources=sources))
    assert Counter(ds["source"]) == {"imdb_pang_lee": 60, "rt_vader_movies": 60}
    assert Counter(zip(ds["source"], ds["label_name"], strict=True)) == {
        (s, lab): 30 for s in sources for lab in ("pos", "neg")
    }
    pool = load_source("imdb_pang_lee")
    assert len(pool) == 1500 and ds["text"][:60] != [r["text"] for r in pool[:60]]
    same = multidomain_dataset(60, seed=3, sources=sources)
    assert same["text"] == ds["text"]
    with pytest.raises(ValueError, match="imdb_pang_lee"):
        multidomain_dataset(1501, seed=0, sources=("imdb_pang_lee",))


def test_lm_corpus_real_budget() -> None:
    docs, n = skip_unavailable(lambda: lm_corpus("prose_shakespeare", max_bytes=200_000))
    assert n == sum(len(d.encode()) for d in docs) and 199_990 <= n <= 200_000
    wiki, nw = skip_unavailable(lambda: lm_corpus("wikipedia"))
    assert len(wiki) == 10_033 and nw > 4_000_000


def test_dm_mathematics_when_generated() -> None:
    """Generation takes CPU-minutes, so this only checks an already generated corpus (fetch --profile ci)."""
    from geomclaims.resources.lm_corpora import DM_PER_TRAIN_MODULE, _dm_cached, _dm_dir

    if not _dm_cached(_dm_dir(DM_PER_TRAIN_MODULE)):
        pytest.skip("DM-mathematics not generated yet; run: geomclaims fetch --profile ci")
    assert _dm_cached(_dm_dir(DM_PER_TRAIN_MODULE), verify=True), "recorded sha256 no longer matches"
    docs, n = lm_corpus("dm_mathematics")
    assert len(docs) >= 150 and n > 500_000
    q, a = docs[0].splitlines()[:2]
    assert q and a
