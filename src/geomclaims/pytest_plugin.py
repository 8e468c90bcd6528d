"""pytest plugin: claims as test items, verdicts as outcomes, results.json + report + regression gate at the end.

Options:
  --claims-profile {smoke,ci,full}   which settings the studies use (default: ci)
  --claims-results PATH              where results.json goes (default: reports/<profile>/latest/results.json)
  --claims-report DIR                also render DIR/REPORT.md (+ figures/) from the results
  --claims-baseline PATH             gate the results against a committed baseline (verdict flips, drift)
  --claims-device {auto,cpu,cuda}    device for training / inference (default: auto)
  --claims-no-cache                  recompute every experiment (the disk cache is neither read nor written)
  --claims-executor {dask,serial}    where experiment jobs run (default: dask, local worker processes)
  --claims-workers N                 local Dask workers (default: one per core; 1 = serial in-process)
  --claims-threads-per-worker T      torch/BLAS threads per job (default 1; part of the result key)
  --claims-scheduler ADDR            an existing Dask scheduler (default: $GEOMCLAIMS_SCHEDULER)
  --claims-seed-offset K             shift every seed of the profile by K (robustness run)
  --claims-force-regen               rewrite --claims-baseline from this run's results (``geomclaims gate --regen``'s
                                     code path), then fail the session, so a regenerated baseline is never silent
  --claims-model DIR                 probe YOUR model folder: the items are the claims that apply to a pretrained model
                                     (``geomclaims probe``), judged on it; an item passes when the claim holds for it
  --claims-tokenizer DIR             the probed model's tokenizer folder (default: the model folder)
  --claims-corpus FILE               the probe's text file, one text per line (default: the suite's corpora)

Each claim case is one item whose name is the case id (``tests/claims/test_<paper>.py::<claim>[<params>]``),
so ``-r`` summaries, JUnit XML and ``-k`` read case ids; ``path::test_claim[<case id>]`` still selects an item. Every
item is marked with its study's marker (the spec's ``marker``, by default the study name: ``-m <study>``) and its kind
(``claims.KINDS``: ``-m kind_extension``, ``-m "not kind_verified"``).

Before the first test runs, every collected claim case is planned at once (``geomclaims.executor.run_cases``): all
experiment jobs the selected cases need are computed on the Dask workers, and each test then judges its case from
the results in memory. A case whose job failed fails its own test with the job named.

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

from geomclaims.claims import KINDS, PROFILES, ClaimCase, Verdict, load_all
from geomclaims.gate import tolerated_change
from geomclaims.markers import CLAIM_MARKERS
from geomclaims.pytest_probe import add_probe_options, check_probe_options, probe_of, probe_outcome
from geomclaims.runner import (
    Session,
    latest_dir,
    refuse_committed_baseline_dir,
    resolve_device,
    write_results,
)
from geomclaims.store import Store

_SESSION_KEY = pytest.StashKey[Session]()
_FAILED_GATE = pytest.StashKey[bool]()
_SUMMARY_LINES = pytest.StashKey[list]()
_VERDICT_WARNINGS = pytest.StashKey[list]()
_PENDING_CASES = pytest.StashKey[list]()
_SKIPPED_CASES = pytest.StashKey[list]()


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
    group.addoption(
        "--claims-executor", choices=("dask", "serial"), default="dask", help="where experiment jobs run"
    )
    group.addoption("--claims-workers", type=int, default=None, help="local Dask workers (default: cores)")
    group.addoption("--claims-threads-per-worker", type=int, default=1, help="torch/BLAS threads per job")
    group.addoption("--claims-scheduler", default=None, help="existing Dask scheduler address")
    group.addoption("--claims-seed-offset", type=int, default=0, help="shift every seed of the profile by K")
    add_probe_options(group)
    group.addoption(
        "--claims-force-regen",
        action="store_true",
        help="rewrite --claims-baseline from this run's results, then fail the session (a regen is never silent)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claims(paper_id): parametrize claim_case over the claims of a paper")
    for name, doc in CLAIM_MARKERS.items():  # the generic markers claims files are checked against
        config.addinivalue_line("markers", f"{name}: {doc}")
    for name, doc in _derived_markers().items():  # each study's marker (its spec) and each kind
        _register_marker(config, name, doc)
    _check_output_paths(config)


def _derived_markers(paper_ids: tuple[str, ...] = ()) -> dict[str, str]:
    """Markers every claim item gets: its study's (from the study specs) and its kind (from the claims schema)."""
    from geomclaims.plugin import all_specs

    out = {f"kind_{kind}": f"claims of kind {kind!r}" for kind in KINDS}
    for spec in all_specs():
        if not paper_ids or spec.paper_id in paper_ids:
            out[spec.marker] = spec.marker_doc
    return out


