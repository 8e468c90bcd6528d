"""Wiring of the execution evidence functions: signs, ratio directions and which run is the null.

A fake RunContext hands the evidence functions small synthetic training results whose answers are known (e.g. W_Q/W_K
trajectories spread over 6 directions, W_V/W_O over 2), so a swapped sign, a swapped argument or the wrong null run
changes the asserted value.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution import experiment as X
from geomclaims.studies.execution import sae as S
from geomclaims.studies.execution.profiles import (
    MAIN_VARIANT,
    OVERLAP_VARIANT,
    PROFILE_SETTINGS,
    SGD_VARIANT,
    VARIANTS,
    train_config,
)
from geomclaims.studies.execution.task import Batch

E, S_, DIM = 3, 13, 4  # members, snapshots, matrix side (16 coordinates)
M_VALUES = [1, 2, 3, 4]


def _traj(k: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """S_ snapshots spread isotropically over k orthonormal directions of R^(DIM*DIM): r90 close to k."""
    basis = np.linalg.qr(rng.standard_normal((DIM * DIM, k)))[0].T
    return (scale * rng.standard_normal((S_, k)) @ basis).reshape(S_, DIM, DIM)


def fake_result(
    dims: dict[str, int], acc: list[float], seed: int = 0, entropy_end: float = 0.5, mlp: bool = False
) -> dict[str, Any]:
    """A synthetic run; ``mlp`` adds W_in / W_out trajectories (rank ``dims.get(type, 6)``) as an MLP model records."""
    rng = np.random.default_rng(seed)
    types = (*A.MATRIX_TYPES, "W_in", "W_out") if mlp else A.MATRIX_TYPES
    names = [f"L{layer}_{t}" for layer in range(2) for t in types]
    res: dict[str, Any] = {
        "seeds": np.arange(E),
        "matrices": names,
        "m_values": np.asarray(M_VALUES),
        "snap_steps": np.arange(S_) * 10,
        "acc": np.broadcast_to(np.asarray(acc, dtype=float), (E, S_, len(M_VALUES))).copy(),
    }
    for n in names:
        res[f"snap/{n}"] = np.stack([_traj(dims.get(n.split("_", 1)[1], 6), rng) for _ in range(E)])
    res["stage_end_step"] = np.full((E, len(M_VALUES)), -1)  # mixed training: no stage is ever left
    ent = np.ones((E, S_, 2))
    ent[:, -1, :] = entropy_end
    res["entropy"] = ent
    return res


class FakeCtx:
    """RunContext stand-in: picks a synthetic result by the config's modifiers and records the configs asked for."""

    def __init__(self, by_kind: dict[str, dict[str, Any]]) -> None:
        self.by_kind = by_kind
        self.settings = dict(PROFILE_SETTINGS["smoke"])
        self.device = "cpu"
        self.configs: list[dict[str, Any]] = []

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        self.configs.append(config)
        if config["labels"] == "shuffled":
            return self.by_kind["shuffled"]
        if config["model"]["mlp"]:
            return self.by_kind["mlp"]
        if config["task"]["op"] == "mul":
            return self.by_kind["mul"]
        if config["task"]["schedule"] == "curriculum":
            return self.by_kind["curriculum"]
        return self.by_kind["main"]


def case(metric: str, null: str | None, expect_op: str = ">", **params: Any) -> Any:
    claim = SimpleNamespace(
        id="T",
        metric=metric,
        variant=MAIN_VARIANT,
        expect=SimpleNamespace(op=expect_op, value=0),
        null=None if null is None else SimpleNamespace(name=null),
    )
    return SimpleNamespace(claim=claim, params=params)


LEARNED = [1.0, 0.98, 0.95, 0.92]
CHANCE = [0.13, 0.12, 0.12, 0.11]
HIGH_QK = {"W_Q": 6, "W_K": 6, "W_V": 2, "W_O": 2}
HIGH_VO = {"W_Q": 2, "W_K": 2, "W_V": 6, "W_O": 6}
LOW = dict.fromkeys(A.MATRIX_TYPES, 2)
HIGH = dict.fromkeys(A.MATRIX_TYPES, 6)


def test_learning_preconditions_min_over_m() -> None:
    res = fake_result(LOW, [1.0, 0.9, 0.3, 0.2])
    pre = X.learning_preconditions(res, "x_")
    assert pre["x_final_acc_m_le_2"] == pytest.approx(0.9)
    assert pre["x_final_acc_all_m"] == pytest.approx(0.2)


def test_qk_minus_vo_sign_and_shuffled_null() -> None:
    ctx = FakeCtx({"main": fake_result(HIGH_QK, LEARNED), "shuffled": fake_result(HIGH_VO, CHANCE, seed=1)})
    ev = X.trajectory_evidence(case("qk_minus_vo", "shuffled_labels", measure="r90"), ctx)
    assert np.all(np.asarray(ev.measured) > 1)  # Q,K (r90 4-5) above V,O (~2) in the trained run
    assert np.all(np.asarray(ev.null) < -1)  # the null is the shuffled run, where the order is reversed
    assert ev.details["preconditions"]["final_acc_all_m"] == pytest.approx(0.92)
    assert ev.details["preconditions"]["shuffled_final_acc_all_m"] == pytest.approx(0.11)


