"""Markdown validation report rendered from a results.json (plus the claims files' text-vs-code tables).

Layout (issue #26): the summary first (per paper one row per claim and a figure counting claims), then per paper
the details (every claim and case folded, notes written once per cause), the study's own section, the paper
text vs released code, the other profiles' verdicts and the provenance. The summary is
:mod:`geomclaims.report_summary`, the details :mod:`geomclaims.report_details`.

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

from geomclaims.claims import PENDING, ClaimFileError, PaperClaims, Verdict, load_all
from geomclaims.plugin import spec_for_paper
from geomclaims.registry import get_section_fn
from geomclaims.report_details import compact_ids, details_lines
from geomclaims.report_md import escape, fmt, table
from geomclaims.report_summary import summary_lines
from geomclaims.runner import natural_key, read_results

VERDICT_ORDER = [v.value for v in Verdict]


def measured_cell(entry: dict[str, Any]) -> str:
    m = entry.get("measured")
    if not m:
        return "—"
    lo, hi = m["ci"]
    return f"{fmt(m['value'])} [{fmt(lo)}, {fmt(hi)}] (n={m['n']})"


def case_lines(claims: list[dict[str, Any]]) -> list[str]:
    """Cases per paper and verdict (one per parametrization), and how many have their expected verdict: one line
    per paper (a case is not a claim, so these are not tallies)."""
    by_paper: dict[str, list[dict[str, Any]]] = {}
    for e in claims:
        by_paper.setdefault(e["paper"], []).append(e)
    lines = []
    for paper in sorted(by_paper):
        entries = by_paper[paper]
        counts = Counter(e["verdict"] for e in entries)
        pending = sum(e.get("expected_verdict") == PENDING for e in entries)
        expecting = len(entries) - pending
        # a verdict is never "pending", so a pending case is never counted as expected
        as_expected = sum(e["verdict"] == e.get("expected_verdict", "replicated") for e in entries)
        spelled = ", ".join(f"{counts[v]} {v.replace('_', ' ')}" for v in VERDICT_ORDER if counts.get(v))
        tail = f"; {pending} with the expectation pending (first run in this profile)" if pending else ""
        lines.append(
            f"- `{paper}`: {len(entries)} cases: {spelled}; {as_expected}/{expecting} as expected{tail}"
        )
    return lines


def counts_lines(claims: list[dict[str, Any]]) -> list[str]:
    """The tallies by independent measurement and by case, below the per-claim summary."""
    from geomclaims.tallies import COLUMNS, tally_rows

    return [
        "",
        "## Counts by measurement and by case",
        "",
        "**Independent measurements** (the cases of one measurement read against several controls count once):",
        "",
        table(tally_rows(claims)[1], ["paper", "kind", "measurements", *COLUMNS, "not_run"]),
        "",
        "**Claim cases** (one per parametrization; a case is not a claim):",
        "",
        *case_lines(claims),
    ]


TEXT_VS_CODE = "TEXT_VS_CODE.md"  # companion of REPORT.md: the per-paper "paper text vs released code" tables


def text_vs_code_table(pc: PaperClaims) -> str:
    if not pc.text_vs_code:
        return ""
    rows = [
        [escape(r["topic"]), escape(r["paper_text"]), escape(r["released_code"]), escape(r["tested_by"])]
        for r in pc.text_vs_code
    ]
    return table(rows, ["topic", "paper text", "released code", "tested by"])


def package_label(resource: dict[str, Any]) -> str:
    """``package==version`` unless the package string already names its version (``vaderSentiment==3.3.2``,
    apt's ``pkg=1.2-3``, a list of pins): then the string as recorded."""
    package = str(resource.get("package", ""))
    version = resource.get("version")
    if not version or str(version) in package or re.search(r"[=<>~]", package):
        return package
    return f"{package}=={version}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds:.0f} s ({seconds / 60:.0f} min)"


def probe_intro(results: dict[str, Any]) -> list[str]:
    """The paragraph a ``geomclaims probe`` report opens with: whose model, and what the verdicts mean here."""
    model = (results.get("probe") or {}).get("model")
    if not model:
        return []
    return [
        f"**Probe of your model** `{model['label']}` (`{model['name']}`, {model['model_type']}): the claims that apply "
        "to a pretrained model, judged with the same controls, verdict rules and stability as the suite's models. "
        "Verdicts are findings about this model; the suite's expected verdicts do not apply.",
        "",
    ]


def probe_provenance(results: dict[str, Any]) -> list[str]:
    probe = results.get("probe") or {}
    model = probe.get("model")
    if not model:
        return []
    weights = ", ".join(f"{f} `{sha}`" for f, sha in sorted((model.get("weights") or {}).items()))
    corpus = probe.get("corpus")
    where = (
        corpus
        if isinstance(corpus, str)
        else f"`{corpus['name']}` (a suite corpus)"
        if not corpus.get("path")
        else f"`{corpus['path']}` sha256 `{corpus['sha256']}` ({corpus['texts']} texts)"
    )
    return [
        f"- probed model: `{model['dir']}` = `{model['name']}` (sha256 of its and its tokenizer's files "
        f"`{model['sha256']}`); weights: {weights}; tokenizer `{model['tokenizer']}`; corpus: {where}",
    ]


def parts_provenance(parts: list[dict[str, Any]]) -> list[str]:
    """One line per merged part (``geomclaims gate A.json B.json --regen``): where and when each part ran."""
    if not parts:
        return []
    lines = [f"- merged from {len(parts)} parts, each with its own run:"]
    for i, row in enumerate(parts, 1):
        cases = row.get("cases") or []
        example = f", e.g. `{cases[0]}`" if cases else ""
        lines.append(
            f"  - part {i}: git `{row.get('git_sha', '?')}`, created {row.get('created', '?')}, wall "
            f"{_wall_text(row.get('wall_s'))}, {len(cases)} case(s){example}"
        )
    return lines


def _wall_text(wall: Any) -> str:
    return _duration(float(wall)) if isinstance(wall, int | float) else "?"


def provenance_block(results: dict[str, Any], claims: list[dict[str, Any]]) -> list[str]:
    wall_text = _wall_text(results.get("wall_s"))
    machine = results.get("machine") or {}
    how = ""
    if machine.get("executor"):
        how = f" ({machine['executor']} executor, {machine.get('workers', '?')} worker(s))"
    parts = results.get("parts") or []
    first = " (first part)" if parts else ""
    lines = [
        f"- profile: `{results.get('profile')}`; device: `{results.get('device', '?')}`; "
        f"git{first}: `{results.get('git_sha', '?')}`",
        f"- created{first}: {results.get('created', '?')}; wall time of the whole run{how}"
        f"{' (summed over the parts)' if parts else ''}: {wall_text}",
    ]
    lines += parts_provenance(parts)
    rejudged = results.get("rejudged") or {}
    if rejudged:
        lines.append(
            f"- verdicts: judged again from the stored samples with the claims files and decision rules at git "
            f"`{rejudged.get('git_sha', '?')}` (`geomclaims gate --regen`, {rejudged.get('at', '?')})"
        )
    lines += probe_provenance(results)
    packages = results.get("packages") or {}
    if packages:
        lines.append("- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items())))
    resources = results.get("resources") or []
    if resources:
        lines.append(
            "- real resources (name: registry package and version, sha256 of the assembled file): "
            + "; ".join(
                f"{r.get('name')}: `{package_label(r)}` `{str(r.get('sha256', ''))[:12]}…`" for r in resources
            )
        )
    per_study: dict[str, float] = {}
    for e in claims:
        per_study[e.get("study", "?")] = per_study.get(e.get("study", "?"), 0.0) + float(e.get("wall_s", 0.0))
    if per_study:
        # A case's wall_s times its evaluation in the driver; the experiment jobs it needed ran on the workers
        # (or came from the results store) before it, so this is not what the study cost (issue #26).
        lines.append(
            "- driver time per study (s; evaluating the cases once their experiment jobs were done: job time on "
            "the workers and results taken from the store are not in it, see the run's wall time): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_study.items()))
        )
    versions = results.get("code_versions") or {}
    if machine or versions:
        shown = [
            f"{k} `{v}`"
            for k, v in machine.items()
            if k in ("cpu", "cpu_count", "torch_cpu_capability", "torch_threads", "blas")
        ]
        if versions:
            shown.append(
                "study code versions " + ", ".join(f"{k} `{v}`" for k, v in sorted(versions.items()))
            )
        lines.append("- machine: " + "; ".join(shown))
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
    # not_run is not a verdict: a case judged in one profile only is named, not counted as a difference.
    judged = [{r[i] for i in range(1, width, 2)} - {"not_run", "error", "—"} for r in rows]
    differ = [r for r, vs in zip(rows, judged, strict=True) if len(vs) > 1]
    one_side = [
        by_id[r[0].strip("`")] for r, vs in zip(rows, judged, strict=True) if len(vs) <= 1 and "not_run" in r
    ]
    same = [
        by_id[r[0].strip("`")]
        for r, vs in zip(rows, judged, strict=True)
        if len(vs) <= 1 and "not_run" not in r
    ]
    sources = ", ".join(f"`{others[p].parent.name}/{others[p].name}`" for p in other_profiles)
    # Only the cases whose verdict differs get a row; the others are named in one line each.
    return [
        "",
        "## Verdicts across profiles",
        "",
        f"This `{here}` run beside the committed baseline(s) {sources} (cases present in both; {len(differ)} of "
        f"{len(rows)} differ in verdict). A profile differs in scale (models, texts, seeds), so a difference is a "
        "finding about scale or budget, not a regression.",
        *(["", *coverage] if coverage else []),
        *(["", f"Same verdict in every profile ({len(same)} cases): {compact_ids(same)}."] if same else []),
        *(
            [
                "",
                f"Judged in one profile only, not run in the other ({len(one_side)} cases): {compact_ids(one_side)}.",
            ]
            if one_side
            else []
        ),
        *(["", table(_by_claim_and_verdicts(differ, by_id), headers)] if differ else []),
    ]


def _by_claim_and_verdicts(rows: list[list[Any]], by_id: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """Rows of one claim with the same verdicts in every profile merged into one: its cases, and per profile the
    verdict and the measured values of the cases."""
    groups: dict[tuple[Any, ...], list[list[Any]]] = {}
    for r in rows:
        key = (by_id[r[0].strip("`")]["claim_id"], *r[1::2])
        groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        row: list[Any] = [compact_ids(by_id[m[0].strip("`")] for m in members)]
        for i in range(1, len(members[0]), 2):
            # the point value leads each measured cell ("15 [14, 16] (n=8)"); several cases: their values in order
            values = [str(m[i + 1]).split(" ", 1)[0] for m in members]
            row += [members[0][i], " / ".join(values)]
        out.append(row)
    return out


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
    titles = {pid: pc.title.split(":")[0] for pid, pc in papers.items()}
    lines = [f"# geomclaims validation report — `{results['profile']}` profile", ""]
    lines += probe_intro(results)
    summary, groups = summary_lines(claims, titles, fig_dir)
    lines += summary
    lines += counts_lines(claims)

    companion: list[str] = []
    by_paper: dict[str, list[dict[str, Any]]] = {}
    for e in claims:
        by_paper.setdefault(e["paper"], []).append(e)
    for paper_id in sorted(by_paper):
        entries = sorted(by_paper[paper_id], key=lambda e: natural_key(e["id"]))
        pc = papers.get(paper_id)
        title = f"{pc.title} (`{paper_id}`; source `{pc.source}`)" if pc else f"`{paper_id}`"
        lines += ["", f"## Details: {title}", ""]
        spec = spec_for_paper(paper_id)
        section_fn = get_section_fn(spec.name) if spec else None
        section = (lambda fn=section_fn, es=entries: fn(es, fig_dir)) if section_fn else None
        lines += details_lines([g for g in groups if g["paper"] == paper_id], entries, section)
        if pc and pc.text_vs_code:
            # The table describes the paper and its code, not this run: it lives in a companion file, so the
            # report keeps to the run's findings (issue #26's line budget) and links it.
            companion += ["", f"## {pc.title} (`{paper_id}`)", "", text_vs_code_table(pc)]

    if companion:
        # One link for every paper (the tables describe the papers and their code, not this run).
        at = lines.index("## Summary") if "## Summary" in lines else len(lines)
        lines[at:at] = [
            f"Where each paper's text and its released code differ, and the claim that tests each side: "
            f"[{TEXT_VS_CODE}]({TEXT_VS_CODE}).",
            "",
        ]
    lines += profile_comparison(results, committed_baselines(out_dir, str(results["profile"])))
    lines += ["", "## Provenance", "", *provenance_block(results, claims), ""]
    report = out_dir / "REPORT.md"
    from geomclaims.store import atomic_write_bytes

    if companion:
        header = [
            "# Paper text vs released code",
            "",
            "Where each paper's text and its released code differ (from the claims files' `text_vs_code`), and the "
            "claim or variant that tests each side. Companion of REPORT.md.",
        ]
        atomic_write_bytes(out_dir / TEXT_VS_CODE, "\n".join([*header, *companion, ""]).encode())
    atomic_write_bytes(report, "\n".join(lines).encode())
    return report
