"""Markdown validation report rendered from a results.json (plus the claims files' text-vs-code tables).

Deterministic given its inputs: no timestamps beyond the ones in results.json, sorted rows, fixed figure sizes,
PNGs written without metadata.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from tabulate import tabulate

from geomclaims.claims import ClaimFileError, PaperClaims, Verdict, load_all
from geomclaims.registry import PAPER_STUDY, get_section_fn
from geomclaims.runner import natural_key, read_results

VERDICT_ORDER = [v.value for v in Verdict]
VERDICT_MARK = {
    "replicated": "✅ replicated",
    "verified": "☑️ verified",
    "trivial": "⚪ trivial",
    "inconclusive": "❔ inconclusive",
    "not_replicated": "❌ not replicated",
    "untestable": "⛔ untestable",
    "not_run": "⏭️ not run",
}
VERDICT_COLOR = {
    "replicated": "#2e7d32",
    "verified": "#1565c0",
    "trivial": "#9e9e9e",
    "inconclusive": "#f9a825",
    "not_replicated": "#c62828",
    "untestable": "#6d4c41",
    "not_run": "#cfd8dc",
}


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def measured_cell(entry: dict[str, Any]) -> str:
    m = entry.get("measured")
    if not m:
        return "—"
    lo, hi = m["ci"]
    return f"{fmt(m['value'])} [{fmt(lo)}, {fmt(hi)}] (n={m['n']})"


def null_cell(entry: dict[str, Any]) -> str:
    n = entry.get("null")
    if not n:
        reason = entry.get("null_reason")
        return f"none ({reason})" if reason else "—"
    if n.get("q025") is None:
        return f"{n['name']}: CI vs {fmt(n['median'])}"
    return f"{n['name']}: {fmt(n['median'])} [{fmt(n['q025'])}, {fmt(n['q975'])}]"


def _escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def stability_cell(entry: dict[str, Any]) -> str:
    s = entry.get("stability")
    return "—" if s is None else f"{s:.2f}"


def preconditions_cell(entry: dict[str, Any]) -> str:
    """``metric op value: measured ✓/✗`` per validity precondition of the case."""
    parts = []
    for p in entry.get("preconditions") or []:
        value = p["value"]
        req = f"[{fmt(value[0])}, {fmt(value[1])}]" if isinstance(value, list) else fmt(value)
        parts.append(f"{p['metric']} {p['op']} {req}: {fmt(p['measured'])} {'✓' if p['met'] else '✗'}")
    return "; ".join(parts) or "—"


def summary_rows(claims: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    by_paper: dict[str, list[dict[str, Any]]] = {}
    for e in claims:
        by_paper.setdefault(e["paper"], []).append(e)
    for paper in sorted(by_paper):
        entries = by_paper[paper]
        counts = Counter(e["verdict"] for e in entries)
        as_expected = sum(e["verdict"] == e.get("expected_verdict", "replicated") for e in entries)
        rows.append(
            [paper, *[counts.get(v, 0) for v in VERDICT_ORDER], len(entries), f"{as_expected}/{len(entries)}"]
        )
    return rows


CATEGORY_COLOR = {
    **VERDICT_COLOR,
    "no_control": "#90caf9",
    "leaning": "#ffe082",
    "mixed": "#8e24aa",
}


def _summary_figure(claims: list[dict[str, Any]], fig_dir: Path) -> str | None:
    """Claims (not cases) per paper and kind, stacked by tally column (geomclaims.tallies)."""
    if not claims:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geomclaims.tallies import COLUMNS, tally_rows

    rows, _, _ = tally_rows(claims)
    labels = [f"{r[0]} ({r[1]})" for r in rows]
    columns = [*COLUMNS, "mixed", "not_run"]
    fig, ax = plt.subplots(figsize=(8, 1.8 + 0.45 * len(labels)))
    left = [0] * len(labels)
    for j, col in enumerate(columns):
        counts = [r[3 + j] for r in rows]
        ax.barh(labels, counts, left=left, color=CATEGORY_COLOR[col], label=col.replace("_", " "))
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_xlabel("claims (one verdict per measurement against its strongest control)")
    ax.legend(loc="lower right", fontsize=7, frameon=False, ncol=2)
    ax.invert_yaxis()
    fig.tight_layout()
    fig_dir.mkdir(parents=True, exist_ok=True)
    path = fig_dir / "summary_verdicts.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return f"figures/{path.name}"


def paper_table(entries: list[dict[str, Any]]) -> str:
    from geomclaims.tallies import has_control

    rows = []
    for e in sorted(entries, key=lambda e: natural_key(e["id"])):
        verdict = VERDICT_MARK.get(e["verdict"], e["verdict"])
        if e["verdict"] != e.get("expected_verdict", "replicated"):
            verdict += f" (expected {e['expected_verdict']})"
        if e["verdict"] == "replicated" and not (len(e.get("controls") or []) > 1 or has_control(e)):
            verdict += " (no control)"  # met the condition, but nothing that could fail was compared
        own = (e.get("reading") or {}).get("verdict")
        if own and own != e["verdict"]:
            verdict += f" (own control: {own})"
        rows.append(
            [
                f"`{e['id']}`",
                e.get("kind") or "paper",
                _escape(e["statement"]),
                _escape(e["section"]),
                _escape(e.get("paper_value") or e.get("expect", "")),
                f"{_escape(e['metric'])} {_escape(e.get('expect', ''))}",
                measured_cell(e),
                _escape(null_cell(e)),
                _escape(preconditions_cell(e)),
                verdict,
                stability_cell(e),
            ]
        )
    return tabulate(
        rows,
        headers=[
            "id",
            "kind",
            "claim (paraphrase)",
            "section",
            "paper value",
            "condition",
            "measured [95% CI] (n)",
            "null [2.5%, 97.5%]",
            "preconditions (required: measured)",
            "verdict",
            "stability",
        ],
        tablefmt="github",
    )


def explanations(entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for e in sorted(entries, key=lambda e: natural_key(e["id"])):
        if e["verdict"] in ("replicated", "verified") and not e.get("notes"):
            continue
        text = f"- **{e['id']}** — {_escape(e.get('explanation', ''))}"
        if e.get("expected_reason") and e["verdict"] not in ("replicated", "verified"):
            text += f" *Why we expect this:* {_escape(e['expected_reason'])}"
        controls = e.get("controls") or []
        if len(controls) > 1:
            text += (
                " Controls of this measurement: "
                + "; ".join(f"`{c['null']}` ({c['case']}): {c['verdict']}" for c in controls)
                + "."
            )
        for note in e.get("notes", []):
            text += f" Note: {_escape(note)}"
        lines.append(text)
    return lines


def text_vs_code_table(pc: PaperClaims) -> str:
    if not pc.text_vs_code:
        return ""
    rows = [
        [_escape(r["topic"]), _escape(r["paper_text"]), _escape(r["released_code"]), _escape(r["tested_by"])]
        for r in pc.text_vs_code
    ]
    return tabulate(rows, headers=["topic", "paper text", "released code", "tested by"], tablefmt="github")


def provenance_block(results: dict[str, Any], claims: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"- profile: `{results.get('profile')}`; device: `{results.get('device', '?')}`; git: `{results.get('git_sha', '?')}`",
        f"- created: {results.get('created', '?')}; total wall time: {results.get('wall_s', '?')} s",
    ]
    packages = results.get("packages") or {}
    if packages:
        lines.append("- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items())))
    resources = results.get("resources") or []
    if resources:
        lines.append("- real resources (registry package, version, sha256 of the assembled file):")
        for r in resources:
            lines.append(
                f"  - {r.get('name')}: `{r.get('package')}=={r.get('version')}` sha256 `{str(r.get('sha256', ''))[:16]}…`"
            )
    per_study: dict[str, float] = {}
    for e in claims:
        per_study[e.get("study", "?")] = per_study.get(e.get("study", "?"), 0.0) + float(e.get("wall_s", 0.0))
    if per_study:
        lines.append(
            "- wall time per study (s, claim evaluation incl. training on a cold cache): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_study.items()))
        )
    machine = results.get("machine") or {}
    if machine:
        lines.append(
            "- machine: "
            + "; ".join(
                f"{k} `{v}`"
                for k, v in machine.items()
                if k in ("cpu", "cpu_count", "torch_cpu_capability", "torch_threads", "blas")
            )
        )
    versions = results.get("code_versions") or {}
    if versions:
        lines.append("- study code versions: " + ", ".join(f"{k} `{v}`" for k, v in sorted(versions.items())))
    lines.append(
        "- uncertainty: the [95% CI] is a percentile bootstrap of the aggregate over seeds (the samples), not over "
        "items; stability = share of 200 seed/null resamples that reproduce the verdict."
    )
    return lines


# Lists, one per line, the files under figures/ the last render wrote, so `gate --regen` can delete exactly those
# (stale figures of a study that left the baseline) and nothing a person put there.
FIGURE_MANIFEST = "generated.txt"
_MANIFEST_HEADER = (
    "# figures written by the geomclaims report; `geomclaims gate --regen` deletes exactly these\n"
)


def committed_baselines(out_dir: str | Path, profile: str) -> dict[str, Path]:
    """The committed baselines of the OTHER real-data profiles beside a report (ci <-> full; smoke is plumbing):
    ``reports/<p>/results.json`` found from ``reports/<profile>/`` (a baseline) or ``reports/<profile>/<run>/``
    (e.g. ``latest``); {} elsewhere."""
    from geomclaims.claims import PROFILES

    if profile == "smoke":  # plumbing on synthetic stand-ins: nothing to compare with
        return {}
    out = Path(out_dir).resolve()
    for reports in (out.parent, out.parent.parent):
        if reports.name == "reports":
            found = {p: reports / p / "results.json" for p in PROFILES if p not in (profile, "smoke")}
            return {p: path for p, path in found.items() if path.is_file()}
    return {}


def profile_comparison(results: dict[str, Any], others: dict[str, Path]) -> list[str]:
    """Markdown section: each case of this run beside its verdict and measurement in the other profiles' committed
    baselines (only cases present in both; nothing when no other baseline shares a case), and how many cases of the
    shared papers one side lacks (a baseline may cover part of a paper)."""
    here = str(results["profile"])
    rows_by_case: dict[str, list[Any]] = {}
    other_profiles: list[str] = []
    coverage: list[str] = []
    by_id = {e["id"]: e for e in results["claims"]}
    for profile, path in sorted(others.items()):
        theirs = {e["id"]: e for e in read_results(path)["claims"]}
        shared = sorted(set(by_id) & set(theirs), key=natural_key)
        if not shared:
            continue
        other_profiles.append(profile)
        # A baseline may cover part of a paper (e.g. a full run a model at a time): say what is not compared.
        papers = {by_id[c]["paper"] for c in shared}
        only_here = [c for c in by_id if c not in theirs and by_id[c]["paper"] in papers]
        only_there = [c for c in theirs if c not in by_id and theirs[c]["paper"] in papers]
        source = f"`{path.parent.name}/{path.name}`"
        for ids, what in (
            (only_here, f"of this run have no verdict in {source}"),
            (only_there, f"of {source} (same papers) are not in this run"),
        ):
            if ids:
                ids = sorted(ids, key=natural_key)
                more = f" and {len(ids) - 4} more" if len(ids) > 4 else ""
                coverage.append(f"- {len(ids)} case(s) {what}: {', '.join(f'`{c}`' for c in ids[:4])}{more}.")
        for cid in shared:
            row = rows_by_case.setdefault(cid, [f"`{cid}`", by_id[cid]["verdict"], measured_cell(by_id[cid])])
            row += [theirs[cid]["verdict"], measured_cell(theirs[cid])]
    if not rows_by_case:
        return []
    headers = ["case", f"{here} verdict", f"{here} measured"]
    for profile in other_profiles:
        headers += [f"{profile} verdict", f"{profile} measured"]
    width = len(headers)
    rows = [
        r + ["—"] * (width - len(r))
        for _, r in sorted(rows_by_case.items(), key=lambda kv: natural_key(kv[0]))
    ]
    changed = sum(len({r[i] for i in range(1, width, 2)}) > 1 for r in rows)
    sources = ", ".join(f"`{others[p].parent.name}/{others[p].name}`" for p in other_profiles)
    return [
        "",
        "## Verdicts across profiles",
        "",
        f"This `{here}` run beside the committed baseline(s) {sources} (cases present in both; {changed} of "
        f"{len(rows)} differ in verdict). A profile differs in scale (models, texts, seeds), so a difference is a "
        "finding about scale or budget, not a regression.",
        *(["", *coverage] if coverage else []),
        "",
        tabulate(rows, headers=headers, tablefmt="github"),
    ]


def generated_figures(out_dir: str | Path) -> list[Path]:
    """Figures the last render into ``out_dir`` wrote: from the manifest, or (a report rendered before the
    manifest existed) the ``figures/...`` links of its REPORT.md. Only paths inside ``figures/``."""
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    manifest = fig_dir / FIGURE_MANIFEST
    if manifest.exists():
        names = [line.strip() for line in manifest.read_text().splitlines()]
        names = [n for n in names if n and not n.startswith("#")]
    elif (out_dir / "REPORT.md").exists():
        names = re.findall(r"\]\(figures/([^)\s]+)\)", (out_dir / "REPORT.md").read_text())
    else:
        names = []
    root = fig_dir.resolve()
    paths = [(fig_dir / n) for n in dict.fromkeys(names)]
    return [p for p in paths if p.resolve().is_relative_to(root) and p.resolve() != root]


def _publish_figures(stage: Path, fig_dir: Path) -> None:
    """Move freshly drawn figures from ``stage`` into ``fig_dir`` and record their names in the manifest."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage)
        (fig_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, fig_dir / rel)
        names.append(rel.as_posix())
    from geomclaims.store import atomic_write_bytes

    atomic_write_bytes(
        fig_dir / FIGURE_MANIFEST, (_MANIFEST_HEADER + "".join(f"{n}\n" for n in names)).encode()
    )


