"""Regression gate: decisive stable flips fail, noisy flips warn, drift is judged against tolerance and seed spread,
stale baselines and NaNs fail, missing cases fail, --regen rewrites.

Several tests would fail on the old gate (any flip failed, tolerance from the run, NaN passed, no code versions).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from geomclaims.cli import main
from geomclaims.gate import DRIFT_K, GateInputError, compare, tolerated_change

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


def _no_se(data: dict) -> dict:
    for e in data["claims"]:
        if e.get("measured"):
            e["measured"]["se"] = 0.0
    return data


def test_drift_inside_tolerance_passes_and_outside_fails(base: dict, tmp_path: Path):
    base = _no_se(base)
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
    cur_path = _write(tmp_path, "cur.json", {**cur, "created": "2099-01-01T00:00:00Z"})
    assert main(["gate", str(cur_path), "--baseline", str(baseline), "--regen"]) == 0
    written = json.loads(baseline.read_text())
    assert written["created"] == "2099-01-01T00:00:00Z"  # the run's file became the baseline
    # ... re-judged from its samples: a verdict the decision rule does not give never reaches a baseline
    assert [(e["id"], e["verdict"]) for e in written["claims"]] == [
        (e["id"], e["verdict"]) for e in base["claims"]
    ]
    assert (baseline.parent / "REPORT.md").exists()


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
    # a case in two parts: kept once if judged alike, an error if the parts disagree
    assert main(["gate", *parts, parts[0], "--baseline", str(baseline)]) == 0
    clash = copy.deepcopy(first)
    clash["claims"][0]["verdict"] = "trivial" if clash["claims"][0]["verdict"] != "trivial" else "replicated"
    assert main(["gate", *parts, str(_write(tmp_path, "c.json", clash)), "--baseline", str(baseline)]) == 2


def test_verdict_flip_between_stable_decisive_verdicts_fails(base: dict):
    cur = copy.deepcopy(base)
    _entry(cur, "F1[1.0]").update(verdict="trivial", stability=0.97)
    assert _entry(base, "F1[1.0]")["stability"] >= 0.9
    outcome = compare(cur, base)
    assert [(r.case_id, r.problem) for r in outcome.rows] == [("F1[1.0]", "verdict")] and not outcome.warnings


@pytest.mark.parametrize(
    ("new_verdict", "new_stability"),
    [("inconclusive", 0.6), ("trivial", 0.7)],
    ids=["into-inconclusive", "unstable"],
)
def test_noisy_flip_is_a_warning_only(base: dict, tmp_path: Path, capsys, new_verdict, new_stability):
    """Old gate: any flip failed. A flip into inconclusive, or to an unstable verdict, is listed, rc 0."""
    cur = copy.deepcopy(base)
    _entry(cur, "F1[1.0]").update(verdict=new_verdict, stability=new_stability)
    outcome = compare(cur, base)
    assert outcome.ok and [(w.case_id, w.problem) for w in outcome.warnings] == [("F1[1.0]", "verdict")]
    rc = main(
        [
            "gate",
            str(_write(tmp_path, "cur.json", cur)),
            "--baseline",
            str(_write(tmp_path, "base.json", base)),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "gate OK" in out and "warnings" in out and "F1[1.0]" in out


def test_tolerated_change_rule():
    assert tolerated_change("replicated", "replicated", 0.1, 0.1) is None
    assert tolerated_change("replicated", "trivial", 0.95, 0.9) is None
    assert tolerated_change("replicated", "trivial", 0.95, 0.89)
    assert tolerated_change("inconclusive", "replicated", 1.0, 1.0)
    assert (
        tolerated_change("replicated", "not_replicated", None, None) is None
    )  # expected vs actual, decisive
    assert (
        tolerated_change("replicated", "untestable", 1.0, None) is None
    )  # a model that stopped learning fails


def test_stale_baseline_fails_naming_the_study(base: dict, capsys, tmp_path: Path):
    cur = copy.deepcopy(base)
    cur["code_versions"] = {"fixture": "ffffffffffffffff"}
    outcome = compare(cur, base)
    assert [(r.case_id, r.problem) for r in outcome.rows] == [("study fixture", "stale-baseline")]
    assert "geomclaims run --profile ci --paper fixture" in outcome.rows[0].allowed
    rc = main(
        [
            "gate",
            str(_write(tmp_path, "cur.json", cur)),
            "--baseline",
            str(_write(tmp_path, "base.json", base)),
        ]
    )
    assert rc == 1 and "study fixture" in capsys.readouterr().out


def test_baseline_without_code_versions_fails(base: dict):
    old = copy.deepcopy(base)
    del old["code_versions"]
    outcome = compare(copy.deepcopy(base), old)
    assert [r.problem for r in outcome.rows] == ["stale-baseline"]
    assert "predates code versions" in outcome.rows[0].allowed


@pytest.mark.parametrize("side", ["baseline", "current"])
@pytest.mark.parametrize("bad", [float("nan"), None, float("inf")], ids=["nan", "null", "inf"])
def test_non_finite_measured_value_is_an_error(base: dict, tmp_path: Path, capsys, side, bad):
    """Old gate: a results file whose first case has measured value NaN passed, rc 0."""
    broken = copy.deepcopy(base)
    broken["claims"][0]["measured"]["value"] = bad
    cur, old = (broken, base) if side == "current" else (base, broken)
    with pytest.raises(GateInputError, match="non-finite or missing"):
        compare(cur, old)
    rc = main(
        ["gate", str(_write(tmp_path, "cur.json", cur)), "--baseline", str(_write(tmp_path, "b.json", old))]
    )
    assert rc == 2 and "non-finite" in capsys.readouterr().err


def test_tolerance_comes_from_the_baseline(base: dict):
    """Old gate: the run's own tolerance was used, so `atol: 1000` in the run let value + 100 pass."""
    base = _no_se(base)
    cur = copy.deepcopy(base)
    _entry(cur, "F1[1.0]")["measured"]["value"] += 100.0
    _entry(cur, "F1[1.0]")["tolerance"] = {"atol": 1000.0}
    assert [(r.case_id, r.problem) for r in compare(cur, base).rows] == [("F1[1.0]", "drift")]
    loose = copy.deepcopy(base)
    _entry(loose, "F1[1.0]")["tolerance"] = {"atol": 1000.0}
    assert compare(cur, loose).ok


