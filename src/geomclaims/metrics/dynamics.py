"""SGD commutators of a torch model (paper E Sec. 3.3.2, eq. 3-5).

Convention (DESIGN.md "SGD commutator"): starting from ``theta_0``, one plain SGD step on batch A then one
on batch B gives ``theta_AB`` (``theta_A = theta_0 - lr g(theta_0; A)``, ``theta_AB = theta_A - lr g(theta_A; B)``),
and symmetrically ``theta_BA``; the commutator is ``delta = theta_AB - theta_BA``. Reported: ``||delta||`` and
``D = ||delta|| / (||lr g_A|| ||lr g_B||)`` with ``g_A, g_B`` the gradients at ``theta_0``. The two paths
agree to first order and ``delta = lr^2 (H_B g_A - H_A g_B) + O(lr^3)``, so the subtraction cancels
catastrophically in float32: everything runs on a float64 deep copy of the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["CommutatorResult", "flat_params", "param_slices", "sgd_commutator"]


def _trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def param_slices(model: nn.Module) -> dict[str, slice]:
    """Map each trainable parameter name to its slice of the flat vector used by :func:`sgd_commutator`.

    Order is ``model.named_parameters()`` restricted to ``requires_grad`` parameters; e.g.
    ``res.delta[param_slices(model)["layers.0.attn.W_Q"]]`` restricts a commutator to one matrix.
    """
    out: dict[str, slice] = {}
    start = 0
    for name, p in _trainable(model):
        out[name] = slice(start, start + p.numel())
        start += p.numel()
    return out


def flat_params(model: nn.Module) -> torch.Tensor:
    """Trainable parameters of ``model`` as one flat float64 tensor (same order as :func:`param_slices`)."""
    params = [p.detach().reshape(-1).to(torch.float64) for _, p in _trainable(model)]
    if not params:
        raise ValueError("model: has no trainable parameters")
    return torch.cat(params)


@dataclass(frozen=True)
class CommutatorResult:
    """``delta = theta_AB - theta_BA`` (flat float64), its norm, the normalised norm and the start gradients."""

    delta: torch.Tensor
    norm: float
    normalized: float
    grad_a: torch.Tensor
    grad_b: torch.Tensor
    lr: float


def _to_double(batch: Any) -> Any:
    """Floating tensors in (nested tuples/lists/dicts of) ``batch`` to float64; everything else untouched."""
    if isinstance(batch, torch.Tensor):
        return batch.detach().to(torch.float64) if batch.is_floating_point() else batch
    if isinstance(batch, dict):
        return {k: _to_double(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_double(v) for v in batch)
    return batch


def sgd_commutator(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    batch_a: Any,
    batch_b: Any,
    lr: float,
) -> CommutatorResult:
    """Commutator ``theta_AB - theta_BA`` of two plain SGD steps at learning rate ``lr`` (paper E eq. 3-5).

    ``loss_fn(model, batch)`` must return a scalar tensor. The model is deep-copied and cast to float64
    (the input model is never modified); floating tensors in the batches are cast to float64 too.
    Gradients are taken w.r.t. the trainable parameters only (``requires_grad``), flattened in
    ``model.named_parameters()`` order (see :func:`param_slices`); a parameter the loss does not reach has
    zero gradient. The copy keeps the model's train/eval mode: disable stochastic layers (dropout) yourself,
    otherwise the two paths see different noise. Returns :class:`CommutatorResult` with ``delta``, ``norm``,
    ``normalized = norm / (||lr g_A|| ||lr g_B||)`` and the start-point gradients ``grad_a``, ``grad_b``.

    Raises ``ValueError`` for ``lr <= 0`` or non-finite, a non-scalar or non-finite loss, or a zero start
    gradient (the normalised commutator is undefined).
    """
    lr = float(lr)
    if not (lr > 0 and lr < float("inf")):
        raise ValueError(f"lr: must be a positive finite number, got {lr!r}")
    work = copy.deepcopy(model).to(torch.float64)
    params = [p for _, p in _trainable(work)]
    if not params:
        raise ValueError("model: has no trainable parameters")
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    batches = {"batch_a": _to_double(batch_a), "batch_b": _to_double(batch_b)}

    def set_params(theta: torch.Tensor) -> None:
        with torch.no_grad():
            for p, chunk, shape in zip(params, torch.split(theta, sizes), shapes, strict=True):
                p.copy_(chunk.view(shape))

    def grad_at(theta: torch.Tensor, which: str) -> torch.Tensor:
        set_params(theta)
        loss = loss_fn(work, batches[which])
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn: must return a scalar tensor, got {type(loss).__name__} on {which}")
        if not torch.isfinite(loss.detach()).all():
            raise ValueError(f"loss_fn: non-finite loss {loss.item()!r} on {which}")
        grads = torch.autograd.grad(loss.reshape(()), params, allow_unused=True)
        flat = torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(grads, params, strict=True)
            ]
        ).detach()
        if not torch.isfinite(flat).all():
            raise ValueError(f"loss_fn: non-finite gradient on {which}")
        return flat

    theta0 = flat_params(work)
    g_a = grad_at(theta0, "batch_a")
    g_b = grad_at(theta0, "batch_b")
    theta_a = theta0 - lr * g_a
    theta_ab = theta_a - lr * grad_at(theta_a, "batch_b")
    theta_b = theta0 - lr * g_b
    theta_ba = theta_b - lr * grad_at(theta_b, "batch_a")
    delta = theta_ab - theta_ba
    norm = float(torch.linalg.vector_norm(delta))
    denom = float(torch.linalg.vector_norm(lr * g_a)) * float(torch.linalg.vector_norm(lr * g_b))
    if denom == 0.0:
        zero = "batch_a" if not bool(g_a.any()) else "batch_b"
        raise ValueError(f"{zero}: gradient at the start point is zero; normalised commutator is undefined")
    return CommutatorResult(delta=delta, norm=norm, normalized=norm / denom, grad_a=g_a, grad_b=g_b, lr=lr)
