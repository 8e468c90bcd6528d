"""The execution study's orientation checks (geomclaims.studies.execution.orientation): they pass on the real
evidence functions, guard every directional metric of the claims, rest on constructions whose r90 / participation
ratio / early capture are what the expected values assume, and catch an evidence function the wrong way round."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from geomclaims.claims import load_all
from geomclaims.metrics import effective_rank, participation_ratio
from geomclaims.orientation import check_orientation, directional_metrics, run_check
from geomclaims.registry import Evidence
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution import orientation as O

MODULE = "geomclaims.studies.execution.orientation"


def _claims() -> list[Any]:
    return load_all()["execution_manifolds"].claims


def test_execution_checks_pass_and_guard_every_directional_metric() -> None:
    claims = _claims()
    problems, uncovered, n = check_orientation("execution", MODULE, claims)
    assert problems == []
    assert uncovered == [] and n == len(O.CHECKS)
    assert directional_metrics(claims) <= {(c.experiment, c.metric) for c in O.CHECKS}


@pytest.mark.parametrize("k", [1, 2, 4, 6, 9])
def test_isotropic_trajectories_have_r90_and_pr_k(k: int) -> None:
    # The expected values assume this: k equal variances give r90 = k (for k < 10) and participation ratio k.
    traj = O.isotropic(O.FRAME[:k], seed=k)
    assert effective_rank(traj, 0.9) == k
    assert participation_ratio(traj) == pytest.approx(k, abs=1e-9)
    assert A.captured_share(traj, O.FRAME[:k]) == pytest.approx(1.0, abs=1e-12)


def test_early_settled_construction() -> None:
    traj = O.early_settled(seed=3)
    assert effective_rank(traj, 0.9) == 2
    win = A.early(traj)
    assert win.shape[0] == O.EARLY_WINDOW and np.allclose(win @ O.FRAME[2], 0.0)
    # The early window spans exactly {f0, f1}, so the capture is that plane's variance share, 2 / 2.1.
    assert A.captured_share(traj, O.FRAME[:2]) == pytest.approx(2 / 2.1, abs=1e-12)


def _check(metric: str) -> Any:
    return next(c for c in O.CHECKS if c.metric == metric)


def _case(check: Any) -> Any:
    claim = next(c for c in _claims() if (c.experiment, c.metric) == (check.experiment, check.metric))
    return next(iter(claim.cases()))


def _null_as_measurement(fn: Any) -> Any:
    """``fn`` reading its control where the measurement was meant."""

    def wrong(case: Any, ctx: Any) -> Evidence:
        ev = fn(case, ctx)
        return Evidence(list(ev.null), ev.measured, ev.details, ev.notes, preconditions=ev.preconditions)

    return wrong


def _inverted(fn: Any) -> Any:
    """``fn`` with its ratio read upside down (start / end where end / start was meant)."""

    def wrong(case: Any, ctx: Any) -> Evidence:
        ev = fn(case, ctx)
        return Evidence([1 / float(v) for v in ev.measured], ev.null, ev.details, ev.notes)

    return wrong


def test_a_wrong_way_round_evidence_function_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(O, "entropy_evidence", _null_as_measurement(O.entropy_evidence))
    monkeypatch.setattr(O, "commutator_evidence", _inverted(O.commutator_evidence))
    for metric in ("entropy_end_over_start", "commutator_persistence"):
        check = _check(metric)
        problems = run_check(check, _case(check))
        assert any("swapped sign or argument?" in p for p in problems), problems
