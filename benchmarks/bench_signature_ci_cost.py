"""Signature study: cost of the ci profile's training, measured (not a test; run by hand).

Times ``--steps`` steps of one seed's ``ci`` toy job (true- and shuffled-label members of that seed batched
together; the profile runs one such job per seed) and one ci LM run, then extrapolates to the whole ci profile:

    .venv/bin/python benchmarks/bench_signature_ci_cost.py --steps 100

Measured 2026-11-29 on the shared 2-core box (one thread, nice): 0.136 s per step for 12 batched members, i.e.
10-11 ms per member-step of wall time at ~50% of a core (12 members x 5000 steps: 625 s wall, ~25-30 CPU-s per
member, as the audit's 25 s) -> 36 members ~ 16-18 CPU-min; one ci LM 5 s alone (18 s wall while the toy probe
ran), 30 LMs (5 corpora x 2 archs x 3 seeds) ~ 3-9 CPU-min.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from geomclaims.studies.signature import experiment, lm, profiles, train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lm-corpus", default="wikipedia")
    args = ap.parse_args()
    torch.set_num_threads(1)
    s = profiles.SETTINGS["ci"]
    cfg = train.toy_config(s["toy_schedule"], max_steps=args.steps, evaluate=False)
    res = train.train_toy(cfg, s["seeds"][0])
    jobs = len(experiment.toy_seeds(s))
    members = len(res["members"]["seed"])
    sched = train.SCHEDULES[s["toy_schedule"]]
    total = sched["epochs"] * sched["n_samples"] // sched["batch"]
    toy_s = float(res["seconds_per_step"]) * total * jobs
    t0 = time.perf_counter()
    lm.train_lm(lm.lm_config(s["lm"]["scale"], args.lm_corpus, "qwen2"), 0)
    lm_one = time.perf_counter() - t0
    n_lm = len(s["lm"]["corpora"]) * len(s["lm"]["archs"]) * len(s["lm_seeds"])
    print(
        json.dumps(
            {
                "toy_members_per_job": members,
                "toy_jobs": jobs,
                "toy_s_per_step": round(float(res["seconds_per_step"]), 4),
                "toy_steps": total,
                "toy_cpu_min": round(toy_s / 60, 1),
                "lm_one_s": round(lm_one, 1),
                "lm_runs": n_lm,
                "lm_cpu_min": round(lm_one * n_lm / 60, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