def test_r90_null_is_the_named_run() -> None:
    ctx = FakeCtx({"main": fake_result(LOW, LEARNED), "shuffled": fake_result(HIGH, CHANCE, seed=1)})
    shuf = X.trajectory_evidence(case("r90", "shuffled_labels", matrix="W_Q"), ctx)
    assert np.all(np.asarray(shuf.measured) <= 2) and np.all(np.asarray(shuf.null) >= 3.5)
    assert len(shuf.null) == E
    walk = X.trajectory_evidence(case("r90", "step_matched_random_walk", matrix="W_Q"), ctx)
    assert len(walk.null) == E * int(ctx.settings["null_draws"])
    assert walk.details["shuffled_labels_r90"] == list(shuf.null)
    with pytest.raises(ValueError, match="unsupported null"):
        X.trajectory_evidence(case("r90", "random_subspaces", matrix="W_Q"), ctx)


def test_mlp_and_mul_directions() -> None:
    ctx = FakeCtx(
        {
            "main": fake_result(LOW, LEARNED),
            "mlp": fake_result(HIGH, [1.0, 1.0, 0.5, 0.4], seed=2, mlp=True),
            "mul": fake_result(HIGH, LEARNED, seed=3),
        }
    )
    d = X.trajectory_evidence(case("mlp_minus_attn", "seeds_ci", measure="r90"), ctx)
    assert np.all(np.asarray(d.measured) > 1)  # mlp minus attention, not the reverse
    assert np.all(np.isfinite(d.details["mlp_matrices_r90"]))
    assert d.details["wilcoxon"] == {
        "p": pytest.approx(0.125),
        "alternative": "greater",
        "n": E,
        "n_nonzero": E,
    }
    dim = X.trajectory_evidence(case("mlp_dimension", "attention_only_model", measure="r90"), ctx)
    assert np.all(np.asarray(dim.measured) >= 3.5) and np.all(np.asarray(dim.null) <= 2)
    acc = X.trajectory_evidence(case("mlp_acc_minus_attn", "seeds_ci", expect_op="<"), ctx)
    assert np.allclose(acc.measured, np.mean([1.0, 1.0, 0.5, 0.4]) - np.mean(LEARNED))
    assert acc.details["preconditions"]["mlp_final_acc_all_m"] == pytest.approx(0.4)
    gap = np.mean([1.0, 1.0, 0.5, 0.4]) - np.mean(LEARNED)  # constant curves: over training = final
    assert acc.details["acc_over_training_mlp_minus_attn"] == pytest.approx([gap] * E)
    assert np.all(
        np.asarray(d.details["all_params_r90"]["mlp"]) > np.asarray(d.details["all_params_r90"]["base"])
    )
    ctx.configs.clear()
    ctx.settings["eval_per_m"] = 512  # enough samples for the majority-class share to be near 1/6
    mul = X.trajectory_evidence(case("mul_minus_add", "seeds_ci", measure="r90"), ctx)
    assert np.all(np.asarray(mul.measured) > 1)
    assert mul.details["wilcoxon"]["p"] == pytest.approx(0.125)  # the rank test of mul minus add, same side
    # Both runs on the same prime modulus; the addition baseline is not the C = 8 main run.
    assert {c["task"]["C"] for c in ctx.configs if c["task"]["op"] in ("add", "mul")} >= {7}
    assert all(c["task"]["C"] == 7 for c in ctx.configs[-2:])
    base = mul.details["majority_baseline"]
    assert all(b < 0.3 for b in base["mul"])  # uniform over {1..6} modulo 7


def test_seed_deviation_per_seed() -> None:
    res = fake_result(LOW, LEARNED)
    res["seeds"] = np.arange(4)
    for n in res["matrices"]:
        rng = np.random.default_rng(5)
        ks = [2, 2, 2, 6]
        res[f"snap/{n}"] = np.stack([_traj(k, rng) for k in ks])
    dev, _ = X.seed_deviation(res)
    assert dev[3] > 1.5 and np.all(dev[:3] < 0.5)


def test_entropy_ratio_direction_and_null() -> None:
    ctx = FakeCtx(
        {
            "main": fake_result(LOW, LEARNED, entropy_end=0.2),
            "shuffled": fake_result(LOW, CHANCE, entropy_end=0.9),
        }
    )
    ev = X.entropy_evidence(case("entropy_end_over_start", "shuffled_labels", layer="last"), ctx)
    assert np.allclose(ev.measured, 0.2) and np.allclose(ev.null, 0.9)  # end / start, trained vs shuffled


