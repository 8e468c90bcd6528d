"""Command line: ``geomclaims list | fetch | resources | run | reproduce | probe | report | gate | new-study |
check-study``.

geomclaims list [--paper P] [--results FILE] [--verdict V] [--json]
                                                  the claims registry (or a results file's cases) as a table
geomclaims fetch [--profile ci] [--list]          prefetch the real models and corpora a profile needs
geomclaims resources                              every registry source: version, sha256, cached, size
geomclaims run [--profile ci] [--paper P] [--claim ID ...] [--device auto] [--out DIR] [--no-cache] [--fail-fast]
               [--executor dask|serial] [--workers N] [--threads-per-worker T] [--scheduler ADDR]
               [--seed-offset K] [--json]
                                                  judge claims and write DIR/results.json + DIR/REPORT.md; a case
                                                  that raises is recorded with verdict "error" (exit 1); verdicts
                                                  that differ from the expected ones: exit 3
geomclaims reproduce CASE_ID [--profile ci] [--results FILE] [--json]
                                                  re-derive one case's verdict (from the experiment store, or
                                                  from FILE's samples) and show how it was decided
geomclaims probe --model DIR --out DIR [--tokenizer DIR] [--corpus FILE|NAME] [--claims ID ...] [--profile ci|full]
                 [--device auto] [--workers N] [--json]
                                                  judge the claims that apply to a pretrained model on your own
                                                  model folder (results.json + REPORT.md in DIR)
geomclaims report RESULTS_JSON [--out DIR]        re-render a report from a results file
geomclaims gate RESULTS_JSON [--baseline PATH] [--regen] [--json]
                                                  compare with the committed baseline (exit 1 on a flip/drift)
geomclaims new-study NAME [--dir DIR]             scaffold an installable study package (docs/ADD_A_PAPER.md)
geomclaims check-study [NAME ...]                 run the study contract (geomclaims.contract) on registered studies

Paper ids, study names and their aliases (each study's spec) are case-insensitive. --json prints one JSON document on stdout and
sends the human text to stderr.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from geomclaims.claims import PROFILES, ClaimFileError
from geomclaims.cli_common import CliError, Exit, emit_json, exit_code_table, positive_int, say, seed_offset
from geomclaims.cli_list import add_list_parser
from geomclaims.cli_probe import add_probe_parser
from geomclaims.cli_reproduce import add_reproduce_parser
from geomclaims.cli_run import cmd_run
from geomclaims.cli_study import add_study_parsers
from geomclaims.plugin import PluginError


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


def _cmd_report(args: argparse.Namespace) -> int:
    from geomclaims.report import render_report
    from geomclaims.runner import refuse_committed_baseline_dir

    out = Path(args.out) if args.out else Path(args.results).parent
    # a committed baseline's REPORT.md and figures are written by `gate --regen` only (with its results.json)
    refuse_committed_baseline_dir(
        out, "--out" if args.out else "the report directory (default: next to RESULTS)"
    )
    print(render_report(args.results, out, args.claims_dir))
    return Exit.OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from geomclaims.gate import baseline_for, compare, format_gate, regen

    if args.baseline is None:
        args.baseline = str(baseline_for(list(args.results)))
    if args.regen:
        path = regen(list(args.results), args.baseline)
        say(
            f"baseline rewritten: {path} (and its REPORT.md); commit it with a note on why the numbers moved",
            args.json,
        )
        if args.json:
            emit_json({"ok": True, "regenerated": str(path), "results": list(args.results)})
        return Exit.OK
    if not Path(args.baseline).exists():
        print(f"baseline not found: {args.baseline} (create it with --regen)", file=sys.stderr)
        return Exit.USAGE
    from geomclaims.gate import working_code_versions
    from geomclaims.runner import merge_results, read_results

    current = merge_results([read_results(p) for p in args.results], list(args.results))
    base = read_results(args.baseline)
    studies = {*(current.get("code_versions") or {}), *(base.get("code_versions") or {})}
    outcome = compare(current, args.baseline, working_versions=working_code_versions(studies))
    say(format_gate(outcome, list(args.results)), args.json)
    if args.json:
        emit_json({"ok": outcome.ok, **asdict(outcome), "results": list(args.results)})
    # A regression is exit 1 (Exit.ERROR); the table in README / --help says so.
    return Exit.OK if outcome.ok else Exit.ERROR


def add_executor_options(p: argparse.ArgumentParser) -> None:
    from geomclaims.executor import EXECUTORS, default_workers

    g = p.add_argument_group("executor (experiment jobs on Dask workers)")
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="dask",
        help="dask (default): jobs on worker processes; serial: in this process, one after another",
    )
    g.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help=f"local worker processes (default: one per core, here {default_workers()}; 1 = serial)",
    )
    g.add_argument(
        "--threads-per-worker",
        type=positive_int,
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
        type=seed_offset,
        default=0,
        help="shift every seed of the profile by K (robustness run: do verdicts hinge on the seed list?)",
    )


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: `--seed 5` must not be read as `--seed-offset 5` (nor any other prefix as an option)
    parser = argparse.ArgumentParser(
        prog="geomclaims",
        description=__doc__,
        epilog=exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--claims-dir", default=None, help="directory of claims YAML files (default: ./claims)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)  # type: ignore[method-assign]

    add_list_parser(sub, PROFILES)

    p = sub.add_parser("fetch", help="prefetch real models and corpora")
    p.add_argument("--profile", choices=PROFILES, default="ci")
    p.add_argument("--models", nargs="*", help="only these models")
    p.add_argument("--corpora", nargs="*", help="only these corpora")
    p.add_argument("--list", action="store_true", help="list sources instead of fetching")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("resources", help="table of every registry source")
    p.set_defaults(func=_cmd_resources)

    p = sub.add_parser(
        "run",
        help="judge claims and write results + report",
        epilog=exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", choices=PROFILES, default="ci")
    p.add_argument("--paper", help="paper id, study name or alias, any case")
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
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (exit code included)")
    add_executor_options(p)
    p.set_defaults(func=cmd_run)

    add_reproduce_parser(sub, PROFILES)
    add_probe_parser(sub)

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
    p.add_argument("--json", action="store_true", help="print the gate's outcome as JSON on stdout")
    p.set_defaults(func=_cmd_gate)
    add_study_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns an exit code of :class:`geomclaims.cli_common.Exit` (argparse's usage errors exit 2)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ClaimFileError, PluginError, FileNotFoundError, ValueError) as exc:
        print(f"geomclaims: error: {exc}", file=sys.stderr)
        return Exit.USAGE
    except KeyError as exc:  # str(KeyError) adds quotes around the message
        print(f"geomclaims: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return Exit.USAGE
    except OSError as exc:  # disk full, read-only or unwritable paths: one line, no traceback
        print(f"geomclaims: error: {exc}", file=sys.stderr)
        return Exit.USAGE
    except KeyboardInterrupt:  # outside a run's loop (loading, rendering): nothing judged is at stake
        print("geomclaims: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
