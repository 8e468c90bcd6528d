"""Seed-ensemble transformer: shapes, gradients reach every parameter, ensemble == sequential, SAE ablation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geomclaims.studies.execution import sae as S
from geomclaims.studies.execution.model import EnsembleTransformer, ModelSpec, member_losses
from geomclaims.studies.execution.profiles import PROFILE_SETTINGS, train_config
from geomclaims.studies.execution.task import TaskSpec, data_rng, sample
from geomclaims.studies.execution.train import build_model, train_run, training_forward

SPEC = TaskSpec(T=16, C=8, m_values=(1, 2))


def _model(mlp: bool, seeds: list[int], layers: int = 2) -> EnsembleTransformer:
    return EnsembleTransformer(
        ModelSpec(d=16, layers=layers, heads=2, mlp=mlp), SPEC.vocab.size, SPEC.T, SPEC.C, seeds
    )


@pytest.mark.parametrize("mlp", [False, True])
def test_shapes_and_cache(mlp: bool) -> None:
    model = _model(mlp, [0, 1, 2])
    b = sample(SPEC, data_rng(0), 8)
    cache: dict[str, torch.Tensor] = {}
    logits = model(torch.as_tensor(b.tokens), cache=cache)
    assert logits.shape == (3, 8, SPEC.C)
    assert cache["attn0"].shape == (3, 8, 2, SPEC.T, SPEC.T)
    assert cache["resid1"].shape == (3, 8, SPEC.T, 16)
    # Re-running from a cached residual stream reproduces the logits (the SAE ablation path).
    again = model(resid=cache["resid1"], start_layer=1)
    torch.testing.assert_close(again, logits)
    assert torch.allclose(cache["attn1"].sum(-1), torch.ones(()))
    assert cache["attn1"].shape == (3, 8, 2, 1, SPEC.T)  # the last layer computes the query position only


def _full_forward(model: EnsembleTransformer, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every layer over every position (no query-only shortcut): logits and the last layer's final attention row."""
    x = model.embed(tokens)
    for layer in range(model.spec.layers):
        out, attn = model.attention(layer, x, last_query_only=False)
        x = x + out
        if model.spec.mlp:
            x = x + model.mlp(layer, x)
    return model.readout(x), attn[..., -1:, :]


