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
        "### Fixture paper (spine tests only) (`fixture_paper`): 6 claims",
        "## Counts by measurement and by case",
        "## Details: Fixture paper",
        "### Fixture study",
        "## Provenance",
    ):
        assert heading in text
    assert "| claim " in text and "measured [95% CI]" in text and "strongest control" in text
    assert "`F2`[1.0]" in text and "not replicated" in text and "the fixture's true mean is 1" in text
    assert "<details><summary>Every claim" in text and "*mu=1.0*: 1.02 [0.926, 1.05] (n=5)" in text
    assert (tmp_path / "figures" / "summary_fixture_paper.png").stat().st_size > 1000
    assert "![claims of fixture_paper by verdict](figures/summary_fixture_paper.png)" in text


def test_report_is_deterministic(fixture_root: Path, tmp_path: Path):
    a = render_report(fixture_root / "results_fixed.json", tmp_path / "a", fixture_root / "claims")
    b = render_report(fixture_root / "results_fixed.json", tmp_path / "b", fixture_root / "claims")
    assert a.read_bytes() == b.read_bytes()
    for fig in ("summary_fixture_paper.png", "generated.txt"):
        assert (tmp_path / "a" / "figures" / fig).read_bytes() == (
            tmp_path / "b" / "figures" / fig
        ).read_bytes()


def test_report_counts_claims_and_cases_and_shows_stability_kind_preconditions(
    fixture_root: Path, tmp_path: Path
):
    text = render_report(fixture_root / "results_fixed.json", tmp_path, fixture_root / "claims").read_text()
    assert "**Claims**" in text and "**Independent measurements**" in text and "**Claim cases**" in text
    assert "| stability" in text and "| kind" in text
    assert "*Requires:* sample_sd >= 5: 0.965 ✗" in text  # F7's precondition, once for the claim
    assert (
        "seeds: CI vs 0 (requires sample_sd between [0.8, 1.2]: 0.965 ✓): replicated" in text
    )  # F5's control
    assert "☑️ verified" in text


def test_tallies_count_claims_and_measurements_with_leaning_no_control_and_not_run_apart():
    from geomclaims.tallies import COLUMNS, tally_rows

    def e(cid, verdict, same=None, kind="paper", case="", stability=1.0, null=True, samples=(1.0, 2.0, 3.0)):
        return {
            "id": cid + case,
            "claim_id": cid,
            "paper": "p",
            "metric": "m",
            "verdict": verdict,
            "stability": stability,
            "same_measurement_as": same,
            "kind": kind,
            "null": {"name": "n"} if null else None,
            "measured": {"samples": list(samples)},
        }

    entries = [
        e("A", "replicated", case="[1]"),
        e("A", "trivial", case="[2]", samples=(4.0, 5.0, 6.0)),
        e("A", "not_run", case="[3]", samples=()),
        e(
            "B", "trivial", same="A", case="[1]"
        ),  # the same measurement as A[1]: one measurement, counted once
        e("C", "replicated", case="[1]"),
        e("C", "not_run", case="[2]", samples=()),  # not_run never makes a claim mixed
        e("D", "replicated", stability=0.69),  # a knife edge: leaning, not decisive
        e("N", "replicated", null=False),  # nothing to fail against
        e("X", "replicated", kind="extension"),
        e("V", "verified", kind="verified", null=False),
    ]
    rows, meas, mixed = tally_rows(entries)
    col = {c: 3 + i for i, c in enumerate(COLUMNS)}
    paper = next(r for r in rows if r[1] == "paper")
    assert paper[2] == 4  # A(+B), C, D, N
    assert (paper[col["replicated"]], paper[col["leaning"]], paper[col["no_control"]]) == (1, 1, 1)
    assert paper[-2] == 1 and paper[-1] == 0  # A is mixed (replicated vs trivial)
    assert mixed == ["- `p` **A + B** (paper): 1 replicated / 1 trivial (measurements)"]
    assert [r[2] for r in rows if r[1] != "paper"] == [1, 1]  # extension and verified counted apart
    pm = next(r for r in meas if r[1] == "paper")
    # A[1]=B[1] (one measurement, whatever the entries say), A[2], C[1], D, N; not run: A[3], C[2]
    assert pm[2] == 5 and pm[-1] == 2


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
