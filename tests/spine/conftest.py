from __future__ import annotations

import sys
from pathlib import Path

import pytest

FIXTURE_ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "spine"


@pytest.fixture
def fixture_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The fixture study registered, its claims dir as the project's, and a private cache."""
    from geomclaims.plugin import REGISTERED, StudySpec

    monkeypatch.syspath_prepend(str(FIXTURE_ROOT))
    monkeypatch.setenv("GEOMCLAIMS_ROOT", str(FIXTURE_ROOT))
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    # CI exports GEOMCLAIMS_RESULTS_CACHE for the whole pytest session; it outranks GEOMCLAIMS_CACHE, so without
    # this a judged fixture case stored by one test is resumed by the next (whose patched evidence never runs).
    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "results"))
    spec = StudySpec(
        name="fixture", module="fixture_study", paper_id="fixture_paper", source="tests/spine/conftest"
    )
    monkeypatch.setitem(REGISTERED, "fixture", spec)
    sys.modules.pop("fixture_study", None)
    return FIXTURE_ROOT
