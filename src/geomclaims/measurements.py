"""One measurement, one verdict: cases that read the same measurement against different controls get the verdict
of the strongest control; and re-judging a results file from its stored samples without re-running experiments.

**What one measurement is.** Cases of claims linked by ``same_measurement_as`` (one root claim), with the same
metric, the same parameters and identical measured samples. Each such case carries one control (its claim's
null); a measurement judged against several controls is written as sibling claims, one null each, so every
control keeps its own row, expected verdict and explanation.

**The verdict.** Every judged case of the measurement (verdicts replicated / verified / trivial / inconclusive /
not_replicated) is one *reading*; the measurement's verdict is :func:`geomclaims.decision.strongest` of the readings
(trivial beats inconclusive beats replicated), and its stability is the share of the stability resamples in which
the strongest reading equals it (the controls are read on the same measured resamples). Every case of the
measurement gets that verdict and stability in ``verdict`` / ``stability`` (so the gate and pytest, which compare
cases, judge the measurement), keeps its own reading in ``reading`` and lists every control's reading in
``controls``. Cases that are untestable, not_run or errored are not readings and keep their verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geomclaims.claims import Expect, NullSpec, Verdict
from geomclaims.decision import Decision, decide, resample_verdicts, strongest

JUDGED = frozenset(v.value for v in Verdict if v not in (Verdict.UNTESTABLE, Verdict.NOT_RUN))


def root_claim(paper: str, cid: str, parent: dict[tuple[str, str], str | None]) -> str:
    """The claim at the end of ``cid``'s ``same_measurement_as`` chain (``parent``: (paper, claim id) -> its link)."""
    seen: set[str] = set()
    while parent.get((paper, cid)) and cid not in seen:
        seen.add(cid)
        cid = parent[(paper, cid)]  # type: ignore[assignment]
    return cid


def case_suffix(case_id: str, claim_id: str) -> str:
    """The parameter part of a case id (``[W_Q]`` of ``E1-x[W_Q]``); the whole id if it does not start with the claim's."""
    return case_id[len(claim_id) :] if case_id.startswith(claim_id) else case_id


