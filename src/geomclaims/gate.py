"""Regression gate: compare a results.json with the committed baseline. It fails on regressions, not on noise.

Fails (``GateOutcome.ok`` is False, CLI exit 1) on:

* a **verdict change between two decisive, stable verdicts**: neither side ``inconclusive`` and no side with a
  stability below ``STABLE`` (0.9). :func:`tolerated_change` decides this, and the pytest plugin uses the same
  function for expected-vs-actual verdicts. Tolerated changes (into or out of ``inconclusive``, or a flip with an
  unstable side) are listed as **warnings** and do not fail the gate;
* **drift** of the measured aggregate: ``|new - old| > max(atol + rtol * |old|, DRIFT_K * sqrt(se_old² + se_new²))``
  where ``se`` is the bootstrap standard error over seeds recorded in each file and atol/rtol come from the
  BASELINE entry (a run cannot loosen its own tolerance). ``DRIFT_K = 3``: three pooled standard errors, so seed
  noise alone rarely fails the gate while a real shift does;
* a **stale baseline**: a study whose code version (``code_versions``, the hash that keys the experiment cache)
  differs between the baseline and the run; a baseline without code versions predates them and must be
  regenerated;
* a claim case present on one side only (``only_current`` ignores baseline cases absent from the run, except for
  papers in ``complete_papers``: when a run covered a whole paper, a baseline case it lacks is a failure);
* a profile mismatch.

A **robustness run** (``geomclaims run --seed-offset K``; the results record ``seed_offset``) compared with a
baseline of another seed offset is judged on verdicts only: its values come from other seeds, so drift rows are
listed as warnings (``drift (seeds shifted)``) and only a decisive, stable verdict flip fails. That is the check
"do the verdicts hinge on the seed list?".

Non-finite or missing measured values (in entries that are not ``untestable`` / ``not_run``) in either file are an
input error (:class:`GateInputError`), never a pass. ``regen`` rewrites the baseline explicitly; nothing else
writes it.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from geomclaims.decision import STABLE
from geomclaims.runner import read_results, write_results

DEFAULT_BASELINE = Path("reports/ci/results.json")
# Where a row's fix names the command; format_gate puts the real results and baseline paths in its place.
REGEN_PLACEHOLDER = "geomclaims gate RESULTS --regen"
# Drift beyond this many pooled bootstrap standard errors (over seeds) fails, whatever the fixed tolerance.
DRIFT_K = 3.0
_UNDECIDED = frozenset({"inconclusive"})
_NO_MEASUREMENT = frozenset({"untestable", "not_run"})


class GateInputError(ValueError):
    """A results file the gate cannot judge (a non-finite or missing measured value)."""


@dataclass
class GateRow:
    case_id: str
    problem: str  # "verdict", "drift", "missing-in-run", "new-in-run", "profile", "stale-baseline"
    baseline: str
    current: str
    allowed: str = ""


@dataclass
class GateOutcome:
    rows: list[GateRow] = field(default_factory=list)
    warnings: list[GateRow] = field(default_factory=list)
    compared: int = 0
    baseline_path: str = ""
    seeds_shifted: bool = False  # the run's seed offset differs from the baseline's: verdicts only

    @property
    def ok(self) -> bool:
        return not self.rows


def tolerated_change(
    old: str, new: str, old_stability: float | None = None, new_stability: float | None = None
) -> str | None:
    """Why a verdict change ``old -> new`` is noise rather than a regression, or None when it is a regression.

    Tolerated: either side ``inconclusive`` (the evidence could not decide on one side), or either side's stability
    below ``STABLE`` (a verdict that resampling the seeds flips is not a finding). A missing stability (an
    expected verdict, an untestable case) does not make a change tolerated. Same verdicts: None.
    """
    if old == new:
        return None
    if old in _UNDECIDED or new in _UNDECIDED:
        return f"{old} -> {new}: one side is inconclusive"
    unstable = [
        f"{side} stability {s:.2f} < {STABLE:g}"
        for side, s in (("old", old_stability), ("new", new_stability))
        if s is not None and s < STABLE
    ]
    if unstable:
        return f"{old} -> {new}: " + ", ".join(unstable)
    return None


def _measured(entry: dict[str, Any], where: str) -> tuple[float, float] | None:
    """(value, se) of a judged entry; None for untestable/not_run without a measurement. Bad values raise."""
    m = entry.get("measured")
    if entry.get("verdict") in _NO_MEASUREMENT and m is None:
        return None
    if not isinstance(m, dict) or "value" not in m:
        raise GateInputError(
            f"{where}: case {entry.get('id')!r} (verdict {entry.get('verdict')!r}) has no measured value"
        )
    value, se = m.get("value"), m.get("se", 0.0)
    for name, x in (("value", value), ("se", se)):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            raise GateInputError(
                f"{where}: case {entry.get('id')!r} has a non-finite or missing measured {name} ({x!r}); "
                "a NaN never passes the gate"
            )
    return float(value), float(se)


def _real(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(float(x))


def _check_entry(entry: dict[str, Any], where: str) -> None:
    """The fields the gate reads besides the measurement: a tolerance of NaN, inf or "100" would let any drift
    pass and a stability of -1 or "0.95" would let a flip through (or crash), so each is checked here."""
    case = entry.get("id")
    tol = entry.get("tolerance")
    if not isinstance(tol, dict):
        raise GateInputError(
            f"{where}: case {case!r} field 'tolerance' is {tol!r}; expected {{atol: x, rtol: y}}"
        )
    for name, x in tol.items():
        if name not in ("atol", "rtol") or not _real(x) or float(x) < 0:
            raise GateInputError(
                f"{where}: case {case!r} field 'tolerance.{name}' is {x!r}; expected atol/rtol, a finite number >= 0"
            )
    stability = entry.get("stability")
    if stability is not None and (not _real(stability) or not 0.0 <= float(stability) <= 1.0):
        raise GateInputError(
            f"{where}: case {case!r} field 'stability' is {stability!r}; expected null or a number in [0, 1]"
        )
    if not isinstance(entry.get("verdict"), str):
        raise GateInputError(f"{where}: case {case!r} field 'verdict' is {entry.get('verdict')!r}")


def _stale_rows(
    cur: dict[str, Any], base: dict[str, Any], profile: str, working: Mapping[str, str] | None = None
) -> list[GateRow]:
    cur_versions = cur.get("code_versions") or {}
    if "code_versions" not in base:
        return [
            GateRow(
                "*",
                "stale-baseline",
                "no code_versions",
                ", ".join(f"{k} {v}" for k, v in sorted(cur_versions.items())) or "-",
                "baseline predates code versions; regenerate: "
                f"geomclaims run --profile {profile} --no-cache && {REGEN_PLACEHOLDER}",
            )
        ]
    rows = []
    base_versions = base["code_versions"] or {}
    for study, version in sorted((working or {}).items()):
        for side, recorded, fix in (
            ("baseline", base_versions, "regenerate the baseline from a run of this code"),
            (
                "results",
                cur_versions,
                "re-run with this code (or install it: the run hashes the installed package)",
            ),
        ):
            if study in recorded and recorded[study] != version:
                rows.append(
                    GateRow(
                        f"study {study}",
                        f"stale-{side}",
                        str(recorded[study]),
                        f"working directory {version}",
                        f"the {side} was computed by other code than this working directory's; {fix}",
                    )
                )
    if rows:
        return rows
    for study in sorted(set(cur_versions) & set(base_versions)):
        if cur_versions[study] != base_versions[study]:
            rows.append(
                GateRow(
                    f"study {study}",
                    "stale-baseline",
                    str(base_versions[study]),
                    str(cur_versions[study]),
                    f"study {study}'s code changed since the baseline; regenerate: geomclaims run --profile "
                    f"{profile} --paper {study} --no-cache && {REGEN_PLACEHOLDER}",
                )
            )
    return rows


def compare(
    current: dict[str, Any] | str | Path,
    baseline: dict[str, Any] | str | Path,
    *,
    only_current: bool = False,
    complete_papers: Iterable[str] = (),
    working_versions: Mapping[str, str] | None = None,
) -> GateOutcome:
    """Compare current results with a baseline (see the module docstring for what fails and what warns)."""
    cur = current if isinstance(current, dict) else read_results(current)
    base_path = "" if isinstance(baseline, dict) else str(baseline)
    base = baseline if isinstance(baseline, dict) else read_results(baseline)
    outcome = GateOutcome(baseline_path=base_path)
    if cur["profile"] != base["profile"]:
        outcome.rows.append(GateRow("*", "profile", base["profile"], cur["profile"]))
        return outcome
    cur_by_id = {e["id"]: e for e in cur["claims"]}
    base_by_id = {e["id"]: e for e in base["claims"]}
    # Validate both files before judging anything: a NaN must be an error even in a case that is not compared.
    cur_where = "current results" if isinstance(current, dict) else f"results {current}"
    base_where = f"baseline {base_path}".strip()
    for entries, where in ((cur_by_id, cur_where), (base_by_id, base_where)):
        for e in entries.values():
            _check_entry(e, where)
    cur_values = {k: _measured(e, cur_where) for k, e in cur_by_id.items()}
    base_values = {k: _measured(e, base_where) for k, e in base_by_id.items()}
    outcome.rows.extend(_stale_rows(cur, base, cur["profile"], working_versions))
    complete = set(complete_papers)
    seeds_shifted = int(cur.get("seed_offset", 0) or 0) != int(base.get("seed_offset", 0) or 0)
    outcome.seeds_shifted = seeds_shifted
    for case_id in sorted(set(cur_by_id) | set(base_by_id)):
        new, old = cur_by_id.get(case_id), base_by_id.get(case_id)
        if new is None:
            assert old is not None
            if not only_current or old.get("paper") in complete:
                outcome.rows.append(GateRow(case_id, "missing-in-run", old["verdict"], "-"))
            continue
        if old is None:
            outcome.rows.append(
                GateRow(case_id, "new-in-run", "-", new["verdict"], "regenerate the baseline")
            )
            continue
        outcome.compared += 1
        if new["verdict"] != old["verdict"]:
            why = tolerated_change(old["verdict"], new["verdict"], old.get("stability"), new.get("stability"))
            row = GateRow(
                case_id,
                "verdict",
                _verdict_text(old),
                _verdict_text(new),
                why or "both decisive and stable",
            )
            (outcome.warnings if why else outcome.rows).append(row)
        v_new, v_old = cur_values[case_id], base_values[case_id]
        if v_new is None or v_old is None:
            continue  # nothing measured on one side: the verdict comparison above is all there is
        tol = old["tolerance"]
        fixed = float(tol.get("atol", 0.0)) + float(tol.get("rtol", 0.0)) * abs(v_old[0])
        allowed = max(fixed, DRIFT_K * math.hypot(v_old[1], v_new[1]))
        if abs(v_new[0] - v_old[0]) > allowed:
            problem = "drift (seeds shifted)" if seeds_shifted else "drift"
            row = GateRow(case_id, problem, f"{v_old[0]:.6g}", f"{v_new[0]:.6g}", f"±{allowed:.3g}")
            (outcome.warnings if seeds_shifted else outcome.rows).append(row)
    return outcome


def _verdict_text(entry: dict[str, Any]) -> str:
    s = entry.get("stability")
    return entry["verdict"] if s is None else f"{entry['verdict']} (stability {s:.2f})"


def regen_command(results: Sequence[str | Path], baseline: str | Path | None) -> str:
    """The exact command that makes ``results`` the baseline (the placeholder when the paths are unknown)."""
    if not results:
        return REGEN_PLACEHOLDER
    argv = ["geomclaims", "gate", *map(str, results)]
    if baseline:
        argv += ["--baseline", str(baseline)]
    return shlex.join([*argv, "--regen"])


def format_gate(outcome: GateOutcome, results: Sequence[str | Path] = ()) -> str:
    """The gate's verdict as text; with the ``results`` files compared, the regeneration hint names them."""
    from tabulate import tabulate

    regen_cmd = regen_command(results, outcome.baseline_path or None)

    def table(rows: list[GateRow]) -> str:
        return tabulate(
            [
                [r.case_id, r.problem, r.baseline, r.current, r.allowed.replace(REGEN_PLACEHOLDER, regen_cmd)]
                for r in rows
            ],
            headers=["claim case", "problem", "baseline", "current", "allowed / why"],
            tablefmt="simple",
        )

    where = f" vs {outcome.baseline_path}" if outcome.baseline_path else ""
    if outcome.seeds_shifted:
        where += " (seed offset differs from the baseline's: verdicts only, drift listed as warnings)"
    warn = ""
    if outcome.warnings:
        warn = (
            f"\n[geomclaims] gate warnings: {len(outcome.warnings)} tolerated change(s) "
            f"(inconclusive, unstable, or values from shifted seeds; not a failure)\n{table(outcome.warnings)}"
        )
    if outcome.ok:
        return (
            f"[geomclaims] gate OK{where}: {outcome.compared} claim cases kept their decisive verdicts within "
            f"tolerance{warn}"
        )
    return (
        f"[geomclaims] gate FAILED{where}: {len(outcome.rows)} problem(s)\n{table(outcome.rows)}\n"
        f"(regenerate deliberately with `{regen_cmd}`){warn}"
    )