def test_curriculum_sign_and_precondition() -> None:
    cur = fake_result(LOW, [0.3, 0.2, 0.2, 0.9])
    # Snapshots every 10 steps to 120; every member leaves stages m = 1, 2, 3 at steps 30, 60, 90 (indices 3, 6, 9)
    # and trains m = 4 to the end (index 12).
    cur["stage_end_step"][:] = [30, 60, 90, -1]
    for j, end in enumerate((3, 6, 9)):
        cur["acc"][:, end, j] = 0.95  # each stage's m learned at its own end, m = 1 later forgotten
    ctx = FakeCtx({"main": fake_result(LOW, LEARNED), "curriculum": cur})
    ev = X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)
    assert np.allclose(ev.measured, 1.0 - 0.3)  # mixed minus curriculum
    assert ev.details["curriculum_acc_on_stage_m_at_stage_end"] == pytest.approx([0.95, 0.95, 0.95, 0.9])
    assert ev.details["curriculum_stage_end_steps"] == [[30, 60, 90, 120]] * E
    # Stages with a successor (m = 1, 2, 3) gate; the last stage (m = 4, 0.9) is shown only.
    assert ev.details["preconditions"]["curriculum_stage_acc_min_before_next"] == pytest.approx(0.95)
    assert ev.details["curriculum_last_stage_acc"] == pytest.approx(0.9)
    # Members stuck on m = 2 (never left it, never reached m = 3, 4): each stage is read at the end of training.
    cur["stage_end_step"][:] = [30, -1, -1, -1]
    cur["acc"][:, -1, 1] = 0.4
    ev = X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)
    assert ev.details["curriculum_acc_on_stage_m_at_stage_end"] == pytest.approx([0.95, 0.4, 0.2, 0.9])
    assert ev.details["preconditions"]["curriculum_stage_acc_min_before_next"] == pytest.approx(0.2)
    # A last stage left unlearned does not gate: only the stages that a later stage could make the model forget.
    cur["stage_end_step"][:] = [30, 60, 90, -1]
    cur["acc"][:, -1, 3] = 0.1
    ev = X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)
    assert ev.details["preconditions"]["curriculum_stage_acc_min_before_next"] == pytest.approx(0.95)
    assert ev.details["curriculum_last_stage_acc"] == pytest.approx(0.1)


def test_curriculum_stage_ends_need_a_snapshot_there() -> None:
    steps = np.arange(13) * 10
    ends = X.curriculum_stage_ends(steps, np.array([[30, 60, 90, -1], [20, -1, -1, -1]]))
    assert ends.tolist() == [[3, 6, 9, 12], [2, 12, 12, 12]]
    with pytest.raises(ValueError, match="stage 1 at step 55"):
        X.curriculum_stage_ends(steps, np.array([[30, 55, -1, -1]]))
    with pytest.raises(ValueError, match="members, stages"):
        X.curriculum_stage_ends(steps, np.array([30, 60]))


def _with_commutators(res: dict[str, Any], late_over_early: float) -> dict[str, Any]:
    """``res`` plus commutator norms whose late-half median is ``late_over_early`` x the early half's, per member."""
    steps = np.array([0, 10, 20, 30, 40])
    early = 1.0 + 0.01 * np.arange(E)[:, None]
    res = dict(res, comm_steps=steps, comm_D=np.ones((E, steps.size)))
    res["comm_norm"] = np.concatenate(
        [np.full((E, 1), 9.0), np.repeat(early, 2, 1), np.repeat(early * late_over_early, 2, 1)], axis=1
    )
    return res


@pytest.mark.parametrize(("shuffled_ratio", "beats"), [(0.1, True), (1.0, False)])
def test_e6_shuffled_null_reads_the_shuffled_twin(shuffled_ratio: float, beats: bool) -> None:
    """E6's control: the shuffled-label twin's persistence; it fails (null as persistent) or passes by the input."""
    main = _with_commutators(fake_result(LOW, LEARNED), 1.0)
    shuf = _with_commutators(fake_result(HIGH, CHANCE, seed=1), shuffled_ratio)
    ctx = FakeCtx({"main": main, "shuffled": shuf})
    ev = X.commutator_evidence(case("commutator_persistence", "shuffled_labels", ">="), ctx)
    assert np.allclose(ev.measured, 1.0) and np.allclose(ev.null, shuffled_ratio)
    assert bool(np.min(ev.measured) > np.max(ev.null)) is beats
    assert ev.details["shuffled_labels_persistence"] == pytest.approx([shuffled_ratio] * E)
    # The shuffled twin was asked for with commutators on (the same checkpoints as the main run).
    shuf_cfgs = [c for c in ctx.configs if c["labels"] == "shuffled"]
    assert shuf_cfgs and all(c["n_commutators"] == ctx.settings["n_commutators"] for c in shuf_cfgs)
    assert all(c["sae"] is None for c in shuf_cfgs)
    # Without the null the claim has no null samples.
    assert X.commutator_evidence(case("commutator_persistence", None, ">="), ctx).null is None


def test_sgd_variant_has_a_shuffled_twin_and_other_variants_do_not() -> None:
    ctx = FakeCtx({"main": fake_result(LOW, LEARNED), "shuffled": fake_result(HIGH, CHANCE, seed=1)})
    c = case("r90", "shuffled_labels", "between", matrix="W_Q")
    c.claim.variant = SGD_VARIANT
    ev = X.trajectory_evidence(c, ctx)
    assert np.median(ev.null) > np.median(ev.measured)  # the twin's high-rank trajectories are the null
    assert {(cfg["variant"], cfg["labels"]) for cfg in ctx.configs} == {
        (SGD_VARIANT, "true"),
        (SGD_VARIANT, "shuffled"),
    }
    c.claim.variant = OVERLAP_VARIANT
    with pytest.raises(ValueError, match="shuffled_labels' exists only for variants"):
        X.trajectory_evidence(c, ctx)


