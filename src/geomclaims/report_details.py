"""The report's details for one paper: every claim with its statement, cases and each control's reading (folded),
and the verdict notes written once per cause with the cases they apply to.

**Grouping notes.** Many cases share a note that differs only in numbers or quoted names (the measured accuracy of
an untestable case, the model a not-run case needs). A note's *template* replaces every number, every quoted
name and every case id with a slot; cases whose notes share a template are one group, written once with its case
count, and the slot values that differ between cases are listed compactly next to the cases that have them. A template whose
cases differ in more than :data:`MAX_VARYING` slots is a different text per case in substance, so those cases
are grouped by their exact text instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from geomclaims.claims_schema import PENDING, differs_from_expected
from geomclaims.report_md import escape, fmt, fold
from geomclaims.report_summary import VERDICT_MARK, deciding, null_reading

# A case id (S3-dim-spread-text[minilm-l6-text]), a quoted name without spaces ('gemma3-270m'; an apostrophe as
# in "paper's" never opens one), or a number not inside an identifier (qwen2.5, E1, W_K stay).
_SLOT = re.compile(r"[A-Za-z][\w.-]*\[[^\]\s]*\]|'[^'\s]*'|(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)")
_SLOT_MARK = "…"
MAX_VARYING = 3
# The runner appends what an untestable case's measurement would have given; the case line shows that reading.
_HAD = " [measurement had: "


def case_label(entry: dict[str, Any]) -> str:
    """The case's parameters as ``k=v`` (a column of the case, not a bracket suffix of its id)."""
    params = entry.get("params") or {}
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "single case"


def compact_ids(entries: Iterable[dict[str, Any]]) -> str:
    """Case ids grouped by claim: ``E1-paper-variant[W_K, W_O]``, ``E6-commutator-persists``."""
    from geomclaims.runner import natural_key

    by_claim: dict[str, list[str]] = {}
    unique = {e["id"]: e for e in entries}  # a case with the same note twice is listed once
    for e in sorted(unique.values(), key=lambda e: natural_key(e["id"])):
        suffix = (
            str(e["id"])[len(str(e["claim_id"])) :] if str(e["id"]).startswith(str(e["claim_id"])) else ""
        )
        by_claim.setdefault(str(e["claim_id"]), []).append(suffix.strip("[]"))
    parts = []
    for cid, suffixes in by_claim.items():
        shown = [s for s in suffixes if s]
        parts.append(f"`{cid}`" + (f"[{', '.join(shown)}]" if shown else ""))
    return ", ".join(parts)


def _template(text: str) -> tuple[str, tuple[str, ...]]:
    values = tuple(m.group(0) for m in _SLOT.finditer(text))
    return _SLOT.sub("\x00", text), values


def group_notes(items: list[tuple[dict[str, Any], str]], max_varying: int | None = MAX_VARYING) -> list[str]:
    """``(case, note)`` pairs -> one markdown bullet per cause (see the module docstring), largest groups first.
    ``max_varying=None`` groups every note by its template however many slots differ (the decision's own
    explanations, whose numbers the claim details show per case)."""
    from geomclaims.runner import natural_key

    by_template: dict[str, list[tuple[dict[str, Any], tuple[str, ...], str]]] = {}
    for entry, note in items:
        note = escape(note)
        if not note:
            continue
        template, values = _template(note)
        by_template.setdefault(template, []).append((entry, values, note))
    groups: list[tuple[str, list[tuple[dict[str, Any], tuple[str, ...], str]]]] = []
    for template, members in by_template.items():
        varying = [i for i in range(len(members[0][1])) if len({m[1][i] for m in members}) > 1]
        if max_varying is not None and len(varying) > max_varying:
            # different notes in substance: one group per exact text
            exact: dict[str, list[tuple[dict[str, Any], tuple[str, ...], str]]] = {}
            for m in members:
                exact.setdefault(m[2], []).append(m)
            groups += [(t, ms) for t, ms in exact.items()]
        else:
            groups.append((template, members))
    lines = []
    for template, members in sorted(
        groups, key=lambda g: (-len({m[0]["id"] for m in g[1]}), natural_key(g[1][0][0]["id"]))
    ):
        lines.append(_group_line(template, members))
    return lines


