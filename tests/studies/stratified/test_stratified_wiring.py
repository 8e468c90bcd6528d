"""Wiring of the stratified study's experiments and evidence functions (which weights, which k, which null, which sign).

Each test replaces the expensive or random part (the gate, ``ctx.run``) with a small known fake, so a swapped weight
array, argument, null or sign changes the asserted numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import geomclaims.studies.stratified  # noqa: F401  (registers profiles)
from geomclaims.studies.stratified import experiment as ex
from geomclaims.studies.stratified import pipeline
from geomclaims.studies.stratified import strata as st
from geomclaims.studies.stratified.profiles import SETTINGS
from geomclaims.studies.stratified.text_bootstrap import constant_replicates

SPARS = np.asarray(SETTINGS["smoke"]["moe"]["sparsities"], dtype=float)


def _soft_gate_with_constant_weighted_sparsity(n: int, seed: int) -> np.ndarray:
    """Rows on the simplex whose dot product with the sparsities is exactly mean(sparsities), but whose arg-max varies.

    Uniform weights plus a per-point multiple of a direction orthogonal to both the all-ones vector (rows still
    sum to 1) and the sparsities (the weighted sparsity does not move).
    """
    E = SPARS.size
    basis = np.stack([np.ones(E), SPARS])
    v = np.random.default_rng(99).standard_normal(E)
    v -= basis.T @ np.linalg.lstsq(basis.T, v, rcond=None)[0]
    v /= np.abs(v).max()
    amp = np.random.default_rng(seed).uniform(-0.9, 0.9, size=(n, 1)) / E
    return np.full((n, E), 1.0 / E) + amp * v


def _fake_gate_probs(model: Any, X: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    soft = _soft_gate_with_constant_weighted_sparsity(X.shape[0], seed=X.shape[1])
    onehot = np.eye(soft.shape[1])[soft.argmax(1)]
    return onehot, soft


def _smoke_cfg(method: str) -> dict[str, Any]:
    s = SETTINGS["smoke"]
    return ex._config(s, method, model="minilm-l6")


def test_fake_gate_separates_soft_from_argmax_weighting() -> None:
    soft = _soft_gate_with_constant_weighted_sparsity(150, 0)
    assert np.all(soft >= 0) and np.allclose(soft.sum(1), 1)
    np.testing.assert_allclose(soft @ SPARS, SPARS.mean())
    onehot = np.eye(SPARS.size)[soft.argmax(1)]
    assert np.ptp(onehot @ SPARS) >= 4  # arg-max weighting sees differences between points


@pytest.mark.parametrize("method", ["text", "released-code"])
def test_table2_uses_soft_gate_probabilities(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Table 2 = dot(soft gate probabilities, sparsities): with the fake gate every stratum's mean is mean(s).

    One-hot arg-max weights (the defect of issue 13) give strata means that differ by several units.
    """
    # gate_probs is called by the shared pipeline (pipeline._fit, pipeline._untrained_gates).
    monkeypatch.setattr(pipeline, "gate_probs", _fake_gate_probs)
    r = ex.run_strata(_smoke_cfg(method), 0)
    sizes = np.asarray(r["sizes"])
    ws = np.asarray(r["ws"])[sizes > 0]
    np.testing.assert_allclose(ws, SPARS.mean(), atol=1e-9)
    assert r["ws_spread"] == pytest.approx(0.0, abs=1e-9)
    # The untrained-gate control (S4 null) is weighted the same way.
    np.testing.assert_allclose(r["untrained_ws_spread"], 0.0, atol=1e-9)
    # Heatmaps show mean gate probabilities, not arg-max frequencies: no cell reaches the one-hot extremes.
    heat = np.asarray(r["heat_strata"])[sizes > 0]
    np.testing.assert_allclose(heat.sum(1), 1.0)
    assert heat.max() < 0.5 and heat.min() > 0.0


def test_weighted_sparsity_is_dot_product_with_sparsities() -> None:
    w = np.array([[0.5, 0.5, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1.0]])
    np.testing.assert_allclose(st.weighted_sparsity(w, SPARS), [10.0, 32.0])


