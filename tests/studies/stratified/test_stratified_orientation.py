"""The stratified study's orientation checks (geomclaims.studies.stratified.orientation): they pass on the real
evidence functions, guard every directional metric of the claims, and catch an evidence function that computes a
difference or correlation the wrong way round."""

from __future__ import annotations

from typing import Any

import pytest

from geomclaims.claims import load_all
from geomclaims.orientation import check_orientation, directional_metrics
from geomclaims.registry import Evidence
from geomclaims.studies.stratified import orientation

MODULE = "geomclaims.studies.stratified.orientation"
GUARDED = {
    ("stratified/model_size", "nmi_gain"),
    ("stratified/model_size", "entropy_drop"),
    ("stratified/strata", "sparsity_dim_rho"),
    ("stratified/strata", "dim_spread"),
    ("stratified/strata", "ws_spread"),
    ("stratified/strata", "nmi"),
    ("stratified/strata", "ari"),
    ("stratified/strata", "ari_gate_pca"),
    ("stratified/ldb", "ari"),
    ("stratified/ldb", "dim_error"),
}


def _claims() -> list[Any]:
    return load_all()["stratified_manifolds"].claims


def test_stratified_checks_pass_and_guard_every_directional_metric() -> None:
    claims = _claims()
    problems, uncovered, n = check_orientation("stratified", MODULE, claims)
    assert problems == []
    assert {(c.experiment, c.metric) for c in orientation.CHECKS} == GUARDED and n == len(GUARDED)
    assert directional_metrics(claims) <= GUARDED and uncovered == []


def _flipped(fn: Any) -> Any:
    """``fn`` with the sign of its measurement flipped: larger - smaller read as smaller - larger."""

    def wrong(case: Any, ctx: Any) -> Evidence:
        ev = fn(case, ctx)
        return Evidence([-float(v) for v in ev.measured], ev.null, ev.details, ev.notes)

    return wrong


def _control_as_measurement(fn: Any) -> Any:
    """``fn`` reading the claim's control draws where the run's own score was meant."""

    def wrong(case: Any, ctx: Any) -> Evidence:
        ev = fn(case, ctx)
        return Evidence(list(ev.null), ev.measured, ev.details, ev.notes)

    return wrong


def test_a_swapped_evidence_function_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orientation, "model_size_evidence", _flipped(orientation.model_size_evidence))
    monkeypatch.setattr(orientation, "strata_evidence", _control_as_measurement(orientation.strata_evidence))
    problems, _, _ = check_orientation("stratified", MODULE, _claims())
    wrong_value = [p for p in problems if "swapped sign or argument?" in p]
    caught = {p.split(" (")[0].removeprefix("orientation check ") for p in wrong_value}
    # Every check of the two wrong functions sees it on its known input; the untouched ldb evidence still passes.
    assert caught == {f"{e}:{m}" for e, m in GUARDED if e != "stratified/ldb"}
    assert not any("stratified/ldb" in p for p in problems)