def working_code_versions(studies: Iterable[str], cwd: str | Path | None = None) -> dict[str, str]:
    """Code versions of ``studies`` as the working directory's checkout has them (``<cwd>/src/geomclaims``) when
    that checkout is not the imported package; else ``{}``.

    A run records the version of the code it imported: for an editable install of this checkout that is the
    working directory's code, but for a wheel, or an editable install of another checkout, it is not. The gate
    compares the baseline and the run with these versions too, so a baseline cannot pass against study code of the
    working directory (the code about to be committed) that it was not computed by."""
    import geomclaims
    from geomclaims.registry import study_code_version

    src = (Path(cwd or Path.cwd()) / "src" / "geomclaims").resolve()
    if not (src / "registry.py").is_file() or src == Path(geomclaims.__file__).resolve().parent:
        return {}
    out: dict[str, str] = {}
    for study in sorted(set(studies)):
        try:
            out[study] = study_code_version(study, src)
        except (
            KeyError,
            ImportError,
            FileNotFoundError,
        ):  # a study this code does not have: the gate says so
            continue
    return out


def baseline_for(results: list[str | Path], reports_dir: str | Path = "reports") -> Path:
    """The committed baseline of the results' profile: ``<reports_dir>/<profile>/results.json`` (a full run is gated
    against ``reports/full/``, a ci run against ``reports/ci/``). Results of different profiles are an error."""
    profiles = {str(read_results(p).get("profile")) for p in results}
    if len(profiles) != 1:
        raise GateInputError(f"results of different profiles cannot share one baseline: {sorted(profiles)}")
    return Path(reports_dir) / profiles.pop() / "results.json"


