"""The CLI a researcher uses (issue 26): paper aliases, --json, list --results/--verdict, exit codes, the gate's regen
hint, and `reproduce`. Runs on the fixture study (and, for paper names, on the real claims files: loading only)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from geomclaims.cli import main
from geomclaims.cli_common import Exit

ROOT = Path(__file__).resolve().parents[2]
FIXED = ROOT / "fixtures" / "spine" / "results_fixed.json"
REAL_CLAIMS = ROOT / "claims"


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def _run(claims: Path, out: Path, *extra: str) -> int:
    argv = ["--claims-dir", str(claims), "run", "--device", "cpu", "--executor", "serial", "--out", str(out)]
    return main([*argv, *extra])


def test_list_counts_the_papers_it_lists(capsys):
    """`list --paper E` lists one paper; it used to say "in 3 papers" (every paper loaded)."""
    assert main(["--claims-dir", str(REAL_CLAIMS), "list", "--paper", "E"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith("claim cases in 1 paper"), last


@pytest.mark.parametrize("alias", ["e", "E", "execution", "EXECUTION", "Execution_Manifolds"])
def test_paper_aliases_are_case_insensitive(alias: str, capsys):
    assert main(["--claims-dir", str(REAL_CLAIMS), "list", "--paper", alias, "--json"]) == 0
    data = _json(capsys)
    assert data["papers"] == ["execution_manifolds"] and data["count"] == len(data["cases"]) > 0


def test_an_unknown_paper_names_the_valid_names_and_aliases(capsys):
    assert main(["--claims-dir", str(REAL_CLAIMS), "list", "--paper", "x"]) == Exit.USAGE
    err = capsys.readouterr().err
    for name in (
        "execution_manifolds (E, execution)",
        "probability_signature (P, signature)",
        "stratified_manifolds",
    ):
        assert name in err, err


def test_list_json_is_the_only_thing_on_stdout(fixture_root: Path, capsys):
    assert main(["--claims-dir", str(fixture_root / "claims"), "list", "--json"]) == 0
    data = _json(capsys)  # would raise on any table text mixed into stdout
    assert data["count"] == 8 and {c["case"] for c in data["cases"]} >= {"F1[1.0]", "F4"}
    assert {c["kind"] for c in data["cases"]} == {"paper", "extension", "verified"}


def test_list_results_by_verdict(fixture_root: Path, capsys):
    argv = ["--claims-dir", str(fixture_root / "claims"), "list", "--results", str(FIXED)]
    assert main([*argv, "--verdict", "untestable", "--json"]) == 0
    assert [c["case"] for c in _json(capsys)["cases"]] == ["F4", "F7[1.0]"]
    assert main([*argv, "--verdict", "trivial"]) == 0
    out = capsys.readouterr().out
    assert "F3[1.0]" in out and "F1[1.0]" not in out and "1 claim case with verdict trivial" in out


def test_list_verdict_without_results_filters_the_expected_verdict(fixture_root: Path, capsys):
    assert main(["--claims-dir", str(fixture_root / "claims"), "list", "--verdict", "trivial", "--json"]) == 0
    assert [c["case"] for c in _json(capsys)["cases"]] == ["F3[1.0]"]


def test_list_verdict_is_checked_against_the_verdict_enum(fixture_root: Path, capsys):
    with pytest.raises(SystemExit) as info:
        main(
            [
                "--claims-dir",
                str(fixture_root / "claims"),
                "list",
                "--results",
                str(FIXED),
                "--verdict",
                "passed",
            ]
        )
    assert info.value.code == Exit.USAGE
    assert "not_replicated" in capsys.readouterr().err  # the valid verdicts are named


def test_run_exits_3_when_verdicts_differ_from_the_expected_ones(fixture_root: Path, tmp_path: Path, capsys):
    """Every case judged, one differs from its expectation: exit 3 (not 1, which means an error); --json says so."""
    claims = tmp_path / "claims"
    claims.mkdir()
    text = (fixture_root / "claims" / "fixture.yaml").read_text()
    text = text.replace("expected_verdict: {ci: not_replicated}", "expected_verdict: {ci: trivial}")
    (claims / "fixture.yaml").write_text(text)
    code = _run(claims, tmp_path / "out", "--claim", "F2", "F1", "--json")
    assert code == Exit.UNEXPECTED == 3
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["exit_code"] == 3 and data["unexpected"] == ["F2[1.0]"] and not data["errored"]
    assert {c["id"]: c["verdict"] for c in data["cases"]}["F2[1.0]"] == "not_replicated"
    assert Path(data["results"]).is_file() and "results:" in captured.err  # human text on stderr


def _gate_files(tmp_path: Path) -> tuple[Path, Path]:
    base = json.loads(FIXED.read_text())
    cur = copy.deepcopy(base)
    next(e for e in cur["claims"] if e["id"] == "F3[1.0]")["verdict"] = "replicated"
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "cur.json").write_text(json.dumps(cur))
    return tmp_path / "cur.json", tmp_path / "base.json"


def test_gate_regen_hint_names_the_real_files(tmp_path: Path, capsys):
    cur, base = _gate_files(tmp_path)
    assert main(["gate", str(cur), "--baseline", str(base)]) == Exit.ERROR
    out = capsys.readouterr().out
    assert f"geomclaims gate {cur} --baseline {base} --regen" in out
    assert "RESULTS --regen" not in out


def test_gate_json(tmp_path: Path, capsys):
    cur, base = _gate_files(tmp_path)
    assert main(["gate", str(cur), "--baseline", str(base), "--json"]) == Exit.ERROR
    data = _json(capsys)
    assert data["ok"] is False and data["baseline_path"] == str(base)
    assert [(r["case_id"], r["problem"]) for r in data["rows"]] == [("F3[1.0]", "verdict")]


def _reproduce(fixture_root: Path, *argv: str) -> int:
    return main(["--claims-dir", str(fixture_root / "claims"), "reproduce", *argv, "--json"])


def test_reproduce_from_the_store_matches_the_run(fixture_root: Path, tmp_path: Path, capsys):
    assert _run(fixture_root / "claims", tmp_path / "out") == 0
    capsys.readouterr()
    assert _reproduce(fixture_root, "F1[1.0]", "--device", "cpu") == Exit.OK
    r = _json(capsys)
    assert r["verdict"] == r["recorded_verdict"] == "replicated" and r["reproduced"] is True
    # one measurement, two controls: F1's walk-free zero-mean null and F5's seed-CI rule
    assert [c["case"] for c in r["controls"]] == ["F1[1.0]", "F5[1.0]"]
    assert r["measured"]["n"] == 5 and r["null"]["name"] == "zero_mean"
    assert r["provenance"]["jobs"] and not any(j["computed_now"] for j in r["provenance"]["jobs"])
    assert any("95% CI" in step and "met by the whole CI" in step for step in r["steps"])


def test_reproduce_computes_what_the_store_lacks(fixture_root: Path, capsys):
    assert _reproduce(fixture_root, "F7", "--device", "cpu") == Exit.OK
    r = _json(capsys)
    assert r["verdict"] == "untestable" and r["recorded_verdict"] is None
    assert all(j["computed_now"] for j in r["provenance"]["jobs"])
    assert "UNMET" in r["steps"][0] and "sample_sd" in r["steps"][0]


def test_reproduce_from_a_results_file_flags_a_verdict_it_cannot_reproduce(
    fixture_root: Path, tmp_path, capsys
):
    data = json.loads(FIXED.read_text())
    assert _reproduce(fixture_root, "F2[1.0]", "--results", str(FIXED)) == Exit.OK
    assert _json(capsys)["reproduced"] is True
    next(e for e in data["claims"] if e["id"] == "F2[1.0]")["verdict"] = "replicated"  # a hand-edited file
    (tmp_path / "edited.json").write_text(json.dumps(data))
    assert _reproduce(fixture_root, "F2[1.0]", "--results", str(tmp_path / "edited.json")) == Exit.UNEXPECTED
    r = _json(capsys)
    assert r["verdict"] == "not_replicated" and r["recorded_verdict"] == "replicated" and not r["reproduced"]


def test_reproduce_needs_one_case(fixture_root: Path, capsys):
    assert _reproduce(fixture_root, "F1", "--results", str(FIXED)) == Exit.USAGE  # F1 has two cases
    assert "F1[1.0], F1[2.0]" in capsys.readouterr().err


def test_reproduce_compares_the_store_with_the_cases_own_reading(fixture_root: Path, tmp_path: Path, capsys):
    """The store journals a case's own reading; the measurement's verdict may be another control's (here F5's, made
    to fail by a seed-CI bar of 2.0), and that is no failure to reproduce."""
    claims = tmp_path / "claims"
    claims.mkdir()
    text = (fixture_root / "claims" / "fixture.yaml").read_text()
    (claims / "fixture.yaml").write_text(
        text.replace("rule: ci_above, value: 0.0", "rule: ci_above, value: 2.0")
    )
    _run(claims, tmp_path / "out", "--claim", "F1", "F5")
    capsys.readouterr()
    argv = ["--claims-dir", str(claims), "reproduce", "F1[1.0]", "--device", "cpu", "--json"]
    assert main(argv) == Exit.OK
    r = _json(capsys)
    assert r["verdict"] != "replicated" and r["recorded_verdict"] == r["rederived_verdict"] == "replicated"
    assert r["reproduced"] is True and len(r["controls"]) == 2
