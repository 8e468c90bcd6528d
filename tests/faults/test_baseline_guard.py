"""Issue 29 items 2 and 4: a committed baseline cannot be weakened by accident.

Before the fix: ``geomclaims report X --out reports/ci`` overwrote the committed REPORT.md and figures; the
stale-baseline check compared only the versions the two files recorded (the code of the installed package), never
the working directory's study code; ``gate --regen`` merged parts of different seed offsets silently (the first
won) and kept only the first part's provenance.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import geomclaims
from geomclaims.cli import main
from geomclaims.registry import study_code_version

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "spine" / "results_fixed.json"


def _committed(root: Path, profile: str = "ci") -> Path:
    data = json.loads(FIXED.read_text())
    data["profile"] = profile
    path = root / "reports" / profile / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    (path.parent / "REPORT.md").write_text("committed report\n")
    return path


# --------------------------------------------------------------------------------- item 2: report into a baseline
@pytest.mark.parametrize("explicit_out", [True, False])
def test_report_refuses_to_write_the_committed_baseline_dir(project: Path, capsys, explicit_out: bool):
    baseline = _committed(project)
    before = (baseline.parent / "REPORT.md").read_text()
    argv = (
        ["report", str(FIXED), "--out", str(baseline.parent)] if explicit_out else ["report", str(baseline)]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "committed baseline directory" in err and "--regen" in err and "Traceback" not in err
    assert (baseline.parent / "REPORT.md").read_text() == before
    assert not (baseline.parent / "figures").exists()


def test_report_refuses_a_baseline_dir_of_another_checkout(tmp_path: Path, monkeypatch, capsys):
    """The working directory is a checkout other than the installed package's: its reports/ci is refused too."""
    other = tmp_path / "other-clone"
    baseline = _committed(other, "full")
    monkeypatch.chdir(other)
    assert main(["report", str(FIXED), "--out", "reports/full"]) == 2
    assert "committed baseline directory" in capsys.readouterr().err
    assert (baseline.parent / "REPORT.md").read_text() == "committed report\n"


def test_report_may_write_latest_and_elsewhere(project: Path, tmp_path: Path):
    """Control: reports/<profile>/latest and any other directory stay writable."""
    baseline = _committed(project)
    for out in (baseline.parent / "latest", tmp_path / "elsewhere"):
        assert main(["report", str(FIXED), "--out", str(out)]) == 0
        assert (out / "REPORT.md").exists()


def _checkout_copy(tmp_path: Path) -> Path:
    """A working directory whose src/geomclaims is a copy of the installed package (another checkout)."""
    wd = tmp_path / "wd"
    shutil.copytree(
        Path(geomclaims.__file__).parent,
        wd / "src" / "geomclaims",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return wd


def _with_versions(tmp_path: Path, name: str, versions: dict[str, str]) -> Path:
    data = json.loads(FIXED.read_text())
    data["code_versions"] = versions
    path = tmp_path / name / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


def test_gate_judges_the_baseline_against_the_working_directorys_code(tmp_path: Path, monkeypatch, capsys):
    wd = _checkout_copy(tmp_path)
    installed = {"signature": study_code_version("signature")}
    base = _with_versions(tmp_path, "b", installed)
    cur = _with_versions(tmp_path, "c", installed)
    monkeypatch.chdir(wd)
    # same code in the working directory as installed: the gate passes
    assert main(["gate", str(cur), "--baseline", str(base)]) == 0
    # the working directory's study code changed (the installed package did not): stale, whatever was recorded
    train = wd / "src" / "geomclaims" / "studies" / "signature" / "train.py"
    train.write_text(train.read_text() + "\n# edited\n")
    assert main(["gate", str(cur), "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert "stale-baseline" in out and "stale-results" in out and "working directory" in out


def test_working_code_versions_follow_the_checkout_not_the_installed_package(tmp_path: Path):
    from geomclaims.gate import working_code_versions

    wd = _checkout_copy(tmp_path)
    assert working_code_versions(["signature"], wd) == {"signature": study_code_version("signature")}
    (wd / "src" / "geomclaims" / "metrics" / "new_metric.py").write_text("X = 1\n")
    assert working_code_versions(["signature"], wd)["signature"] != study_code_version("signature")
    # outside any checkout, or in the imported package's own: what a run records is the working code already
    assert working_code_versions(["signature"], tmp_path) == {}
    assert working_code_versions(["signature"], Path(geomclaims.__file__).parents[2]) == {}


# --------------------------------------------------------------------------------- item 4: regen of mixed parts
def _part(tmp_path: Path, name: str, ids: set[str], seed_offset: int) -> Path:
    data = json.loads(FIXED.read_text())
    data["claims"] = [e for e in data["claims"] if e["id"] in ids]
    data["seed_offset"] = seed_offset
    data["git_sha"] = f"sha-{name}"
    path = tmp_path / name / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


def _split_ids() -> tuple[set[str], set[str]]:
    ids = [e["id"] for e in json.loads(FIXED.read_text())["claims"]]
    return set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])


def test_regen_refuses_parts_of_different_seed_offsets(project: Path, tmp_path: Path, capsys):
    baseline = _committed(project)
    before = baseline.read_bytes()
    a_ids, b_ids = _split_ids()
    a, b = _part(tmp_path, "a", a_ids, 0), _part(tmp_path, "b", b_ids, 3)
    assert main(["gate", str(a), str(b), "--baseline", str(baseline), "--regen"]) == 2
    err = capsys.readouterr().err
    assert "seed offsets" in err and f"{a}: seed_offset 0" in err and f"{b}: seed_offset 3" in err
    assert baseline.read_bytes() == before


def test_regen_keeps_every_parts_provenance(project: Path, tmp_path: Path):
    baseline = _committed(project)
    a_ids, b_ids = _split_ids()
    a, b = _part(tmp_path, "a", a_ids, 0), _part(tmp_path, "b", b_ids, 0)
    assert main(["gate", str(a), str(b), "--baseline", str(baseline), "--regen"]) == 0
    merged = json.loads(baseline.read_text())
    parts = merged["parts"]
    assert [p["git_sha"] for p in parts] == ["sha-a", "sha-b"]
    assert set(parts[0]["cases"]) == a_ids and set(parts[1]["cases"]) == b_ids
    assert set(merged["rejudged"]) == {"git_sha", "at"}
    # merging the merged file with a third part keeps the first two rows
    from geomclaims.runner import merge_results, read_results

    c = json.loads(FIXED.read_text())
    c["claims"], c["git_sha"] = [dict(c["claims"][0], id="NEW1")], "sha-c"
    again = merge_results([read_results(baseline), c])
    assert [p["git_sha"] for p in again["parts"]] == ["sha-a", "sha-b", "sha-c"]
