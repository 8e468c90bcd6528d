"""Ensembles of small transformers with a leading member (seed) dimension on every weight.

Paper E, Sec. 3.2: attention-only transformers (token + positional embedding, per layer W_Q, W_K, W_V, W_O in
R^{d x d}, no MLP) and the same with MLP blocks. Every weight carries a leading dimension ``E`` (one slice per
seed) and every product is a batched einsum, so ``E`` seeds train in one forward/backward pass instead of a
Python loop over seeds. Members never interact: the loss is a sum of per-member losses and AdamW/SGD act
elementwise, so member ``e`` follows exactly the trajectory of its seed trained alone (up to float reassociation).

Design choices (why):
* LayerNorm without affine parameters before attention/MLP and before the readout: stabilises training of the
  tiny models without adding parameters outside the paper's parameterisation.
* The readout ``W_U`` maps only to the C answer classes and is applied at the final (query) position only; every
  parameter receives gradient (the released code carried ~60% parameters that never did, e.g. unused vocabulary
  rows and layers).
* Each member is initialised from its own ``torch.Generator(seed)``, so initialisation is independent of the
  ensemble's size and composition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ATTN_MATRICES = ("W_Q", "W_K", "W_V", "W_O")
MLP_MATRICES = ("W_in", "W_out")


@dataclass(frozen=True)
class ModelSpec:
    d: int = 64
    layers: int = 2
    heads: int = 4
    mlp: bool = False
    mlp_ratio: int = 4

    @staticmethod
    def from_config(cfg: dict) -> ModelSpec:
        return ModelSpec(**cfg)


class EnsembleTransformer(nn.Module):
    """``E`` independent causal transformers evaluated together. Tokens [E, B, T] (or [B, T], shared)."""

    def __init__(self, spec: ModelSpec, vocab: int, T: int, n_classes: int, seeds: Sequence[int]):
        super().__init__()
        if spec.d % spec.heads:
            raise ValueError(f"d={spec.d} is not divisible by heads={spec.heads}")
        self.spec, self.vocab, self.T, self.n_classes = spec, vocab, T, n_classes
        self.seeds = [int(s) for s in seeds]
        members = [self._init_member(s) for s in self.seeds]
        self.params = nn.ParameterDict(
            {name: nn.Parameter(torch.stack([m[name] for m in members])) for name in members[0]}
        )

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def _init_member(self, seed: int) -> dict[str, torch.Tensor]:
        s = self.spec
        g = torch.Generator().manual_seed(int(seed))
        d, h = s.d, s.d * s.mlp_ratio

        def normal(*shape: int, std: float) -> torch.Tensor:
            return torch.randn(*shape, generator=g) * std

        p: dict[str, torch.Tensor] = {
            "tok_emb": normal(self.vocab, d, std=1.0),
            "pos_emb": normal(self.T, d, std=1.0),
        }
        for layer in range(s.layers):
            for name in ATTN_MATRICES:
                p[f"L{layer}_{name}"] = normal(d, d, std=1.0 / math.sqrt(d))
            if s.mlp:
                p[f"L{layer}_W_in"] = normal(d, h, std=1.0 / math.sqrt(d))
                p[f"L{layer}_b_in"] = torch.zeros(h)
                p[f"L{layer}_W_out"] = normal(h, d, std=1.0 / math.sqrt(h))
                p[f"L{layer}_b_out"] = torch.zeros(d)
        p["W_U"] = normal(d, self.n_classes, std=1.0 / math.sqrt(d))
        return p

    # ------------------------------------------------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Residual stream entering layer 0: [E, B, T, d]."""
        if tokens.dim() == 2:
            tokens = tokens.unsqueeze(0).expand(self.n_members, -1, -1)
        E = self.n_members
        tok = self.params["tok_emb"]  # [E, V, d]
        idx = tokens.reshape(E, -1, 1).expand(-1, -1, tok.shape[-1])
        x = torch.gather(tok, 1, idx).reshape(*tokens.shape, -1)
        return x + self.params["pos_emb"][:, None, : tokens.shape[-1]]

    def attention(
        self, layer: int, x: torch.Tensor, last_query_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention block output [E,B,Tq,d] and probabilities [E,B,H,Tq,T] for residual ``x`` [E,B,T,d].

        ``Tq`` is T, or 1 with ``last_query_only``: only the final (query) position attends, which is all the
        last layer's readout needs (the causal mask makes the final row identical to the full computation's).
        """
        P, H = self.params, self.spec.heads
        E, B, T, d = x.shape
        dh = d // H
        xn = F.layer_norm(x, (d,))
        xq = xn[:, :, -1:] if last_query_only else xn
        Tq = xq.shape[2]
        q = torch.einsum("ebtd,edf->ebtf", xq, P[f"L{layer}_W_Q"]).reshape(E, B, Tq, H, dh).transpose(2, 3)
        k, v = (
            torch.einsum("ebtd,edf->ebtf", xn, P[f"L{layer}_{n}"]).reshape(E, B, T, H, dh).transpose(2, 3)
            for n in ("W_K", "W_V")
        )  # [E,B,H,T,dh]
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if not last_query_only:
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = scores.softmax(dim=-1)
        z = (attn @ v).transpose(2, 3).reshape(E, B, Tq, d)
        return torch.einsum("ebtd,edf->ebtf", z, P[f"L{layer}_W_O"]), attn

    def mlp(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        P = self.params
        xn = F.layer_norm(x, (x.shape[-1],))
        h = F.gelu(
            torch.einsum("ebtd,edh->ebth", xn, P[f"L{layer}_W_in"]) + P[f"L{layer}_b_in"][:, None, None]
        )
        return torch.einsum("ebth,ehd->ebtd", h, P[f"L{layer}_W_out"]) + P[f"L{layer}_b_out"][:, None, None]

    def readout(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [E, B, C] from the final residual stream at the query (last) position."""
        final = F.layer_norm(x[:, :, -1], (x.shape[-1],))
        return torch.einsum("ebd,edc->ebc", final, self.params["W_U"])

    def forward(
        self,
        tokens: torch.Tensor | None = None,
        *,
        resid: torch.Tensor | None = None,
        start_layer: int = 0,
        cache: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits [E, B, C].

        Either ``tokens`` (start at the embedding) or ``resid`` (the residual stream entering ``start_layer``,
        e.g. an SAE-edited one) must be given; the forward pass then re-runs every later layer. When ``cache`` is
        a dict it receives ``resid{l}`` (stream entering layer l), ``attn{l}`` (probabilities [E,B,H,Tq,T]) and
        ``resid{L}``. The last layer computes the final (query) position only, so ``attn{L-1}`` has Tq = 1 and
        ``resid{L}`` holds that position alone; earlier layers keep every position (later positions' keys need them).
        """
        if (tokens is None) == (resid is None):
            raise ValueError("give exactly one of tokens or resid")
        x = self.embed(tokens) if resid is None else resid
        last = self.spec.layers - 1
        for layer in range(start_layer, self.spec.layers):
            if cache is not None:
                cache[f"resid{layer}"] = x
            # The readout reads only the final position, so the last layer computes that position alone.
            out, attn = self.attention(layer, x, last_query_only=layer == last)
            if cache is not None:
                cache[f"attn{layer}"] = attn
            x = (x[:, :, -1:] if layer == last else x) + out
            if self.spec.mlp:
                x = x + self.mlp(layer, x)
        if cache is not None:
            cache[f"resid{self.spec.layers}"] = x
        return self.readout(x)

    def matrix_names(self) -> list[str]:
        """Names of the tracked weight matrices: attention per layer, then MLP per layer."""
        names = [f"L{layer}_{n}" for layer in range(self.spec.layers) for n in ATTN_MATRICES]
        if self.spec.mlp:
            names += [f"L{layer}_{n}" for layer in range(self.spec.layers) for n in MLP_MATRICES]
        return names

    def member_state(self, e: int) -> dict[str, torch.Tensor]:
        return {k: v[e].detach().clone() for k, v in self.params.items()}

    @torch.no_grad()
    def load_member_states(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        for name, p in self.params.items():
            p.copy_(torch.stack([torch.as_tensor(s[name]) for s in states]).to(p))


def member_losses(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per member [E] (mean over the batch). ``target`` is [E, B]."""
    E, B, C = logits.shape
    return (
        F.cross_entropy(logits.reshape(E * B, C), target.reshape(E * B), reduction="none")
        .reshape(E, B)
        .mean(1)
    )
