"""What the CLI's commands share: exit codes, usage errors, paper names, and ``--json`` output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    """The CLI's exit codes (README's table and ``geomclaims --help`` are built from / checked against these)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    UNEXPECTED = 3
    INTERRUPTED = 130


# One line per code; `geomclaims --help` prints this table and tests/spine/test_cli_docs.py checks the README's.
EXIT_MEANINGS: dict[Exit, str] = {
    Exit.OK: "success: run judged every case as expected; gate passed; list/report/reproduce done",
    Exit.ERROR: "error: a case errored, was skipped (resources unavailable) or nothing was judged (run); "
    "a regression against the baseline (gate)",
    Exit.USAGE: "usage or input error: bad option, unknown paper/claim/verdict, invalid claims or results file, "
    "unwritable --out, missing baseline",
    Exit.UNEXPECTED: "run: every case judged, but some verdicts differ from the expected ones (listed on stderr); "
    "reproduce: the re-derived verdict differs from the recorded one",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); what was judged is written and the same command resumes",
}


def exit_code_table() -> str:
    """The ``--help`` epilog: one line per exit code."""
    return "exit codes:\n" + "\n".join(f"  {int(code):<4} {text}" for code, text in EXIT_MEANINGS.items())


class CliError(Exception):
    """A problem with the command line or the environment, reported as one line (exit 2)."""


def _names(paper_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(name or alias, paper id) for the papers given (those the claims files declare).

    The names come from the study specs (``geomclaims.plugin``: each study's name and aliases); no table of paper
    names is kept here.
    """
    from geomclaims.plugin import paper_names

    ids = set(paper_ids)
    out = [(pid, pid) for pid in sorted(ids)]
    out += [(name, pid) for name, pid in paper_names() if pid in ids and name != pid]
    return out


def resolve_paper(name: str | None, paper_ids: Iterable[str]) -> str | None:
    """The paper id ``name`` (an id or alias, in any case: ``--paper e`` works) stands for; None for None. An
    unknown name is a CliError listing every paper with its aliases."""
    if name is None:
        return None
    names = _names(paper_ids)
    for alias, pid in names:
        if alias.lower() == name.lower():
            return pid
    aliases: dict[str, list[str]] = {}
    for alias, pid in names:
        if alias != pid and alias not in aliases.setdefault(pid, []):
            aliases[pid].append(alias)
    valid = "; ".join(
        f"{pid} ({', '.join(sorted(a, key=len))})" if a else pid for pid, a in sorted(aliases.items())
    )
    raise CliError(f"unknown paper {name!r}; valid names (case-insensitive): {valid or 'none loaded'}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def emit_json(data: Mapping[str, Any] | list[Any]) -> None:
    """Machine-readable output of ``--json``: one JSON document on stdout (human text goes to stderr)."""
    json.dump(data, sys.stdout, indent=1, sort_keys=False, default=str)
    sys.stdout.write("\n")


def say(text: str, as_json: bool) -> None:
    """Human text: stdout normally, stderr under ``--json`` (stdout then holds only the JSON document)."""
    print(text, file=sys.stderr if as_json else sys.stdout)


# Seeds are shifted by K and fed to numpy/torch generators (which take 0 <= seed < 2**63); seeds of the profiles
# are small, so any K up to a million keeps every shifted seed far inside that range.
MAX_SEED_OFFSET = 1_000_000


def seed_offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED_OFFSET:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{MAX_SEED_OFFSET}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value
