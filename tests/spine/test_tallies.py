"""The tallies a reader can rebuild: a short independent count from results.json must equal the report's, and no
claim may be expected to replicate while its measurement's strongest control says otherwise."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from geomclaims.claims import load_all
from geomclaims.tallies import COLUMNS, tally_rows

ROOT = Path(__file__).resolve().parents[2]
BASELINES = [
    p for p in (ROOT / "reports" / "ci" / "results.json", ROOT / "reports" / "full" / "results.json")
]
SCEPTICAL = ["not_replicated", "trivial", "inconclusive", "replicated", "verified"]


def _implied(cond: dict, rule: dict) -> bool:
    """A ci_above/ci_below null the condition already clears (written out again, not imported)."""
    if rule["rule"] not in ("ci_above", "ci_below"):
        return False
    op, c, v = cond["op"], cond["value"], rule["value"]
    if op == "between":
        lo, hi = c
    elif op == "approx":
        tol = max(cond.get("abs") or 0.0, (cond.get("rel") or 0.0) * abs(c))
        lo, hi = c - tol, c + tol
    else:
        lo, hi = (c, float("inf")) if op in (">", ">=") else (float("-inf"), c)
    return lo >= v if rule["rule"] == "ci_above" else hi <= v


def rebuild(entries: list[dict]) -> tuple[Counter, Counter]:
    """(claims, measurements) counted per (paper, kind, column): the rule of geomclaims.tallies in a few lines."""
    parent = {(e["paper"], e["claim_id"]): e.get("same_measurement_as") for e in entries}

    def root(paper: str, cid: str) -> str:
        while parent.get((paper, cid)):
            cid = parent[(paper, cid)]
        return cid

    meas: dict[tuple, list[dict]] = {}
    for e in entries:
        samples = tuple((e.get("measured") or {}).get("samples") or ())
        key = (
            e["paper"],
            root(e["paper"], e["claim_id"]),
            e.get("metric"),
            e["id"][len(e["claim_id"]) :],
            samples,
        )
        meas.setdefault(key, []).append(e)
    claim_cats: dict[tuple, set] = {}
    claim_kinds: dict[tuple, Counter] = {}
    meas_count: Counter = Counter()
    for key, members in meas.items():
        first = members[0]
        controlled = any(
            (m.get("null_rule") is not None and not _implied(m["condition"], m["null_rule"]))
            if "condition" in m
            else m.get("null") is not None
            for m in members
        )
        v, s = first["verdict"], first.get("stability")
        if v in ("not_run", "error"):
            cat = None
        elif v in ("replicated", "verified", "trivial", "not_replicated") and s is not None and s < 0.9:
            cat = "leaning"
        elif v == "replicated" and not controlled:
            cat = "no_control"
        else:
            cat = v
        ckey = key[:3]
        claim_cats.setdefault(ckey, set())
        claim_kinds.setdefault(ckey, Counter()).update(m.get("kind") or "paper" for m in members)
        if cat is not None:
            claim_cats[ckey].add(cat)
    claims: Counter = Counter()
    for ckey, cats in claim_cats.items():
        kind = claim_kinds[ckey].most_common(1)[0][0]
        cat = next(iter(cats)) if len(cats) == 1 else ("not_run" if not cats else "mixed")
        claims[(ckey[0], kind, cat)] += 1
    for key, members in meas.items():
        ckey = key[:3]
        kind = claim_kinds[ckey].most_common(1)[0][0]
        first = members[0]
        if first["verdict"] in ("not_run", "error"):
            meas_count[(key[0], kind, "not_run")] += 1
    return claims, meas_count


def _as_counter(rows: list[list], columns: list[str]) -> Counter:
    out: Counter = Counter()
    for r in rows:
        for i, col in enumerate(columns):
            if r[3 + i]:
                out[(r[0], r[1], col)] = r[3 + i]
    return out


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.parent.name)
def test_a_reader_rebuilds_every_claim_tally_from_results_json(path: Path):
    if not path.exists():
        pytest.skip(f"{path} not committed")
    entries = json.loads(path.read_text())["claims"]
    claim_rows, meas_rows, _ = tally_rows(entries)
    claims, meas_not_run = rebuild(entries)
    assert _as_counter(claim_rows, [*COLUMNS, "mixed", "not_run"]) == claims
    assert Counter({(r[0], r[1], "not_run"): r[-1] for r in meas_rows if r[-1]}) == meas_not_run
    for r in claim_rows:  # counted claims = the sum of the columns, mixed included, not_run apart
        assert r[2] == sum(r[3:-1])


def test_the_rebuild_fails_on_a_swapped_verdict():
    """The rebuild is not a copy of the report's numbers: changing one verdict changes both, identically."""
    entries = [
        {
            "id": "A",
            "claim_id": "A",
            "paper": "p",
            "metric": "m",
            "verdict": "replicated",
            "stability": 1.0,
            "kind": "paper",
            "null": {"name": "n"},
            "measured": {"samples": [1.0, 2.0, 3.0]},
        },
    ]
    before, _ = rebuild(entries)
    entries[0]["verdict"] = "trivial"
    after, _ = rebuild(entries)
    assert before == Counter({("p", "paper", "replicated"): 1}) and after == Counter(
        {("p", "paper", "trivial"): 1}
    )
    assert _as_counter(tally_rows(entries)[0], [*COLUMNS, "mixed", "not_run"]) == after


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.parent.name)
def test_no_claim_expected_to_replicate_while_its_strongest_control_says_otherwise(path: Path):
    """A case expected `replicated` whose own control reads replicated must not share its measurement with a
    control that reads trivial / inconclusive / not_replicated (that control decides: issue #23)."""
    if not path.exists():
        pytest.skip(f"{path} not committed")
    data = json.loads(path.read_text())
    profile = data["profile"]
    cases = {c.case_id: c for pc in load_all().values() for c in pc.cases()}
    entries = data["claims"]
    from geomclaims.measurements import measurement_keys

    keys = measurement_keys(entries)
    own = {e["id"]: (e.get("reading") or {}).get("verdict", e["verdict"]) for e in entries}
    by_key: dict[tuple, list[str]] = {}
    for e in entries:
        by_key.setdefault(keys[e["id"]], []).append(e["id"])
    bad = []
    for e in entries:
        case = cases.get(e["id"])
        if case is None or case.expected(profile).value != "replicated" or own[e["id"]] != "replicated":
            continue
        readings = [own[i] for i in by_key[keys[e["id"]]] if own[i] in SCEPTICAL]
        strongest = min(readings, key=SCEPTICAL.index)
        if strongest != "replicated":
            others = [i for i in by_key[keys[e["id"]]] if own[i] == strongest]
            bad.append(
                f"{e['id']}: expected replicated, strongest control reads {strongest} ({', '.join(others)})"
            )
    assert not bad, "\n".join(bad)
