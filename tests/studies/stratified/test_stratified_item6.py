"""Issue 25 item 6: the length control (S3/S5), the sparsity-dimension join (S11) and the single-global-manifold
baseline (S12), each read from the ``strata`` runs.

Every evidence reading gets one input where it replicates, one where its control makes it fail, and a test that a
swapped argument or sign changes the asserted numbers. ``ctx.run`` is a fake (``_FakeCtx``), so nothing trains
except the one smoke run that checks the run records the new numbers.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import geomclaims.studies.stratified  # noqa: F401  (registers profiles)
from geomclaims.studies.stratified import experiment as ex
from geomclaims.studies.stratified import strata as st
from geomclaims.studies.stratified import strata_controls as sc
from geomclaims.studies.stratified.data import subset, synthetic_corpus
from geomclaims.studies.stratified.profiles import SETTINGS
from geomclaims.studies.stratified.text_bootstrap import constant_replicates

SPARS = list(SETTINGS["ci"]["moe"]["sparsities"])  # 7 experts, 8..32
N_SEEDS = len(SETTINGS["ci"]["seeds"])
SIZES = np.array([200, 150, 120, 80, 50])  # every stratum >= min_stratum_size (20)


class _FakeCtx:
    """RunContext stand-in: every (model, seed) gets the same small result ``r`` (lists are per seed)."""

    def __init__(self, r: dict[str, Any]) -> None:
        self.profile = "ci"
        self.settings = SETTINGS["ci"]
        self.device = "cpu"
        self._r = r

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        assert name == "strata"
        r = {k: (v[seed] if isinstance(v, list) else v) for k, v in self._r.items()}
        return constant_replicates(r, self.settings["text_bootstrap"])  # no text noise: the seeds' CI


def _case(claim_id: str, method: str = "released-code") -> Any:
    from geomclaims.claims import ClaimCase, load_claims

    paper = load_claims("claims/stratified_manifolds.yaml")
    claim = next(c for c in paper.claims if c.id == claim_id)
    return ClaimCase(claim=claim, params={"model": "minilm-l6", "method": method})


def _run(**over: Any) -> dict[str, Any]:
    """A strata run result with every key the evidence reads; small seed noise so CIs are not degenerate."""
    noise = [0.01 * ((s * 5) % N_SEEDS) for s in range(N_SEEDS)]
    r: dict[str, Any] = {
        "sizes": SIZES,
        "dims": np.array([14.0, 10.0, 8.0, 5.0, 3.0]),
        "ws": np.zeros(5),
        "twonn": np.zeros(5),
        "mle": np.zeros(5),
        "source_by_stratum": np.zeros((5, 6)),
        "source_names": "a,b,c,d,e,f",
        "dim_spread": [11.0 + e for e in noise],
        "nmi": [0.7 + e for e in noise],
        "len_dim_spread": np.array([2.0, 3.0, 4.0]),
        "len_nmi": np.array([0.05, 0.06, 0.07]),
        "length_mean": np.array([300.0, 200.0, 150.0, 90.0, 40.0]),
        "global_dim": 30.0,
        "eq_dim_spread": np.array([1.0, 2.0, 1.0]),
        "heat_strata": _heat_serving([4, 4, 3, 2, 1, 0, 0]),
    }
    r.update(over)
    return r


def _heat_serving(stratum_of_expert: list[int]) -> np.ndarray:
    """(5, 7) mean gate per stratum where expert e's largest mean weight lies in stratum ``stratum_of_expert[e]``."""
    heat = np.full((5, 7), 0.1)
    for e, s in enumerate(stratum_of_expert):
        heat[s, e] = 0.4
    return heat / heat.sum(1, keepdims=True)


def _verdict(claim_id: str, r: dict[str, Any], method: str = "released-code") -> str:
    from geomclaims.decision import decide

    case = _case(claim_id, method)
    ev = ex.strata_evidence(case, _FakeCtx(r))
    c = case.claim
    return decide(
        ev.measured, c.expect, ev.null, c.null, how=c.aggregate, kind=c.kind, profile="ci"
    ).verdict.value


# ------------------------------------------------------------------------------------------------------------
# (a) text length: pseudo-strata that only sort texts by length
# ------------------------------------------------------------------------------------------------------------


