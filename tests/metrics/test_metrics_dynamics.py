"""SGD commutator: exact identities, closed form on quadratics, no side effects on the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from geomclaims.metrics import flat_params, param_slices, sgd_commutator

seeds = st.integers(0, 2**31 - 1)


class Quadratic(nn.Module):
    """theta in R^d; the batch is (H, b) and the loss 0.5 theta^T H theta + b^T theta."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta.clone())


def quad_loss(model: Quadratic, batch) -> torch.Tensor:
    h, b = batch
    return 0.5 * model.theta @ h @ model.theta + b @ model.theta


def linear_loss(model: nn.Module, batch) -> torch.Tensor:
    return sum((w * p).sum() for w, p in zip(batch, model.parameters(), strict=True))


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def mse_loss(model: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def mlp_batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(16, 4, generator=g), torch.randn(16, 3, generator=g)) for _ in range(2)]


@st.composite
def quadratics(draw):
    d = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(seeds))

    def sym():
        m = rng.standard_normal((d, d))
        return torch.tensor(m + m.T)

    batch_a = (sym(), torch.tensor(rng.standard_normal(d)))
    batch_b = (sym(), torch.tensor(rng.standard_normal(d)))
    return torch.tensor(rng.standard_normal(d)), batch_a, batch_b


@settings(max_examples=25)
@given(quadratics(), st.floats(1e-4, 0.5))
def test_quadratic_closed_form(data, lr):
    """delta = lr^2 (H_B g_A - H_A g_B) exactly for quadratic losses (no O(lr^3) term)."""
    theta0, (ha, ba), (hb, bb) = data
    res = sgd_commutator(Quadratic(theta0), quad_loss, (ha, ba), (hb, bb), lr)
    g_a, g_b = ha @ theta0 + ba, hb @ theta0 + bb
    expected = lr**2 * (hb @ g_a - ha @ g_b)
    torch.testing.assert_close(res.grad_a, g_a, rtol=1e-12, atol=1e-12)
    scale = 1e-12 * (1 + theta0.norm() + lr * (g_a.norm() + g_b.norm())) * (1 + ha.norm() + hb.norm()) ** 2
    assert torch.max(torch.abs(res.delta - expected)) <= scale
    denom = (lr * g_a).norm() * (lr * g_b).norm()
    assert res.normalized == pytest.approx(float(res.delta.norm() / denom), rel=1e-12)


@settings(max_examples=20)
@given(quadratics(), st.floats(1e-4, 0.5))
def test_same_batch_zero_and_antisymmetry(data, lr):
    theta0, batch_a, batch_b = data
    model = Quadratic(theta0)
    assert torch.count_nonzero(sgd_commutator(model, quad_loss, batch_a, batch_a, lr).delta) == 0
    ab = sgd_commutator(model, quad_loss, batch_a, batch_b, lr)
    ba = sgd_commutator(model, quad_loss, batch_b, batch_a, lr)
    torch.testing.assert_close(ab.delta, -ba.delta, rtol=0, atol=0)


def test_mlp_identities_and_dtype():
    model = mlp()
    a, b = mlp_batches()
    res = sgd_commutator(model, mse_loss, a, b, lr=0.1)
    assert res.delta.dtype == torch.float64
    assert res.delta.shape == (sum(p.numel() for p in model.parameters()),)
    assert res.norm > 0 and res.normalized > 0
    torch.testing.assert_close(
        sgd_commutator(model, mse_loss, b, a, lr=0.1).delta, -res.delta, rtol=0, atol=0
    )
    assert float(sgd_commutator(model, mse_loss, a, a, lr=0.1).norm) == 0.0


def test_zero_for_loss_linear_in_parameters():
    model = mlp()
    g = torch.Generator().manual_seed(3)
    wa = [torch.randn(p.shape, generator=g) for p in model.parameters()]
    wb = [torch.randn(p.shape, generator=g) for p in model.parameters()]
    res = sgd_commutator(model, linear_loss, wa, wb, lr=0.3)
    assert res.norm <= 1e-15 * float(flat_params(model).norm() + 1)
    assert res.normalized <= 1e-12


def test_second_order_scaling_with_lr():
    """For a smooth non-quadratic loss ||delta|| ~ lr^2: halving lr divides it by ~4 (O(lr^3) correction)."""
    model = mlp()
    a, b = mlp_batches()
    n1 = sgd_commutator(model, mse_loss, a, b, lr=1e-3).norm
    n2 = sgd_commutator(model, mse_loss, a, b, lr=5e-4).norm
    assert n1 / n2 == pytest.approx(4.0, rel=0.01)


def test_does_not_modify_model_and_respects_frozen_params():
    model = mlp()
    model[0].bias.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a, b = mlp_batches()
    res = sgd_commutator(model, mse_loss, a, b, lr=0.1)
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    slices = param_slices(model)
    assert list(slices) == ["0.weight", "2.weight", "2.bias"]
    assert res.delta.shape == (32 + 24 + 3,)
    assert slices["2.weight"] == slice(32, 56)
    torch.testing.assert_close(flat_params(model)[slices["2.bias"]], model[2].bias.double().detach())


def test_unused_parameter_gets_zero_delta():
    model = mlp()
    model.extra = nn.Parameter(torch.ones(5))
    a, b = mlp_batches()
    res = sgd_commutator(model, mse_loss, a, b, lr=0.1)
    assert torch.count_nonzero(res.delta[param_slices(model)["extra"]]) == 0


def test_errors():
    model = mlp()
    a, b = mlp_batches()
    with pytest.raises(ValueError, match="lr"):
        sgd_commutator(model, mse_loss, a, b, lr=0.0)
    with pytest.raises(ValueError, match="scalar"):
        sgd_commutator(model, lambda m, x: m(x[0]), a, b, lr=0.1)
    with pytest.raises(ValueError, match="non-finite"):
        sgd_commutator(model, lambda m, x: mse_loss(m, x) * float("nan"), a, b, lr=0.1)
    with pytest.raises(ValueError, match="batch_a"):
        sgd_commutator(model, lambda m, x: mse_loss(m, x) * x[0].abs().sum().clamp(max=0), a, b, lr=0.1)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="trainable"):
        sgd_commutator(model, mse_loss, a, b, lr=0.1)
