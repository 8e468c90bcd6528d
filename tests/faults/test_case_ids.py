"""Item 1: colliding case ids must be a load-time error, and a session never silently replaces an entry.

Before the fix, two claims with the same case id ran twice and the second entry replaced the first in
results.json (10 cases run, 5 kept, gate OK).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults_helpers import claim, write_claims

from geomclaims.claims import ClaimFileError, load_all, load_claims
from geomclaims.cli import main
from geomclaims.runner import Session


@pytest.mark.parametrize(
    ("first", "second", "name"),
    [
        (claim(id="X1"), claim(id="X1"), "X1"),  # the same claim id in two paper files
        (
            claim(id="X1", params={"mu": [1.0]}),
            claim(id="X1[1.0]"),
            "X1[1.0]",
        ),  # a claim id = another's case id
    ],
    ids=["same-claim-id", "claim-id-is-a-case-id"],
)
def test_collisions_across_paper_files_name_both_files(tmp_path: Path, first: dict, second: dict, name: str):
    a = write_claims(tmp_path, "a", "paper_a", [first])
    b = write_claims(tmp_path, "b", "paper_b", [second])
    with pytest.raises(ClaimFileError) as info:
        load_all(tmp_path)
    message = str(info.value)
    assert str(a) in message and str(b) in message and f"[claim {name}]" in message


def test_claim_id_equal_to_another_claims_case_id_in_one_file(tmp_path: Path):
    path = write_claims(
        tmp_path, "a", "paper_a", [claim(id="X1", params={"mu": [1.0, 2.0]}), claim(id="X1[1.0]")]
    )
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    err = info.value
    assert err.claim_id == "X1[1.0]" and err.field_name == "id"
    assert "X1[1.0]" in str(err) and "claim X1" in str(err)


def test_parameter_values_whose_joined_suffixes_collide(tmp_path: Path):
    # ("x-y", "z") and ("x", "y-z") both join to "x-y-z".
    path = write_claims(
        tmp_path, "a", "paper_a", [claim(id="X1", params={"a": ["x-y", "x"], "b": ["z", "y-z"]})]
    )
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    err = info.value
    assert err.claim_id == "X1" and err.field_name == "params"
    assert (
        "X1[x-y-z]" in str(err)
        and "{'a': 'x-y', 'b': 'z'}" in str(err)
        and "{'a': 'x', 'b': 'y-z'}" in str(err)
    )


def test_distinct_case_ids_still_load(tmp_path: Path):
    """Control: the collision check must not reject ordinary parametrized claims."""
    path = write_claims(
        tmp_path, "a", "paper_a", [claim(id="X1", params={"a": ["x", "y"], "b": [1, 2]}), claim(id="X2")]
    )
    ids = [c.case_id for c in load_claims(path).cases()]
    assert ids == ["X1[x-1]", "X1[x-2]", "X1[y-1]", "X1[y-2]", "X2"]


def test_session_refuses_a_second_entry_with_the_same_id(project: Path):
    case = load_all()["fixture_paper"].get("F2").cases()[0]
    session = Session(profile="ci", device="cpu", progress=False)
    first = session.evaluate(case)
    with pytest.raises(ValueError, match=r"F2\[1\.0\].*twice"):
        session.evaluate(case)
    assert session.entries == [first]


def test_colliding_paper_files_stop_the_cli_before_anything_runs(project: Path, capsys):
    """The issue's reproduction: the fixture paper copied under another paper id (same claim ids)."""
    claims = project / "claims"
    text = (claims / "fixture.yaml").read_text().replace("id: fixture_paper", "id: fixture_copy")
    (claims / "zcopy.yaml").write_text(text)
    out = project / "reports" / "ci" / "latest"
    assert main(["run", "--profile", "ci", "--device", "cpu", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "fixture.yaml" in err and "zcopy.yaml" in err and "F1" in err
    assert not (out / "results.json").exists()
    (claims / "zcopy.yaml").unlink()
    assert main(["run", "--profile", "ci", "--device", "cpu", "--out", str(out)]) == 0
    n_cases = len(load_claims(claims / "fixture.yaml").cases())
    assert len(json.loads((out / "results.json").read_text())["claims"]) == n_cases
