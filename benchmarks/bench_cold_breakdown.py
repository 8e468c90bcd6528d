"""Where the time of a cold claims run goes (issue #30 item 1), read from the run's own records.

    python benchmarks/bench_cold_breakdown.py --results reports/ci/latest/results.json --store $GEOMCLAIMS_RESULTS_CACHE

A cold run (empty experiment store) leaves one stored entry per computed job, each with its provenance: experiment,
seed, config, ``wall_s`` (job compute time on its worker), ``created`` (end time, whole seconds) and ``worker_pid``.
results.json holds the run's wall time and, per case, ``wall_s``: the driver's evaluation of that case (evidence
function + verdict + stability; experiment jobs are excluded because they run on workers). From these the script
prints, without re-running anything:

* per study and per job kind (experiment name, plus the training variant where the config names one): jobs, CPU-s,
  longest job;
* workers versus driver: job CPU-s summed over workers, driver CPU-s summed over cases, the run's wall time;
* the schedule: per worker its busy seconds and utilisation over the run's job span, and the tail (the span after
  the last job started, when at most one job could still be running);
* the critical-path lower bound of the job set: max(longest job, job CPU-s / workers) — no schedule of these jobs on
  that many workers finishes sooner, so a wall time near it means the run is CPU-bound, not schedule-bound.

Only the cold run's own entries count: entries created before the run started (an older store) are skipped, so
point ``--store`` at the store the cold run wrote.
"""

from __future__ import annotations

import argparse
import calendar
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

META_KEY = "__meta__"


def read_job_provenance(store: Path) -> list[dict[str, Any]]:
    """The provenance of every stored job result under ``store`` (``<store>/<xx>/<key>.npz``).

    Embedding chunks (``<store>/embeddings``) are not jobs: their compute is inside the jobs that asked for them.
    """
    if not store.is_dir():
        raise SystemExit(f"bench_cold_breakdown: --store {store} is not a directory")
    out = []
    for path in sorted(store.glob("??/*.npz")):
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(bytes(npz[META_KEY]).decode())
        except Exception as exc:  # a stray or truncated file: say which, keep going
            print(f"[skip] {path}: unreadable ({exc})", file=sys.stderr)
            continue
        out.append(dict(meta["provenance"]))
    return out


