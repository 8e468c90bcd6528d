"""Levers for the signature study's toy training step (issue 30): the largest job kind of a cold ci run.

P's toy jobs (``train.train_toy``: 12 members of one seed, batch 1000, d = 200, vocabularies of 50-90 tokens, 5000
AdamW steps) took 1,696 job CPU-s of a 6,553 s cold run (2026-12-04), ~85 ms per step. This times one training step
three ways on identical data, side by side in interleaved rounds (the box is shared and noisy, so ratios are medians
of per-round ratios, never absolute targets):

* ``eager``: ``models.member_loss`` as the study trains today (embedding rows gathered and summed);
* ``compiled``: the same function through ``torch.compile``;
* ``embedding``: the same lookup through ``F.embedding`` on the flattened table (another backward kernel);
* ``counts``: the same model written as a matrix product, G = C W^E with C[m, b, v] the count of token v in sample b
  (the bag-of-tokens sum is linear), so forward and backward are two batched matmuls instead of a gather and an
  index-add.

and prints per-step milliseconds, the median speed-up over ``eager`` and the largest parameter difference after the
timed steps (float32 summation order differs, so the lever changes numbers at float-noise level and a study change
that adopts one needs a cold run and the gate's tolerances). Not a test: run by hand,

    .venv/bin/python benchmarks/bench_signature_toy_levers.py --rounds 5 --steps 40
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from tabulate import tabulate

from geomclaims.studies.signature import models

LossFn = Callable[..., torch.Tensor]


def loss_with(embedding_sum: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> LossFn:
    """A drop-in for ``models.member_loss`` whose bag-of-tokens sum G(W^E_X) [M, B, d] is ``embedding_sum(WE, X)``;
    the rest (ReLU for F_ffn members, logits, padded-vocabulary mask, cross-entropy) is models.logits' math."""

    def loss(
        WE: torch.Tensor,
        WU: torch.Tensor,
        X: torch.Tensor,
        y: torch.Tensor,
        relu_mask: torch.Tensor,
        vocab_mask: torch.Tensor,
    ) -> torch.Tensor:
        s = embedding_sum(WE, X)
        h = torch.where(relu_mask[:, None, None], torch.relu(s), s)
        lg = torch.einsum("mbd,mvd->mbv", h, WU).masked_fill(~vocab_mask[:, None, :], float("-inf"))
        nll = torch.nn.functional.cross_entropy(lg.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
        return nll.mean(dim=1)

    return loss


def counts_sum(WE: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The embedding sum as a count-matrix product C W^E (same function, other summation order)."""
    M, B, _ = X.shape
    counts = torch.zeros(M, B, WE.shape[1], dtype=WE.dtype, device=WE.device)
    counts.scatter_add_(2, X, torch.ones_like(X, dtype=WE.dtype))
    return torch.bmm(counts, WE)


def embedding_sum(WE: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The rows looked up by ``F.embedding`` in the flattened [M*V, d] table (member m's rows offset by m*V): its
    backward is the embedding kernel's, not advanced indexing's index_put."""
    M, V, d = WE.shape
    rows = X + (torch.arange(M, device=X.device) * V)[:, None, None]
    return torch.nn.functional.embedding(rows, WE.reshape(M * V, d)).sum(dim=2)


def make_problem(M: int, B: int, L: int, V: int, d: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    vsize = torch.tensor([V if i % 3 else V * 5 // 9 for i in range(M)])  # f_mod's 50 beside f_add's 90
    X = torch.stack([torch.randint(0, int(v), (B, L), generator=g) for v in vsize])
    y = torch.stack([torch.randint(0, int(v), (B,), generator=g) for v in vsize])
    return {
        "X": X,
        "y": y,
        "relu_mask": torch.tensor([i % 2 == 1 for i in range(M)]),
        "vocab_mask": torch.arange(V)[None, :] < vsize[:, None],
        "WE": torch.randn(M, V, d, generator=g) * 0.07,
        "WU": torch.randn(M, V, d, generator=g) * 0.07,
    }


class Trainer:
    """One lever's parameters and fused AdamW (as ``train.make_optimizer`` builds it on CPU)."""

    def __init__(self, loss_fn: LossFn, problem: dict[str, torch.Tensor]) -> None:
        self.fn, self.p = loss_fn, problem
        self.WE = problem["WE"].clone().requires_grad_(True)
        self.WU = problem["WU"].clone().requires_grad_(True)
        self.opt = torch.optim.AdamW([self.WE, self.WU], lr=1e-3, fused=True)

    def steps(self, n: int) -> float:
        p = self.p
        t0 = time.perf_counter()
        for _ in range(n):
            loss = self.fn(self.WE, self.WU, p["X"], p["y"], p["relu_mask"], p["vocab_mask"]).sum()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=12)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--tokens", type=int, default=2, help="input tokens per sample")
    ap.add_argument("--vocab", type=int, default=90)
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per lever per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    problem = make_problem(args.members, args.batch, args.tokens, args.vocab, args.d)
    levers = {
        "eager": Trainer(models.member_loss, problem),
        "compiled": Trainer(torch.compile(models.member_loss), problem),
        "counts": Trainer(loss_with(counts_sum), problem),
        "embedding": Trainer(loss_with(embedding_sum), problem),
    }
    for t in levers.values():
        t.steps(3)  # warm-up (and compilation)
    times: dict[str, list[float]] = {k: [] for k in levers}
    for _ in range(args.rounds):
        for name, t in levers.items():
            times[name].append(t.steps(args.steps))
    base = np.asarray(times["eager"])
    ref = levers["eager"]
    rows = []
    for name, t in levers.items():
        ms = 1e3 * np.asarray(times[name])
        diff = max(float((t.WE - ref.WE).abs().max()), float((t.WU - ref.WU).abs().max()))
        rows.append(
            [name, f"{np.median(ms):.1f}", f"{np.median(base / np.asarray(times[name])):.2f}x", f"{diff:.1e}"]
        )
    print(tabulate(rows, headers=["lever", "ms/step (median)", "speed-up vs eager", "max |param diff|"]))


if __name__ == "__main__":
    main()
