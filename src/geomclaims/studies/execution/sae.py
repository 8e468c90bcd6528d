"""Sparse autoencoders on the residual stream, latent-task correlations and ablation (paper E Sec. 3.4, 4.4).

* ``relu_l1`` — the paper's SAE (eq. 8): ``h = ReLU(W_e x + b_e)``, ``x_hat = W_d h + b_d``, loss
  ``||x_hat - x||^2 + lambda ||h||_1``.
* ``topk`` — the released code's SAE: keep the k largest pre-activations (after ReLU), no L1 term.

One SAE per ensemble member, trained together (leading member dimension, batched einsum) on the residual stream
entering the last layer, at every position. Ablation replaces that stream by
``x - W_d (h * ablated_mask)`` — the SAE error term is kept, so zeroing no latent reproduces the model exactly —
and re-runs the forward pass from that layer (the released code edited an activation the logits never read, so
its ablation could not change anything). Ablating every latent must hurt: that is the positive control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from geomclaims.studies.execution.model import EnsembleTransformer
from geomclaims.studies.execution.task import Batch

CORR_THRESHOLD = 0.5  # |Pearson r| for a latent to count as "strongly" task-correlated (paper Sec. 4.4)


@dataclass
class SAE:
    W_e: torch.Tensor  # [E, d, n]
    b_e: torch.Tensor  # [E, n]
    W_d: torch.Tensor  # [E, n, d]
    b_d: torch.Tensor  # [E, d]
    kind: str
    topk: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [E, N, n] for activations [E, N, d]."""
        h = torch.relu(torch.einsum("end,edk->enk", x, self.W_e) + self.b_e[:, None])
        if self.kind == "topk":
            vals, idx = h.topk(self.topk, dim=-1)
            h = torch.zeros_like(h).scatter(-1, idx, vals)
        return h

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("enk,ekd->end", h, self.W_d) + self.b_d[:, None]


def train_sae(acts: torch.Tensor, kind: str, cfg: dict[str, Any], seed: int) -> SAE:
    """Fit one SAE per member on activations [E, N, d] (Adam, fixed seed)."""
    E, N, d = acts.shape
    n = int(cfg["latents"])
    g = torch.Generator().manual_seed(int(seed))
    W_d = torch.randn(E, n, d, generator=g)
    W_d = W_d / W_d.norm(dim=-1, keepdim=True)
    params = {
        "W_e": W_d.transpose(1, 2).clone().requires_grad_(True),
        "b_e": torch.zeros(E, n, requires_grad=True),
        "W_d": W_d.requires_grad_(True),
        "b_d": acts.mean(1).clone().requires_grad_(True),
    }
    opt = torch.optim.Adam(params.values(), lr=1e-3)
    scale = acts.pow(2).sum(-1).mean(1, keepdim=True)  # per-member, so the L1 weight is scale-free
    l1 = 0.0 if kind == "topk" else float(cfg["l1"])
    rng = np.random.default_rng(int(seed))
    for _ in range(int(cfg["steps"])):
        idx = torch.as_tensor(rng.integers(0, N, size=int(cfg["batch"])))
        x = acts[:, idx]
        sae = SAE(params["W_e"], params["b_e"], params["W_d"], params["b_d"], kind, int(cfg["topk"]))
        h = sae.encode(x)
        rec = (sae.decode(h) - x).pow(2).sum(-1).mean(1) / scale[:, 0]
        loss = (rec + l1 * h.abs().sum(-1).mean(1) * d / scale[:, 0].sqrt()).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return SAE(*(params[k].detach() for k in ("W_e", "b_e", "W_d", "b_d")), kind=kind, topk=int(cfg["topk"]))


def task_features(batch: Batch, marker: int) -> tuple[np.ndarray, np.ndarray]:
    """Token-level task variables [N_tok, 2] (is marker, is marked value) and sequence-level ones [B, 1] (m).

    These are the variables the paper names (Sec. 4.4: marker count m, positions of marked tokens).
    """
    tok = batch.tokens
    is_marker = (tok == marker).astype(float)
    is_value = np.zeros_like(is_marker)
    is_value[:, 1:] = is_marker[:, :-1]
    return np.stack([is_marker.ravel(), is_value.ravel()], 1), batch.m[:, None].astype(float)


