"""Issue 29 items 1, 3 and 11: nothing judged is lost on a fault after the judgement, and leftovers are cleaned.

Before the fix: a Dask cluster that timed out while closing lost every judged case (results were written after the
close, and the error line was empty); Ctrl-C dropped the finished verdicts and printed a traceback; kill -9 left
``.tmp`` files (store entries, report staging folders, embedding chunks) that nothing removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from faults_helpers import claim, write_claims

from geomclaims.claims import load_claims
from geomclaims.cli import main

INTERRUPT = claim(id="K1", experiment="faults/interrupt")


def _run(project: Path, *extra: str) -> int:
    out = project / "reports" / "ci" / "latest"
    return main(["run", "--profile", "ci", "--device", "cpu", "--out", str(out), *extra])


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "reports" / "ci" / "latest" / "results.json").read_text())
    return {c["id"]: c for c in data["claims"]}


def _fixture_cases(project: Path) -> set[str]:
    return {c.case_id for c in load_claims(project / "claims" / "fixture.yaml").cases()}


def _count_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import geomclaims.runner

    seen: list[str] = []
    real = geomclaims.runner.evaluate_case

    def counting(case, ctx):
        seen.append(case.case_id)
        return real(case, ctx)

    monkeypatch.setattr(geomclaims.runner, "evaluate_case", counting)
    return seen


# ------------------------------------------------------------------------------------------------ item 3: Ctrl-C
def test_ctrl_c_keeps_the_finished_verdicts_and_exits_130(project: Path, capsys):
    # zz_ sorts after fixture.yaml: the fixture cases are judged, then Ctrl-C arrives.
    write_claims(project / "claims", "zz_interrupt", "faults_paper", [INTERRUPT])
    assert _run(project, "--executor", "serial") == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("geomclaims:")]
    assert len(lines) == 1 and "interrupted" in lines[0] and "resumes" in lines[0], err
    results = _results(project)
    assert set(results) == _fixture_cases(project)  # every finished verdict, and nothing for K1
    assert results["F2[1.0]"]["verdict"] == "not_replicated"


def test_a_rerun_after_ctrl_c_takes_the_judged_cases_from_the_store(project: Path, monkeypatch, capsys):
    write_claims(project / "claims", "zz_interrupt", "faults_paper", [INTERRUPT])
    assert _run(project, "--executor", "serial") == 130
    first = _results(project)
    (project / "claims" / "zz_interrupt.yaml").unlink()
    seen = _count_evaluations(monkeypatch)
    _run(project, "--executor", "serial")
    assert seen == []  # nothing re-evaluated
    assert "taken from the store" in capsys.readouterr().err
    again = _results(project)
    assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)


def test_a_changed_claim_is_judged_again_not_reused(project: Path, monkeypatch):
    """Control: the stored judgement is keyed by the claim as written today; editing it re-judges that case."""
    assert _run(project, "--executor", "serial") in (0, 1)
    path = project / "claims" / "fixture.yaml"
    path.write_text(path.read_text().replace('expect: {op: ">", value: 5}', 'expect: {op: ">", value: 0.5}'))
    seen = _count_evaluations(monkeypatch)
    _run(project, "--executor", "serial")
    assert seen == ["F2[1.0]"]
    assert _results(project)["F2[1.0]"]["paper_condition_met"] is True


def test_no_cache_judges_everything_again(project: Path, monkeypatch):
    assert _run(project, "--executor", "serial") in (0, 1)
    seen = _count_evaluations(monkeypatch)
    _run(project, "--executor", "serial", "--no-cache")
    assert set(seen) == _fixture_cases(project)


# -------------------------------------------------------------------------------- item 1: cluster close timeout
def test_a_cluster_that_times_out_while_closing_loses_nothing(project: Path, monkeypatch, capsys):
    import geomclaims.executor

    real_start = geomclaims.executor.start_executor

    def start(**kwargs):
        ex = real_start(**kwargs)
        real_close = ex.cluster.close

        def close_times_out():
            real_close()
            raise TimeoutError()  # what distributed raises: no message

        ex.cluster.close = close_times_out
        return ex

    monkeypatch.setattr(geomclaims.executor, "start_executor", start)
    rc = _run(project, "--executor", "dask", "--workers", "2")
    err = capsys.readouterr().err
    assert rc in (0, 1) and "Traceback" not in err
    assert set(_results(project)) == _fixture_cases(project)
    warning = [line for line in err.splitlines() if "closing the local Dask cluster failed" in line]
    assert warning and "TimeoutError" in warning[0], err


def test_a_crash_after_judgements_still_writes_them(project: Path, monkeypatch, capsys):
    """Any exception escaping the run loop (here: the executor's exit) writes what was judged, then reports."""
    import contextlib

    import geomclaims.executor

    @contextlib.contextmanager
    def exploding(*args, **kwargs):
        yield None
        raise RuntimeError("cluster went away")

    monkeypatch.setattr(geomclaims.executor, "executor_for", exploding)
    with pytest.raises(RuntimeError, match="cluster went away"):
        _run(project, "--executor", "serial")
    assert set(_results(project)) == _fixture_cases(project)


# ---------------------------------------------------------------------------------------- item 11: kill -9 leftovers
KILLED_WRITER = """
import os, signal, sys
import geomclaims.store as store

def die(fd):
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between writing the temporary file and renaming it

store.os.fsync = die
store.atomic_write_bytes(sys.argv[1], b"x" * 1000)
"""


def _killed_write(target: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], env=os.environ.copy())
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_leftovers_are_cleaned_by_the_next_run(project: Path, tmp_path: Path):
    from geomclaims.paths import results_root

    store = results_root()
    out = project / "reports" / "ci" / "latest"
    targets = [store / "ab" / "ab12.npz", store / "embeddings" / "m-1.npy", out / "results.json"]
    for target in targets:
        _killed_write(target)
    leftovers = [p for t in targets for p in t.parent.glob(".*.tmp")]
    assert len(leftovers) == 3
    from geomclaims.store import tmp_prefix

    # a report's staging folder of a killed render (another pid that no longer exists)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stage = out / (tmp_prefix("figures").replace(f"-{os.getpid()}-", f"-{dead.stdout.strip()}-") + "abc")
    stage.mkdir(parents=True)
    (stage / "fig.png").write_bytes(b"png")
    # a live writer's temporary file (this process): a concurrent run's, never removed
    live = store / "cd" / (tmp_prefix("cd34.npz") + "xyz.tmp")
    live.parent.mkdir(parents=True)
    live.write_bytes(b"being written")
    assert _run(project, "--executor", "serial", "--claim", "F2") == 0
    assert not any(p.exists() for p in leftovers) and not stage.exists()
    assert live.exists()


def test_old_tmp_files_without_a_writer_are_removed_by_age_only(tmp_path: Path):
    from geomclaims.store import STALE_TMP_S, clean_stale_tmp

    old, young = tmp_path / ".a.npz.k2j3.tmp", tmp_path / ".b.npz.k2j3.tmp"
    for p in (old, young):
        p.write_bytes(b"x")
    os.utime(old, (0, 0))
    keep = tmp_path / "results.json"  # not a temporary file at all, however old
    keep.write_text("{}")
    os.utime(keep, (0, 0))
    assert STALE_TMP_S >= 3600
    assert clean_stale_tmp(tmp_path) == [old]
    assert young.exists() and keep.exists()