def test_ldb_spec_k3_for_the_estimator_check_and_paper_k_for_touching() -> None:
    s = SETTINGS["ci"]
    assert ex.ldb_spec("separated", s) == {"n_strata": 3, "ldb_geometry": "separated", "ldb_noise": 0.0}
    touching = ex.ldb_spec("touching", s)
    assert touching["n_strata"] == s["n_strata"] == 5
    assert touching["ldb_geometry"] == "touching" and touching["ldb_noise"] == s["ldb_noise"] > 0
    with pytest.raises(KeyError, match="geometry"):
        ex.ldb_spec("apart", s)


def test_touching_line_disk_ball_pieces_meet_and_have_dims_1_2_3() -> None:
    from geomclaims.metrics.synthetic import touching_line_disk_ball

    X, labels, coords, dims = touching_line_disk_ball(300, 12, seed=0, noise=0.0)
    assert dims == (1, 2, 3) and X.shape == (900, 12)
    assert st.stratum_dims(X, labels, 3).tolist() == [1, 2, 3]
    # The line pierces the disk and the disk touches the ball: nearest cross-piece distances are small.
    line, disk, ball = (coords[labels == c] for c in range(3))
    gap = lambda a, b: np.min(np.linalg.norm(a[:, None] - b[None], axis=-1))  # noqa: E731
    assert gap(line, disk) < 0.1 and gap(disk, ball) < 0.3
    with pytest.raises(ValueError, match="noise"):
        touching_line_disk_ball(10, 12, seed=0, noise=-1.0)


# ------------------------------------------------------------------------------------------------------------
# evidence functions with a fake ctx.run: which null, which sign
# ------------------------------------------------------------------------------------------------------------


N_SEEDS = len(SETTINGS["ci"]["seeds"])


class _FakeCtx:
    """Stands in for RunContext: ``run`` returns a small synthetic result chosen by (model, seed); it records
    every (name, config, seed) it was asked for."""

    def __init__(self, profile: str, results: dict[str, dict[str, Any]]) -> None:
        self.profile = profile
        self.settings = SETTINGS[profile]
        self.device = "cpu"
        self._results = results
        self.calls: list[tuple[str, dict[str, Any], int]] = []

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        self.calls.append((name, dict(config), seed))
        base = self._results[config["model"]]
        r = {k: (v[seed] if isinstance(v, list) else v) for k, v in base.items()}
        # The text bootstrap's replicates as R copies of each score (no text noise): the seeds' CI.
        return constant_replicates(r, self.settings["text_bootstrap"])


def _case(claim_id: str, **params: Any) -> Any:
    from geomclaims.claims import ClaimCase, load_claims

    paper = load_claims("claims/stratified_manifolds.yaml")
    claim = next(c for c in paper.claims if c.id == claim_id)
    return ClaimCase(claim=claim, params=params)


def _strata_result(nmi: float, entropy: float, untrained: float = 0.9) -> dict[str, Any]:
    return {
        "nmi": [nmi + 0.001 * s for s in range(N_SEEDS)],
        "entropy": [entropy] * N_SEEDS,
        "untrained_entropy": [np.array([untrained, untrained + 0.01 * s]) for s in range(N_SEEDS)],
    }


def test_model_size_sign_is_large_minus_small_for_nmi_and_small_minus_large_for_entropy() -> None:
    ctx = _FakeCtx("ci", {"minilm-l6": _strata_result(0.2, 0.8), "mpnet-base": _strata_result(0.5, 0.6)})
    ev = ex.model_size_evidence(
        _case("S6-size-separation-encoders-code", pair="minilm-l6>mpnet-base", method="released-code"), ctx
    )
    np.testing.assert_allclose(ev.measured, 0.3)  # larger (MPNet) minus smaller: separation rises
    ev = ex.model_size_evidence(
        _case("S7-size-concentration-encoders-code", pair="minilm-l6>mpnet-base", method="released-code"), ctx
    )
    np.testing.assert_allclose(ev.measured, 0.2)  # smaller minus larger entropy: concentration rises


def test_qwen_pair_is_a_budget_deferral_in_ci() -> None:
    from geomclaims.registry import NotRun

    ctx = _FakeCtx("ci", {})
    pair = "qwen2.5-coder-0.5b>qwen2.5-coder-1.5b"
    with pytest.raises(NotRun, match="full profile"):
        ex.model_size_evidence(_case("S6-size-separation-qwen-code", pair=pair, method="released-code"), ctx)


