"""pytest plugin: claims as test items, verdicts as outcomes, results.json + report + regression gate at the end.

Options:
  --claims-profile {smoke,ci,full}   which settings the studies use (default: ci)
  --claims-results PATH              where results.json goes (default: reports/<profile>/latest/results.json)
  --claims-report DIR                also render DIR/REPORT.md (+ figures/) from the results
  --claims-baseline PATH             gate the results against a committed baseline (verdict flips, drift)
  --claims-device {auto,cpu,cuda}    device for training / inference (default: auto)
  --claims-no-cache                  recompute every experiment (the disk cache is neither read nor written)

A test module opts in with ``pytestmark = pytest.mark.claims("<paper id>")`` and a test taking ``claim_case`` and
``check_claim``. Each claim case becomes one item; where the claim's expected verdict for the profile is not
``replicated`` (``verified`` for ``kind: verified``) the item is ``xfail(strict=True)``, so a claim that starts
replicating fails CI just like one that stops. A verdict different from the expected one fails outright unless the
difference is tolerated by the gate's rule (:func:`geomclaims.gate.tolerated_change`: one side inconclusive, or
the verdict's stability below 0.9): then the item follows its expectation and the terminal summary lists a warning. Under ``smoke`` the verdict
is recorded but not asserted (smoke proves plumbing, it never judges science).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from geomclaims.claims import PROFILES, ClaimCase, Verdict, load_all
from geomclaims.gate import tolerated_change
from geomclaims.runner import Session, latest_dir, resolve_device, write_results
from geomclaims.store import Store

_SESSION_KEY = pytest.StashKey[Session]()
_FAILED_GATE = pytest.StashKey[bool]()
_SUMMARY_LINES = pytest.StashKey[list]()
_VERDICT_WARNINGS = pytest.StashKey[list]()


class ClaimNotReplicated(AssertionError):
    """The verdict is the expected non-replicated one (the strict xfail catches exactly this)."""


class UnexpectedVerdict(AssertionError):
    """The verdict is neither ``replicated`` nor the expected one."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("geomclaims", "paper claims")
    group.addoption("--claims-profile", choices=PROFILES, default="ci", help="claims profile (default: ci)")
    group.addoption("--claims-results", default=None, help="results.json path")
    group.addoption("--claims-report", default=None, help="render REPORT.md into this directory")
    group.addoption("--claims-baseline", default=None, help="baseline results.json to gate against")
    group.addoption("--claims-device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    group.addoption("--claims-no-cache", action="store_true", help="recompute every experiment")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claims(paper_id): parametrize claim_case over the claims of a paper")
    for name, doc in (
        ("slow", "long-running (trains models or loads large weights)"),
        ("gpu", "needs a CUDA device"),
        ("stratified", "paper S claims"),
        ("signature", "paper P claims"),
        ("execution", "paper E claims"),
    ):
        config.addinivalue_line("markers", f"{name}: {doc}")


def _session(config: pytest.Config) -> Session:
    if _SESSION_KEY not in config.stash:
        profile = config.getoption("--claims-profile")
        config.stash[_SESSION_KEY] = Session(
            profile=profile,
            store=Store(enabled=not config.getoption("--claims-no-cache")),
            device=resolve_device(config.getoption("--claims-device")),
        )
    return config.stash[_SESSION_KEY]


def claim_params(paper_id: str, profile: str) -> list[Any]:
    """pytest params for every case of a paper, with strict xfail where the expected verdict is not replicated."""
    papers = load_all()
    if paper_id not in papers:
        raise pytest.UsageError(f"no claims file declares paper id {paper_id!r}; known: {sorted(papers)}")
    params = []
    for case in papers[paper_id].cases():
        marks: list[Any] = [getattr(pytest.mark, m) for m in case.claim.markers]
        expected = case.expected(profile)
        if profile != "smoke" and expected != case.claim.success:
            marks.append(
                pytest.mark.xfail(
                    strict=True,
                    raises=ClaimNotReplicated,
                    reason=f"expected {expected.value}: {case.claim.expected_reason}",
                )
            )
        params.append(pytest.param(case, id=case.case_id, marks=marks))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "claim_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("claims")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: uses claim_case without @pytest.mark.claims('<paper>')"
        )
    profile = metafunc.config.getoption("--claims-profile")
    metafunc.parametrize("claim_case", claim_params(marker.args[0], profile))


