"""The two-stage CI of ``decision`` with shared-data resamples (``replicates``; issue 25 item 1).

Convention under test (decision module docstring): column r of ``replicates`` is the metric of every seed on the
same resample of the shared data; only a row's deviations from its own mean are used; each bootstrap draw takes
the seeds with replacement and ONE column for the whole draw.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomclaims.claims_schema import Expect, NonFiniteEvidence, NullSpec, Verdict
from geomclaims.decision import BadEvidence, decide, resample_verdicts, summarize
from geomclaims.measurements import decision_entry, rejudge_entry

SEEDS = np.array([1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00])
GT_HALF = Expect(op=">", value=0.5)


def shared_shift(scale: float, r: int = 40) -> np.ndarray:
    """Every seed moved by the same amount in column r: the pool's noise, common to all seeds."""
    c = np.linspace(-scale, scale, r)
    return SEEDS[:, None] + c[None, :]


def test_no_deviation_gives_the_seed_ci() -> None:
    plain = summarize(SEEDS)
    flat = summarize(SEEDS, replicates=SEEDS[:, None] + np.zeros((1, 10)))
    assert flat.value == plain.value
    # Same estimator, different random draws (numpy vs scipy's resampler): equal to bootstrap noise.
    assert flat.ci == pytest.approx(plain.ci, abs=0.005)


def test_a_shared_shift_widens_the_ci_by_its_own_spread() -> None:
    # Identical seeds: the CI is exactly the percentile range of the shared shift, centred on the value.
    same = np.full(8, 2.0)
    c = np.linspace(-1.0, 1.0, 101)
    s = summarize(same, replicates=same[:, None] + c[None, :])
    assert s.value == 2.0
    assert s.ci[0] == pytest.approx(2.0 - 0.95, abs=0.03) and s.ci[1] == pytest.approx(2.0 + 0.95, abs=0.03)


def test_the_column_is_shared_by_the_seeds_of_a_draw() -> None:
    # The same deviations, once common to all seeds and once scrambled across seeds per column. A column drawn per
    # seed would average both away alike; the shared column keeps the common ones (for a mean, their full range)
    # and averages only the scrambled ones.
    same = np.full(8, 1.0)
    c = np.linspace(-0.5, 0.5, 40)
    common = same[:, None] + c[None, :]
    rng = np.random.default_rng(0)
    scrambled = same[:, None] + np.stack([rng.permutation(c) for _ in same])
    w_common = np.ptp(summarize(same, "mean_over_seeds", common).ci)
    w_scrambled = np.ptp(summarize(same, "mean_over_seeds", scrambled).ci)
    assert w_common == pytest.approx(0.95, abs=0.05)  # the shift's own 95% range
    # Averaged over the 8 drawn seeds; a seed drawn twice brings the same value twice: var = sd^2 (2n - 1) / n^2.
    assert w_scrambled == pytest.approx(2 * 1.96 * np.std(c) * np.sqrt(15) / 8, rel=0.1)
    assert w_common > 1.6 * w_scrambled


def test_only_deviations_count_not_the_rows_level() -> None:
    reps = shared_shift(0.3)
    biased = (
        reps - 0.7
    )  # resamples that bias the metric's level (e.g. fewer distinct points) but not its spread
    assert summarize(SEEDS, replicates=reps).ci == pytest.approx(
        summarize(SEEDS, replicates=biased).ci, abs=1e-12
    )
    assert summarize(SEEDS, replicates=biased).value == summarize(SEEDS).value


def test_seed_order_does_not_matter() -> None:
    reps = shared_shift(0.3) + np.random.default_rng(1).normal(0, 0.05, (8, 40))
    perm = np.random.default_rng(2).permutation(8)
    a = decide(SEEDS, GT_HALF, None, None, replicates=reps)
    b = decide(SEEDS[perm], GT_HALF, None, None, replicates=reps[perm])
    assert (a.verdict, a.measured.ci, a.stability) == (b.verdict, b.measured.ci, b.stability)


