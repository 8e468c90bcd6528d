"""The environment local Dask workers start with: own inductor cache, glibc's own trim threshold."""

from __future__ import annotations

import dask
import pytest

from geomclaims.worker_env import keep_glibc_trim_default, private_inductor_cache

KEY = "distributed.nanny.pre-spawn-environ"


def test_each_cluster_gets_a_fresh_inductor_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    with dask.config.set({KEY: {"MALLOC_TRIM_THRESHOLD_": 65536}}):
        private_inductor_cache()
        first = dask.config.get(KEY)["TORCHINDUCTOR_CACHE_DIR"]
        private_inductor_cache()
        second = dask.config.get(KEY)["TORCHINDUCTOR_CACHE_DIR"]
        assert first != second and "geomclaims-inductor-" in first
        keep_glibc_trim_default()
        env = dask.config.get(KEY)
        assert "MALLOC_TRIM_THRESHOLD_" not in env and env["TORCHINDUCTOR_CACHE_DIR"] == second


def test_a_cache_dir_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/mine")
    with dask.config.set({KEY: {}}):
        private_inductor_cache()
        assert "TORCHINDUCTOR_CACHE_DIR" not in dask.config.get(KEY)
