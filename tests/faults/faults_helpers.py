"""Helpers shared by the fault-injection tests: claim files in tmp dirs and the fake studies' locations."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SPINE_FIXTURES = FIXTURES / "spine"
FAULTS_FIXTURES = FIXTURES / "faults"

# A valid claim on the fixture study; tests copy it and change one thing.
BASE_CLAIM: dict[str, Any] = {
    "id": "A1",
    "section": "1",
    "statement": "The mean is positive.",
    "experiment": "fixture/gaussian",
    "metric": "mean",
    "expect": {"op": ">", "value": 0.5},
    "null": {"name": "zero_mean", "rule": "above_quantile", "q": 0.95},
    "tolerance": {"atol": 0.05},
    "expected_verdict": {"ci": "replicated"},
}


def claim(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE_CLAIM)
    out.update(changes)
    return out


def write_claims(directory: Path, name: str, paper_id: str, claims: list[dict[str, Any]]) -> Path:
    path = directory / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"paper": {"id": paper_id, "title": paper_id, "source": "none"}, "version": 1, "claims": claims}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# The conftest a pytester subprocess needs to see both fake studies.
PYTEST_CONFTEST = f"""
import sys
sys.path.insert(0, {str(SPINE_FIXTURES)!r})
sys.path.insert(0, {str(FAULTS_FIXTURES)!r})
from geomclaims.registry import register_study
register_study("fixture", "fixture_study", "fixture_paper")
register_study("faults", "faults_study", "faults_paper")
"""


def one_line_error(err: str, *needles: str) -> None:
    """``err`` holds exactly one ``geomclaims: error:`` line, no traceback, and that line names every needle."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("geomclaims: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
