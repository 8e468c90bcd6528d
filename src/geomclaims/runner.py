"""Judge claim cases: evidence function -> decide() -> a results.json entry. Used by pytest and the CLI alike."""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase, NonFiniteEvidence, Verdict
from geomclaims.decision import decide
from geomclaims.measurements import decision_entry
from geomclaims.registry import (
    Evidence,
    NotRun,
    RunContext,
    Untestable,
    get_evidence_fn,
    study_code_version,
    study_of,
    study_settings,
)
from geomclaims.results_file import (  # the results file's names, re-exported (their old home)
    _PART_FIELDS,  # noqa: F401
    RESULTS_SCHEMA_VERSION,
    _jsonable,
    merge_results,  # noqa: F401
    natural_key,
    part_provenance,  # noqa: F401
    read_results,  # noqa: F401
    write_results,  # noqa: F401
)
from geomclaims.store import Store, git_sha, package_versions


class PreconditionMissing(KeyError):
    """A claim ``requires`` a precondition metric its evidence function does not return."""

    def __str__(self) -> str:
        return str(self.args[0])


# The verdict of a results entry whose evaluation raised (a bug or a broken environment, not a judgement of the
# claim): recorded so the cases judged around it are kept, and never accepted into a baseline.
ERROR_VERDICT = "error"


class DuplicateCaseError(ValueError):
    """A session was asked to judge a case id it already has an entry for."""


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is passed through after a check."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device!r} requested but torch sees no CUDA device")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda[:N]")
    return device


