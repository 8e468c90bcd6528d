"""decide(): the CI-based verdict rule (contract v2), property-tested, plus bad-input handling.

Several tests pin cases the old point-estimate rule got wrong (a median next to the threshold, a seed CI touching
0, one seed): each would fail on the old rule.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomclaims.claims import Expect, NonFiniteEvidence, NullSpec, Verdict
from geomclaims.decision import (
    BadEvidence,
    InsufficientRuns,
    bootstrap_ci,
    condition_on_ci,
    decide,
)
from geomclaims.registry import NotRun, Untestable

WIDE_NULL = np.random.default_rng(0).normal(0.0, 50.0, 300)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=3, max_size=12)
null_samples = st.lists(finite, min_size=2, max_size=40)
ops = st.sampled_from([">", ">=", "<", "<="])
rules = st.sampled_from(["below_quantile", "above_quantile"])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(samples, null_samples, finite, ops, rules, st.floats(0.01, 0.99))
def test_truth_table(measured, null, threshold, op, rule, q):
    """The verdict order of the module docstring, checked against the decision's own recorded statistics."""
    expect = Expect(op=op, value=threshold)
    d = decide(measured, expect, null, NullSpec(name="null", rule=rule, q=q))
    lo, hi = d.measured.ci
    assert lo <= hi
    holds = expect.holds(lo) and expect.holds(hi)
    fails = not expect.holds(lo) and not expect.holds(hi)
    assert d.paper_condition_met == (True if holds else (False if fails else None))
    null_arr = np.asarray(null, float)
    assert d.null.threshold == pytest.approx(float(np.quantile(null_arr, q)))
    beyond = hi < d.null.threshold if rule == "below_quantile" else lo > d.null.threshold
    assert d.null_condition_met == (beyond and d.null.mwu_p < 0.05)
    null_meets = np.mean([expect.holds(float(x)) for x in null_arr]) >= 0.9
    assert d.null_satisfies_paper == null_meets
    wrong_side = lo > d.null.median if rule == "below_quantile" else hi < d.null.median
    if fails and null_meets:
        assert d.verdict is Verdict.TRIVIAL
    elif fails:
        assert d.verdict is Verdict.NOT_REPLICATED
    elif not holds:
        assert d.verdict is Verdict.INCONCLUSIVE
    elif null_meets:
        assert d.verdict is Verdict.TRIVIAL
    elif d.null_condition_met:
        assert d.verdict is Verdict.REPLICATED
    elif wrong_side:
        assert d.verdict is Verdict.TRIVIAL
    else:
        assert d.verdict is Verdict.INCONCLUSIVE
    assert 0.0 <= d.stability <= 1.0


def test_failing_measurement_whose_null_meets_the_condition_is_trivial():
    """Issue #24 item 6 (P7-fadd): trained models miss the condition while shuffled labels meet it -> trivial.

    The same measurement against a null that also misses stays not_replicated, so the rule reads the null.
    """
    expect = Expect(op=">", value=0.5)
    measured = [0.36, 0.37, 0.38, 0.39, 0.40]
    rule = NullSpec(name="shuffled", rule="above_quantile", q=0.95)
    aligned_null = np.linspace(0.62, 0.80, 40)
    d = decide(measured, expect, aligned_null, rule)
    assert d.verdict is Verdict.TRIVIAL
    assert "violates" in d.explanation and "meet it" in d.explanation
    missing_null = np.linspace(0.0, 0.3, 40)
    assert decide(measured, expect, missing_null, rule).verdict is Verdict.NOT_REPLICATED


@settings(max_examples=60, deadline=None, derandomize=True)
@given(samples, null_samples, finite, ops, rules, st.randoms(use_true_random=False))
def test_decision_is_invariant_to_sample_order(measured, null, threshold, op, rule, rnd):
    spec = NullSpec(name="null", rule=rule, q=0.5)
    a = decide(measured, Expect(op, threshold), null, spec)
    m2, n2 = list(measured), list(null)
    rnd.shuffle(m2)
    rnd.shuffle(n2)
    b = decide(m2, Expect(op, threshold), n2, spec)
    assert (a.verdict, a.measured.ci, a.measured.se, a.stability, a.null.mwu_p) == (
        b.verdict,
        b.measured.ci,
        b.measured.se,
        b.stability,
        b.null.mwu_p,
    )


