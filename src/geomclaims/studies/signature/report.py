"""Report section of the signature study (paper P): figures and tables drawn only from results.json entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from geomclaims.registry import report_section
from geomclaims.report_md import figure, fold, table

TASK_NAMES = {"f_add": "f_add", "f_tadd": "f~add", "f_mod": "f_mod"}
SIG_NAMES = {"phi_y": "phi^y", "phi_X": "phi^X (keys)", "phi_Xy": "phi^{X|y} (keys)"}


def _by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries}


def _save(fig: Any, fig_dir: Path, name: str) -> str:
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(fig_dir / f"{name}.png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return f"figures/{name}.png"


def _heatmaps(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    members = [
        m
        for m in ("ffn_f_add", "ffn_f_tadd", "ffn_f_mod")
        if f"P6[{m}]" in e and e[f"P6[{m}]"].get("details")
    ]
    if not members:
        return None
    fig, axes = plt.subplots(2, len(members), figsize=(3.2 * len(members), 6.2), squeeze=False)
    for j, m in enumerate(members):
        d = e[f"P6[{m}]"]["details"]
        task = m.split("_", 1)[1]
        for i, (key, title) in enumerate(
            (
                ("embedding_cos_seed0", "cos(W^E_A), F_ffn"),
                ("signature_cos_seed0", SIG_NAMES[d["key_signature"]]),
            )
        ):
            ax = axes[i, j]
            im = ax.imshow(np.asarray(d[key]), cmap="viridis", vmin=-1 if i == 0 else None, vmax=1)
            ax.set_title(f"{TASK_NAMES[task]}: {title}", fontsize=8)
            ax.set_xticks(range(10), [str(a) for a in range(11, 21)], fontsize=6)
            ax.set_yticks(range(10), [str(a) for a in range(11, 21)], fontsize=6)
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, fig_dir, "signature_anchor_heatmaps")


def _order_curves(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    members = [
        m for m in ("lin_f_add", "lin_f_tadd", "ffn_f_add", "ffn_f_tadd", "ffn_f_mod") if f"P2[{m}]" in e
    ]
    members = [m for m in members if e[f"P2[{m}]"].get("details")]
    if not members:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    colors = {"f_add": "tab:red", "f_tadd": "tab:blue", "f_mod": "tab:green"}
    for m in members:
        d = e[f"P2[{m}]"]["details"]
        arch, task = m.split("_", 1)
        ax = axes[0 if arch == "lin" else 1]
        steps = np.asarray(d["steps"], dtype=float)
        curves = np.asarray(d["r_order_curves"])
        for k, c in enumerate(curves):
            ax.plot(
                np.maximum(steps, 0.5),
                c,
                color=colors[task],
                alpha=0.6,
                lw=1,
                label=TASK_NAMES[task] if k == 0 else None,
            )
    if "P3[lin_f_mod]" in e and e["P3[lin_f_mod]"].get("details"):
        pass  # F_lin on f_mod is shown by P3 (alignment), its R_order is not a claim
    for ax, title in zip(axes, ("F_lin", "F_ffn"), strict=True):
        ax.set_xscale("log")
        ax.axhline(-0.7, color="grey", ls="--", lw=0.8)
        ax.set_title(f"R_order(W^E_A) during training, {title}", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("R_order (off-diagonal)")
    fig.tight_layout()
    return _save(fig, fig_dir, "signature_r_order_curves")


def _lm_bars(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    rows = [x for x in e.values() if x["claim_id"] in ("P8", "P10") and x.get("measured")]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, matrix in zip(axes, ("embedding", "unembedding"), strict=True):
        sel = sorted(
            (x for x in rows if x["params"].get("matrix") == matrix),
            key=lambda x: (x["claim_id"], x["params"]["corpus"]),
        )
        labels = []
        for k, x in enumerate(sel):
            arch = "llama" if x["claim_id"] == "P10" else "qwen2"
            labels.append(f"{x['params']['corpus'][:10]}\n{arch}")
            null = x.get("null") or {}
            if null.get("q025") is not None:
                ax.fill_between(
                    [k - 0.35, k + 0.35], null["q025"], null["q975"], color="grey", alpha=0.35, lw=0
                )
            ax.bar(
                k, x["measured"]["value"], width=0.5, color="tab:blue" if arch == "qwen2" else "tab:orange"
            )
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=60)
        sig = "phi^next" if matrix == "embedding" else "varphi^pre"
        w = "W^E" if matrix == "embedding" else "W^U"
        ax.set_title(f"R_cos({w}, {sig}); grey: null 95% band", fontsize=9)
    fig.tight_layout()
    return _save(fig, fig_dir, "signature_lm_r_cos")


def _deciles(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    rows = [x for x in e.values() if x["claim_id"] == "P9" and x.get("details", {}).get("decile_curve")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for x in sorted(rows, key=lambda x: x["params"]["corpus"]):
        ax.plot(range(1, 11), x["details"]["decile_curve"], marker="o", ms=3, label=x["params"]["corpus"])
    ax.plot(
        range(1, 11),
        rows[0]["details"]["decile_curve_init"],
        color="grey",
        ls="--",
        label="init (one corpus)",
    )
    ax.axhline(50, color="black", lw=0.5)
    ax.set_xlabel("decile of cos(W^E) percentile")
    ax.set_ylabel("mean percentile of cos(phi^next)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, fig_dir, "signature_deciles")


def _per_token(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    """Fig. 5C: per token, R(s) against Mean(s) (seed 0 of each corpus), with each corpus's least-squares line."""
    rows = [
        x
        for x in e.values()
        if x["claim_id"] == "P9-pertoken" and x.get("details", {}).get("per_token_r_seed0")
    ]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for x in sorted(rows, key=lambda x: x["params"]["corpus"]):
        m = np.asarray(x["details"]["mean_similarity_seed0"], dtype=float)
        r = np.asarray(x["details"]["per_token_r_seed0"], dtype=float)
        ok = np.isfinite(r) & np.isfinite(m)
        pts = ax.scatter(m[ok], r[ok], s=4, alpha=0.5, label=x["params"]["corpus"])
        if ok.sum() > 2:
            slope, icpt = np.polyfit(m[ok], r[ok], 1)
            xs = np.linspace(m[ok].min(), m[ok].max(), 2)
            ax.plot(xs, slope * xs + icpt, color=pts.get_facecolor()[0], lw=1)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("Mean(s) = mean cos(W^E_s, W^E)")
    ax.set_ylabel("R(s)")
    ax.legend(fontsize=6, markerscale=3)
    fig.tight_layout()
    return _save(fig, fig_dir, "signature_per_token")


