"""The Dask execution layer: planning with JobPending, failures, seed offsets, and parallel == serial."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geomclaims import registry
from geomclaims.claims import load_all
from geomclaims.executor import JobFailed, JobPending, Planner, run_cases, run_job
from geomclaims.runner import Session, select_cases
from geomclaims.store import Store


class InlineExecutor:
    """The DaskExecutor interface, computing each job in-process when asked for finished jobs (no cluster)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, int]] = []  # (job label, priority)
        self.queue: dict[str, Any] = {}

    @property
    def outstanding(self) -> int:
        return len(self.queue)

    def submit(self, job: Any, priority: int = 0) -> None:
        self.submitted.append((job.label, priority))
        self.queue[job.key] = job

    def wait_some(self, timeout: float = 1.0) -> list[tuple[Any, Any, BaseException | None]]:
        key, job = next(iter(self.queue.items()))  # one at a time: the loop must handle partial progress
        del self.queue[key]
        try:
            return [(job, run_job(job), None)]
        except Exception as exc:
            return [(job, None, exc)]

    def running(self) -> int:
        return 0

    def cancel_all(self) -> None:
        self.queue.clear()


def _cases(fixture_root: Path, claim_ids: list[str] | None = None):
    return select_cases(load_all(fixture_root / "claims").values(), claim_ids=claim_ids)


def _values(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "wall_s"}


def test_planning_records_jobs_and_computes_nothing(fixture_root: Path, tmp_path: Path):
    session = Session(profile="ci", store=Store(tmp_path / "store"), progress=False)
    case = _cases(fixture_root, ["F2"])[0]
    ctx = session.context("fixture")
    ex = InlineExecutor()
    ctx.planner = Planner(ex)  # type: ignore[arg-type]
    with pytest.raises(JobPending) as info:
        registry.get_evidence_fn(case.claim.experiment)(case, ctx)
    assert info.value.job.seed == 0 and info.value.job.name == "gaussian"
    # seed 0 needed now (priority 1); seeds 1-4 of the settings' seed list speculated at a lower priority
    assert [p for _, p in ex.submitted] == [1, 0, 0, 0, 0]
    assert [label.rsplit(" ", 1)[1] for label, _ in ex.submitted] == ["0", "1", "2", "3", "4"]
    assert not list((tmp_path / "store").rglob("*.npz")), "planning must not compute or store anything"


def test_planned_run_equals_serial_run(fixture_root: Path, tmp_path: Path):
    cases = _cases(fixture_root)
    serial = Session(profile="ci", store=Store(tmp_path / "a"), progress=False)
    out_s = run_cases(serial, cases, None, on_entry=serial.record, progress=False)
    planned = Session(profile="ci", store=Store(tmp_path / "b"), progress=False)
    ex = InlineExecutor()
    out_p = run_cases(planned, cases, ex, on_entry=planned.record, progress=False)  # type: ignore[arg-type]
    assert not out_s.errors and not out_p.errors and out_p.stopped is None
    assert len(out_p.entries) == len(cases)
    by_id = {e["id"]: _values(e) for e in serial.results()["claims"]}
    assert {e["id"]: _values(e) for e in planned.results()["claims"]} == by_id
    assert out_p.jobs_submitted == 10  # 2 mu values x 5 seeds, each once (deduplicated by store key)
    assert len(list((tmp_path / "b").rglob("*.npz"))) == 10  # the driver stored every result


