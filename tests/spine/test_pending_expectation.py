"""A `pending` expectation (issue 25 item 7): a case that has not run under a profile yet expects no verdict. It
loads (full profile only, with a reason), its run records "pending", exit codes and reports never count it as
expected or unexpected, and the pytest item passes and is listed, so the expectation gets set from that run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geomclaims.claims import PENDING, Verdict, differs_from_expected, load_claims
from geomclaims.cli import main
from geomclaims.cli_common import Exit
from geomclaims.report import case_lines

pytest_plugins = ["pytester"]

PENDING_F1 = (
    '    expected_by_case: {"2.0": {full: pending}}\n'
    '    expected_reason: "the mu = 2 case has not run in full yet"\n'
)


def _claims_with_pending(fixture_root: Path, tmp_path: Path) -> Path:
    """The fixture's claims with F1[2.0]'s full expectation pending."""
    claims = tmp_path / "claims"
    claims.mkdir()
    text = (fixture_root / "claims" / "fixture.yaml").read_text()
    old = '    paper_value: "> 0.5"\n    expected_verdict: {ci: replicated}\n'
    assert old in text
    (claims / "fixture.yaml").write_text(text.replace(old, old + PENDING_F1, 1))
    return claims


def test_pending_loads_per_case_and_has_no_verdict(fixture_root: Path, tmp_path: Path):
    claims = _claims_with_pending(fixture_root, tmp_path)
    f1 = load_claims(claims / "fixture.yaml").get("F1")
    one, two = f1.cases()
    assert (one.is_pending("full"), two.is_pending("full"), two.is_pending("ci")) == (False, True, False)
    assert two.expectation("full") == PENDING and one.expectation("full") == "replicated"
    assert two.expected("ci") is Verdict.REPLICATED
    with pytest.raises(ValueError, match=r"F1\[2\.0\].*pending"):
        two.expected("full")  # no verdict to compare with: callers must ask is_pending first


def test_a_claim_level_pending_yields_to_a_per_case_verdict(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "paper: {id: p, title: t, source: s}\nversion: 1\nclaims:\n  - id: X1\n    section: '1'\n"
        "    statement: s\n    experiment: fixture/gaussian\n    metric: mean\n    params: {mu: [1.0, 2.0]}\n"
        "    expect: {op: '>', value: 0.5}\n    null: {name: none, reason: r}\n    tolerance: {atol: 0.05}\n"
        "    expected_verdict: {ci: replicated, full: pending}\n"
        "    expected_by_case: {'1.0': {full: trivial}}\n    expected_reason: 'the 2.0 case has not run in full'\n"
    )
    one, two = load_claims(path).get("X1").cases()
    assert one.expectation("full") == "trivial" and two.expectation("full") == PENDING


def test_differs_from_expected_never_counts_pending_or_missing():
    assert differs_from_expected({"verdict": "trivial", "expected_verdict": "replicated"})
    assert not differs_from_expected({"verdict": "trivial", "expected_verdict": "trivial"})
    assert not differs_from_expected({"verdict": "trivial", "expected_verdict": PENDING})
    assert not differs_from_expected({"verdict": "trivial"})  # a probe's entries carry no expectation


def test_case_lines_count_pending_apart():
    entries = [
        {"paper": "p", "verdict": "replicated", "expected_verdict": "replicated"},
        {"paper": "p", "verdict": "trivial", "expected_verdict": "replicated"},
        {"paper": "p", "verdict": "replicated", "expected_verdict": PENDING},
    ]
    (line,) = case_lines(entries)
    # the pending case is neither "as expected" nor in the denominator
    assert "1/2 as expected" in line and "1 with the expectation pending" in line, line


def test_a_full_run_with_a_pending_case_exits_0_and_records_pending(
    fixture_root: Path, tmp_path: Path, capsys
):
    claims = _claims_with_pending(fixture_root, tmp_path)
    argv = ["--claims-dir", str(claims), "run", "--device", "cpu", "--executor", "serial"]
    code = main([*argv, "--profile", "full", "--claim", "F1", "--out", str(tmp_path / "out"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == Exit.OK and data["unexpected"] == []
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    by_id = {e["id"]: e for e in results["claims"]}
    assert (
        by_id["F1[2.0]"]["expected_verdict"] == PENDING
        and by_id["F1[1.0]"]["expected_verdict"] == "replicated"
    )
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert "1/1 as expected; 1 with the expectation pending" in report
    assert "expectation pending" in report  # the case's own line says so too


def test_the_pytest_item_of_a_pending_case_passes_and_is_listed(
    fixture_root: Path, tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    """In-process, so the fixture study registered by ``fixture_root`` is the nested session's too."""
    project = tmp_path / "project"
    project.mkdir()
    _claims_with_pending(fixture_root, project)
    monkeypatch.setenv("GEOMCLAIMS_ROOT", str(project))
    pytester.makepyfile(
        test_pending_items="""
import pytest

@pytest.mark.claims("fixture_paper")
def test_claim(claim_case, check_claim):
    check_claim(claim_case)
"""
    )
    r = pytester.runpytest(
        "-q", "--claims-profile", "full", "--claims-executor", "serial", "-k", "F1", "-p", "no:cacheprovider"
    )
    r.assert_outcomes(passed=2)
    r.stdout.fnmatch_lines(["*expectation pending*F1?2.0?: replicated*"])