@pytest.mark.parametrize("mlp", [False, True])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_last_layer_query_only_equals_the_full_forward(mlp: bool, layers: int) -> None:
    model = _model(mlp, [0, 1], layers=layers)
    tokens = torch.as_tensor(sample(SPEC, data_rng(3), 16).tokens)
    cache: dict[str, torch.Tensor] = {}
    logits = model(tokens, cache=cache)
    full_logits, full_row = _full_forward(model, tokens)
    torch.testing.assert_close(logits, full_logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cache[f"attn{layers - 1}"], full_row, rtol=1e-5, atol=1e-6)
    # Gradients agree too (training uses the shortcut).
    g_short = torch.autograd.grad(logits.square().sum(), list(model.parameters()))
    g_full = torch.autograd.grad(_full_forward(model, tokens)[0].square().sum(), list(model.parameters()))
    for a, b in zip(g_short, g_full, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mlp", [False, True])
def test_every_parameter_receives_gradient(mlp: bool) -> None:
    model = _model(mlp, [0, 1])
    # All m and the shared vocabulary must occur, so every embedding row can receive gradient.
    b = sample(TaskSpec(T=16, C=8, m_values=(1, 2, 3)), data_rng(1), 256)
    loss = member_losses(model(torch.as_tensor(b.tokens)), torch.as_tensor(b.target).expand(2, -1)).sum()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        g = p.grad.reshape(2, -1, p.shape[-1]) if p.dim() > 2 else p.grad.reshape(2, -1)
        # Per member and per row (token / position / matrix row): nothing is dead.
        rows = g.abs().sum(-1) if p.dim() > 2 else g.abs()
        assert torch.all(rows.reshape(2, -1).sum(1) > 0), name
        if name.endswith("tok_emb") or name.endswith("pos_emb"):
            assert torch.all(rows > 0), f"{name}: a row never receives gradient"


def test_members_do_not_interact() -> None:
    model = _model(False, [0, 1])
    b = sample(SPEC, data_rng(0), 16)
    x = torch.as_tensor(b.tokens)
    losses = member_losses(model(x), torch.as_tensor(b.target).expand(2, -1))
    losses[0].backward()
    assert all(torch.all(p.grad[1] == 0) for p in model.parameters())


def _tiny_config(seeds: list[int]) -> dict:
    s = dict(PROFILE_SETTINGS["smoke"])
    s.update(seeds=seeds, steps=8, n_snapshots=3, n_commutators=2)
    return train_config(s, "adam-cos2e-3-T16", "cpu", commutators=True)


def test_ensemble_equals_sequential_seeds_and_is_deterministic() -> None:
    ens = train_run(_tiny_config([3, 4]), 3)
    alone = [train_run(_tiny_config([s]), s) for s in (3, 4)]
    for name in ens["snap"]:
        for e, single in enumerate(alone):
            np.testing.assert_allclose(ens["snap"][name][e], single["snap"][name][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ens["comm_norm"][1], alone[1]["comm_norm"][0], rtol=1e-3)
    again = train_run(_tiny_config([3, 4]), 3)
    for name in ens["snap"]:
        assert np.array_equal(ens["snap"][name], again["snap"][name]), f"{name} not deterministic on CPU"


def test_shared_init_members_start_equal_and_diverge() -> None:
    s = dict(PROFILE_SETTINGS["smoke"])
    s.update(steps=6, n_snapshots=2)
    cfg = train_config(s, "adam-cos2e-3-T16", "cpu", seeds=[100, 101], init_seeds=[0, 0])
    res = train_run(cfg, 100)
    w = res["snap"]["L0_W_Q"]
    assert np.array_equal(w[0, 0], w[1, 0])
    assert not np.array_equal(w[0, -1], w[1, -1])


@pytest.mark.parametrize("kind", ["relu_l1", "topk"])
def test_sae_ablation_of_all_latents_changes_logits_and_of_none_does_not(kind: str) -> None:
    model = _model(False, [0, 1])
    b = sample(SPEC, data_rng(0), 64)
    cache: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        base = model(torch.as_tensor(b.tokens), cache=cache)
    x = cache["resid1"].reshape(2, -1, 16)
    sae = S.train_sae(x, kind, {"latents": 32, "steps": 20, "batch": 64, "l1": 1e-3, "topk": 4}, seed=0)
    none = torch.zeros(2, 32, dtype=torch.bool)
    every = torch.ones(2, 32, dtype=torch.bool)
    with torch.no_grad():
        kept = model(resid=S.ablate(sae, x, none).reshape_as(cache["resid1"]), start_layer=1)
        gone = model(resid=S.ablate(sae, x, every).reshape_as(cache["resid1"]), start_layer=1)
    torch.testing.assert_close(kept, base)
    assert (gone - base).abs().max() > 1e-3


def test_curriculum_members_advance_alone_as_if_trained_alone() -> None:
    """Each member leaves its stage on its own accuracy, so an ensemble member matches its seed trained alone."""

    def cfg(seeds: list[int]) -> dict:
        s = dict(PROFILE_SETTINGS["smoke"])
        s.update(seeds=seeds, steps=8, n_snapshots=5)
        c = train_config(s, "adam-cos2e-3-T16", "cpu", schedule="curriculum")
        c["curriculum_threshold"] = 0.2  # low enough that the tiny models advance within 8 steps
        return c

    ens = train_run(cfg([3, 4]), 3)
    alone = [train_run(cfg([s]), s) for s in (3, 4)]
    assert ens["stage_end_step"].shape == (2, 4) and (ens["stage_end_step"] >= 0).any()
    for e, single in enumerate(alone):
        assert ens["stage_end_step"][e].tolist() == single["stage_end_step"][0].tolist()
        assert ens["stage_at_snap"][e].tolist() == single["stage_at_snap"][0].tolist()
        for name in ens["snap"]:
            np.testing.assert_allclose(ens["snap"][name][e], single["snap"][name][0], rtol=1e-4, atol=1e-5)


def test_training_forward_is_the_model_unless_compile_is_set() -> None:
    cfg = _tiny_config([3])
    assert cfg["compile"] is False  # smoke trains eagerly (compile time would dominate its seconds)
    model, _ = build_model(cfg)
    assert training_forward(model, cfg) is model
    assert (
        PROFILE_SETTINGS["ci"]["compile"]
        and train_config(PROFILE_SETTINGS["ci"], "adam-cos2e-3-T16", "cpu")["compile"]
    )


@pytest.mark.slow
def test_compiled_training_matches_eager_within_float_noise_and_repeats_exactly() -> None:
    """The compiled step sums in another order: same trajectory up to float noise, bit-identical run to run."""
    eager = _tiny_config([3, 4])
    compiled = {**eager, "compile": True}
    a, b, again = train_run(eager, 3), train_run(compiled, 3), train_run(compiled, 3)
    for name in a["snap"]:
        np.testing.assert_allclose(b["snap"][name], a["snap"][name], rtol=1e-4, atol=1e-5)
        assert np.array_equal(b["snap"][name], again["snap"][name]), f"{name}: compiled run not deterministic"
