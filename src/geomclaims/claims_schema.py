"""The claim schema: what a parsed claim is (the dataclasses a claims file loads into) and the names of the verdicts.

:mod:`geomclaims.claims` loads YAML files into these objects (strictly) and re-exports every name defined here, so
``from geomclaims.claims import Claim`` keeps working. The verdict rule that reads them is in
:mod:`geomclaims.decision`. A NaN or inf measurement raises :class:`NonFiniteEvidence`: a non-finite number never
passes.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILES: tuple[str, ...] = ("smoke", "ci", "full")
AGGREGATES: tuple[str, ...] = ("median_over_seeds", "mean_over_seeds", "single")
OPS: tuple[str, ...] = ("<", "<=", ">", ">=", "between", "approx")
NULL_RULES: tuple[str, ...] = ("below_quantile", "above_quantile", "ci_above", "ci_below")
KINDS: tuple[str, ...] = ("paper", "extension", "verified")
REQUIRE_OPS: tuple[str, ...] = ("<", "<=", ">", ">=", "between")
# An expectation, not a verdict: the case has not run under that profile yet (e.g. a model whose full run is still
# to come), so no verdict is expected of it. Its item passes whatever it reads and is listed as pending; it never
# counts as "as expected" or as unexpected.
PENDING = "pending"


class Verdict(str, enum.Enum):
    """Contract v2 verdicts (docs/STUDY_CONTRACT.md); the order is the report's column order."""

    REPLICATED = "replicated"
    VERIFIED = "verified"
    TRIVIAL = "trivial"
    INCONCLUSIVE = "inconclusive"
    NOT_REPLICATED = "not_replicated"
    UNTESTABLE = "untestable"
    NOT_RUN = "not_run"

    def __str__(self) -> str:
        return self.value


class ClaimFileError(ValueError):
    """A claims file is malformed. The message names file, claim id and field."""

    def __init__(self, path: str | Path, claim_id: str | None, field_name: str | None, problem: str):
        self.path, self.claim_id, self.field_name, self.problem = str(path), claim_id, field_name, problem
        where = str(path)
        if claim_id:
            where += f" [claim {claim_id}]"
        if field_name:
            where += f" field '{field_name}'"
        super().__init__(f"{where}: {problem}")


class NonFiniteEvidence(ValueError):
    """Measured or null samples contain NaN or inf."""


# ----------------------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """The paper's condition on the aggregate. ``value`` is a number, or [lo, hi] for ``between``."""

    op: str
    value: float | tuple[float, float]
    rel: float | None = None  # approx only
    abs: float | None = None  # approx only

    def holds(self, x: float) -> bool:
        if not math.isfinite(x):
            raise NonFiniteEvidence(f"cannot test a non-finite value {x!r} against {self.describe()}")
        v = self.value
        if self.op == "<":
            return x < v  # type: ignore[operator]
        if self.op == "<=":
            return x <= v  # type: ignore[operator]
        if self.op == ">":
            return x > v  # type: ignore[operator]
        if self.op == ">=":
            return x >= v  # type: ignore[operator]
        if self.op == "between":
            lo, hi = v  # type: ignore[misc]
            return lo <= x <= hi
        if self.op == "approx":
            tol = max(self.abs or 0.0, (self.rel or 0.0) * abs(float(v)))  # type: ignore[arg-type]
            return abs(x - float(v)) <= tol  # type: ignore[arg-type]
        raise AssertionError(self.op)  # unreachable: validated at load time

    def describe(self) -> str:
        if self.op == "between":
            lo, hi = self.value  # type: ignore[misc]
            return f"in [{lo:g}, {hi:g}]"
        if self.op == "approx":
            parts = [f"rel {self.rel:g}" if self.rel else "", f"abs {self.abs:g}" if self.abs else ""]
            return f"≈ {self.value:g} ({', '.join(p for p in parts if p)})"
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class NullSpec:
    """The control a measurement must beat.

    ``below_quantile`` / ``above_quantile``: the measured aggregate must lie below the ``q`` quantile (or above the
    ``q`` quantile) of the null samples. ``ci_above`` / ``ci_below``: no null samples; the bootstrap CI of the
    measured aggregate must lie entirely above (below) ``value`` — the control for "seeds CI" claims.
    """

    name: str
    rule: str
    q: float | None = None
    value: float | None = None
    description: str = ""


