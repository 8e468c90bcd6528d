"""Embedding-based models of paper P (Sec. 3): F_lin(X) = W^U sum_x W^E_x and F_ffn(X) = W^U relu(sum_x W^E_x).

Many independent models ("members": seeds x tasks x architectures x label modes) are trained at once: every weight
has a leading member axis and the forward pass is one einsum. Because AdamW is element-wise and the members share
no parameter, summing their losses gives each member exactly the update it would get alone.

Layout: ``WE[m, x]`` is the embedding vector W^E_x (the paper's x-th *column* of W^E, stored as a row) and
``WU[m, nu]`` the unembedding vector W^U_nu (the nu-th row of W^U), both of size d.

Initialisation (Sec. 5.1 writes W_ij ~ N(0, d^-0.8) and calls it "a small initialization scale", citing the
condensation papers): we read d^-0.8 as the *standard deviation* (std = 0.0144 for d = 200). Reason: read as a
variance it gives std d^-0.4 = 0.120, which is *larger* than the standard 1/sqrt(d) = 0.071 and so not small, while
std d^-gamma with gamma > 0.5 is exactly the small-initialisation regime of the cited line of work. The other
reading is kept as ``init_convention="variance"`` (a variant; the report lists both).
"""

from __future__ import annotations

import hashlib

import torch

INIT_EXPONENT = 0.8


def init_std(d: int, convention: str = "std") -> float:
    """Standard deviation of the small initialisation N(0, d^-0.8) under the chosen reading of the notation."""
    if convention == "variance":
        return float(d ** (-INIT_EXPONENT / 2))
    if convention == "std":
        return float(d ** (-INIT_EXPONENT))
    raise ValueError(f"init_convention must be 'variance' or 'std', got {convention!r}")


def member_seed(*parts: object) -> int:
    """A 63-bit torch seed derived from a member's identity, so its init does not depend on the batch it is in."""
    h = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def init_weights(
    seeds: list[int], vocab_size: int, d: int, std: float, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member N(0, std^2) weights ``WE, WU`` of shape [M, V, d]; member k draws from torch seed ``seeds[k]``."""
    we, wu = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        we.append(torch.randn(vocab_size, d, generator=g) * std)
        wu.append(torch.randn(vocab_size, d, generator=g) * std)
    return torch.stack(we).to(device), torch.stack(wu).to(device)


def hidden(WE: torch.Tensor, X: torch.Tensor, relu_mask: torch.Tensor) -> torch.Tensor:
    """G(W^E_X): sum of the input embeddings, passed through ReLU for the F_ffn members.

    WE [M, V, d], X [M, B, L] token ids, relu_mask [M] bool (True = F_ffn). Returns [M, B, d].
    """
    M = WE.shape[0]
    emb = WE[torch.arange(M, device=WE.device)[:, None, None], X]  # [M, B, L, d]
    s = emb.sum(dim=2)
    return torch.where(relu_mask[:, None, None], torch.relu(s), s)


def logits(
    WE: torch.Tensor,
    WU: torch.Tensor,
    X: torch.Tensor,
    relu_mask: torch.Tensor,
    vocab_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """F(X) = W^U G(W^E_X) for every member: [M, B, V].

    ``vocab_mask`` [M, V] bool marks each member's real vocabulary when members of different vocabulary sizes share
    one padded tensor; padded outputs get -inf, so each member's softmax runs over its own vocabulary only.
    """
    lg = torch.einsum("mbd,mvd->mbv", hidden(WE, X, relu_mask), WU)
    if vocab_mask is not None:
        lg = lg.masked_fill(~vocab_mask[:, None, :], float("-inf"))
    return lg


def member_loss(
    WE: torch.Tensor,
    WU: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    relu_mask: torch.Tensor,
    vocab_mask: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy per member [M] (weighted mean over the batch when ``weights`` [M, B] is given)."""
    lg = logits(WE, WU, X, relu_mask, vocab_mask)
    nll = torch.nn.functional.cross_entropy(lg.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
    if weights is None:
        return nll.mean(dim=1)
    return (nll * weights).sum(dim=1) / weights.sum(dim=1)
