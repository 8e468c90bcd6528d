"""Counting honestly: the per-paper tallies of claims and of independent measurements, from a results file.

**Units.** A *measurement* is what :mod:`geomclaims.measurements` groups (cases of linked claims with the same
metric, parameters and samples; each carries the verdict of its strongest control). A *claim* is a root claim of
``same_measurement_as`` links together with its siblings that read the same metric (e.g. S3-dim-spread-code and
S3-dim-spread-vs-gaussian-code are one claim read against two controls; P6 linked to P2's run but reading another
metric is its own claim).

**Category of a measurement** (its final verdict, then):
``not_run`` / ``error`` are not verdicts: not counted and never make a claim mixed; ``untestable`` stays;
a decisive verdict (replicated / verified / trivial / not_replicated) with stability below ``STABLE`` (0.9) is
``leaning`` (shown, not counted as decisive); ``replicated`` without a real control is ``no_control`` (a claim
whose null is ``none`` and is not ``kind: verified``, or whose ``ci_above``/``ci_below`` null the condition already
implies, :func:`geomclaims.decision.null_is_implied`); otherwise the verdict.

**Category of a claim**: the one category all its counted measurements share, ``mixed`` when they differ,
``not_run`` when none was counted. Rows are per paper and per claim kind (paper / extension / verified), so
extensions and identities are never counted as paper replications.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from geomclaims.decision import STABLE, null_is_implied
from geomclaims.measurements import expect_of, measurement_keys, null_of

COLUMNS: tuple[str, ...] = (
    "replicated",
    "not_replicated",
    "trivial",
    "inconclusive",
    "untestable",
    "verified",
    "no_control",
    "leaning",
)
_DECISIVE = frozenset({"replicated", "verified", "trivial", "not_replicated"})
_NOT_COUNTED = frozenset({"not_run", "error"})


def has_control(entry: dict[str, Any]) -> bool:
    """The case was compared with a control that can fail (see the module docstring)."""
    if entry.get("null_rule") is None:
        # results written before rule inputs were recorded: a recorded null is a control
        return entry.get("null") is not None and "condition" not in entry
    if "condition" not in entry:
        return True
    return not null_is_implied(expect_of(entry), null_of(entry))


def category(entry: dict[str, Any], controlled: bool) -> str | None:
    """The tally column of a measurement from one of its cases (all share the verdict); None = not counted."""
    v = entry["verdict"]
    if v in _NOT_COUNTED:
        return None
    s = entry.get("stability")
    if v in _DECISIVE and s is not None and s < STABLE:
        return "leaning"
    if v == "replicated" and not controlled:
        return "no_control"
    return v


def claim_key(entry: dict[str, Any], root: str) -> tuple[str, str, str]:
    return (entry["paper"], root, str(entry.get("metric")))


def measurements(entries: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Measurement key -> its cases."""
    keys = measurement_keys(entries)
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault(keys[e["id"]], []).append(e)
    return out


def claims(entries: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Claim key -> {"ids": member claim ids, "kind", "categories": Counter over its measurements, "category"}."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (paper, root, metric, _suffix, _samples), members in measurements(entries).items():
        c = out.setdefault(
            (paper, root, str(metric)), {"ids": set(), "kinds": Counter(), "categories": Counter()}
        )
        c["ids"].update(e["claim_id"] for e in members)
        c["kinds"].update(e.get("kind") or "paper" for e in members)
        cat = category(members[0], any(has_control(e) for e in members))
        if cat is not None:
            c["categories"][cat] += 1
    for c in out.values():
        c["kind"] = c["kinds"].most_common(1)[0][0]
        cats = list(c["categories"])
        c["category"] = cats[0] if len(cats) == 1 else ("not_run" if not cats else "mixed")
    return out


def tally_rows(entries: list[dict[str, Any]]) -> tuple[list[list[Any]], list[list[Any]], list[str]]:
    """(claim rows, measurement rows, mixed-claim lines) per paper and kind.

    Claim row: paper, kind, claims counted, one count per column of ``COLUMNS``, mixed, not run.
    Measurement row: paper, kind, measurements counted, one count per column, not run."""
    from geomclaims.runner import natural_key

    by_claim = claims(entries)
    claim_rows: list[list[Any]] = []
    meas_rows: list[list[Any]] = []
    mixed_lines: list[str] = []
    papers = sorted({p for p, _, _ in by_claim})
    for paper in papers:
        for kind in ("paper", "extension", "verified"):
            mine = {k: c for k, c in by_claim.items() if k[0] == paper and c["kind"] == kind}
            if not mine:
                continue
            cats = Counter(c["category"] for c in mine.values())
            counted = sum(n for cat, n in cats.items() if cat != "not_run")
            claim_rows.append(
                [paper, kind, counted, *[cats.get(col, 0) for col in COLUMNS], cats["mixed"], cats["not_run"]]
            )
            per_meas: Counter[str] = sum((c["categories"] for c in mine.values()), Counter())
            n_meas = sum(per_meas.values())
            not_run_meas = _not_run_measurements(entries, paper, kind, by_claim)
            meas_rows.append([paper, kind, n_meas, *[per_meas.get(col, 0) for col in COLUMNS], not_run_meas])
            for c in sorted(mine.values(), key=lambda c: natural_key(min(c["ids"]))):
                if c["category"] == "mixed":
                    spelled = " / ".join(f"{n} {cat}" for cat, n in sorted(c["categories"].items()))
                    ids = " + ".join(sorted(c["ids"], key=natural_key))
                    mixed_lines.append(f"- `{paper}` **{ids}** ({kind}): {spelled} (measurements)")
    return claim_rows, meas_rows, mixed_lines


def _not_run_measurements(
    entries: list[dict[str, Any]], paper: str, kind: str, by_claim: dict[tuple[str, str, str], dict[str, Any]]
) -> int:
    n = 0
    for (p, root, metric, _s, _x), members in measurements(entries).items():
        if p == paper and by_claim[(p, root, str(metric))]["kind"] == kind:
            n += all(e["verdict"] in _NOT_COUNTED for e in members)
    return n


def headline(entries: list[dict[str, Any]]) -> list[str]:
    """One line per paper: replicated paper claims out of counted paper claims, and the same for measurements."""
    claim_rows, meas_rows, _ = tally_rows(entries)
    lines = []
    for crow, mrow in zip(claim_rows, meas_rows, strict=True):
        if crow[1] != "paper":
            continue
        rest = [r for r in claim_rows if r[0] == crow[0] and r[1] != "paper"]
        apart = "; ".join(f"{r[2]} {r[1]} claim(s) counted apart" for r in rest)
        lines.append(
            f"- `{crow[0]}`: **{crow[2 + 1]}/{crow[2]} paper claims replicated** against their strongest control "
            f"(independent measurements: {mrow[3]}/{mrow[2]}); "
            + ", ".join(
                f"{crow[3 + i]} {col.replace('_', ' ')}" for i, col in enumerate(COLUMNS) if i and crow[3 + i]
            )
            + (f", {crow[-2]} mixed" if crow[-2] else "")
            + (f"; {apart}" if apart else "")
        )
    return lines