def _abs_corr(h: np.ndarray, f: np.ndarray) -> np.ndarray:
    """|Pearson r| between every latent column of h [N, n] and feature column of f [N, q]: [n, q] (0 if constant)."""
    hc, fc = h - h.mean(0), f - f.mean(0)
    denom = np.sqrt((hc**2).sum(0))[:, None] * np.sqrt((fc**2).sum(0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (hc.T @ fc) / denom
    return np.abs(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0))


def latent_correlations(
    h: np.ndarray, tok_feats: np.ndarray, seq_feats: np.ndarray, B: int, T: int
) -> np.ndarray:
    """Max |r| of each latent with any task variable: token variables over all positions, m at the query position."""
    tok_r = _abs_corr(h, tok_feats)
    final = h.reshape(B, T, -1)[:, -1]
    seq_r = _abs_corr(final, seq_feats)
    return np.maximum(tok_r.max(1), seq_r.max(1))


@torch.no_grad()
def accuracy_with(
    model: EnsembleTransformer, layer: int, resid: torch.Tensor, target: torch.Tensor
) -> np.ndarray:
    """Accuracy [E] after re-running the forward pass from ``layer`` with residual stream ``resid``."""
    logits = model(resid=resid, start_layer=layer)
    return (logits.argmax(-1) == target).float().mean(1).cpu().numpy()


def top_correlated(corr: np.ndarray, k: int) -> torch.Tensor:
    """Mask [E, n] of each member's ``k`` latents with the largest task correlation ``corr`` [E, n]."""
    if not 1 <= k <= corr.shape[1]:
        raise ValueError(f"n_ablate must be in [1, {corr.shape[1]}], got {k}")
    mask = torch.zeros(corr.shape, dtype=torch.bool)
    for e, idx in enumerate(np.argsort(-corr, axis=1)[:, :k]):
        mask[e, torch.as_tensor(idx)] = True
    return mask


def random_alive_mask(
    alive: np.ndarray, exclude: torch.Tensor, k: int, rng: np.random.Generator
) -> torch.Tensor:
    """Mask [E, n] of ``k`` random alive latents per member, none of them in ``exclude`` (the ablation control)."""
    mask = torch.zeros(alive.shape, dtype=torch.bool)
    for e in range(alive.shape[0]):
        pool = np.flatnonzero(alive[e] & ~exclude[e].numpy())
        if pool.size < k:
            raise ValueError(
                f"member {e}: only {pool.size} alive latents outside the top-{k}; cannot draw {k} random ones"
            )
        mask[e, torch.as_tensor(rng.choice(pool, size=k, replace=False))] = True
    return mask


@torch.no_grad()
def ablate(sae: SAE, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Residual stream with the latents in ``mask`` [E, n] zeroed; the SAE error term is kept."""
    h = sae.encode(x)
    return x - torch.einsum("enk,ekd->end", h * mask[:, None].to(h), sae.W_d)


def analyse(
    model: EnsembleTransformer,
    fit: Batch,
    test: Batch,
    marker: int,
    kind: str,
    cfg: dict[str, Any],
    seed: int,
    n_perm: int = 5,
) -> dict[str, np.ndarray]:
    """SAE on the stream entering the last layer; counts of task-correlated latents and ablation accuracy drops."""
    layer = model.spec.layers - 1
    E = model.n_members
    d = model.spec.d

    def stream(b: Batch) -> torch.Tensor:
        cache: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            model(torch.as_tensor(b.tokens), cache=cache)
        return cache[f"resid{layer}"]  # [E, B, T, d]

    fit_x = stream(fit)
    sae = train_sae(fit_x.reshape(E, -1, d), kind, cfg, seed)
    test_x = stream(test)
    B, T = test.tokens.shape
    flat = test_x.reshape(E, -1, d)
    h = sae.encode(flat).cpu().numpy()
    tok_f, seq_f = task_features(test, marker)
    corr = np.stack([latent_correlations(h[e], tok_f, seq_f, B, T) for e in range(E)])  # [E, n]
    alive = (h > 0).any(1)  # latents that fire at all on the test set
    n_corr = (corr >= CORR_THRESHOLD).sum(1)
    rng = np.random.default_rng(seed)
    null_counts = []
    for _ in range(n_perm):
        # Permuting sequences (and the token features' rows within the same permutation of sequences) breaks the
        # pairing between activations and task variables but keeps each variable's distribution.
        perm = rng.permutation(B)
        tok_p = tok_f.reshape(B, T, -1)[perm].reshape(B * T, -1)
        null_counts.append(
            [(latent_correlations(h[e], tok_p, seq_f[perm], B, T) >= CORR_THRESHOLD).sum() for e in range(E)]
        )
    target = torch.as_tensor(test.target).expand(E, -1)
    base = accuracy_with(model, layer, test_x, target)
    # Ablate the top-k task-correlated latents (paper Sec. 4.4: "3-5" of them), k fixed by the profile, and, as the
    # control, as many random alive latents outside that top-k; how many of the top-k pass |r| >= 0.5 is recorded.
    k_abl = int(cfg["n_ablate"])
    n_draws = int(cfg["n_random_ablations"])
    top = top_correlated(corr, k_abl)
    abl = accuracy_with(model, layer, ablate(sae, flat, top).reshape_as(test_x), target)
    rand_drops = np.zeros((E, n_draws))
    for j in range(n_draws):
        mask = random_alive_mask(alive, top, k_abl, rng)
        rand_drops[:, j] = base - accuracy_with(
            model, layer, ablate(sae, flat, mask).reshape_as(test_x), target
        )
    abl_all = accuracy_with(model, layer, ablate(sae, flat, torch.ones_like(top)).reshape_as(test_x), target)
    rec = ((sae.decode(sae.encode(flat)) - flat).pow(2).sum(-1).mean(1) / flat.var(1).sum(-1)).cpu().numpy()
    return {
        "base_acc": base,
        "ablated_acc": abl,
        "all_ablated_acc": abl_all,
        "drop": base - abl,
        "drop_all": base - abl_all,
        "n_correlated": n_corr.astype(float),
        "n_correlated_null": np.asarray(null_counts, dtype=float).T,  # [E, n_perm]
        "n_ablated_correlated": (corr[top.numpy()].reshape(E, k_abl) >= CORR_THRESHOLD).sum(1).astype(float),
        "drop_random": rand_drops,  # [E, n_random_ablations]
        "n_alive": alive.sum(1).astype(float),
        "rel_recon_error": rec,
        "l0": (h > 0).sum(-1).mean(1).astype(float),
    }
