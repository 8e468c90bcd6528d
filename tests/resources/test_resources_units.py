"""Units that need no real resources: pooling, text hashing, byte budgets, archive readers."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from resources_helpers import make_targz, make_wheel

from geomclaims.resources import archive
from geomclaims.resources.embeddings import pool_hidden, texts_sha256
from geomclaims.resources.lm_corpora import truncate_to_bytes


def test_pool_hidden_left_and_right_padding_agree() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(1, 4, 8, generator=g)
    right = torch.cat([h, torch.full((1, 2, 8), float("nan"))], dim=1)  # NaN in pads must not leak
    left = torch.cat([torch.full((1, 2, 8), float("nan")), h], dim=1)
    m_right = torch.tensor([[1, 1, 1, 1, 0, 0]])
    m_left = torch.tensor([[0, 0, 1, 1, 1, 1]])
    for pooling, want in (("mean", h.mean(dim=1)), ("last", h[:, -1])):
        torch.testing.assert_close(pool_hidden(right, m_right, pooling), want)
        torch.testing.assert_close(pool_hidden(left, m_left, pooling), want)
    with pytest.raises(ValueError, match="pooling"):
        pool_hidden(h, torch.ones(1, 4), "max")


def test_texts_sha_is_length_prefixed() -> None:
    assert texts_sha256(["ab"]) != texts_sha256(["a", "b"])
    assert texts_sha256(["x", "y"]) == texts_sha256(["x", "y"])
    assert texts_sha256(["x", "y"]) != texts_sha256(["y", "x"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), max_size=20), st.integers(0, 400))
def test_truncate_to_bytes(docs: list[str], budget: int) -> None:
    out, n = truncate_to_bytes(docs, budget)
    assert n == sum(len(d.encode()) for d in out) <= budget
    full = sum(len(d.encode()) for d in docs)
    if full <= budget:
        assert out == docs
    else:
        assert n >= budget - 3  # only a split multi-byte character may be lost
        if out:
            assert out[:-1] == docs[: len(out) - 1] and docs[len(out) - 1].startswith(out[-1])
    assert truncate_to_bytes(docs, None) == (docs, full)


def test_archive_readers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    whl = make_wheel(tmp_path / "x-1.0-py3-none-any.whl", {"x/a.txt": b"A", "x/b.tex.gz": b""})
    buf = io.BytesIO()
    assert archive.copy_member(whl, "x/a.txt", buf) == 1 and buf.getvalue() == b"A"
    with pytest.raises(archive.ArchiveError, match=r"x-1\.0-py3-none-any\.whl: no member 'x/zz'"):
        archive.copy_member(whl, "x/zz", io.BytesIO())
    sd = tmp_path / "y-1.0.tar.gz"
    make_targz(sd, {"./y-1.0/doc/a.tex": b"\\section{A}", "y-1.0/doc/b.txt": b"no"})
    assert archive.read_matching(sd, ("*.tex",)) == {"y-1.0/doc/a.tex": b"\\section{A}"}
    with pytest.raises(archive.ArchiveError, match="unknown archive type"):
        archive.archive_kind(tmp_path / "z.rar")


def test_pool_hidden_mean_with_padding_averages_every_position() -> None:
    """The released code of paper S: plain mean over the padded length (pads included), unlike ``mean``."""
    h = torch.tensor([[[2.0], [4.0], [0.5], [0.5]]])
    m = torch.tensor([[1, 1, 0, 0]])
    torch.testing.assert_close(pool_hidden(h, m, "mean_with_padding"), torch.tensor([[1.75]]))
    torch.testing.assert_close(pool_hidden(h, m, "mean"), torch.tensor([[3.0]]))


class _CharTok:
    """Tokenizer stand-in: a text of length L becomes L tokens of id L; pads (id 0) on the right."""

    padding_side = "right"

    def __call__(self, texts: list[str], **_: object) -> dict[str, list[list[int]]]:
        return {"input_ids": [[len(t)] * len(t) for t in texts]}

    def pad(self, batch: dict[str, list[list[int]]], **_: object) -> dict[str, torch.Tensor]:
        width = max(len(e) for e in batch["input_ids"])
        ids = torch.tensor([e + [0] * (width - len(e)) for e in batch["input_ids"]])
        return {"input_ids": ids, "attention_mask": (ids > 0).long()}


class _IdModel(torch.nn.Module):
    """Hidden state of a token = its id, so a pooled value shows how much padding was averaged in."""

    def forward(self, input_ids: torch.Tensor, **_: object) -> object:
        class _Out:
            hidden_states = (input_ids.float()[..., None],)

        return _Out()


def test_mean_with_padding_batches_in_input_order() -> None:
    from geomclaims.resources.embeddings import embed_with

    texts = ["aaaa", "b", "cc", "d"]
    kw = {"decoder": False, "layer": -1, "batch_size": 2, "progress": False}
    pad = embed_with(_CharTok(), _IdModel(), texts, pooling="mean_with_padding", **kw)[:, 0]
    # Input-order batches [aaaa, b] and [cc, d]: "b" is padded to 4 positions (1/4), "d" to 2 (1/2). Length-sorted
    # batches ([aaaa, cc], [b, d]) would leave "b" unpadded (1.0).
    assert pad.tolist() == pytest.approx([4.0, 0.25, 2.0, 0.5])
    mean = embed_with(_CharTok(), _IdModel(), texts, pooling="mean", **kw)[:, 0]
    assert mean.tolist() == pytest.approx([4.0, 1.0, 2.0, 1.0])
