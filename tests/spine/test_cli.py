"""The documented CLI: list, run, report on the fixture study."""

from __future__ import annotations

import json
from pathlib import Path

from geomclaims.cli import main


def test_list_shows_every_case(fixture_root: Path, capsys):
    assert main(["--claims-dir", str(fixture_root / "claims"), "list"]) == 0
    out = capsys.readouterr().out
    for case in ("F1[1.0]", "F1[2.0]", "F2[1.0]", "F3[1.0]", "F4"):
        assert case in out
    assert "8 claim cases in 1 paper\n" in out + "\n"


def test_list_unknown_paper_is_an_error(fixture_root: Path, capsys):
    assert main(["--claims-dir", str(fixture_root / "claims"), "list", "--paper", "nope"]) == 2


def test_run_writes_results_and_report(fixture_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "--claims-dir",
            str(fixture_root / "claims"),
            "run",
            "--profile",
            "ci",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "results.json").read_text())
    assert {c["id"] for c in data["claims"]} == {
        "F1[1.0]",
        "F1[2.0]",
        "F2[1.0]",
        "F3[1.0]",
        "F4",
        "F5[1.0]",
        "F6[1.0]",
        "F7[1.0]",
    }
    assert (out / "REPORT.md").exists()
    assert (
        main(
            [
                "--claims-dir",
                str(fixture_root / "claims"),
                "report",
                str(out / "results.json"),
                "--out",
                str(tmp_path / "r2"),
            ]
        )
        == 0
    )
    assert (tmp_path / "r2" / "REPORT.md").read_text() == (out / "REPORT.md").read_text()


def test_run_single_claim(fixture_root: Path, tmp_path: Path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "--claims-dir",
                str(fixture_root / "claims"),
                "run",
                "--claim",
                "F2",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert [c["id"] for c in json.loads((out / "results.json").read_text())["claims"]] == ["F2[1.0]"]


def test_bad_claims_file_is_reported_not_a_traceback(tmp_path: Path, capsys):
    (tmp_path / "x.yaml").write_text("paper: {id: x, title: t, source: s}\nversion: one\nclaims: []\n")
    assert main(["--claims-dir", str(tmp_path), "list"]) == 2
    assert "field 'version'" in capsys.readouterr().err
