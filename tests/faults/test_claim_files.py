"""Item 11: claim-file parsing faults that used to pass silently or fail without naming the file or claim."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from faults_helpers import claim, write_claims

from geomclaims.claims import ClaimFileError, load_claims
from geomclaims.markers import CLAIM_MARKERS

pytest_plugins = ["pytester"]

HEADER = 'paper: {id: p, title: "t", source: "s"}\nversion: 1\nclaims:\n'
CLAIM_TEXT = """  - id: X1
    section: "1"
    statement: "s"
    experiment: fixture/gaussian
    metric: mean
    expect: {op: ">", value: 0.5}
    null: {name: zero_mean, rule: above_quantile, q: 0.95}
    tolerance: {atol: 0.05}
    expected_verdict: {ci: replicated}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    return path


def test_duplicate_key_in_a_claim_names_the_key_and_line(tmp_path: Path):
    # A second `expect:` used to win silently and change the paper condition.
    path = _write(tmp_path, HEADER + CLAIM_TEXT + '    expect: {op: "<", value: 0.5}\n')
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    message = str(info.value)
    assert str(path) in message and "duplicate key 'expect'" in message
    assert "line 13" in message and "line 9" in message  # the repeat and the first occurrence


def test_duplicate_top_level_and_nested_keys(tmp_path: Path):
    with pytest.raises(ClaimFileError, match=r"duplicate key 'version' at line 3"):
        load_claims(_write(tmp_path, 'paper: {id: p, title: "t", source: "s"}\nversion: 1\nversion: 2\n'))
    nested = CLAIM_TEXT.replace("{atol: 0.05}", "{atol: 0.05, atol: 9}")
    with pytest.raises(ClaimFileError, match=r"duplicate key 'atol'"):
        load_claims(_write(tmp_path, HEADER + nested))


def test_duplicate_null_key_is_caught_too(tmp_path: Path):
    """`null:` reads as the None key; two of them must still collide."""
    text = HEADER + CLAIM_TEXT + "    null: {name: none, reason: r}\n"
    with pytest.raises(ClaimFileError, match=r"duplicate key 'null'"):
        load_claims(_write(tmp_path, text))


def test_non_utf8_file_names_the_file(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes((HEADER + CLAIM_TEXT.replace('"s"', '"caf\xe9"')).encode("latin-1"))
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    assert str(path) in str(info.value) and "UTF-8" in str(info.value)


@pytest.mark.parametrize(
    ("text", "value"), [("5e-1", 0.5), ("1e3", 1000.0), ("-2.5E+2", -250.0), ("1.0e-2", 0.01)]
)
def test_exponent_numbers_are_floats(tmp_path: Path, text: str, value: float):
    path = _write(tmp_path, HEADER + CLAIM_TEXT.replace("value: 0.5}", f"value: {text}}}"))
    assert load_claims(path).claims[0].expect.value == value


def test_ints_and_strings_keep_their_types_and_the_global_loader_is_untouched(tmp_path: Path):
    path = _write(tmp_path, HEADER + CLAIM_TEXT.replace("metric: mean", 'metric: "5e-1"'))
    pc = load_claims(path)
    assert pc.version == 1 and isinstance(pc.version, int)
    assert pc.claims[0].metric == "5e-1"  # quoted: still a string
    assert yaml.safe_load("x: 5e-1") == {"x": "5e-1"}  # our resolver lives on our loader only


@pytest.mark.parametrize(
    ("expect", "field"),
    [
        ({"op": "approx", "value": 1.0, "abs": -1}, "expect.abs"),
        ({"op": "approx", "value": 1.0, "abs": 0}, "expect.abs"),
        ({"op": "approx", "value": 1.0, "rel": -0.1}, "expect.rel"),
        ({"op": "approx", "value": 1.0, "rel": 0.1, "abs": 0.0}, "expect.abs"),
    ],
)
def test_approx_tolerances_must_be_positive(tmp_path: Path, expect: dict, field: str):
    path = write_claims(tmp_path, "a", "p", [claim(expect=expect)])
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    assert info.value.claim_id == "A1" and info.value.field_name == field and "> 0" in str(info.value)


def test_approx_with_positive_tolerances_loads(tmp_path: Path):
    path = write_claims(
        tmp_path, "a", "p", [claim(expect={"op": "approx", "value": 1.0, "rel": 0.1, "abs": 0.2})]
    )
    expect = load_claims(path).claims[0].expect
    assert (expect.rel, expect.abs) == (0.1, 0.2)


def test_unknown_marker_fails_at_load_time_naming_the_claim(tmp_path: Path):
    path = write_claims(tmp_path, "a", "p", [claim(markers=["slow", "slwo"])])
    with pytest.raises(ClaimFileError) as info:
        load_claims(path)
    err = info.value
    assert (
        err.claim_id == "A1" and err.field_name == "markers" and "'slwo'" in str(err) and "slow" in str(err)
    )


def test_every_known_marker_loads(tmp_path: Path):
    path = write_claims(tmp_path, "a", "p", [claim(markers=sorted(CLAIM_MARKERS))])
    assert load_claims(path).claims[0].markers == tuple(sorted(CLAIM_MARKERS))


def test_the_plugin_registers_exactly_the_known_markers(pytester: pytest.Pytester):
    """One list: what a claim may name is what pytest --strict-markers accepts from the plugin."""
    result = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    text = result.stdout.str()
    for name in CLAIM_MARKERS:
        assert f"@pytest.mark.{name}:" in text, name