def _register_marker(config: pytest.Config, name: str, doc: str) -> None:
    """Register a marker once (a study registered after pytest_configure, e.g. by a conftest, still gets one)."""
    if not any(line.split(":", 1)[0].strip() == name for line in config.getini("markers")):
        config.addinivalue_line("markers", f"{name}: {doc}")


def _results_path(config: pytest.Config) -> Path:
    # A probe's default is reports/probe/latest/: it must not overwrite the suite's own latest run.
    profile = "probe" if config.getoption("--claims-model") else config.getoption("--claims-profile")
    return Path(config.getoption("--claims-results") or latest_dir(profile) / "results.json")


def _check_output_paths(config: pytest.Config) -> None:
    """Refuse, before anything runs, outputs that would overwrite the baseline the run is gated against or the
    committed baseline directory (only `geomclaims gate --regen` writes that)."""
    results = _results_path(config)
    baseline = config.getoption("--claims-baseline")
    report = config.getoption("--claims-report")
    check_probe_options(config, baseline)
    if config.getoption("--claims-force-regen") and not baseline:
        raise pytest.UsageError("--claims-force-regen needs --claims-baseline (the baseline file to rewrite)")
    if baseline and results.resolve() == Path(baseline).resolve():
        raise pytest.UsageError(
            f"--claims-results {results} is the baseline {baseline}: the run would overwrite the baseline and "
            "then compare it with itself; write the results elsewhere (default: reports/<profile>/latest/)"
        )
    try:
        refuse_committed_baseline_dir(results, "--claims-results")
        if report:
            refuse_committed_baseline_dir(report, "--claims-report")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _session(config: pytest.Config) -> Session:
    if _SESSION_KEY not in config.stash:
        profile = config.getoption("--claims-profile")
        threads = config.getoption("--claims-threads-per-worker")
        if threads < 1:
            raise pytest.UsageError(f"--claims-threads-per-worker must be >= 1, got {threads}")
        kwargs: dict[str, Any] = dict(
            profile=profile,
            store=Store(enabled=not config.getoption("--claims-no-cache")),
            device=resolve_device(config.getoption("--claims-device")),
            threads=threads,
            seed_offset=config.getoption("--claims-seed-offset"),
        )
        probed = probe_of(config)
        if probed is None:
            config.stash[_SESSION_KEY] = Session(**kwargs)
        else:
            from geomclaims.probe import ProbeSession, probe_cases

            session = ProbeSession(**kwargs, model=probed[0], corpus=probed[1])
            session.plan(probe_cases(load_all(), probed[0].name))  # the cases untestable before running
            config.stash[_SESSION_KEY] = session
    return config.stash[_SESSION_KEY]


