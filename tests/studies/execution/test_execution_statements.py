"""Wiring of the issue-22 item-12 evidence functions (statements.py): which m, which run is the null, which loss
interval belongs to a checkpoint, the positive control's verdict both ways, and the ci budget cut before training.

Synthetic runs with known answers, so a swapped argument, sign or index changes an asserted value.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from geomclaims.claims import load_claims
from geomclaims.paths import project_root
from geomclaims.registry import NotRun
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution import statements as ST
from geomclaims.studies.execution.profiles import MAIN_VARIANT, PROFILE_SETTINGS
from geomclaims.studies.execution.task import TaskSpec, data_rng, sample

E, S_, DIM = 3, 9, 4
M_VALUES = [1, 2, 3, 4]


def _claim(claim_id: str) -> Any:
    claims = load_claims(project_root() / "claims/execution_manifolds.yaml")
    return next(c for c in claims.cases() if c.claim.id == claim_id).claim


def case(metric: str, null: str | None = None, **params: Any) -> Any:
    claim = SimpleNamespace(
        id="T", metric=metric, variant=MAIN_VARIANT, null=None if null is None else SimpleNamespace(name=null)
    )
    return SimpleNamespace(claim=claim, params=params)


def fake_run(acc: float = 1.0, ent_end_per_m: list[float] | None = None, seed: int = 0) -> dict[str, Any]:
    """A run whose per-m entropy ends at ``ent_end_per_m`` (start 1.0) and whose trajectories have rank 2."""
    rng = np.random.default_rng(seed)
    names = [f"L{layer}_{t}" for layer in range(2) for t in A.MATRIX_TYPES]
    res: dict[str, Any] = {
        "seeds": np.arange(E),
        "matrices": names,
        "m_values": np.asarray(M_VALUES),
        "snap_steps": np.arange(S_) * 10,
        "acc": np.full((E, S_, len(M_VALUES)), acc),
    }
    for n in names:
        basis = np.linalg.qr(rng.standard_normal((DIM * DIM, 2)))[0].T
        res[f"snap/{n}"] = np.stack(
            [(rng.standard_normal((S_, 2)) @ basis).reshape(S_, DIM, DIM) for _ in range(E)]
        )
    ent = np.ones((E, S_, 2, len(M_VALUES)))
    ent[:, -1, 0, :] = 0.95  # first layer barely moves: 'last' must read layer -1
    ent[:, -1, -1, :] = ent_end_per_m or [0.5] * len(M_VALUES)
    res["entropy_per_m"] = ent
    res["entropy"] = ent.mean(3)
    return res


class FakeCtx:
    def __init__(
        self, main: dict[str, Any], shuffled: dict[str, Any] | None = None, profile: str = "smoke"
    ) -> None:
        self.main, self.shuffled = main, shuffled
        self.settings = dict(PROFILE_SETTINGS[profile])
        self.device = "cpu"
        self.configs: list[dict[str, Any]] = []

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        self.configs.append(config)
        return self.shuffled if config["labels"] == "shuffled" else self.main


# ---------------------------------------------------------------------------------------------- entropy per m


def test_entropy_per_m_reads_its_m_the_last_layer_and_the_shuffled_twin() -> None:
    ctx = FakeCtx(fake_run(ent_end_per_m=[0.9, 0.8, 0.2, 0.7]), fake_run(acc=0.12, ent_end_per_m=[0.99] * 4))
    ev = ST.entropy_per_m_evidence(case("entropy_end_over_start", "shuffled_labels", m=3, layer="last"), ctx)
    assert np.allclose(ev.measured, 0.2)  # m = 3 is the third column; end / start, not start / end
    assert np.allclose(ev.null, 0.99)  # the null is the shuffled-label run
    ev1 = ST.entropy_per_m_evidence(case("entropy_end_over_start", "shuffled_labels", m=1, layer="last"), ctx)
    assert np.allclose(ev1.measured, 0.9)
    mean = ST.entropy_per_m_evidence(
        case("entropy_end_over_start", "shuffled_labels", m=3, layer="mean"), ctx
    )
    assert np.allclose(mean.measured, (0.95 + 0.2) / 2)
    assert ev.preconditions["final_acc_this_m"] == pytest.approx(1.0)


def test_entropy_per_m_precondition_is_the_accuracy_at_that_m() -> None:
    run = fake_run()
    run["acc"][:, -1, :] = [1.0, 1.0, 0.4, 0.95]
    ctx = FakeCtx(run, fake_run(acc=0.12))
    ev = ST.entropy_per_m_evidence(case("entropy_end_over_start", "shuffled_labels", m=3, layer="last"), ctx)
    assert ev.preconditions["final_acc_this_m"] == pytest.approx(0.4)


def test_train_records_entropy_per_m_consistent_with_the_mean() -> None:
    from geomclaims.studies.execution.profiles import train_config
    from geomclaims.studies.execution.train import train_run

    cfg = train_config(dict(PROFILE_SETTINGS["smoke"]), MAIN_VARIANT, "cpu")
    cfg.update(n_snapshots=3, compile=False)
    cfg["optim"]["steps"] = 2
    res = train_run(cfg, cfg["seeds"][0])
    per_m = np.asarray(res["entropy_per_m"])
    assert per_m.shape == (*np.asarray(res["entropy"]).shape, len(cfg["task"]["m_values"]))
    assert np.allclose(per_m.mean(-1), res["entropy"])


# ------------------------------------------------------------------------------------ commutator vs loss change


def test_loss_change_is_the_interval_after_minus_before_and_last_falls_back() -> None:
    loss = np.array([[5.0, 4.0, 1.0, 1.5]])
    steps = np.array([0, 10, 20, 30])
    got = ST.loss_change_at(steps, loss, np.array([10, 30]))
    assert np.allclose(got, [[3.0, 0.5]])  # |L[2] - L[1]|; at the last step |L[3] - L[2]|
    with pytest.raises(ValueError, match="not a snapshot step"):
        ST.loss_change_at(steps, loss, np.array([15]))


def _comm_run(norm_sign: float, level: str) -> dict[str, Any]:
    """Commutator checkpoints on every snapshot; the commutator norm follows (+1) or opposes (-1) the loss change;
    the loss level either decays (changes follow it) or is random, unrelated to its changes."""
    rng = np.random.default_rng(3)
    steps = np.arange(12) * 10
    if level == "decay":
        loss = np.tile(3.0 * np.exp(-0.4 * np.arange(12)), (E, 1))
    else:
        # Level and size of the next change drawn independently: the control has nothing to find.
        loss = np.cumsum(rng.choice([-1.0, 1.0], (E, 12)) * rng.uniform(0.1, 1.0, (E, 12)), 1) + 10.0
    change = ST.loss_change_at(steps, loss, steps)
    return {
        "seeds": np.arange(E),
        "m_values": np.asarray(M_VALUES),
        "snap_steps": steps,
        "acc": np.ones((E, 12, 4)),
        "train_loss": loss,
        "comm_steps": steps,
        "comm_norm": 1.0 + norm_sign * change / change.max(),
        "matrices": [],
    }


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_commutator_loss_correlation_sign(sign: float) -> None:
    ev = ST.commutator_loss_evidence(
        case("spearman_commutator_loss_change"), FakeCtx(_comm_run(sign, "decay"))
    )
    assert np.allclose(ev.measured, sign)  # rho(commutator norm, |loss change|), not its negative
    assert ev.details["steps"][0] > 0  # step 0 left out as in E6


def test_positive_control_passes_on_a_decaying_loss_and_fails_on_an_unrelated_level() -> None:
    gate = next(r for r in _claim("E6-spikes-vs-loss").requires if r.metric == "control_abs_rho_loss_level")
    strong = ST.commutator_loss_evidence(
        case("spearman_commutator_loss_change"), FakeCtx(_comm_run(1.0, "decay"))
    )
    weak = ST.commutator_loss_evidence(
        case("spearman_commutator_loss_change"), FakeCtx(_comm_run(1.0, "walk"))
    )
    assert gate.holds(strong.preconditions["control_abs_rho_loss_level"])
    # Opposite verdict: a level unrelated to its changes fails the gate, so the claim would be untestable.
    assert not gate.holds(weak.preconditions["control_abs_rho_loss_level"])


# -------------------------------------------------------------------------------------------- fixed m, C = 16


class _NoTraining(FakeCtx):
    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        raise AssertionError("ci must refuse before training")


@pytest.mark.parametrize("params", [{"m": 6}, {"C": 16}])
def test_fixed_task_is_not_run_in_ci_before_training(params: dict[str, int]) -> None:
    with pytest.raises(NotRun, match="budget"):
        ST.fixed_task_evidence(
            case("r90", "step_matched_random_walk", **params), _NoTraining({}, profile="ci")
        )


def test_fixed_task_configs_train_one_m_or_the_other_modulus() -> None:
    s = PROFILE_SETTINGS["full"]
    cfg_m = ST.fixed_task_config(s, "cpu", m=6, C=None)
    assert cfg_m["task"]["m_values"] == [6] and cfg_m["task"]["C"] == 8
    assert cfg_m["optim"]["steps"] == s["statement_runs"]["steps"] and cfg_m["variant"] == MAIN_VARIANT
    cfg_c = ST.fixed_task_config(s, "cpu", m=None, C=16)
    assert cfg_c["task"]["C"] == 16 and cfg_c["task"]["m_values"] == M_VALUES
    assert cfg_c["optim"]["steps"] == s["statement_runs"]["steps"]  # not the side_steps of other C runs
    # The main variant's T = 16 holds m = 6 non-adjacent marker/value pairs.
    spec = TaskSpec.from_config(dict(cfg_m["task"]))
    b = sample(spec, data_rng(0, "eval"), 8, (6,))
    assert ((b.tokens == spec.vocab.marker).sum(1) == 6).all()


def test_fixed_task_measures_r90_with_the_walk_as_null() -> None:
    run = fake_run()
    ctx = FakeCtx(run)
    ev = ST.fixed_task_evidence(case("r90", "step_matched_random_walk", m=5), ctx)
    assert ctx.configs[0]["task"]["m_values"] == [5]
    assert np.allclose(ev.measured, A.per_member(run, A.ALL_ATTENTION, "r90"))
    assert not np.allclose(ev.measured, np.median(ev.null))  # the walk null is a different sample
    assert ev.preconditions["final_acc_all_m"] == pytest.approx(1.0)