@settings(max_examples=100, deadline=None, derandomize=True)
@given(samples, finite, st.sampled_from(["ci_above", "ci_below", None]))
def test_replicated_never_when_the_ci_straddles_the_threshold(measured, threshold, rule):
    spec = None if rule is None else NullSpec("seeds", rule, value=0.0)
    d = decide(measured, Expect(">", threshold), None, spec)
    lo, hi = d.measured.ci
    if lo <= threshold:  # some of the CI does not satisfy "> threshold"
        assert d.verdict is not Verdict.REPLICATED
    if lo <= threshold < hi:  # straddles: part of it does
        assert d.verdict is Verdict.INCONCLUSIVE


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.floats(-1, 1), min_size=5, max_size=8), st.floats(400, 1e4))
def test_shifting_measured_far_beyond_the_null_flips_trivial_to_replicated(noise, shift):
    """Measured on the null's side -> trivial; the same samples shifted far beyond every null draw -> replicated."""
    null = WIDE_NULL  # only ~58% of its draws meet "> -10", so the null does not satisfy the paper by itself
    spec = NullSpec("noise", "above_quantile", q=0.95)
    base = [-5.0 + x for x in noise]
    assert decide(base, Expect(">", -10.0), null, spec).verdict is Verdict.TRIVIAL
    shifted = [b + shift for b in base]
    assert decide(shifted, Expect(">", -10.0), null, spec).verdict is Verdict.REPLICATED


def test_swapped_direction_changes_the_verdict():
    """below_quantile vs above_quantile on the same data: one replicates, the other is trivial."""
    null = WIDE_NULL
    measured = [200.0, 205.0, 199.0, 201.0, 203.0]
    up = decide(measured, Expect(">", -10), null, NullSpec("n", "above_quantile", q=0.95))
    down = decide(measured, Expect(">", -10), null, NullSpec("n", "below_quantile", q=0.05))
    assert up.verdict is Verdict.REPLICATED and down.verdict is Verdict.TRIVIAL
    above = decide(measured, Expect(">", -100), None, NullSpec("s", "ci_above", value=0.0))
    below = decide(measured, Expect(">", -100), None, NullSpec("s", "ci_below", value=0.0))
    assert above.verdict is Verdict.REPLICATED and below.verdict is Verdict.TRIVIAL


def test_median_next_to_threshold_with_straddling_ci_is_inconclusive():
    """Old rule: median 0.52 > 0.5 -> replicated. The CI [0.4x, 0.6x] straddles 0.5 -> inconclusive."""
    measured = [0.41, 0.47, 0.52, 0.55, 0.63]
    d = decide(measured, Expect(">", 0.5), None, None)
    assert d.measured.value > 0.5 and d.measured.ci[0] < 0.5 < d.measured.ci[1]
    assert d.verdict is Verdict.INCONCLUSIVE and d.paper_condition_met is None
    assert "straddles" in d.explanation


def test_ci_touching_zero_with_ci_above_zero_is_inconclusive():
    """Old rule: CI not clearing 0 -> trivial. A CI that reaches 0 but lies mostly above is not decided."""
    measured = [0.0, 0.2, 0.3, 0.25, 0.4]
    d = decide(measured, Expect(">", -1.0), None, NullSpec("seeds", "ci_above", value=0.0))
    assert d.measured.ci[0] <= 0.0 < d.measured.ci[1]
    assert d.verdict is Verdict.INCONCLUSIVE
    # Decisively not: the whole CI at or below the value.
    neg = decide(
        [-0.3, -0.2, -0.25, -0.1, 0.0], Expect(">", -1.0), None, NullSpec("s", "ci_above", value=0.0)
    )
    assert neg.verdict is Verdict.TRIVIAL


