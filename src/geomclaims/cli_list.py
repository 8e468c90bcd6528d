"""``geomclaims list``: the claims registry, or the cases of a results file with a given verdict."""

from __future__ import annotations

import argparse
from typing import Any

from geomclaims.claims import load_all
from geomclaims.cli_common import emit_json, plural, resolve_paper


def verdict_names() -> list[str]:
    """What ``--verdict`` accepts: the verdict enum, plus ``error`` (a results entry whose evaluation raised)."""
    from geomclaims.claims import Verdict
    from geomclaims.runner import ERROR_VERDICT

    return [v.value for v in Verdict] + [ERROR_VERDICT]


def cmd_list(args: argparse.Namespace) -> int:
    papers = load_all(args.claims_dir)
    paper = resolve_paper(args.paper, papers)
    if args.results:
        return _list_results(args, paper)
    from geomclaims.runner import select_cases

    cases = select_cases(papers.values(), paper=paper)
    if args.verdict:  # without --results: the expected verdict of --profile
        cases = [c for c in cases if c.expectation(args.profile) == args.verdict]
    rows = [
        {
            "case": c.case_id,
            "claim": c.claim.id,
            "paper": c.claim.paper,
            "kind": c.claim.kind,
            "section": c.claim.section,
            "experiment": c.claim.experiment,
            "condition": f"{c.claim.metric} {c.claim.expect.describe()}",
            "null": c.claim.null.name if c.claim.null else "none",
            "expected": c.expectation(args.profile),
        }
        for c in cases
    ]
    listed = sorted({r["paper"] for r in rows})
    if args.json:
        emit_json({"profile": args.profile, "papers": listed, "count": len(rows), "cases": rows})
        return 0
    from tabulate import tabulate

    cols = ["case", "paper", "section", "experiment", "condition", "null", "expected"]
    print(
        tabulate(
            [[r[c] for c in cols] for r in rows],
            headers=[*cols[:-1], f"expected ({args.profile})"],
        )
    )
    # count what is listed (a --paper listing is one paper, not every paper the claims files declare)
    print(f"\n{plural(len(rows), 'claim case')} in {plural(len(listed), 'paper')}")
    return 0


def _list_results(args: argparse.Namespace, paper: str | None) -> int:
    from geomclaims.runner import read_results

    data = read_results(args.results)
    entries = [
        e
        for e in data["claims"]
        if (paper is None or e.get("paper") == paper)
        and (not args.verdict or e.get("verdict") == args.verdict)
    ]
    rows = [_result_row(e) for e in entries]
    if args.json:
        emit_json(
            {
                "results": str(args.results),
                "profile": data["profile"],
                "verdict": args.verdict,
                "count": len(rows),
                "cases": rows,
            }
        )
        return 0
    from tabulate import tabulate

    cols = ["case", "paper", "verdict", "stability", "expected", "measured"]
    print(tabulate([[r[c] for c in cols] for r in rows], headers=cols))
    what = f"with verdict {args.verdict} " if args.verdict else ""
    print(f"\n{plural(len(rows), 'claim case')} {what}in {args.results} ({data['profile']} profile)")
    return 0


def _result_row(e: dict[str, Any]) -> dict[str, Any]:
    m = e.get("measured") or {}
    return {
        "case": e["id"],
        "paper": e.get("paper"),
        "verdict": e.get("verdict"),
        "stability": e.get("stability"),
        "expected": e.get("expected_verdict"),
        "measured": m.get("value"),
        "ci": m.get("ci"),
    }


def add_list_parser(sub: Any, profiles: tuple[str, ...]) -> None:
    p = sub.add_parser("list", help="list claim cases (the registry, or a results file's)")
    p.add_argument("--paper", help="paper id, study name or alias, any case")
    p.add_argument(
        "--profile", choices=profiles, default="ci", help="profile whose expected verdicts to show"
    )
    p.add_argument("--results", metavar="FILE", help="list the cases of this results.json instead")
    p.add_argument(
        "--verdict",
        choices=verdict_names(),
        help="only cases with this verdict (with --results: the judged one; else the expected one)",
    )
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_list)
