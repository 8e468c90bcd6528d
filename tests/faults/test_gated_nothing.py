"""Item 6: a gated run, or a CLI run, that judged nothing (or skipped cases for missing resources) must fail.

Before the fix, with GEOMCLAIMS_OFFLINE=1 and an empty cache pytest reported "N skipped", rc 0, and the gate never
ran; `geomclaims run` exited 0 with 0 entries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults_helpers import PYTEST_CONFTEST, claim, write_claims

from geomclaims.cli import main

pytest_plugins = ["pytester"]

TEST_MODULE = """
import pytest
pytestmark = pytest.mark.claims("faults_paper")

def test_claim(claim_case, check_claim):
    check_claim(claim_case)
"""

OFFLINE = claim(id="R1", experiment="faults/needs_resource", params={"model": ["a", "b"]})
JUDGED = claim(id="J1")


def _entry(case_id: str, claim_id: str, verdict: str = "replicated") -> dict:
    return {
        "id": case_id,
        "claim_id": claim_id,
        "paper": "faults_paper",
        "verdict": verdict,
        "measured": {"value": 1.0, "ci": [1.0, 1.0], "n": 5, "samples": [1.0] * 5},
        "tolerance": {"atol": 0.05},
    }


@pytest.fixture
def offline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    monkeypatch.setenv("GEOMCLAIMS_ROOT", str(pytester.path))
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", "1")
    pytester.makeconftest(PYTEST_CONFTEST)
    pytester.makepyfile(test_faults_claims=TEST_MODULE)
    return pytester


def _baseline(p: pytest.Pytester, entries: list[dict]) -> Path:
    path = p.path / "baseline.json"
    path.write_text(json.dumps({"schema": 2, "profile": "ci", "claims": entries}))
    return path


def test_all_skipped_gated_run_fails(offline: pytest.Pytester):
    write_claims(offline.path / "claims", "faults", "faults_paper", [OFFLINE])
    _baseline(offline, [_entry("R1[a]", "R1"), _entry("R1[b]", "R1")])
    r = offline.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-baseline", "baseline.json", "--claims-results", "out/results.json"
    )
    r.assert_outcomes(skipped=2)
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    r.stdout.fnmatch_lines(
        ["*gate FAILED*no claim case was judged*", "*gate FAILED*2 claim case(s) skipped*R1?a?*R1?b?*"]
    )


def test_partly_skipped_gated_run_fails_naming_the_skipped_cases(offline: pytest.Pytester):
    write_claims(offline.path / "claims", "faults", "faults_paper", [JUDGED, OFFLINE])
    r = offline.runpytest_subprocess("-p", "no:cacheprovider", "--claims-results", "first.json")
    r.assert_outcomes(passed=1, skipped=2)
    assert r.ret == pytest.ExitCode.OK  # without a baseline a skip stays a skip
    judged = json.loads((offline.path / "first.json").read_text())["claims"]
    _baseline(offline, [*judged, _entry("R1[a]", "R1"), _entry("R1[b]", "R1")])
    r = offline.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-baseline", "baseline.json", "--claims-results", "out/results.json"
    )
    r.assert_outcomes(passed=1, skipped=2)
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    r.stdout.fnmatch_lines(["*gate FAILED*2 claim case(s) skipped*resources are unavailable*R1?a?*R1?b?*"])


def test_gated_run_that_judges_everything_still_passes(offline: pytest.Pytester):
    """Control: the new check must not fail a complete gated run (jobs in-process: no resource is skipped here)."""
    write_claims(offline.path / "claims", "faults", "faults_paper", [JUDGED])
    r = offline.runpytest_subprocess(
        "-p", "no:cacheprovider", "--claims-executor", "serial", "--claims-results", "first.json"
    )
    (offline.path / "baseline.json").write_text((offline.path / "first.json").read_text())
    r = offline.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--claims-executor",
        "serial",
        "--claims-baseline",
        "baseline.json",
        "--claims-results",
        "out/results.json",
    )
    r.assert_outcomes(passed=1)
    assert r.ret == pytest.ExitCode.OK
    r.stdout.fnmatch_lines(["*gate OK*1 claim cases*"])


def test_gated_run_that_collects_no_claim_fails(offline: pytest.Pytester):
    write_claims(offline.path / "claims", "faults", "faults_paper", [JUDGED])
    _baseline(offline, [_entry("J1", "J1")])
    offline.makepyfile(test_other="def test_nothing_to_do_with_claims():\n    pass\n")
    r = offline.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "test_other.py",
        "--claims-baseline",
        "baseline.json",
        "--claims-results",
        "o.json",
    )
    r.assert_outcomes(passed=1)
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    r.stdout.fnmatch_lines(["*gate FAILED*no claim case was judged*"])


def test_cli_run_that_judged_nothing_fails(project: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", "1")
    (project / "claims" / "fixture.yaml").unlink()
    write_claims(project / "claims", "faults", "faults_paper", [OFFLINE])
    out = project / "reports" / "ci" / "latest"
    assert main(["run", "--profile", "ci", "--device", "cpu", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert (
        "judged nothing" in err
        and "2 claim case(s) skipped" in err
        and "geomclaims fetch --profile ci" in err
    )
    assert not (out / "results.json").exists()


def test_cli_run_with_skipped_cases_fails_but_keeps_the_judged_ones(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", "1")
    (project / "claims" / "fixture.yaml").unlink()
    write_claims(project / "claims", "faults", "faults_paper", [JUDGED, OFFLINE])
    out = project / "reports" / "ci" / "latest"
    assert main(["run", "--profile", "ci", "--device", "cpu", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "2 claim case(s) skipped" in err and "R1[a]" in err and "R1[b]" in err
    assert [c["id"] for c in json.loads((out / "results.json").read_text())["claims"]] == ["J1"]
