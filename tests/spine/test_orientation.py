"""The contract's orientation checks (geomclaims.orientation): a swapped evidence function is caught, a check that
cannot see a swap is refused, and unguarded directional metrics are listed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from geomclaims.claims import load_all
from geomclaims.orientation import (
    CannedRuns,
    OrientationCheck,
    check_orientation,
    directional_metrics,
    run_check,
)

CASE = SimpleNamespace(claim=SimpleNamespace(id="T", metric="gap"), params={})


def _difference(a: float, b: float) -> float:
    return a - b


def test_a_right_way_round_function_passes_and_a_swapped_one_is_caught() -> None:
    right = OrientationCheck(
        "s/x", "gap", "a and b exchanged", lambda c, sw: _difference(*((1, 3) if sw else (3, 1))), 2.0
    )
    assert run_check(right, CASE) == []
    # The same check against an evidence function that computes b - a: the known input now gives -2.
    wrong = OrientationCheck(
        "s/x", "gap", "a and b exchanged", lambda c, sw: _difference(*((3, 1) if sw else (1, 3))), 2.0
    )
    problems = run_check(wrong, CASE)
    assert "gives -2, expected 2" in problems[0] and "swapped sign or argument" in problems[0]


def test_a_check_that_cannot_see_a_swap_is_refused_and_errors_are_findings() -> None:
    blind = OrientationCheck("s/x", "gap", "symmetric input", lambda c, sw: 0.0, 0.0)
    assert "cannot see a swap" in run_check(blind, CASE)[0]
    nan = OrientationCheck("s/x", "gap", "nan", lambda c, sw: float("nan"), 0.0)
    assert "non-finite" in run_check(nan, CASE)[0]

    def boom(c: object, sw: bool) -> float:
        raise KeyError("acc")

    assert "raised KeyError" in run_check(OrientationCheck("s/x", "gap", "raises", boom, 0.0), CASE)[0]


def test_canned_runs_serve_by_config_and_record_what_was_asked() -> None:
    ctx = CannedRuns({"seeds": [0]}, lambda name, config, seed: {"v": config["p"] * 2})
    assert ctx.run("flip", {"p": 0.25}, 3)["v"] == 0.5
    assert ctx.asked == [("flip", {"p": 0.25}, 3)] and ctx.settings == {"seeds": [0]}


def test_execution_checks_pass_and_guard_every_directional_metric() -> None:
    paper = load_all()["execution_manifolds"]
    problems, uncovered, n = check_orientation(
        "execution", "geomclaims.studies.execution.orientation", paper.claims
    )
    # Every directional metric of E is guarded now (issue 27); an unguarded one would be listed here.
    assert problems == [] and n >= len(directional_metrics(paper.claims))
    assert uncovered == []
    bad, _, _ = check_orientation("execution", "geomclaims.no_such_module", paper.claims)
    assert "ModuleNotFoundError" in bad[0]


@pytest.mark.parametrize("module", ["geomclaims.studies.execution.orientation"])
def test_check_guards_no_claim_is_a_problem(module: str) -> None:
    problems, _, _ = check_orientation("execution", module, [])
    assert problems and all("no claim of 'execution'" in p for p in problems)
