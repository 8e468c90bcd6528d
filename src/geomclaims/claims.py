"""Claim schema, strict YAML loading and the verdict rule.

A claims file (``claims/<paper>.yaml``) lists the claims of one paper. Each claim names the registered
experiment that produces its evidence, the metric read from it, the paper's condition (``expect``), the null
or control the measurement must beat, the drift tolerance of the regression gate, and the verdict we expect
per profile. Loading is strict: an unknown key, a missing field, a bad operator or type, or a duplicate id
raises :class:`ClaimFileError` naming the file, the claim id and the field.

``decide()`` turns samples (one per seed, usually) into a :class:`Decision`:

* ``not_replicated`` — the aggregate of the measured samples fails the paper's condition;
* ``trivial`` — the paper's condition holds but the null does not lose: either the null reliably satisfies the
  paper condition too (at least ``NULL_SATISFIES_FRACTION`` of its draws do; e.g. a random subspace's projected
  ratio is ~sqrt(k/D) ~ 0), or the measurement is not separated from the null by the claim's rule;
* ``replicated`` — the paper's condition holds and the null is beaten;
* ``untestable`` — set by the caller when the evidence cannot be produced (never by ``decide``).

NaN or inf anywhere in the samples raises :class:`NonFiniteEvidence`: a non-finite number never passes.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from geomclaims.markers import CLAIM_MARKERS

PROFILES: tuple[str, ...] = ("smoke", "ci", "full")
AGGREGATES: tuple[str, ...] = ("median_over_seeds", "mean_over_seeds", "single")
OPS: tuple[str, ...] = ("<", "<=", ">", ">=", "between", "approx")
NULL_RULES: tuple[str, ...] = ("below_quantile", "above_quantile", "ci_above", "ci_below")
# A null "satisfies the paper condition" when at least this share of its draws does. Not 0.5: a null centred on
# the paper's threshold (a permutation null of a correlation "> 0") would flip between trivial and not on noise.
NULL_SATISFIES_FRACTION = 0.9


class Verdict(str, enum.Enum):
    REPLICATED = "replicated"
    TRIVIAL = "trivial"
    NOT_REPLICATED = "not_replicated"
    UNTESTABLE = "untestable"

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

    def cases(self) -> list[ClaimCase]:
        """One case per combination of the params axes (a single case when there are none)."""
        if not self.params:
            return [ClaimCase(self, {})]
        axes = list(self.params)
        return [
            ClaimCase(self, dict(zip(axes, combo, strict=True)))
            for combo in itertools.product(*self.params.values())
        ]

    def expected(self, profile: str, case_suffix: str | None = None) -> Verdict:
        if case_suffix is not None and profile in self.expected_by_case.get(case_suffix, {}):
            return self.expected_by_case[case_suffix][profile]
        return self.expected_verdict.get(profile, Verdict.REPLICATED)


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


# ----------------------------------------------------------------------------------------------------------
# Strict loading
# ----------------------------------------------------------------------------------------------------------


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int, first_line: int):
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"duplicate key {key!r} at line {line} (first at line {first_line})")


class _ClaimsLoader(yaml.SafeLoader):
    """SafeLoader for claims files: a repeated mapping key is an error (plain YAML keeps the last one silently, so
    a second ``expect:`` would change the paper condition), and ``5e-1`` is a float (YAML 1.1 wants a dot)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<:` merges may override on purpose
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports an unhashable key
                line = key_node.start_mark.line + 1
                if key in first_line:
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
                    raise _DuplicateKey(shown, line, first_line[key])
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


_ClaimsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


_TOP_KEYS = {"paper": True, "version": True, "claims": True, "text_vs_code": False}
_PAPER_KEYS = {"id": True, "title": True, "source": True}
_CLAIM_KEYS = {
    "id": True,
    "section": True,
    "statement": True,
    "experiment": True,
    "metric": True,
    "expect": True,
    "null": True,
    "tolerance": True,
    "expected_verdict": True,
    "params": False,
    "aggregate": False,
    "paper_value": False,
    "rationale": False,
    "expected_reason": False,
    "variant": False,
    "markers": False,
    "expected_by_case": False,
}
_EXPECT_KEYS = {"op": True, "value": True, "rel": False, "abs": False}
_NULL_KEYS = {"name": True, "rule": True, "q": False, "value": False, "description": False, "reason": False}
_TEXT_VS_CODE_KEYS = {"topic": True, "paper_text": True, "released_code": True, "tested_by": True}


def _check_keys(obj: Any, spec: Mapping[str, bool], path: Path, cid: str | None, where: str) -> dict:
    if not isinstance(obj, Mapping):
        raise ClaimFileError(path, cid, where, f"expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(spec))
    if unknown:
        raise ClaimFileError(path, cid, f"{where}.{unknown[0]}" if where else unknown[0], "unknown key")
    for key, required in spec.items():
        if required and key not in obj:
            raise ClaimFileError(path, cid, f"{where}.{key}" if where else key, "missing required field")
    return dict(obj)


def _number(x: Any, path: Path, cid: str | None, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ClaimFileError(path, cid, where, f"expected a number, got {x!r}")
    if not math.isfinite(float(x)):
        raise ClaimFileError(path, cid, where, f"expected a finite number, got {x!r}")
    return float(x)


def _string(x: Any, path: Path, cid: str | None, where: str) -> str:
    if not isinstance(x, str) or not x.strip():
        raise ClaimFileError(path, cid, where, f"expected a non-empty string, got {x!r}")
    return x


def _parse_expect(obj: Any, path: Path, cid: str) -> Expect:
    d = _check_keys(obj, _EXPECT_KEYS, path, cid, "expect")
    op = d["op"]
    if op not in OPS:
        raise ClaimFileError(path, cid, "expect.op", f"unknown operator {op!r}; use one of {list(OPS)}")
    if op == "between":
        v = d["value"]
        if not isinstance(v, list) or len(v) != 2:
            raise ClaimFileError(path, cid, "expect.value", f"'between' needs [lo, hi], got {v!r}")
        lo, hi = (_number(x, path, cid, "expect.value") for x in v)
        if lo > hi:
            raise ClaimFileError(path, cid, "expect.value", f"lo {lo} > hi {hi}")
        value: float | tuple[float, float] = (lo, hi)
    else:
        value = _number(d["value"], path, cid, "expect.value")
    rel = _number(d["rel"], path, cid, "expect.rel") if "rel" in d else None
    abs_ = _number(d["abs"], path, cid, "expect.abs") if "abs" in d else None
    if op == "approx" and rel is None and abs_ is None:
        raise ClaimFileError(path, cid, "expect", "'approx' needs rel and/or abs")
    for name, tol in (("rel", rel), ("abs", abs_)):
        if op == "approx" and tol is not None and tol <= 0:
            raise ClaimFileError(
                path, cid, f"expect.{name}", f"must be > 0, got {tol:g} (omit it to use only the other)"
            )
    if op != "approx" and (rel is not None or abs_ is not None):
        raise ClaimFileError(
            path, cid, "expect.rel" if rel is not None else "expect.abs", f"only for 'approx', not {op!r}"
        )
    return Expect(op=op, value=value, rel=rel, abs=abs_)


def _parse_null(obj: Any, path: Path, cid: str) -> tuple[NullSpec | None, str | None]:
    if obj == "none" or obj is None:
        raise ClaimFileError(path, cid, "null", "a claim without a null needs {name: none, reason: ...}")
    if isinstance(obj, Mapping) and obj.get("name") == "none":
        d = _check_keys(obj, {"name": True, "reason": True}, path, cid, "null")
        return None, _string(d["reason"], path, cid, "null.reason")
    d = _check_keys(obj, _NULL_KEYS, path, cid, "null")
    rule = d["rule"]
    if rule not in NULL_RULES:
        raise ClaimFileError(path, cid, "null.rule", f"unknown rule {rule!r}; use one of {list(NULL_RULES)}")
    q = value = None
    if rule in ("below_quantile", "above_quantile"):
        if "q" not in d:
            raise ClaimFileError(path, cid, "null.q", f"rule {rule!r} needs q")
        q = _number(d["q"], path, cid, "null.q")
        if not 0.0 < q < 1.0:
            raise ClaimFileError(path, cid, "null.q", f"q must be in (0, 1), got {q}")
    else:
        if "value" not in d:
            raise ClaimFileError(path, cid, "null.value", f"rule {rule!r} needs value")
        value = _number(d["value"], path, cid, "null.value")
    if "reason" in d:
        raise ClaimFileError(path, cid, "null.reason", "only a null named 'none' takes a reason")
    return (
        NullSpec(
            name=_string(d["name"], path, cid, "null.name"),
            rule=rule,
            q=q,
            value=value,
            description=str(d.get("description", "")),
        ),
        None,
    )


def _parse_params(obj: Any, path: Path, cid: str) -> dict[str, tuple[Any, ...]]:
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise ClaimFileError(path, cid, "params", f"expected a mapping of axis -> list, got {obj!r}")
    out: dict[str, tuple[Any, ...]] = {}
    for axis, values in obj.items():
        if not isinstance(values, list) or not values:
            raise ClaimFileError(path, cid, f"params.{axis}", f"expected a non-empty list, got {values!r}")
        for v in values:
            if not isinstance(v, (str, int, float, bool)):
                raise ClaimFileError(path, cid, f"params.{axis}", f"values must be scalars, got {v!r}")
        if len(set(map(str, values))) != len(values):
            raise ClaimFileError(path, cid, f"params.{axis}", f"duplicate values in {values!r}")
        out[str(axis)] = tuple(values)
    return out


def _parse_claim(obj: Any, path: Path, paper_id: str, index: int) -> Claim:
    cid = obj.get("id") if isinstance(obj, Mapping) else None
    cid = cid if isinstance(cid, str) else f"#{index}"
    if isinstance(obj, Mapping) and None in obj:
        # YAML reads a bare `null:` key as None; the schema's field is the string "null".
        obj = {("null" if k is None else k): v for k, v in obj.items()}
    d = _check_keys(obj, _CLAIM_KEYS, path, cid, "")
    _string(d["id"], path, cid, "id")
    for key in ("section", "statement", "experiment", "metric"):
        _string(d[key], path, cid, key)
    if "/" not in d["experiment"]:
        raise ClaimFileError(path, cid, "experiment", f"expected 'study/name', got {d['experiment']!r}")
    expect = _parse_expect(d["expect"], path, cid)
    null, null_reason = _parse_null(d["null"], path, cid)

    tol = d["tolerance"]
    if not isinstance(tol, Mapping) or not tol or set(tol) - {"atol", "rtol"}:
        raise ClaimFileError(path, cid, "tolerance", f"expected {{atol: x}} and/or {{rtol: y}}, got {tol!r}")
    tolerance = {k: _number(v, path, cid, f"tolerance.{k}") for k, v in tol.items()}
    if any(v < 0 for v in tolerance.values()):
        raise ClaimFileError(path, cid, "tolerance", f"tolerances must be >= 0, got {tol!r}")

    expected = _parse_verdicts(d["expected_verdict"], path, cid, "expected_verdict")
    params = _parse_params(d.get("params"), path, cid)
    suffixes = (
        {"-".join(str(v) for v in combo) for combo in itertools.product(*params.values())}
        if params
        else set()
    )
    by_case_raw = d.get("expected_by_case") or {}
    if not isinstance(by_case_raw, Mapping):
        raise ClaimFileError(
            path,
            cid,
            "expected_by_case",
            f"expected {{case suffix: {{profile: verdict}}}}, got {by_case_raw!r}",
        )
    by_case: dict[str, dict[str, Verdict]] = {}
    for suffix, verdicts in by_case_raw.items():
        if str(suffix) not in suffixes:
            raise ClaimFileError(
                path,
                cid,
                f"expected_by_case.{suffix}",
                f"no such case; cases of this claim: {sorted(suffixes)}",
            )
        by_case[str(suffix)] = _parse_verdicts(verdicts, path, cid, f"expected_by_case.{suffix}")
    expected_reason = str(d.get("expected_reason", ""))
    all_expected = [*expected.values(), *(v for m in by_case.values() for v in m.values())]
    if any(v != Verdict.REPLICATED for v in all_expected) and not expected_reason.strip():
        raise ClaimFileError(path, cid, "expected_reason", "a non-replicated expected verdict needs a reason")

    aggregate = d.get("aggregate", "median_over_seeds")
    if aggregate not in AGGREGATES:
        raise ClaimFileError(
            path, cid, "aggregate", f"unknown aggregate {aggregate!r}; use one of {list(AGGREGATES)}"
        )
    markers = d.get("markers", [])
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise ClaimFileError(path, cid, "markers", f"expected a list of marker names, got {markers!r}")
    unknown_markers = [m for m in markers if m not in CLAIM_MARKERS]
    if unknown_markers:
        raise ClaimFileError(
            path, cid, "markers", f"unknown marker {unknown_markers[0]!r}; known: {sorted(CLAIM_MARKERS)}"
        )
    variant = d.get("variant")
    if variant is not None:
        _string(variant, path, cid, "variant")
    return Claim(
        id=d["id"],
        paper=paper_id,
        section=d["section"],
        statement=d["statement"].strip(),
        experiment=d["experiment"],
        metric=d["metric"],
        expect=expect,
        null=null,
        null_reason=null_reason,
        tolerance=tolerance,
        expected_verdict=expected,
        params=params,
        aggregate=aggregate,
        paper_value=str(d.get("paper_value", "")),
        rationale=str(d.get("rationale", "")).strip(),
        expected_reason=expected_reason.strip(),
        variant=variant,
        markers=tuple(markers),
        expected_by_case=by_case,
    )


def _parse_verdicts(obj: Any, path: Path, cid: str, where: str) -> dict[str, Verdict]:
    if not isinstance(obj, Mapping) or not obj:
        raise ClaimFileError(path, cid, where, f"expected {{profile: verdict}}, got {obj!r}")
    out: dict[str, Verdict] = {}
    for profile, verdict in obj.items():
        if profile not in PROFILES:
            raise ClaimFileError(path, cid, f"{where}.{profile}", f"unknown profile; use {list(PROFILES)}")
        try:
            out[profile] = Verdict(verdict)
        except ValueError:
            raise ClaimFileError(
                path,
                cid,
                f"{where}.{profile}",
                f"unknown verdict {verdict!r}; use {[v.value for v in Verdict]}",
            ) from None
    return out


def load_claims(path: str | Path) -> PaperClaims:
    """Load and validate one claims file. Raises :class:`ClaimFileError` on any problem."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_ClaimsLoader)  # a SafeLoader subclass
    except FileNotFoundError:
        raise ClaimFileError(path, None, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ClaimFileError(
            path, None, None, f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ClaimFileError(path, None, None, f"cannot read: {exc.strerror or exc}") from None
    except _DuplicateKey as exc:
        raise ClaimFileError(path, None, exc.key, str(exc)) from None
    except yaml.YAMLError as exc:
        raise ClaimFileError(path, None, None, f"invalid YAML: {exc}") from None
    d = _check_keys(raw, _TOP_KEYS, path, None, "")
    paper = _check_keys(d["paper"], _PAPER_KEYS, path, None, "paper")
    paper_id = _string(paper["id"], path, None, "paper.id")
    version = d["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise ClaimFileError(path, None, "version", f"expected an integer, got {version!r}")
    if not isinstance(d["claims"], list) or not d["claims"]:
        raise ClaimFileError(path, None, "claims", "expected a non-empty list of claims")
    claims = [_parse_claim(c, path, paper_id, i) for i, c in enumerate(d["claims"])]
    _check_unique_names((c, path) for c in claims)
    tvc_raw = d.get("text_vs_code", []) or []
    if not isinstance(tvc_raw, list):
        raise ClaimFileError(path, None, "text_vs_code", "expected a list")
    tvc = tuple(
        _check_keys(row, _TEXT_VS_CODE_KEYS, path, None, f"text_vs_code[{i}]")
        for i, row in enumerate(tvc_raw)
    )
    return PaperClaims(
        paper_id=paper_id,
        title=_string(paper["title"], path, None, "paper.title"),
        source=_string(paper["source"], path, None, "paper.source"),
        version=version,
        claims=tuple(claims),
        path=path,
        text_vs_code=tvc,
    )


def claims_dir() -> Path:
    from geomclaims.paths import project_root

    return project_root() / "claims"


def load_all(directory: str | Path | None = None) -> dict[str, PaperClaims]:
    """Every ``*.yaml`` in the claims directory, keyed by paper id."""
    directory = Path(directory) if directory else claims_dir()
    if not directory.is_dir():
        raise ClaimFileError(directory, None, None, "claims directory not found")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ClaimFileError(directory, None, None, "no claims files (*.yaml) in this directory")
    papers: dict[str, PaperClaims] = {}
    for path in files:
        pc = load_claims(path)
        if pc.paper_id in papers:
            raise ClaimFileError(
                path, None, "paper.id", f"paper id {pc.paper_id!r} also used by {papers[pc.paper_id].path}"
            )
        papers[pc.paper_id] = pc
    _check_unique_names((c, pc.path) for pc in papers.values() for c in pc.claims)
    return papers


def _claim_names(claim: Claim, path: Path) -> list[str]:
    """The ids ``--claim`` and results.json know a claim by: its id and its case ids (unique within the claim)."""
    params_of: dict[str, Mapping[str, Any]] = {}
    for case in claim.cases():
        if case.case_id in params_of:
            raise ClaimFileError(
                path,
                claim.id,
                "params",
                f"parameter combinations {dict(params_of[case.case_id])} and {dict(case.params)} both give case "
                f"id {case.case_id}; rename a value so the joined names differ",
            )
        params_of[case.case_id] = case.params
    return list(dict.fromkeys([claim.id, *params_of]))


def _check_unique_names(claims: Iterable[tuple[Claim, Path]]) -> None:
    """Claim ids and case ids share one namespace across the suite: a collision would make one result replace
    another in results.json (and ``--claim`` ambiguous), so it is an error naming both claims and files."""
    owner: dict[str, tuple[Claim, Path]] = {}
    for claim, path in claims:
        for name in _claim_names(claim, path):
            if name not in owner:
                owner[name] = (claim, path)
                continue
            other, other_path = owner[name]
            where = "" if other_path == path else f" in {other_path}"
            if other.id == claim.id:
                raise ClaimFileError(
                    path, claim.id, "id", f"duplicate claim id (also{where or ' in this file'})"
                )
            what = "claim id" if name == claim.id else "case id"
            raise ClaimFileError(
                path, claim.id, "id", f"{what} {name!r} is also a case id of claim {other.id}{where}"
            )


# ----------------------------------------------------------------------------------------------------------
# Decision
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Aggregate of samples with a percentile-bootstrap CI of that aggregate (over the samples, i.e. seeds)."""

    value: float
    ci: tuple[float, float]
    n: int
    samples: tuple[float, ...]


@dataclass(frozen=True)
class NullSummary:
    name: str
    median: float | None
    q025: float | None
    q975: float | None
    samples: tuple[float, ...]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    measured: Summary
    paper_condition_met: bool
    null: NullSummary | None
    null_condition_met: bool | None  # the measurement beats the null by the claim's rule
    null_satisfies_paper: bool | None  # the null reliably meets the paper condition itself (-> trivial)
    explanation: str


def _finite_samples(samples: Iterable[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(samples, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{what}: no samples")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][:3].tolist()
        raise NonFiniteEvidence(f"{what} contain non-finite values {bad}; a NaN or inf never passes a claim")
    return arr


def aggregate(samples: np.ndarray, how: str) -> float:
    if how == "median_over_seeds":
        return float(np.median(samples))
    if how == "mean_over_seeds":
        return float(np.mean(samples))
    if how == "single":
        if samples.size != 1:
            raise ValueError(f"aggregate 'single' expects exactly one sample, got {samples.size}")
        return float(samples[0])
    raise ValueError(f"unknown aggregate {how!r}")


def bootstrap_ci(
    samples: np.ndarray, how: str, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the aggregate over the samples. One sample -> a degenerate interval."""
    if samples.size == 1:
        v = float(samples[0])
        return (v, v)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, samples.size, size=(n_boot, samples.size))
    draws = samples[idx]
    stats = np.median(draws, axis=1) if how == "median_over_seeds" else np.mean(draws, axis=1)
    alpha = (1.0 - level) / 2.0
    return (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha)))


def summarize(samples: Iterable[float] | np.ndarray, how: str = "median_over_seeds") -> Summary:
    arr = _finite_samples(samples, "measured samples")
    return Summary(
        value=aggregate(arr, how), ci=bootstrap_ci(arr, how), n=int(arr.size), samples=tuple(arr.tolist())
    )


def decide(
    measured_samples: Sequence[float] | np.ndarray,
    expect: Expect,
    null_samples: Sequence[float] | np.ndarray | None,
    rule: NullSpec | None,
    *,
    how: str = "median_over_seeds",
) -> Decision:
    """Verdict for one claim case. See the module docstring for the rule; NaN/inf raises."""
    measured = summarize(measured_samples, how)
    paper_ok = expect.holds(measured.value)

    null_summary: NullSummary | None = None
    beats: bool | None = None
    null_meets_paper: bool | None = None
    if rule is not None:
        if rule.rule in ("below_quantile", "above_quantile"):
            if null_samples is None:
                raise ValueError(f"null '{rule.name}' with rule {rule.rule!r} needs null samples")
            null_arr = _finite_samples(null_samples, f"null samples ({rule.name})")
            if null_arr.size < 2:
                raise ValueError(f"null '{rule.name}' needs >= 2 samples for a quantile, got {null_arr.size}")
            threshold = float(np.quantile(null_arr, rule.q))
            beats = (
                measured.value < threshold if rule.rule == "below_quantile" else measured.value > threshold
            )
            null_median = float(np.median(null_arr))
            share = float(np.mean([expect.holds(float(x)) for x in null_arr]))
            null_meets_paper = share >= NULL_SATISFIES_FRACTION
            null_summary = NullSummary(
                name=rule.name,
                median=null_median,
                q025=float(np.quantile(null_arr, 0.025)),
                q975=float(np.quantile(null_arr, 0.975)),
                samples=tuple(null_arr.tolist()),
            )
        else:
            if null_samples is not None and len(np.asarray(null_samples).ravel()):
                raise ValueError(f"null rule {rule.rule!r} takes no null samples")
            lo, hi = measured.ci
            beats = lo > rule.value if rule.rule == "ci_above" else hi < rule.value  # type: ignore[operator]
            null_summary = NullSummary(name=rule.name, median=rule.value, q025=None, q975=None, samples=())
            null_meets_paper = False

    if not paper_ok:
        verdict = Verdict.NOT_REPLICATED
        why = f"measured {measured.value:.4g} is not {expect.describe()}"
    elif rule is None:
        verdict = Verdict.REPLICATED
        why = f"measured {measured.value:.4g} is {expect.describe()} (no null applies)"
    elif null_meets_paper:
        verdict = Verdict.TRIVIAL
        why = f"measured {measured.value:.4g} is {expect.describe()}, but so is the null '{rule.name}' (median {null_summary.median:.4g}, {share:.0%} of its draws)"  # type: ignore[union-attr]
    elif not beats:
        verdict = Verdict.TRIVIAL
        why = f"measured {measured.value:.4g} is {expect.describe()} but does not beat the null '{rule.name}' ({_rule_text(rule)})"
    else:
        verdict = Verdict.REPLICATED
        why = f"measured {measured.value:.4g} is {expect.describe()} and beats the null '{rule.name}' ({_rule_text(rule)})"
    return Decision(
        verdict=verdict,
        measured=measured,
        paper_condition_met=paper_ok,
        null=null_summary,
        null_condition_met=beats,
        null_satisfies_paper=null_meets_paper,
        explanation=why,
    )


def _rule_text(rule: NullSpec) -> str:
    if rule.rule == "below_quantile":
        return f"must lie below its {rule.q:g} quantile"
    if rule.rule == "above_quantile":
        return f"must lie above its {rule.q:g} quantile"
    if rule.rule == "ci_above":
        return f"the seed CI must lie above {rule.value:g}"
    return f"the seed CI must lie below {rule.value:g}"