def measurement_keys(entries: Iterable[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Case id -> the key of the measurement it reads (equal keys = one measurement)."""
    entries = list(entries)
    parent = {(e["paper"], e["claim_id"]): e.get("same_measurement_as") for e in entries}
    keys: dict[str, tuple[Any, ...]] = {}
    for e in entries:
        m = e.get("measured") or {}
        keys[e["id"]] = (
            e["paper"],
            root_claim(e["paper"], e["claim_id"], parent),
            e.get("metric"),
            case_suffix(str(e["id"]), str(e["claim_id"])),
            tuple(m.get("samples") or ()),
        )
    return keys


def _own_reading(entry: dict[str, Any]) -> dict[str, Any]:
    if "reading" not in entry:
        entry["reading"] = {
            "verdict": entry["verdict"],
            "stability": entry.get("stability"),
            "explanation": entry.get("explanation", ""),
        }
    return entry["reading"]


def expect_of(entry: dict[str, Any]) -> Expect:
    c = entry.get("condition")
    if not isinstance(c, dict):
        raise ValueError(
            f"case {entry.get('id')!r} has no 'condition' (results written before it was recorded); "
            "refresh the case fields from the claims files first (geomclaims gate RESULTS --regen does)"
        )
    value = tuple(c["value"]) if isinstance(c["value"], list) else c["value"]
    return Expect(op=c["op"], value=value, rel=c.get("rel"), abs=c.get("abs"))


def null_of(entry: dict[str, Any]) -> NullSpec | None:
    n = entry.get("null_rule")
    if n is None:
        return None
    return NullSpec(name=n["name"], rule=n["rule"], q=n.get("q"), value=n.get("value"))


def _null_samples(entry: dict[str, Any]) -> list[float] | None:
    n = entry.get("null") or {}
    return n.get("samples") or None


def _joint_stability(members: list[dict[str, Any]], final: Verdict) -> float | None:
    if any(not isinstance(e.get("condition"), dict) for e in members):
        # A case the claims files no longer describe: no rule inputs to resample; the least stable reading
        # that gives the final verdict bounds it (conservative, never a higher stability than a reading had).
        stabs = [e["reading"]["stability"] for e in members if e["reading"]["verdict"] == final.value]
        return None if any(s is None for s in stabs) else min(stabs)
    per_member = [
        resample_verdicts(
            e["measured"]["samples"],
            expect_of(e),
            _null_samples(e),
            null_of(e),
            how=e.get("aggregate", "median_over_seeds"),
            kind=e.get("kind") or "paper",
            replicates=e["measured"].get("replicates"),
        )
        for e in members
    ]
    joint = [strongest(vs) for vs in zip(*per_member, strict=True)]
    return sum(v is final for v in joint) / len(joint)


def judge_group(members: list[dict[str, Any]]) -> None:
    """Give every judged member the measurement's verdict (see the module docstring); in place, idempotent."""
    readings = [(e, _own_reading(e)) for e in members if _own_reading(e)["verdict"] in JUDGED]
    if not readings:
        return
    controls = sorted(
        (
            {
                "case": e["id"],
                "null": (e.get("null_rule") or {}).get("name"),
                "verdict": r["verdict"],
                "stability": r["stability"],
            }
            for e, r in readings
        ),
        key=lambda c: c["case"],
    )
    final = strongest(r["verdict"] for _, r in readings)
    if len(readings) == 1:
        stability = readings[0][1]["stability"]
    else:
        stability = _joint_stability([e for e, _ in readings], final)
    deciding = next(c for c in controls if c["verdict"] == final.value)
    for e, r in readings:
        e["measurement"] = controls[0]["case"]
        e["controls"] = controls
        e["verdict"] = final.value
        e["stability"] = stability
        if r["verdict"] == final.value:
            e["explanation"] = r["explanation"]
        else:
            # A deciding case without a null was decided by the paper condition alone (it fails or straddles it
            # whatever a control shows); naming a control 'None' would misread as a missing field.
            decided_by = (
                f"against the strongest control '{deciding['null']}'"
                if deciding["null"]
                else "on the paper condition alone"
            )
            e["explanation"] = (
                f"{final.value} {decided_by} ({deciding['case']}, same measurement); against its own control: "
                f"{r['explanation']}"
            )


def judge_measurements(entries: list[dict[str, Any]], touching: str | None = None) -> None:
    """Judge every measurement of ``entries`` (or only the one case ``touching`` reads), in place."""
    keys = measurement_keys(entries)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for e in entries:
        groups.setdefault(keys[e["id"]], []).append(e)
    for key, members in groups.items():
        if touching is None or keys.get(touching) == key:
            judge_group(members)


def rejudge_entry(entry: dict[str, Any], profile: str) -> None:
    """Re-decide one case from its stored samples with the rule inputs it records (its own reading only)."""
    if entry.get("verdict") not in JUDGED and (entry.get("reading") or {}).get("verdict") not in JUDGED:
        return  # untestable / not_run / error: nothing was judged (or a precondition was unmet)
    if not isinstance(entry.get("condition"), dict):
        return  # the claims files no longer describe this case: keep its recorded judgement (the gate lists it)
    d = decide(
        entry["measured"]["samples"],
        expect_of(entry),
        _null_samples(entry),
        null_of(entry),
        how=entry.get("aggregate", "median_over_seeds"),
        kind=entry.get("kind") or "paper",
        profile=profile,
        claim_id=entry["id"],
        replicates=entry["measured"].get("replicates"),
    )
    for k in ("reading", "controls", "measurement"):
        entry.pop(k, None)
    entry.update(decision_entry(d, entry.get("null_reason")))


def rejudge(data: dict[str, Any]) -> dict[str, Any]:
    """Re-judge a results dict in place with today's decision rules and the rule inputs its entries record (refresh
    them from the claims files first), then judge the measurements. No experiment is re-run."""
    for entry in data["claims"]:
        rejudge_entry(entry, str(data["profile"]))
    judge_measurements(data["claims"])
    return data


def decision_entry(decision: Decision, null_reason: str | None = None) -> dict[str, Any]:
    m = decision.measured
    null = None
    if decision.null is not None:
        n = decision.null
        null = {
            "name": n.name,
            "median": n.median,
            "q025": n.q025,
            "q975": n.q975,
            "threshold": n.threshold,
            "mwu_p": n.mwu_p,
            "samples": list(n.samples),
        }
    return {
        "verdict": decision.verdict.value,
        "stability": decision.stability,
        "measured": {
            "value": m.value,
            "ci": list(m.ci),
            "se": m.se,
            "n": m.n,
            "samples": list(m.samples),
            **({} if m.replicates is None else {"replicates": [list(r) for r in m.replicates]}),
        },
        "paper_condition_met": decision.paper_condition_met,
        "null": null,
        "null_reason": null_reason,
        "null_condition_met": decision.null_condition_met,
        "null_satisfies_paper": decision.null_satisfies_paper,
        "explanation": decision.explanation,
    }