def _epoch(created: str) -> float:
    return float(calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")))


def job_kind(prov: Mapping[str, Any]) -> str:
    """``study/experiment`` plus the training variant (and the non-default schedule/op/labels/mlp) when present."""
    kind = str(prov.get("experiment", "?"))
    cfg = prov.get("config") or {}
    extras = []
    if isinstance(cfg, Mapping):
        if "variant" in cfg:
            extras.append(str(cfg["variant"]))
        task = cfg.get("task") if isinstance(cfg.get("task"), Mapping) else {}
        for key, default in (("schedule", "mixed"), ("op", "add")):
            if task.get(key, default) != default:
                extras.append(str(task[key]))
        if cfg.get("labels", "true") != "true":
            extras.append(f"labels={cfg['labels']}")
        if isinstance(cfg.get("model"), Mapping) and cfg["model"].get("mlp"):
            extras.append("mlp")
        if "model" in cfg and isinstance(cfg["model"], str):
            extras.append(cfg["model"])
    return kind + (f" [{', '.join(extras)}]" if extras else "")


def schedule_summary(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-worker busy time, the job span, the tail and the critical-path lower bound of a set of finished jobs."""
    spans = []
    for j in jobs:
        end = _epoch(j["created"])
        spans.append((end - float(j["wall_s"]), end, j.get("worker_pid", -1), float(j["wall_s"])))
    if not spans:
        return {"n_jobs": 0}
    start = min(s for s, _, _, _ in spans)
    end = max(e for _, e, _, _ in spans)
    busy: dict[Any, float] = defaultdict(float)
    for _, _, pid, w in spans:
        busy[pid] += w
    workers = max(len(busy), 1)
    total = sum(w for *_, w in spans)
    longest = max(w for *_, w in spans)
    last_start = max(s for s, _, _, _ in spans)
    return {
        "n_jobs": len(spans),
        "workers": workers,
        "job_cpu_s": total,
        "span_s": end - start,
        "busy_s": dict(busy),
        "utilisation": total / (workers * max(end - start, 1e-9)),
        "tail_s": end - last_start,
        "longest_job_s": longest,
        "critical_path_lower_bound_s": max(longest, total / workers),
    }


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    return tabulate(rows, headers=header, tablefmt="simple", disable_numparse=True)


def breakdown(results: Mapping[str, Any], jobs: list[dict[str, Any]]) -> str:
    """The printed report (pure: results.json content + job provenances in, text out)."""
    created = results.get("created")
    run_start = _epoch(created) - float(results.get("wall_s", 0.0)) if created else None
    if run_start is not None:
        # Entries older than this run came from a warm store: they are not this run's compute.
        jobs = [j for j in jobs if _epoch(j["created"]) >= run_start - 1.0]
    by_study: dict[str, list[float]] = defaultdict(list)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for j in jobs:
        study = str(j.get("experiment", "?")).split("/")[0]
        by_study[study].append(float(j["wall_s"]))
        by_kind[job_kind(j)].append(float(j["wall_s"]))
    driver: dict[str, float] = defaultdict(float)
    for case in results.get("claims", []):
        driver[str(case.get("study", "?"))] += float(case.get("wall_s") or 0.0)
    out = [
        f"run: profile {results.get('profile')}, wall {float(results.get('wall_s', 0)):.0f} s, "
        f"{len(results.get('claims', []))} cases, {len(jobs)} jobs computed by this run"
    ]
    studies = sorted(set(by_study) | set(driver))
    rows = [
        (
            s,
            len(by_study[s]),
            f"{sum(by_study[s]):.0f}",
            f"{max(by_study[s], default=0):.0f}",
            f"{driver[s]:.0f}",
        )
        for s in studies
    ]
    total_jobs = sum(sum(v) for v in by_study.values())
    rows.append(("total", len(jobs), f"{total_jobs:.0f}", "", f"{sum(driver.values()):.0f}"))
    out += [
        "",
        "per study (workers: job CPU-s; driver: case evaluation s)",
        _table(rows, ("study", "jobs", "job CPU-s", "longest", "driver s")),
    ]
    kind_rows = sorted(
        ((k, len(v), f"{sum(v):.0f}", f"{np.mean(v):.0f}", f"{max(v):.0f}") for k, v in by_kind.items()),
        key=lambda r: -float(r[2]),
    )
    out += ["", "per job kind", _table(kind_rows, ("kind", "jobs", "CPU-s", "mean", "longest"))]
    sched = schedule_summary(jobs)
    if sched["n_jobs"]:
        busy = ", ".join(
            f"pid {p}: {b:.0f} s" for p, b in sorted(sched["busy_s"].items(), key=lambda x: str(x[0]))
        )
        out += [
            "",
            f"schedule: {sched['workers']} worker(s) ({busy}); job span {sched['span_s']:.0f} s, "
            f"utilisation {sched['utilisation']:.2f}, tail after the last job start {sched['tail_s']:.0f} s",
            f"critical-path lower bound max(longest job {sched['longest_job_s']:.0f} s, job CPU-s / workers "
            f"{total_jobs / sched['workers']:.0f} s) = {sched['critical_path_lower_bound_s']:.0f} s; "
            f"driver evaluation {sum(driver.values()):.0f} s runs beside the jobs",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--results", required=True, type=Path, help="results.json of the cold run")
    ap.add_argument("--store", required=True, type=Path, help="the experiment store that run wrote")
    args = ap.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"bench_cold_breakdown: cannot read --results {args.results}: {exc}") from exc
    print(breakdown(results, read_job_provenance(args.store)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
