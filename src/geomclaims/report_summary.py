"""The report's summary: per paper one row per claim (not per case) and one figure counting claims by verdict.

A *claim* and its verdict are those of :mod:`geomclaims.tallies` (a root claim with the siblings that read its
measurement against other controls; its category over its counted measurements), so the table and the tallies
cannot disagree. Cells stay short (:data:`geomclaims.report_md.CELL`); the statement, every case and every
control's reading are in the details section (:mod:`geomclaims.report_details`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geomclaims.claims_schema import differs_from_expected
from geomclaims.report_md import CELL, cap, fmt, table

VERDICT_MARK = {
    "replicated": "✅ replicated",
    "verified": "☑️ verified",
    "trivial": "⚪ trivial",
    "inconclusive": "❔ inconclusive",
    "not_replicated": "❌ not replicated",
    "untestable": "⛔ untestable",
    "not_run": "⏭️ not run",
    "error": "💥 error",
    "no_control": "🔲 replicated, no control",
    "leaning": "〰️ leaning",
    "mixed": "🔀 mixed",
}
CATEGORY_COLOR = {
    "replicated": "#2e7d32",
    "verified": "#1565c0",
    "trivial": "#9e9e9e",
    "inconclusive": "#f9a825",
    "not_replicated": "#c62828",
    "untestable": "#6d4c41",
    "not_run": "#cfd8dc",
    "no_control": "#90caf9",
    "leaning": "#ffe082",
    "mixed": "#8e24aa",
}
# Short category names for a mixed claim whose spelled-out breakdown would not fit its cell.
SHORT = {
    "replicated": "rep.",
    "not_replicated": "not rep.",
    "inconclusive": "inconcl.",
    "untestable": "untest.",
    "no_control": "no ctrl",
}
_NOT_COUNTED = frozenset({"not_run", "error"})
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def claim_groups(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims of ``entries`` as :func:`geomclaims.tallies.claims` counts them, each with its measurements
    (lists of cases, sorted), in the natural order of their root claim id."""
    from geomclaims.runner import natural_key
    from geomclaims.tallies import claims, measurements

    by_claim = claims(entries)
    meas: dict[tuple[str, str, str], list[list[dict[str, Any]]]] = {}
    for key, members in measurements(entries).items():
        members = sorted(members, key=lambda e: natural_key(e["id"]))
        meas.setdefault((key[0], key[1], str(key[2])), []).append(members)
    out = []
    for key, c in by_claim.items():
        ms = sorted(meas[key], key=lambda m: natural_key(m[0]["id"]))
        root = key[1]
        ids = sorted(c["ids"], key=lambda i: (i != root, natural_key(i)))
        out.append({**c, "paper": key[0], "root": root, "ids": ids, "measurements": ms})
    return sorted(out, key=lambda c: (c["paper"], natural_key(c["root"])))


def _counted(group: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [m for m in group["measurements"] if m[0]["verdict"] not in _NOT_COUNTED]


def verdict_cell(group: dict[str, Any]) -> str:
    """The claim's category; a mixed claim spells its measurements' categories; not-run and errored measurements
    are named but never make a claim mixed (a claim with only errored ones reads ``error``, not ``not run``)."""
    cat = group["category"]
    text = VERDICT_MARK.get(cat, cat)
    if cat == "mixed":
        parts = sorted(group["categories"].items(), key=lambda kv: (-kv[1], kv[0]))
        spelled = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in parts)
        if len(spelled) > CELL - 12:  # keep every category readable rather than cut the last one
            spelled = ", ".join(f"{n} {SHORT.get(k, k)}" for k, n in parts)
        text += ": " + spelled
    elif cat == "leaning":
        v = _counted(group)[0][0]["verdict"]
        text += f" {v.replace('_', ' ')}"
    left_out = Counter(m[0]["verdict"] for m in group["measurements"] if m[0]["verdict"] in _NOT_COUNTED)
    if cat == "not_run" and left_out["error"] and not left_out["not_run"]:
        text = VERDICT_MARK["error"]  # nothing ran to the end: an error, not a deferral to another profile
    extra = [f"+{left_out[v]} {v.replace('_', ' ')}" for v in ("not_run", "error") if left_out[v]]
    if extra and cat != "not_run":
        text += f" ({', '.join(extra)})"
    cases = [e for m in group["measurements"] for e in m]
    if any(differs_from_expected(e) for e in cases):
        text += " ⚠ unexpected"
    return cap(text)


def _measured(members: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e["measured"] for e in members if e.get("measured")), None)


def measured_cell(group: dict[str, Any]) -> str:
    """One measurement: value [CI]; several: the range of their values and how many."""
    values = [m for m in (_measured(ms) for ms in _counted(group)) if m]
    if not values:
        return "—"
    if len(values) == 1:
        m = values[0]
        return cap(f"{fmt(m['value'])} [{fmt(m['ci'][0])}, {fmt(m['ci'][1])}]")
    return cap(f"{span(m['value'] for m in values)} ({len(values)} cases)")


def span(values: Iterable[float]) -> str:
    """``lo to hi``, or the one value when they agree at the shown precision."""
    vs = list(values)
    lo, hi = fmt(min(vs)), fmt(max(vs))
    return lo if lo == hi else f"{lo} to {hi}"


