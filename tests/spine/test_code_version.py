"""The study code version (the cache key's code field) covers the modules a study declares in CODE_DEPENDENCIES."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from geomclaims.plugin import get_spec


def test_a_declared_dependency_changes_the_code_version(
    fixture_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geomclaims import registry

    dep = tmp_path / "dep_mod_for_code_version.py"
    dep.write_text("SCALE = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("dep_mod_for_code_version", None)
    registry.load_study("fixture")
    study = importlib.import_module(get_spec("fixture").module)

    registry.study_code_version.cache_clear()
    without = registry.study_code_version("fixture")
    monkeypatch.setattr(study, "CODE_DEPENDENCIES", ("dep_mod_for_code_version",), raising=False)
    registry.study_code_version.cache_clear()
    with_dep = registry.study_code_version("fixture")
    dep.write_text("SCALE = 2.0  # a change that moves results\n")
    registry.study_code_version.cache_clear()
    changed = registry.study_code_version("fixture")
    registry.study_code_version.cache_clear()
    assert len({without, with_dep, changed}) == 3


def test_real_studies_declare_the_resource_code_they_use() -> None:
    from geomclaims import registry

    for study, expected in {
        # local: a user's model / text file reached through the same calls (geomclaims probe, issue 28)
        "stratified": {
            "geomclaims.resources.embeddings",
            "geomclaims.resources.corpora",
            "geomclaims.resources.local",
        },
        "signature": {"geomclaims.resources.lm_corpora", "geomclaims.resources.local"},
    }.items():
        registry.load_study(study)
        module = importlib.import_module(get_spec(study).module)
        assert expected <= set(module.CODE_DEPENDENCIES)