def test_commutator_persistence_skips_step_zero() -> None:
    steps = np.array([0, 10, 20, 30, 40])
    norms = np.array([[100.0, 1.0, 1.0, 2.0, 2.0]])  # a huge step-0 value must not set the early level
    assert X.commutator_persistence(steps, norms) == pytest.approx([2.0])
    assert X.commutator_persistence(steps, np.array([[1.0, 4, 4, 1, 1]])) == pytest.approx([0.25])


# ------------------------------------------------------------------------------------------------ analysis.py


def test_early_capture_settled_vs_drifting() -> None:
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((30, 30)))[0].T
    t = np.arange(25)
    settled = np.stack([np.cos(t / 3), np.sin(t / 3)], 1) @ basis[:2]  # the same 2-plane throughout
    assert A.early_capture(settled) > 0.95
    # The first quarter moves along e0 only; the rest opens a new direction e1 with most of the variance.
    drift = np.outer(np.minimum(t, 6), basis[0]) + np.outer(np.maximum(t - 6, 0) ** 1.5, basis[1])
    assert A.early_capture(drift) < 0.5


def test_early_capture_refuses_a_rank_above_the_window() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="early window"):
        A.early_capture(rng.standard_normal((9, 40)))  # r90 ~7 > 2 directions of a 3-snapshot window


def test_commutator_projection_inside_vs_outside() -> None:
    res = fake_result(LOW, LEARNED)
    K = 4
    for n in res["matrices"]:
        traj = np.asarray(res[f"snap/{n}"], dtype=float).reshape(E, S_, -1)
        inside = np.stack([traj[e] - traj[e].mean(0) for e in range(E)])[:, :K]
        outside = np.stack([np.linalg.svd(traj[e] - traj[e].mean(0))[2][-K:] for e in range(E)])
        res[f"comm_delta/{n}"] = inside
        res[f"comm_grad/{n}"] = outside
    p = A.commutator_projection(res, "W_Q", 0, n_draws=5, seed=0)
    assert np.allclose(p["rho"], 1.0, atol=1e-6)  # commutator in the execution subspace
    assert np.allclose(p["rho_grad"], 0.0, atol=1e-6)  # gradient orthogonal: rho and rho_grad not swapped
    assert np.allclose(p["perp"], 0.0, atol=1e-3)


def test_rho_trend_sign() -> None:
    steps = np.arange(6)
    falling = [{"rho": np.linspace(0.5, 0.1, 6)}, {"rho": np.linspace(0.4, 0.2, 6)}]
    assert np.all(A.rho_trend(steps, falling) < 0)
    assert np.all(A.rho_trend(steps, [{"rho": np.linspace(0.1, 0.5, 6)}]) > 0)


def test_walk_null_uses_each_members_own_trajectory(monkeypatch: pytest.MonkeyPatch) -> None:
    res = fake_result(LOW, LEARNED)
    for n in res["matrices"]:
        rng = np.random.default_rng(9)
        res[f"snap/{n}"] = np.stack([_traj(k, rng) for k in (1, 3, 6)])
    monkeypatch.setattr(A, "step_matched_random_walk", lambda t, seed: t)  # identity walk: null = measured
    null = A.null_per_member(res, "W_Q", "r90", draws=2)
    assert np.allclose(null, np.repeat(A.per_member(res, "W_Q", "r90"), 2))


# ------------------------------------------------------------------------------------------------ sae.py


def test_latent_correlations_find_the_marker_latent() -> None:
    rng = np.random.default_rng(0)
    B, T, marker = 16, 8, 9
    tokens = rng.integers(0, 8, size=(B, T))
    tokens[:, 2] = marker
    batch = Batch(tokens=tokens, target=np.zeros(B, int), m=np.ones(B, int), marker_pos=np.full((B, 1), 2))
    tok_f, seq_f = S.task_features(batch, marker)
    h = rng.random((B * T, 3))
    h[:, 1] = tok_f[:, 0]  # latent 1 fires exactly on markers
    corr = S.latent_correlations(h, tok_f, seq_f, B, T)
    assert corr[1] == pytest.approx(1.0) and corr[0] < 0.5 and corr[2] < 0.5


def test_top_correlated_and_random_alive_masks() -> None:
    corr = np.array([[0.1, 0.9, 0.2, 0.8, 0.0, 0.3]])
    top = S.top_correlated(corr, 2)
    assert top[0].nonzero().ravel().tolist() == [1, 3]
    alive = np.array([[True, True, False, True, True, True]])
    rng = np.random.default_rng(0)
    for _ in range(10):
        m = S.random_alive_mask(alive, top, 2, rng)[0]
        chosen = set(m.nonzero().ravel().tolist())
        assert len(chosen) == 2 and chosen <= {0, 4, 5}  # alive, outside the top-k
    with pytest.raises(ValueError, match="alive latents"):
        S.random_alive_mask(alive, top, 4, rng)
    assert isinstance(top, torch.Tensor)