def test_strata_evidence_picks_the_claims_null() -> None:
    r = {
        "ws_spread": [1.0] * N_SEEDS,
        "rp_ws_spread": [np.array([0.1, 0.2])] * N_SEEDS,
        "untrained_ws_spread": [np.array([5.0, 6.0])] * N_SEEDS,
        "source_names": "a,b",
    }
    r.update({k: [np.zeros(5)] * N_SEEDS for k in ("sizes", "dims", "ws", "twonn", "mle")})
    ctx = _FakeCtx("ci", {"minilm-l6": r})
    rp = ex.strata_evidence(_case("S4-sparsity-spread-code", model="minilm-l6", method="released-code"), ctx)
    un = ex.strata_evidence(
        _case("S4-sparsity-spread-vs-untrained-code", model="minilm-l6", method="released-code"), ctx
    )
    assert sorted(np.asarray(rp.null).tolist()) == [0.1] * N_SEEDS + [0.2] * N_SEEDS
    assert sorted(np.asarray(un.null).tolist()) == [5.0] * N_SEEDS + [6.0] * N_SEEDS


# ------------------------------------------------------------------------------------------------------------
# S7 null: untrained-gate entropy difference, paired by draw, same sign as the measurement
# ------------------------------------------------------------------------------------------------------------


def test_s7_null_is_the_untrained_gate_difference_small_minus_large() -> None:
    # Untrained gates: MiniLM 0.9 (+0.01 s on draw 1), MPNet 0.5 (+0.01 s): the null difference is 0.4 per draw.
    ctx = _FakeCtx(
        "ci",
        {
            "minilm-l6": _strata_result(0.2, 0.8, untrained=0.9),
            "mpnet-base": _strata_result(0.5, 0.6, untrained=0.5),
        },
    )
    case = _case("S7-size-concentration-encoders-code", pair="minilm-l6>mpnet-base", method="released-code")
    assert case.claim.null is not None and case.claim.null.name == "untrained_gate"
    ev = ex.model_size_evidence(case, ctx)
    np.testing.assert_allclose(ev.measured, 0.2)
    # A swapped sign (large - small) would give -0.4; averaging the draws first would give N_SEEDS values.
    np.testing.assert_allclose(np.asarray(ev.null), 0.4)
    assert np.asarray(ev.null).size == 2 * N_SEEDS


def test_untrained_entropy_drops_pairs_draws_and_rejects_mismatch() -> None:
    small = [{"untrained_entropy": np.array([0.9, 0.8])}]
    large = [{"untrained_entropy": np.array([0.5, 0.7])}]
    np.testing.assert_allclose(ex.untrained_entropy_drops(small, large), [0.4, 0.1])
    np.testing.assert_allclose(ex.untrained_entropy_drops(large, small), [-0.4, -0.1])
    with pytest.raises(ValueError, match="untrained_entropy"):
        ex.untrained_entropy_drops(small, [{"untrained_entropy": np.array([0.5])}])


def _s7_verdict(trained_small: list[float], untrained_small: float) -> str:
    from geomclaims.decision import decide

    big = _strata_result(0.5, 0.5, untrained=0.5)
    small = _strata_result(0.2, 0.0, untrained=untrained_small)
    small["entropy"] = trained_small
    ctx = _FakeCtx("ci", {"minilm-l6": small, "mpnet-base": big})
    case = _case("S7-size-concentration-encoders-code", pair="minilm-l6>mpnet-base", method="released-code")
    ev = ex.model_size_evidence(case, ctx)
    c = case.claim
    return decide(
        ev.measured, c.expect, ev.null, c.null, how=c.aggregate, kind=c.kind, profile="ci"
    ).verdict.value


def test_s7_a_drop_the_untrained_gate_shows_too_cannot_replicate() -> None:
    """Trained drop ~0.4 (+ small seed noise) and the same drop for untrained gates (input scale): not replicated;
    the same trained drop against an untrained drop of 0 replicates, so the null is what decides."""
    trained = [0.9 + 0.002 * ((s * 5) % N_SEEDS) for s in range(N_SEEDS)]
    assert _s7_verdict(trained, untrained_small=0.9) != "replicated"
    assert _s7_verdict(trained, untrained_small=0.5) == "replicated"


