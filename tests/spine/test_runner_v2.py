"""evaluate_case under contract v2: validity preconditions, NotRun, min runs, strict evidence, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from geomclaims import registry
from geomclaims.claims import load_all, load_claims
from geomclaims.decision import BadEvidence, InsufficientRuns
from geomclaims.plugin import REGISTERED, StudySpec
from geomclaims.registry import Evidence, NotRun, evidence
from geomclaims.runner import PreconditionMissing, Session, evaluate_case, merge_results, select_cases
from geomclaims.store import Store

CLAIM = """
paper: {{id: v2_paper, title: "v2", source: none}}
version: 1
claims:
  - id: V1
    section: "1"
    statement: "A trained model's mean exceeds 0.5."
    experiment: v2test/{experiment}
    metric: m
    expect: {{op: ">", value: 0.5}}
    null: {{name: seeds, rule: ci_above, value: 0.0}}
    requires:
      - {{metric: final_acc, op: ">=", value: 0.9, why: "the model learned the task"}}
    tolerance: {{atol: 0.1}}
    expected_verdict: {{ci: replicated}}
"""

_EVIDENCE: dict[str, Evidence | Exception] = {}


@evidence("v2test/fixed")
def _fixed(case, ctx):
    ev = _EVIDENCE["fixed"]
    if isinstance(ev, Exception):
        raise ev
    return ev


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(REGISTERED, "v2test", StudySpec(name="v2test", module=__name__, paper_id="v2_paper"))
    monkeypatch.setitem(
        registry._PROFILES,
        "v2test",
        {"smoke": {"seeds": [0]}, "ci": {"seeds": [0, 1, 2]}, "full": {"seeds": [0]}},
    )
    path = tmp_path / "v2.yaml"
    path.write_text(CLAIM.format(experiment="fixed"))
    return load_claims(path).cases()[0]


def _ctx(profile: str = "ci"):
    return Session(profile=profile, store=Store(enabled=False), progress=False).context("v2test")


def test_unmet_precondition_is_untestable_with_the_measured_value(case):
    _EVIDENCE["fixed"] = Evidence(measured=[1.0, 1.1, 1.2], preconditions={"final_acc": 0.42})
    entry = evaluate_case(case, _ctx())
    assert entry["verdict"] == "untestable" and entry["stability"] is None
    assert (
        "precondition final_acc >= 0.9 unmet: measured 0.42 (the model learned the task)"
        in entry["explanation"]
    )
    assert entry["measured"]["value"] == pytest.approx(1.1)  # kept for the report
    assert entry["preconditions"] == [
        {
            "metric": "final_acc",
            "op": ">=",
            "value": 0.9,
            "why": "the model learned the task",
            "measured": 0.42,
            "met": False,
        }
    ]


def test_met_precondition_judges_the_claim(case):
    _EVIDENCE["fixed"] = Evidence(measured=[1.0, 1.1, 1.2], preconditions={"final_acc": 0.97})
    entry = evaluate_case(case, _ctx())
    assert entry["verdict"] == "replicated" and entry["preconditions"][0]["met"] is True
    assert entry["stability"] == 1.0 and entry["measured"]["se"] >= 0.0


def test_missing_precondition_metric_is_an_error_naming_claim_and_metric(case):
    _EVIDENCE["fixed"] = Evidence(measured=[1.0, 1.1, 1.2], preconditions={"loss": 0.1})
    with pytest.raises(PreconditionMissing, match=r"V1.*'final_acc'.*\['loss'\]"):
        evaluate_case(case, _ctx())


def test_not_run_is_a_verdict_with_its_reason(case):
    _EVIDENCE["fixed"] = NotRun("runs in the full profile: 20 seeds of a 1B model")
    entry = evaluate_case(case, _ctx())
    assert entry["verdict"] == "not_run" and "full profile" in entry["explanation"]
    assert entry["measured"] is None and entry["stability"] is None


@pytest.mark.parametrize("n", [1, 2])
def test_too_few_seeds_under_ci_is_an_error_naming_the_claim(case, n):
    _EVIDENCE["fixed"] = Evidence(measured=[1.0, 1.1][:n], preconditions={"final_acc": 0.97})
    with pytest.raises(InsufficientRuns, match=rf"V1.*n={n}"):
        evaluate_case(case, _ctx())
    assert evaluate_case(case, _ctx("smoke"))["verdict"] in {"replicated", "inconclusive"}


def test_a_3x4_array_is_not_twelve_seeds(case):
    import numpy as np

    _EVIDENCE["fixed"] = Evidence(measured=np.ones((3, 4)), preconditions={"final_acc": 0.97})
    with pytest.raises(BadEvidence, match=r"shape \(3, 4\)"):
        evaluate_case(case, _ctx())


def test_merge_unions_code_versions_and_rejects_conflicts():
    a = {"profile": "ci", "claims": [{"id": "A", "paper": "p"}], "code_versions": {"s1": "x"}}
    b = {"profile": "ci", "claims": [{"id": "B", "paper": "p"}], "code_versions": {"s2": "y"}}
    assert merge_results([a, b])["code_versions"] == {"s1": "x", "s2": "y"}
    c = {"profile": "ci", "claims": [{"id": "C", "paper": "p"}], "code_versions": {"s1": "z"}}
    with pytest.raises(ValueError, match="code version"):
        merge_results([a, c])


def test_merge_keeps_a_case_judged_identically_by_two_parts_once_and_rejects_a_conflict():
    """Resumed parts with overlapping --claim patterns read the same stored jobs: one copy is kept."""
    entry = {"id": "A", "paper": "p", "verdict": "replicated", "measured": {"value": 1.0}}
    a = {"profile": "full", "claims": [dict(entry, wall_s=9.0, expected_verdict="inconclusive")]}
    b = {"profile": "full", "claims": [dict(entry, wall_s=0.1), {"id": "B", "paper": "p"}]}
    merged = merge_results([a, b])
    assert [e["id"] for e in merged["claims"]] == ["A", "B"]
    assert [row["cases"] for row in merged["parts"]] == [["A"], ["A", "B"]]
    c = {"profile": "full", "claims": [dict(entry, verdict="trivial")]}
    with pytest.raises(ValueError, match="'A' is in part 0 and part 1 with different judgements"):
        merge_results([a, c])


def test_claim_patterns_select_by_wildcard_and_keep_brackets_literal() -> None:
    papers = list(load_all(Path(__file__).parents[2] / "fixtures" / "spine" / "claims").values())

    def ids(selection: list[str]) -> list[str]:
        return [c.case_id for c in select_cases(papers, claim_ids=selection)]

    assert ids(["*[2.0]"]) == ["F1[2.0]"]  # a bracket is a literal, not a character class
    assert ids(["F?[1.0]"]) == ["F1[1.0]", "F2[1.0]", "F3[1.0]", "F5[1.0]", "F6[1.0]", "F7[1.0]"]
    assert ids(["F1", "F4*"]) == ["F1[1.0]", "F1[2.0]", "F4"]  # exact ids and patterns together
    assert ids(["F1[1.0]"]) == ["F1[1.0]"]
    with pytest.raises(ValueError, match=r"'\*qwen\*' .*matches no claim"):
        select_cases(papers, claim_ids=["F1", "*qwen*"])
