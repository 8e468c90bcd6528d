"""Issue 25 item 1: the text bootstrap of the strata runs (text_bootstrap.py) and the replicates the evidence hands
to the spine's two-stage CI.

Synthetic arrays throughout (no embedding); one pair of smoke runs checks that adding the bootstrap leaves every
control of a run unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import geomclaims.studies.stratified  # noqa: F401  (registers profiles)
from geomclaims.metrics import ari, nmi
from geomclaims.studies.stratified import experiment as ex
from geomclaims.studies.stratified import strata as st
from geomclaims.studies.stratified import strata_claims
from geomclaims.studies.stratified import text_bootstrap as tb
from geomclaims.studies.stratified.data import Corpus, resample_indices, synthetic_corpus, text_rng
from geomclaims.studies.stratified.profiles import SETTINGS

N_SEEDS = len(SETTINGS["ci"]["seeds"])
R_CI = SETTINGS["ci"]["text_bootstrap"]
CFG = ex._config(SETTINGS["ci"], "text", model="minilm-l6")


def _arrays(n: int = 300, d: int = 24, k: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """A small run's fixed inputs: points, strata, soft gate, sources, PCA-KMeans labels."""
    rng = np.random.default_rng(seed)
    strata = st.relabel_by_size(rng.integers(0, k, n), k)
    # Points whose dimension grows with the stratum, so the strata's PCA counts differ.
    space = np.vstack([rng.standard_normal((1, d)) for _ in range(n)])
    for s in range(k):
        rows = strata == s
        basis = rng.standard_normal((2 + 3 * s, d))
        space[rows] = rng.standard_normal((rows.sum(), basis.shape[0])) @ basis
    return {
        "space": space,
        "strata": strata,
        "w_soft": rng.dirichlet(np.ones(7), n),
        "source": np.repeat(np.arange(6), -(-n // 6))[:n],
        "pca_strata": rng.integers(0, k, n),
    }


def _boot(
    a: dict[str, np.ndarray], sets: list[np.ndarray], cfg: dict[str, Any] = CFG
) -> dict[str, np.ndarray]:
    return tb.text_bootstrap_metrics(
        a["space"], a["strata"], a["w_soft"], a["source"], a["pca_strata"], cfg, sets
    )


# ---------------------------------------------------------------------------------------------------------------
# (a) the draws: deterministic, shared by seeds and models, own generator
# ---------------------------------------------------------------------------------------------------------------


def test_pool_multiplicities_depend_on_the_data_seed_and_the_pool_row_only() -> None:
    rows_a = np.array([0, 3, 7, 1500, 2048])
    rows_b = np.array([3, 5, 1500, 4000])
    a, b = tb.pool_multiplicities(0, rows_a, 6), tb.pool_multiplicities(0, rows_b, 6)
    assert a.shape == (6, 5) and b.shape == (6, 4)
    np.testing.assert_array_equal(a, tb.pool_multiplicities(0, rows_a, 6))  # deterministic
    # A pool row gets the same multiplicity whichever other rows a seed's sample holds (row 3 and row 1500, the
    # latter in another generator block): resample r is one resample of the shared pool.
    np.testing.assert_array_equal(a[:, [1, 3]], b[:, [0, 2]])
    assert not np.array_equal(a, tb.pool_multiplicities(1, rows_a, 6))  # the data seed matters
    big = tb.pool_multiplicities(0, np.arange(4 * tb.POOL_BLOCK), 50)
    assert abs(big.mean() - 1.0) < 0.02 and abs(big.var() - 1.0) < 0.05  # Poisson(1)
    with pytest.raises(ValueError, match="at least 2"):
        tb.pool_multiplicities(0, rows_a, 1)


def test_index_sets_differ_between_seeds_and_are_the_same_for_both_models_of_a_pair() -> None:
    """Real data: the pool's texts and labels do not depend on the model (only the embedding does), so both models of
    an S6/S7 pair draw the same pool rows at one seed (``text_index``) and so get the same resamples: replicate r
    of the two models is one text sample. (The smoke stand-in's labels depend on the model, so its text_index
    does not pair; this builds one pool with two embeddings instead.)"""
    pool = synthetic_corpus("minilm-l6", 40, 0, 16)
    other = Corpus(X=pool.X * 3 + 1, source=pool.source, label=pool.label, source_names=pool.source_names)
    idx = {
        (name, seed): resample_indices(p, 20, text_rng(0, seed))
        for name, p in (("small", pool), ("large", other))
        for seed in (0, 1)
    }
    np.testing.assert_array_equal(idx["small", 0], idx["large", 0])
    sets = {key: tb.index_sets(tb.pool_multiplicities(0, rows, 5)) for key, rows in idx.items()}
    for r in range(5):
        np.testing.assert_array_equal(sets["small", 0][r], sets["large", 0][r])
    assert not all(np.array_equal(x, y) for x, y in zip(sets["small", 0], sets["small", 1], strict=True))
    # Row j of the seed's sample appears multiplicity-many times.
    mult = tb.pool_multiplicities(0, idx["small", 0], 5)
    np.testing.assert_array_equal(np.bincount(sets["small", 0][2], minlength=mult.shape[1]), mult[2])


def test_adding_the_bootstrap_leaves_every_control_of_the_run_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bootstrap draws from its own generator, never from the controls' ``rng``: a smoke run with the bootstrap
    and one with it stubbed out agree on every other key."""
    cfg = ex._config(SETTINGS["smoke"], "text", model="minilm-l6")
    with_boot = ex.run_strata(cfg, 0)
    monkeypatch.setattr(tb, "run_text_bootstrap", lambda *args, **kw: {})
    without = ex.run_strata(cfg, 0)
    assert set(with_boot) - set(without) == set(tb.BOOT_KEYS)
    for key, value in without.items():
        np.testing.assert_array_equal(np.asarray(with_boot[key]), np.asarray(value), err_msg=key)
    R = cfg["text_bootstrap"]
    assert with_boot["boot_dims"].shape == (R, cfg["n_strata"])
    assert all(np.all(np.isfinite(with_boot[key])) for key in tb.BOOT_KEYS)


def test_text_bootstrap_is_part_of_the_run_config() -> None:
    for profile in ("smoke", "ci", "full"):
        assert (
            ex._config(SETTINGS[profile], "released-code")["text_bootstrap"]
            == SETTINGS[profile]["text_bootstrap"]
        )
    assert SETTINGS["smoke"]["text_bootstrap"] >= 2 and SETTINGS["ci"]["text_bootstrap"] == 50


# ---------------------------------------------------------------------------------------------------------------
# (b) the recomputation: the identity resample gives the run's values; any resample equals the run's recipe on the
# duplicated rows
# ---------------------------------------------------------------------------------------------------------------


def test_identity_resample_gives_the_runs_own_values() -> None:
    a = _arrays()
    n = len(a["strata"])
    out = _boot(a, [np.arange(n), np.arange(n)])
    tab = ex._table(a["space"], a["strata"], a["w_soft"], CFG)
    for r in range(2):
        np.testing.assert_array_equal(out["boot_dims"][r], tab["dims"])
        np.testing.assert_array_equal(out["boot_sizes"][r], tab["sizes"])
        assert out["boot_dim_spread"][r] == tab["dim_spread"]
        assert out["boot_ws_spread"][r] == pytest.approx(tab["ws_spread"], abs=1e-12)
        assert out["boot_nmi"][r] == pytest.approx(nmi(a["strata"], a["source"]), abs=1e-12)
        assert out["boot_ari"][r] == ari(a["strata"], a["source"])
        assert out["boot_ari_gate_pca"][r] == ari(a["w_soft"].argmax(1), a["pca_strata"])
        assert out["boot_entropy"][r] == pytest.approx(ex._norm_entropy(a["w_soft"]), abs=1e-12)
    assert np.ptp(tab["dims"]) > 0  # the strata differ in dimension (a non-trivial check)


def test_each_resample_is_the_runs_recipe_on_the_duplicated_rows() -> None:
    """Resample r = ``_table``, NMI / ARI and the gate entropy of the rows ``idx`` (with repetition), including a
    stratum that falls below min_stratum_size (left out of the spread, as ``strata.spread`` does) and one that
    empties."""
    a = _arrays(n=240)
    n = len(a["strata"])
    rng = np.random.default_rng(5)
    sets = [np.repeat(np.arange(n), rng.poisson(1.0, n)) for _ in range(4)]
    small = np.flatnonzero(a["strata"] == 4)
    keep = np.flatnonzero(a["strata"] != 4)
    sets.append(np.concatenate([keep, small[:3], small[:3]]))  # stratum 4: 6 rows of 3 distinct points
    sets.append(keep)  # stratum 4 empty
    out = _boot(a, sets)
    for r, idx in enumerate(sets):
        tab = ex._table(a["space"][idx], a["strata"][idx], a["w_soft"][idx], CFG)
        np.testing.assert_array_equal(out["boot_dims"][r], tab["dims"])
        np.testing.assert_array_equal(out["boot_sizes"][r], tab["sizes"])
        assert out["boot_dim_spread"][r] == tab["dim_spread"]
        assert out["boot_ws_spread"][r] == pytest.approx(tab["ws_spread"], abs=1e-9)
        assert out["boot_nmi"][r] == pytest.approx(nmi(a["strata"][idx], a["source"][idx]), abs=1e-12)
        assert out["boot_ari"][r] == ari(a["strata"][idx], a["source"][idx])
        assert out["boot_ari_gate_pca"][r] == ari(a["w_soft"].argmax(1)[idx], a["pca_strata"][idx])
        assert out["boot_entropy"][r] == pytest.approx(ex._norm_entropy(a["w_soft"][idx]), abs=1e-12)
    assert out["boot_sizes"][-1][4] == 0 and out["boot_sizes"][-2][4] == 6 < CFG["min_stratum_size"]


# ---------------------------------------------------------------------------------------------------------------
# (c) shapes and finiteness, also for degenerate strata
# ---------------------------------------------------------------------------------------------------------------


def test_replicates_are_finite_with_one_value_per_resample() -> None:
    a = _arrays(n=180)
    a["strata"][:2] = 4  # a tiny stratum ...
    a["space"][a["strata"] == 3] = a["space"][
        np.flatnonzero(a["strata"] == 3)[0]
    ]  # ... and one of identical points
    cfg = {**CFG, "text_bootstrap": 7}
    out = tb.run_text_bootstrap(
        a["space"], a["strata"], a["w_soft"], a["source"], a["pca_strata"], cfg, np.arange(180) * 2
    )
    for key in tb.BOOT_KEYS:
        shape = (7, CFG["n_strata"]) if key in ("boot_dims", "boot_sizes") else (7,)
        assert out[key].shape == shape, key
        assert np.all(np.isfinite(out[key])), key
    assert np.all(out["boot_dims"][:, 3] == 0)  # identical points: dimension 0, as strata.stratum_dims
    with pytest.raises(ValueError, match="at least 2"):
        _boot(a, [np.array([0])])


# ---------------------------------------------------------------------------------------------------------------
# (d) evidence: one row per seed, R columns; model-size pairs replicate r of both models
# ---------------------------------------------------------------------------------------------------------------


def _seed_run(seed: int, shift: float = 0.0, R: int = R_CI) -> dict[str, Any]:
    """A strata run whose replicates differ per seed and per resample (value + 0.001 r + 0.01 seed)."""
    col = np.arange(R) * 0.001 + 0.01 * seed + shift
    dims = np.array([14.0, 10.0, 8.0, 5.0, 3.0])
    scalars = {
        "dim_spread": 11.0,
        "ws_spread": 3.0,
        "nmi": 0.5,
        "ari": 0.4,
        "ari_gate_pca": 0.3,
        "entropy": 0.8,
    }
    run: dict[str, Any] = {k: v + 0.01 * seed + shift for k, v in scalars.items()}
    run.update({f"boot_{k}": v + col for k, v in scalars.items()})
    run.update(
        sizes=np.array([200, 150, 120, 80, 50]),
        dims=dims,
        boot_dims=np.tile(dims, (R, 1)),
        ws=np.zeros(5),
        twonn=np.zeros(5),
        mle=np.zeros(5),
        source_by_stratum=np.zeros((5, 6)),
        source_names="a,b,c,d,e,f",
        rp_dim_spread=np.ones(3),
        rp_ws_spread=np.ones(3),
        untrained_ws_spread=np.ones(3),
        perm_nmi=np.zeros(3),
        perm_ari=np.zeros(3),
        untrained_ari_gate_pca=np.zeros(3),
        len_nmi=np.zeros(3),
        len_dim_spread=np.ones(3),
        length_mean=np.arange(5.0),
        untrained_entropy=np.array([0.9, 0.95]),
        untrained_nmi=np.zeros(2),
        rp_nmi=np.zeros(2),
        heat_strata=np.eye(5, 7) + 0.1,
        expert_distance=1.0,
        expert_usage=np.full(7, 10),
        gate_top_share=0.2,
        own_init_entropy=0.9,
        gate_moved=0.1,
        recon=np.array([1.0]),
        heat_sources=np.zeros((6, 7)),
        pca3=np.zeros((2, 3)),
        pca3_strata=np.zeros(2),
        pca3_source=np.zeros(2),
    )
    return run


class _Ctx:
    def __init__(self, runs: dict[str, Any]) -> None:
        self.profile, self.settings, self.device = "ci", SETTINGS["ci"], "cpu"
        self._runs = runs

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        return self._runs[config["model"]](seed)


def _case(claim_id: str, **params: Any) -> Any:
    from geomclaims.claims import ClaimCase, load_claims

    claim = next(c for c in load_claims("claims/stratified_manifolds.yaml").claims if c.id == claim_id)
    return ClaimCase(claim=claim, params={"model": "minilm-l6", "method": "released-code", **params})


@pytest.mark.parametrize(
    ("claim_id", "key"),
    [
        ("S3-dim-spread-code", "dim_spread"),
        ("S3-dim-spread-vs-length-code", "dim_spread"),
        ("S4-sparsity-spread-code", "ws_spread"),
        ("S4-sparsity-spread-vs-untrained-code", "ws_spread"),
        ("S5-source-strata-code", "nmi"),
        ("S5-source-strata-ari-code", "ari"),
        ("S5-source-strata-vs-length-code", "nmi"),
        ("S8-moe-learns-strata-code", "ari_gate_pca"),
    ],
)
def test_strata_evidence_hands_one_replicate_row_per_seed(claim_id: str, key: str) -> None:
    ev = strata_claims.strata_evidence(_case(claim_id), _Ctx({"minilm-l6": _seed_run}))
    assert ev.replicates is not None
    reps = np.asarray(ev.replicates)
    assert reps.shape == (N_SEEDS, R_CI)
    base = _seed_run(0)[key]
    expected = np.array([[base + 0.01 * s + 0.001 * r for r in range(R_CI)] for s in range(N_SEEDS)])
    np.testing.assert_allclose(
        reps, expected
    )  # row i = seed i (the order of ``measured``), column r = resample r
    np.testing.assert_allclose(ev.measured, reps[:, 0])
    assert ev.details["ci_method"] == tb.CI_METHOD


def test_sparsity_rho_replicates_keep_the_seeds_served_strata() -> None:
    """S11 per resample: the served strata stay the seed's; the resample's dimensions move. Resample 1 reverses the
    dimensions, so its correlation is the seed's with the sign flipped."""
    spars = SETTINGS["ci"]["moe"]["sparsities"]
    heat = np.full((5, 7), 0.1)
    served = np.array([1, 0, 2, 4, 3, 4, 2])
    heat[served, np.arange(7)] = 0.6
    dims = np.array([2.0, 4.0, 6.0, 8.0, 10.0])

    def run(seed: int) -> dict[str, Any]:
        r = _seed_run(seed, R=3)
        r.update(heat_strata=heat, dims=dims, sizes=np.array([60, 40, 30, 25, 45]))
        r["boot_dims"] = np.stack([dims, dims[::-1], dims])
        return r

    ctx = _Ctx({"minilm-l6": run})
    ev = strata_claims.strata_evidence(_case("S11-sparsity-tracks-dim-code"), ctx)
    reps = np.asarray(ev.replicates)
    rho = st.rank_correlation(np.asarray(spars, float), dims[served])
    assert rho > 0.5
    np.testing.assert_allclose(reps, np.tile([rho, -rho, rho], (N_SEEDS, 1)))
    np.testing.assert_allclose(ev.measured, rho)


def test_expert_distance_carries_no_replicates() -> None:
    ev = strata_claims.strata_evidence(_case("S10-descriptive-code"), _Ctx({"minilm-l6": _seed_run}))
    assert ev.replicates is None and "ci_method" not in ev.details


@pytest.mark.parametrize(
    ("claim_id", "key", "sign"),
    [
        ("S6-size-separation-encoders-code", "nmi", 1.0),
        ("S6-size-separation-vs-partition-code", "nmi", 1.0),
        ("S7-size-concentration-encoders-code", "entropy", -1.0),
    ],
)
def test_model_size_replicates_pair_resample_r_of_both_models(claim_id: str, key: str, sign: float) -> None:
    """Larger model: +0.3 and resamples growing 3x faster; the replicate is sign * (large - small) of resample r.
    A swapped sign, or resamples of the two models not paired by r, changes the asserted table."""

    def small(seed: int) -> dict[str, Any]:
        return _seed_run(seed)

    def large(seed: int) -> dict[str, Any]:
        r = _seed_run(seed, shift=0.3)
        r[f"boot_{key}"] = r[key] + np.arange(R_CI) * 0.003
        return r

    pair = "minilm-l6>mpnet-base"
    ev = strata_claims.model_size_evidence(
        _case(claim_id, pair=pair), _Ctx({"minilm-l6": small, "mpnet-base": large})
    )
    reps = np.asarray(ev.replicates)
    assert reps.shape == (N_SEEDS, R_CI)
    expected = sign * (0.3 + np.arange(R_CI) * 0.002)  # (0.3 + 0.003 r) - (0.001 r), the seed terms cancel
    np.testing.assert_allclose(reps, np.tile(expected, (N_SEEDS, 1)), atol=1e-12)
    np.testing.assert_allclose(ev.measured, sign * 0.3)
    assert ev.details["ci_method"] == tb.CI_METHOD


def test_missing_replicates_are_an_error_not_a_narrow_ci() -> None:
    def run(seed: int) -> dict[str, Any]:
        r = _seed_run(seed)
        del r["boot_nmi"]
        return r

    with pytest.raises(KeyError, match="boot_nmi"):
        strata_claims.strata_evidence(_case("S5-source-strata-code"), _Ctx({"minilm-l6": run}))


# ---------------------------------------------------------------------------------------------------------------
# (e) property: the weighted PCA count is the count of the duplicated rows
# ---------------------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=hst.integers(0, 2**31 - 1),
    n=hst.integers(1, 30),
    d=hst.integers(1, 12),
    threshold=hst.sampled_from([0.5, 0.75, 0.9]),
)
def test_weighted_dim_is_the_pca_count_of_the_duplicated_rows(
    seed: int, n: int, d: int, threshold: float
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, size=d)
    w = rng.integers(0, 4, size=n)
    idx = np.repeat(np.arange(n), w)
    expected = (
        st.stratum_dims(X[idx], np.zeros(idx.size, dtype=np.int64), 1, threshold)[0] if idx.size else 0.0
    )
    assert tb._weighted_dim(X, w, threshold) == expected
