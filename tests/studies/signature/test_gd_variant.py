"""P12-gd: the plain-gradient-descent path of the toy training and the wiring of its evidence function.

The optimizer tests compare one step with the GD update written out by hand (and show AdamW does not satisfy it, so
the test can fail). The evidence tests run tiny real jobs through a fake ``ctx.run`` that corrupts the AdamW result
and the GD result's first gradient point: reading the AdamW run, or the start of the window instead of its end,
gives a different number. The last test drives the real claim through the runner: a window in which GD did not move
must come out untestable, a window in which it did must be judged.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from geomclaims.claims import claims_dir, load_claims
from geomclaims.metrics import cosine_matrix
from geomclaims.runner import evaluate_case
from geomclaims.store import flatten
from geomclaims.studies.signature import experiment as ex
from geomclaims.studies.signature import profiles, train
from geomclaims.studies.signature.tasks import TaskSpec

SEEDS = [0, 1, 2]


def _steps_are_plain_gd(name: str, n_steps: int = 3) -> bool:
    """Whether every one of ``n_steps`` steps of optimizer ``name`` is w <- w - lr * grad (several steps, so
    momentum, which leaves the first step unchanged, shows up too)."""
    torch.manual_seed(0)
    w = torch.randn(4, 3, requires_grad=True)
    opt = train.make_optimizer(train.toy_config("smoke", ("true",), optimizer=name, lr=0.1), [w], "cpu")
    plain = True
    for _ in range(n_steps):
        before = w.detach().clone()
        loss = (w**3).sum() + (w**2).sum()
        opt.zero_grad()
        loss.backward()
        grad = w.grad.detach().clone()
        opt.step()
        plain &= torch.allclose(w.detach(), before - 0.1 * grad, atol=1e-7)
    return bool(plain)


def test_sgd_optimizer_is_plain_gradient_descent() -> None:
    cfg = train.toy_config("smoke", ("true",), optimizer="sgd")
    assert cfg["optimizer"] == "sgd" and cfg["weight_decay"] == 0.0 and cfg["betas"] is None
    assert train.toy_config("smoke")["optimizer"] == "adamw"  # the default every other claim trains with
    assert _steps_are_plain_gd("sgd")
    assert not _steps_are_plain_gd("adamw")  # the check can fail
    with pytest.raises(ValueError, match="optimizer"):
        train.toy_config("smoke", ("true",), optimizer="adam")
    with pytest.raises(ValueError, match="weight_decay"):
        train.make_optimizer({**cfg, "weight_decay": 0.01}, [torch.zeros(2, requires_grad=True)], "cpu")


def _tiny_gd_config(**kw: Any) -> dict[str, Any]:
    settings = {
        "toy_schedule": "smoke",
        "toy_overrides": {"d": 8, "n_checkpoints": 4, "n_samples": 1000},
        "p12_gd": {"lr": 0.5, "steps": 3, "grad_fractions": [0.0, 1.0]},
    }
    cfg = ex.gd_config(settings)
    cfg.update(kw)
    return cfg


def test_one_full_batch_sgd_step_is_w_minus_lr_times_the_full_data_gradient() -> None:
    """train_toy with optimizer sgd + full_batch: W^E(1) = W^E(0) - lr dL/dW^E, with L the mean loss over all
    samples (the recorded gradient at step 0 is -dL/dW^E of exactly that loss)."""
    cfg = _tiny_gd_config(epochs=1, tasks=["f_add", "f_mod"])
    assert cfg["optimizer"] == "sgd" and cfg["full_batch"] and cfg["archs"] == ["lin"]
    res = flatten(train.train_toy(cfg, 0))
    assert res["grad/steps"].tolist() == [0, 1] and int(res["total_steps"]) == 1
    for m in range(len(res["members/task"])):
        np.testing.assert_allclose(
            res["WE_anchor/final"][m],
            res["WE_anchor/init"][m] + cfg["lr"] * res["grad/WE_anchor"][0, m],
            rtol=1e-4,
            atol=1e-7,
        )
    # the recorded loss is the full-data loss, and one GD step lowers it
    assert np.all(res["grad/loss"][1] < res["grad/loss"][0])
    # AdamW with the same lr takes a different (sign-like) step
    adam = flatten(train.train_toy({**train.toy_config("smoke", ("true",)), **_adamw_overrides(cfg)}, 0))
    assert not np.allclose(
        adam["WE_anchor/final"][0], adam["WE_anchor/init"][0] + cfg["lr"] * adam["grad/WE_anchor"][0, 0]
    )
    with pytest.raises(ValueError, match="full_batch"):
        train.train_toy(train.toy_config("smoke", ("true", "shuffled"), full_batch=True, d=8), 0)


def _adamw_overrides(cfg: dict[str, Any]) -> dict[str, Any]:
    keep = ("d", "n_checkpoints", "n_samples", "tasks", "archs", "epochs", "batch", "grad_fractions", "lr")
    return {k: cfg[k] for k in keep}


class FakeCtx:
    """Runs tiny real jobs; the AdamW result's gradients and the GD result's first gradient point are negated, so
    reading either instead of the GD window's end flips the measurement."""

    def __init__(self, formed_from: int | None = None) -> None:
        self.settings = {
            **profiles.SETTINGS["smoke"],
            "seeds": SEEDS,
            "n_null": 200,
            "null_seed": 7,
            "toy_overrides": {"d": 8, "n_checkpoints": 4, "n_samples": 1000},
            "p12_gd": {"lr": 0.5, "steps": 6, "grad_fractions": [0.0, 0.5, 1.0]},
        }
        self.profile = "smoke"
        self.device = "cpu"
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.clean: dict[int, dict[str, Any]] = {}
        self.formed_from = (
            formed_from  # plants an order (R_order -0.9) from this checkpoint on (formation tests)
        )

    def run(self, name: str, config: dict[str, Any], seed: int, fn: Any) -> dict[str, Any]:
        self.calls.append((name, dict(config)))
        res = {**flatten(fn(config, seed)), "__meta__": {"config": dict(config)}}
        grads = res["grad/WE_anchor"].copy()
        if config["optimizer"] == "adamw":
            grads = -grads
        else:
            self.clean[seed] = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in res.items()}
            grads[0] = -grads[0]
            if self.formed_from is not None:
                res["r_order"] = np.zeros_like(res["r_order"])
                res["r_order"][:, self.formed_from :] = -0.9
        res["grad/WE_anchor"] = grads
        return res


