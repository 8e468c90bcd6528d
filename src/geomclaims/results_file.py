"""The results file (results.json): its schema version, JSON-safe conversion, atomic write, checked read, and the
merge of partial runs (one per paper or shard) into one file with each part's provenance.

Kept apart from :mod:`geomclaims.runner`, which judges cases and re-exports these names.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.claims import NonFiniteEvidence

# 2: contract v2 (verdicts inconclusive/verified/not_run, stability, preconditions, se, mwu_p, code_versions, machine)
RESULTS_SCHEMA_VERSION = 2


def natural_key(text: str) -> list[Any]:
    """Sort E2 before E10."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text)]


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
    schema = data.get("schema")
    if isinstance(schema, bool) or schema != RESULTS_SCHEMA_VERSION:
        # another layout of the entries: judging it with this code would read fields that mean something else
        raise ValueError(
            f"{path}: field 'schema' is {schema!r}; this geomclaims reads results schema {RESULTS_SCHEMA_VERSION} "
            "only (re-run with this version)"
        )
    if not isinstance(data["claims"], list) or not all(
        isinstance(c, dict) and isinstance(c.get("id"), str) for c in data["claims"]
    ):
        raise ValueError(f"{path}: field 'claims' must be a list of entries, each with a string 'id'")
    offset = data.get("seed_offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"{path}: field 'seed_offset' is {offset!r}; expected an integer >= 0")
    ids = [c.get("id") for c in data["claims"]]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"{path}: duplicate claim case ids {sorted(dup)}")
    return data


def merge_results(parts: list[dict[str, Any]], names: list[str] | None = None) -> dict[str, Any]:
    """Merge results of runs over disjoint claim cases (e.g. one run per paper) into one results file.

    The profile must agree. A case id present in two parts is kept once when both parts judged it identically (two
    resumed runs whose ``--claim`` patterns overlap read the same stored jobs); if they differ it is an error (which
    run would be right?). Provenance of the merged file: the first part's git SHA and packages, the summed wall
    time, the union of resources, and every part's own provenance under ``parts``.
    """
    if not parts:
        raise ValueError("merge_results: nothing to merge")
    profiles = {p["profile"] for p in parts}
    if len(profiles) != 1:
        raise ValueError(f"merge_results: parts come from different profiles {sorted(profiles)}")
    offsets = [int(p.get("seed_offset", 0) or 0) for p in parts]
    if len(set(offsets)) != 1:
        # one baseline, one seed list: a part from shifted seeds would make its cases answer another question
        labels = names or [f"part {i}" for i in range(len(parts))]
        raise ValueError(
            "merge_results: parts ran with different seed offsets "
            f"({', '.join(f'{label}: seed_offset {o}' for label, o in zip(labels, offsets, strict=True))}); "
            "merge runs of one --seed-offset"
        )
    seen: dict[str, tuple[int, dict[str, Any]]] = {}
    claims: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        for entry in part["claims"]:
            if entry["id"] in seen:
                first, kept = seen[entry["id"]]
                if _judged_part(kept) != _judged_part(entry):
                    raise ValueError(
                        f"merge_results: case {entry['id']!r} is in part {first} and part {i} with different "
                        "judgements; merge parts that judged each case once, or from one store"
                    )
                continue
            seen[entry["id"]] = (i, entry)
            claims.append(entry)
    resources: dict[str, dict[str, Any]] = {}
    for part in parts:
        for r in part.get("resources", []):
            resources.setdefault(r["name"], r)
    code_versions: dict[str, str] = {}
    for i, part in enumerate(parts):
        for study, version in (part.get("code_versions") or {}).items():
            if code_versions.setdefault(study, version) != version:
                raise ValueError(
                    f"merge_results: study {study!r} ran at code version {code_versions[study]} in one part and "
                    f"{version} in part {i}; rerun with one version of the code"
                )
    merged = dict(parts[0])
    if any("code_versions" in p for p in parts):
        merged["code_versions"] = dict(sorted(code_versions.items()))
    if len(parts) > 1:
        # the top-level provenance is the first part's; every part's own is kept here
        merged["parts"] = [row for part in parts for row in part_provenance(part)]
    merged.update(
        wall_s=round(sum(float(p.get("wall_s", 0.0)) for p in parts), 1),
        resources=[resources[k] for k in sorted(resources)],
        claims=sorted(claims, key=lambda e: (e["paper"], natural_key(e["id"]))),
    )
    return merged


# fields that describe a run of a case rather than its judgement; a case judged twice may differ in these only
_RUN_FIELDS = frozenset({"wall_s", "expected_verdict", "expected_reason"})


def _judged_part(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _RUN_FIELDS}


_PART_FIELDS = (
    "git_sha",
    "created",
    "device",
    "seed_offset",
    "wall_s",
    "packages",
    "machine",
    "code_versions",
)


def part_provenance(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The provenance rows of one results file for a merged file's ``parts`` (a merged part keeps its rows)."""
    if results.get("parts"):
        return [dict(row) for row in results["parts"]]
    row = {k: results[k] for k in _PART_FIELDS if k in results}
    row["cases"] = sorted((e["id"] for e in results["claims"]), key=natural_key)
    return [row]
