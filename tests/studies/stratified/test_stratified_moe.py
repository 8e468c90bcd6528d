"""Property tests of the dictionary MoE (claims S1, S2): exact support, straight-through gradient, gate rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from geomclaims.studies.stratified.moe import (
    DictionaryMoE,
    balance_loss,
    build_moe,
    code_support_sizes,
    gate_probs,
    ste_identity_error,
    supcon_loss,
    top_s_straight_through,
    train_moe,
)

CFG = {
    "variant": "text",
    "n_atoms": 8,
    "sparsities": [1, 3, 8],
    "query_dim": 4,
    "lista_iters": 2,
    "lr": 1e-2,
    "epochs": 2,
    "batch_size": 16,
    "balance_weight": 0.1,
    "temperature": 0.1,
}


@settings(max_examples=40, deadline=None)
@given(
    b=hs.integers(1, 6),
    m=hs.integers(1, 12),
    data=hs.data(),
)
def test_top_s_keeps_exactly_s_and_passes_identity_gradient(b: int, m: int, data: hs.DataObject) -> None:
    s = data.draw(hs.integers(1, m))
    seed = data.draw(hs.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    c = torch.randn(b, m, generator=gen, dtype=torch.float64).requires_grad_(True)
    gamma, mask = top_s_straight_through(c, s)
    # Forward: exactly s entries kept, and they are the s largest magnitudes.
    assert torch.all(mask.sum(-1) == s)
    assert torch.all((gamma != 0).sum(-1) == s)
    kept_min = torch.where(mask.bool(), c.detach().abs(), torch.inf).min(-1).values
    dropped_max = torch.where(mask.bool(), -torch.inf, c.detach().abs()).max(-1).values
    assert torch.all(kept_min >= dropped_max)
    # Backward: straight-through = identity (on the selected entries in particular).
    g = torch.randn(b, m, generator=gen, dtype=torch.float64)
    (grad,) = torch.autograd.grad((gamma * g).sum(), c)
    assert torch.equal(grad[mask.bool()], g[mask.bool()])
    assert torch.equal(grad, g)


def test_top_s_rejects_bad_sparsity() -> None:
    with pytest.raises(ValueError):
        top_s_straight_through(torch.zeros(2, 4), 5)
    with pytest.raises(ValueError):
        top_s_straight_through(torch.zeros(2, 4), 0)


@settings(max_examples=15, deadline=None)
@given(
    seed=hs.integers(0, 10_000),
    n=hs.integers(1, 20),
    hard=hs.booleans(),
    scale=hs.sampled_from([1e-3, 1.0, 1e3]),
)
def test_codes_have_exact_support_and_gate_rows_are_distributions(
    seed: int, n: int, hard: bool, scale: float
) -> None:
    torch.manual_seed(seed)
    model = DictionaryMoE(6, n_atoms=8, sparsities=[1, 3, 8], query_dim=4, n_iter=3, hard_gate=hard)
    X = np.random.default_rng(seed).standard_normal((n, 6)) * scale
    support = code_support_sizes(model, X)
    assert np.array_equal(support, np.tile([1, 3, 8], (n, 1)))
    used, soft = gate_probs(model, X)
    for w in (used, soft):
        assert np.all(w >= 0)
        np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    if hard:
        assert set(np.unique(used)) <= {0.0, 1.0}
        assert np.array_equal(used.argmax(1), soft.argmax(1))
    assert ste_identity_error(model, X) == 0.0


def test_gate_is_scaled_dot_product_softmax() -> None:
    torch.manual_seed(0)
    model = DictionaryMoE(5, n_atoms=4, sparsities=[2, 4], query_dim=3, n_iter=1)
    z = torch.randn(7, 5)
    q = z @ model.gate.query.weight.T
    expected = torch.softmax(q @ model.gate.keys.T / 3**0.5, -1)
    torch.testing.assert_close(model.gate(z), expected)


def test_mixture_output_is_gate_weighted_sum_of_expert_reconstructions() -> None:
    torch.manual_seed(1)
    model = DictionaryMoE(5, n_atoms=4, sparsities=[2, 4], query_dim=3, n_iter=2)
    z = torch.randn(6, 5)
    out = model(z)
    per_expert = model.experts.decode(out.codes)  # (E, B, L)
    torch.testing.assert_close(out.recon, torch.einsum("be,ebl->bl", out.gate, per_expert))


def test_text_training_reduces_reconstruction_and_keeps_properties() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)) @ rng.standard_normal((3, 6))
    model, hist = train_moe(X, {**CFG, "epochs": 6, "batch_size": 32}, torch_seed=0)
    assert hist["recon"][-1] < hist["recon"][0]
    assert np.array_equal(code_support_sizes(model, X), np.tile([1, 3, 8], (64, 1)))


def test_released_variant_never_moves_gate_or_dictionaries() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 6))
    labels = rng.integers(0, 3, 48)
    cfg = {**CFG, "variant": "released-code"}
    torch.manual_seed(3)
    init = build_moe(6, cfg)
    model, _ = train_moe(X, cfg, torch_seed=3, labels=labels)
    torch.testing.assert_close(model.gate.query.weight, init.gate.query.weight)
    torch.testing.assert_close(model.gate.keys, init.gate.keys)
    torch.testing.assert_close(model.experts.dictionary, init.experts.dictionary)
    assert not torch.allclose(model.experts.W, init.experts.W)  # the encoders do train
    with pytest.raises(ValueError):
        train_moe(X, cfg, torch_seed=3)


def test_balance_loss_is_zero_for_uniform_usage_and_positive_for_collapse() -> None:
    assert float(balance_loss(torch.full((4, 5), 0.2))) == pytest.approx(0.0, abs=1e-7)
    collapsed = torch.zeros(4, 5)
    collapsed[:, 0] = 1.0
    assert float(balance_loss(collapsed)) == pytest.approx(np.log(5), rel=1e-5)


def test_supcon_prefers_label_aligned_features() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    aligned = torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1]])
    crossed = aligned[[0, 2, 1, 3]]
    assert float(supcon_loss(aligned, labels, 0.1)) < float(supcon_loss(crossed, labels, 0.1))
    assert float(supcon_loss(aligned, torch.tensor([0, 1, 2, 3]), 0.1)) == 0.0
