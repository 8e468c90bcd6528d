"""Every null rule can fail: for each rule an input on which the same measurement gets the opposite verdict, a
null the condition implies is recognised as no control, and one measurement read against several controls gets
the verdict of the strongest (issue #23)."""

from __future__ import annotations

import numpy as np
import pytest

from geomclaims.claims import Expect, NullSpec, Verdict
from geomclaims.decision import decide, null_is_implied, strongest
from geomclaims.measurements import judge_measurements

MEASURED = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95, 10.15, 9.85]


@pytest.mark.parametrize(
    ("rule", "expect", "beaten", "not_beaten"),
    [
        # above_quantile: the null far below -> replicated; the null at the same level -> trivial
        ("above_quantile", Expect(">=", 5.0), np.linspace(0, 1, 40), np.linspace(9.5, 10.5, 40)),
        # below_quantile: the measurement must be low (metric negated so the condition holds on both inputs)
        ("below_quantile", Expect("<=", -5.0), np.linspace(-1, 0, 40), np.linspace(-10.5, -9.5, 40)),
    ],
)
def test_quantile_nulls_give_opposite_verdicts_on_two_inputs(rule, expect, beaten, not_beaten):
    spec = NullSpec(name="n", rule=rule, q=0.95 if rule == "above_quantile" else 0.05)
    meas = MEASURED if rule == "above_quantile" else [-x for x in MEASURED]
    assert decide(meas, expect, beaten, spec).verdict is Verdict.REPLICATED
    assert decide(meas, expect, not_beaten, spec).verdict is Verdict.TRIVIAL


@pytest.mark.parametrize(("rule", "sign"), [("ci_above", 1.0), ("ci_below", -1.0)])
def test_ci_nulls_give_opposite_verdicts_when_their_value_is_not_the_condition(rule, sign):
    """Condition 'beyond 5' with a null value of 9.9 (a stricter control): the CI [~9.9, ~10.1] straddles it ->
    not replicated-by-control; with a null value of 0 the same measurement beats it."""
    expect = Expect(">", 5.0) if sign > 0 else Expect("<", -5.0)
    meas = [sign * x for x in MEASURED]
    beaten = NullSpec(name="seeds_ci", rule=rule, value=0.0)
    failing = NullSpec(name="seeds_ci", rule=rule, value=sign * 10.5)
    assert decide(meas, expect, None, beaten).verdict is Verdict.REPLICATED
    assert decide(meas, expect, None, failing).verdict is Verdict.TRIVIAL
    assert not null_is_implied(expect, failing)


def test_a_ci_null_equal_to_the_condition_is_no_control():
    """P4's shape: condition > 1 and null 'seed CI above 1' are one test; chance (0.025) under a >= 0.9
    condition likewise can never fail. A stricter or a quantile null is a control."""
    assert null_is_implied(Expect(">", 1.0), NullSpec("seeds_ci", "ci_above", value=1.0))
    assert null_is_implied(Expect(">=", 0.9), NullSpec("chance", "ci_above", value=0.025))
    assert null_is_implied(Expect("<", 0.0), NullSpec("seeds_ci", "ci_below", value=0.0))
    assert null_is_implied(Expect("between", (3.0, 5.0)), NullSpec("x", "ci_above", value=2.0))
    assert not null_is_implied(Expect(">", 1.0), NullSpec("x", "ci_above", value=1.5))
    assert not null_is_implied(Expect(">", 1.0), NullSpec("x", "ci_below", value=1.0))
    assert not null_is_implied(Expect(">", 1.0), NullSpec("x", "above_quantile", q=0.95))
    assert not null_is_implied(Expect(">", 1.0), None)


def test_strongest_control_wins():
    assert strongest(["replicated", "trivial"]) is Verdict.TRIVIAL
    assert strongest(["replicated", "inconclusive"]) is Verdict.INCONCLUSIVE
    assert strongest(["trivial", "inconclusive"]) is Verdict.TRIVIAL
    assert strongest(["replicated", "replicated"]) is Verdict.REPLICATED
    assert strongest(["not_replicated", "trivial"]) is Verdict.NOT_REPLICATED
    with pytest.raises(ValueError):
        strongest([])


def _entry(cid, null, null_samples, same=None):
    return _entry_of(cid, MEASURED, null, null_samples, same)