def test_length_bins_keep_the_strata_sizes_and_cut_contiguous_length_ranges() -> None:
    rng = np.random.default_rng(0)
    length = rng.integers(5, 500, size=int(SIZES.sum()))
    parts = st.length_bin_partitions(length, SIZES, 6, np.random.default_rng(1))
    assert len(parts) == 6
    for p in parts:
        np.testing.assert_array_equal(np.bincount(p, minlength=5), SIZES)
        # contiguous: the blocks' length ranges do not interleave
        ranges = [(length[p == s].min(), length[p == s].max()) for s in range(5)]
        ranges.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))
    # the size order varies across draws (the only freedom besides ties)
    assert len({tuple(p[np.argsort(length, kind="stable")][[0, -1]]) for p in parts}) > 1
    with pytest.raises(ValueError, match="length"):
        st.length_bin_partitions(length[:-1], SIZES, 1, rng)  # sizes and texts disagree


@pytest.mark.parametrize("method,sfx", [("released-code", "code"), ("text", "text")])
def test_s3_vs_length_replicates_unless_length_blocks_reach_the_spread(method: str, sfx: str) -> None:
    cid = f"S3-dim-spread-vs-length-{sfx}"
    assert _verdict(cid, _run(), method) == "replicated"
    assert _verdict(cid, _run(len_dim_spread=np.array([11.0, 12.0, 13.0])), method) == "trivial"


def test_s3_vs_length_reads_the_length_null_and_reports_lengths() -> None:
    ev = ex.strata_evidence(_case("S3-dim-spread-vs-length-code"), _FakeCtx(_run()))
    assert sorted(np.asarray(ev.null).tolist()) == sorted([2.0, 3.0, 4.0] * N_SEEDS)  # not rp_dim_spread
    # dims fall with mean length in _run(): the rank correlation is +1; reversed lengths give -1 (sign)
    assert ev.details["dim_length_rho"] == pytest.approx([1.0] * N_SEEDS)
    rev = ex.strata_evidence(
        _case("S3-dim-spread-vs-length-code"), _FakeCtx(_run(length_mean=np.array([40.0, 90, 150, 200, 300])))
    )
    assert rev.details["dim_length_rho"] == pytest.approx([-1.0] * N_SEEDS)


def test_s5_vs_length_replicates_unless_length_blocks_match_the_sources() -> None:
    cid = "S5-source-strata-vs-length-code"
    assert _verdict(cid, _run()) == "replicated"
    assert _verdict(cid, _run(len_nmi=np.array([0.75, 0.8, 0.85]))) == "trivial"
    ev = ex.strata_evidence(_case(cid), _FakeCtx(_run()))
    assert sorted(np.asarray(ev.null).tolist()) == sorted([0.05, 0.06, 0.07] * N_SEEDS)  # not perm_nmi


# ------------------------------------------------------------------------------------------------------------
# (b) S11: an expert's sparsity against the dimension of the stratum it serves
# ------------------------------------------------------------------------------------------------------------


def test_served_strata_and_rank_correlation() -> None:
    heat = _heat_serving([4, 4, 3, 2, 1, 0, 0])
    np.testing.assert_array_equal(st.served_strata(heat, SIZES, 20), [4, 4, 3, 2, 1, 0, 0])
    # a stratum below min_size is never served: expert 0 moves to its next-best stratum
    small = SIZES.copy()
    small[4] = 5
    assert st.served_strata(heat, small, 20)[0] != 4
    with pytest.raises(ValueError, match="fewer than two strata"):
        st.served_strata(heat, np.array([200, 5, 5, 5, 5]), 20)
    assert st.rank_correlation(np.arange(5), np.arange(5) * 2.0) == pytest.approx(1.0)
    assert st.rank_correlation(np.arange(5), -np.arange(5.0)) == pytest.approx(-1.0)  # sign
    assert st.rank_correlation(np.arange(5), np.ones(5)) == 0.0  # constant side: no tracking, never NaN


def test_s11_replicates_when_sparser_experts_serve_lower_dimensional_strata() -> None:
    # dims [14, 10, 8, 5, 3] by stratum; experts 8..32 serve strata 4,4,3,2,1,0,0: dims rise with s_e
    assert _verdict("S11-sparsity-tracks-dim-code", _run()) == "replicated"
    assert _verdict("S11-sparsity-tracks-dim-text", _run(), "text") == "replicated"


