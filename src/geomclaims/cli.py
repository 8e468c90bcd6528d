"""Command line: ``geomclaims list | fetch | resources | run | report | gate``.

geomclaims list [--paper P]                      the claims registry as a table
geomclaims fetch [--profile ci] [--list]          prefetch the real models and corpora a profile needs
geomclaims resources                              every registry source: version, sha256, cached, size
geomclaims run [--profile ci] [--paper P] [--claim ID ...] [--device auto] [--out DIR] [--no-cache]
                                                  judge claims and write DIR/results.json + DIR/REPORT.md
geomclaims report RESULTS_JSON [--out DIR]        re-render a report from a results file
geomclaims gate RESULTS_JSON [--baseline PATH] [--regen]
                                                  compare with the committed baseline (exit 1 on a flip/drift)
"""

from __future__ import annotations

import argparse
import sys
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
        f"[geomclaims] {len(fetched)} resources for the {args.profile} profile are in place (sha256-verified):"
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


def _cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from geomclaims.report import render_report
    from geomclaims.runner import Session, latest_dir, resolve_device, select_cases, write_results
    from geomclaims.store import Store

    papers = load_all(args.claims_dir)
    cases = select_cases(papers.values(), paper=args.paper, claim_ids=args.claim)
    if not cases:
        print("no claim cases selected", file=sys.stderr)
        return 2
    session = Session(
        profile=args.profile, store=Store(enabled=not args.no_cache), device=resolve_device(args.device)
    )
    out = Path(args.out) if args.out else latest_dir(args.profile)
    failures = 0
    for case in tqdm(cases, desc=f"claims ({args.profile})", unit="case", file=sys.stderr):
        try:
            entry = session.evaluate(case)
        except Exception as exc:
            if type(exc).__name__ == "ResourceUnavailable":
                print(f"SKIP {case.case_id}: {exc}", file=sys.stderr)
                continue
            if args.keep_going:
                print(f"ERROR {case.case_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
                failures += 1
                continue
            raise
        tqdm.write(
            f"{entry['id']:<40} {entry['verdict']:<15} (expected {entry['expected_verdict']})",
            file=sys.stderr,
        )
    results = session.results()
    write_results(results, out / "results.json")
    report = render_report(results, out, args.claims_dir)
    print(f"results: {out / 'results.json'}\nreport:  {report}")
    unexpected = [
        e["id"]
        for e in results["claims"]
        if e["verdict"] != e["expected_verdict"] and args.profile != "smoke"
    ]
    if unexpected:
        print(f"verdicts differing from the expected ones: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if (failures or unexpected) else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from geomclaims.report import render_report

    out = Path(args.out) if args.out else Path(args.results).parent
    print(render_report(args.results, out, args.claims_dir))
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from geomclaims.gate import compare, format_gate, regen

    if args.regen:
        path = regen(list(args.results), args.baseline)
        print(
            f"baseline rewritten: {path} (and its REPORT.md); commit it with a note on why the numbers moved"
        )
        return 0
    if not Path(args.baseline).exists():
        print(f"baseline not found: {args.baseline} (create it with --regen)", file=sys.stderr)
        return 2
    from geomclaims.runner import merge_results, read_results

    current = merge_results([read_results(p) for p in args.results])
    outcome = compare(current, args.baseline)
    print(format_gate(outcome))
    return 0 if outcome.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geomclaims", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--claims-dir", default=None, help="directory of claims YAML files (default: ./claims)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("--claim", nargs="*", help="claim ids or case ids")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--out", help="output directory (default: reports/<profile>/latest)")
    p.add_argument("--no-cache", action="store_true", help="recompute every experiment")
    p.add_argument("--keep-going", action="store_true", help="record errors and continue with the next case")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="render REPORT.md from a results.json")
    p.add_argument("results")
    p.add_argument("--out", help="output directory (default: next to the results file)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("gate", help="compare results with the committed baseline")
    p.add_argument("results", nargs="+", help="results.json file(s); several disjoint runs are merged")
    p.add_argument("--baseline", default="reports/ci/results.json")
    p.add_argument("--regen", action="store_true", help="rewrite the baseline from RESULTS")
    p.set_defaults(func=_cmd_gate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ClaimFileError, FileNotFoundError, ValueError) as exc:
        print(f"geomclaims: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
