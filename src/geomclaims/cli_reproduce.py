"""``geomclaims reproduce CASE_ID``: re-derive one case's verdict and show how it was decided.

Two sources. By default the case is judged again from the experiment store (``evaluate_case``: every job it needs is
read from the store, or computed when missing), with the cases that read the same measurement against other controls
(``same_measurement_as``), so the measurement's verdict is the one a run gives; the run's judged entry in the store,
when there is one, is the recorded verdict (the store journals a case's own reading, so that is what is compared). With ``--results FILE`` nothing is run: the case and
its siblings are re-judged from the samples FILE records with the rule inputs of today's claims files
(``runner.refresh_case_fields`` + ``measurements.rejudge_entry``, as ``gate --regen`` does), and FILE's verdict is
the recorded one. Either way the verdict comes from ``decision.decide`` and ``measurements.judge_measurements``; this
module only prints the fields they fill in.
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

from geomclaims.claims import ClaimCase, load_all
from geomclaims.cli_common import CliError, Exit, emit_json, say, seed_offset


def measurement_cases(case: ClaimCase, cases: list[ClaimCase]) -> list[ClaimCase]:
    """``case`` and the cases that may read its measurement (same paper, root claim and parameters); which of them
    really share it (identical samples) ``measurements.judge_measurements`` decides once they are judged."""
    from geomclaims.measurements import case_suffix, root_claim

    paper = [c for c in cases if c.claim.paper == case.claim.paper]
    parent = {(c.claim.paper, c.claim.id): c.claim.same_measurement_as for c in paper}

    def key(c: ClaimCase) -> tuple[str, str]:
        return root_claim(c.claim.paper, c.claim.id, parent), case_suffix(c.case_id, c.claim.id)

    return [c for c in paper if key(c) == key(case)]


def _find_case(case_id: str, papers: Any) -> ClaimCase:
    from geomclaims.runner import select_cases

    found = select_cases(papers, claim_ids=[case_id])
    if len(found) != 1:
        raise CliError(
            f"{case_id!r} names {len(found)} claim cases ({', '.join(c.case_id for c in found)}); "
            "reproduce takes one case id"
        )
    return found[0]


def _from_results(case: ClaimCase, group: list[ClaimCase], path: str) -> tuple[dict, str | None, dict]:
    from geomclaims.measurements import JUDGED, judge_measurements, rejudge_entry
    from geomclaims.runner import read_results, refresh_case_fields

    data = read_results(path)
    by_id = {e["id"]: e for e in data["claims"]}
    if case.case_id not in by_id:
        raise CliError(f"case {case.case_id!r} is not in {path}; `geomclaims list --results {path}` lists it")
    entries = [copy.deepcopy(by_id[c.case_id]) for c in group if c.case_id in by_id]
    # The rule inputs (condition, null rule, kind) as today's claims files state them, as `gate --regen` does
    refresh_case_fields({"profile": data["profile"], "claims": entries}, group)
    for e in entries:
        rejudge_entry(e, str(data["profile"]))
    judge_measurements(entries)
    entry = next(e for e in entries if e["id"] == case.case_id)
    if entry["verdict"] not in JUDGED:
        # rejudge_entry decides judged readings only: a recorded untestable / not_run / error is kept as it is
        entry["explanation"] = (
            f"kept as recorded (re-judging decides judged readings only): {entry['explanation']}"
        )
    provenance = {
        "source": f"re-judged from the samples recorded in {path} with today's claims files (no experiment run)",
        "profile": data["profile"],
        "git_sha": data.get("git_sha"),
        "created": data.get("created"),
        "device": data.get("device"),
        "seed_offset": data.get("seed_offset", 0),
        "code_version": (data.get("code_versions") or {}).get(entry.get("study")),
        "cpu": (data.get("machine") or {}).get("cpu"),
    }
    return entry, by_id[case.case_id]["verdict"], provenance


def _from_store(
    case: ClaimCase, group: list[ClaimCase], args: argparse.Namespace
) -> tuple[dict, str | None, dict]:
    from geomclaims.measurements import judge_measurements
    from geomclaims.registry import study_code_version, study_of
    from geomclaims.runner import Session, case_key, evaluate_case, judge_code_version, resolve_device
    from geomclaims.store import META_KEY, Store

    computed: set[str] = set()

    class WatchedStore(Store):
        """The store, noting the jobs this command had to compute (the others come from earlier runs)."""

        def get_or_compute(self, key: str, *a: Any, **kw: Any) -> dict[str, Any]:
            if self.enabled and not self.path(key).exists():
                computed.add(key)
            return super().get_or_compute(key, *a, **kw)

    store = WatchedStore()
    session = Session(
        profile=args.profile, store=store, device=resolve_device(args.device), seed_offset=args.seed_offset
    )
    study = study_of(case.claim.experiment)
    ctx = session.context(study)
    # The store journals a case's own reading (before the measurement's controls are combined), so that is what
    # the recorded verdict is compared with on this path.
    journal = ctx.store.load_case(case_key(case, ctx)) if ctx.store.enabled else None
    recorded = None if journal is None else (journal.get("reading") or journal)["verdict"]
    entries = [evaluate_case(c, session.context(study_of(c.claim.experiment))) for c in group]
    judge_measurements(entries)
    entry = next(e for e in entries if e["id"] == case.case_id)
    jobs = []
    for key, result in ctx._memo.items():
        meta = result.get(META_KEY) or {}
        jobs.append(
            {
                "experiment": meta.get("experiment"),
                "seed": meta.get("seed"),
                "created": meta.get("created"),
                "computed_now": key in computed or not store.enabled,
                "wall_s": meta.get("wall_s"),
                "git_sha": meta.get("git_sha"),
            }
        )
    provenance = {
        "source": f"judged again from the experiment store {ctx.store.root}"
        + (" (missing jobs computed now)" if any(j["computed_now"] for j in jobs) else ""),
        "profile": args.profile,
        "device": session.device,
        "seed_offset": args.seed_offset,
        "code_version": study_code_version(study),
        "judge_code": judge_code_version(),
        "jobs": sorted(jobs, key=lambda j: (str(j["experiment"]), j["seed"] or 0)),
    }
    return entry, recorded, provenance


def decision_steps(entry: dict[str, Any]) -> list[str]:
    """The decision as the judged entry records it, in the order ``decide`` takes it (no rule re-implemented)."""

    def yes(flag: Any, true: str, false: str, none: str) -> str:
        return none if flag is None else true if flag else false

    steps = []
    for p in entry.get("preconditions") or []:
        steps.append(
            f"precondition {p['metric']} {p['op']} {p['value']}: measured {p['measured']:.4g} -> "
            f"{'met' if p['met'] else 'UNMET (the case is untestable)'}"
        )
    m = entry.get("measured")
    if m is None:
        steps.append(f"no measurement: {entry.get('explanation', '')}")
        return steps
    steps.append(
        f"paper condition {entry.get('expect')} on the 95% CI [{m['ci'][0]:.4g}, {m['ci'][1]:.4g}]: "
        + yes(
            entry.get("paper_condition_met"), "met by the whole CI", "violated by the whole CI", "straddled"
        )
    )
    n = entry.get("null")
    rule = entry.get("null_rule") or {}
    if n is not None or rule:
        name = rule.get("name") or (n or {}).get("name")
        steps.append(
            f"control '{name}' ({rule.get('rule')}): "
            + yes(entry.get("null_condition_met"), "beaten", "not beaten", "undecided")
            + "; the control itself "
            + yes(entry.get("null_satisfies_paper"), "meets", "does not meet", "-")
            + " the paper condition"
        )
    else:
        steps.append(f"no control: {entry.get('null_reason') or 'none'}")
    reading = entry.get("reading") or entry
    steps.append(
        f"this control's reading: {reading['verdict']} (stability {_stab(reading.get('stability'))})"
    )
    controls = entry.get("controls") or []
    if len(controls) > 1:
        steps.append(
            f"one measurement, {len(controls)} controls: the strongest reading decides -> {entry['verdict']}"
        )
    return steps


def _stab(s: float | None) -> str:
    return "-" if s is None else f"{s:.2f}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def cmd_reproduce(args: argparse.Namespace) -> int:
    papers = load_all(args.claims_dir)
    cases = [c for pc in papers.values() for c in pc.cases()]
    case = _find_case(args.case, papers.values())
    group = measurement_cases(case, cases)
    if args.results:
        entry, recorded, provenance = _from_results(case, group, args.results)
    else:
        entry, recorded, provenance = _from_store(case, group, args)
    # against the results file: the measurement's verdict; against the store's journal: this control's reading
    derived = entry["verdict"] if args.results else (entry.get("reading") or entry)["verdict"]
    reproduced = recorded is None or recorded == derived
    report = {
        "case": entry["id"],
        "claim": entry["claim_id"],
        "paper": entry["paper"],
        "kind": entry.get("kind"),
        "statement": entry.get("statement"),
        "provenance": provenance,
        "measured": entry.get("measured"),
        "null": entry.get("null"),
        "preconditions": entry.get("preconditions") or [],
        "controls": entry.get("controls") or [],
        "steps": decision_steps(entry),
        "verdict": entry["verdict"],
        "stability": entry.get("stability"),
        "explanation": entry.get("explanation"),
        "expected_verdict": entry.get("expected_verdict"),
        "recorded_verdict": recorded,
        "rederived_verdict": derived,
        "reproduced": reproduced,
    }
    say(_text(report), args.json)
    if args.json:
        emit_json(report)
    return Exit.OK if reproduced else Exit.UNEXPECTED


def _text(r: dict[str, Any]) -> str:
    lines = [
        f"{r['case']}: claim {r['claim']} of {r['paper']} ({r['kind']})",
        f"  {r['statement']}",
        "provenance:",
    ]
    prov = dict(r["provenance"])
    jobs = prov.pop("jobs", [])
    lines += [f"  {k}: {v}" for k, v in prov.items()]
    for j in jobs:
        how = "computed now" if j["computed_now"] else f"from the store, computed {j['created']}"
        lines.append(f"  job {j['experiment']} seed {j['seed']}: {how} ({j['wall_s']} s, git {j['git_sha']})")
    m = r["measured"]
    if m:
        lines.append(
            f"measurement: {m['value']:.4g} [{m['ci'][0]:.4g}, {m['ci'][1]:.4g}] (n={m['n']}"
            + (f" x {len(m['replicates'][0])} shared-data resamples" if m.get("replicates") else "")
            + f", se {m['se']:.3g}); "
            f"samples {[round(x, 4) for x in m['samples']]}"
        )
    n = r["null"]
    if n:
        lines.append(
            f"control {n['name']}: median {_num(n['median'])} [{_num(n['q025'])}, {_num(n['q975'])}], threshold "
            f"{_num(n['threshold'])}, Mann-Whitney p {_num(n['mwu_p'])}"
        )
    if r["controls"]:
        lines.append("controls of this measurement:")
        lines += [
            f"  {c['case']}: '{c['null']}' -> {c['verdict']} (stability {_stab(c['stability'])})"
            for c in r["controls"]
        ]
    lines.append("decision steps:")
    lines += [f"  {i}. {step}" for i, step in enumerate(r["steps"], 1)]
    lines.append(
        f"verdict: {r['verdict']} (stability {_stab(r['stability'])}); expected {r['expected_verdict']}"
    )
    lines.append(f"  {r['explanation']}")
    if r["recorded_verdict"] is None:
        lines.append("recorded: none (no judged entry for these settings in the store)")
    else:
        same = "reproduced" if r["reproduced"] else "NOT reproduced"
        lines.append(f"recorded: {r['recorded_verdict']}, re-derived: {r['rederived_verdict']} -> {same}")
    return "\n".join(lines)


def add_reproduce_parser(sub: Any, profiles: tuple[str, ...]) -> None:
    p = sub.add_parser(
        "reproduce",
        help="re-derive one case's verdict and show provenance, measurement, controls and decision steps",
    )
    p.add_argument("case", metavar="CASE_ID", help="one case id (or a claim id with a single case)")
    p.add_argument("--profile", choices=profiles, default="ci", help="profile whose settings to judge with")
    p.add_argument(
        "--results", metavar="FILE", help="re-judge from the samples of this results.json (runs nothing)"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (part of the store key)")
    p.add_argument(
        "--seed-offset", type=seed_offset, default=0, help="the run's --seed-offset (part of the store key)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=cmd_reproduce)