def _specificity_lines(e: dict[str, dict[str, Any]]) -> list[str]:
    """P8-specific: own R_cos against each other corpus's over the same rows (seed medians)."""
    rows = []
    for x in sorted(e.values(), key=lambda x: x["id"]):
        per_seed = x.get("details", {}).get("per_other_per_seed") if x["claim_id"] == "P8-specific" else None
        if not per_seed:
            continue
        cells = []
        for o in per_seed[0]:
            own = np.median([s[o]["own"] for s in per_seed])
            other = np.median([s[o]["other"] for s in per_seed])
            cells.append(f"{o}: {own:.2f} vs {other:.2f}")
        rows.append([x["params"]["corpus"], x["params"]["matrix"], "; ".join(cells)])
    if not rows:
        return []
    return [
        "",
        "**Corollary 4 specificity (P8-specific).** Each LM's R_cos with its own corpus's signature against another "
        "corpus's signature counted with the same tokenizer over the same rows (median over seeds; rows the other "
        "corpus has at least 20 times).",
        "",
        *fold(
            "Own vs other corpus R_cos per LM", [table(rows, ["LM corpus", "matrix", "own vs other R_cos"])]
        ),
    ]


def _digits(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    x = e.get("P11-digits")
    if not x or not x.get("details", {}).get("digit_cos"):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, key, title in zip(
        axes,
        ("digit_cos", "digit_phi_tilde_cos"),
        ("cos(W^E) digits, pretrained", "cos(phi~) digits, corpus"),
        strict=True,
    ):
        im = ax.imshow(np.asarray(x["details"][key]), cmap="viridis")
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, fig_dir, "signature_digits")


