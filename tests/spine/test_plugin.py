"""The pytest plugin end to end on the fixture study: outcomes, strict xfail, results.json, report, gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIXTURE_ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "spine"

CONFTEST = f"""
import sys
sys.path.insert(0, {str(FIXTURE_ROOT)!r})
from geomclaims.registry import register_study
register_study("fixture", "fixture_study", "fixture_paper")
"""

TEST_MODULE = """
import pytest
pytestmark = pytest.mark.claims("fixture_paper")

def test_claim(claim_case, check_claim):
    check_claim(claim_case)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    claims = pytester.path / "claims"
    claims.mkdir()
    (claims / "fixture.yaml").write_text((FIXTURE_ROOT / "claims" / "fixture.yaml").read_text())
    monkeypatch.setenv("GEOMCLAIMS_ROOT", str(pytester.path))
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fixture_claims=TEST_MODULE)
    return pytester


def _results(p: pytest.Pytester) -> dict:
    return json.loads((p.path / "out" / "results.json").read_text())


def test_expected_verdicts_pass_and_xfail(project: pytest.Pytester):
    r = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-results", "out/results.json", "--claims-report", "out"
    )
    r.assert_outcomes(passed=2, xfailed=3)
    data = _results(project)
    verdicts = {c["id"]: c["verdict"] for c in data["claims"]}
    assert verdicts == {
        "F1[1.0]": "replicated",
        "F1[2.0]": "replicated",
        "F2[1.0]": "not_replicated",
        "F3[1.0]": "trivial",
        "F4": "untestable",
    }
    entry = next(c for c in data["claims"] if c["id"] == "F1[2.0]")
    assert set(entry) >= {
        "id",
        "paper",
        "params",
        "verdict",
        "expected_verdict",
        "measured",
        "paper_condition_met",
        "null",
        "null_condition_met",
        "wall_s",
    }
    assert set(entry["measured"]) == {"value", "ci", "se", "n", "samples"} and entry["measured"]["n"] == 5
    assert set(entry["null"]) >= {"name", "median", "q025", "q975", "samples"}
    assert data["profile"] == "ci" and data["git_sha"]
    assert (project.path / "out" / "REPORT.md").exists()
    r.stdout.fnmatch_lines(["*geomclaims verdicts (ci profile)*"])


def test_unexpected_pass_fails_the_run(project: pytest.Pytester):
    """Strict xfail: a claim expected not to replicate that replicates is a failure, not a silent pass."""
    yaml_path = project.path / "claims" / "fixture.yaml"
    text = yaml_path.read_text().replace('expect: {op: ">", value: 5}', 'expect: {op: ">", value: 0.5}')
    yaml_path.write_text(text)
    r = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-results", "out/results.json")
    r.assert_outcomes(passed=2, xfailed=2, failed=1)
    r.stdout.fnmatch_lines(["FAILED*test_claim?F2?1.0??*XPASS?strict?*"])


def test_a_different_non_replicated_verdict_fails(project: pytest.Pytester):
    """Expected trivial, got not_replicated: the strict xfail must not swallow a verdict change."""
    yaml_path = project.path / "claims" / "fixture.yaml"
    text = yaml_path.read_text().replace('expect: {op: "<", value: 10}', 'expect: {op: "<", value: -10}')
    yaml_path.write_text(text)
    r = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-results", "out/results.json")
    r.assert_outcomes(passed=2, xfailed=2, failed=1)
    r.stdout.fnmatch_lines(["*UnexpectedVerdict*F3*not_replicated*"])


def test_nan_evidence_errors(project: pytest.Pytester):
    yaml_path = project.path / "claims" / "fixture.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("metric: untestable", "metric: nan"))
    r = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-results", "out/results.json")
    r.assert_outcomes(passed=2, xfailed=2, failed=1)
    r.stdout.fnmatch_lines(["*NonFiniteEvidence*"])


def test_smoke_profile_records_but_does_not_judge(project: pytest.Pytester):
    r = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-profile", "smoke", "--claims-results", "out/results.json"
    )
    r.assert_outcomes(passed=5)
    assert _results(project)["profile"] == "smoke"


def test_gate_option_fails_the_session_on_a_flip(project: pytest.Pytester):
    r = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-results", "out/results.json")
    r.assert_outcomes(passed=2, xfailed=3)
    baseline = json.loads((project.path / "out" / "results.json").read_text())
    (project.path / "baseline.json").write_text(json.dumps(baseline))
    ok = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-results", "out/results.json", "--claims-baseline", "baseline.json"
    )
    assert ok.ret == 0
    ok.stdout.fnmatch_lines(["*gate OK*"])
    for c in baseline["claims"]:
        if c["id"] == "F1[1.0]":
            c["verdict"] = "trivial"
    (project.path / "baseline.json").write_text(json.dumps(baseline))
    bad = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-results", "out/results.json", "--claims-baseline", "baseline.json"
    )
    assert bad.ret == 1
    bad.stdout.fnmatch_lines(["*gate FAILED*", "*F1?1.0?*verdict*trivial*replicated*"])
