"""Serial vs parallel (Dask LocalCluster) on one study's claims, cold, side by side in one run.

    python benchmarks/bench_executor.py --paper execution --profile ci --workers 2

Each mode starts from its own empty experiment store (a temporary ``GEOMCLAIMS_RESULTS_CACHE``); the real models and
corpora stay in the normal cache, so only experiment compute is timed. Prints wall times, the speed-up ratio, the
peak resident memory of the serial process and of every worker, and whether the results.json values are identical
(issue #14 target: ratio >= 1.7 with 2 workers on the ci profile of a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _import_study(module: str) -> bool:
    import importlib

    importlib.import_module(module)
    return True


def _run(
    profile: str, cases: list[Any], store_dir: Path, workers: int | None, study_module: str
) -> tuple[float, float, Any, list[float]]:
    """(startup s, compute s, results, peak RSS MB per process). Startup = cluster + imports in every worker (the
    serial driver has imported everything already), so compute is the like-for-like number."""
    from geomclaims.executor import executor_for, run_cases
    from geomclaims.runner import Session
    from geomclaims.store import Store

    # Everything a job caches (experiment results AND the embeddings, which live in the results store) must start
    # cold in each mode: set before the cluster starts, so its workers inherit it. (A shared directory here let the
    # serial run reuse the embeddings the parallel run had computed: a 0.57x "ratio" that measured the cache.)
    os.environ["GEOMCLAIMS_RESULTS_CACHE"] = str(store_dir)
    session = Session(profile=profile, store=Store(store_dir), progress=False)
    t0 = time.perf_counter()
    with executor_for("serial" if workers is None else "dask", workers=workers) as ex:
        if ex is not None:
            session.executor_info = ex.describe()
            ex.client.run(_import_study, study_module)
        t1 = time.perf_counter()
        out = run_cases(session, cases, ex, keep_going=True, on_entry=session.record)
        t2 = time.perf_counter()
        peaks = [_peak_rss_mb()] if ex is None else sorted(ex.client.run(_peak_rss_mb).values())
    if out.errors:
        print(f"errors: {out.errors}", file=sys.stderr)
    return t1 - t0, t2 - t1, session.results(), peaks


def _values(results: dict[str, Any]) -> str:
    return json.dumps(
        [{k: v for k, v in e.items() if k != "wall_s"} for e in results["claims"]], sort_keys=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--paper", default="execution", help="paper id, study name or alias (any case)")
    parser.add_argument("--profile", default="smoke", choices=("smoke", "ci", "full"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from geomclaims.claims import load_all
    from geomclaims.plugin import get_spec
    from geomclaims.registry import load_study, study_of
    from geomclaims.runner import select_cases

    cases = select_cases(load_all().values(), paper=args.paper)
    if not cases:
        print(f"no claim cases for paper {args.paper!r}", file=sys.stderr)
        return 2
    study = study_of(cases[0].claim.experiment)
    load_study(study)  # the serial driver imports the study before timing, like the workers' warm-up
    module = get_spec(study).module
    with tempfile.TemporaryDirectory(prefix="geomclaims-bench-") as tmp:
        up, t_par, r_par, mem_par = _run(args.profile, cases, Path(tmp) / "parallel", args.workers, module)
        _, t_ser, r_ser, mem_ser = _run(args.profile, cases, Path(tmp) / "serial", None, module)
    same = _values(r_ser) == _values(r_par)
    print(f"bench_executor: {args.paper} {args.profile}, {len(cases)} claim cases, cold experiment store")
    print(f"  serial           {t_ser:8.1f} s   peak RSS {mem_ser[0]:7.0f} MB (driver; max over both runs)")
    print(
        f"  parallel ({args.workers} wkr)  {t_par:8.1f} s   peak RSS per worker "
        + ", ".join(f"{m:.0f}" for m in mem_par)
        + f" MB   (+ {up:.1f} s cluster start and worker imports)"
    )
    print(
        f"  ratio serial/parallel = {t_ser / t_par:.2f}x compute, {t_ser / (t_par + up):.2f}x with startup"
        f"   results identical: {same}"
    )
    print(f"  (cpu: {r_ser['machine']['cpu']}, load average now {os.getloadavg()[0]:.1f})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
