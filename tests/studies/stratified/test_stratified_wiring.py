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
from geomclaims.studies.stratified import strata as st
from geomclaims.studies.stratified.profiles import SETTINGS

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
    monkeypatch.setattr(ex, "gate_probs", _fake_gate_probs)
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


class _FakeCtx:
    """Stands in for RunContext: ``run`` returns a small synthetic result chosen by (model, seed)."""

    def __init__(self, profile: str, results: dict[str, dict[str, Any]]) -> None:
        self.profile = profile
        self.settings = SETTINGS[profile]
        self.device = "cpu"
        self._results = results

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        base = self._results[config["model"]]
        return {k: (v[seed] if isinstance(v, list) else v) for k, v in base.items()}


def _case(claim_id: str, **params: Any) -> Any:
    from geomclaims.claims import ClaimCase, load_claims

    paper = load_claims("claims/stratified_manifolds.yaml")
    claim = next(c for c in paper.claims if c.id == claim_id)
    return ClaimCase(claim=claim, params=params)


def _strata_result(nmi: float, entropy: float) -> dict[str, Any]:
    return {
        "nmi": [nmi + 0.001 * s for s in range(5)],
        "entropy": [entropy] * 5,
        "untrained_entropy": np.array([0.9]),
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
        "ws_spread": [1.0] * 5,
        "rp_ws_spread": [np.array([0.1, 0.2])] * 5,
        "untrained_ws_spread": [np.array([5.0, 6.0])] * 5,
        "source_names": "a,b",
    }
    r.update({k: [np.zeros(5)] * 5 for k in ("sizes", "dims", "ws", "twonn", "mle")})
    ctx = _FakeCtx("ci", {"minilm-l6": r})
    rp = ex.strata_evidence(_case("S4-sparsity-spread-code", model="minilm-l6", method="released-code"), ctx)
    un = ex.strata_evidence(
        _case("S4-sparsity-spread-vs-untrained-code", model="minilm-l6", method="released-code"), ctx
    )
    assert sorted(np.asarray(rp.null).tolist()) == [0.1] * 5 + [0.2] * 5
    assert sorted(np.asarray(un.null).tolist()) == [5.0] * 5 + [6.0] * 5
