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
    monkeypatch.delenv("GEOMCLAIMS_RESULTS_CACHE", raising=False)  # CI's session-wide store must not leak in
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fixture_claims=TEST_MODULE)
    return pytester


# Every run but test_expected_verdicts_pass_and_xfail's (the Dask path end to end) runs its jobs in-process: the
# behaviour under test is the plugin's, and a local cluster's start-up cost ~5 s per run (unit-test time, issue 30).
SERIAL = ("-p", "no:cacheprovider", "--claims-executor", "serial", "--claims-results", "out/results.json")


def _results(p: pytest.Pytester) -> dict:
    return json.loads((p.path / "out" / "results.json").read_text())


def test_expected_verdicts_pass_and_xfail(project: pytest.Pytester):
    r = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-results", "out/results.json", "--claims-report", "out"
    )
    r.assert_outcomes(passed=4, xfailed=4)
    data = _results(project)
    verdicts = {c["id"]: c["verdict"] for c in data["claims"]}
    assert verdicts == {
        "F1[1.0]": "replicated",
        "F1[2.0]": "replicated",
        "F2[1.0]": "not_replicated",
        "F3[1.0]": "trivial",
        "F4": "untestable",
        "F5[1.0]": "replicated",
        "F6[1.0]": "verified",
        "F7[1.0]": "untestable",
    }
    assert data["schema"] == 2 and set(data["code_versions"]) == {"fixture"}
    assert {"cpu", "torch_cpu_capability", "torch_threads"} <= set(data["machine"])
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
        "stability",
        "kind",
        "same_measurement_as",
        "preconditions",
    }
    assert set(entry["null"]) >= {"mwu_p", "threshold"}
    f7 = next(c for c in data["claims"] if c["id"] == "F7[1.0]")
    assert f7["measured"]["n"] == 5 and f7["preconditions"][0]["met"] is False
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
    r = project.runpytest_subprocess(*SERIAL)
    r.assert_outcomes(passed=4, xfailed=3, failed=1)
    r.stdout.fnmatch_lines(["FAILED test_fixture_claims.py::F2?1.0? *XPASS?strict?*"])


def test_a_different_non_replicated_verdict_fails(project: pytest.Pytester):
    """Expected trivial, got not_replicated: the strict xfail must not swallow a verdict change."""
    yaml_path = project.path / "claims" / "fixture.yaml"
    text = yaml_path.read_text().replace('expect: {op: "<", value: 10}', 'expect: {op: "<", value: -10}')
    yaml_path.write_text(text)
    r = project.runpytest_subprocess(*SERIAL)
    r.assert_outcomes(passed=4, xfailed=3, failed=1)
    r.stdout.fnmatch_lines(["*UnexpectedVerdict*F3*not_replicated*"])


def test_nan_evidence_errors(project: pytest.Pytester):
    yaml_path = project.path / "claims" / "fixture.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("metric: untestable", "metric: nan"))
    r = project.runpytest_subprocess(*SERIAL)
    r.assert_outcomes(passed=4, xfailed=3, failed=1)
    r.stdout.fnmatch_lines(["*NonFiniteEvidence*"])


def test_smoke_profile_records_but_does_not_judge(project: pytest.Pytester):
    r = project.runpytest_subprocess(*SERIAL, "--claims-profile", "smoke")
    r.assert_outcomes(passed=8)
    assert _results(project)["profile"] == "smoke"


def test_gate_option_fails_the_session_on_a_flip(project: pytest.Pytester):
    r = project.runpytest_subprocess(*SERIAL)
    r.assert_outcomes(passed=4, xfailed=4)
    baseline = json.loads((project.path / "out" / "results.json").read_text())
    (project.path / "baseline.json").write_text(json.dumps(baseline))
    ok = project.runpytest_subprocess(*SERIAL, "--claims-baseline", "baseline.json")
    assert ok.ret == 0
    ok.stdout.fnmatch_lines(["*gate OK*"])
    for c in baseline["claims"]:
        if c["id"] == "F1[1.0]":
            c["verdict"] = "trivial"
    (project.path / "baseline.json").write_text(json.dumps(baseline))
    bad = project.runpytest_subprocess(*SERIAL, "--claims-baseline", "baseline.json")
    assert bad.ret == 1
    bad.stdout.fnmatch_lines(["*gate FAILED*", "*F1?1.0?*verdict*trivial*replicated*"])