# ------------------------------------------------------------------------------------------------ report.py


def test_report_section_shows_preconditions_nulls_and_accuracy(tmp_path: Any) -> None:
    from geomclaims.studies.execution.report import section

    curves = {"acc_steps": [0, 10], "acc_m_values": [1, 2], "acc_curve_per_m": [[0.1, 1.0], [0.1, 0.4]]}
    entries = [
        {
            "id": "E5-entropy-drop[last]",
            "claim_id": "E5-entropy-drop",
            "verdict": "untestable",
            "params": {"layer": "last"},
            "measured": {"samples": [0.3, 0.2, 0.4]},
            "notes": [],
            "details": {
                **curves,
                "preconditions": {"final_acc_m_le_2": 0.4, "final_acc_all_m": 0.4},
                "steps": [0, 10],
                "entropy_per_layer_mean": [[1.0, 0.5]],
                "entropy_shuffled_mean": [1.0, 0.9],
            },
        },
        {
            "id": "E2-vo-lower-than-qk[r90]",
            "claim_id": "E2-vo-lower-than-qk",
            "verdict": "untestable",
            "params": {"measure": "r90"},
            "measured": {"samples": [1.0, 1.0, 2.0]},
            "notes": [],
            "details": {"wilcoxon": {"p": 0.125, "alternative": "greater", "n": 3, "n_nonzero": 3}},
        },
        {
            "id": "E1-effective-rank-W_Q[W_Q]",
            "claim_id": "E1-effective-rank-W_Q",
            "verdict": "untestable",
            "params": {"matrix": "W_Q"},
            "measured": {"samples": [2.0, 3.0, 3.0]},
            "null": {},
            "notes": [],
            "details": {"walk_null_r90": [5.0, 6.0, 7.0], "shuffled_labels_r90": [4.0, 4.0, 6.0]},
        },
    ]
    md = section(entries, tmp_path)
    # Each case's measurement, controls and preconditions are in the report's claim details (issue #26): the
    # section keeps the figures and the paired claims' supporting Wilcoxon p, and repeats no per-case table.
    assert "`E2-vo-lower-than-qk[r90]` p = 0.125 (greater, n = 3)" in md
    assert "| E5-entropy-drop[last] |" not in md
    assert "](figures/execution_accuracy.png)" in md and "](figures/execution_r90.png)" in md
    assert (tmp_path / "execution_accuracy.png").exists()


def test_early_capture_with_too_few_snapshots_is_untestable_not_capped() -> None:
    from geomclaims.registry import Untestable

    ctx = FakeCtx({"main": fake_result(HIGH, LEARNED), "shuffled": fake_result(HIGH, CHANCE, seed=1)})
    with pytest.raises(Untestable, match="early window"):
        X.trajectory_evidence(case("early_capture", "step_matched_random_walk", matrix="W_Q"), ctx)


# ------------------------------------------------------------------------------------ orderings (paired tests)


def test_paired_wilcoxon_side_follows_the_expect_op() -> None:
    diff = np.array([0.5, 1.0, 0.25, 0.75, 1.5, 0.5, 2.0, 0.3])  # 8 seeds, every one positive
    up = X.paired_wilcoxon(diff, ">")
    assert up["alternative"] == "greater" and up["n"] == 8 and up["p"] < 0.01
    # A swapped sign or a swapped side must not look significant.
    assert X.paired_wilcoxon(-diff, ">")["p"] > 0.9
    assert X.paired_wilcoxon(diff, "<")["p"] > 0.9
    assert X.paired_wilcoxon(-diff, "<")["p"] == pytest.approx(up["p"])
    # All ties at zero carry no evidence; non-finite input and a non-ordering op are errors.
    assert X.paired_wilcoxon(np.zeros(8), ">") == {"p": 1.0, "alternative": "greater", "n": 8, "n_nonzero": 0}
    with pytest.raises(ValueError, match="finite"):
        X.paired_wilcoxon([1.0, np.nan, 2.0], ">")
    with pytest.raises(ValueError, match="not an ordering"):
        X.paired_wilcoxon(diff, "between")


def test_ordering_evidence_reports_the_wilcoxon_of_its_own_differences() -> None:
    ctx = FakeCtx(
        {
            "main": fake_result(HIGH_QK, LEARNED),
            "shuffled": fake_result(HIGH_VO, CHANCE, seed=1),
            "mlp": fake_result(HIGH, [1.0, 1.0, 0.5, 0.4], seed=2, mlp=True),
        }
    )
    ev = X.trajectory_evidence(case("qk_minus_vo", "seeds_ci", measure="r90"), ctx)
    w = ev.details["wilcoxon"]
    # Q,K above V,O in every member: the one-sided p is the smallest 3 pairs allow (1/8), not its complement.
    assert w["alternative"] == "greater" and w["p"] == pytest.approx(X.paired_wilcoxon(ev.measured, ">")["p"])
    assert w["p"] == pytest.approx(0.125)
    acc = X.trajectory_evidence(case("mlp_acc_minus_attn", "seeds_ci", expect_op="<"), ctx)
    # MLP accuracy is lower here, so "less" gets the small p; the sign of the difference is mlp minus attention.
    assert acc.details["wilcoxon"]["alternative"] == "less"
    assert acc.details["wilcoxon"]["p"] == pytest.approx(0.125)