def render_report(
    results: dict[str, Any] | str | Path, out_dir: str | Path, claims_dir: str | Path | None = None
) -> Path:
    """Write ``out_dir/REPORT.md`` and ``out_dir/figures/*.png`` (+ the figure manifest); returns the report path."""
    if not isinstance(results, dict):
        results = read_results(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from geomclaims.store import clean_stale_tmp, tmp_prefix

    clean_stale_tmp(out_dir, recursive=False)  # staging folders of a killed render
    # Figures are drawn into a staging directory first, so the manifest lists exactly what this render wrote.
    with tempfile.TemporaryDirectory(prefix=tmp_prefix("figures"), dir=out_dir) as stage:
        report = _render(results, out_dir, Path(stage), claims_dir)
        _publish_figures(Path(stage), out_dir / "figures")
    return report


def _render(results: dict[str, Any], out_dir: Path, fig_dir: Path, claims_dir: str | Path | None) -> Path:
    claims = results["claims"]
    try:
        papers = load_all(claims_dir)
    except (ClaimFileError, FileNotFoundError):
        papers = {}

    lines = [f"# geomclaims validation report — `{results['profile']}` profile", ""]
    lines.append(
        "Each claim from the three papers is measured on models trained or loaded here, compared with the paper's "
        "condition AND with a null/control, on the 95% seed CI of the aggregate. `replicated` = the whole CI meets "
        "the condition and beats the null; `verified` = an identity/estimator check holds; `trivial` = the null "
        "meets it too or the measurement is decisively no better; `inconclusive` = this budget cannot decide (the CI "
        "straddles the threshold or the null); `not_replicated` = the whole CI violates the condition; `untestable` = "
        "the evidence cannot be produced or a validity precondition is unmet; `not_run` = deferred to another profile."
    )
    from geomclaims.tallies import COLUMNS, headline, tally_rows

    claim_rows, meas_rows, mixed_lines = tally_rows(claims)
    lines += ["", "## Summary", "", *headline(claims), ""]
    lines.append(
        "**Claims**, one verdict per measurement against its strongest control (claims sharing a measurement count "
        "once; `leaning` = a decisive verdict with stability < 0.9, shown and not counted as decisive; `no_control` "
        "= met the condition with no control that could fail; `not_run` is not a verdict and never makes a claim "
        "mixed; extensions and `verified` identities are counted apart from paper claims):"
    )
    lines += [
        "",
        tabulate(
            claim_rows, headers=["paper", "kind", "claims", *COLUMNS, "mixed", "not_run"], tablefmt="github"
        ),
    ]
    if mixed_lines:
        lines += ["", *mixed_lines]
    lines += [
        "",
        "**Independent measurements** (the cases of one measurement read against several controls count once):",
        "",
    ]
    lines.append(
        tabulate(meas_rows, headers=["paper", "kind", "measurements", *COLUMNS, "not_run"], tablefmt="github")
    )
    lines += ["", "**Claim cases** (one per parametrization):", ""]
    lines.append(
        tabulate(
            summary_rows(claims), headers=["paper", *VERDICT_ORDER, "cases", "as expected"], tablefmt="github"
        )
    )
    fig = _summary_figure(claims, fig_dir)
    if fig:
        lines += ["", f"![verdicts per paper]({fig})"]

    by_paper: dict[str, list[dict[str, Any]]] = {}
    for e in claims:
        by_paper.setdefault(e["paper"], []).append(e)
    for paper_id in sorted(by_paper):
        entries = by_paper[paper_id]
        pc = papers.get(paper_id)
        title = f"{pc.title} (`{paper_id}`)" if pc else f"`{paper_id}`"
        lines += ["", f"## {title}", ""]
        if pc:
            lines += [f"Source: `{pc.source}`", ""]
        lines.append(paper_table(entries))
        notes = explanations(entries)
        if notes:
            lines += ["", "**Verdict notes**", "", *notes]
        study = PAPER_STUDY.get(paper_id)
        section_fn = get_section_fn(study) if study else None
        if section_fn is not None:
            lines += ["", section_fn(sorted(entries, key=lambda e: natural_key(e["id"])), fig_dir).rstrip()]
        if pc and pc.text_vs_code:
            lines += ["", "### Paper text vs released code", "", text_vs_code_table(pc)]

    lines += profile_comparison(results, committed_baselines(out_dir, str(results["profile"])))
    lines += ["", "## Provenance", "", *provenance_block(results, claims), ""]
    report = out_dir / "REPORT.md"
    from geomclaims.store import atomic_write_bytes

    atomic_write_bytes(report, "\n".join(lines).encode())
    return report