def test_tolerated_difference_follows_the_expectation_with_a_warning(project: pytest.Pytester):
    """Expected replicated, got inconclusive (the CI straddles 1.0): the item passes and a warning is listed."""
    yaml_path = project.path / "claims" / "fixture.yaml"
    text = yaml_path.read_text().replace('expect: {op: ">", value: 0.5}', 'expect: {op: ">", value: 1.0}', 1)
    yaml_path.write_text(text)
    r = project.runpytest_subprocess(*SERIAL)
    verdicts = {c["id"]: c["verdict"] for c in _results(project)["claims"]}
    assert verdicts["F1[1.0]"] == "inconclusive" and verdicts["F1[2.0]"] == "replicated"
    r.assert_outcomes(passed=4, xfailed=4)
    r.stdout.fnmatch_lines(["*warning: tolerated verdict difference F1?1.0?*inconclusive*"])


def test_gate_fails_on_a_baseline_case_missing_from_a_complete_paper(project: pytest.Pytester):
    first = project.runpytest_subprocess(*SERIAL)
    assert first.ret == 0
    baseline = json.loads((project.path / "out" / "results.json").read_text())
    ghost = dict(baseline["claims"][0], id="F1[3.0]")
    baseline["claims"].append(ghost)
    (project.path / "baseline.json").write_text(json.dumps(baseline))
    args = (*SERIAL, "--claims-baseline", "baseline.json")
    bad = project.runpytest_subprocess(*args)
    assert bad.ret == 1
    bad.stdout.fnmatch_lines(["*gate FAILED*", "*F1?3.0?*missing-in-run*"])
    subset = project.runpytest_subprocess(*args, "-k", "F2")  # a -k subset: only the cases that ran are gated
    assert subset.ret == 0, subset.stdout.str()


def test_items_are_named_by_case_id_in_summaries_and_junit(project: pytest.Pytester):
    """Item names were ``test_claim[F2[1.0]]``; they are the case ids now, in ``-r`` lines and JUnit XML alike."""
    import xml.etree.ElementTree as ET

    r = project.runpytest_subprocess(*SERIAL, "-rxX", "--junitxml", "out/junit.xml")
    r.assert_outcomes(passed=4, xfailed=4)
    r.stdout.fnmatch_lines(["XFAIL test_fixture_claims.py::F2?1.0? - expected not_replicated*"])
    names = {tc.get("name") for tc in ET.parse(project.path / "out" / "junit.xml").iter("testcase")}
    assert names == {c["id"] for c in _results(project)["claims"]}
    old_id = project.runpytest_subprocess(*SERIAL, "test_fixture_claims.py::test_claim[F4]")
    old_id.assert_outcomes(xfailed=1)  # the parametrized node id still selects an item


def test_markers_by_paper_and_kind(project: pytest.Pytester):
    kinds = project.runpytest_subprocess(*SERIAL, "--strict-markers", "-m", "kind_extension or kind_verified")
    kinds.assert_outcomes(passed=2, deselected=6)  # F5 (extension) and F6 (verified)
    paper = project.runpytest_subprocess(*SERIAL, "--strict-markers", "-m", "fixture and not kind_paper")
    paper.assert_outcomes(passed=2, deselected=6)
    listed = project.runpytest_subprocess("--markers")
    listed.stdout.fnmatch_lines(
        ["*kind_extension: claims of kind 'extension'*", "*fixture: claims of paper fixture_paper*"]
    )


def test_force_regen_rewrites_the_baseline_and_fails_the_session(project: pytest.Pytester):
    args = (*SERIAL, "--claims-baseline", "baseline.json")
    regen = project.runpytest_subprocess(*args, "--claims-force-regen")
    assert regen.ret == pytest.ExitCode.TESTS_FAILED  # never a silent pass
    regen.stdout.fnmatch_lines(["*baseline regenerated from*baseline.json*--claims-force-regen*"])
    assert "REGRESSION GATE FAILED" not in regen.stdout.str()
    baseline = json.loads((project.path / "baseline.json").read_text())
    assert {c["id"] for c in baseline["claims"]} == {c["id"] for c in _results(project)["claims"]}
    assert (project.path / "REPORT.md").exists()  # gate --regen's code path: results + report
    gated = project.runpytest_subprocess(*args)
    assert gated.ret == 0, gated.stdout.str()
    gated.stdout.fnmatch_lines(["*gate OK*"])
    before = (project.path / "baseline.json").read_text()
    subset = project.runpytest_subprocess(*args, "--claims-force-regen", "-k", "F2")
    assert subset.ret == pytest.ExitCode.TESTS_FAILED
    subset.stdout.fnmatch_lines(["*--claims-force-regen refused: this run lacks 7 case(s)*"])
    assert (project.path / "baseline.json").read_text() == before
    alone = project.runpytest_subprocess(*SERIAL, "--claims-force-regen")
    assert alone.ret == pytest.ExitCode.USAGE_ERROR