def _case(member: str) -> Any:
    claim = load_claims(claims_dir() / "probability_signature.yaml").get("P12-gd")
    return next(c for c in claim.cases() if c.params["member"] == member)


def _expected_end_alignment(ctx: FakeCtx, task: str) -> tuple[list[float], list[float]]:
    """By hand from the clean GD results, at the last gradient point: the gradient against the prediction there,
    and against the phi^y term alone."""
    full, lead = [], []
    for seed in SEEDS:
        r = ctx.clean[seed]
        i = int(np.nonzero((r["members/task"] == task) & (r["members/arch"] == "lin"))[0][0])
        g_pos = list(r["grad/members"]).index(i)
        sig = ex.dataset_signatures(task, 1000, int(r["members/data_seed"][i]))
        rows = TaskSpec(task).label_domain - 101
        wu = r["grad/WU_label"][-1, i].astype(float)
        g = r["grad/WE_anchor"][-1, g_pos].astype(float)
        pred = ex.corollary1_prediction(
            sig["phi_y"], wu, r["grad/WU_sum"][-1, i], rows, int(r["vocab_size"][i])
        )
        full.append(float(np.mean(np.diag(cosine_matrix(g, pred)))))
        lead.append(float(np.mean(np.diag(cosine_matrix(g, sig["phi_y"][:, rows + 101] @ wu[rows])))))
    return full, lead


def test_gd_evidence_reads_the_end_of_the_gd_run_when_no_structure_formed() -> None:
    ctx = FakeCtx()
    ev = ex.gd_evidence(_case("lin_f_add"), ctx)
    # only plain-GD jobs of F_lin with true labels were asked for, one per seed
    assert [c[0] for c in ctx.calls] == ["toy_gd"] * len(SEEDS)
    for _name, cfg in ctx.calls:
        assert cfg["optimizer"] == "sgd" and cfg["full_batch"] and cfg["archs"] == ["lin"]
        assert cfg["labels"] == ["true"] and cfg["lr"] == 0.5 and cfg["epochs"] == 6
    expected, lead = _expected_end_alignment(ctx, "f_add")
    np.testing.assert_allclose(ev.measured, expected, rtol=1e-6)
    assert np.all(np.asarray(ev.measured) > 0.5)  # the corrupted first point / AdamW run would give < -0.5
    assert (
        np.asarray(ev.details["alignment_per_step"])[:, 0].max() < -0.5
    )  # the negated first point is recorded
    # the reference-point details (phi^y term alone, other anchors) are read at the end of the window too
    np.testing.assert_allclose(ev.details["alignment_leading_term_only"], lead, rtol=1e-6)
    # the null: random directions around 0, below the measurement
    assert abs(float(np.median(ev.null))) < 0.1 and np.quantile(ev.null, 0.95) < min(ev.measured)
    # 6 GD steps of a d = 8 model order nothing: no formation window, the run's end is read and flagged
    assert ev.preconditions["formed_fraction"] == 0.0 and ev.details["formation"]["formed"] == [False] * 3
    loss = np.asarray(ev.details["loss_at_grad_steps"])
    assert np.all(loss[:, -1] < loss[:, 0])
    np.testing.assert_allclose(ev.details["relative_loss_drop_run"], ex.relative_loss_drop(loss), atol=1e-4)
    with pytest.raises(ValueError, match="F_lin"):
        bad = SimpleNamespace(claim=_case("lin_f_add").claim, params={"member": "ffn_f_add"})
        ex.gd_evidence(bad, ctx)


