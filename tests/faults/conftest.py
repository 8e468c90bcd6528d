"""Fault-injection tests (issue 15): a temporary project with its own claims files, cache and reports.

``project`` registers the spine's fixture study (``fixture/gaussian``, ``fixture/broken``) and the faults study
(``faults/needs_resource``, ``faults/boom``, ``faults/cached``), points GEOMCLAIMS_ROOT at a temporary checkout
with ``claims/`` and ``reports/``, and gives it a private, empty cache.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from faults_helpers import FAULTS_FIXTURES, SPINE_FIXTURES


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from geomclaims.plugin import REGISTERED, StudySpec

    root = tmp_path / "project"
    (root / "claims").mkdir(parents=True)
    (root / "reports").mkdir()
    shutil.copy(SPINE_FIXTURES / "claims" / "fixture.yaml", root / "claims" / "fixture.yaml")
    monkeypatch.setenv("GEOMCLAIMS_ROOT", str(root))
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    # .ci/run points the results store elsewhere; these tests own their cache, results store included.
    monkeypatch.delenv("GEOMCLAIMS_RESULTS_CACHE", raising=False)
    monkeypatch.delenv("GEOMCLAIMS_OFFLINE", raising=False)
    monkeypatch.syspath_prepend(str(SPINE_FIXTURES))
    monkeypatch.syspath_prepend(str(FAULTS_FIXTURES))
    for study, module, paper in (
        ("fixture", "fixture_study", "fixture_paper"),
        ("faults", "faults_study", "faults_paper"),
    ):
        monkeypatch.setitem(REGISTERED, study, StudySpec(name=study, module=module, paper_id=paper))
    for module in ("fixture_study", "faults_study"):
        sys.modules.pop(module, None)
    return root
