"""Issue 29 items 5, 6, 8, 9 and 12 (CLI values, environment): inputs are validated with an error naming the file,
field and value, before they can weaken a judgement.

Before the fix: a baseline tolerance of NaN, Infinity or "100" let any drift pass, null or a list crashed, a
stability of "0.95" crashed and -1 let a flip through; ``null:`` and ``"null":`` (or params ``1:`` and ``"1":``) in
one mapping were two keys; a repeated ``--claim`` kept only the last and ``--seed`` was read as ``--seed-offset``;
results of an unknown schema version were accepted; ``--seed-offset -5`` was accepted and
``GEOMCLAIMS_OFFLINE=false`` turned offline mode on.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml
from faults_helpers import BASE_CLAIM, one_line_error

from geomclaims.claims import ClaimFileError, load_claims
from geomclaims.cli import main

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "spine" / "results_fixed.json"


def _fixed() -> dict:
    return json.loads(FIXED.read_text())


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))  # NaN/Infinity are written as the JSON extensions Python reads back
    return path


def _judged(data: dict) -> dict:
    return next(
        e for e in data["claims"] if isinstance(e.get("measured"), dict) and e.get("stability") is not None
    )


# ----------------------------------------------------------------------------- item 5: baseline tolerance/stability
BAD_TOLERANCE = [math.nan, math.inf, "100", None, [1.0], -0.1, True]


@pytest.mark.parametrize("value", BAD_TOLERANCE, ids=repr)
def test_a_bad_baseline_tolerance_is_an_input_error(tmp_path: Path, capsys, value):
    base = _fixed()
    entry = _judged(base)
    entry["tolerance"] = {"atol": value}
    baseline = _write(tmp_path / "b" / "results.json", base)
    # the run drifted far: with atol NaN/inf/"100" this used to pass
    cur = _fixed()
    _judged(cur)["measured"]["value"] += 1000.0
    current = _write(tmp_path / "c.json", cur)
    assert main(["gate", str(current), "--baseline", str(baseline)]) == 2
    one_line_error(capsys.readouterr().err, str(baseline), entry["id"], "tolerance.atol", repr(value))


@pytest.mark.parametrize("value", ["0.95", -1, 1.5, math.nan, [0.9]], ids=repr)
def test_a_bad_stability_is_an_input_error(tmp_path: Path, capsys, value):
    base = _fixed()
    entry = _judged(base)
    entry["stability"] = value
    baseline = _write(tmp_path / "b" / "results.json", base)
    assert main(["gate", str(FIXED), "--baseline", str(baseline)]) == 2
    one_line_error(capsys.readouterr().err, entry["id"], "stability", repr(value))


def test_valid_tolerances_still_gate(tmp_path: Path, capsys):
    """Control: a finite tolerance still decides (a small drift passes, a large one fails)."""
    base = _fixed()
    entry = _judged(base)
    entry["tolerance"] = {"atol": 100.0}
    baseline = _write(tmp_path / "b" / "results.json", base)
    cur = _fixed()
    _judged(cur)["measured"]["value"] += 50.0
    assert main(["gate", str(_write(tmp_path / "c.json", cur)), "--baseline", str(baseline)]) == 0
    _judged(cur)["measured"]["value"] += 1000.0
    assert main(["gate", str(_write(tmp_path / "d.json", cur)), "--baseline", str(baseline)]) == 1


# ------------------------------------------------------------------------------- item 6: one key, two spellings
def _claims_file(tmp_path: Path, text_claim: str) -> Path:
    head = "paper: {id: p, title: p, source: none}\nversion: 1\nclaims:\n"
    path = tmp_path / "p.yaml"
    path.write_text(head + text_claim)
    return path


def _claim_yaml(**extra_lines: str) -> str:
    body = copy.deepcopy(BASE_CLAIM)
    body.pop("null")
    text = yaml.safe_dump([body], sort_keys=False)
    return text + "".join(f"  {line}\n" for line in extra_lines.values())


@pytest.mark.parametrize(
    "lines",
    [
        {
            "a": "null: {name: none, reason: nothing}",
            "b": '"null": {name: zero_mean, rule: above_quantile, q: 0.95}',
        },
        {"a": "null: {name: zero_mean, rule: above_quantile, q: 0.95}", "b": "params: {1: [a, b], '1': [c]}"},
    ],
)
def test_two_spellings_of_one_key_are_a_duplicate(tmp_path: Path, lines):
    path = _claims_file(tmp_path, _claim_yaml(**lines))
    with pytest.raises(ClaimFileError, match="duplicate key"):
        load_claims(path)


def test_either_spelling_alone_reads_the_same(tmp_path: Path):
    """Control: ``null:`` and ``"null":`` alone give the same claim (and a quoted params key works)."""
    bare = load_claims(
        _claims_file(tmp_path, _claim_yaml(a="null: {name: zero_mean, rule: above_quantile, q: 0.9}"))
    )
    quoted = load_claims(
        _claims_file(tmp_path, _claim_yaml(a='"null": {name: zero_mean, rule: above_quantile, q: 0.9}'))
    )
    assert bare.claims[0].null == quoted.claims[0].null


# ----------------------------------------------------------------------------------- item 8: argparse behaviour
def test_repeated_claim_options_accumulate(project: Path):
    out = project / "reports" / "ci" / "latest"
    argv = ["run", "--device", "cpu", "--executor", "serial", "--out", str(out)]
    main([*argv, "--claim", "F2", "--claim", "F3"])
    ids = {c["claim_id"] for c in json.loads((out / "results.json").read_text())["claims"]}
    assert ids == {"F2", "F3"}


@pytest.mark.parametrize("abbrev", [["--seed", "5"], ["--seed-off", "5"], ["--exec", "serial"]])
def test_option_abbreviations_are_refused(project: Path, capsys, abbrev):
    with pytest.raises(SystemExit) as info:
        main(["run", "--device", "cpu", *abbrev])
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- item 9: schema version
@pytest.mark.parametrize("schema", [1, 3, "2", True, None])
@pytest.mark.parametrize("command", ["gate", "report", "regen"])
def test_results_of_another_schema_are_refused(tmp_path: Path, capsys, schema, command):
    data = _fixed()
    data["schema"] = schema
    bad = _write(tmp_path / "r" / "results.json", data)
    baseline = _write(tmp_path / "b" / "results.json", _fixed())
    before = baseline.read_bytes()
    argv = {
        "gate": ["gate", str(bad), "--baseline", str(baseline)],
        "report": ["report", str(bad), "--out", str(tmp_path / "out")],
        "regen": ["gate", str(bad), "--baseline", str(baseline), "--regen"],
    }[command]
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, str(bad), "'schema'", repr(schema))
    assert baseline.read_bytes() == before and not (tmp_path / "out").exists()


def test_a_baseline_of_another_schema_is_refused(tmp_path: Path, capsys):
    data = _fixed()
    data["schema"] = 99
    baseline = _write(tmp_path / "b" / "results.json", data)
    assert main(["gate", str(FIXED), "--baseline", str(baseline)]) == 2
    one_line_error(capsys.readouterr().err, str(baseline), "'schema'", "99")


# ------------------------------------------------------------------------ item 12: CLI values, environment variables
@pytest.mark.parametrize("value", ["-5", "1e23", "100000000000000000000000", "2.5", "x"])
def test_bad_seed_offsets_are_refused_up_front(project: Path, capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["run", "--device", "cpu", "--seed-offset", value])
    assert info.value.code == 2
    assert "--seed-offset" in capsys.readouterr().err
    assert not (project / "reports" / "ci" / "latest").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("0", False), ("", False), ("no", False), ("OFF", False), ("1", True), ("true", True)],
)
def test_offline_flag_reads_booleans(monkeypatch, value, expected):
    from geomclaims.resources.fetcher import offline

    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", value)
    assert offline() is expected


@pytest.mark.parametrize(
    ("var", "value"), [("GEOMCLAIMS_OFFLINE", "maybe"), ("GEOMCLAIMS_SCHEDULER_TIMEOUT", "-1")]
)
def test_bad_environment_values_are_a_one_line_error_before_any_work(
    project: Path, monkeypatch, capsys, var, value
):
    monkeypatch.setenv(var, value)
    monkeypatch.setenv("GEOMCLAIMS_SCHEDULER", "tcp://127.0.0.1:1")
    assert main(["run", "--device", "cpu", "--executor", "serial"]) == 2
    one_line_error(capsys.readouterr().err, var, repr(value))
    assert not (project / "reports" / "ci" / "latest" / "results.json").exists()
