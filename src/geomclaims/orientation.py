"""Orientation checks: does an evidence function measure the claim the right way round? (the study contract, item 7)

A swapped sign or argument is the bug a claim's threshold and control cannot catch: ``a - b`` computed as ``b - a``,
the trained run read where its control was meant, a correlation with its sign flipped. Each such bug turns a
replication into a failure or the reverse while every number still looks plausible. A study therefore declares, for
the directional metrics its claims judge, :class:`OrientationCheck` s: a known input on which the evidence function
(or the metric reading it calls) must give a known value, computed independently, and the same input with two
arguments exchanged or a sign flipped, on which it must not. The contract (:func:`check_orientation`) runs every
declared check and lists the directional (experiment, metric) pairs no check covers.

A study declares its checks in a module named by ``StudySpec.orientation`` holding ``CHECKS``; the in-tree studies
keep it in ``orientation.py`` beside their evidence code (not part of the study's code version: nothing there is
stored as a result).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from geomclaims.claims import Claim, ClaimCase

#: Conditions whose direction matters: a swapped sign or argument moves a value across them.
DIRECTIONAL_OPS = frozenset({">", ">=", "<", "<="})


@dataclass(frozen=True)
class OrientationCheck:
    """One orientation check of an evidence function.

    experiment / metric: the claim experiment key and metric it guards.
    what: one line saying which swap it would catch (shown when it fails).
    measure: ``measure(case, swapped)`` -> the metric on the known input (``swapped=False``) or on the same input
        with two arguments exchanged or a sign flipped (``swapped=True``); ``case`` is a real claim case of the
        study with this experiment and metric (its params and expect as the claims file has them). Typically the
        median of ``Evidence.measured`` of the study's evidence function called on :class:`CannedRuns`.
    expected: the value on the known input, computed independently of the code under test (closed form or by hand).
    atol: how close ``measure(False)`` must come to ``expected``; ``measure(True)`` must be further away than this.
    """

    experiment: str
    metric: str
    what: str
    measure: Callable[[ClaimCase, bool], float]
    expected: float
    atol: float = 1e-6


class CannedRuns:
    """A RunContext stand-in for orientation checks: ``run(name, config, seed, fn)`` returns ``serve(name, config,
    seed)`` (a synthetic result chosen by what the evidence function asked for) and never runs ``fn``."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        serve: Callable[[str, Mapping[str, Any], int], Any],
        device: str = "cpu",
    ) -> None:
        self.settings, self.serve, self.device = dict(settings), serve, device
        self.asked: list[tuple[str, dict[str, Any], int]] = []

    def run(self, name: str, config: Mapping[str, Any], seed: int, fn: Any = None) -> Any:
        self.asked.append((name, dict(config), int(seed)))
        return self.serve(name, config, int(seed))


def median_measured(evidence: Any) -> float:
    """The median of an Evidence's ``measured`` samples (the value an orientation check compares)."""
    return float(np.median(np.asarray(evidence.measured, dtype=float)))


def load_checks(module: str) -> tuple[OrientationCheck, ...]:
    """The ``CHECKS`` of a study's orientation module (raises ValueError naming the module and what is wrong)."""
    mod = importlib.import_module(module)
    checks = getattr(mod, "CHECKS", None)
    if checks is None:
        raise ValueError(f"orientation module {module!r} defines no CHECKS")
    checks = tuple(checks)
    bad = [c for c in checks if not isinstance(c, OrientationCheck)]
    if bad:
        raise ValueError(
            f"orientation module {module!r}: CHECKS holds non-OrientationCheck items {bad[:3]!r}"
        )
    return checks


def directional_metrics(claims: Iterable[Claim]) -> set[tuple[str, str]]:
    """(experiment, metric) pairs of the claims whose condition has a direction (``verified`` identities excluded:
    their orientation is the identity's own check)."""
    return {
        (c.experiment, c.metric)
        for c in claims
        if c.kind != "verified" and c.expect is not None and c.expect.op in DIRECTIONAL_OPS
    }


def run_check(check: OrientationCheck, case: ClaimCase) -> list[str]:
    """Problems of one check on ``case`` (empty when the function is the right way round and the check can see a
    swap)."""
    label = f"orientation check {check.experiment}:{check.metric} ({check.what})"
    try:
        right, swapped = float(check.measure(case, False)), float(check.measure(case, True))
    except Exception as exc:  # the evidence function's own error is the finding
        return [f"{label}: raised {type(exc).__name__}: {exc}"]
    if not (math.isfinite(right) and math.isfinite(swapped)):
        return [f"{label}: non-finite value (known input {right}, swapped {swapped})"]
    problems = []
    if abs(right - check.expected) > check.atol:
        problems.append(
            f"{label}: the known input gives {right:.6g}, expected {check.expected:.6g} (swapped sign or argument?)"
        )
    if abs(swapped - check.expected) <= check.atol:
        problems.append(
            f"{label}: the swapped input gives the expected value {check.expected:.6g} too, so this check cannot "
            "see a swap (pick an input whose swap changes the value)"
        )
    return problems


def check_orientation(study: str, module: str, claims: Iterable[Claim]) -> tuple[list[str], list[str], int]:
    """(problems, uncovered, n_checks): run every declared check of ``study``; ``uncovered`` names each directional
    (experiment, metric) pair of its claims that no check guards."""
    claims = list(claims)
    checks: tuple[OrientationCheck, ...] = ()
    problems: list[str] = []
    if module:
        try:
            checks = load_checks(module)
        except Exception as exc:
            return [f"orientation checks: {type(exc).__name__}: {exc}"], [], 0
    first_case: dict[tuple[str, str], ClaimCase] = {}
    for claim in claims:
        for case in claim.cases():
            first_case.setdefault((claim.experiment, claim.metric), case)
    for check in checks:
        case = first_case.get((check.experiment, check.metric))
        if case is None:
            problems.append(
                f"orientation check {check.experiment}:{check.metric}: no claim of {study!r} has this experiment "
                "and metric"
            )
            continue
        problems += run_check(check, case)
    covered = {(c.experiment, c.metric) for c in checks}
    uncovered = [
        f"{exp}:{metric}: no orientation check (a swapped sign or argument would go unnoticed)"
        for exp, metric in sorted(directional_metrics(claims) - covered)
    ]
    return problems, uncovered, len(checks)