def test_ordering_runs_use_ordering_seeds_and_others_keep_seeds() -> None:
    ctx = FakeCtx(
        {
            "main": fake_result(HIGH_QK, LEARNED),
            "shuffled": fake_result(HIGH_VO, CHANCE, seed=1),
            "mlp": fake_result(HIGH, LEARNED, seed=2, mlp=True),
            "mul": fake_result(HIGH, LEARNED, seed=3),
            "curriculum": fake_result(LOW, LEARNED),
        }
    )
    ctx.settings["ordering_seeds"] = [0, 1, 2, 3, 4, 5, 6, 7]
    ctx.settings["seeds"] = [0, 1]
    X.trajectory_evidence(case("qk_minus_vo", "shuffled_labels", measure="r90"), ctx)
    X.trajectory_evidence(case("mlp_minus_attn", "seeds_ci", measure="r90"), ctx)
    X.trajectory_evidence(case("mul_minus_add", "seeds_ci", measure="r90"), ctx)
    assert len(ctx.configs) >= 5
    assert all(c["seeds"] == ctx.settings["ordering_seeds"] for c in ctx.configs)
    kinds = {(c["labels"], c["model"]["mlp"], c["task"]["op"], c["task"]["C"]) for c in ctx.configs}
    assert kinds >= {("true", False, "add", 8), ("shuffled", False, "add", 8), ("true", True, "add", 8)}
    assert kinds >= {("true", False, "add", 7), ("true", False, "mul", 7)}
    ctx.configs.clear()
    X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)
    cur = [c for c in ctx.configs if c["task"]["schedule"] == "curriculum"]
    assert cur and all(c["seeds"] == [0, 1] for c in cur)  # the curriculum run keeps `seeds` (CPU)
    assert X.uses_ordering_seeds(MAIN_VARIANT, {}) and not X.uses_ordering_seeds(SGD_VARIANT, {})
    assert not X.uses_ordering_seeds(MAIN_VARIANT, {"schedule": "curriculum"})
    assert not X.uses_ordering_seeds(MAIN_VARIANT, {"seeds": [100], "init_seeds": [0]})


def test_paired_runs_with_different_seeds_are_refused() -> None:
    mlp = fake_result(HIGH, LEARNED, seed=2)
    mlp["seeds"] = np.arange(E) + 1  # same size, different members: a difference would pair the wrong seeds
    ctx = FakeCtx({"main": fake_result(LOW, LEARNED), "mlp": mlp})
    with pytest.raises(ValueError, match="different seeds"):
        X.trajectory_evidence(case("mlp_minus_attn", "seeds_ci", measure="r90"), ctx)


def test_curriculum_pairs_the_main_run_by_seed() -> None:
    main = fake_result(LOW, LEARNED)
    main["seeds"] = np.array([0, 1, 2])
    main["acc"][:, -1, 0] = [0.9, 0.8, 0.7]  # m = 1 final accuracy differs per seed
    cur = fake_result(LOW, [0.1, 0.2, 0.2, 0.9])
    cur["seeds"] = np.array([2, 0])
    cur["acc"] = cur["acc"][:2]
    cur["stage_end_step"] = cur["stage_end_step"][:2]
    cur["acc"][:, -1, 0] = [0.2, 0.4]
    ctx = FakeCtx({"main": main, "curriculum": cur})
    ev = X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)
    assert np.allclose(ev.measured, [0.7 - 0.2, 0.9 - 0.4])  # seed 2 with seed 2, seed 0 with seed 0
    cur["seeds"] = np.array([2, 9])
    with pytest.raises(ValueError, match="no member for seeds \\[9\\]"):
        X.curriculum_evidence(case("acc_m1_mixed_minus_curriculum", "seeds_ci"), ctx)


def test_sgd_variant_config() -> None:
    ci = PROFILE_SETTINGS["ci"]
    sgd = train_config(ci, SGD_VARIANT, "cpu")
    main = train_config(ci, MAIN_VARIANT, "cpu")
    # A side run (its claims need m <= 2 learned): side_steps, a budget below the main run's steps.
    assert sgd["optim"] == {
        "name": "sgd",
        "lr": 0.1,
        "batch": 64,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "warmup_frac": 0.0333,
        "steps": ci["side_steps"],
    }
    # The main variant's schedule (constant lr 0.1 never settled): only the optimizer and its lr differ.
    assert {k: v for k, v in sgd["optim"].items() if k not in ("name", "lr", "steps")} == {
        k: v for k, v in main["optim"].items() if k not in ("name", "lr", "steps")
    }
    assert ci["side_steps"] < ci["steps"] and main["optim"]["steps"] == ci["steps"]
    assert VARIANTS[SGD_VARIANT]["optim"]["name"] == "sgd"
    # Only the optimizer differs from the main variant; it keeps the 4 `seeds`, not the ordering seeds. (A side run
    # compiles too, compile_min_steps = 3000; compiled and eager steps agree to float noise.)
    assert sgd["compile"] and main["compile"]
    assert {k: v for k, v in sgd.items() if k not in ("optim", "variant", "compile")} == {
        k: v for k, v in main.items() if k not in ("optim", "variant", "compile")
    }
    assert sgd["seeds"] == ci["seeds"] and len(ci["ordering_seeds"]) >= 8