def test_s11_fails_when_the_join_is_reversed_or_constant() -> None:
    reversed_heat = _heat_serving([0, 0, 1, 2, 3, 4, 4])  # the sign flipped: denser experts on flat strata
    assert _verdict("S11-sparsity-tracks-dim-code", _run(heat_strata=reversed_heat)) == "not_replicated"
    one = _heat_serving([2] * 7)  # every expert serves one stratum: rho 0, within the random assignments
    assert _verdict("S11-sparsity-tracks-dim-code", _run(heat_strata=one)) != "replicated"


def test_s11_swapped_arguments_change_the_measurement() -> None:
    runs = [_run() | {"dim_spread": 1.0, "nmi": 0.5}]
    m, null, details = sc.sparsity_dimension(runs, SPARS, 20)
    assert m[0] > 0.95  # < 1 only through the tie: experts 8 and 12 both serve stratum 4
    m_rev, _, _ = sc.sparsity_dimension(runs, SPARS[::-1], 20)  # sparsities reversed: the correlation flips
    assert m_rev == [pytest.approx(-m[0])]
    assert details["served_strata"] == [[4, 4, 3, 2, 1, 0, 0]]
    assert null.size == sc.ASSIGNMENT_DRAWS and np.all(np.abs(null) <= 1)
    assert np.quantile(null, 0.95) < 1.0  # random assignments rarely track perfectly


# ------------------------------------------------------------------------------------------------------------
# (c) S12: the single global manifold (random equal-size partitions around one global dimension)
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,sfx", [("released-code", "code"), ("text", "text")])
def test_one_manifold_replicates_unless_equal_partitions_spread_as_much(method: str, sfx: str) -> None:
    cid = f"S3-dim-spread-vs-one-manifold-{sfx}"
    assert _verdict(cid, _run(), method) == "replicated"
    assert _verdict(cid, _run(eq_dim_spread=np.array([11.0, 12.0, 13.0])), method) == "trivial"


def test_one_manifold_reads_the_equal_partition_null_not_the_size_matched_one() -> None:
    r = _run(rp_dim_spread=np.array([50.0]))  # S3's size-matched control: must not be read here
    ev = ex.strata_evidence(_case("S3-dim-spread-vs-one-manifold-code"), _FakeCtx(r))
    assert sorted(np.asarray(ev.null).tolist()) == sorted([1.0, 2.0, 1.0] * N_SEEDS)
    assert ev.details["global_dim"] == [30.0] * N_SEEDS
    assert ev.details["equal_partition_spread_median"] == 1.0
    rp = ex.strata_evidence(_case("S3-dim-spread-code"), _FakeCtx(r))
    assert np.asarray(rp.null).tolist() == [50.0] * N_SEEDS


def test_equal_partition_spreads_use_equal_sizes_and_are_deterministic() -> None:
    X = np.random.default_rng(0).standard_normal((103, 12))
    a = st.equal_partition_spreads(X, 5, 20, 4, seed=3)
    b = st.equal_partition_spreads(X, 5, 20, 4, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4,) and np.all(a >= 0)


# ------------------------------------------------------------------------------------------------------------
# the run records what the readings need (smoke data: synthetic lengths)
# ------------------------------------------------------------------------------------------------------------


def test_subset_keeps_lengths_and_the_strata_run_records_the_new_numbers() -> None:
    c = synthetic_corpus("minilm-l6", 10, 0, 12)
    assert c.length is not None and c.length.shape == (60,)
    np.testing.assert_array_equal(subset(c, np.array([3, 7])).length, c.length[[3, 7]])
    cfg = ex._config(SETTINGS["smoke"], "text", model="minilm-l6")
    r = ex.run_strata(cfg, 0)
    k, draws = cfg["n_strata"], cfg["n_null_draws"]
    assert np.asarray(r["length_mean"]).shape == (k,)
    assert np.asarray(r["len_dim_spread"]).shape == (draws,) and np.asarray(r["len_nmi"]).shape == (draws,)
    assert np.asarray(r["eq_dim_spread"]).shape == (draws,)
    assert r["global_dim"] >= 1