def test_null_median_inside_the_ci_is_never_trivial():
    d = decide(
        [-8.0, -3.0, 0.0, 4.0, 9.0], Expect(">", -10), WIDE_NULL, NullSpec("n", "above_quantile", q=0.95)
    )
    assert d.measured.ci[0] < d.null.median < d.measured.ci[1]
    assert d.verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("profile", ["ci", "full"])
def test_too_few_seeds_under_a_judging_profile_is_an_error(n, profile):
    """Old rule: one seed under ci_above was 'replicated' on a degenerate CI."""
    with pytest.raises(InsufficientRuns, match=rf"claim X1.*n={n}"):
        decide(
            [1.0, 1.1][:n],
            Expect(">", 0),
            None,
            NullSpec("s", "ci_above", value=0.0),
            profile=profile,
            claim_id="X1",
        )


def test_smoke_and_single_are_exempt_from_the_minimum():
    assert decide([1.0], Expect(">", 0), None, None, profile="smoke").verdict is Verdict.REPLICATED
    assert decide([1.0], Expect(">", 0), None, None, how="single").verdict is Verdict.REPLICATED
    with pytest.raises(ValueError, match="exactly one sample"):
        decide([1.0, 2.0, 3.0], Expect(">", 0), None, None, how="single")


def test_verified_kind():
    d = decide([1.0, 1.0, 1.0], Expect("approx", 1.0, abs=1e-9), None, None, kind="verified")
    assert d.verdict is Verdict.VERIFIED and d.stability == 1.0
    assert decide([2.0, 2.0, 2.0], Expect("approx", 1.0, abs=1e-9), None, None, kind="verified").verdict is (
        Verdict.NOT_REPLICATED
    )
    with pytest.raises(ValueError, match="verified"):
        decide([1.0] * 3, Expect(">", 0), [0.0, 0.1], NullSpec("n", "above_quantile", q=0.9), kind="verified")


def test_random_subspace_example_is_trivial():
    """E7's shape: measured rho ~ 0 'confirms' rho < 0.05, but a random subspace gives ~0.0135 too -> trivial."""
    rng = np.random.default_rng(0)
    d = decide(
        [0.004, 0.006, 0.005],
        Expect("<", 0.05),
        np.abs(rng.normal(0.0135, 0.002, 500)),
        NullSpec("random_subspace", "below_quantile", q=0.05),
    )
    assert d.verdict is Verdict.TRIVIAL and d.null_satisfies_paper


def test_permutation_null_centred_on_threshold_is_not_trivial_by_coin_flip():
    rng = np.random.default_rng(1)
    null = rng.normal(0.0, 0.02, 1000)  # Mantel-like, half of it > 0
    d = decide([0.3, 0.35, 0.32], Expect(">", 0.0), null, NullSpec("mantel", "above_quantile", q=0.95))
    assert d.verdict is Verdict.REPLICATED and d.null.mwu_p < 0.05 and d.stability >= 0.9


def test_condition_on_ci_for_intervals():
    lo, hi = np.array([0.9, 0.5, 2.0]), np.array([1.1, 1.5, 3.0])
    holds, fails = condition_on_ci(Expect("approx", 1.0, abs=0.2), lo, hi)
    assert holds.tolist() == [True, False, False] and fails.tolist() == [False, False, True]
    holds, fails = condition_on_ci(Expect("between", (0.0, 1.2)), lo, hi)
    assert holds.tolist() == [True, False, False] and fails.tolist() == [False, False, True]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_never_passes(bad):
    with pytest.raises(NonFiniteEvidence):
        decide([1.0, 2.0, bad], Expect(">", 0), None, None)
    with pytest.raises(NonFiniteEvidence):
        decide([1.0, 2.0, 3.0], Expect(">", 0), [0.0, bad], NullSpec("n", "above_quantile", q=0.95))