@dataclass(frozen=True)
class Requirement:
    """A validity precondition: ``Evidence.preconditions[metric] <op> value`` must hold for the claim to be judged.

    Example: a trained model's final accuracy ``>= 0.9`` before its geometry is read as the paper's mechanism.
    """

    metric: str
    op: str
    value: float | tuple[float, float]
    why: str

    def holds(self, x: float) -> bool:
        if not math.isfinite(x):
            raise NonFiniteEvidence(f"precondition {self.metric}: non-finite value {x!r}")
        return Expect(op=self.op, value=self.value).holds(x)

    def describe(self) -> str:
        return f"{self.metric} {Expect(op=self.op, value=self.value).describe()}"


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    section: str
    statement: str
    experiment: str
    metric: str
    expect: Expect
    null: NullSpec | None
    null_reason: str | None
    tolerance: Mapping[str, float]
    expected_verdict: Mapping[str, Verdict]
    params: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    aggregate: str = "median_over_seeds"
    paper_value: str = ""
    rationale: str = ""
    expected_reason: str = ""
    variant: str | None = None
    markers: tuple[str, ...] = ()
    # Per-case exceptions to expected_verdict, keyed by the case suffix (the part of the case id in brackets),
    # for claims whose cases honestly differ (e.g. one model replicates, another is trivial).
    expected_by_case: Mapping[str, Mapping[str, Verdict]] = field(default_factory=dict)
    # Contract v2: what kind of statement this is, validity preconditions, measurement sharing, why one sample.
    kind: str = "paper"
    requires: tuple[Requirement, ...] = ()
    same_measurement_as: str | None = None
    single_reason: str | None = None
    # (case suffix, profile) pairs whose expectation is PENDING; suffix "" = the claim's own expected_verdict.
    pending: frozenset[tuple[str, str]] = frozenset()

    @property
    def success(self) -> Verdict:
        """The verdict that counts as success: ``verified`` for identity/estimator checks, else ``replicated``."""
        return Verdict.VERIFIED if self.kind == "verified" else Verdict.REPLICATED

    def cases(self) -> list[ClaimCase]:
        """One case per combination of the params axes (a single case when there are none)."""
        if not self.params:
            return [ClaimCase(self, {})]
        axes = list(self.params)
        return [
            ClaimCase(self, dict(zip(axes, combo, strict=True)))
            for combo in itertools.product(*self.params.values())
        ]

    def is_pending(self, profile: str, case_suffix: str | None = None) -> bool:
        """True if no verdict is expected yet under ``profile`` (a per-case entry wins over the claim's)."""
        if case_suffix is not None:
            if profile in self.expected_by_case.get(case_suffix, {}):
                return False
            if (case_suffix, profile) in self.pending:
                return True
        return ("", profile) in self.pending

    def expected(self, profile: str, case_suffix: str | None = None) -> Verdict:
        """The expected verdict; a pending expectation has none (ask :meth:`is_pending` or :meth:`expectation`)."""
        if self.is_pending(profile, case_suffix):
            raise ValueError(
                f"claim {self.id}{f'[{case_suffix}]' if case_suffix else ''}: the {profile} expectation is "
                f"{PENDING!r}; no verdict is expected yet"
            )
        if case_suffix is not None and profile in self.expected_by_case.get(case_suffix, {}):
            return self.expected_by_case[case_suffix][profile]
        return self.expected_verdict.get(profile, self.success)

    def expectation(self, profile: str, case_suffix: str | None = None) -> str:
        """The expected verdict's name, or ``PENDING``: what results files and reports record."""
        if self.is_pending(profile, case_suffix):
            return PENDING
        return self.expected(profile, case_suffix).value


@dataclass(frozen=True)
class ClaimCase:
    """One parametrized instance of a claim: the unit that gets a verdict and a pytest item."""

    claim: Claim
    params: Mapping[str, Any]

    @property
    def suffix(self) -> str:
        """The parametrization part of the id: ``"minilm-l6-text"`` for ``S3[minilm-l6-text]``."""
        return "-".join(f"{v}" for v in self.params.values())

    @property
    def case_id(self) -> str:
        return f"{self.claim.id}[{self.suffix}]" if self.params else self.claim.id

    def expected(self, profile: str) -> Verdict:
        """Expected verdict of this case under ``profile`` (a per-case exception wins over the claim's)."""
        return self.claim.expected(profile, self.suffix if self.params else None)

    def is_pending(self, profile: str) -> bool:
        return self.claim.is_pending(profile, self.suffix if self.params else None)

    def expectation(self, profile: str) -> str:
        return self.claim.expectation(profile, self.suffix if self.params else None)

    def __repr__(self) -> str:
        return f"ClaimCase({self.case_id})"


@dataclass(frozen=True)
class PaperClaims:
    paper_id: str
    title: str
    source: str
    version: int
    claims: tuple[Claim, ...]
    path: Path
    text_vs_code: tuple[Mapping[str, str], ...] = ()

    def cases(self) -> list[ClaimCase]:
        return [case for claim in self.claims for case in claim.cases()]

    def get(self, claim_id: str) -> Claim:
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(f"{self.path}: no claim with id {claim_id!r}")


def differs_from_expected(entry: Mapping[str, Any]) -> bool:
    """A results entry whose verdict is not the one expected of it (a pending or absent expectation never is)."""
    expected = entry.get("expected_verdict")
    return expected not in (None, PENDING) and entry["verdict"] != expected
