"""Command line: ``geomclaims list | fetch | resources | run | report | gate``.

geomclaims list [--paper P]                      the claims registry as a table
geomclaims fetch [--profile ci] [--list]          prefetch the real models and corpora a profile needs
geomclaims resources                              every registry source: version, sha256, cached, size
geomclaims run [--profile ci] [--paper P] [--claim ID ...] [--device auto] [--out DIR] [--no-cache] [--fail-fast]
               [--executor dask|serial] [--workers N] [--threads-per-worker T] [--scheduler ADDR]
               [--seed-offset K]
                                                  judge claims and write DIR/results.json + DIR/REPORT.md; a case
                                                  that raises is recorded with verdict "error" (exit 1)
geomclaims report RESULTS_JSON [--out DIR]        re-render a report from a results file
geomclaims gate RESULTS_JSON [--baseline PATH] [--regen]
                                                  compare with the committed baseline (exit 1 on a flip/drift)
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import sys
import tempfile
from pathlib import Path

from geomclaims.claims import PROFILES, ClaimFileError, load_all


def _cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from geomclaims.runner import select_cases

    papers = load_all(args.claims_dir)
    cases = select_cases(papers.values(), paper=args.paper)
    if args.paper and not cases:
        print(f"no claims for paper {args.paper!r}; papers: {sorted(papers)}", file=sys.stderr)
        return 2
    rows = [
        [
            c.case_id,
            c.claim.paper,
            c.claim.section,
            c.claim.experiment,
            f"{c.claim.metric} {c.claim.expect.describe()}",
            c.claim.null.name if c.claim.null else "none",
            c.expected(args.profile).value,
        ]
        for c in cases
    ]
    print(
        tabulate(
            rows,
            headers=[
                "case",
                "paper",
                "section",
                "experiment",
                "condition",
                "null",
                f"expected ({args.profile})",
            ],
        )
    )
    print(f"\n{len(rows)} claim cases in {len(papers)} papers")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from geomclaims import resources

    if args.list:
        return _cmd_resources(args)
    names = list(args.models or []) + list(args.corpora or [])
    if names:
        for name in names:
            path = resources.fetch(name, progress=True)
            print(f"{name}: {path}")
        return 0
    fetched = resources.fetch_profile(args.profile, progress=True)
    print(
        f"[geomclaims] {len(fetched)} resources for the {args.profile} profile are in place "
        "(sha256 of every file checked in this run):"
    )
    for name, path in sorted(fetched.items()):
        print(f"  {name}: {path}")
    return 0


def _cmd_resources(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from geomclaims import resources

    rows = resources.list_sources()
    if not rows:
        print("no sources registered")
        return 0
    cols = ["name", "role", "package", "version", "sha256", "license", "cached", "size"]
    table = [[str(r.get(c, ""))[:16] if c == "sha256" else r.get(c, "") for c in cols] for r in rows]
    print(tabulate(table, headers=cols))
    return 0


class CliError(Exception):
    """A problem with the command line or the environment, reported as one line (exit 2)."""


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


def _cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

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
    cases = select_cases(papers.values(), paper=args.paper, claim_ids=args.claim)
    if not cases:
        print("no claim cases selected", file=sys.stderr)
        return 2
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

    def show(entry: dict) -> None:
        session.record(entry)
        tqdm.write(
            f"{entry['id']:<40} {entry['verdict']:<15} (expected {entry['expected_verdict']})",
            file=sys.stderr,
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
            print(f"results: {out / 'results.json'}\nreport:  {report}")
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
                session.execution = executor.describe()
                print(f"[geomclaims] dask: {session.execution}", file=sys.stderr)
            # Recording an errored case and going on is the default; a full disk or read-only cache stops the
            # run (every later case would fail the same way), as does --fail-fast.
            outcome = run_cases(
                session,
                cases,
                executor,
                keep_going=not args.fail_fast,
                on_entry=show,
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
        return 130
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
        return 1
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
        if e["verdict"] != e["expected_verdict"] and e["id"] not in errored and args.profile != "smoke"
    ]
    if unexpected:
        print(f"verdicts differing from the expected ones: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if (errored or skipped or unexpected) else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from geomclaims.report import render_report
    from geomclaims.runner import refuse_committed_baseline_dir

    out = Path(args.out) if args.out else Path(args.results).parent
    # a committed baseline's REPORT.md and figures are written by `gate --regen` only (with its results.json)
    refuse_committed_baseline_dir(
        out, "--out" if args.out else "the report directory (default: next to RESULTS)"
    )
    print(render_report(args.results, out, args.claims_dir))
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from geomclaims.gate import baseline_for, compare, format_gate, regen

    if args.baseline is None:
        args.baseline = str(baseline_for(list(args.results)))
    if args.regen:
        path = regen(list(args.results), args.baseline)
        print(
            f"baseline rewritten: {path} (and its REPORT.md); commit it with a note on why the numbers moved"
        )
        return 0
    if not Path(args.baseline).exists():
        print(f"baseline not found: {args.baseline} (create it with --regen)", file=sys.stderr)
        return 2
    from geomclaims.gate import working_code_versions
    from geomclaims.runner import merge_results, read_results

    current = merge_results([read_results(p) for p in args.results], list(args.results))
    base = read_results(args.baseline)
    studies = {*(current.get("code_versions") or {}), *(base.get("code_versions") or {})}
    outcome = compare(current, args.baseline, working_versions=working_code_versions(studies))
    print(format_gate(outcome))
    return 0 if outcome.ok else 1


def add_execution_options(p: argparse.ArgumentParser) -> None:
    from geomclaims.executor import EXECUTORS, default_workers

    g = p.add_argument_group("execution (experiment jobs on Dask workers)")
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="dask",
        help="dask (default): jobs on worker processes; serial: in this process, one after another",
    )
    g.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help=f"local worker processes (default: one per core, here {default_workers()}; 1 = serial)",
    )
    g.add_argument(
        "--threads-per-worker",
        type=_positive_int,
        default=1,
        help="torch/BLAS threads per job, serial or parallel (part of the result key; default 1)",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        help="address of an existing Dask scheduler, e.g. tcp://host:8786 (default: $GEOMCLAIMS_SCHEDULER)",
    )
    g.add_argument(
        "--seed-offset",
        type=_seed_offset,
        default=0,
        help="shift every seed of the profile by K (robustness run: do verdicts hinge on the seed list?)",
    )


# Seeds are shifted by K and fed to numpy/torch generators (which take 0 <= seed < 2**63); seeds of the profiles
# are small, so any K up to a million keeps every shifted seed far inside that range.
MAX_SEED_OFFSET = 1_000_000


def _seed_offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED_OFFSET:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{MAX_SEED_OFFSET}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: `--seed 5` must not be read as `--seed-offset 5` (nor any other prefix as an option)
    parser = argparse.ArgumentParser(
        prog="geomclaims",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--claims-dir", default=None, help="directory of claims YAML files (default: ./claims)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)  # type: ignore[method-assign]

    p = sub.add_parser("list", help="list claims")
    p.add_argument("--paper", help="paper id or alias (S, P, E)")
    p.add_argument(
        "--profile", choices=PROFILES, default="ci", help="profile whose expected verdicts to show"
    )
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("fetch", help="prefetch real models and corpora")
    p.add_argument("--profile", choices=PROFILES, default="ci")
    p.add_argument("--models", nargs="*", help="only these models")
    p.add_argument("--corpora", nargs="*", help="only these corpora")
    p.add_argument("--list", action="store_true", help="list sources instead of fetching")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("resources", help="table of every registry source")
    p.set_defaults(func=_cmd_resources)

    p = sub.add_parser("run", help="judge claims and write results + report")
    p.add_argument("--profile", choices=PROFILES, default="ci")
    p.add_argument("--paper", help="paper id or alias (S, P, E)")
    p.add_argument(
        "--claim",
        nargs="+",
        action="extend",  # `--claim A --claim B` runs both (argparse's default keeps only the last)
        help="claim ids, case ids or patterns with * and ? (e.g. '*qwen2.5-coder-1.5b*'); an id matching nothing is an error",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--out", help="output directory (default: reports/<profile>/latest)")
    p.add_argument("--no-cache", action="store_true", help="recompute every experiment")
    p.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first errored case (results so far are still written)",
    )
    # Recording errors and going on is the default now; the flag is accepted so older scripts keep working.
    p.add_argument("--keep-going", action="store_true", help=argparse.SUPPRESS)
    add_execution_options(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="render REPORT.md from a results.json")
    p.add_argument("results")
    p.add_argument("--out", help="output directory (default: next to the results file)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("gate", help="compare results with the committed baseline")
    p.add_argument("results", nargs="+", help="results.json file(s); several disjoint runs are merged")
    p.add_argument(
        "--baseline",
        default=None,
        help="baseline results.json (default: reports/<profile of RESULTS>/results.json, e.g. reports/full/ for a "
        "full run)",
    )
    p.add_argument("--regen", action="store_true", help="rewrite the baseline from RESULTS")
    p.set_defaults(func=_cmd_gate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ClaimFileError, FileNotFoundError, ValueError) as exc:
        print(f"geomclaims: error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:  # str(KeyError) adds quotes around the message
        print(f"geomclaims: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, read-only or unwritable paths: one line, no traceback
        print(f"geomclaims: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside a run's loop (loading, rendering): nothing judged is at stake
        print("geomclaims: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