def _claim_cases(items: list[pytest.Item]) -> list[ClaimCase]:
    cases: dict[str, ClaimCase] = {}
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("claim_case")
        if isinstance(case, ClaimCase):
            cases.setdefault(case.case_id, case)
    return list(cases.values())


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Plan every selected claim case before the first test, so their jobs run together on all workers."""
    config = session.config
    if config.option.collectonly or session.testsfailed or config.getoption("--claims-executor") == "serial":
        return
    cases = _claim_cases(session.items)
    if not cases:
        return
    from geomclaims.executor import executor_for, run_cases

    run = _session(config)
    cases = [
        c for c in cases if c.case_id not in getattr(run, "untestable", {})
    ]  # a probe's, decided already
    workers = config.getoption("--claims-workers")
    if workers is not None and workers < 1:
        raise pytest.UsageError(f"--claims-workers must be >= 1, got {workers}")
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else _nullcontext():
        with executor_for(
            "dask",
            workers=workers,
            threads_per_worker=run.threads,
            scheduler=config.getoption("--claims-scheduler"),
            device=run.device,
        ) as executor:
            if executor is None:  # one worker: the tests compute in-process, one after another
                return
            run.executor_info = executor.describe()

            def keep(entry: dict[str, Any]) -> None:
                run.planned[entry["id"]] = entry

            # Errors are not recorded here: the case's own test re-evaluates it and fails (or skips) with them.
            run_cases(run, cases, executor, keep_going=True, on_entry=keep, error_entries=False)


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()


def claim_params(paper_id: str, profile: str, probe_model: str | None = None) -> list[Any]:
    """pytest params for every case of a paper, with strict xfail where the expected verdict is not replicated.

    With ``probe_model`` (a probe's ``local-`` model name) the params are the paper's probe cases instead, with no
    expectation: the item passes when the claim holds for that model."""
    papers = load_all()
    if paper_id not in papers:
        raise pytest.UsageError(f"no claims file declares paper id {paper_id!r}; known: {sorted(papers)}")
    from geomclaims.plugin import spec_for_paper

    spec = spec_for_paper(paper_id)
    derived = [spec.marker] if spec else []
    params = []
    if probe_model is not None:
        from geomclaims.probe import probe_cases

        for case in probe_cases({paper_id: papers[paper_id]}, probe_model):
            names = dict.fromkeys([*case.claim.markers, *derived, f"kind_{case.claim.kind}"])
            params.append(pytest.param(case, id=case.case_id, marks=[getattr(pytest.mark, m) for m in names]))
        return params
    for case in papers[paper_id].cases():
        names = dict.fromkeys([*case.claim.markers, *derived, f"kind_{case.claim.kind}"])
        marks: list[Any] = [getattr(pytest.mark, m) for m in names]
        expected = None if case.is_pending(profile) else case.expected(profile)
        if profile != "smoke" and expected is not None and expected != case.claim.success:
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
    for name, doc in _derived_markers((marker.args[0],)).items():
        _register_marker(metafunc.config, name, doc)
    probed = probe_of(metafunc.config)
    metafunc.parametrize(
        "claim_case", claim_params(marker.args[0], profile, probed[0].name if probed else None)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Name each claim item by its case id: ``-r`` summaries and JUnit XML (which take the name from the node id)
    then read ``<module>::<case id>`` instead of ``<module>::test_claim[<case id>]``. Runs before ``-k``/``-m``
    deselection, so ``-k`` matches case ids; a name two items would share is left as it was."""
    renamed: dict[pytest.Item, str] = {}
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("claim_case")
        if isinstance(case, ClaimCase) and item.parent is not None:
            renamed[item] = f"{item.parent.nodeid}::{case.case_id}"
    taken = [nodeid for nodeid in renamed.values()]
    for item, nodeid in renamed.items():
        if taken.count(nodeid) == 1:
            item.name = nodeid.rsplit("::", 1)[1]
            _set_nodeid(item, nodeid)


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    # pytest has no public API to rename an item, so this touches its private node id; a pytest whose internals
    # differ keeps the default name (test_claim[<case id>]) instead of breaking collection.
    ident = getattr(item, "_id", None)
    try:
        if ident is not None and hasattr(type(ident), "parse"):
            item._id = type(ident).parse(nodeid)  # pytest >= 9.2 keeps a structured NodeId
        else:
            item._nodeid = nodeid  # earlier pytest keeps the string
    except Exception:  # any internal difference: keep pytest's own name
        return


@pytest.fixture
def check_claim(request: pytest.FixtureRequest):
    """Evaluate a claim case through the shared session, record it, and assert its verdict."""
    session = _session(request.config)

    def check(case: ClaimCase) -> dict[str, Any]:
        try:
            entry = session.evaluate(case)
        except Exception as exc:
            if type(exc).__name__ == "ResourceUnavailable":
                request.config.stash.setdefault(_SKIPPED_CASES, []).append(case.case_id)
                pytest.skip(f"resource unavailable: {exc}")
            raise
        if session.profile == "smoke":
            assert entry["verdict"] in {v.value for v in Verdict}
            return entry
        if probe_of(request.config) is not None:
            return probe_outcome(case, entry)
        if case.is_pending(session.profile):
            # No verdict is expected yet (the case's first run in this profile): the item passes on any judged
            # outcome and the session summary lists it, so the expectation gets set from this run.
            request.config.stash.setdefault(_PENDING_CASES, []).append(f"{case.case_id}: {entry['verdict']}")
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


def _incomplete_gate_lines(config: pytest.Config, judged: int) -> list[str]:
    """Why a gated run cannot pass whatever the gate says: it judged nothing, or skipped cases it collected."""
    if not config.getoption("--claims-baseline") or config.option.collectonly:
        return []
    lines = []
    if not judged:
        lines.append("[geomclaims] gate FAILED: --claims-baseline given but no claim case was judged")
    skipped = config.stash.get(_SKIPPED_CASES, [])
    if skipped:
        profile = config.getoption("--claims-profile")
        lines.append(
            f"[geomclaims] gate FAILED: {len(skipped)} claim case(s) skipped because resources are unavailable: "
            f"{', '.join(skipped)} (fetch them with `geomclaims fetch --profile {profile}`)"
        )
    return lines


def _fail_session(session: pytest.Session, gate: bool = True) -> None:
    if gate:  # the summary then says the regression gate failed
        session.config.stash[_FAILED_GATE] = True
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash.get(_SESSION_KEY, None)
    entries = run.entries if run is not None else []
    lines = _incomplete_gate_lines(config, len(entries))
    if lines:
        _fail_session(session)
    config.stash.setdefault(_FAILED_GATE, False)
    config.stash[_SUMMARY_LINES] = lines
    if run is None or not entries:
        return
    results = run.results()
    results_path = _results_path(config)
    write_results(results, results_path)
    lines.append(f"[geomclaims] results: {results_path}")
    report_dir = config.getoption("--claims-report")
    if report_dir:
        from geomclaims.report import render_report

        report_path = render_report(results, Path(report_dir))
        lines.append(f"[geomclaims] report: {report_path}")
    baseline = config.getoption("--claims-baseline")
    if baseline and config.getoption("--claims-force-regen"):
        lines.append(_force_regen(results, results_path, Path(baseline)))
        _fail_session(session, gate=False)  # as pytest-regressions' --force-regen: a regen is never a pass
    elif baseline:
        from geomclaims.gate import compare, format_gate

        # pytest may run a subset (-k, one module): gate only the cases that ran, but a new case must be baselined,
        # and a paper whose every case was selected must have every baseline case in the run.
        outcome = compare(
            results, baseline, only_current=True, complete_papers=_complete_papers(session, run.profile)
        )
        lines.append(format_gate(outcome, [results_path]))
        if not outcome.ok:
            lines.append(
                f"[geomclaims] or re-run with --claims-force-regen to rewrite {baseline} from this run"
            )
            _fail_session(session)


def _force_regen(results: dict[str, Any], results_path: Path, baseline: Path) -> str:
    """``--claims-force-regen``: make this run's results the baseline through ``geomclaims.gate.regen`` (the code
    path of ``geomclaims gate --regen``); a run that lacks some of the baseline's cases (-k, one module) would
    drop them, so it is refused. Returns the summary line; the session fails either way."""
    from geomclaims.gate import regen
    from geomclaims.runner import read_results

    if baseline.exists():
        ran = {e["id"] for e in results["claims"]}
        lacking = sorted(e["id"] for e in read_results(baseline)["claims"] if e["id"] not in ran)
        if lacking:
            return (
                f"[geomclaims] --claims-force-regen refused: this run lacks {len(lacking)} case(s) of {baseline} "
                f"({', '.join(lacking[:5])}{', ...' if len(lacking) > 5 else ''}); run all of them, or merge runs "
                "with `geomclaims gate RESULTS... --regen`"
            )
    try:
        path = regen(results_path, baseline)
    except ValueError as exc:  # errored cases, another profile's baseline: the gate's own refusals
        return f"[geomclaims] --claims-force-regen refused: {exc}"
    return (
        f"[geomclaims] baseline regenerated from {results_path}: {path} and its REPORT.md (--claims-force-regen); "
        "the session fails so a regen is never silent: review the diff, commit it, re-run without the option"
    )


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
        for line in config.stash.get(_SUMMARY_LINES, []):  # a gated run that judged nothing says so
            terminalreporter.write_line(line, red=True, bold=True)
        return
    from tabulate import tabulate

    run = config.stash[_SESSION_KEY]
    rows = [
        [
            e["id"],
            e["verdict"],
            "-" if e.get("stability") is None else f"{e['stability']:.2f}",
            e.get("expected_verdict", "-"),  # a probe's entries have none
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
    for line in config.stash.get(_PENDING_CASES, []):
        terminalreporter.write_line(
            f"[geomclaims] expectation pending (set it in the claims file from this run): {line}", yellow=True
        )
    if config.stash.get(_FAILED_GATE, False):
        terminalreporter.write_line("[geomclaims] REGRESSION GATE FAILED", red=True, bold=True)