def test_drift_is_judged_against_the_seed_spread(base: dict):
    base = _no_se(base)
    cur = copy.deepcopy(base)
    _entry(base, "F1[1.0]")["measured"]["se"] = 0.03
    _entry(cur, "F1[1.0]")["measured"]["se"] = 0.04
    allowed = DRIFT_K * 0.05  # 3 * hypot(0.03, 0.04) = 0.15 > atol 0.05
    _entry(cur, "F1[1.0]")["measured"]["value"] += allowed - 0.001
    assert compare(cur, base).ok
    _entry(cur, "F1[1.0]")["measured"]["value"] += 0.002
    assert [r.problem for r in compare(cur, base).rows] == ["drift"]


def test_complete_paper_missing_case_fails_even_with_only_current(base: dict):
    cur = copy.deepcopy(base)
    cur["claims"] = [c for c in cur["claims"] if c["id"] != "F2[1.0]"]
    assert compare(cur, base, only_current=True).ok
    outcome = compare(cur, base, only_current=True, complete_papers={"fixture_paper"})
    assert [(r.case_id, r.problem) for r in outcome.rows] == [("F2[1.0]", "missing-in-run")]


def test_seed_offset_run_is_judged_on_verdicts_only(base: dict, capsys):
    """A --seed-offset robustness run: drift is a warning (other seeds), a decisive stable flip still fails."""
    base = _no_se(base)
    cur = copy.deepcopy(base)
    cur["seed_offset"] = 100
    _entry(cur, "F1[1.0]")["measured"]["value"] += 1.0  # far beyond atol 0.05
    outcome = compare(cur, base)
    assert outcome.ok and outcome.seeds_shifted
    assert [(r.case_id, r.problem) for r in outcome.warnings] == [("F1[1.0]", "drift (seeds shifted)")]
    # the same drift without the offset is a failure
    same_seeds = copy.deepcopy(cur)
    same_seeds["seed_offset"] = base.get("seed_offset", 0)
    assert [r.problem for r in compare(same_seeds, base).rows] == ["drift"]
    flip = copy.deepcopy(cur)
    _entry(flip, "F3[1.0]")["verdict"] = "replicated"
    assert [(r.case_id, r.problem) for r in compare(flip, base).rows] == [("F3[1.0]", "verdict")]


def test_gate_defaults_to_the_baseline_of_the_runs_profile(base: dict, tmp_path: Path, monkeypatch):
    from geomclaims.gate import baseline_for

    ci = _write(tmp_path, "ci.json", base)
    full = _write(tmp_path, "full.json", {**base, "profile": "full"})
    assert baseline_for([ci]) == Path("reports/ci/results.json")
    assert baseline_for([full], tmp_path / "reports") == tmp_path / "reports" / "full" / "results.json"
    with pytest.raises(GateInputError, match="different profiles"):
        baseline_for([ci, full])
    # CLI: without --baseline a full run regenerates and is gated against reports/full/ of the working directory
    monkeypatch.chdir(tmp_path)
    assert main(["gate", str(full), "--regen"]) == 0
    assert json.loads((tmp_path / "reports" / "full" / "results.json").read_text())["profile"] == "full"
    assert main(["gate", str(full)]) == 0
    assert not (tmp_path / "reports" / "ci").exists()


def test_regen_takes_expectations_from_todays_claims_files(fixture_root: Path, tmp_path: Path):
    """An expected verdict/reason edited after the run (set from that very run) reaches the baseline; measurements
    and verdicts stay the run's. With claims_dir=False the run's own fields are kept."""
    from geomclaims.gate import regen

    run = json.loads((fixture_root / "results_fixed.json").read_text())
    entry = _entry(run, "F2[1.0]")
    yaml_reason, yaml_expected = entry["expected_reason"], entry["expected_verdict"]
    entry["expected_reason"], entry["expected_verdict"] = "stale reason from the run", "verified"
    src = _write(tmp_path, "run.json", run)

    out = regen(src, tmp_path / "a" / "results.json", report=False, claims_dir=fixture_root / "claims")
    fresh = _entry(json.loads(out.read_text()), "F2[1.0]")
    assert (fresh["expected_reason"], fresh["expected_verdict"]) == (yaml_reason, yaml_expected)
    assert fresh["verdict"] == entry["verdict"] and fresh["measured"] == entry["measured"]

    kept = regen(src, tmp_path / "b" / "results.json", report=False, claims_dir=False)
    assert _entry(json.loads(kept.read_text()), "F2[1.0]")["expected_reason"] == "stale reason from the run"
