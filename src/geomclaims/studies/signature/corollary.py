"""Corollary 1 (Sec. 5.2, App. D.3): the predicted gradient direction of an anchor embedding against the exact
full-data gradients, on the AdamW run (P12, ``signature/toy``) and along plain gradient descent (P12-gd,
``signature/gd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.metrics import cosine_matrix
from geomclaims.registry import Evidence, RunContext, evidence

from . import train
from .shared import _label_rows, _null_name, member_signatures, null_seed, parse_member, select


def corollary1_prediction(
    phi_y: np.ndarray, wu_label: np.ndarray, wu_sum: np.ndarray, label_rows: np.ndarray, vocab_size: int
) -> np.ndarray:
    """Leading terms of Corollary 1 for every anchor: W^{U,T} (phi^y_alpha - 1/d_vob 1) (the second term, which is
    multiplied by the small W^U W^E / d_vob, and the higher-order rest of eta are dropped).

    phi_y [|A|, V_tokens] over token values; wu_label rows are tokens 101..180 (the label rows), so
    W^{U,T} phi^y = phi_y[:, labels] @ W^U[labels]; the data-independent 1/d_vob W^{U,T} 1 uses the row sum.
    """
    labels = label_rows + int(train.LABEL_ROWS[0])
    lead = phi_y[:, labels] @ wu_label[label_rows]
    return lead - wu_sum[None, :] / vocab_size


@dataclass(frozen=True)
class Corollary1Alignment:
    """Corollary 1's direction against the exact full-data gradients recorded along one run (per judged seed).

    ``per_step`` [seed, grad point]: mean over anchors of cos(-dL/dW^E_alpha, prediction at the same point).
    ``per_step_phix`` [seed, grad point]: the same with eq. 1's phi^X term, -(1/d_vob) W^{U,T} W^U W^E phi^X_alpha,
    added to the prediction (the term ``corollary1_prediction`` drops; it grows as W^U W^E leaves the small init).
    At the reference point ``ref``: ``grads`` (each seed's gradient), ``lead_only`` (the phi^y term alone),
    ``other_anchor`` (each seed's mean cosine with the predictions made for the other anchors) and ``other_cos``
    (all those cosines). ``displacement`` [seed, grad point > 0]: cos(W^E(t) - W^E(0), the prediction at the first
    point). ``loss`` [seed, grad point]: the full-data loss there.
    """

    per_step: np.ndarray
    per_step_phix: np.ndarray
    grads: list[np.ndarray]
    lead_only: list[float]
    other_anchor: list[float]
    other_cos: list[float]
    displacement: np.ndarray
    loss: np.ndarray


def corollary1_alignment(
    res: dict[str, Any], idx: np.ndarray, task: str, ref: int | list[int] = 0
) -> Corollary1Alignment:
    """Alignment of the recorded gradients of members ``idx`` with Corollary 1's prediction at every gradient point
    (shared by P12, read at init, and P12-gd, read at the end of each seed's formation window: ``ref`` is one
    gradient-point index, or one per member of ``idx``)."""
    grad_members = list(res["grad/members"])
    n_samples = int(res["__meta__"]["config"]["n_samples"])
    label_rows = _label_rows(task)
    labels = label_rows + int(train.LABEL_ROWS[0])
    n_grad = len(res["grad/steps"])
    refs = [int(r) % n_grad for r in (ref if isinstance(ref, list) else [ref] * len(idx))]
    per_step, per_step_phix, grads, lead_only, other_anchor, other_cos, disp, loss = ([] for _ in range(8))
    for i, ref_i in zip(idx, refs, strict=True):
        sig = member_signatures(res, int(i), n_samples)
        g_pos = grad_members.index(int(i))
        vs = int(res["vocab_size"][i])
        row, row_phix, preds = [], [], []
        for k in range(n_grad):
            g = res["grad/WE_anchor"][k, g_pos].astype(np.float64)  # [|A|, d]
            wu = res["grad/WU_label"][k, i].astype(np.float64)
            pred = corollary1_prediction(sig["phi_y"], wu, res["grad/WU_sum"][k, i], label_rows, vs)
            preds.append(pred)
            c = cosine_matrix(g, pred)
            row.append(float(np.mean(np.diag(c))))
            phix = res["grad/phiX_term"][k, g_pos].astype(np.float64)
            row_phix.append(float(np.mean(np.diag(cosine_matrix(g, pred - phix)))))
            if k == ref_i:
                grads.append(g)
                lead = sig["phi_y"][:, labels] @ wu[label_rows]
                lead_only.append(float(np.mean(np.diag(cosine_matrix(g, lead)))))
                off = c[~np.eye(len(c), dtype=bool)]
                other_anchor.append(float(off.mean()))
                other_cos.extend(off.tolist())
        per_step.append(row)
        per_step_phix.append(row_phix)
        w = res["grad/WE_anchor_weights"][:, i].astype(np.float64)  # [n_grad, |A|, d]
        disp.append([float(np.mean(np.diag(cosine_matrix(w[k] - w[0], preds[0])))) for k in range(1, n_grad)])
        loss.append(np.asarray(res["grad/loss"][:, g_pos], dtype=np.float64))
    return Corollary1Alignment(
        per_step=np.asarray(per_step),
        per_step_phix=np.asarray(per_step_phix),
        grads=grads,
        lead_only=lead_only,
        other_anchor=other_anchor,
        other_cos=other_cos,
        displacement=np.asarray(disp).reshape(len(idx), n_grad - 1),
        loss=np.asarray(loss),
    )


def _direction_null(case: ClaimCase, ctx: RunContext, a: Corollary1Alignment) -> np.ndarray:
    """Null of a Corollary 1 alignment: random Gaussian directions against seed 0's gradient at the reference point
    (``random_direction``), or the predictions made for the other anchors (``other_anchor``)."""
    name = _null_name(case)
    if name == "random_direction":
        rng = np.random.default_rng(null_seed(ctx) + 4)
        g0 = a.grads[0]
        rand = rng.normal(size=(int(ctx.settings["n_null"]), g0.shape[0], g0.shape[1]))
        return np.array([np.mean(np.diag(cosine_matrix(g0, r))) for r in rand])
    if name == "other_anchor":
        # the prediction made for a *different* anchor: is the predicted direction anchor-specific?
        return np.asarray(a.other_cos)
    raise KeyError(f"Corollary 1 claims support nulls random_direction/other_anchor, not {name!r}")


def _grad_alignment(case: ClaimCase, ctx: RunContext, res: dict[str, Any]) -> Evidence:
    """P12: Corollary 1 at initialisation (where its small-weight expansion is made), on the AdamW run."""
    arch, task = parse_member(case)
    a = corollary1_alignment(res, select(res, task, arch), task, ref=0)
    measured = a.per_step[:, 0]
    details = {
        "grad_steps": res["grad/steps"].tolist(),
        "alignment_per_step": np.round(a.per_step, 4).tolist(),
        "alignment_per_step_with_phiX_term": np.round(a.per_step_phix, 4).tolist(),
        "alignment_leading_term_only": a.lead_only,
        "alignment_with_other_anchors_prediction": a.other_anchor,
        # plain gradient descent's first update IS -lr x the measured gradient: its alignment is `measured`
        "gd_first_step_alignment": measured.tolist(),
        # what the optimizer actually did: AdamW's displacement W^E(t) - W^E(0) at the later gradient points
        "adamw_displacement_alignment": np.round(a.displacement, 4).tolist(),
        "adamw_displacement_steps": res["grad/steps"][1:].tolist(),
        "loss_at_grad_steps": np.round(a.loss, 4).tolist(),
    }
    # P12 / P12-specific are identities at init (kind: verified, null none): the nulls stay in the details
    null = None if _null_name(case) == "none" else _direction_null(case, ctx, a)
    details["own_minus_other_anchor"] = [
        o - x for o, x in zip(measured.tolist(), a.other_anchor, strict=True)
    ]
    return Evidence(measured=measured, null=null, details=details)


# --------------------------------------------------------------------------------------------------------------
# P12-gd: Corollary 1 along a plain gradient-descent trajectory
# --------------------------------------------------------------------------------------------------------------


def gd_config(settings: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Config of one seed's plain-GD job (profile setting ``p12_gd``): F_lin on the three tasks, true labels,
    full-batch SGD without momentum or decay for ``steps`` steps at ``lr``, gradients at ``grad_fractions``."""
    p = settings["p12_gd"]
    cfg = train.toy_config(
        settings["toy_schedule"], ("true",), optimizer="sgd", device=device, **settings["toy_overrides"]
    )
    cfg.update(
        archs=["lin"],
        full_batch=True,
        lr=float(p["lr"]),
        epochs=int(p["steps"]),  # one full-data step per epoch
        batch=int(cfg["n_samples"]),
        grad_fractions=[float(f) for f in p["grad_fractions"]],
    )
    return cfg


def gd_run(ctx: RunContext) -> dict[str, Any]:
    """The plain-GD runs of every seed of the profile's ``seeds`` (one job per seed), merged in seed order."""
    cfg = gd_config(ctx.settings, ctx.device)
    return train.merge_member_runs(
        [ctx.run("toy_gd", cfg, int(s), train.train_toy) for s in ctx.settings["seeds"]]
    )


def relative_loss_drop(loss: np.ndarray) -> np.ndarray:
    """(L(first point) - L(last point)) / L(first point) per row of ``loss`` [seed, grad point]: positive when the
    loss fell over the window, 0 when the optimizer did not move."""
    loss = np.asarray(loss, dtype=np.float64)
    return (loss[:, 0] - loss[:, -1]) / loss[:, 0]


# The structure whose formation Corollary 1 explains (Sec. 5.2, Fig. 2B; Remark 1 for f_mod under F_lin): the
# anchor order for the additive tasks, read with P2's bar, and the one-direction alignment for f_mod, read with P3's.
FORMATION = {
    "f_add": ("r_order", "<=", -0.7),
    "f_tadd": ("r_order", "<=", -0.7),
    "f_mod": ("mean_anchor_cos", ">=", 0.8),
}


def formation_window(
    res: dict[str, Any], idx: np.ndarray, task: str
) -> tuple[list[int], list[bool], np.ndarray]:
    """Per member of ``idx``: the index of the first gradient point at or after the step where the task's structure
    has formed (``FORMATION``), whether it formed within the run (else the last point), and the structure curve at
    the gradient points [member, grad point]."""
    key, op, bar = FORMATION[task]
    cols = np.searchsorted(res["steps"], res["grad/steps"])
    if not np.array_equal(res["steps"][cols], res["grad/steps"]):
        raise ValueError("formation_window: every gradient point must be a logged checkpoint")
    ends, formed, curves = [], [], []
    for i in idx:
        curve = np.asarray(res[key][i], dtype=np.float64)[cols]
        met = np.nonzero(curve <= bar if op == "<=" else curve >= bar)[0]
        formed.append(bool(met.size))
        ends.append(int(met[0]) if met.size else len(cols) - 1)
        curves.append(curve)
    return ends, formed, np.asarray(curves)


@evidence("signature/gd")
def gd_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    """P12-gd: the exact full-data gradient at the end of each seed's formation window (``formation_window``)
    against Corollary 1's prediction there: without the phi^X term (``grad_alignment_gd``) or with it
    (``grad_alignment_gd_phix``; null ``phi_y_only`` = the same seeds' alignment without the term)."""
    metrics = ("grad_alignment_gd", "grad_alignment_gd_phix")
    if case.claim.metric not in metrics:
        raise KeyError(f"signature/gd has no metric {case.claim.metric!r}; known: {list(metrics)}")
    arch, task = parse_member(case)
    if arch != "lin":
        raise ValueError(f"signature/gd trains F_lin only (Corollary 1 is about F_lin), not {arch!r}")
    res = gd_run(ctx)
    idx = select(res, task, arch)
    ends, formed, curves = formation_window(res, idx, task)
    a = corollary1_alignment(res, idx, task, ref=ends)
    rows = np.arange(len(idx))
    lead, full = a.per_step[rows, ends], a.per_step_phix[rows, ends]
    drop = relative_loss_drop(a.loss)
    cfg = res["__meta__"]["config"]
    key, op, bar = FORMATION[task]
    details = {
        "optimizer": {
            "name": cfg["optimizer"],
            "lr": cfg["lr"],
            "steps": int(res["total_steps"]),
            "full_batch": cfg["full_batch"],
        },
        "formation": {"curve": key, "op": op, "bar": bar, "formed": formed},
        "window_end_step": [int(res["grad/steps"][e]) for e in ends],
        "grad_steps": res["grad/steps"].tolist(),
        f"{key}_at_grad_steps": np.round(curves, 4).tolist(),
        "alignment_per_step": np.round(a.per_step, 4).tolist(),
        "alignment_per_step_with_phiX_term": np.round(a.per_step_phix, 4).tolist(),
        "alignment_at_window_end": lead.tolist(),
        "alignment_with_phiX_term_at_window_end": full.tolist(),
        "alignment_at_run_end": a.per_step[:, -1].tolist(),
        "loss_at_grad_steps": np.round(a.loss, 4).tolist(),
        "relative_loss_drop_window": [
            float((lo[0] - lo[e]) / lo[0]) for lo, e in zip(a.loss, ends, strict=True)
        ],
        "relative_loss_drop_run": np.round(drop, 4).tolist(),
        "alignment_leading_term_only": a.lead_only,
        "alignment_with_other_anchors_prediction": a.other_anchor,
        # cos(W^E(t) - W^E(0), the prediction at init): the integrated GD path against the initial direction
        "gd_displacement_alignment": np.round(a.displacement, 4).tolist(),
        "gd_displacement_steps": res["grad/steps"][1:].tolist(),
    }
    if case.claim.metric == "grad_alignment_gd_phix":
        null = lead if _null_name(case) == "phi_y_only" else _direction_null(case, ctx, a)
        measured = full
    else:
        null, measured = _direction_null(case, ctx, a), lead
    return Evidence(
        measured=measured,
        null=null,
        details=details,
        preconditions={"formed_fraction": float(np.mean(formed))},
    )
