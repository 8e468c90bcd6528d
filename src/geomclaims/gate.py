"""Regression gate: compare a results.json with the committed baseline.

Fails (``GateOutcome.ok`` is False, CLI exit 1) on any verdict change, on drift of the measured aggregate beyond
the claim's tolerance (``|new - old| > atol + rtol * |old|``), and on a claim case present on one side only.
``regen`` rewrites the baseline explicitly; nothing else ever writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geomclaims.runner import read_results, write_results

DEFAULT_BASELINE = Path("reports/ci/results.json")


@dataclass
class GateRow:
    case_id: str
    problem: str  # "verdict", "drift", "missing-in-run", "new-in-run", "profile"
    baseline: str
    current: str
    allowed: str = ""


@dataclass
class GateOutcome:
    rows: list[GateRow] = field(default_factory=list)
    compared: int = 0
    baseline_path: str = ""

    @property
    def ok(self) -> bool:
        return not self.rows


def _value(entry: dict[str, Any]) -> float | None:
    measured = entry.get("measured")
    return None if measured is None else float(measured["value"])


def compare(
    current: dict[str, Any] | str | Path, baseline: dict[str, Any] | str | Path, *, only_current: bool = False
) -> GateOutcome:
    """Compare current results with a baseline. ``only_current`` ignores baseline cases absent from the run."""
    cur = current if isinstance(current, dict) else read_results(current)
    base_path = "" if isinstance(baseline, dict) else str(baseline)
    base = baseline if isinstance(baseline, dict) else read_results(baseline)
    outcome = GateOutcome(baseline_path=base_path)
    if cur["profile"] != base["profile"]:
        outcome.rows.append(GateRow("*", "profile", base["profile"], cur["profile"]))
        return outcome
    cur_by_id = {e["id"]: e for e in cur["claims"]}
    base_by_id = {e["id"]: e for e in base["claims"]}
    for case_id in sorted(set(cur_by_id) | set(base_by_id)):
        new, old = cur_by_id.get(case_id), base_by_id.get(case_id)
        if new is None:
            if not only_current:
                outcome.rows.append(GateRow(case_id, "missing-in-run", old["verdict"], "-"))  # type: ignore[index]
            continue
        if old is None:
            outcome.rows.append(
                GateRow(case_id, "new-in-run", "-", new["verdict"], "regenerate the baseline")
            )
            continue
        outcome.compared += 1
        if new["verdict"] != old["verdict"]:
            outcome.rows.append(GateRow(case_id, "verdict", old["verdict"], new["verdict"]))
            continue
        v_new, v_old = _value(new), _value(old)
        if v_new is None or v_old is None:
            continue  # both untestable (same verdict): nothing to drift
        tol = new.get("tolerance") or old.get("tolerance") or {}
        allowed = float(tol.get("atol", 0.0)) + float(tol.get("rtol", 0.0)) * abs(v_old)
        if abs(v_new - v_old) > allowed:
            outcome.rows.append(GateRow(case_id, "drift", f"{v_old:.6g}", f"{v_new:.6g}", f"±{allowed:.3g}"))
    return outcome


def format_gate(outcome: GateOutcome) -> str:
    from tabulate import tabulate

    where = f" vs {outcome.baseline_path}" if outcome.baseline_path else ""
    if outcome.ok:
        return f"[geomclaims] gate OK{where}: {outcome.compared} claim cases kept their verdicts within tolerance"
    table = tabulate(
        [[r.case_id, r.problem, r.baseline, r.current, r.allowed] for r in outcome.rows],
        headers=["claim case", "problem", "baseline", "current", "allowed"],
        tablefmt="simple",
    )
    return f"[geomclaims] gate FAILED{where}: {len(outcome.rows)} problem(s)\n{table}\n(regenerate deliberately with `geomclaims gate RESULTS --regen`)"


def regen(
    current: str | Path | list[str | Path], baseline: str | Path = DEFAULT_BASELINE, *, report: bool = True
) -> Path:
    """Make ``current`` (one results file, or several disjoint ones to merge) the new baseline + its report."""
    from geomclaims.runner import merge_results

    paths = [Path(p) for p in (current if isinstance(current, list) else [current])]
    baseline = Path(baseline)
    data = merge_results([read_results(p) for p in paths])
    _check_regen_input(data, baseline)
    baseline.parent.mkdir(parents=True, exist_ok=True)
    write_results(data, baseline)
    if report:
        from geomclaims.report import generated_figures, render_report

        # Figures are re-drawn from the results; stale ones the previous render drew must not linger, but files
        # it did not draw (notes, hand-made figures) are not ours to delete.
        for path in generated_figures(baseline.parent):
            path.unlink(missing_ok=True)
        render_report(data, baseline.parent)
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