def regen(
    current: str | Path | list[str | Path],
    baseline: str | Path = DEFAULT_BASELINE,
    *,
    report: bool = True,
    claims_dir: str | Path | Literal[False] | None = None,
) -> Path:
    """Make ``current`` (one results file, or several disjoint ones to merge) the new baseline + its report.

    The entries' descriptive fields (statement, expected verdict and reason, kind, the rule's inputs) are refreshed
    from the claims files of ``claims_dir`` (default: the project's; ``False``: keep the run's), so the baseline shows
    today's expectations, and every case is then re-judged from its stored samples with today's decision rules
    (:func:`geomclaims.measurements.rejudge`: one verdict per measurement, against its strongest control)."""
    from geomclaims.runner import merge_results

    paths = [Path(p) for p in (current if isinstance(current, list) else [current])]
    baseline = Path(baseline)
    data = merge_results([read_results(p) for p in paths], [str(p) for p in paths])
    _check_regen_input(data, baseline)
    if claims_dir is not False:
        from geomclaims.claims import load_all
        from geomclaims.runner import refresh_case_fields

        papers = load_all(claims_dir)  # a broken claims file is an error here, not a silently stale baseline
        refresh_case_fields(data, [case for pc in papers.values() for case in pc.cases()])
        from geomclaims.measurements import rejudge

        # Today's decision rules on the stored samples: a rule or kind change reaches the baseline without
        # re-running experiments (and a fresh run's verdicts come out identical: decide() is deterministic).
        rejudge(data)
        from geomclaims.store import git_sha

        # the verdicts written are today's judgement of the parts' stored samples: say which code gave them
        data["rejudged"] = {
            "git_sha": git_sha(),
            "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    baseline.parent.mkdir(parents=True, exist_ok=True)
    write_results(data, baseline)
    if report:
        from geomclaims.report import generated_figures, render_report

        # Figures are re-drawn from the results; stale ones the previous render drew must not linger, but files
        # it did not draw (notes, hand-made figures) are not ours to delete.
        for path in generated_figures(baseline.parent):
            path.unlink(missing_ok=True)
        render_report(data, baseline.parent, claims_dir or None)
    return baseline


def _check_regen_input(data: dict[str, Any], baseline: Path) -> None:
    """A baseline keeps its profile (``reports/ci/`` takes only ci results) and never records errored cases."""
    from geomclaims.claims import PROFILES
    from geomclaims.runner import ERROR_VERDICT

    wanted: dict[str, str] = {}
    if baseline.parent.name in PROFILES and baseline.parent.parent.name == "reports":
        wanted[f"the directory {baseline.parent}"] = baseline.parent.name
    if baseline.exists():
        wanted[f"the existing baseline {baseline}"] = read_results(baseline)["profile"]
    for where, profile in wanted.items():
        if data["profile"] != profile:
            raise ValueError(
                f"refusing to regenerate: the results are from the {data['profile']!r} profile but {where} holds "
                f"the {profile!r} baseline"
            )
    errored = [e["id"] for e in data["claims"] if e.get("verdict") == ERROR_VERDICT]
    if errored:
        raise ValueError(
            f"refusing to regenerate: {len(errored)} claim case(s) errored ({', '.join(errored)}); a baseline "
            "records judgements, fix the errors and re-run"
        )
