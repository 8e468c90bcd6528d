"""Item 10: `geomclaims run` keeps what it judged when a case errors, and bad environments or arguments give
one-line errors instead of tracebacks or silent no-ops.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from faults_helpers import claim, one_line_error, write_claims

from geomclaims.claims import load_claims
from geomclaims.cli import main


def _run(project: Path, *extra: str, out: Path | None = None) -> int:
    """The CLI in-process and serial: these tests are about what gets recorded, in a deterministic case order."""
    out = out or project / "reports" / "ci" / "latest"
    argv = ["run", "--profile", "ci", "--device", "cpu", "--executor", "serial", "--out", str(out)]
    return main([*argv, *extra])


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "reports" / "ci" / "latest" / "results.json").read_text())
    return {c["id"]: c for c in data["claims"]}


def test_an_errored_case_is_recorded_and_the_others_are_kept(project: Path, capsys):
    write_claims(project / "claims", "faults", "faults_paper", [claim(id="B1", experiment="faults/boom")])
    assert _run(project) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ERROR B1: RuntimeError: boom in B1" in err
    results = _results(project)
    fixture_cases = {c.case_id for c in load_claims(project / "claims" / "fixture.yaml").cases()}
    assert set(results) == {"B1"} | fixture_cases
    assert results["B1"]["verdict"] == "error" and "boom in B1" in results["B1"]["explanation"]
    assert results["F2[1.0]"]["verdict"] == "not_replicated"
    assert (project / "reports" / "ci" / "latest" / "REPORT.md").exists()


def test_fail_fast_stops_but_still_writes_what_was_judged(project: Path, capsys):
    write_claims(project / "claims", "faults", "faults_paper", [claim(id="B1", experiment="faults/boom")])
    assert _run(project, "--fail-fast") == 1
    results = _results(project)
    assert results["B1"]["verdict"] == "error"
    assert "F1[1.0]" not in results  # faults.yaml loads before fixture.yaml, so B1 ran first
    assert "stopped after the first error" in capsys.readouterr().err


@pytest.mark.parametrize("experiment", ["fixture/not_registered", "nostudy/anything"])
def test_unregistered_experiment_is_aone_line_error(project: Path, capsys, experiment: str):
    write_claims(project / "claims", "faults", "faults_paper", [claim(id="U1", experiment=experiment)])
    assert _run(project) == 2
    one_line_error(capsys.readouterr().err, experiment, "U1")
    assert not (project / "reports" / "ci" / "latest" / "results.json").exists()


@pytest.mark.parametrize(
    ("code", "text"), [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")]
)
def test_cache_write_failure_records_the_error_and_stops(project: Path, monkeypatch, capsys, code, text):
    """Disk full or a read-only cache: the case's entry says why, and the run stops (every case would fail)."""
    from geomclaims.store import Store

    def fail(self, key, result, prov):
        raise OSError(code, text, str(self.path(key)))

    # Every cache write (Store.save and get_or_compute under its lock) goes through _save_unlocked.
    monkeypatch.setattr(Store, "_save_unlocked", fail)
    write_claims(project / "claims", "faults", "faults_paper", [claim(id="C1", experiment="faults/cached")])
    assert _run(project) == 1
    err = capsys.readouterr().err
    n_fixture = len(load_claims(project / "claims" / "fixture.yaml").cases())
    assert "Traceback" not in err and text in err and "stopped" in err
    assert f"{n_fixture} claim case(s) not run" in err
    results = _results(project)
    assert set(results) == {"C1"}
    assert results["C1"]["verdict"] == "error" and text in results["C1"]["explanation"]


def test_disk_full_everywhere_is_aone_line_error(project: Path, monkeypatch, capsys):
    import geomclaims.store

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(geomclaims.store, "atomic_write_bytes", full)
    assert _run(project) == 2
    one_line_error(capsys.readouterr().err, "No space left on device")


def test_cache_root_that_is_a_file_is_aone_line_error(project: Path, monkeypatch, tmp_path: Path, capsys):
    not_a_dir = tmp_path / "cache-file"
    not_a_dir.write_text("x")
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(not_a_dir))
    assert _run(project) == 2
    one_line_error(capsys.readouterr().err, str(not_a_dir))


def test_unwritable_out_fails_before_any_work(project: Path, tmp_path: Path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert _run(project, out=blocker / "sub") == 2
    one_line_error(capsys.readouterr().err, "--out", str(blocker))
    assert not (tmp_path / "cache" / "results").exists()  # nothing was computed


def test_claim_typo_lists_close_matches(project: Path, capsys):
    assert _run(project, "--claim", "F1[1]") == 2
    one_line_error(capsys.readouterr().err, "'F1[1]'", "F1[1.0]")
    assert _run(project, "--claim", "F2", "zzz") == 2  # one good id does not excuse a bad one
    one_line_error(capsys.readouterr().err, "'zzz'", "geomclaims list")
    assert not (project / "reports" / "ci" / "latest" / "results.json").exists()


def test_claim_of_another_paper_with_paper_filter_is_an_error(project: Path, capsys):
    write_claims(project / "claims", "faults", "faults_paper", [claim(id="B1", experiment="faults/boom")])
    assert _run(project, "--paper", "fixture_paper", "--claim", "B1") == 2
    one_line_error(capsys.readouterr().err, "'B1'")


def test_claim_without_ids_is_a_usage_error(project: Path, capsys):
    with pytest.raises(SystemExit) as info:
        _run(project, "--claim")
    assert info.value.code == 2
    assert "--claim" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["list"], ["run", "--device", "cpu"]])
def test_missing_or_empty_claims_dir_is_an_error(project: Path, tmp_path: Path, capsys, command: list[str]):
    missing = tmp_path / "nonexistent"
    assert main(["--claims-dir", str(missing), *command]) == 2
    one_line_error(capsys.readouterr().err, str(missing), "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no yaml here")
    assert main(["--claims-dir", str(empty), *command]) == 2
    one_line_error(capsys.readouterr().err, str(empty), "*.yaml")
