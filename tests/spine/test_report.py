"""Report structure: a snapshot of the report rendered from a fixed results file, plus determinism."""

from __future__ import annotations

import os
from pathlib import Path

from geomclaims.report import render_report

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "spine" / "REPORT.golden.md"


def test_report_matches_snapshot(fixture_root: Path, tmp_path: Path):
    """Regenerate deliberately with GEOMCLAIMS_REGEN_GOLDEN=1 after an intended change to the report layout."""
    report = render_report(fixture_root / "results_fixed.json", tmp_path, fixture_root / "claims")
    text = report.read_text()
    if os.environ.get("GEOMCLAIMS_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_report_sections_and_figures(fixture_root: Path, tmp_path: Path):
    text = render_report(fixture_root / "results_fixed.json", tmp_path, fixture_root / "claims").read_text()
    for heading in (
        "## Summary",
        "## Fixture paper",
        "### Fixture study",
        "### Paper text vs released code",
        "## Provenance",
    ):
        assert heading in text
    assert "| id " in text and "measured [95% CI] (n)" in text and "null [2.5%, 97.5%]" in text
    assert "F2[1.0]" in text and "not replicated" in text and "the fixture's true mean is 1" in text
    assert (tmp_path / "figures" / "summary_verdicts.png").stat().st_size > 1000
    assert "![verdicts per paper](figures/summary_verdicts.png)" in text


def test_report_is_deterministic(fixture_root: Path, tmp_path: Path):
    a = render_report(fixture_root / "results_fixed.json", tmp_path / "a", fixture_root / "claims")
    b = render_report(fixture_root / "results_fixed.json", tmp_path / "b", fixture_root / "claims")
    assert a.read_text() == b.read_text()
    assert (tmp_path / "a" / "figures" / "summary_verdicts.png").read_bytes() == (
        tmp_path / "b" / "figures" / "summary_verdicts.png"
    ).read_bytes()
