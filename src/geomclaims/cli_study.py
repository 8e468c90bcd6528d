"""``geomclaims new-study`` and ``geomclaims check-study``: scaffold a study plugin, check studies' contract."""

from __future__ import annotations

import argparse
from typing import Any

from geomclaims.cli_common import Exit


def add_study_parsers(sub: Any) -> None:
    p = sub.add_parser("new-study", help="scaffold an installable study package (docs/ADD_A_PAPER.md)")
    p.add_argument("name", help="study name: lower-case letters, digits, _ (the experiment-key prefix)")
    p.add_argument("--dir", default=".", help="where to create geomclaims-NAME/ (default: here)")
    p.set_defaults(func=_cmd_new_study)

    p = sub.add_parser("check-study", help="check registered studies against the study contract")
    p.add_argument("names", nargs="*", help="study names (default: every registered study)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="also judge every case twice under smoke (same seed, same numbers)",
    )
    p.set_defaults(func=_cmd_check_study)


def _cmd_new_study(args: argparse.Namespace) -> int:
    from geomclaims.scaffold import new_study

    root = new_study(args.name, args.dir)
    print(f"created {root}")
    print(
        f"next: pip install -e {root}  (or put it on sys.path), then `geomclaims check-study {args.name} --smoke`"
    )
    return Exit.OK


def _cmd_check_study(args: argparse.Namespace) -> int:
    from geomclaims.contract import ContractError, check_study
    from geomclaims.registry import study_names

    failed = 0
    for name in args.names or study_names():
        try:
            report = check_study(name, run_smoke=args.smoke)
        except ContractError as exc:
            failed += 1
            print(exc)
            continue
        print(f"{name}: ok ({report.cases} cases; {', '.join(report.checks)})")
        for line in report.no_orientation_check:
            print(f"  not guarded: {line}")
    return Exit.ERROR if failed else Exit.OK
