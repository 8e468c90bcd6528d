"""Judge claim cases: evidence function -> decide() -> a results.json entry. Used by pytest and the CLI alike."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase, Decision, NonFiniteEvidence, Verdict, decide
from geomclaims.registry import (
    Evidence,
    RunContext,
    Untestable,
    get_evidence_fn,
    study_code_version,
    study_of,
    study_settings,
)
from geomclaims.store import Store, git_sha, package_versions

RESULTS_SCHEMA_VERSION = 1


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
    execution: dict[str, Any] = field(default_factory=lambda: {"executor": "serial"})
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
        """Evaluate one case and append its results.json entry (replacing an earlier entry of the same id).

        A case already decided by a planning pass (``geomclaims.executor.run_cases``) is recorded as decided there.
        """
        entry = self.planned.pop(case.case_id, None)
        if entry is None:
            entry = evaluate_case(case, self.context(study_of(case.claim.experiment)))
        return self.record(entry)

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.entries = [e for e in self.entries if e["id"] != entry["id"]]
        self.entries.append(entry)
        return entry

    def results(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA_VERSION,
            "profile": self.profile,
            "git_sha": git_sha(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "device": self.device,
            "packages": package_versions(),
            "seed_offset": self.seed_offset,
            "machine": machine_info(self.threads, self.execution),
            "code_versions": {s: study_code_version(s) for s in sorted(self._contexts)},
            "wall_s": round(time.time() - self.started, 1),
            "resources": resource_provenance(self.profile),
            "claims": sorted(self.entries, key=lambda e: (e["paper"], natural_key(e["id"]))),
        }


def machine_info(job_threads: int, execution: dict[str, Any]) -> dict[str, Any]:
    """Where the numbers were computed: CPU model, torch's CPU capability, thread counts, executor."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        capability = "unknown"
    return {
        "cpu": cpu,
        "torch_cpu_capability": capability,
        "driver_torch_threads": torch.get_num_threads(),
        "job_threads": int(job_threads),
        **execution,
    }


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


def natural_key(text: str) -> list[Any]:
    """Sort E2 before E10."""
    import re

    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text)]


def evaluate_case(case: ClaimCase, ctx: RunContext) -> dict[str, Any]:
    claim = case.claim
    start = time.perf_counter()
    base: dict[str, Any] = {
        "id": case.case_id,
        "claim_id": claim.id,
        "paper": claim.paper,
        "study": study_of(claim.experiment),
        "params": dict(case.params),
        "section": claim.section,
        "statement": claim.statement,
        "metric": claim.metric,
        "expect": claim.expect.describe(),
        "paper_value": claim.paper_value,
        "expected_verdict": case.expected(ctx.profile).value,
        "expected_reason": claim.expected_reason,
        "tolerance": dict(claim.tolerance),
    }
    try:
        fn = get_evidence_fn(claim.experiment)
        ev = fn(case, ctx)
        if not isinstance(ev, Evidence):
            raise TypeError(
                f"evidence function for {claim.experiment!r} returned {type(ev).__name__}, not Evidence"
            )
        null_samples = None if ev.null is None else np.asarray(ev.null, dtype=float)
        decision = decide(
            np.asarray(ev.measured, dtype=float),
            claim.expect,
            null_samples,
            claim.null,
            how=claim.aggregate,
        )
    except Untestable as exc:
        return {
            **base,
            **_untestable(str(exc)),
            "wall_s": round(time.perf_counter() - start, 3),
        }
    base.update(decision_entry(decision, claim.null_reason))
    base["details"] = _jsonable(ev.details, f"{case.case_id}.details")
    base["notes"] = list(ev.notes)
    base["wall_s"] = round(time.perf_counter() - start, 3)
    return base


def _untestable(reason: str) -> dict[str, Any]:
    return {
        "verdict": Verdict.UNTESTABLE.value,
        "measured": None,
        "paper_condition_met": None,
        "null": None,
        "null_condition_met": None,
        "null_satisfies_paper": None,
        "explanation": f"untestable: {reason}",
        "details": {},
        "notes": [],
    }


def decision_entry(decision: Decision, null_reason: str | None = None) -> dict[str, Any]:
    m = decision.measured
    null = None
    if decision.null is not None:
        n = decision.null
        null = {
            "name": n.name,
            "median": n.median,
            "q025": n.q025,
            "q975": n.q975,
            "samples": list(n.samples),
        }
    return {
        "verdict": decision.verdict.value,
        "measured": {"value": m.value, "ci": list(m.ci), "n": m.n, "samples": list(m.samples)},
        "paper_condition_met": decision.paper_condition_met,
        "null": null,
        "null_reason": null_reason,
        "null_condition_met": decision.null_condition_met,
        "null_satisfies_paper": decision.null_satisfies_paper,
        "explanation": decision.explanation,
    }


def _jsonable(obj: Any, where: str) -> Any:
    """Convert numpy values to plain JSON; refuse NaN/inf (they would silently become null in a report)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, where) for v in obj]
    if hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), where)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        raise NonFiniteEvidence(f"{where} contains a non-finite value {obj!r}")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{where}: value of type {type(obj).__name__} is not JSON-serialisable")


def write_results(results: dict[str, Any], path: str | Path) -> Path:
    from geomclaims.store import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, (json.dumps(results, indent=1, sort_keys=False) + "\n").encode())
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"results file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "claims" not in data or "profile" not in data:
        raise ValueError(f"{path}: not a geomclaims results file (needs 'profile' and 'claims')")
    ids = [c.get("id") for c in data["claims"]]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"{path}: duplicate claim case ids {sorted(dup)}")
    return data


def merge_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge results of runs over disjoint claim cases (e.g. one run per paper) into one results file.

    The profile must agree; a case id present in two parts is an error (which run would be right?). Provenance of
    the merged file: the first part's git SHA and packages, the summed wall time, the union of resources.
    """
    if not parts:
        raise ValueError("merge_results: nothing to merge")
    profiles = {p["profile"] for p in parts}
    if len(profiles) != 1:
        raise ValueError(f"merge_results: parts come from different profiles {sorted(profiles)}")
    seen: dict[str, int] = {}
    claims: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        for entry in part["claims"]:
            if entry["id"] in seen:
                raise ValueError(
                    f"merge_results: case {entry['id']!r} is in part {seen[entry['id']]} and part {i}"
                )
            seen[entry["id"]] = i
            claims.append(entry)
    resources: dict[str, dict[str, Any]] = {}
    for part in parts:
        for r in part.get("resources", []):
            resources.setdefault(r["name"], r)
    merged = dict(parts[0])
    merged.update(
        wall_s=round(sum(float(p.get("wall_s", 0.0)) for p in parts), 1),
        resources=[resources[k] for k in sorted(resources)],
        claims=sorted(claims, key=lambda e: (e["paper"], natural_key(e["id"]))),
    )
    return merged


def select_cases(
    papers: Iterable[Any], paper: str | None = None, claim_ids: Iterable[str] | None = None
) -> list[ClaimCase]:
    wanted = set(claim_ids or [])
    out: list[ClaimCase] = []
    for pc in papers:
        if paper and pc.paper_id != paper and PAPER_ALIASES.get(paper) != pc.paper_id:
            continue
        for case in pc.cases():
            if wanted and case.claim.id not in wanted and case.case_id not in wanted:
                continue
            out.append(case)
    return out


PAPER_ALIASES = {
    "S": "stratified_manifolds",
    "P": "probability_signature",
    "E": "execution_manifolds",
    "stratified": "stratified_manifolds",
    "signature": "probability_signature",
    "execution": "execution_manifolds",
}