@pytest.mark.parametrize(
    "bad",
    [[True, False, True], ["1.0", "2.0", "3.0"], "123", b"123", [b"1", b"2", b"3"], np.ones((3, 4)), 1.5],
    ids=["bools", "strings", "str", "bytes", "bytes-items", "3x4", "scalar"],
)
def test_non_numeric_or_non_1d_evidence_is_an_error(bad):
    with pytest.raises(BadEvidence):
        decide(bad, Expect(">", 0), None, None, profile="smoke")
    with pytest.raises(BadEvidence):
        decide([1.0, 2.0, 3.0], Expect(">", 0), bad, NullSpec("n", "above_quantile", q=0.95))


def test_empty_reasons_are_errors():
    for exc in (Untestable, NotRun):
        with pytest.raises(ValueError, match="non-empty reason"):
            exc("")
        with pytest.raises(ValueError, match="non-empty reason"):
            exc("   ")
        assert str(exc("runs in full")) == "runs in full"


def test_empty_and_missing_null_samples_are_errors():
    with pytest.raises(ValueError, match="no samples"):
        decide([], Expect(">", 0), None, None)
    with pytest.raises(ValueError, match="needs null samples"):
        decide([1.0, 2.0, 3.0], Expect(">", 0), None, NullSpec("n", "above_quantile", q=0.95))


def test_between_and_approx():
    assert Expect("between", (3, 5)).holds(3.0) and Expect("between", (3, 5)).holds(5.0)
    assert not Expect("between", (3, 5)).holds(5.01)
    assert Expect("approx", 1.0, rel=0.1).holds(1.09) and not Expect("approx", 1.0, rel=0.1).holds(1.11)
    assert Expect("approx", 0.0, abs=0.01).holds(-0.01)


def test_bootstrap_is_deterministic_and_degenerate_samples_give_the_value():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    assert bootstrap_ci(x, "median_over_seeds") == bootstrap_ci(x, "median_over_seeds")
    assert bootstrap_ci(x, "median_over_seeds") == bootstrap_ci(x[::-1].copy(), "median_over_seeds")
    assert bootstrap_ci(np.full(5, 2.5), "median_over_seeds") == (2.5, 2.5)
    assert bootstrap_ci(np.array([7.0]), "single") == (7.0, 7.0)


def test_same_inputs_give_bit_identical_decisions():
    null = np.random.default_rng(5).normal(0, 1, 200)
    args = ([0.5, 1.9, 2.2, 1.4, 0.8], Expect(">", 0.0), null, NullSpec("n", "above_quantile", q=0.95))
    assert decide(*args) == decide(*args)


def test_stability_is_low_for_a_knife_edge_and_high_for_a_clear_case():
    clear = decide([2.0, 2.1, 1.9, 2.05, 1.95], Expect(">", 0.0), None, None)
    edge = decide([-0.3, 0.05, 0.1, 0.2, 0.6], Expect(">", 0.0), None, None)
    assert clear.verdict is Verdict.REPLICATED and clear.stability == 1.0
    assert edge.stability < 0.9


def test_a_null_too_small_for_the_rank_test_is_named_as_a_budget_limit():
    """3 seeds vs 3 null runs: the exact one-sided Mann-Whitney p is at least 1/C(6,3) = 0.05, never < 0.05."""
    from geomclaims.decision import MWU_ALPHA, smallest_mwu_p

    assert smallest_mwu_p(3, 3) == pytest.approx(0.05)
    assert smallest_mwu_p(4, 4) < MWU_ALPHA
    d = decide(
        [0.97, 0.975, 0.98],
        Expect(op=">=", value=0.5),
        [0.0, 0.01, -0.01],
        NullSpec(name="shuffled", rule="above_quantile", q=0.95),
        profile="ci",
    )
    assert d.verdict == Verdict.INCONCLUSIVE
    assert "cannot reach p < 0.05" in d.explanation
