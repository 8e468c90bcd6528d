"""Signature study: does the old `fast` toy schedule (equal lr x steps) reach the `paper` end state? What cost?

Trains the six true-label members of one seed at several learning rates with lr x steps fixed at the paper's 5.0
(lr 1e-5 x 500k steps) and prints the end-state metrics the claims read (train accuracy, R_order, mean anchor
cosine) and seconds per step. Not a test: run by hand, e.g.

    .venv/bin/python benchmarks/bench_signature.py --lrs 5e-3 2.5e-3 1e-3 2.5e-4
"""

from __future__ import annotations

import argparse
import json
import time

from geomclaims.studies.signature import train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrs", type=float, nargs="+", default=[5e-3, 2.5e-3, 1e-3])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default="std", choices=["std", "variance"])
    args = ap.parse_args()
    paper = train.SCHEDULES["paper"]
    budget = paper["lr"] * paper["epochs"] * paper["n_samples"] // paper["batch"]  # lr x steps = 5
    for lr in args.lrs:
        steps_per_epoch = paper["n_samples"] // paper["batch"]
        epochs = max(1, round(budget / lr / steps_per_epoch))
        cfg = train.toy_config("fast", ("true",), lr=lr, epochs=epochs, init_convention=args.init)
        t0 = time.perf_counter()
        res = train.train_toy(cfg, args.seed)
        members = [f"{a}_{t}" for t, a in zip(res["members"]["task"], res["members"]["arch"], strict=True)]
        print(
            json.dumps(
                {
                    "lr": lr,
                    "epochs": epochs,
                    "steps": int(res["total_steps"]),
                    "s_per_step": round(float(res["seconds_per_step"]), 4),
                    "wall_s": round(time.perf_counter() - t0, 1),
                    "acc": dict(zip(members, res["acc_final"].round(3).tolist(), strict=True)),
                    "r_order": dict(zip(members, res["r_order"][:, -1].round(3).tolist(), strict=True)),
                    "mean_anchor_cos": dict(
                        zip(members, res["mean_anchor_cos"][:, -1].round(3).tolist(), strict=True)
                    ),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