def _cost_lines(e: dict[str, dict[str, Any]]) -> list[str]:
    x = e.get("P1-fit[lin_f_add]")
    if not x or "cost" not in x.get("details", {}):
        return []
    c = x["details"]["cost"]
    s = x["details"]["schedule"]
    return [
        "",
        "**Schedules (toy models).** "
        f"`{s['schedule']}`: lr {s['lr']:g}, {s['epochs']} epochs x {s['n_samples'] // s['batch']} steps, "
        f"{c['schedule_steps']} steps for {c['members']} members in {c.get('paper_jobs', 1)} per-seed jobs took "
        f"{c['schedule_train_s']:.0f} s of job time ({c['schedule_s_per_step'] * 1000:.1f} ms/step per job). "
        f"`paper` (lr 1e-5, 1000 epochs, {c['paper_steps']} steps): timed at {c['paper_s_per_step'] * 1000:.1f} "
        f"ms/step per job, i.e. ~{c['paper_extrapolated_s'] / 3600:.1f} CPU-h for all jobs, extrapolated. "
        "Times are wall-clock on a shared machine. "
        f"Init std {x['details']['init_std']:.4g} (N(0, d^-0.8) read as std).",
    ]


def _disagreement(r: dict[str, Any]) -> str:
    if r["equal"]:
        return "exact"
    if r["proportional"]:
        return "proportional (cosines unaffected)"
    return "same support, different values" if r["same_support"] else "different support"


def _findings_lines(e: dict[str, dict[str, Any]]) -> list[str]:
    rows, artefacts = [], []
    for task in ("f_add", "f_tadd", "f_mod"):
        x = e.get(f"P5-identical[{task}]")
        if not x or "printed_vs_enumeration" not in x.get("details", {}):
            continue
        for block, r in x["details"]["printed_vs_enumeration"].items():
            occ, mem = r["occurrence"], r["membership"]
            if not r["paper_error"]:
                if not mem["equal"]:
                    artefacts.append(f"{TASK_NAMES[task]} {block}")
                continue
            rows.append(
                f"| {TASK_NAMES[task]} | {block} | {_disagreement(occ)} | {occ['max_abs_diff']:.3g} | "
                f"{occ['min_row_cos']:.4f} | {_disagreement(mem)} | {mem['max_abs_diff']:.3g} |"
            )
    if not rows and not artefacts:
        return []
    return [
        "",
        "**Paper-text findings: App. B.1 closed forms vs exact enumeration** (ground truth = all 4000 (z, a1, a2) "
        "cases, enumerated under both counting conventions; the printed forms are kept literally in "
        "`signatures.printed_closed_forms`, f_mod's equalities read modulo |Z|; the tests pin both conventions). "
        "A printed form is listed as an error "
        "only when it fails under *occurrence* counting, the convention Prop. 1 implies (the gradient w.r.t. "
        "W^E_alpha sums over the positions holding alpha, so [z, a, a] counts a twice); membership counting "
        "(what the experiments' empirical signatures use) is shown beside it.",
        "",
        *fold(
            f"Printed closed forms that fail under occurrence counting ({len(rows)})",
            [
                "| task | block | occurrence (Prop. 1) | max abs diff | min row cosine | membership | max abs diff |",
                "|---|---|---|---|---|---|---|",
                *rows,
            ],
        ),
        "",
        "Exact under occurrence counting, off only under membership (a counting-convention artefact, not a paper "
        f"error): {', '.join(artefacts) if artefacts else 'none'}.",
    ]


