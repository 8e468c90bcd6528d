"""Strict YAML loading of claims files into the schema of :mod:`geomclaims.claims_schema`, whose names this module
re-exports (``from geomclaims.claims import Claim`` works). The verdict rule lives in :mod:`geomclaims.decision`.

A claims file (``claims/<paper>.yaml``) lists the claims of one paper. Each claim names the registered
experiment that produces its evidence, the metric read from it, the paper's condition (``expect``), the null
or control the measurement must beat, the drift tolerance of the regression gate, and the verdict we expect
per profile. Loading is strict: an unknown key, a missing field, a bad operator or type, or a duplicate id
raises :class:`ClaimFileError` naming the file, the claim id and the field.

The verdict rule (``decide()``: CI-based paper condition, two-sample null comparison, verdict stability) is in
:mod:`geomclaims.decision`, which imports the schema (never the other way round).

A NaN or inf measurement raises :class:`NonFiniteEvidence`: a non-finite number never passes.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from geomclaims.claims_schema import (  # the schema, re-exported (see __all__)
    AGGREGATES,
    KINDS,
    NULL_RULES,
    OPS,
    PENDING,
    PROFILES,
    REQUIRE_OPS,
    Claim,
    ClaimCase,
    ClaimFileError,
    Expect,
    NonFiniteEvidence,
    NullSpec,
    PaperClaims,
    Requirement,
    Verdict,
    differs_from_expected,
)
from geomclaims.markers import known_markers

__all__ = [
    "AGGREGATES",
    "KINDS",
    "NULL_RULES",
    "OPS",
    "PENDING",
    "PROFILES",
    "REQUIRE_OPS",
    "Claim",
    "ClaimCase",
    "ClaimFileError",
    "Expect",
    "NonFiniteEvidence",
    "NullSpec",
    "PaperClaims",
    "Requirement",
    "Verdict",
    "claims_dir",
    "differs_from_expected",
    "load_all",
    "load_claims",
    "plugin_claims",
]

# ----------------------------------------------------------------------------------------------------------
# Strict loading
# ----------------------------------------------------------------------------------------------------------


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int, first_line: int):
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"duplicate key {key!r} at line {line} (first at line {first_line})")


class _ClaimsLoader(yaml.SafeLoader):
    """SafeLoader for claims files: a repeated mapping key is an error (plain YAML keeps the last one silently, so
    a second ``expect:`` would change the paper condition), also when spelled differently (``null:`` and
    ``"null":``, ``1:`` and ``"1":``), and ``5e-1`` is a float (YAML 1.1 wants a dot)."""

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
                # Keys are compared as the schema reads them: a bare `null:` is the field "null" and a params key
                # `1:` names the same case as "1", so two spellings of one key are a duplicate, not two keys.
                if key is None:
                    key = "null"
                elif isinstance(key, (bool, int, float)):
                    key = str(key)
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
    "kind": False,
    "requires": False,
    "same_measurement_as": False,
    "single_reason": False,
}
_REQUIRES_KEYS = {"metric": True, "op": True, "value": True, "why": True}
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


def _parse_requires(obj: Any, path: Path, cid: str) -> tuple[Requirement, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list) or not obj:
        raise ClaimFileError(
            path, cid, "requires", f"expected a non-empty list of {{metric, op, value, why}}, got {obj!r}"
        )
    out: list[Requirement] = []
    for i, item in enumerate(obj):
        where = f"requires[{i}]"
        d = _check_keys(item, _REQUIRES_KEYS, path, cid, where)
        metric = _string(d["metric"], path, cid, f"{where}.metric")
        op = d["op"]
        if op not in REQUIRE_OPS:
            raise ClaimFileError(
                path, cid, f"{where}.op", f"unknown operator {op!r}; use one of {list(REQUIRE_OPS)}"
            )
        v = d["value"]
        if op == "between":
            if not isinstance(v, list) or len(v) != 2:
                raise ClaimFileError(path, cid, f"{where}.value", f"'between' needs [lo, hi], got {v!r}")
            lo, hi = (_number(x, path, cid, f"{where}.value") for x in v)
            if lo > hi:
                raise ClaimFileError(path, cid, f"{where}.value", f"lo {lo} > hi {hi}")
            value: float | tuple[float, float] = (lo, hi)
        else:
            value = _number(v, path, cid, f"{where}.value")
        why = _string(d["why"], path, cid, f"{where}.why")
        if metric in {r.metric for r in out}:
            raise ClaimFileError(path, cid, f"{where}.metric", f"precondition on {metric!r} listed twice")
        out.append(Requirement(metric=metric, op=op, value=value, why=" ".join(why.split())))
    return tuple(out)


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

    expected, pending_claim = _parse_verdicts(d["expected_verdict"], path, cid, "expected_verdict")
    pending = {("", profile) for profile in pending_claim}
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
        by_case[str(suffix)], pending_case = _parse_verdicts(
            verdicts, path, cid, f"expected_by_case.{suffix}"
        )
        pending |= {(str(suffix), profile) for profile in pending_case}
    kind = d.get("kind", "paper")
    if kind not in KINDS:
        raise ClaimFileError(path, cid, "kind", f"unknown kind {kind!r}; use one of {list(KINDS)}")
    if kind == "verified" and null is not None:
        raise ClaimFileError(
            path, cid, "null", "a claim of kind 'verified' needs null {name: none, reason: ...}"
        )
    success = Verdict.VERIFIED if kind == "verified" else Verdict.REPLICATED
    wrong_success = Verdict.REPLICATED if kind == "verified" else Verdict.VERIFIED
    expected_reason = str(d.get("expected_reason", ""))
    all_expected = [*expected.values(), *(v for m in by_case.values() for v in m.values())]
    if wrong_success in all_expected:
        raise ClaimFileError(
            path,
            cid,
            "expected_verdict",
            f"a claim of kind {kind!r} succeeds as {success.value!r}, never {wrong_success.value!r}",
        )
    if (pending or any(v != success for v in all_expected)) and not expected_reason.strip():
        raise ClaimFileError(
            path,
            cid,
            "expected_reason",
            f"a non-{success.value} or {PENDING!r} expected verdict needs a reason",
        )

    aggregate = d.get("aggregate", "median_over_seeds")
    if aggregate not in AGGREGATES:
        raise ClaimFileError(
            path, cid, "aggregate", f"unknown aggregate {aggregate!r}; use one of {list(AGGREGATES)}"
        )
    single_reason = d.get("single_reason")
    if aggregate == "single":
        if single_reason is None:
            raise ClaimFileError(
                path,
                cid,
                "single_reason",
                "aggregate 'single' needs single_reason (why one value is the evidence)",
            )
        single_reason = " ".join(_string(single_reason, path, cid, "single_reason").split())
    elif single_reason is not None:
        raise ClaimFileError(path, cid, "single_reason", f"only for aggregate 'single', not {aggregate!r}")
    same = d.get("same_measurement_as")
    if same is not None:
        _string(same, path, cid, "same_measurement_as")
        if same == d["id"]:
            raise ClaimFileError(path, cid, "same_measurement_as", "a claim cannot name itself")
    markers = d.get("markers", [])
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise ClaimFileError(path, cid, "markers", f"expected a list of marker names, got {markers!r}")
    known = known_markers() if markers else {}  # only a claim that names markers needs the study specs
    unknown_markers = [m for m in markers if m not in known]
    if unknown_markers:
        raise ClaimFileError(
            path, cid, "markers", f"unknown marker {unknown_markers[0]!r}; known: {sorted(known)}"
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
        kind=kind,
        requires=_parse_requires(d.get("requires"), path, cid),
        same_measurement_as=same,
        single_reason=single_reason,
        pending=frozenset(pending),
    )


def _parse_verdicts(obj: Any, path: Path, cid: str, where: str) -> tuple[dict[str, Verdict], set[str]]:
    """{profile: verdict} and the profiles whose expectation is PENDING (not run there yet)."""
    if not isinstance(obj, Mapping) or not obj:
        raise ClaimFileError(path, cid, where, f"expected {{profile: verdict}}, got {obj!r}")
    out: dict[str, Verdict] = {}
    pending: set[str] = set()
    for profile, verdict in obj.items():
        if profile not in PROFILES:
            raise ClaimFileError(path, cid, f"{where}.{profile}", f"unknown profile; use {list(PROFILES)}")
        if verdict == PENDING:
            if profile in ("smoke", "ci"):
                # ci gates every push and smoke never judges: only a profile run beside CI can lag behind
                raise ClaimFileError(
                    path, cid, f"{where}.{profile}", f"{PENDING!r} is allowed for the full profile only"
                )
            pending.add(profile)
            continue
        try:
            out[profile] = Verdict(verdict)
        except ValueError:
            raise ClaimFileError(
                path,
                cid,
                f"{where}.{profile}",
                f"unknown verdict {verdict!r}; use {[v.value for v in Verdict]} (or {PENDING!r})",
            ) from None
    return out, pending


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
    seen = {c.id for c in claims}
    for c in claims:
        if c.same_measurement_as is not None and c.same_measurement_as not in seen:
            raise ClaimFileError(
                path, c.id, "same_measurement_as", f"no claim {c.same_measurement_as!r} in this file"
            )
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
    """Every claims file, keyed by paper id: the ``*.yaml`` of ``directory`` when given; by default those of the
    project's ``claims/`` directory plus the claims file each installed study plugin ships (:func:`plugin_claims`)."""
    explicit = directory is not None and str(directory) != ""
    directory = Path(directory) if explicit else claims_dir()
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    if not explicit:
        files += [p for p in plugin_claims() if p.resolve() not in {f.resolve() for f in files}]
    if not directory.is_dir() and not files:
        raise ClaimFileError(directory, None, None, "claims directory not found")
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


def plugin_claims() -> list[Path]:
    """The claims files the study specs name. A relative path (an in-tree study) belongs to the project root and is
    skipped when that checkout lacks it (a project may hold a subset of the papers); an absolute path (an installed
    plugin's own file) that does not exist is an error naming the study."""
    from geomclaims.paths import project_root
    from geomclaims.plugin import all_specs

    out = []
    for spec in all_specs():
        path = spec.claims_path(project_root())
        if path is None or (not path.exists() and not Path(spec.claims or "").is_absolute()):
            continue
        if not path.is_file():
            raise ClaimFileError(
                path, None, None, f"claims file of study {spec.name!r} ({spec.source}) not found"
            )
        out.append(path)
    return out


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
