"""Strict loading of claims files: every malformed file under fixtures/bad_claims names its file, claim and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from geomclaims.claims import ClaimFileError, Verdict, load_all, load_claims

ROOT = Path(__file__).resolve().parents[2]
BAD = sorted((ROOT / "fixtures" / "bad_claims").glob("*.yaml"))


def _expected(path: Path) -> tuple[str, str]:
    m = re.match(r"# expect-error: claim=(\S*) field=(\S*)", path.read_text().splitlines()[0])
    assert m, f"{path} lacks its '# expect-error:' header"
    return m.group(1), m.group(2)


def test_there_are_bad_claim_fixtures():
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_malformed_file_raises_naming_file_claim_and_field(path: Path):
    claim_id, field = _expected(path)
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    err = info.value
    assert str(path) in str(err)
    assert (err.claim_id or "") == claim_id
    assert (err.field_name or "") == field


def test_missing_file_is_a_claim_file_error(tmp_path: Path):
    with pytest.raises(ClaimFileError, match="file not found"):
        load_claims(tmp_path / "nope.yaml")


def test_fixture_claims_load_and_expand_params():
    pc = load_claims(ROOT / "fixtures" / "spine" / "claims" / "fixture.yaml")
    assert [c.case_id for c in pc.cases()] == [
        "F1[1.0]",
        "F1[2.0]",
        "F2[1.0]",
        "F3[1.0]",
        "F4",
        "F5[1.0]",
        "F6[1.0]",
        "F7[1.0]",
    ]
    assert pc.get("F5").kind == "extension" and pc.get("F5").same_measurement_as == "F1"
    assert (
        pc.get("F6").expected("ci") is Verdict.VERIFIED and pc.get("F6").expected("full") is Verdict.VERIFIED
    )
    assert pc.get("F7").requires[0].metric == "sample_sd" and pc.get("F7").requires[0].value == 5.0
    assert pc.get("F2").expected("ci") is Verdict.NOT_REPLICATED
    assert pc.get("F1").expected("full") is Verdict.REPLICATED  # unspecified profile defaults to replicated
    assert pc.get("F4").null is None and pc.get("F4").null_reason
    assert pc.text_vs_code[0]["topic"] == "mean estimator"


def test_project_claims_files_are_valid():
    """The shipped claims files load strictly and their ids are unique across the suite."""
    papers = load_all(ROOT / "claims")
    ids = [c.id for pc in papers.values() for c in pc.claims]
    assert len(ids) == len(set(ids))
    for pc in papers.values():
        for claim in pc.claims:
            assert claim.experiment.split("/")[0] in {"stratified", "signature", "execution"}, claim.id


def test_expected_by_case_overrides_one_case(tmp_path: Path):
    text = (ROOT / "fixtures" / "bad_claims" / "expected_by_case_without_reason.yaml").read_text()
    good = tmp_path / "good.yaml"
    good.write_text(text + "    expected_reason: the second case is trivial here\n")
    claim = load_claims(good).claims[0]
    by_id = {c.case_id: c for c in claim.cases()}
    assert by_id["X1[1.0]"].expected("ci") is Verdict.REPLICATED
    assert by_id["X1[2.0]"].expected("ci") is Verdict.TRIVIAL
    assert by_id["X1[2.0]"].expected("full") is Verdict.REPLICATED


_V2 = """
paper: {{id: v2, title: "v2", source: none}}
version: 1
claims:
  - id: A
    section: "1"
    statement: "s"
    experiment: x/y
    metric: m
    expect: {{op: ">", value: 0}}
    null: {{name: none, reason: "r"}}
    tolerance: {{atol: 1}}
    expected_verdict: {{ci: replicated}}
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    kind: proof", "kind"),
        ("    kind: verified", "expected_verdict"),  # a verified claim succeeds as 'verified'
        ("    aggregate: single", "single_reason"),
        ("    single_reason: one model", "single_reason"),  # only with aggregate single
        ("    same_measurement_as: Z", "same_measurement_as"),
        ("    same_measurement_as: A", "same_measurement_as"),
        ("    requires: [{metric: acc, op: '=>', value: 1, why: w}]", "requires[0].op"),
        ("    requires: [{metric: acc, op: '>=', value: '0.9', why: w}]", "requires[0].value"),
        ("    requires: [{metric: acc, op: '>=', value: 0.9}]", "requires[0].why"),
        ("    requires: [{metric: acc, op: between, value: [2, 1], why: w}]", "requires[0].value"),
        ("    requires: [{metric: acc, op: '>=', value: 0.9, why: w, extra: 1}]", "requires[0].extra"),
        ("    requires: []", "requires"),
    ],
)
def test_contract_v2_fields_are_validated(tmp_path: Path, extra: str, field: str):
    path = tmp_path / "v2.yaml"
    path.write_text(_V2.format(extra=extra))
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    assert info.value.claim_id == "A" and info.value.field_name == field and str(path) in str(info.value)


def test_contract_v2_fields_load(tmp_path: Path):
    path = tmp_path / "v2.yaml"
    extra = (
        "    kind: verified\n    aggregate: single\n    single_reason: an exact identity\n"
        "    requires: [{metric: acc, op: between, value: [0.5, 1], why: learned}]"
    )
    path.write_text(_V2.format(extra=extra).replace("ci: replicated", "ci: verified"))
    claim = load_claims(path).claims[0]
    assert claim.kind == "verified" and claim.single_reason == "an exact identity"
    assert claim.requires[0].value == (0.5, 1.0) and claim.expected("full") is Verdict.VERIFIED


def test_shipped_single_aggregate_claims_say_why():
    for pc in load_all(ROOT / "claims").values():
        for claim in pc.claims:
            assert (claim.aggregate == "single") == (claim.single_reason is not None), claim.id