def deciding(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The case whose control gave the measurement its verdict (the strongest control)."""
    final = members[0]["verdict"]
    own = [e for e in members if ((e.get("reading") or {}).get("verdict") or e["verdict"]) == final]
    return (own or members)[0]


def null_reading(entry: dict[str, Any]) -> str:
    n = entry.get("null")
    if not n:
        reason = entry.get("null_reason")
        return f"none: {reason}" if reason else "no control"
    if n.get("q025") is None:
        return f"{n['name']}: CI vs {fmt(n['median'])}"
    return f"{n['name']} {fmt(n['median'])} [{fmt(n['q025'])}, {fmt(n['q975'])}]"


def control_cell(group: dict[str, Any]) -> str:
    """The strongest control's reading: one measurement its null [2.5%, 97.5%]; several the control's name and
    the range of its medians."""
    ms = _counted(group)
    if not ms:
        return "—"
    cases = [deciding(m) for m in ms]
    n_controls = max(len(m) for m in ms)
    more = f" (strongest of {n_controls})" if n_controls > 1 else ""
    if len(cases) == 1:
        return cap(null_reading(cases[0]) + more)
    nulls = [e["null"] for e in cases if e.get("null")]
    if not nulls:
        return cap(null_reading(cases[0]))
    names = sorted({n["name"] for n in nulls})
    medians = [n["median"] for n in nulls if n.get("median") is not None]
    spread = f" {span(medians)}" if medians else ""
    return cap(" / ".join(names) + spread + more)


def stability_cell(group: dict[str, Any]) -> str:
    """The least stable counted measurement (a claim is as firm as its weakest reading)."""
    values = [m[0].get("stability") for m in _counted(group)]
    values = [s for s in values if s is not None]
    if not values:
        return "—"
    return f"{min(values):.2f}" if len(values) == 1 else f"min {min(values):.2f}"


def condition_cell(group: dict[str, Any]) -> str:
    e = group["measurements"][0][0]
    return cap(f"{e.get('metric', '')} {e.get('expect', '')}")


def claim_name(group: dict[str, Any]) -> str:
    """The root claim id, and its sibling controls' ids when they fit (else how many there are)."""
    name = " + ".join(group["ids"])
    if len(name) > CELL - 2 and len(group["ids"]) > 1:
        n = len(group["ids"]) - 1
        name = f"{group['ids'][0]} (+{n} control{'s' if n > 1 else ''})"
    return cap(name)


def claim_table(groups: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"`{claim_name(g)}`",
            g["kind"],
            verdict_cell(g),
            measured_cell(g),
            condition_cell(g),
            control_cell(g),
            stability_cell(g),
        ]
        for g in groups
    ]
    return table(
        rows,
        [
            "claim",
            "kind",
            "verdict",
            "measured [95% CI]",
            "paper's condition",
            "strongest control",
            "stability",
        ],
    )


def paper_figure(paper: str, entries: list[dict[str, Any]], fig_dir: Path) -> str | None:
    """Claims (not cases) of one paper per kind, stacked by tally column (geomclaims.tallies)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from geomclaims.tallies import COLUMNS, tally_rows

    rows = [r for r in tally_rows(entries)[0] if r[0] == paper]
    if not rows:
        return None
    # r[2] counts the claims with a verdict; the last column the claims not run here (drawn, not counted)
    labels = [f"{r[1]} ({r[2]}" + (f" + {r[-1]} not run)" if r[-1] else ")") for r in rows]
    columns = [*COLUMNS, "mixed", "not_run"]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(labels)))
    left = [0] * len(labels)
    for j, col in enumerate(columns):
        counts = [r[3 + j] for r in rows]
        if any(counts):
            ax.barh(labels, counts, left=left, color=CATEGORY_COLOR[col], label=col.replace("_", " "))
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_xlabel(f"{paper}: claims (one verdict per measurement against its strongest control)", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # claims are counted, never fractional
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    ax.invert_yaxis()
    fig.tight_layout()
    fig_dir.mkdir(parents=True, exist_ok=True)
    path = fig_dir / f"summary_{paper}.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return f"figures/{path.name}"


def papers_phrase(n: int) -> str:
    """'the one paper' / 'the three papers' (counted from the results, never assumed)."""
    word = NUMBER_WORDS.get(n, str(n))
    return f"the {word} paper" if n == 1 else f"the {word} papers"


def summary_lines(
    claims: list[dict[str, Any]], titles: dict[str, str], fig_dir: Path
) -> tuple[list[str], list[dict[str, Any]]]:
    """The summary section (through the last per-paper claim table) and the claim groups it shows."""
    from geomclaims.tallies import COLUMNS, headline, tally_rows

    groups = claim_groups(claims)
    papers = sorted({e["paper"] for e in claims})
    lines = [
        f"{len(groups)} claims ({len(claims)} cases) from {papers_phrase(len(papers))} in this run, each measured "
        "here and judged on the 95% seed CI against the paper's condition and against a control "
        "(`docs/DESIGN.md`, Verdicts). A claim's verdict is that of its measurements against their strongest "
        "control; `leaning` = stability < 0.9 (not counted as decisive); `not_run` is not a verdict and never "
        "makes a claim mixed; identities are `verified`, counted apart from replications.",
        "",
        "## Summary",
        "",
        *headline(claims),
        "",
        "**Claims** per paper and kind (extensions and `verified` identities counted apart):",
        "",
        table(tally_rows(claims)[0], ["paper", "kind", "claims", *COLUMNS, "mixed", "not_run"]),
    ]
    for paper in papers:
        mine = [g for g in groups if g["paper"] == paper]
        lines += ["", f"### {titles.get(paper, paper)} (`{paper}`): {len(mine)} claims", ""]
        fig = paper_figure(paper, claims, fig_dir)
        if fig:
            lines += [f"![claims of {paper} by verdict]({fig})", ""]
        lines.append(claim_table(mine))
    return lines, groups