# ------------------------------------------------------------------------------------------------------------
# per-seed text resampling and the padding-pooling variant
# ------------------------------------------------------------------------------------------------------------


def test_strata_runs_use_every_seed_and_the_profile_pool() -> None:
    r = {"nmi": [0.6] * N_SEEDS, "perm_nmi": [np.zeros(2)] * N_SEEDS, "source_names": "a,b"}
    r.update(
        {k: [np.zeros(5)] * N_SEEDS for k in ("sizes", "dims", "ws", "twonn", "mle", "source_by_stratum")}
    )
    ctx = _FakeCtx("ci", {"minilm-l6": r})
    ex.strata_evidence(_case("S5-source-strata-code", model="minilm-l6", method="released-code"), ctx)
    assert [c[2] for c in ctx.calls] == SETTINGS["ci"]["seeds"]
    cfg = ctx.calls[0][1]
    assert cfg["n_per_source"] == SETTINGS["ci"]["n_per_source"]
    assert cfg["n_pool_per_source"] == 2 * cfg["n_per_source"]
    assert cfg["pooling"] == "mean"


def test_padding_variant_passes_the_pooling_and_defers_other_models() -> None:
    from geomclaims.registry import NotRun

    r = {"nmi": [0.6] * N_SEEDS, "perm_nmi": [np.zeros(2)] * N_SEEDS, "source_names": "a,b"}
    r.update(
        {k: [np.zeros(5)] * N_SEEDS for k in ("sizes", "dims", "ws", "twonn", "mle", "source_by_stratum")}
    )
    ctx = _FakeCtx("ci", {"smollm2-135m": r})
    cid = "S5-source-strata-code-padding-pool"
    ex.strata_evidence(
        _case(cid, model="smollm2-135m", method="released-code", pooling="mean_with_padding"), ctx
    )
    assert {c[1]["pooling"] for c in ctx.calls} == {"mean_with_padding"}
    assert (
        "smollm2-135m" in SETTINGS["ci"]["padding_models"]
        and "minilm-l6" not in SETTINGS["ci"]["padding_models"]
    )
    with pytest.raises(NotRun, match="full profile"):
        ex.strata_evidence(
            _case(cid, model="minilm-l6", method="released-code", pooling="mean_with_padding"), ctx
        )


def test_full_only_models_are_a_budget_deferral_in_ci_and_unknown_models_untestable() -> None:
    """Every per-model claim lists the six registry models; ci embeds three, so the others are `not_run` there (the
    full profile runs them), while a model outside the registry stays untestable in any profile."""
    from geomclaims.registry import NotRun, Untestable

    ctx = _FakeCtx("ci", {})
    for model in ("gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"):
        assert model in SETTINGS["full"]["models"] and model not in SETTINGS["ci"]["models"]
        with pytest.raises(NotRun, match="runs in the full profile"):
            ex.strata_evidence(_case("S5-source-strata-code", model=model, method="released-code"), ctx)
    with pytest.raises(Untestable, match="not embedded"):
        ex.strata_evidence(_case("S5-source-strata-code", model="bert-huge", method="released-code"), ctx)
    assert ctx.calls == []  # nothing was computed for a deferred case
    from geomclaims.claims import load_claims

    per_model = [c for c in load_claims("claims/stratified_manifolds.yaml").claims if "model" in c.params]
    assert per_model and all(
        set(c.params["model"]) == set(SETTINGS["full"]["models"])
        for c in per_model
        # Sensitivity variants run on the three small models (budget): the padding pool (profiles.padding_models),
        # the released code's KMeans n_init 1 and the balance-term text recipe (#25).
        if not ({"pooling", "kmeans_n_init"} & set(c.params)) and "text-balanced" not in c.params["method"]
    )
    variants = [c for c in per_model if "text-balanced" in c.params["method"] or "kmeans_n_init" in c.params]
    assert variants and all(set(c.params["model"]) == set(SETTINGS["ci"]["models"]) for c in variants)