def test_side_runs_are_the_m_le_2_runs_and_pairs_stay_step_matched() -> None:
    ci = PROFILE_SETTINGS["ci"]
    steps = {
        "main": train_config(ci, MAIN_VARIANT, "cpu"),
        "shuffled": train_config(ci, MAIN_VARIANT, "cpu", labels="shuffled"),
        "mlp": train_config(ci, MAIN_VARIANT, "cpu", mlp=True),
        "curriculum": train_config(ci, MAIN_VARIANT, "cpu", schedule="curriculum"),
        "twin": train_config(ci, MAIN_VARIANT, "cpu", seeds=[100], init_seeds=[0]),
        "add7": train_config(ci, MAIN_VARIANT, "cpu", C=7),
        "mul7": train_config(ci, MAIN_VARIANT, "cpu", C=7, op="mul"),
        "sgd": train_config(ci, SGD_VARIANT, "cpu"),
        "sgd_shuffled": train_config(ci, SGD_VARIANT, "cpu", labels="shuffled"),
        "overlap": train_config(ci, OVERLAP_VARIANT, "cpu"),
    }
    got = {k: v["optim"]["steps"] for k, v in steps.items()}
    long = {"main", "shuffled", "mlp", "curriculum", "twin"}
    assert got == {k: ci["steps"] if k in long else ci["side_steps"] for k in steps}


def _sae_result(drop: float, drop_all: float) -> dict[str, Any]:
    """A learned main run whose final-stage SAE ablation drops are ``drop`` (top-k) and ``drop_all`` (every latent)."""
    res = fake_result(LOW, LEARNED)
    res["sae/stage_steps"] = np.array([30, 60, 120])
    rng = np.random.default_rng(4)
    for j in range(3):
        base = np.full(E, 0.97)
        d = drop + 0.005 * rng.standard_normal(E)
        fields = {
            "base_acc": base,
            "ablated_acc": base - d,
            "all_ablated_acc": base - drop_all,
            "drop": d,
            "drop_all": np.full(E, drop_all),
            "n_correlated": np.full(E, 4.0),
            "n_correlated_null": np.zeros((E, 5)),
            "n_alive": np.full(E, 100.0),
            "rel_recon_error": np.full(E, 0.05),
            "l0": np.full(E, 8.0),
            "drop_random": np.full((E, 5), 0.01),
            "n_ablated_correlated": np.full(E, 4.0),
        }
        for f, v in fields.items():
            res[f"sae/relu_l1/stage{j}/{f}"] = v
    return res


@pytest.mark.parametrize(
    "drop,drop_all,verdict",
    [(0.005, 0.8, "replicated"), (0.3, 0.8, "not_replicated"), (0.005, 0.01, "untestable")],
)
def test_e8_equivalence_replicates_fails_or_is_untestable(drop: float, drop_all: float, verdict: str) -> None:
    from pathlib import Path

    from geomclaims.claims import load_claims
    from geomclaims.decision import decide

    yaml = Path(__file__).resolve().parents[3] / "claims" / "execution_manifolds.yaml"
    claim = next(c for c in load_claims(yaml).claims if c.id == "E8-ablation-small")
    ctx = FakeCtx({"main": _sae_result(drop, drop_all)})
    ev = X.sae_evidence(case("ablation_drop", "none", "<", sae="relu_l1"), ctx)
    assert ev.null is None
    assert ev.preconditions["sae_all_latents_drop"] == pytest.approx(drop_all)
    # The claim's own requires (positive control included) and condition decide, as the runner does.
    met = all(r.holds(ev.preconditions[r.metric]) for r in claim.requires)
    got = (
        "untestable"
        if not met
        else decide(ev.measured, claim.expect, None, claim.null, profile="smoke").verdict
    )
    assert str(getattr(got, "value", got)) == verdict


def test_r90_readings_share_of_seeds_per_band() -> None:
    r = X.r90_readings([2.0, 2.5, 3.5, 4.5])
    assert r["median"] == pytest.approx(3.0)
    assert r["fig1_caption_3_5"] == pytest.approx(0.5)  # 3.5, 4.5
    assert r["text_3_4"] == pytest.approx(0.25)  # 3.5 only
    assert r["other_caption_2_3"] == pytest.approx(0.5)  # 2.0, 2.5
    with pytest.raises(ValueError, match="finite"):
        X.r90_readings([np.nan])