def two_stage_fn(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {"value": float(config["base"]) + seed}


def two_stage_evidence(case: Any, ctx: registry.RunContext) -> registry.Evidence:
    """The second job's config is read from the first job's result (planning must take two rounds)."""
    first = ctx.run("stage1", {"base": 1.0}, 0, two_stage_fn)
    second = ctx.run("stage2", {"base": first["value"] * 10}, 1, two_stage_fn)
    return registry.Evidence(measured=[float(second["value"])] * 3, null=[0.0, 0.1, 0.2])


def test_a_job_configured_from_another_jobs_result(fixture_root: Path, tmp_path: Path, monkeypatch):
    registry.load_study("fixture")
    monkeypatch.setitem(registry._EVIDENCE, "fixture/gaussian", two_stage_evidence)
    session = Session(profile="ci", store=Store(tmp_path / "s"), progress=False)
    ex = InlineExecutor()
    out = run_cases(session, _cases(fixture_root, ["F2"]), ex, on_entry=session.record, progress=False)  # type: ignore[arg-type]
    needed = [label.split(" ")[0] for label, priority in ex.submitted if priority == 1]
    assert needed == ["fixture/stage1", "fixture/stage2"]
    assert out.entries[0]["measured"]["samples"] == [11.0, 11.0, 11.0]


def exploding_fn(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    raise ValueError(f"boom at seed {seed}")


def exploding_evidence(case: Any, ctx: registry.RunContext) -> registry.Evidence:
    if case.claim.id == "F2":
        ctx.run("explode", {"what": "boom"}, 7, exploding_fn)
    import fixture_study

    return fixture_study.gaussian(case, ctx)


@pytest.mark.parametrize("keep_going", [True, False])
def test_a_failing_job_is_named_and_keep_going_continues(
    fixture_root: Path, tmp_path: Path, monkeypatch, keep_going
):
    registry.load_study("fixture")
    monkeypatch.setitem(registry._EVIDENCE, "fixture/gaussian", exploding_evidence)
    session = Session(profile="ci", store=Store(tmp_path / "s"), progress=False)
    cases = [c for c in _cases(fixture_root) if c.claim.id in ("F2", "F1", "F3")]
    cases.sort(
        key=lambda c: c.claim.id != "F2"
    )  # the failing case first: without keep-going nothing after it
    out = run_cases(
        session, cases, InlineExecutor(), keep_going=keep_going, on_entry=session.record, progress=False
    )  # type: ignore[arg-type]
    assert len(out.errors) == 1
    case_id, message = out.errors[0]
    assert case_id == "F2[1.0]"
    assert "fixture/explode config" in message and "seed 7" in message and "boom at seed 7" in message
    assert JobFailed.__name__ in message
    entries = {e["id"]: e for e in session.results()["claims"]}
    assert entries["F2[1.0]"]["verdict"] == "error" and "boom" in entries["F2[1.0]"]["explanation"]
    if keep_going:
        assert out.stopped is None
        assert {e["id"] for e in out.entries} == {"F1[1.0]", "F1[2.0]", "F3[1.0]"}
    else:
        assert out.stopped and "seed 7" in out.stopped
        assert len(out.entries) < 3  # the run stopped; what was judged is still recorded


def test_seed_offset_shifts_every_seed_key():
    settings = {
        "seeds": [0, 1, 2],
        "shared_init_seeds": [0, 1],
        "data_seed": 5,
        "seed": 3,
        "n": 10,
        "sub": {"probe_seeds": [4]},
        "seedless": [1, 2],
    }
    out = registry.shift_seeds(settings, 100)
    assert out == {
        "seeds": [100, 101, 102],
        "shared_init_seeds": [100, 101],
        "data_seed": 105,
        "seed": 103,
        "n": 10,
        "sub": {"probe_seeds": [104]},
        "seedless": [1, 2],
    }
    assert settings["seeds"] == [0, 1, 2]  # the registered settings are not mutated
    with pytest.raises(TypeError, match=r"bad\.seeds"):
        registry.shift_seeds({"seeds": [0, "x"]}, 1, where="bad")


def test_seed_offset_reaches_the_evidence_and_the_results(fixture_root: Path, tmp_path: Path):
    session = Session(profile="ci", store=Store(tmp_path / "s"), progress=False, seed_offset=100)
    assert session.context("fixture").settings["seeds"] == [100, 101, 102, 103, 104]
    run_cases(session, _cases(fixture_root, ["F2"]), None, on_entry=session.record, progress=False)
    assert session.results()["seed_offset"] == 100
    base = Session(profile="ci", store=Store(tmp_path / "s"), progress=False)
    run_cases(base, _cases(fixture_root, ["F2"]), None, on_entry=base.record, progress=False)
    shifted, plain = session.results()["claims"][0], base.results()["claims"][0]
    assert shifted["measured"]["samples"] != plain["measured"]["samples"]


def test_results_cache_env_moves_only_the_experiment_store(tmp_path: Path, monkeypatch):
    from geomclaims.paths import resources_dir

    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "fresh"))
    assert Store().root == tmp_path / "fresh"
    assert resources_dir() == tmp_path / "cache" / "resources"
    monkeypatch.delenv("GEOMCLAIMS_RESULTS_CACHE")
    assert Store().root == tmp_path / "cache" / "results"


def test_thread_budget_is_part_of_the_key():
    a = Store.key("s/x", {"a": 1}, 0, "v", threads=1)
    assert a != Store.key("s/x", {"a": 1}, 0, "v", threads=2)
    assert a == Store.key("s/x", {"a": 1}, 0, "v", threads=1)


# ----------------------------------------------------------------------------------------------------------------
# a real LocalCluster with 2 worker processes
# ----------------------------------------------------------------------------------------------------------------


