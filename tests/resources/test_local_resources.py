"""A user's model folder and text file reach the study code through the registry calls (resources/local.py)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from geomclaims.resources import local, models

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spine"))
import probe_models as pm


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.ENV, "")  # registrations made during the test are undone with it


def _corpus(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    name = "textfile-" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    local.register_corpus(name, path, hashlib.sha256(path.read_bytes()).hexdigest())
    return name


def test_parse_lines_sources_blank_lines_and_encoding() -> None:
    texts, sources = local.parse_lines(b"a b\n\nnews\tc d\n\t e \n  \n", "f.txt")
    assert texts == ["a b", "c d", "e"]
    assert sources == [local.DEFAULT_SOURCE, "news", local.DEFAULT_SOURCE]
    with pytest.raises(ValueError, match=r"f\.txt: not UTF-8"):
        local.parse_lines(b"\xff\xfe", "f.txt")


def test_registration_reaches_new_lookups_and_names_the_variable() -> None:
    with pytest.raises(KeyError, match=local.ENV):
        local.local_model("local-0123")
    with pytest.raises(ValueError, match="starts with 'local-'"):
        local.register_model("minilm-l6", {"dir": "d", "tokenizer": "d", "sha256": "x", "decoder": False})
    local.register_model("local-ab", {"dir": "/m", "tokenizer": "/t", "sha256": "f" * 64, "decoder": True})
    assert models.model_path("local-ab") == Path("/m")
    assert models.model_sha("local-ab") == "f" * 64
    assert models.is_decoder("local-ab") is True
    assert models.model_sha("minilm-l6") != "f" * 64  # registry names are untouched


def test_text_pool_caps_each_source_and_checks_the_file(tmp_path: Path) -> None:
    lines = [f"a\tline {i}" for i in range(10)] + [f"b\tother {i}" for i in range(3)]
    name = _corpus(tmp_path, lines)
    texts, sources = local.text_pool(name, 4, seed=0)
    assert sources == ["a"] * 4 + ["b"] * 3
    assert texts[4:] == ["other 0", "other 1", "other 2"]
    assert texts[:4] != [f"line {i}" for i in range(4)]  # drawn, not the first rows
    assert local.text_pool(name, 4, seed=0) == (texts, sources)
    (tmp_path / "texts.txt").write_text("changed\n")
    with pytest.raises(ValueError, match="differs from"):
        local.read_texts(name)


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_a_saved_model_embeds_a_text_file_through_the_study_code(
    tmp_path: Path, kind: str, monkeypatch
) -> None:
    from geomclaims.studies.signature import lm
    from geomclaims.studies.stratified import data

    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "store"))
    folder = (pm.save_encoder if kind == "encoder" else pm.save_decoder)(tmp_path / kind)
    name = f"local-{kind}"
    local.register_model(
        name, {"dir": str(folder), "tokenizer": str(folder), "sha256": kind * 8, "decoder": kind == "decoder"}
    )
    corpus = _corpus(tmp_path, pm.sample_texts(30, n_sources=3))
    c = data.text_file_corpus(corpus, name, 6, data_seed=0, max_length=32)
    assert c.X.shape == (18, 16) and np.isfinite(c.X).all()
    assert c.source_names == ("src0", "src1", "src2")
    assert np.array_equal(c.label, c.source)
    again = data.load_pool(
        {
            "data": corpus,
            "model": name,
            "n_pool_per_source": 6,
            "n_per_source": 3,
            "data_seed": 0,
            "max_length": 32,
        }
    )
    assert np.array_equal(again.X, c.X)  # the embedding cache, keyed by the model's sha256
    docs, n_bytes = lm.load_corpus(corpus, 50)
    assert n_bytes == 50 and docs[0] == pm.sample_texts(1)[0][: len(docs[0])]