def test_ldb_runs_use_the_ldb_seeds() -> None:
    r = {
        "ari": [0.5] * 10,
        "perm_ari": [np.zeros(2)] * 10,
        "dim_error": [0.0] * 10,
        "rp_dim_error": [np.ones(2)] * 10,
        "dims": [np.zeros(3)] * 10,
        "sizes": [np.zeros(3)] * 10,
        "true_component_dims": np.array([1, 2, 3]),
    }

    class _Ctx(_FakeCtx):
        def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
            self.calls.append((name, dict(config), seed))
            return {k: (v[seed] if isinstance(v, list) else v) for k, v in r.items()}

    ctx = _Ctx("ci", {})
    ex.ldb_evidence(_case("S9-recover-strata-code", method="released-code"), ctx)
    assert [c[2] for c in ctx.calls] == SETTINGS["ci"]["ldb_seeds"]


def _pool(n_per_source: int) -> Any:
    from geomclaims.studies.stratified.data import synthetic_corpus

    return synthetic_corpus("minilm-l6", n_per_source, 0, 16)


def test_resample_is_balanced_per_source_seeded_and_differs_between_seeds() -> None:
    from geomclaims.studies.stratified.data import resample_indices, text_rng

    pool = _pool(40)
    a = resample_indices(pool, 20, text_rng(0, 1))
    b = resample_indices(pool, 20, text_rng(0, 1))
    c = resample_indices(pool, 20, text_rng(0, 2))
    np.testing.assert_array_equal(a, b)  # same (data_seed, seed) -> same texts
    assert not np.array_equal(a, c)  # another seed -> another sample
    assert not np.array_equal(a, resample_indices(pool, 20, text_rng(1, 1)))  # the data seed matters too
    np.testing.assert_array_equal(np.bincount(pool.source[a]), [20] * 6)
    assert np.unique(a).size == a.size and np.all(np.diff(a) > 0)
    with pytest.raises(ValueError, match="synthetic0"):
        resample_indices(pool, 41, text_rng(0, 1))


def test_text_rng_is_independent_of_the_controls_generator() -> None:
    from geomclaims.studies.stratified.data import text_rng

    cfg = {"data_seed": 0}
    x = text_rng(0, 3).integers(2**31, size=4)
    y = ex._data_rng(cfg, 3).integers(2**31, size=4)
    assert not np.array_equal(x, y)


def test_load_corpus_same_texts_for_every_model_at_one_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paired S6/S7 differences need the same text rows for both models of a pair at one seed (real data: the pool's
    texts and labels do not depend on the model, only its embedding does)."""
    from geomclaims.studies.stratified import data
    from geomclaims.studies.stratified.data import load_corpus

    shared = _pool(SETTINGS["smoke"]["n_pool_per_source"])
    real_load_pool = data.load_pool

    def fake_pool(cfg: dict[str, Any], device: str = "cpu") -> Any:
        real_load_pool(cfg, device)  # the real checks (pool size) still run
        X = shared.X + len(cfg["model"])  # model-specific embedding of the same texts
        return data.Corpus(X=X, source=shared.source, label=shared.label, source_names=shared.source_names)

    monkeypatch.setattr(data, "load_pool", fake_pool)
    base = {**SETTINGS["smoke"], "data": "synthetic"}
    _, ia = load_corpus({**base, "model": "minilm-l6"}, 1)
    _, ib = load_corpus({**base, "model": "mpnet-base"}, 1)
    _, ic = load_corpus({**base, "model": "mpnet-base"}, 0)
    np.testing.assert_array_equal(ia, ib)
    assert not np.array_equal(ib, ic)
    with pytest.raises(ValueError, match="n_pool_per_source"):
        load_corpus({**base, "model": "minilm-l6", "n_pool_per_source": 10}, 0)


def test_run_strata_records_the_text_draw() -> None:
    cfg = ex._config(SETTINGS["smoke"], "released-code", model="minilm-l6")
    r0, r1 = ex.run_strata(cfg, 0), ex.run_strata(cfg, 1)
    assert r0["text_seed"] == [cfg["data_seed"], 0] and r1["text_seed"] == [cfg["data_seed"], 1]
    assert len(r0["text_index"]) == 6 * cfg["n_per_source"]
    assert not np.array_equal(r0["text_index"], r1["text_index"])