def _group_line(template: str, members: list[tuple[dict[str, Any], tuple[str, ...], str]]) -> str:
    pieces = template.split("\x00")
    first = members[0][1]
    varying = [i for i in range(len(first)) if len({m[1][i] for m in members}) > 1]
    text = pieces[0]
    for i, piece in enumerate(pieces[1:]):
        text += (_SLOT_MARK if i in varying else first[i]) + piece
    n = len({m[0]["id"] for m in members})
    head = f"- **{n} case{'s' if n > 1 else ''}**: {text}"
    if not varying:
        return f"{head} — {compact_ids(m[0] for m in members)}"
    if len(varying) > MAX_VARYING:
        return (
            f"{head} — {compact_ids(m[0] for m in members)} (the numbers per case are in the claim details)"
        )
    by_values: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for entry, values, _ in members:
        by_values.setdefault(tuple(values[i] for i in varying), []).append(entry)
    listed = "; ".join(f"{' / '.join(v)}: {compact_ids(es)}" for v, es in by_values.items())
    return f"{head} — {_SLOT_MARK} = {listed}"


def _cause(entry: dict[str, Any]) -> str:
    return str(entry.get("explanation", "")).split(_HAD, 1)[0]


def _had(entry: dict[str, Any]) -> str | None:
    """The verdict the measurement of an untestable case would have had."""
    text = str(entry.get("explanation", ""))
    if _HAD not in text:
        return None
    return text.split(_HAD, 1)[1].split(":", 1)[0].strip()


def preconditions_text(entry: dict[str, Any]) -> str:
    """``metric op value: measured ✓/✗`` per validity precondition of the case."""
    parts = []
    for p in entry.get("preconditions") or []:
        value = p["value"]
        req = f"[{fmt(value[0])}, {fmt(value[1])}]" if isinstance(value, list) else fmt(value)
        parts.append(f"{p['metric']} {p['op']} {req}: {fmt(p['measured'])} {'✓' if p['met'] else '✗'}")
    return "; ".join(parts)


def _verdict_text(entry: dict[str, Any]) -> str:
    v = entry["verdict"]
    text = VERDICT_MARK.get(v, v)
    had = _had(entry)
    if had:
        text += f" (measurement: {had})"
    if differs_from_expected(entry):
        text += f" (expected {entry['expected_verdict']})"
    elif entry.get("expected_verdict") == PENDING:
        text += " (expectation pending: first run of this case in this profile)"
    s = entry.get("stability")
    return text + (f", stability {s:.2f}" if s is not None else "")


def measurement_text(members: list[dict[str, Any]], shared: set[str]) -> str:
    """One measurement: its case parameters, value [CI] (n), each control's reading, preconditions, verdict.
    ``shared`` holds what the claim line already states once for every case ("requires", "control")."""
    e = members[0]
    text = f"*{case_label(e)}*: "
    m = next((x["measured"] for x in members if x.get("measured")), None)
    if m:
        text += f"{fmt(m['value'])} [{fmt(m['ci'][0])}, {fmt(m['ci'][1])}] (n={m['n']}"
        # A two-stage CI (decision module: seeds, then one shared-data resample per draw) says so.
        text += f" x {len(m['replicates'][0])} shared-data resamples)" if m.get("replicates") else ")"
    else:
        text += "no measurement"

    def requires(x: dict[str, Any]) -> str:
        pre = preconditions_text(x)
        return f" (requires {pre})" if pre and "requires" not in shared else ""

    if e["verdict"] not in ("not_run", "error") and m:
        if len(members) == 1:
            if "control" not in shared:
                text += f"; control {null_reading(e)}" if e.get("null") else f"; {null_reading(e)}"
            text += requires(e)
        else:
            strongest = deciding(members)["id"]
            readings = []
            for x in members:
                own = (x.get("reading") or {}).get("verdict") or x["verdict"]
                mark = " (strongest)" if x["id"] == strongest else ""
                readings.append(f"{null_reading(x)}{requires(x)}: {own.replace('_', ' ')}{mark}")
            text += "; controls " + "; ".join(readings)
    else:
        text += requires(e)
    return text + f" → {_verdict_text(e)}"


