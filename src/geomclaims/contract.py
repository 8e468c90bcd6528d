"""The study contract as code, in the manner of scikit-learn's ``check_estimator``: :func:`check_study`.

docs/STUDY_CONTRACT.md describes what a study owes the spine; this module checks it for any registered study
(in-tree or an installed plugin), without running its real experiments unless asked:

1. the spec loads and its module registers settings for ``smoke`` and ``ci`` (and every profile the spec lists);
2. the claims file loads through the strict schema and declares the spec's paper id;
3. every claim's experiment key belongs to the study and has a registered evidence function;
4. every claim can fail, judged by the real rule (``decision.decide``) on synthetic measurements on both sides:
   a measurement inside the paper condition that beats its control is the claim's success verdict, one outside
   the condition is not, and one inside the condition that the control matches (or, for a ``ci_above`` /
   ``ci_below`` control, that stays on the control's side) is not either. A claim with no control that can fail
   (``null: none`` without ``kind: verified``, or a ``ci_above``/``ci_below`` value the condition implies) is
   listed in ``ContractReport.no_control`` (the report counts it as ``no_control``, never as replicated); with
   ``strict=True`` (new studies, the demo) it is a contract failure;
5. the report section (if any) renders on synthetic results entries of every case;
   (and, between 4 and 5: every orientation check the study declares passes: its evidence function gives the known
   value on a known input and not on the input with two arguments swapped or a sign flipped; directional metrics no
   check guards are listed in ``ContractReport.no_orientation_check``, a failure with ``strict=True``;
   geomclaims.orientation)
6. with ``run_smoke=True``: every case is judged twice under the smoke profile on two empty stores and must give
   the same numbers (same seed -> same numbers). This trains the study's smoke models, so the unit tests run it
   only on the cheap demo and fixture studies; the in-tree studies get checks 1-5 (their smoke runs are exercised
   by tests/studies).

A failed check raises :class:`ContractError` listing every problem found (not just the first).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.claims import Claim, ClaimCase, PaperClaims, Verdict, load_all, load_claims
from geomclaims.decision import Decision, decide
from geomclaims.orientation import check_orientation
from geomclaims.paths import project_root
from geomclaims.plugin import StudySpec, get_spec
from geomclaims.registry import get_evidence_fn, get_section_fn, load_study, profiles_of, study_of

REQUIRED_PROFILES = ("smoke", "ci")
_N_MEASURED, _N_NULL = (
    5,
    40,
)  # synthetic seeds and null draws: enough for the Mann-Whitney test to be decisive


class ContractError(AssertionError):
    """A study breaks the contract; ``problems`` lists each violation, naming the claim or part."""

    def __init__(self, study: str, problems: list[str]):
        self.study, self.problems = study, problems
        super().__init__(
            f"study {study!r} breaks the study contract:\n" + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass
class ContractReport:
    """What :func:`check_study` checked: the study, its claim cases and the checks that ran."""

    study: str
    paper_id: str
    cases: int
    checks: list[str] = field(default_factory=list)
    no_control: list[str] = field(default_factory=list)  # claims without a control that can fail, and why
    # Directional (experiment, metric) pairs no orientation check guards (geomclaims.orientation).
    no_orientation_check: list[str] = field(default_factory=list)


def check_study(study: StudySpec | str, *, run_smoke: bool = False, strict: bool = False) -> ContractReport:
    """Check a registered study against the contract (module docstring); raises :class:`ContractError`."""
    spec = get_spec(study) if isinstance(study, str) else study
    problems: list[str] = []
    report = ContractReport(spec.name, spec.paper_id, 0)
    try:
        load_study(spec.name)
    except Exception as exc:  # the study's own import error is the finding
        raise ContractError(
            spec.name, [f"module {spec.module!r} failed to import: {type(exc).__name__}: {exc}"]
        ) from exc
    problems += _check_profiles(spec)
    report.checks.append("profiles")
    paper, why = _paper(spec)
    if paper is None:
        raise ContractError(spec.name, [*problems, why])
    report.checks.append("claims file")
    cases = paper.cases()
    report.cases = len(cases)
    for claim in paper.claims:
        problems += _check_wiring(spec, claim)
        failing, no_control = _check_can_fail(claim)
        problems += failing
        report.no_control += no_control
    if strict:
        problems += report.no_control
    report.checks += ["evidence functions", "controls can fail"]
    orientation_problems, report.no_orientation_check, n_checks = check_orientation(
        spec.name, spec.orientation, paper.claims
    )
    problems += orientation_problems
    if strict:
        problems += report.no_orientation_check
    report.checks.append(f"orientation ({n_checks} checks)")
    problems += _check_section(spec, cases)
    report.checks.append("report section")
    if run_smoke and not problems:
        problems += _check_determinism(spec, cases)
        report.checks.append("same seed, same numbers (smoke)")
    if problems:
        raise ContractError(spec.name, problems)
    return report


def _check_profiles(spec: StudySpec) -> list[str]:
    have = profiles_of(spec.name)
    wanted = dict.fromkeys([*REQUIRED_PROFILES, *spec.profiles])
    return [f"no settings registered for profile {p!r} (register_profiles)" for p in wanted if p not in have]


def _paper(spec: StudySpec) -> tuple[PaperClaims | None, str]:
    path = spec.claims_path(project_root())
    try:
        paper = load_claims(path) if path is not None else load_all().get(spec.paper_id)
    except (ValueError, OSError) as exc:  # ClaimFileError names file, claim and field
        return None, f"claims file does not load: {exc}"
    if paper is None:
        return None, f"no claims file declares paper id {spec.paper_id!r}"
    if paper.paper_id != spec.paper_id:
        return None, f"{paper.path} declares paper id {paper.paper_id!r}, the spec {spec.paper_id!r}"
    if not paper.claims:
        return None, f"{paper.path} has no claims"
    return paper, ""


def _check_wiring(spec: StudySpec, claim: Claim) -> list[str]:
    if study_of(claim.experiment) != spec.name:
        return [f"claim {claim.id}: experiment {claim.experiment!r} is not one of study {spec.name!r}'s"]
    try:
        get_evidence_fn(claim.experiment)
    except KeyError as exc:
        return [f"claim {claim.id}: {exc.args[0]}"]
    return []


# ---- synthetic measurements on both sides of the rule ----------------------------------------------------


def _interval(claim: Claim) -> tuple[float, float]:
    """The values the paper condition accepts, as [lo, hi] (infinite ends for one-sided conditions)."""
    e = claim.expect
    if e.op == "between":
        lo, hi = e.value  # type: ignore[misc]
        return float(lo), float(hi)
    if e.op == "approx":
        tol = max(e.abs or 0.0, (e.rel or 0.0) * abs(float(e.value)))  # type: ignore[arg-type]
        return float(e.value) - tol, float(e.value) + tol  # type: ignore[arg-type]
    c = float(e.value)  # type: ignore[arg-type]
    return (c, math.inf) if e.op in (">", ">=") else (-math.inf, c)


def _point(lo: float, hi: float) -> tuple[float, float] | None:
    """A point strictly inside (lo, hi) and a spread that keeps a few samples around it inside; None if empty."""
    if not lo < hi:
        return None
    if math.isinf(lo) and math.isinf(hi):
        return 0.0, 0.1
    if math.isinf(hi):
        w = max(1.0, abs(lo))
        return lo + w, w / 50
    if math.isinf(lo):
        w = max(1.0, abs(hi))
        return hi - w, w / 50
    return (lo + hi) / 2, (hi - lo) / 50


def _outside(lo: float, hi: float) -> float:
    if not math.isinf(hi):
        return hi + max(1.0, abs(hi), hi - lo if not math.isinf(lo) else 0.0)
    return lo - max(1.0, abs(lo))


def _judge(claim: Claim, x: float, spread: float, null_at: float | None) -> Decision:
    n = 1 if claim.aggregate == "single" else _N_MEASURED
    measured = x + spread * (np.arange(n) - (n - 1) / 2)
    null = None
    if claim.null is not None and claim.null.rule in ("below_quantile", "above_quantile"):
        null = (x if null_at is None else null_at) + spread * (np.arange(_N_NULL) - (_N_NULL - 1) / 2) / 4
    return decide(
        measured, claim.expect, null, claim.null, how=claim.aggregate, kind=claim.kind, claim_id=claim.id
    )


class _Impossible(Exception):
    """No measurement could ever give the claim its success verdict."""


def _synthetic(claim: Claim) -> tuple[dict[str, Decision], list[str]]:
    """Decisions on synthetic samples: 'pass' (inside the condition, beating the control), 'outside' (violating
    the condition) and 'control' (inside the condition, the control not beaten); problems when one cannot exist."""
    lo, hi = _interval(claim)
    rule = claim.null
    out: dict[str, Decision] = {}
    if rule is None:
        if claim.kind != "verified":
            return {}, [f"claim {claim.id}: no control (null: none) and not kind: verified"]
        inside = _point(lo, hi)
        assert inside is not None  # the schema rejects an empty condition
        out["pass"] = _judge(claim, *inside, None)
        out["outside"] = _judge(claim, _outside(lo, hi), inside[1], None)
        return out, []
    if rule.rule in ("ci_above", "ci_below"):
        v = float(rule.value)  # type: ignore[arg-type]
        beaten = (max(lo, v), hi) if rule.rule == "ci_above" else (lo, min(hi, v))
        kept = (lo, min(hi, v)) if rule.rule == "ci_above" else (max(lo, v), hi)
        inside, control = _point(*beaten), _point(*kept)
        if inside is None:
            raise _Impossible(
                f"claim {claim.id}: no value meets the condition and beats control {rule.name!r}"
            )
        if control is None:
            return {}, [
                f"claim {claim.id}: control {rule.name!r} ({rule.rule} {v:g}) is implied by the paper condition "
                f"{claim.expect.describe()}; it can never fail"
            ]
        out["pass"] = _judge(claim, *inside, None)
        out["control"] = _judge(claim, *control, None)
    else:
        inside = _point(lo, hi)
        assert inside is not None
        x, spread = inside
        far = spread * 1000 + 1.0
        beaten_at = x - far if rule.rule == "above_quantile" else x + far
        out["pass"] = _judge(claim, x, spread, beaten_at)
        out["control"] = _judge(claim, x, spread, x)  # the control reads the same values: it is not beaten
    spread = _point(lo, hi)[1]  # type: ignore[index]  # the schema rejects an empty condition
    out["outside"] = _judge(claim, _outside(lo, hi), spread, None)  # a quantile null reads the same values
    return out, []


def _check_can_fail(claim: Claim) -> tuple[list[str], list[str]]:
    """(contract failures, no-control findings) of one claim on synthetic measurements."""
    try:
        decisions, no_control = _synthetic(claim)
    except _Impossible as exc:
        return [str(exc)], []
    problems: list[str] = []
    if not decisions:
        return problems, no_control
    success = claim.success
    if decisions["pass"].verdict != success:
        problems.append(
            f"claim {claim.id}: a synthetic measurement inside {claim.expect.describe()} that beats its control "
            f"reads {decisions['pass'].verdict.value}, not {success.value}: {decisions['pass'].explanation}"
        )
    for side, what in (("outside", "outside the paper condition"), ("control", "that its control matches")):
        if side in decisions and decisions[side].verdict == success:
            problems.append(f"claim {claim.id}: a synthetic measurement {what} still reads {success.value}")
    return problems, no_control


# ---- report section and determinism ------------------------------------------------------------------------


def synthetic_entries(cases: list[ClaimCase], profile: str = "ci") -> list[dict[str, Any]]:
    """results.json entries for ``cases`` judged on synthetic samples (no details, as an untestable entry has)."""
    from geomclaims.runner import case_fields, decision_entry

    entries = []
    for case in cases:
        try:
            decisions, _ = _synthetic(case.claim)
        except _Impossible:
            decisions = {}
        entry = case_fields(case, profile)
        if "pass" in decisions:
            entry.update(decision_entry(decisions["pass"], case.claim.null_reason))
        else:
            entry.update(verdict=Verdict.UNTESTABLE.value, measured=None, null=None, explanation="synthetic")
        entry.update(details={}, notes=[], preconditions=[], wall_s=0.0)
        entries.append(entry)
    return entries


def _check_section(spec: StudySpec, cases: list[ClaimCase]) -> list[str]:
    fn = get_section_fn(spec.name)
    if fn is None:
        return []
    with tempfile.TemporaryDirectory(prefix="geomclaims-contract-") as tmp:
        try:
            text = fn(synthetic_entries(cases), Path(tmp))
        except Exception as exc:  # the section's own failure is the finding
            return [f"report section fails on synthetic entries: {type(exc).__name__}: {exc}"]
    return [] if isinstance(text, str) else [f"report section returned {type(text).__name__}, not markdown"]


def _check_determinism(spec: StudySpec, cases: list[ClaimCase]) -> list[str]:
    from geomclaims.runner import Session
    from geomclaims.store import Store

    runs = []
    for _ in range(2):
        with tempfile.TemporaryDirectory(prefix="geomclaims-contract-") as tmp:
            session = Session(profile="smoke", store=Store(tmp), progress=False)
            runs.append({c.case_id: _numbers(session.evaluate(c)) for c in cases})
    return [
        f"case {cid}: the same seeds gave different numbers in two smoke runs ({runs[0][cid]} vs {runs[1][cid]})"
        for cid in runs[0]
        if runs[0][cid] != runs[1][cid]
    ]


def _numbers(entry: dict[str, Any]) -> tuple[Any, ...]:
    measured = (entry.get("measured") or {}).get("samples")
    null = (entry.get("null") or {}).get("samples")
    return entry["verdict"], measured, null