def test_relative_loss_drop_sign() -> None:
    loss = np.array([[4.0, 3.0, 2.0], [4.0, 4.0, 4.0], [2.0, 2.5, 3.0]])
    np.testing.assert_allclose(ex.relative_loss_drop(loss), [0.5, 0.0, -0.5])


@pytest.mark.parametrize("formed", [False, True])
def test_a_run_in_which_the_structure_never_formed_is_untestable(formed: bool) -> None:
    """Through the runner: the P12-gd claim's `requires` turns a run without a formation window into `untestable`
    with the value; with an order planted from the middle checkpoint on, the window ends at the first gradient
    point at or after it (here the middle one, step 3 of 6) and the claim is judged there."""
    ctx = FakeCtx(formed_from=None if not formed else 2)
    entry = evaluate_case(_case("lin_f_tadd"), ctx)
    assert entry["preconditions"][0]["metric"] == "formed_fraction"
    assert entry["preconditions"][0]["met"] is formed
    if formed:
        assert entry["verdict"] != "untestable"
        assert entry["details"]["window_end_step"] == [3, 3, 3]
        mid = np.asarray(entry["details"]["alignment_per_step"])[:, 1]
        np.testing.assert_allclose(entry["measured"]["samples"], mid, atol=1e-4)
    else:
        assert entry["verdict"] == "untestable"
        assert "formed_fraction" in entry["explanation"] and "measured 0" in entry["explanation"]


def test_report_shows_the_gd_variant_beside_the_adamw_displacement(tmp_path: Any) -> None:
    from geomclaims.studies.signature import report

    adam = {
        "alignment_per_step": [[0.999, 0.8, 0.6], [0.997, 0.7, 0.5], [0.998, 0.9, 0.4]],
        "adamw_displacement_alignment": [[0.3, 0.2], [0.5, 0.1], [0.4, 0.3]],
        "adamw_displacement_steps": [10, 50],
    }
    gd = {
        "optimizer": {"name": "sgd", "lr": 0.5, "steps": 500, "full_batch": True},
        "grad_steps": [0, 50, 250, 500],
        "formation": {"curve": "r_order", "op": "<=", "bar": -0.7, "formed": [True, True, False]},
        "window_end_step": [50, 250, 500],
        "r_order_at_grad_steps": [[0.0, -0.8, -0.9, -0.9], [0.0, -0.5, -0.8, -0.9], [0.0, 0.0, 0.0, 0.0]],
        "alignment_per_step": [[1.0, 1.0, 0.5, 0.25], [1.0, 1.0, 0.5, 0.22], [1.0, 1.0, 0.5, 0.27]],
        "alignment_per_step_with_phiX_term": [
            [1.0, 1.0, 0.6, 0.3],
            [1.0, 1.0, 0.6, 0.3],
            [1.0, 1.0, 0.6, 0.3],
        ],
        "alignment_at_window_end": [0.97, 0.5, 0.27],
        "alignment_with_phiX_term_at_window_end": [0.98, 0.6, 0.3],
        "alignment_at_run_end": [0.25, 0.22, 0.27],
        "relative_loss_drop_run": [0.39, 0.4, 0.38],
    }
    entries = [
        {"id": "P12[lin_f_add]", "claim_id": "P12", "params": {}, "details": adam},
        {"id": "P12-gd[lin_f_add]", "claim_id": "P12-gd", "params": {}, "details": gd},
    ]
    md = report.section(entries, tmp_path)
    line = next(x for x in md.splitlines() if x.startswith("| f_add |"))
    # P12 at init, AdamW displacement medians, GD window end (formed count), at the window end, with phi^X, at the
    # run's end, loss drop
    assert "| 1.00 |" in line and "0.40 / 0.20 (steps 10, 50)" in line
    assert "| 250.00 (2/3 formed) | 0.50 | 0.60 | 0.25 |" in line and line.endswith("| 0.39 |")
    assert "lr 0.5, 500 steps, gradients at 4 points" in md
    assert (tmp_path / "signature_formation_window.png").exists()
