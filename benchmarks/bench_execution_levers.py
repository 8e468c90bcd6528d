"""Speed levers of the execution study's training step, each side by side with the baseline in one run (issue 30).

The ci main run trains an 8-member ensemble (d = 64, 2 layers x 4 heads, T = 16, batch 64) for 12,000 steps, so
the training step is most of E's cold-run cost. This script times the same Adam steps (same data, same initial
weights) under each lever and prints seconds per step and the ratio to the baseline. Rounds are interleaved
(baseline, lever, baseline, lever, ...) and the ratio is the median of per-round ratios, so a shared, noisy machine
moves both sides alike. It also checks that a lever leaves the logits unchanged within the stated tolerance.

    .venv/bin/python benchmarks/bench_execution_levers.py [--steps 40] [--rounds 5] [--members 8] [--compile]

Measured 2026-12-03 on the shared 2-core box (8 members, 20 steps x 3 rounds, one thread, speed-up over the
full-forward baseline): query-only 1.23x (attention-only) / 1.52x (MLP model), sdpa on top of query-only 1.18x /
1.50x (no gain over query-only alone); logits within 1e-6 of the baseline. With ``--compile`` (20 steps x 3
rounds): query-only + torch.compile 1.67x (attention-only) / 1.80x (MLP) over the same baseline, i.e. 1.37x / 1.19x
over query-only alone (adopted for ci and full: train.training_forward), compile ~19 s per process and model shape;
logits within 1.4e-6. End to end (600 steps, 4 members, ci shapes, evaluation and snapshots included): 20.9 s eager,
12.4 s compiled once warm (34.9 s for the first, compiling, run); two compiled runs bit-identical.

Levers:
* ``query-only``: the last layer computes the final (query) position only (adopted in model.py: the readout reads
  nothing else). Baseline: every layer over every position.
* ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` for the attention core (not adopted: the attention
  probabilities are recorded at every snapshot, which the fused kernel does not return).
* ``compile`` (with ``--compile``): ``torch.compile`` of the forward; its one-off compile time per process is
  printed separately, since every worker process pays it once per model shape.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from geomclaims.studies.execution.model import EnsembleTransformer, ModelSpec, member_losses
from geomclaims.studies.execution.task import TaskSpec, data_rng, sample

Forward = Callable[[EnsembleTransformer, torch.Tensor], torch.Tensor]


def full_forward(model: EnsembleTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Baseline: every layer over every position, then the readout at the last position."""
    x = model.embed(tokens)
    for layer in range(model.spec.layers):
        out, _ = model.attention(layer, x, last_query_only=False)
        x = x + out
        if model.spec.mlp:
            x = x + model.mlp(layer, x)
    return model.readout(x)


def query_only_forward(model: EnsembleTransformer, tokens: torch.Tensor) -> torch.Tensor:
    return model(tokens)


def sdpa_forward(model: EnsembleTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Query-only last layer with the fused attention kernel (no probabilities returned)."""
    P, H = model.params, model.spec.heads
    x = model.embed(tokens)
    last = model.spec.layers - 1
    for layer in range(model.spec.layers):
        E, B, T, d = x.shape
        dh = d // H
        xn = F.layer_norm(x, (d,))
        xq = xn[:, :, -1:] if layer == last else xn
        q = torch.einsum("ebtd,edf->ebtf", xq, P[f"L{layer}_W_Q"]).reshape(E, B, -1, H, dh).transpose(2, 3)
        k, v = (
            torch.einsum("ebtd,edf->ebtf", xn, P[f"L{layer}_{n}"]).reshape(E, B, T, H, dh).transpose(2, 3)
            for n in ("W_K", "W_V")
        )
        z = F.scaled_dot_product_attention(q, k, v, is_causal=layer != last, scale=1 / math.sqrt(dh))
        z = z.transpose(2, 3).reshape(E, B, -1, d)
        out = torch.einsum("ebtd,edf->ebtf", z, P[f"L{layer}_W_O"])
        x = (x[:, :, -1:] if layer == last else x) + out
        if model.spec.mlp:
            x = x + model.mlp(layer, x)
    return model.readout(x)


def time_steps(forward: Forward, members: int, steps: int, mlp: bool) -> float:
    """Seconds per Adam step of a fresh ensemble (fixed init and data, so every call does the same work)."""
    spec = TaskSpec(T=16, C=8, m_values=(1, 2, 3, 4))
    model = EnsembleTransformer(
        ModelSpec(d=64, layers=2, heads=4, mlp=mlp), spec.vocab.size, 16, 8, range(members)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    rngs = [data_rng(s) for s in range(members)]
    batches = [[sample(spec, r, 64) for r in rngs] for _ in range(steps)]
    start = time.perf_counter()
    for bs in batches:
        x = torch.as_tensor(np.stack([b.tokens for b in bs]))
        y = torch.as_tensor(np.stack([b.target for b in bs]))
        loss = member_losses(forward(model, x), y).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def max_logit_gap(forward: Forward, mlp: bool) -> float:
    spec = TaskSpec(T=16, C=8, m_values=(1, 2, 3, 4))
    model = EnsembleTransformer(ModelSpec(d=64, layers=2, heads=4, mlp=mlp), spec.vocab.size, 16, 8, range(4))
    x = torch.as_tensor(sample(spec, data_rng(5), 128).tokens)
    with torch.no_grad():
        return float((forward(model, x) - full_forward(model, x)).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    levers: dict[str, Forward] = {"query-only": query_only_forward, "sdpa": sdpa_forward}
    if args.compile:
        t0 = time.perf_counter()
        compiled = torch.compile(query_only_forward)
        time_steps(compiled, args.members, 2, False)
        print(f"torch.compile: first two steps (compile included) {time.perf_counter() - t0:.1f} s")
        levers["query-only + compile"] = compiled
    print(f"members={args.members} steps/round={args.steps} rounds={args.rounds} threads=1")
    print(
        f"{'model':6s} {'lever':22s} {'base s/step':>12s} {'lever s/step':>13s} {'speed-up':>9s} {'max |dlogit|':>13s}"
    )
    for mlp in (False, True):
        for name, fwd in levers.items():
            ratios, base_t, lever_t = [], [], []
            for _ in range(args.rounds):
                b = time_steps(full_forward, args.members, args.steps, mlp)
                lv = time_steps(fwd, args.members, args.steps, mlp)
                base_t.append(b)
                lever_t.append(lv)
                ratios.append(b / lv)
            print(
                f"{'mlp' if mlp else 'attn':6s} {name:22s} {statistics.median(base_t):12.4f} "
                f"{statistics.median(lever_t):13.4f} {statistics.median(ratios):8.2f}x "
                f"{max_logit_gap(fwd, mlp):13.1e}"
            )


if __name__ == "__main__":
    main()
