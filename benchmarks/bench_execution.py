"""Seed ensembles vs sequential seeds for the execution study's training step (paper E models).

Trains the same seeds either as one ensemble (leading member dimension, batched einsum: one forward/backward
per step) or one after the other (a Python loop over seeds), with identical data and optimiser, and prints a
table of seconds and seed-steps per second. Run: ``.venv/bin/python benchmarks/bench_execution.py [--threads 1]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from geomclaims.studies.execution.model import EnsembleTransformer, ModelSpec, member_losses
from geomclaims.studies.execution.task import TaskSpec, data_rng, sample


def run(seeds: list[int], spec: TaskSpec, mspec: ModelSpec, steps: int, batch: int) -> float:
    """Wall seconds for ``steps`` Adam steps of one ensemble holding ``seeds`` (data generation included)."""
    model = EnsembleTransformer(mspec, spec.vocab.size, spec.T, spec.C, seeds)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)  # main variant adam-cos2e-3-T16
    rngs = [data_rng(s) for s in seeds]
    start = time.perf_counter()
    for _ in range(steps):
        bs = [sample(spec, r, batch) for r in rngs]
        x = torch.as_tensor(np.stack([b.tokens for b in bs]))
        y = torch.as_tensor(np.stack([b.target for b in bs]))
        loss = member_losses(model(x), y).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    rows = []
    for label, T, d, layers, batch in (
        ("ci (d=64, T=16, 2 layers)", 16, 64, 2, 64),
        ("full (d=128, T=16, 2 layers)", 16, 128, 2, 64),
        ("paper T=32 (d=64)", 32, 64, 2, 64),
    ):
        spec = TaskSpec(T=T, C=8, m_values=(1, 2, 3, 4))
        mspec = ModelSpec(d=d, layers=layers, heads=4)
        run(seeds[:1], spec, mspec, 3, batch)  # warm-up (allocator, einsum paths)
        ens = run(seeds, spec, mspec, args.steps, batch)
        seq = sum(run([s], spec, mspec, args.steps, batch) for s in seeds)
        rows.append((label, ens, seq))
    print(f"threads={args.threads}  seeds={args.seeds}  steps={args.steps}")
    print(
        f"{'config':28s} {'ensemble s':>11s} {'sequential s':>13s} {'seed-steps/s ens':>17s} {'seq':>8s} {'speed-up':>9s}"
    )
    for label, ens, seq in rows:
        n = args.seeds * args.steps
        print(f"{label:28s} {ens:11.2f} {seq:13.2f} {n / ens:17.1f} {n / seq:8.1f} {seq / ens:8.2f}x")


if __name__ == "__main__":
    main()