def test_one_measurement_two_controls_takes_the_strongest_and_keeps_each_reading():
    """S4's shape: beats a random partition, matched by an untrained gate -> trivial on both cases."""
    a = _entry("S4", NullSpec("random_partition", "above_quantile", q=0.95), np.linspace(0, 1, 40))
    b = _entry(
        "S4-vs-untrained",
        NullSpec("untrained_gate", "above_quantile", q=0.95),
        np.linspace(9.5, 10.5, 40),
        "S4",
    )
    assert (a["verdict"], b["verdict"]) == ("replicated", "trivial")
    entries = [a, b]
    judge_measurements(entries)
    assert [e["verdict"] for e in entries] == ["trivial", "trivial"]
    assert a["reading"]["verdict"] == "replicated" and b["reading"]["verdict"] == "trivial"
    assert sorted(c["null"] for c in a["controls"]) == ["random_partition", "untrained_gate"]
    assert a["stability"] == pytest.approx(1.0) and "strongest control 'untrained_gate'" in a["explanation"]
    judge_measurements(entries)  # idempotent: the own reading is kept, not overwritten by the group verdict
    assert a["reading"]["verdict"] == "replicated" and a["verdict"] == "trivial"


def test_different_samples_are_different_measurements():
    a = _entry("S4", NullSpec("random_partition", "above_quantile", q=0.95), np.linspace(0, 1, 40))
    b = _entry(
        "S4-vs-untrained",
        NullSpec("untrained_gate", "above_quantile", q=0.95),
        np.linspace(9.5, 10.5, 40),
        "S4",
    )
    b["measured"] = {**b["measured"], "samples": [x + 1.0 for x in b["measured"]["samples"]]}
    judge_measurements([a, b])
    assert (a["verdict"], b["verdict"]) == ("replicated", "trivial")


def test_a_session_records_the_measurement_verdict_for_the_pytest_item():
    """The pytest item of the case recorded second asserts the measurement's verdict; the first case's entry is
    updated too, and results() carries it."""
    from geomclaims.runner import Session

    a = _entry("S4", NullSpec("random_partition", "above_quantile", q=0.95), np.linspace(0, 1, 40))
    b = _entry(
        "S4-vs-untrained",
        NullSpec("untrained_gate", "above_quantile", q=0.95),
        np.linspace(9.5, 10.5, 40),
        "S4",
    )
    for e in (a, b):
        e.update(study="fixture", params={}, expected_verdict="trivial")
    session = Session(profile="smoke", progress=False)
    session.planned[b["id"]] = b  # decided by the planning pass, its item not run yet
    assert session.record(a)["verdict"] == "trivial"
    assert session.record(session.planned.pop(b["id"]))["verdict"] == "trivial"
    assert a["reading"]["verdict"] == "replicated"


def _entry_of(cid, samples, null, null_samples, same=None):
    """A results entry for ``samples`` judged against ``null`` (None: a case without a control)."""
    from geomclaims.runner import decision_entry

    d = decide(list(samples), Expect(">=", 5.0), null_samples, null)
    rule = None if null is None else {"name": null.name, "rule": null.rule, "q": null.q, "value": null.value}
    return {
        "id": f"{cid}[m]",
        "claim_id": cid,
        "paper": "p",
        "metric": "ws",
        "kind": "paper",
        "same_measurement_as": same,
        "condition": {"op": ">=", "value": 5.0, "rel": None, "abs": None},
        "aggregate": "median_over_seeds",
        "null_rule": rule,
        **decision_entry(d),
    }


def test_a_measurement_decided_by_a_case_without_a_null_says_so():
    """E6's shape: the case without a control fails the paper condition outright, its sibling with a control reads
    trivial; the sibling's explanation names the paper condition, not a control called 'None'."""
    failing = np.linspace(0.0, 1.0, 8)  # whole CI below the condition >= 5
    shuffled = NullSpec("shuffled_labels", "above_quantile", q=0.95)
    alone = _entry_of("E6", failing, None, None)
    vs_null = _entry_of("E6-vs-shuffled", failing, shuffled, np.linspace(6.0, 7.0, 40), same="E6")
    assert (alone["verdict"], vs_null["verdict"]) == ("not_replicated", "trivial")
    judge_measurements([alone, vs_null])
    assert alone["verdict"] == vs_null["verdict"] == "not_replicated"
    assert "on the paper condition alone (E6[m], same measurement)" in vs_null["explanation"]
    assert "'None'" not in vs_null["explanation"]
    assert alone["explanation"].startswith("not replicated")  # decided by its own reading: unchanged
