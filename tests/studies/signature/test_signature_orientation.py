"""The signature study's orientation checks (studies/signature/orientation.py): they pass on the real evidence
functions and the real claims, guard the metrics they declare, and catch an evidence function that reads the wrong
members or computes a ratio the wrong way round."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from geomclaims.claims import load_all
from geomclaims.orientation import check_orientation, directional_metrics, run_check
from geomclaims.registry import Evidence
from geomclaims.studies.signature import language, lm_readings, orientation, pca, toy

MODULE = "geomclaims.studies.signature.orientation"
GUARDED = {
    "r_order_final",
    "r_order_early",
    "r_order_shuffled_final",
    "mean_anchor_cos_final",
    "mean_anchor_cos_early",
    "train_accuracy",
    "order_time_ratio",
    "ring_margin",
    "r_order_unembedding",
    "r_cos_lm",
    "partial_r_cos_lm",
    "specificity_margin",
    "digit_r_order",
    "digit_r_order_tilde",
    "r_cos_key_signature",
    "r_cos_key_signature_early",
}


def _claims() -> list[Any]:
    return load_all()["probability_signature"].claims


def _first_case(metric: str) -> Any:
    return next(c for claim in _claims() if claim.metric == metric for c in claim.cases())


def test_signature_checks_pass_on_the_real_claims_and_cover_their_metrics() -> None:
    claims = _claims()
    problems, uncovered, n = check_orientation("signature", MODULE, claims)
    assert problems == []
    assert n == len(GUARDED) and {c.metric for c in orientation.CHECKS} == GUARDED
    assert not any(line.split(":")[1] in GUARDED for line in uncovered)
    assert len(uncovered) == len(directional_metrics(claims)) - len(GUARDED)


def test_a_swapped_signature_evidence_function_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = {c.metric: c for c in orientation.CHECKS}
    real_select = toy.select

    def labels_exchanged(res: dict[str, Any], task: str, arch: str, labels: str = "true") -> np.ndarray:
        return real_select(res, task, arch, "shuffled" if labels == "true" else "true")

    # an evidence function reading the shuffled-label members where the true ones were meant (and the reverse)
    monkeypatch.setattr(toy, "select", labels_exchanged)
    monkeypatch.setattr(pca, "select", labels_exchanged)
    for metric in (
        "r_order_final",
        "r_order_shuffled_final",
        "mean_anchor_cos_final",
        "ring_margin",
        "r_order_unembedding",
    ):
        problems = run_check(checks[metric], _first_case(metric))
        assert problems and "swapped sign or argument" in problems[0], metric
    monkeypatch.setattr(toy, "select", real_select)
    monkeypatch.setattr(pca, "select", real_select)

    real_ratio = toy._order_time_ratio

    def inverted(case: Any, ctx: Any, res: dict[str, Any]) -> Evidence:
        ev = real_ratio(case, ctx, res)
        return Evidence(measured=1.0 / np.asarray(ev.measured), null=None, details=ev.details)

    # P4's ratio computed as t_add / t_slow: the check's known input now gives 1/5
    monkeypatch.setattr(toy, "_order_time_ratio", inverted)
    problems = run_check(checks["order_time_ratio"], _first_case("order_time_ratio"))
    assert problems and "gives 0.2, expected 5" in problems[0]

    real_pair = language._lm_cos_pair

    def init_rows(res: dict[str, Any], matrix: str, which: str = "final") -> Any:
        return real_pair(res, matrix, "init")

    # an LM evidence function reading the init embedding rows where the trained ones were meant
    monkeypatch.setattr(language, "_lm_cos_pair", init_rows)
    for metric in ("r_cos_lm", "partial_r_cos_lm"):
        problems = run_check(checks[metric], _first_case(metric))
        assert problems and "expected 1 (swapped sign or argument" in problems[0], metric

    monkeypatch.setattr(language, "_lm_cos_pair", real_pair)
    real_specificity = lm_readings.specificity

    def other_minus_own(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = real_specificity(*args, **kwargs)
        return {**out, "margin": -out["margin"]}

    # P8-specific's margin computed as the other corpus's R_cos minus the own one
    monkeypatch.setattr(lm_readings, "specificity", other_minus_own)
    problems = run_check(checks["specificity_margin"], _first_case("specificity_margin"))
    assert problems and "swapped sign or argument" in problems[0]