def _comparable(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [_values(e) for e in results["claims"]]


@pytest.mark.slow
def test_local_cluster_equals_serial_on_the_execution_smoke_profile(tmp_path: Path, monkeypatch):
    """Two real worker processes give bit-identical results.json values to the in-process serial run."""
    from geomclaims.executor import executor_for

    cases = select_cases(load_all().values(), paper="execution")
    assert cases
    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "serial"))
    serial = Session(profile="smoke", progress=False)
    run_cases(serial, cases, None, on_entry=serial.record, progress=False)
    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "parallel"))
    parallel = Session(profile="smoke", progress=False)
    with executor_for("dask", workers=2) as ex:
        assert ex is not None and ex.describe()["workers"] == 2
        # Dask's 64 KiB MALLOC_TRIM_THRESHOLD_ made training steps re-fault their pages (slower than serial)
        trim = ex.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(trim.values()) == {None}, trim
        out = run_cases(parallel, cases, ex, on_entry=parallel.record, progress=False)
    assert not out.errors and out.jobs_submitted >= 2
    a, b = _comparable(serial.results()), _comparable(parallel.results())
    assert [e["id"] for e in a] == [e["id"] for e in b]
    for x, y in zip(a, b, strict=True):
        assert json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True), x["id"]


def worker_explodes(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    raise ValueError(f"worker boom {config['tag']} seed {seed}")


def worker_ok(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {"x": np.arange(3) * seed + config["tag"]}


@pytest.mark.slow
def test_local_cluster_names_a_failed_job(fixture_root: Path, tmp_path: Path, monkeypatch):
    from geomclaims.executor import executor_for

    def evidence_fn(case: Any, ctx: registry.RunContext) -> registry.Evidence:
        fn, tag = (worker_explodes, 4) if case.claim.id == "F2" else (worker_ok, 3)
        res = [ctx.run("w", {"tag": tag}, s, fn)["x"].sum() for s in ctx.settings["seeds"]]
        return registry.Evidence(measured=res, null=[0.0, 0.1, 0.2])

    registry.load_study("fixture")
    monkeypatch.setitem(registry._EVIDENCE, "fixture/gaussian", evidence_fn)
    session = Session(profile="ci", store=Store(tmp_path / "s"), progress=False)
    cases = [c for c in _cases(fixture_root) if c.claim.id in ("F1", "F2")]
    with executor_for("dask", workers=2) as ex:
        out = run_cases(session, cases, ex, keep_going=True, on_entry=session.record, progress=False)
    assert [c for c, _ in out.errors] == ["F2[1.0]"]
    assert "fixture/w config" in out.errors[0][1] and "seed 0" in out.errors[0][1]
    assert "worker boom 4 seed 0" in out.errors[0][1]
    assert {e["id"] for e in out.entries} == {"F1[1.0]", "F1[2.0]"}
    assert out.entries[0]["measured"]["samples"] == [9.0, 12.0, 15.0, 18.0, 21.0]


# ----------------------------------------------------------------------------------------------------------------
# the CLI: --keep-going and --seed-offset
# ----------------------------------------------------------------------------------------------------------------


def _cli_run(fixture_root: Path, out: Path, *extra: str) -> int:
    from geomclaims.cli import main

    argv = ["--claims-dir", str(fixture_root / "claims"), "run", "--profile", "ci", "--device", "cpu"]
    return main([*argv, "--executor", "serial", "--out", str(out), *extra])


@pytest.mark.parametrize("keep_going", [True, False])
def test_cli_keep_going_records_the_error_and_continues(
    fixture_root, tmp_path, monkeypatch, capsys, keep_going
):
    """Going on after an errored case is the CLI's default; --fail-fast stops (and still writes)."""
    from geomclaims.claims import load_claims

    registry.load_study("fixture")
    monkeypatch.setitem(registry._EVIDENCE, "fixture/gaussian", exploding_evidence)
    out = tmp_path / "run"
    code = _cli_run(fixture_root, out, *([] if keep_going else ["--fail-fast"]))
    assert code == 1
    err = capsys.readouterr().err
    assert "fixture/explode config" in err and "seed 7" in err
    claims = {c["id"]: c for c in json.loads((out / "results.json").read_text())["claims"]}
    assert claims["F2[1.0]"]["verdict"] == "error"
    if keep_going:
        fixture_cases = load_claims(fixture_root / "claims" / "fixture.yaml").cases()
        assert set(claims) == {c.case_id for c in fixture_cases}
    else:
        assert "stopped after the first error" in err
        assert "F3[1.0]" not in claims  # F3 comes after F2: not judged


def test_cli_seed_offset_is_recorded(fixture_root: Path, tmp_path: Path):
    assert _cli_run(fixture_root, tmp_path / "a", "--seed-offset", "100", "--claim", "F1") == 0
    data = json.loads((tmp_path / "a" / "results.json").read_text())
    assert data["seed_offset"] == 100 and data["machine"]["job_threads"] == 1
    assert data["code_versions"] == {"fixture": registry.study_code_version("fixture")}