def _frequency_cells(e: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """(corpus, arch) -> matrix -> "R_cos per seed / partial R_cos given log frequency per seed" (P8/P10)."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for x in sorted(e.values(), key=lambda x: x["id"]):
        d = x.get("details") or {}
        if x["claim_id"] not in ("P8", "P10") or "partial_r_cos_given_log_freq" not in d:
            continue
        raw = ", ".join(f"{v:.2f}" for v in d["r_cos_per_seed"])
        part = ", ".join(f"{v:.2f}" for v in d["partial_r_cos_given_log_freq"])
        cells.setdefault((d["corpus"], d["arch"]), {})[str(x["params"].get("matrix"))] = f"{raw} / {part}"
    return cells


def _lm_lines(e: dict[str, dict[str, Any]]) -> list[str]:
    """One row per corpus and architecture: the models' size and training, and the frequency control (P8-freq)
    of both matrices."""
    freq = _frequency_cells(e)
    rows = []
    for x in sorted(e.values(), key=lambda x: x["id"]):
        if (
            x["claim_id"] not in ("P8", "P10")
            or x["params"].get("matrix") != "embedding"
            or not x.get("details")
        ):
            continue
        d = x["details"]
        loss = ", ".join(f"{a:.2f} -> {b:.2f}" for a, b in d["loss_first_last"])
        f = freq.get((d["corpus"], d["arch"]), {})
        rows.append(
            [
                d["corpus"],
                d["arch"],
                f"{d['corpus_bytes'] / 1e6:.2f} MB, {d['corpus_tokens']} tokens, vocab {d['vocab_size']}",
                f"{d['n_params']} params, {d['steps']} steps, {len(d['seeds'])} seeds, "
                f"{sum(d['train_seconds']):.0f} s",
                loss,
                f.get("embedding", "-"),
                f.get("unembedding", "-"),
            ]
        )
    if not rows:
        return []
    return [
        "",
        "**Language models.** Stand-ins for the Pile subsets (no PubMed-like biomedical corpus exists on the registries; "
        "python_docs fills that slot). Several models per corpus and architecture (seeds vary init and data order), "
        "untied embeddings, BPE tokenizer trained on the corpus itself; signatures over its top-C tokens. "
        "**Frequency control (P8-freq).** Frequent tokens share contexts and get similar softmax pushes, so R_cos can "
        "be a frequency effect. Partial correlation: both pair similarities regressed on (1, log f_i + log f_j, "
        "|log f_i - log f_j|), residuals correlated; the last two columns give R_cos per seed / partial R_cos given "
        "log frequency per seed.",
        "",
        *fold(
            "Corpora and models: size, training, loss per seed, R_cos with and without frequency",
            [
                table(
                    rows,
                    [
                        "corpus",
                        "arch",
                        "text",
                        "model and training (all seeds)",
                        "loss per seed",
                        "embedding R_cos / partial",
                        "unembedding R_cos / partial",
                    ],
                )
            ],
        ),
    ]


def _persistence_lines(e: dict[str, dict[str, Any]]) -> list[str]:
    """P3: peak vs end alignment of the true- and shuffled-label models (only persistence is f_mod-specific)."""
    x = e.get("P3[lin_f_mod]")
    d = (x or {}).get("details") or {}
    if "shuffled_final" not in d:
        return []

    def fmt(v: list[float]) -> str:
        return ", ".join(f"{a:.2f}" for a in v)

    return [
        "",
        "**P3 persistence (F_lin, f_mod).** Mean anchor cosine per seed: peak "
        f"{fmt(d['peak'])}, end {fmt(x['measured'].get('samples', []))}; "
        f"shuffled labels: peak {fmt(d['shuffled_peak'])}, end {fmt(d['shuffled_final'])}. "
        "Every configuration passes through a high-cosine phase, so the claim is judged on the end state.",
    ]


def _median_cols(rows: list[list[float]]) -> str:
    """Median over seeds of each column (gradient point) of a [seed, point] list, as "a / b / c"."""
    arr = np.asarray(rows, dtype=float)
    if arr.size == 0:
        return "-"
    return " / ".join(f"{v:.2f}" for v in np.median(arr, axis=0))


def _direction_lines(e: dict[str, dict[str, Any]]) -> list[str]:
    """P12 / P12-gd: Corollary 1's direction at init (AdamW run), AdamW's actual displacement, and plain GD's
    gradient at the end of each seed's formation window (with and without the phi^X term) and at the end of the run
    (medians over seeds)."""
    rows = []
    for task in ("f_add", "f_tadd", "f_mod"):
        adam = (e.get(f"P12[lin_{task}]") or {}).get("details") or {}
        gd = (e.get(f"P12-gd[lin_{task}]") or {}).get("details") or {}
        if not adam and not gd:
            continue
        adam_steps = ", ".join(str(s) for s in adam.get("adamw_displacement_steps", []))
        formed = gd.get("formation", {}).get("formed", [])
        rows.append(
            f"| {TASK_NAMES[task]} | {_median_cols([[r[0]] for r in adam.get('alignment_per_step', [])])} | "
            f"{_median_cols(adam.get('adamw_displacement_alignment', []))}"
            f"{f' (steps {adam_steps})' if adam_steps else ''} | "
            f"{_median_cols([[v] for v in gd.get('window_end_step', [])])} ({sum(formed)}/{len(formed)} formed) | "
            f"{_median_cols([[v] for v in gd.get('alignment_at_window_end', [])])} | "
            f"{_median_cols([[v] for v in gd.get('alignment_with_phiX_term_at_window_end', [])])} | "
            f"{_median_cols([[v] for v in gd.get('alignment_at_run_end', [])])} | "
            f"{_median_cols([[v] for v in gd.get('relative_loss_drop_run', [])])} |"
        )
    if not rows:
        return []
    gd_any = next(
        (x["details"] for k, x in sorted(e.items()) if k.startswith("P12-gd[") and x.get("details")), {}
    )
    opt = gd_any.get("optimizer", {})
    n_points = len(gd_any.get("grad_steps", []))
    return [
        "",
        "**Corollary 1 along the trajectory (P12, P12-gd; F_lin).** Mean over anchors of the cosine with Corollary 1's "
        "prediction, median over seeds. P12 reads the exact full-data gradient at init of the AdamW run; AdamW's "
        "displacement W^E(t) - W^E(0) is compared with the init prediction. The corollary is about gradient flow, so "
        f"P12-gd trains the same model by plain full-batch gradient descent (lr {opt.get('lr', '?')}, "
        f"{opt.get('steps', '?')} steps, gradients at {n_points} points) and reads the gradient against the "
        "prediction made with the current W^U at the end of each seed's formation window (the first gradient point "
        "where R_order <= -0.7, or for f_mod the mean anchor cosine >= 0.8: Sec. 5.2, Fig. 2B, Remark 1); the curves "
        "are in the figure above.",
        "",
        "| task | P12: gradient at init | AdamW displacement vs init prediction | GD window end (step) | "
        "GD at window end | with the phi^X term | GD at run end | GD relative loss drop (run) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def _formation_curves(e: dict[str, dict[str, Any]], fig_dir: Path) -> str | None:
    """P12-gd: alignment with Corollary 1 (with / without the phi^X term) and the structure curve over the GD run,
    medians over seeds, window ends marked."""
    tasks = [t for t in ("f_add", "f_tadd", "f_mod") if (e.get(f"P12-gd[lin_{t}]") or {}).get("details")]
    tasks = [t for t in tasks if "window_end_step" in e[f"P12-gd[lin_{t}]"]["details"]]
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        d = e[f"P12-gd[lin_{task}]"]["details"]
        steps = np.asarray(d["grad_steps"])
        ax.plot(steps, np.median(d["alignment_per_step"], axis=0), label="phi^y term")
        ax.plot(steps, np.median(d["alignment_per_step_with_phiX_term"], axis=0), "--", label="+ phi^X term")
        key = d["formation"]["curve"]
        ax.plot(steps, np.median(d[f"{key}_at_grad_steps"], axis=0), ":", color="gray", label=key)
        for s in d["window_end_step"]:
            ax.axvline(s, color="red", alpha=0.3, lw=1)
        ax.axhline(0.9, color="black", lw=0.5)
        ax.set_title(f"{TASK_NAMES[task]} (GD)")
        ax.set_xlabel("step")
        ax.set_ylim(-1.05, 1.05)
    axes[0][0].legend(fontsize=7, loc="lower left")
    return _save(fig, fig_dir, "signature_formation_window")


@report_section("signature")
def section(entries: list[dict[str, Any]], fig_dir: Path) -> str:
    e = _by_id(entries)
    lines = ["### Probability signatures (paper P): figures", ""]
    for fn, caption in (
        (
            _heatmaps,
            "cos(W^E_A) of F_ffn (seed 0, end of training) and cos of each task's key signature (Fig. 3A).",
        ),
        (
            _order_curves,
            "R_order of the anchor embeddings over training, every seed (Fig. 2B); dashed: the -0.7 bar.",
        ),
        (_lm_bars, "R_cos per corpus and architecture against the init null's 95% band (Fig. 5B / 13B)."),
        (_deciles, "Mean percentile of cos(phi^next) per decile of cos(W^E) (Fig. 5E)."),
        (
            _per_token,
            "Per token s: R(s) = Corr(cos(W^E_s, W^E), cos(phi_s, phi)) against Mean(s), seed 0 per corpus, with "
            "each corpus's least-squares line (Fig. 5C).",
        ),
        (_digits, "Digits 0-9: pretrained tied embeddings vs phi~ = phi^next + varphi^pre (Fig. 6B)."),
        (
            _formation_curves,
            "P12-gd: cosine of the GD gradient with Corollary 1's prediction (solid: phi^y term; dashed: with the "
            "phi^X term) and the structure curve (dotted), medians over seeds; red: each seed's window end.",
        ),
    ):
        path = fn(e, fig_dir)
        if path:
            lines.append(figure(caption, path))
    lines += _cost_lines(e)
    lines += _lm_lines(e)
    lines += _specificity_lines(e)
    lines += _persistence_lines(e)
    lines += _direction_lines(e)
    lines += _findings_lines(e)
    return "\n".join(lines) + "\n"