def claim_bullet(group: dict[str, Any]) -> str:
    """One line per claim: statements (root first, then each sibling control), the paper's value, the condition,
    shared preconditions, then every measurement (case) with each control's reading."""
    from geomclaims.runner import natural_key

    cases = [e for m in group["measurements"] for e in m]
    by_id: dict[str, dict[str, Any]] = {}
    for e in sorted(cases, key=lambda e: natural_key(e["id"])):
        by_id.setdefault(e["claim_id"], e)
    root = by_id[group["ids"][0]]
    text = f"- **`{root['claim_id']}`** ({escape(root['section'])}; {group['kind']}): {escape(root['statement'])}"
    for cid in group["ids"][1:]:
        text += f" *Control `{cid}`:* {escape(by_id[cid]['statement'])}"
    if root.get("paper_value"):
        text += f" *Paper:* {escape(root['paper_value'])}."
    text += f" *Condition:* {escape(root.get('metric', ''))} {escape(root.get('expect', ''))}."
    ran = [e for e in cases if e["verdict"] not in ("not_run", "error")]
    shared: set[str] = set()
    pres = {preconditions_text(e) for e in ran}
    if len(pres) == 1 and next(iter(pres)):
        shared.add("requires")
        text += f" *Requires:* {next(iter(pres))}."
    # a claim without a null says why once (identities, estimator checks), not once per case
    reasons = {null_reading(e) for e in ran if not e.get("null")}
    if ran and len(reasons) == 1 and all(not e.get("null") for e in ran):
        shared.add("control")
        text += f" *Control:* {next(iter(reasons))}."
    judged = [m for m in group["measurements"] if m[0]["verdict"] != "not_run"]
    if judged:
        text += " *Cases:* " + " · ".join(measurement_text(m, shared) for m in judged)
    not_run = len(group["measurements"]) - len(judged)
    if not_run:
        text += f" ({not_run} not run: see the notes)"
    # Why the claims file expects the verdicts other than replicated: in the claim's own line (it explains this
    # claim), each distinct reason once.
    expected = [
        e.get("expected_reason") or "" for e in cases if e["verdict"] not in ("replicated", "verified")
    ]
    expected = list(dict.fromkeys(r.strip() for r in expected if r.strip()))
    if expected:
        text += " *Why this verdict is expected:* " + " / ".join(escape(r) for r in expected)
    # One line: YAML folded strings (a `why` of a precondition, a reason) end in a newline that would split the bullet.
    return " ".join(text.split())


def _notes_block(title: str, lines: list[str]) -> list[str]:
    return ["", f"**{title}**", "", *lines] if lines else []


def details_lines(
    groups: list[dict[str, Any]], entries: list[dict[str, Any]], section: Callable[[], str] | None
) -> list[str]:
    """The details of one paper: the claims (folded), notes grouped by cause, and the study's own section."""
    out = fold(
        f"Every claim: statement, paper value, condition, and each case with every control's reading "
        f"({len(groups)} claims, {len(entries)} cases)",
        [claim_bullet(g) for g in groups],
    )
    pending = [e for e in entries if e["verdict"] not in ("replicated", "verified")]
    out += _notes_block(
        "Causes of the verdicts other than replicated (one line per cause; … = the value that differs between cases)",
        group_notes([(e, _cause(e)) for e in pending], max_varying=None),
    )
    out += _notes_block("Notes", group_notes([(e, n) for e in entries for n in e.get("notes") or []]))
    if section is not None:
        text = section().rstrip()
        if text:
            out += ["", text]
    return out
