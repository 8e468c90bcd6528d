"""Chunked embedding cache: same result as one piece, resumes after a crash, shares a pool between processes.

No real model: ``_compute`` and ``model_sha`` are replaced by deterministic stand-ins, so these tests check the
chunking and locking logic alone (the real-model equality of chunked and whole-list batches is in
test_resources_real.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from geomclaims.resources import embeddings as E


def _fake_vectors(texts: list[str]) -> np.ndarray:
    return np.asarray([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """Results store in tmp_path, 4 texts per chunk, and a record of every chunk actually computed."""
    computed: list[list[str]] = []

    def fake_compute(model_name, texts, layer, pooling, max_length, batch_size, device, progress):
        computed.append(list(texts))
        return _fake_vectors(list(texts))

    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "results"))
    monkeypatch.setattr(E, "model_sha", lambda name: "0" * 64)
    monkeypatch.setattr(E, "_compute", fake_compute)
    monkeypatch.setattr(E, "CHUNK_TEXTS", 4)
    return computed


TEXTS = [f"text number {i}" + "!" * i for i in range(10)]


def test_chunk_size_is_a_multiple_of_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "CHUNK_TEXTS", 128)
    assert E.chunk_size(32) == 128 and E.chunk_size(1) == 128
    assert E.chunk_size(48) == 144 and E.chunk_size(200) == 200


def test_chunks_concatenate_in_input_order_and_cache(fake_model: list[list[str]]) -> None:
    out = E.embed("m", TEXTS, batch_size=2, progress=False)
    np.testing.assert_array_equal(out, _fake_vectors(TEXTS))
    assert fake_model == [TEXTS[0:4], TEXTS[4:8], TEXTS[8:10]]  # consecutive chunks of 4 (a multiple of 2)
    again = E.embed("m", TEXTS, batch_size=2, progress=False)
    np.testing.assert_array_equal(again, out)
    assert len(fake_model) == 3  # all three chunks served from the cache


def test_interrupted_run_resumes_at_the_missing_chunk(
    fake_model: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = E._atomic_save
    saves = {"n": 0}

    def crash_on_third(path: Path, arr: np.ndarray) -> None:
        saves["n"] += 1
        if saves["n"] == 3:
            raise KeyboardInterrupt
        real_save(path, arr)

    monkeypatch.setattr(E, "_atomic_save", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        E.embed("m", TEXTS, batch_size=2, progress=False)
    monkeypatch.setattr(E, "_atomic_save", real_save)
    fake_model.clear()
    out = E.embed("m", TEXTS, batch_size=2, progress=False)
    assert fake_model == [TEXTS[8:10]]  # only the chunk that never reached the disk
    np.testing.assert_array_equal(out, _fake_vectors(TEXTS))
    assert not list((E.results_root() / "embeddings").glob(".*.tmp"))  # no partial file left behind


def test_a_chunk_held_by_another_process_is_skipped_then_read(fake_model: list[list[str]]) -> None:
    first = E.embedding_cache_path("m", TEXTS[0:4], -1, "mean", 128, 2)
    done = threading.Event()
    result: dict[str, np.ndarray] = {}
    # Another "process" (a separate open file description: flock conflicts even within one process) holds chunk 0.
    with E._compute_lock(first) as held:
        assert held
        worker = threading.Thread(
            target=lambda: (
                result.setdefault("X", E.embed("m", TEXTS, batch_size=2, progress=False)),
                done.set(),
            )
        )
        worker.start()
        deadline = time.monotonic() + 10
        while len(fake_model) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake_model == [TEXTS[4:8], TEXTS[8:10]]  # it took the free chunks instead of waiting
        assert not done.is_set()  # and now waits for chunk 0
        other = _fake_vectors(TEXTS[0:4]) + 1000  # what the other process writes
        E._atomic_save(first, other)
    worker.join(timeout=10)
    assert done.is_set()
    assert len(fake_model) == 2  # chunk 0 was read, not recomputed
    np.testing.assert_array_equal(result["X"][:4], other)
    np.testing.assert_array_equal(result["X"][4:], _fake_vectors(TEXTS[4:]))


def test_non_finite_or_misshapen_chunk_files_are_recomputed(fake_model: list[list[str]]) -> None:
    E.embed("m", TEXTS, batch_size=2, progress=False)
    path = E.embedding_cache_path("m", TEXTS[4:8], -1, "mean", 128, 2)
    bad = _fake_vectors(TEXTS[4:8])
    bad[1, 0] = np.nan
    E._atomic_save(path, bad)
    E._atomic_save(E.embedding_cache_path("m", TEXTS[8:10], -1, "mean", 128, 2), _fake_vectors(TEXTS[:3]))
    fake_model.clear()
    out = E.embed("m", TEXTS, batch_size=2, progress=False)
    assert fake_model == [TEXTS[4:8], TEXTS[8:10]]
    assert np.isfinite(out).all()


def test_empty_and_bad_batch_size_are_clear_errors(fake_model: list[list[str]]) -> None:
    with pytest.raises(ValueError, match="empty"):
        E.embed("m", [], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        E.embed("m", TEXTS, batch_size=0, progress=False)
