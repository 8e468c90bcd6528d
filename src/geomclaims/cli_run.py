"""``geomclaims run``: judge claim cases, write results.json + REPORT.md, exit with what happened (see
:data:`geomclaims.cli_common.EXIT_MEANINGS`)."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from geomclaims.claims import differs_from_expected, load_all
from geomclaims.cli_common import CliError, Exit, emit_json, resolve_paper, say

# An OSError with one of these errnos will fail every later case the same way (the disk or the cache is unusable):
# record it and stop instead of computing for hours and failing to save each result.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM}


def _environment_error(exc: BaseException) -> OSError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _ENVIRONMENT_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _check_environment() -> None:
    """Environment variables a run reads later, validated before any work (a typo is an error, not a default)."""
    from geomclaims.executor import SCHEDULER_ENV, connect_timeout
    from geomclaims.resources.fetcher import offline

    offline()
    if os.environ.get(SCHEDULER_ENV):
        connect_timeout()


def _check_out_dir(out: Path) -> None:
    """Fail before any work when ``--out`` cannot take the results (rather than after the run)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise CliError(f"cannot write to --out {out}: {exc.strerror or exc}") from None


def _check_experiments(cases: list) -> None:
    """Every selected case's experiment key has a registered evidence function (checked before running any)."""
    from geomclaims.registry import get_evidence_fn

    claims_of: dict[str, list[str]] = {}
    for case in cases:
        ids = claims_of.setdefault(case.claim.experiment, [])
        if case.claim.id not in ids:
            ids.append(case.claim.id)
    problems = []
    for key, claim_ids in claims_of.items():
        try:
            get_evidence_fn(key)
        except (KeyError, ImportError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            problems.append(f"experiment {key!r} of claim {', '.join(claim_ids)}: {reason}")
    if problems:
        raise CliError("; ".join(problems))


def cmd_run(args: argparse.Namespace) -> int:
    from geomclaims.executor import executor_for, run_cases
    from geomclaims.report import render_report
    from geomclaims.runner import (
        Session,
        latest_dir,
        refuse_committed_baseline_dir,
        resolve_device,
        select_cases,
        write_results,
    )
    from geomclaims.store import Store, clean_stale_tmp

    _check_environment()
    papers = load_all(args.claims_dir)
    paper = resolve_paper(args.paper, papers)
    cases = select_cases(papers.values(), paper=paper, claim_ids=args.claim)
    if not cases:
        print("no claim cases selected", file=sys.stderr)
        return Exit.USAGE
    out = Path(args.out) if args.out else latest_dir(args.profile)
    refuse_committed_baseline_dir(out, "--out")
    _check_out_dir(out)
    _check_experiments(cases)
    try:
        store = Store(enabled=not args.no_cache)
    except OSError as exc:
        raise CliError(f"results cache unusable: {exc.strerror or exc}: {exc.filename}") from None
    device = resolve_device(args.device)
    session = Session(
        profile=args.profile,
        store=store,
        device=device,
        threads=args.threads_per_worker,
        seed_offset=args.seed_offset,
    )

    # leftovers of a killed run (kill -9 skips every cleanup): store entries, embeddings, results/report files
    if store.enabled:
        clean_stale_tmp(store.root)
    clean_stale_tmp(out, recursive=False)
    clean_stale_tmp(out / "figures", recursive=False)

    def write(partial: bool) -> dict:
        """results.json + REPORT.md of what is judged so far: every judged entry is already in the store, so a
        fault after this point (or a rerun) loses nothing."""
        results = session.results()
        write_results(results, out / "results.json")
        report = render_report(results, out, args.claims_dir)
        if not partial:
            say(f"results: {out / 'results.json'}\nreport:  {report}", args.json)
        return results

    try:
        with executor_for(
            args.executor,
            workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            scheduler=args.scheduler,
            device=device,
        ) as executor:
            if executor is not None:
                session.executor_info = executor.describe()
                print(f"[geomclaims] dask: {session.executor_info}", file=sys.stderr)
            # Recording an errored case and going on is the default; a full disk or read-only cache stops the
            # run (every later case would fail the same way), as does --fail-fast.
            outcome = run_cases(
                session,
                cases,
                executor,
                keep_going=not args.fail_fast,
                on_entry=session.record,  # run_cases shows each judged case (geomclaims.progress)
                stop_on=_environment_error,
            )
    except KeyboardInterrupt:
        if session.entries:
            write(partial=True)
        where = f"written to {out / 'results.json'}" if session.entries else "nothing written"
        print(
            f"geomclaims: interrupted: {len(session.entries)} judged claim case(s) {where}, "
            f"{len(cases) - len(session.entries)} not run; the same command resumes from the store",
            file=sys.stderr,
        )
        return Exit.INTERRUPTED
    except BaseException:
        if session.entries:  # a crash outside any one case: keep the judgements, then report the crash
            write(partial=True)
        raise
    if outcome.stopped:
        judged = len(session.entries)
        why = "the first error (--fail-fast)" if args.fail_fast else "an environment error"
        print(
            f"geomclaims: stopped after {why} ({outcome.stopped}); {len(cases) - judged} claim case(s) not run",
            file=sys.stderr,
        )
    skipped = [case_id for case_id, _ in outcome.skipped]
    errored = [case_id for case_id, _ in outcome.errors]
    fetch_hint = f"fetch them with `geomclaims fetch --profile {args.profile}`"
    if skipped:
        print(
            f"geomclaims: {len(skipped)} claim case(s) skipped because resources are unavailable "
            f"({', '.join(skipped)}); {fetch_hint}",
            file=sys.stderr,
        )
    if not session.entries:
        print("geomclaims: error: the run judged nothing; no results written", file=sys.stderr)
        if args.json:
            emit_json(_summary(None, out, cases, outcome, [], Exit.ERROR))
        return Exit.ERROR
    if outcome.reused:
        print(
            f"[geomclaims] {outcome.reused} claim case(s) taken from the store (judged by an earlier run of the "
            "same claims, code and settings)",
            file=sys.stderr,
        )
    results = write(partial=False)
    if errored:
        print(
            f"geomclaims: {len(errored)} claim case(s) errored (recorded with verdict 'error'): "
            f"{', '.join(errored)}",
            file=sys.stderr,
        )
    unexpected = [
        e["id"]
        for e in results["claims"]
        if differs_from_expected(e) and e["id"] not in errored and args.profile != "smoke"
    ]
    if unexpected:
        print(
            f"geomclaims: {len(unexpected)} verdict(s) differ from the expected ones (exit {int(Exit.UNEXPECTED)}): "
            f"{', '.join(unexpected)}",
            file=sys.stderr,
        )
    # An error outranks a difference: a run that could not judge everything says so first.
    code = Exit.ERROR if (errored or skipped) else Exit.UNEXPECTED if unexpected else Exit.OK
    if args.json:
        emit_json(_summary(results, out, cases, outcome, unexpected, code))
    return code


def _summary(
    results: dict[str, Any] | None,
    out: Path,
    cases: list,
    outcome: Any,
    unexpected: list[str],
    code: Exit,
) -> dict[str, Any]:
    """``run --json``: where the files are, every case's verdict, and what the exit code means."""
    entries = results["claims"] if results else []
    return {
        "exit_code": int(code),
        "results": str(out / "results.json") if results else None,
        "report": str(out / "REPORT.md") if results else None,
        "profile": results["profile"] if results else None,
        "selected": len(cases),
        "cases": [
            {
                "id": e["id"],
                "paper": e["paper"],
                "verdict": e["verdict"],
                "expected_verdict": e["expected_verdict"],
                "stability": e.get("stability"),
            }
            for e in entries
        ],
        "unexpected": unexpected,
        "errored": [case_id for case_id, _ in outcome.errors],
        "skipped": [case_id for case_id, _ in outcome.skipped],
        "stopped": outcome.stopped,
        "reused": outcome.reused,
    }
