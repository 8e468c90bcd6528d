"""Regression gate: flips fail, drift within tolerance passes, missing cases fail, --regen rewrites."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from geomclaims.cli import main
from geomclaims.gate import compare

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "spine" / "results_fixed.json"


@pytest.fixture
def base() -> dict:
    return json.loads(FIXED.read_text())


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _entry(data: dict, case_id: str) -> dict:
    return next(c for c in data["claims"] if c["id"] == case_id)


def test_identical_results_pass(base: dict):
    outcome = compare(copy.deepcopy(base), base)
    assert outcome.ok and outcome.compared == len(base["claims"])


def test_verdict_flip_fails(base: dict, tmp_path: Path):
    cur = copy.deepcopy(base)
    _entry(cur, "F3[1.0]")["verdict"] = "replicated"
    outcome = compare(cur, base)
    assert not outcome.ok and [(r.case_id, r.problem) for r in outcome.rows] == [("F3[1.0]", "verdict")]
    assert (
        main(
            [
                "gate",
                str(_write(tmp_path, "cur.json", cur)),
                "--baseline",
                str(_write(tmp_path, "base.json", base)),
            ]
        )
        == 1
    )


def test_drift_inside_tolerance_passes_and_outside_fails(base: dict, tmp_path: Path):
    cur = copy.deepcopy(base)
    _entry(cur, "F1[1.0]")["measured"]["value"] += 0.049  # atol 0.05
    assert compare(cur, base).ok
    assert (
        main(
            [
                "gate",
                str(_write(tmp_path, "cur.json", cur)),
                "--baseline",
                str(_write(tmp_path, "base.json", base)),
            ]
        )
        == 0
    )
    _entry(cur, "F1[1.0]")["measured"]["value"] += 0.002
    outcome = compare(cur, base)
    assert [(r.case_id, r.problem) for r in outcome.rows] == [("F1[1.0]", "drift")]


def test_missing_case_on_either_side_fails(base: dict):
    cur = copy.deepcopy(base)
    cur["claims"] = [c for c in cur["claims"] if c["id"] != "F2[1.0]"]
    assert [r.problem for r in compare(cur, base).rows] == ["missing-in-run"]
    assert compare(cur, base, only_current=True).ok
    assert [r.problem for r in compare(base, cur).rows] == ["new-in-run"]


def test_profile_mismatch_fails(base: dict):
    cur = copy.deepcopy(base)
    cur["profile"] = "smoke"
    assert [r.problem for r in compare(cur, base).rows] == ["profile"]


def test_regen_rewrites_the_baseline(base: dict, tmp_path: Path, fixture_root: Path):
    cur = copy.deepcopy(base)
    _entry(cur, "F3[1.0]")["verdict"] = "replicated"
    cur_path = _write(tmp_path, "cur.json", cur)
    baseline = _write(tmp_path / "baseline", "results.json", base)
    assert main(["gate", str(cur_path), "--baseline", str(baseline)]) == 1
    assert main(["gate", str(cur_path), "--baseline", str(baseline), "--regen"]) == 0
    assert json.loads(baseline.read_text())["claims"] == cur["claims"]
    assert (baseline.parent / "REPORT.md").exists()
    assert main(["gate", str(cur_path), "--baseline", str(baseline)]) == 0


def test_missing_baseline_is_a_clear_error(tmp_path: Path, base: dict, capsys):
    assert (
        main(["gate", str(_write(tmp_path, "cur.json", base)), "--baseline", str(tmp_path / "nope.json")])
        == 2
    )
    assert "baseline not found" in capsys.readouterr().err


def test_regen_merges_disjoint_runs(base: dict, tmp_path: Path, fixture_root: Path):
    first, second = copy.deepcopy(base), copy.deepcopy(base)
    first["claims"] = [c for c in base["claims"] if c["id"].startswith("F1")]
    second["claims"] = [c for c in base["claims"] if not c["id"].startswith("F1")]
    parts = [str(_write(tmp_path, "a.json", first)), str(_write(tmp_path, "b.json", second))]
    baseline = tmp_path / "baseline" / "results.json"
    assert main(["gate", *parts, "--baseline", str(baseline), "--regen"]) == 0
    assert [c["id"] for c in json.loads(baseline.read_text())["claims"]] == [c["id"] for c in base["claims"]]
    assert main(["gate", *parts, "--baseline", str(baseline)]) == 0
    assert main(["gate", parts[0], parts[0], "--baseline", str(baseline)]) == 2  # overlapping parts: an error
