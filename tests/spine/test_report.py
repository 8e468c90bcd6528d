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


def test_report_counts_claims_and_cases_and_shows_stability_kind_preconditions(
    fixture_root: Path, tmp_path: Path
):
    text = render_report(fixture_root / "results_fixed.json", tmp_path, fixture_root / "claims").read_text()
    assert "**Claims**" in text and "**Claim cases**" in text
    assert "| stability" in text and "| kind" in text and "preconditions (required: measured)" in text
    assert "sample_sd >= 5: 0.965 ✗" in text and "sample_sd between [0.8, 1.2]: 0.965 ✓" in text
    assert "☑️ verified" in text


def test_claim_groups_count_a_shared_measurement_once_and_spell_out_mixes():
    from geomclaims.report import claim_summary_rows, group_verdict

    def e(cid, verdict, same=None, kind="paper", case=""):
        return {
            "id": cid + case,
            "claim_id": cid,
            "paper": "p",
            "verdict": verdict,
            "same_measurement_as": same,
            "kind": kind,
        }

    claims = [
        e("A", "replicated", case="[1]"),
        e("A", "replicated", case="[2]"),
        e("A", "trivial", case="[3]"),
        e("B", "replicated", same="A", case="[1]"),
        e("C", "not_run"),
        e("D", "replicated", kind="extension"),
        e("V", "verified", kind="verified"),
    ]
    rows, mixed = claim_summary_rows(claims)
    by_kind = {r[1]: r for r in rows}
    # paper: group {A, B} (mixed) + C (not_run) = 2 claims; extension and verified counted apart.
    assert by_kind["paper"][2] == 2 and by_kind["paper"][-1] == 1
    assert by_kind["extension"][2] == 1 and by_kind["verified"][2] == 1
    assert mixed == ["- `p` **A + B** (paper): 3 replicated / 1 trivial"]
    assert group_verdict([e("X", "trivial"), e("X", "trivial")]) == "trivial"


def test_report_shows_the_other_profiles_committed_verdicts_side_by_side(fixture_root: Path, tmp_path: Path):
    """A ci report under reports/ci/latest lists the full baseline's verdict and measurement beside its own."""
    import copy
    import json

    from geomclaims.report import committed_baselines

    ci = json.loads((fixture_root / "results_fixed.json").read_text())
    full = copy.deepcopy(ci)
    full["profile"] = "full"
    flipped = next(e for e in full["claims"] if e["id"] == "F2[1.0]")
    assert flipped["verdict"] != "replicated"
    flipped["verdict"] = "replicated"
    dropped = full["claims"].pop(next(i for i, e in enumerate(full["claims"]) if e["id"] == "F1[2.0]"))
    reports = tmp_path / "reports"
    (reports / "full").mkdir(parents=True)
    (reports / "full" / "results.json").write_text(json.dumps(full))
    (reports / "smoke").mkdir()
    (reports / "smoke" / "results.json").write_text(json.dumps({**ci, "profile": "smoke"}))

    assert committed_baselines(reports / "ci" / "latest", "ci") == {"full": reports / "full" / "results.json"}
    assert committed_baselines(reports / "full", "full") == {}  # no ci baseline; smoke is never compared
    assert committed_baselines(tmp_path / "elsewhere", "ci") == {}

    text = render_report(ci, reports / "ci" / "latest", fixture_root / "claims").read_text()
    section = text.split("## Verdicts across profiles", 1)[1].split("## Provenance", 1)[0]
    assert "| ci verdict" in section and "| full verdict" in section and "smoke" not in section
    assert f"1 of {len(ci['claims']) - 1} differ in verdict" in section
    # the case the full baseline lacks is named, not silently left out of the comparison
    assert f"- 1 case(s) of this run have no verdict in `full/results.json`: `{dropped['id']}`." in section
    assert f"`{dropped['id']}` |" not in section
    row = next(line for line in section.splitlines() if "`F2[1.0]`" in line)
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert cells[1] == "not_replicated" and cells[3] == "replicated"  # ci verdict, then full verdict

    # outside reports/ (the golden snapshot's case) the section is absent
    assert (
        "Verdicts across profiles"
        not in render_report(ci, tmp_path / "x", fixture_root / "claims").read_text()
    )
