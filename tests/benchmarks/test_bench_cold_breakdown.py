"""The cold-run breakdown reads the real store format and sums what it should (issue #30 item 1)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from geomclaims.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_cold_breakdown", ROOT / "benchmarks" / "bench_cold_breakdown.py"
    )
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_breakdown_sums_jobs_per_study_and_schedule(tmp_path: Path) -> None:
    bench = _load_bench()
    store = Store(tmp_path)
    t0 = 1_800_000_000.0
    # worker 1: a 100 s E job then a 20 s S job; worker 2: one 50 s E shuffled-label job.
    jobs = [
        ("execution/train", {"variant": "main", "labels": "true"}, 0, 100.0, t0 + 100, 1),
        ("stratified/strata", {"model": "minilm"}, 0, 20.0, t0 + 120, 1),
        ("execution/train", {"variant": "main", "labels": "shuffled"}, 1, 50.0, t0 + 50, 2),
    ]
    for i, (name, cfg, seed, wall, end, pid) in enumerate(jobs):
        prov = {
            "experiment": name,
            "config": cfg,
            "seed": seed,
            "wall_s": wall,
            "created": _stamp(end),
            "worker_pid": pid,
        }
        store.save(Store.key(name, cfg, seed, str(i)), {"x": 1.0}, prov)
    provs = bench.read_job_provenance(tmp_path)
    assert len(provs) == 3
    sched = bench.schedule_summary(provs)
    assert sched["job_cpu_s"] == pytest.approx(170.0)
    assert sched["span_s"] == pytest.approx(120.0)
    assert sched["busy_s"] == {1: 120.0, 2: 50.0}
    assert sched["critical_path_lower_bound_s"] == pytest.approx(100.0)  # longest job > 170 / 2
    assert sched["tail_s"] == pytest.approx(20.0)
    results = {
        "profile": "ci",
        "wall_s": 130.0,
        "created": _stamp(t0 + 125),
        "claims": [{"study": "execution", "wall_s": 3.0}, {"study": "stratified", "wall_s": 1.5}],
    }
    text = bench.breakdown(results, provs)
    assert "execution/train [main, labels=shuffled]" in text
    assert "3 jobs computed by this run" in text
    # A job older than the run (a warm store's entry) is not this run's compute.
    old = {**provs[0], "created": _stamp(t0 - 1000)}
    assert "2 jobs computed by this run" in bench.breakdown(results, [old, *provs[1:]])


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    bench = _load_bench()
    with pytest.raises(SystemExit, match="is not a directory"):
        bench.read_job_provenance(tmp_path / "nope")
