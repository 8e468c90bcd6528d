"""Issue 15 item 2: several real processes computing the same keys on one empty cache."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np

from geomclaims.store import Store, sha256_file

N_KEYS = 40
N_PROCS = 3


def _experiment(config, seed):  # type: ignore[no-untyped-def]
    # Process-specific content, so entries written by different processes differ byte for byte.
    return {"x": np.full(64, os.getpid(), dtype=np.int64), "seed": seed}


def _worker(root: str, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    store = Store(root)
    barrier.wait()
    got = {}
    try:
        for i in range(N_KEYS):
            key = store.key("race", {"i": i}, 0, "v")
            out = store.get_or_compute(key, "race", {"i": i}, 0, _experiment, progress=False)
            got[key] = int(out["x"][0])
        queue.put(("ok", got))
    except BaseException as exc:  # report, do not hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_concurrent_processes_never_crash_and_leave_consistent_entries(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(N_PROCS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), barrier, queue)) for _ in range(N_PROCS)]
    for p in procs:
        p.start()
    reports = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r[1] for r in reports if r[0] == "error"]
    assert not errors, errors
    entries = sorted(tmp_path.glob("*/*.npz"))
    assert len(entries) == N_KEYS
    bad = [p.name for p in entries if p.with_suffix(".sha256").read_text().strip() != sha256_file(p)]
    assert not bad, f"{len(bad)} of {N_KEYS} entries have npz and sidecar out of step"
    # Every process got the value that is stored: one computed it, the others read it.
    store = Store(tmp_path)
    for _, got in reports:
        for key, pid in got.items():
            loaded = store.load(key)
            assert loaded is not None and int(loaded["x"][0]) == pid
