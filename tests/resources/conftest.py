"""Fixtures for the resources tests: an isolated cache, fabricated carrier archives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from resources_helpers import FakeRegistry, build_tiny_source

from geomclaims.resources import fetcher as F
from geomclaims.resources.sources import Source


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``$GEOMCLAIMS_CACHE``; downloads forbidden unless a test fakes them."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(cache))
    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", "1")
    return cache


@pytest.fixture
def fake_registry(tmp_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRegistry]:
    """Fabricated packages served by a fake downloader (replaces pip/apt)."""
    reg = FakeRegistry(tmp_path / "registry")
    monkeypatch.setattr(F, "_download_package", reg.download)
    yield reg


@pytest.fixture
def tiny_source(fake_registry: FakeRegistry) -> Source:
    """A source over three fabricated archives exercising every assembly op."""
    return build_tiny_source(fake_registry)