@pytest.fixture
def check_claim(request: pytest.FixtureRequest):
    """Evaluate a claim case through the shared session, record it, and assert its verdict."""
    session = _session(request.config)

    def check(case: ClaimCase) -> dict[str, Any]:
        try:
            entry = session.evaluate(case)
        except Exception as exc:
            if type(exc).__name__ == "ResourceUnavailable":
                pytest.skip(f"resource unavailable: {exc}")
            raise
        if session.profile == "smoke":
            assert entry["verdict"] in {v.value for v in Verdict}
            return entry
        actual, expected = entry["verdict"], case.expected(session.profile).value
        success = case.claim.success.value
        message = f"{case.case_id}: verdict {actual} (expected {expected}). {entry['explanation']}"
        if actual == expected:
            if actual == success:
                return entry
            raise ClaimNotReplicated(message)
        # The gate's rule: a difference into/out of inconclusive, or with an unstable verdict, is noise, not a
        # finding. The item then follows its expectation and the difference is reported as a warning.
        tolerated = tolerated_change(expected, actual, None, entry.get("stability"))
        if tolerated:
            request.config.stash.setdefault(_VERDICT_WARNINGS, []).append(f"{case.case_id}: {tolerated}")
            if expected == success:
                return entry
            raise ClaimNotReplicated(f"{message} [tolerated: {tolerated}]")
        if actual == success:
            return entry  # an unexpected success: the strict xfail turns it into a failure
        raise UnexpectedVerdict(message)

    return check


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _SESSION_KEY not in config.stash or not config.stash[_SESSION_KEY].entries:
        return
    run = config.stash[_SESSION_KEY]
    results = run.results()
    results_path = Path(config.getoption("--claims-results") or latest_dir(run.profile) / "results.json")
    write_results(results, results_path)
    lines = [f"[geomclaims] results: {results_path}"]
    report_dir = config.getoption("--claims-report")
    if report_dir:
        from geomclaims.report import render_report

        report_path = render_report(results, Path(report_dir))
        lines.append(f"[geomclaims] report: {report_path}")
    baseline = config.getoption("--claims-baseline")
    if baseline:
        from geomclaims.gate import compare, format_gate

        # pytest may run a subset (-k, one module): gate only the cases that ran, but a new case must be baselined,
        # and a paper whose every case was selected must have every baseline case in the run.
        outcome = compare(
            results, baseline, only_current=True, complete_papers=_complete_papers(session, run.profile)
        )
        lines.append(format_gate(outcome))
        if not outcome.ok:
            config.stash[_FAILED_GATE] = True
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash.setdefault(_FAILED_GATE, False)
    config.stash[_SUMMARY_LINES] = lines


def _complete_papers(session: pytest.Session, profile: str) -> set[str]:
    """Papers all of whose claim cases were selected in this session (so a missing baseline case is a failure)."""
    selected: set[str] = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("claim_case") if callspec is not None else None
        if isinstance(case, ClaimCase):
            selected.add(case.case_id)
    papers = load_all()
    return {
        pid for pid, pc in papers.items() if pc.cases() and all(c.case_id in selected for c in pc.cases())
    }


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _SESSION_KEY not in config.stash or not config.stash[_SESSION_KEY].entries:
        return
    from tabulate import tabulate

    run = config.stash[_SESSION_KEY]
    rows = [
        [
            e["id"],
            e["verdict"],
            "-" if e.get("stability") is None else f"{e['stability']:.2f}",
            e["expected_verdict"],
            "-" if e["measured"] is None else f"{e['measured']['value']:.4g}",
            "-" if not e.get("null") or e["null"].get("median") is None else f"{e['null']['median']:.4g}",
            f"{e['wall_s']:.1f}",
        ]
        for e in run.results()["claims"]
    ]
    terminalreporter.section(f"geomclaims verdicts ({run.profile} profile)")
    terminalreporter.write_line(
        tabulate(
            rows,
            headers=["claim case", "verdict", "stability", "expected", "measured", "null median", "s"],
            tablefmt="simple",
        )
    )
    for line in config.stash.get(_SUMMARY_LINES, []):
        terminalreporter.write_line(line)
    for line in config.stash.get(_VERDICT_WARNINGS, []):
        terminalreporter.write_line(f"[geomclaims] warning: tolerated verdict difference {line}", yellow=True)
    if config.stash.get(_FAILED_GATE, False):
        terminalreporter.write_line("[geomclaims] REGRESSION GATE FAILED", red=True, bold=True)
