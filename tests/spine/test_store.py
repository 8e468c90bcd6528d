"""The artifact cache: keyed by config, atomic, verified on read, recomputes corrupt entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geomclaims.store import META_KEY, Store

CALLS: list[int] = []


def experiment(config, seed):
    CALLS.append(seed)
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(3, 4)).astype(np.float32),
        "score": float(config["a"]) + seed,
        "nested": {"tag": "ok"},
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    CALLS.clear()
    return Store(tmp_path / "results")


def _get(store: Store, config: dict, seed: int = 0) -> dict:
    key = store.key("t/exp", config, seed, "v1")
    return store.get_or_compute(key, "t/exp", config, seed, experiment, progress=False)


def test_round_trip_and_cache_hit(store: Store):
    first = _get(store, {"a": 1})
    second = _get(store, {"a": 1})
    assert CALLS == [0]
    np.testing.assert_array_equal(first["x"], second["x"])
    assert first["x"].dtype == np.float32 and second["score"] == 1.0 and second["nested/tag"] == "ok"
    prov = second[META_KEY]
    assert (
        prov["seed"] == 0
        and prov["config"] == {"a": 1}
        and "torch" in prov["packages"]
        and prov["wall_s"] >= 0
    )


def test_key_depends_on_config_seed_and_code():
    k = Store.key("t/exp", {"a": 1, "b": [1, 2]}, 0, "v1")
    assert k == Store.key("t/exp", {"b": [1, 2], "a": 1}, 0, "v1")  # order-insensitive
    assert (
        len(
            {
                k,
                Store.key("t/exp", {"a": 2, "b": [1, 2]}, 0, "v1"),
                Store.key("t/exp", {"a": 1, "b": [1, 2]}, 1, "v1"),
                Store.key("t/exp", {"a": 1, "b": [1, 2]}, 0, "v2"),
            }
        )
        == 4
    )


def test_corrupt_entry_is_recomputed_with_a_warning(store: Store):
    _get(store, {"a": 1})
    path = store.path(store.key("t/exp", {"a": 1}, 0, "v1"))
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.warns(UserWarning, match="corrupt"):
        again = _get(store, {"a": 1})
    assert CALLS == [0, 0] and again["score"] == 1.0


def test_interrupted_write_without_checksum_is_not_trusted(store: Store):
    _get(store, {"a": 1})
    path = store.path(store.key("t/exp", {"a": 1}, 0, "v1"))
    path.with_suffix(".sha256").unlink()  # as if killed between data and checksum
    with pytest.warns(UserWarning, match="no checksum"):
        _get(store, {"a": 1})
    assert CALLS == [0, 0]


def test_no_temporary_files_left_behind(store: Store):
    _get(store, {"a": 1})
    assert not list(store.root.rglob("*.tmp"))


def test_disabled_store_computes_every_time(tmp_path: Path):
    CALLS.clear()
    store = Store(tmp_path, enabled=False)
    a = _get(store, {"a": 1})
    _get(store, {"a": 1})
    assert CALLS == [0, 0] and not list(tmp_path.rglob("*.npz")) and a["nested/tag"] == "ok"


def test_unsupported_values_are_rejected(store: Store):
    key = store.key("t/bad", {}, 0)
    with pytest.raises(ValueError, match="unsupported type"):
        store.get_or_compute(key, "t/bad", {}, 0, lambda c, s: {"obj": object()}, progress=False)
    with pytest.raises(ValueError, match="may not contain"):
        store.get_or_compute(key, "t/bad", {}, 0, lambda c, s: {"a/b": 1}, progress=False)
