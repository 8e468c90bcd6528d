"""decide(): the truth table of verdicts, property-tested over measured/null draws, plus NaN/inf handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomclaims.claims import Expect, NonFiniteEvidence, NullSpec, Verdict, bootstrap_ci, decide

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=12)
null_samples = st.lists(finite, min_size=2, max_size=40)
ops = st.sampled_from([">", ">=", "<", "<="])
rules = st.sampled_from(["below_quantile", "above_quantile"])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(samples, null_samples, finite, ops, rules, st.floats(0.01, 0.99))
def test_truth_table(measured, null, threshold, op, rule, q):
    expect = Expect(op=op, value=threshold)
    spec = NullSpec(name="null", rule=rule, q=q)
    d = decide(measured, expect, null, spec)
    agg = float(np.median(measured))
    paper_ok = expect.holds(agg)
    null_arr = np.asarray(null, float)
    cut = np.quantile(null_arr, q)
    beats = agg < cut if rule == "below_quantile" else agg > cut
    null_meets = np.mean([expect.holds(float(x)) for x in null_arr]) >= 0.9
    assert d.paper_condition_met == paper_ok
    assert d.null_condition_met == beats
    assert d.null_satisfies_paper == null_meets
    if not paper_ok:
        assert d.verdict is Verdict.NOT_REPLICATED
    elif null_meets or not beats:
        assert d.verdict is Verdict.TRIVIAL
    else:
        assert d.verdict is Verdict.REPLICATED
    lo, hi = d.measured.ci
    assert lo <= hi
    assert min(measured) <= d.measured.value <= max(measured)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(samples, finite)
def test_without_null_only_the_paper_condition_counts(measured, threshold):
    d = decide(measured, Expect(">", threshold), None, None)
    expected = Verdict.REPLICATED if np.median(measured) > threshold else Verdict.NOT_REPLICATED
    assert d.verdict is expected and d.null is None and d.null_condition_met is None


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(finite, min_size=2, max_size=12), finite)
def test_ci_rules_use_the_bootstrap_interval(measured, value):
    d_above = decide(measured, Expect(">", -2e6), None, NullSpec("seeds", "ci_above", value=value))
    d_below = decide(measured, Expect(">", -2e6), None, NullSpec("seeds", "ci_below", value=value))
    lo, hi = d_above.measured.ci
    assert d_above.verdict is (Verdict.REPLICATED if lo > value else Verdict.TRIVIAL)
    assert d_below.verdict is (Verdict.REPLICATED if hi < value else Verdict.TRIVIAL)


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
    assert d.verdict is Verdict.REPLICATED


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_never_passes(bad):
    with pytest.raises(NonFiniteEvidence):
        decide([1.0, bad], Expect(">", 0), None, None)
    with pytest.raises(NonFiniteEvidence):
        decide([1.0, 2.0], Expect(">", 0), [0.0, bad], NullSpec("n", "above_quantile", q=0.95))


def test_empty_and_missing_null_samples_are_errors():
    with pytest.raises(ValueError, match="no samples"):
        decide([], Expect(">", 0), None, None)
    with pytest.raises(ValueError, match="needs null samples"):
        decide([1.0], Expect(">", 0), None, NullSpec("n", "above_quantile", q=0.95))


def test_between_and_approx():
    assert Expect("between", (3, 5)).holds(3.0) and Expect("between", (3, 5)).holds(5.0)
    assert not Expect("between", (3, 5)).holds(5.01)
    assert Expect("approx", 1.0, rel=0.1).holds(1.09) and not Expect("approx", 1.0, rel=0.1).holds(1.11)
    assert Expect("approx", 0.0, abs=0.01).holds(-0.01)


def test_bootstrap_is_deterministic_and_contains_the_median_of_constant_samples():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    assert bootstrap_ci(x, "median_over_seeds") == bootstrap_ci(x, "median_over_seeds")
    assert bootstrap_ci(np.full(5, 2.5), "median_over_seeds") == (2.5, 2.5)
    assert bootstrap_ci(np.array([7.0]), "single") == (7.0, 7.0)