def test_shared_noise_turns_a_knife_edge_into_inconclusive() -> None:
    # The seeds alone clear 0.5 comfortably; the shared data's noise (+-0.6) does not let the CI clear it.
    assert decide(SEEDS, GT_HALF, None, None).verdict is Verdict.REPLICATED
    wide = decide(SEEDS, GT_HALF, None, None, replicates=shared_shift(0.6))
    assert wide.verdict is Verdict.INCONCLUSIVE
    assert "x 40 shared-data resamples" in wide.explanation
    small = decide(SEEDS, GT_HALF, None, None, replicates=shared_shift(0.1))
    assert small.verdict is Verdict.REPLICATED and small.stability == 1.0


def test_stability_uses_the_two_stage_ci() -> None:
    # The seed CI clears 0.5; with a shared shift of +-0.5 about half the stability resamples do not.
    plain = decide(SEEDS, GT_HALF, None, None)
    edge = decide(SEEDS, GT_HALF, None, None, replicates=shared_shift(0.5))
    assert plain.stability == 1.0
    assert edge.stability is not None and edge.stability < 0.9


@pytest.mark.parametrize(
    ("reps", "match"),
    [
        (np.ones((7, 5)), "7 rows for 8"),
        ([[1.0, 2.0]] * 7 + [[1.0, 2.0, 3.0]], "same number R >= 2"),
        (np.ones((8, 1)), "same number R >= 2"),
        ("12345678", "table of numbers"),
        ([[1.0, True]] * 8, "real numbers"),
    ],
)
def test_bad_replicates_are_clear_errors(reps: object, match: str) -> None:
    with pytest.raises(BadEvidence, match=match):
        summarize(SEEDS, replicates=reps)


def test_non_finite_replicates_never_pass() -> None:
    reps = shared_shift(0.1)
    reps[3, 7] = np.nan
    with pytest.raises(NonFiniteEvidence, match="replicates row"):
        decide(SEEDS, GT_HALF, None, None, replicates=reps)


def test_results_entry_keeps_the_replicates_and_rejudges_identically() -> None:
    rule = NullSpec(name="perm", rule="above_quantile", q=0.95)
    null = np.linspace(0.0, 0.4, 30)
    reps = shared_shift(0.2)
    d = decide(SEEDS, GT_HALF, null, rule, replicates=reps)
    entry = {
        "id": "X1[a]",
        "claim_id": "X1",
        "paper": "x",
        "metric": "m",
        "aggregate": "median_over_seeds",
        "kind": "paper",
        "condition": {"op": ">", "value": 0.5},
        "null_rule": {"name": "perm", "rule": "above_quantile", "q": 0.95},
        **decision_entry(d),
    }
    assert np.asarray(entry["measured"]["replicates"]).shape == (8, 40)
    before = (entry["verdict"], entry["stability"], entry["measured"]["ci"])
    rejudge_entry(entry, "ci")
    assert (entry["verdict"], entry["stability"], entry["measured"]["ci"]) == before
    joint = resample_verdicts(SEEDS, GT_HALF, null, rule, replicates=reps)
    assert np.mean([v is d.verdict for v in joint]) == d.stability


@settings(max_examples=40, deadline=None)
@given(
    shift=st.floats(-50, 50, allow_nan=False),
    scale=st.floats(0.1, 10, allow_nan=False),
    spread=st.floats(0.0, 1.0, allow_nan=False),
)
def test_ci_is_translation_and_scale_equivariant(shift: float, scale: float, spread: float) -> None:
    reps = shared_shift(spread, r=12)
    base = summarize(SEEDS, replicates=reps)
    moved = summarize(SEEDS * scale + shift, replicates=reps * scale + shift)
    assert moved.ci[0] == pytest.approx(base.ci[0] * scale + shift, rel=1e-9, abs=1e-9)
    assert moved.ci[1] == pytest.approx(base.ci[1] * scale + shift, rel=1e-9, abs=1e-9)
    assert base.ci[0] <= base.value <= base.ci[1] or spread > 0