def test_report_lists_e1_paper_readings() -> None:
    from geomclaims.studies.execution import report as R

    entry = {
        "id": "E1-effective-rank-W_Q[W_Q]",
        "claim_id": "E1-effective-rank-W_Q",
        "verdict": "replicated",
        "params": {"matrix": "W_Q"},
        "details": {"paper_readings": X.r90_readings([3.5, 4.5])},
    }
    text = "\n".join(R._tables([entry]))
    row = next(line for line in text.splitlines() if line.startswith("| W_Q"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["W_Q", "4", "1", "0.5", "0"]


def test_all_attention_pools_every_attention_matrix_and_unknown_types_fail() -> None:
    res = fake_result({"W_Q": 2, "W_K": 2, "W_V": 6, "W_O": 6}, LEARNED)
    assert A.layers_of(res, A.ALL_ATTENTION) == list(res["matrices"])
    pooled = A.per_member(res, A.ALL_ATTENTION, "r90")
    by_type = np.mean([A.per_member(res, t, "r90") for t in A.MATRIX_TYPES], axis=0)
    # Equal layer counts per type: the pooled mean is the mean of the types.
    assert np.allclose(pooled, by_type)
    assert A.null_per_member(res, A.ALL_ATTENTION, "r90", 2).shape == (E * 2,)
    with pytest.raises(ValueError, match="no recorded matrix of type 'W_in'"):
        A.layers_of(res, "W_in")


def _noise_result(seed: int) -> dict[str, Any]:
    """A run whose snapshots are independent draws over the whole 16-dim space: no stable subspace at all."""
    res = fake_result(LOW, LEARNED, seed=seed)
    rng = np.random.default_rng(seed + 7)
    for n in res["matrices"]:
        res[f"snap/{n}"] = rng.standard_normal((E, S_, DIM, DIM))
    return res


def test_e4_control_is_each_runs_split_half_self_overlap() -> None:
    stable = X.trajectory_evidence(
        case("overlap_across_seeds", "split_half_self_overlap", "<", matrix="W_Q"),
        FakeCtx({"main": fake_result(LOW, LEARNED)}),
    )
    noisy = X.trajectory_evidence(
        case("overlap_across_seeds", "split_half_self_overlap", "<", matrix="W_Q"),
        FakeCtx({"main": _noise_result(3)}),
    )
    # One sample per (member, layer); a run that keeps its 2-dim subspace overlaps itself fully, seeds do not.
    assert len(stable.null) == E * 2
    assert np.min(stable.null) > 0.95 and np.max(stable.measured) < 0.8
    assert np.median(noisy.null) < 0.6  # no stable subspace: the ceiling drops towards chance
    assert stable.details["random_subspace_overlap"]["median"] < 0.5
    chance = X.trajectory_evidence(
        case("overlap_across_seeds", "random_subspaces", "<", matrix="W_Q"),
        FakeCtx({"main": fake_result(LOW, LEARNED)}),
    )
    assert len(chance.null) == 200
    with pytest.raises(ValueError, match="unsupported null"):
        X.trajectory_evidence(
            case("overlap_across_seeds", "shuffled_labels", "<", matrix="W_Q"),
            FakeCtx({"main": fake_result(LOW, LEARNED)}),
        )


@pytest.mark.parametrize(
    ("ceiling", "verdict"),
    [(0.95, "replicated"), (0.03, "trivial")],
    ids=["stable-subspace-replicates", "noise-ceiling-at-chance-is-trivial"],
)
def test_e4_claim_can_replicate_and_be_trivial(ceiling: float, verdict: str) -> None:
    """The claim's own condition and control, as the runner applies them: across-seed overlaps at chance level
    replicate only when a run's own subspace is stable (split-half overlap far above them)."""
    from pathlib import Path

    from geomclaims.claims import load_claims
    from geomclaims.decision import decide

    yaml = Path(__file__).resolve().parents[3] / "claims" / "execution_manifolds.yaml"
    claim = next(c for c in load_claims(yaml).claims if c.id == "E4-orientation-varies")
    rng = np.random.default_rng(0)
    across = 0.025 + 0.003 * rng.standard_normal(28)
    null = np.clip(ceiling + 0.01 * rng.standard_normal(64), 0, 1)
    got = decide(across, claim.expect, null, claim.null, profile="ci").verdict
    assert str(getattr(got, "value", got)) == verdict


def test_split_half_overlap_closed_forms() -> None:
    rng = np.random.default_rng(1)
    plane = np.linalg.qr(rng.standard_normal((16, 2)))[0].T  # a fixed 2-plane of R^16
    on_plane = rng.standard_normal((12, 2)) @ plane
    assert A.split_half_overlap(on_plane) == pytest.approx(1.0, abs=1e-9)  # both halves span that plane
    # Even snapshots on one axis, odd snapshots on an orthogonal one: the halves share no direction.
    alternating = np.zeros((12, 16))
    alternating[0::2, 0] = rng.standard_normal(6)
    alternating[1::2, 1] = rng.standard_normal(6)
    assert A.split_half_overlap(alternating) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match=">= 6 snapshots"):
        A.split_half_overlap(on_plane[:5])