@dataclass
class Session:
    """One run over claim cases for a profile: shares contexts (so experiments train once) and collects entries."""

    profile: str
    store: Store = field(default_factory=Store)
    device: str = "cpu"
    progress: bool = True
    threads: int = 1  # torch/BLAS threads of every experiment job (serial or on a worker)
    seed_offset: int = 0  # added to every seed of the profile settings (registry.shift_seeds)
    executor_info: dict[str, Any] = field(default_factory=lambda: {"executor": "serial"})
    entries: list[dict[str, Any]] = field(default_factory=list)
    planned: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # decided by a planning pass, not yet recorded
    started: float = field(default_factory=time.time)
    _contexts: dict[str, RunContext] = field(default_factory=dict)

    def context(self, study: str) -> RunContext:
        if study not in self._contexts:
            self._contexts[study] = RunContext(
                profile=self.profile,
                study=study,
                settings=study_settings(study, self.profile, seed_offset=self.seed_offset),
                store=self.store,
                device=self.device,
                progress=self.progress,
                threads=self.threads,
            )
        return self._contexts[study]

    def evaluate(self, case: ClaimCase) -> dict[str, Any]:
        """Evaluate one case and append its results.json entry. A case id judged twice is an error, never a
        silent replacement (two claims sharing a case id would otherwise lose one result).

        A case already decided by a planning pass (``geomclaims.executor.run_cases``) is recorded as decided there.
        """
        self._check_new(case)
        entry = self.planned.pop(case.case_id, None)
        if entry is None:
            entry = evaluate_case(case, self.context(study_of(case.claim.experiment)))
        return self.record(entry)

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        if any(e["id"] == entry["id"] for e in self.entries):
            raise DuplicateCaseError(f"case {entry['id']!r} recorded twice in one session")
        self.entries.append(entry)
        # One measurement, one verdict: the case takes the verdict of the strongest control among the cases of
        # its measurement decided so far (recorded or planned), so the pytest item asserts the measurement's verdict.
        from geomclaims.measurements import judge_measurements

        judge_measurements([*self.entries, *self.planned.values()], touching=entry["id"])
        return entry

    def record_error(self, case: ClaimCase, exc: BaseException, wall_s: float = 0.0) -> dict[str, Any]:
        """Append an entry with verdict ``error`` for a case whose evaluation raised (the CLI keeps going)."""
        self._check_new(case)
        entry = error_entry(case, self.profile, exc, wall_s)
        self.entries.append(entry)
        return entry

    def _check_new(self, case: ClaimCase) -> None:
        for e in self.entries:
            if e["id"] == case.case_id:
                raise DuplicateCaseError(
                    f"case {case.case_id!r} judged twice in one session (claim {case.claim.id} of "
                    f"{case.claim.paper}; the earlier entry is claim {e['claim_id']} of {e['paper']}); case ids "
                    "must be unique"
                )

    def results(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA_VERSION,
            "profile": self.profile,
            "git_sha": git_sha(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "device": self.device,
            "packages": package_versions(),
            "seed_offset": self.seed_offset,
            "wall_s": round(time.time() - self.started, 1),
            "resources": resource_provenance(self.profile),
            "code_versions": {
                study: study_code_version(study) for study in sorted({e["study"] for e in self.entries})
            },
            "machine": {**machine_provenance(), "job_threads": int(self.threads), **self.executor_info},
            "claims": sorted(_judged(self.entries), key=lambda e: (e["paper"], natural_key(e["id"]))),
        }


def _judged(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from geomclaims.measurements import judge_measurements

    judge_measurements(entries)
    return entries


def machine_provenance() -> dict[str, Any]:
    """CPU model, torch's CPU capability and thread counts: numbers can differ across CPUs, so record them."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["torch_threads"] = torch.get_num_threads()
        out["torch_interop_threads"] = torch.get_num_interop_threads()
    except Exception as exc:  # torch is a dependency, but a provenance probe must never sink a run
        out["torch_error"] = f"{type(exc).__name__}: {exc}"
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = sorted(
            {
                f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}"
                for i in threadpool_info()
            }
        )
    except Exception:
        out["blas_threads_env"] = {
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
            if k in os.environ
        }
    return out


def resource_provenance(profile: str) -> list[dict[str, Any]]:
    """Registry package, version and sha256 of the real models/corpora this profile uses (those on disk)."""
    try:
        from geomclaims.resources import PROFILE_RESOURCES, list_sources

        wanted = set(PROFILE_RESOURCES.get(profile, []))
        rows = list_sources()
    except Exception:  # resources are optional for the spine (fixture study, unit tests)
        return []
    keys = ("name", "package", "version", "sha256", "license")
    return [{k: r.get(k) for k in keys} for r in rows if r.get("name") in wanted and r.get("cached")]


def latest_dir(profile: str) -> Path:
    """Where a run writes its results.json and report: ``reports/<profile>/latest`` (not committed).

    The committed baseline lives one level up (``reports/ci/``) and only ``geomclaims gate --regen`` writes it.
    """
    from geomclaims.paths import project_root

    return project_root() / "reports" / profile / "latest"


def committed_baseline_dir(path: str | Path) -> Path | None:
    """The committed baseline directory (``reports/<profile>/``) that ``path`` lies in, else None.

    ``latest/`` under it is where runs write, so it does not count; only ``geomclaims gate --regen`` writes the rest.
    """
    from geomclaims.claims import PROFILES
    from geomclaims.paths import project_root

    target = Path(path).resolve()
    # By the path itself (``.../reports/<profile>/...`` in any checkout: the working directory need not be the
    # checkout the package is installed from) and by the project root (GEOMCLAIMS_ROOT may be named otherwise).
    candidates = [d for d in (target, *target.parents) if d.name in PROFILES and d.parent.name == "reports"]
    candidates += [(project_root() / "reports" / profile).resolve() for profile in PROFILES]
    for committed in candidates:
        if target.is_relative_to(committed) and not target.is_relative_to(committed / "latest"):
            return committed
    return None


def refuse_committed_baseline_dir(path: str | Path, what: str) -> None:
    """Raise ValueError when a run would write ``path`` inside a committed baseline directory."""
    committed = committed_baseline_dir(path)
    if committed is not None:
        raise ValueError(
            f"{what} {path} is in the committed baseline directory {committed}; a run writes "
            f"{committed / 'latest'} or elsewhere, and only `geomclaims gate RESULTS --regen` rewrites the baseline"
        )


def case_fields(case: ClaimCase, profile: str) -> dict[str, Any]:
    """The fields of a results entry that describe the case (not its outcome)."""
    claim = case.claim
    return {
        "id": case.case_id,
        "claim_id": claim.id,
        "paper": claim.paper,
        "study": study_of(claim.experiment),
        "kind": claim.kind,
        "same_measurement_as": claim.same_measurement_as,
        "params": dict(case.params),
        "section": claim.section,
        "statement": claim.statement,
        "metric": claim.metric,
        "expect": claim.expect.describe(),
        # The rule's inputs, so a results file can be re-judged from its samples (geomclaims.measurements.rejudge).
        "condition": {
            "op": claim.expect.op,
            "value": list(claim.expect.value)
            if isinstance(claim.expect.value, tuple)
            else claim.expect.value,
            "rel": claim.expect.rel,
            "abs": claim.expect.abs,
        },
        "aggregate": claim.aggregate,
        "null_reason": claim.null_reason,
        "null_rule": None
        if claim.null is None
        else {"name": claim.null.name, "rule": claim.null.rule, "q": claim.null.q, "value": claim.null.value},
        "paper_value": claim.paper_value,
        "expected_verdict": case.expectation(profile),
        "expected_reason": claim.expected_reason,
        "tolerance": dict(claim.tolerance),
    }


def refresh_case_fields(data: dict[str, Any], cases: list[ClaimCase]) -> int:
    """Rewrite the descriptive fields of ``data``'s entries (statement, expected verdict and reason, ...) from the
    current claims files, in place; measurements and verdicts are untouched. A baseline regenerated from a run must
    show today's expectations (a YAML edit after the run, e.g. an expected verdict set from that very run, does not
    change any result). Entries whose case no longer exists are left as they are (the gate reports them). Returns
    the number of entries refreshed."""
    by_id = {case.case_id: case for case in cases}
    profile = str(data["profile"])
    n = 0
    for entry in data["claims"]:
        case = by_id.get(entry["id"])
        if case is not None:
            entry.update(case_fields(case, profile))
            n += 1
    return n


@functools.cache
def judge_code_version() -> str:
    """sha256 (16 hex) of the code that turns evidence into a results entry (this module, the verdict rule and its
    summaries, the claims schema, the registry): part of a judged case's store key, so a changed rule re-judges every case."""
    from geomclaims import claims, claims_schema, decision, registry, summaries

    h = hashlib.sha256()
    for module in (claims, claims_schema, decision, registry, summaries):
        h.update(Path(module.__file__).read_bytes())  # type: ignore[arg-type]
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def case_key(case: ClaimCase, ctx: RunContext) -> str:
    """Store key of ``case``'s judged entry in a run like ``ctx``'s: the case as the claims files describe it
    today, the study's and the judging code's versions, and the run settings that change numbers."""
    study = study_of(case.claim.experiment)
    fields = {
        "case": case_fields(case, ctx.profile),
        "study_code": study_code_version(study),
        "judge_code": judge_code_version(),
        "settings": ctx.settings,
        "threads": int(ctx.threads),
        "device": ctx.device,
    }
    from geomclaims.store import canonical_json

    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def error_entry(case: ClaimCase, profile: str, exc: BaseException, wall_s: float = 0.0) -> dict[str, Any]:
    message = f"{type(exc).__name__}: {exc}"
    return {
        **case_fields(case, profile),
        **_undecided(Verdict.UNTESTABLE, message),
        "verdict": ERROR_VERDICT,
        "explanation": f"error: {message}",
        "wall_s": round(wall_s, 3),
    }


def evaluate_case(case: ClaimCase, ctx: RunContext) -> dict[str, Any]:
    claim = case.claim
    start = time.perf_counter()
    base = case_fields(case, ctx.profile)
    try:
        fn = get_evidence_fn(claim.experiment)
        ev = fn(case, ctx)
        if not isinstance(ev, Evidence):
            raise TypeError(
                f"evidence function for {claim.experiment!r} returned {type(ev).__name__}, not Evidence"
            )
    except Untestable as exc:
        return {
            **base,
            **_undecided(Verdict.UNTESTABLE, str(exc)),
            "wall_s": round(time.perf_counter() - start, 3),
        }
    except NotRun as exc:
        return {
            **base,
            **_undecided(Verdict.NOT_RUN, str(exc)),
            "wall_s": round(time.perf_counter() - start, 3),
        }
    preconditions, unmet = check_preconditions(case, ev)
    decision = decide(
        ev.measured,
        claim.expect,
        ev.null,
        claim.null,
        how=claim.aggregate,
        kind=claim.kind,
        profile=ctx.profile,
        claim_id=case.case_id,
        stability=not unmet,
        replicates=ev.replicates,
    )
    base.update(decision_entry(decision, claim.null_reason))
    base["preconditions"] = preconditions
    if unmet:
        # The measurement stays in the entry (the report shows it) but the claim is not judged on a model that
        # did not do what the claim presupposes.
        base.update(
            verdict=Verdict.UNTESTABLE.value,
            stability=None,
            explanation="untestable: " + "; ".join(unmet) + f" [measurement had: {decision.explanation}]",
        )
    base["details"] = _jsonable(ev.details, f"{case.case_id}.details")
    base["notes"] = list(ev.notes)
    base["wall_s"] = round(time.perf_counter() - start, 3)
    return base


def check_preconditions(case: ClaimCase, ev: Evidence) -> tuple[list[dict[str, Any]], list[str]]:
    """Evaluate ``requires`` on ``ev.preconditions``: (rows for results.json, reasons of the unmet ones)."""
    claim = case.claim
    given = ev.preconditions or {}
    if not isinstance(given, dict):
        raise TypeError(f"{case.case_id}: Evidence.preconditions must be a dict, got {type(given).__name__}")
    rows: list[dict[str, Any]] = []
    unmet: list[str] = []
    for req in claim.requires:
        if req.metric not in given:
            raise PreconditionMissing(
                f"claim {case.case_id} requires precondition {req.metric!r} but its evidence function "
                f"({claim.experiment}) returned only {sorted(given)}"
            )
        x = given[req.metric]
        if isinstance(x, (bool, np.bool_, str, bytes)) or not isinstance(
            x, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{case.case_id}: precondition {req.metric!r} must be a number, got {x!r}")
        x = float(x)
        if not math.isfinite(x):
            raise NonFiniteEvidence(f"{case.case_id}: precondition {req.metric!r} is non-finite ({x!r})")
        met = req.holds(x)
        value: Any = list(req.value) if isinstance(req.value, tuple) else req.value
        rows.append(
            {"metric": req.metric, "op": req.op, "value": value, "why": req.why, "measured": x, "met": met}
        )
        if not met:
            unmet.append(
                f"precondition {req.metric} {req.op} {_fmt_req(req.value)} unmet: measured {x:.4g} ({req.why})"
            )
    return rows, unmet


def _fmt_req(value: float | tuple[float, float]) -> str:
    if isinstance(value, tuple):
        return f"[{value[0]:g}, {value[1]:g}]"
    return f"{value:g}"


def _undecided(verdict: Verdict, reason: str) -> dict[str, Any]:
    return {
        "verdict": verdict.value,
        "measured": None,
        "paper_condition_met": None,
        "null": None,
        "null_condition_met": None,
        "null_satisfies_paper": None,
        "stability": None,
        "preconditions": [],
        "explanation": f"{verdict.value.replace('_', ' ')}: {reason}",
        "details": {},
        "notes": [],
    }


def select_cases(
    papers: Iterable[Any], paper: str | None = None, claim_ids: Iterable[str] | None = None
) -> list[ClaimCase]:
    """Cases of ``paper`` (all papers when None) whose claim id or case id is in ``claim_ids`` (all when None).

    An id with ``*`` or ``?`` is a shell-style pattern over claim and case ids (brackets are literal, as in case
    ids): ``'*qwen2.5-coder-1.5b*'`` selects one model's cases, e.g. to run the full profile a model at a time.
    An empty ``claim_ids``, or an id or pattern that matches nothing in scope, is a ValueError listing close
    matches: a typo must not silently run fewer cases (or, with no ids, everything).
    """
    ids = None if claim_ids is None else list(claim_ids)
    if ids is not None and not ids:
        raise ValueError("--claim needs at least one claim id or case id")
    wanted = set(ids or [])
    patterns = {i: _id_pattern(i) for i in wanted if "*" in i or "?" in i}
    matched: set[str] = set()
    in_scope: list[ClaimCase] = []
    out: list[ClaimCase] = []
    for pc in papers:
        if paper and pc.paper_id != paper and paper_of(paper) != pc.paper_id:
            continue
        for case in pc.cases():
            in_scope.append(case)
            names = {case.claim.id, case.case_id}
            hits = (wanted & names) | {p for p, rx in patterns.items() if any(rx.fullmatch(n) for n in names)}
            if wanted and not hits:
                continue
            matched |= hits
            out.append(case)
    unknown = [i for i in ids or [] if i not in matched]
    if unknown:
        names = sorted({n for c in in_scope for n in (c.claim.id, c.case_id)})
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            parts.append(f"{name!r} (did you mean {', '.join(close)}?)" if close else repr(name))
        scope = f" of paper {paper}" if paper else ""
        raise ValueError(
            f"--claim {', '.join(parts)} matches no claim or case{scope}; `geomclaims list` shows them all"
        )
    return out


def _id_pattern(pattern: str) -> re.Pattern[str]:
    """``*`` / ``?`` wildcards; every other character literal (case ids contain brackets)."""
    return re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern))


def paper_of(name: str) -> str | None:
    """The paper id a study name or alias stands for (any case), from the study specs; None when none does."""
    from geomclaims.plugin import paper_names

    return next((pid for alias, pid in paper_names() if alias.lower() == name.lower()), None)
