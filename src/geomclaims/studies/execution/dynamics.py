"""Evidence functions of the execution study's training-dynamics claims: attention entropy (E5), commutators
(E6, E7), SAE latents (E8) and the curriculum (E10). Run access and shared helpers: runs.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.registry import Evidence, RunContext, Untestable, evidence
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution.profiles import MAIN_VARIANT
from geomclaims.studies.execution.runs import (
    acc_curves,
    acc_note,
    learning_preconditions,
    member_rows,
    run_of,
    with_preconditions,
)

# ----------------------------------------------------------------------------------------------------------
# E5: attention entropy
# ----------------------------------------------------------------------------------------------------------


def _entropy_curve(result: Mapping[str, Any], layer: str) -> np.ndarray:
    ent = np.asarray(result["entropy"])  # [E, S, L]
    return ent[:, :, -1] if layer == "last" else ent.mean(2)


@evidence("execution/entropy")
def entropy_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, res = run_of(ctx, variant)
    _, shuf = run_of(ctx, variant, labels="shuffled")
    layer = case.params.get("layer", "last")
    cur, cur_null = _entropy_curve(res, layer), _entropy_curve(shuf, layer)
    details = {
        "steps": np.asarray(res["snap_steps"]).tolist(),
        "entropy_mean": cur.mean(0).tolist(),
        "entropy_shuffled_mean": cur_null.mean(0).tolist(),
        "entropy_per_layer_mean": np.asarray(res["entropy"]).mean(0).T.tolist(),
    }
    details.update(acc_curves(res))
    # Per-seed, per-m curves [E][n_m][S] once per study (the E5 entries), for the report's accuracy figure.
    details["acc_curve_per_seed"] = np.asarray(res["acc"]).transpose(0, 2, 1).round(3).tolist()
    notes = [acc_note(variant, res), acc_note(variant + " + shuffled labels", shuf)]
    pre = {**learning_preconditions(res), **learning_preconditions(shuf, "shuffled_")}
    if case.claim.metric == "entropy_end_over_start":
        return with_preconditions(
            cur[:, -1] / cur[:, 0],
            cur_null[:, -1] / cur_null[:, 0],
            details=details,
            notes=notes,
            preconditions=pre,
        )
    if case.claim.metric == "entropy_max_step_share":
        # Largest drop between consecutive snapshots as a share of the total start-to-minimum drop.
        drops = -np.diff(cur, axis=1)
        total = cur[:, :1] - cur.min(1, keepdims=True)
        if np.any(total[:, 0] <= 0):
            raise Untestable(
                "entropy never drops below its start value, so the smoothness of the drop is undefined"
            )
        return with_preconditions(drops.max(1) / total[:, 0], details=details, notes=notes, preconditions=pre)
    raise ValueError(f"execution/entropy: unknown metric {case.claim.metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E6, E7: SGD commutators
# ----------------------------------------------------------------------------------------------------------


def commutator_persistence(steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per member: median of ``values`` [E, K] over the late half of the checkpoints / median over the early half.

    Step 0 is left out (issue 22 item 8): at initialisation the commutator reflects the random weights, not
    training, so the early half starts at the first checkpoint after step 0. Needs at least 2 such checkpoints.
    """
    keep = np.asarray(steps) > 0
    v = np.asarray(values, dtype=float)[:, keep]
    if v.shape[1] < 2:
        raise Untestable(f"commutator persistence needs >= 2 checkpoints after step 0, got {v.shape[1]}")
    half = v.shape[1] // 2
    return np.median(v[:, half:], 1) / np.median(v[:, :half], 1)


def commutator_run(case: ClaimCase, ctx: RunContext) -> dict[str, Any]:
    """The result of the run a commutator claim reads (its variant's main run); Untestable if it kept none."""
    _, res = run_of(ctx, case.claim.variant or MAIN_VARIANT)
    if "comm_norm" not in res:
        raise Untestable("this run recorded no commutators")
    return res


@evidence("execution/commutator")
def commutator_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    res = commutator_run(case, ctx)
    norms = np.asarray(res["comm_norm"])  # [E, K]
    steps = np.asarray(res["comm_steps"])
    details: dict[str, Any] = {
        "steps": steps.tolist(),
        "norm_mean": norms.mean(0).tolist(),
        "D_mean": np.asarray(res["comm_D"]).mean(0).tolist(),
        **acc_curves(res),
    }
    notes = [acc_note(variant, res)]
    pre = learning_preconditions(res)
    if case.claim.metric == "commutator_persistence":
        measured = commutator_persistence(steps, norms)
        details["D_persistence"] = commutator_persistence(steps, np.asarray(res["comm_D"])).tolist()
        null = None
        if case.claim.null is not None and case.claim.null.name == "shuffled_labels":
            _, shuf = run_of(ctx, variant, labels="shuffled")
            null = commutator_persistence(np.asarray(shuf["comm_steps"]), np.asarray(shuf["comm_norm"]))
            details["shuffled_labels_persistence"] = null.tolist()
            notes.append(acc_note(variant + " + shuffled labels", shuf))
        return with_preconditions(measured, null, details=details, notes=notes, preconditions=pre)
    if case.claim.metric in ("perpendicular_share", "rho_trend", "rho_commutator_minus_gradient"):
        mtype = case.params["matrix"]
        draws = 50
        per = [A.commutator_projection(res, mtype, e, draws, seed=1000 + e) for e in range(A.n_members(res))]
        details.update(
            {
                "rho_mean": np.mean([p["rho"] for p in per], 0).tolist(),
                "rho_grad_mean": np.mean([p["rho_grad"] for p in per], 0).tolist(),
                "rho_random_median": float(np.median(np.concatenate([p["rho_random"] for p in per]))),
                "rho_random_q975": float(np.quantile(np.concatenate([p["rho_random"] for p in per]), 0.975)),
            }
        )
        if case.claim.metric == "rho_trend":
            # Paper Sec. 4.3 / Fig. 4: rho decreases over training -> Spearman correlation of rho with the step < 0.
            return with_preconditions(
                A.rho_trend(steps, per), None, details=details, notes=notes, preconditions=pre
            )
        if case.claim.metric == "rho_commutator_minus_gradient":
            # Positive control: is the commutator more perpendicular than the plain minibatch gradient?
            diff = np.array([np.median(p["rho"] - p["rho_grad"]) for p in per])
            return with_preconditions(diff, None, details=details, notes=notes, preconditions=pre)
        measured = np.array([np.median(p["perp"]) for p in per])
        null = np.concatenate([p["perp_random"] for p in per])
        return with_preconditions(measured, null, details=details, notes=notes, preconditions=pre)
    raise ValueError(f"execution/commutator: unknown metric {case.claim.metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E8: sparse autoencoders
# ----------------------------------------------------------------------------------------------------------


@evidence("execution/sae")
def sae_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, res = run_of(ctx, variant)
    kind = case.params["sae"]
    if "sae/stage_steps" not in res:
        raise Untestable("this run recorded no SAE analyses")
    n_stages = np.asarray(res["sae/stage_steps"]).size
    fields = (
        "base_acc",
        "ablated_acc",
        "all_ablated_acc",
        "drop",
        "drop_all",
        "n_correlated",
        "n_correlated_null",
    )
    fields += ("n_alive", "rel_recon_error", "l0", "drop_random", "n_ablated_correlated")
    per_stage = [{f: np.asarray(res[f"sae/{kind}/stage{j}/{f}"]) for f in fields} for j in range(n_stages)]
    final = per_stage[-1]
    details = {
        "stages": np.asarray(res["sae/stage_steps"]).astype(int).tolist(),
        "base_acc": [float(p["base_acc"].mean()) for p in per_stage],
        "ablated_acc": [float(p["ablated_acc"].mean()) for p in per_stage],
        "all_ablated_acc": [float(p["all_ablated_acc"].mean()) for p in per_stage],
        "n_correlated": [p["n_correlated"].tolist() for p in per_stage],
        "n_alive": final["n_alive"].tolist(),
        "rel_recon_error": final["rel_recon_error"].tolist(),
        "l0": final["l0"].tolist(),
        "n_latents": int(ctx.settings["sae"]["latents"]),
        "n_ablate": int(ctx.settings["sae"]["n_ablate"]),
        "drop": [p["drop"].tolist() for p in per_stage],
        "drop_random_mean": [p["drop_random"].mean(1).tolist() for p in per_stage],
        "drop_all": [p["drop_all"].tolist() for p in per_stage],
        "n_ablated_correlated": final["n_ablated_correlated"].tolist(),
        **acc_curves(res),
    }
    notes = [acc_note(variant, res)]
    pre = learning_preconditions(res)
    # Positive control on the same SAE (issue 22 item 9): ablating every latent must move accuracy, otherwise the
    # ablation path cannot show any effect and a small drop of the few correlated latents says nothing.
    pre["sae_all_latents_drop"] = float(np.mean(final["drop_all"]))
    if case.claim.metric == "ablation_drop":
        # "none": the equivalence reading (drop CI below the margin, gated by the positive control above); the
        # named nulls remain for comparisons. Random ablation of as many latents is always in the details.
        null_name = case.claim.null.name if case.claim.null is not None else "none"
        nulls = {
            "none": None,
            "all_latents_ablation": final["drop_all"],
            "random_alive_latents": final["drop_random"].ravel(),
        }
        if null_name not in nulls:
            raise ValueError(f"claim {case.claim.id}: unsupported null {null_name!r} for ablation_drop")
        return with_preconditions(
            final["drop"], nulls[null_name], details=details, notes=notes, preconditions=pre
        )
    if case.claim.metric == "n_correlated_latents":
        return with_preconditions(
            final["n_correlated"],
            final["n_correlated_null"].ravel(),
            details=details,
            notes=notes,
            preconditions=pre,
        )
    raise ValueError(f"execution/sae: unknown metric {case.claim.metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E10: curriculum vs mixed
# ----------------------------------------------------------------------------------------------------------


@evidence("execution/curriculum")
def curriculum_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, mixed = run_of(ctx, variant)
    _, cur = run_of(ctx, variant, schedule="curriculum")
    ms = np.asarray(mixed["m_values"]).tolist()
    i1 = ms.index(1)
    acc_mixed, acc_cur = np.asarray(mixed["acc"]), np.asarray(cur["acc"])  # [E, S, n_m]
    ends = curriculum_stage_ends(np.asarray(cur["snap_steps"]), np.asarray(cur["stage_end_step"]))  # [E, n_m]
    order = sorted(ms)
    stage_acc = [
        float(np.mean([acc_cur[e, ends[e, j], ms.index(m)] for e in range(ends.shape[0])]))
        for j, m in enumerate(order)
    ]
    details = {
        "steps": np.asarray(mixed["snap_steps"]).tolist(),
        "m_values": ms,
        "acc_mixed_mean": acc_mixed.mean(0).T.tolist(),  # [n_m][S]
        "acc_curriculum_mean": acc_cur.mean(0).T.tolist(),
        "curriculum_stage_end_steps": np.asarray(cur["snap_steps"])[ends].astype(int).tolist(),  # [E][stage]
        "curriculum_acc_on_stage_m_at_stage_end": stage_acc,
        "acc_m1_curriculum_after_stage1": [float(acc_cur[e, ends[e, 0], i1]) for e in range(ends.shape[0])],
        "curriculum_final_acc_per_m": acc_cur[:, -1].mean(0).tolist(),
    }
    # Paired by seed: the mixed (main) run may have more members (ordering_seeds) than the curriculum run.
    rows = member_rows(mixed, np.asarray(cur["seeds"]))
    measured = acc_mixed[rows, -1, i1] - acc_cur[:, -1, i1]
    pre = learning_preconditions(mixed)
    # Paper Sec. 4.5: forgetting means losing what a stage had learned, so each stage's m must be learned before the
    # next stage starts (issue 22 item 6). Members leave a stage once they have learned it (task.Stages); a stage
    # never left is read at the end of training. The last stage has no successor whose training could make it
    # forget, and the measurement reads m = 1, so its accuracy is shown (details) but not required.
    pre["curriculum_stage_acc_min_before_next"] = min(stage_acc[:-1])
    details["curriculum_last_stage_acc"] = stage_acc[-1]
    details.update(acc_curves(mixed))
    return with_preconditions(
        measured,
        None,
        details=details,
        notes=[acc_note(variant, mixed), acc_note(variant + " curriculum", cur)],
        preconditions=pre,
    )


def curriculum_stage_ends(snap_steps: np.ndarray, stage_end_step: np.ndarray) -> np.ndarray:
    """Snapshot index [E, n_stages] at the end of each member's curriculum stages.

    ``stage_end_step`` [E, n_stages] is the step a member left each stage (``task.Stages``; -1: never left). A stage
    left early ends at that snapshot (stages advance only at evaluations, i.e. snapshots); the last stage, and any
    stage a member never left, ends at the final snapshot, so a stage never reached is read at the end of training
    (not learned). A stage end without a snapshot is an error: the precondition would silently read another step.
    """
    steps = np.asarray(snap_steps).astype(int)
    ended = np.asarray(stage_end_step).astype(int)
    if ended.ndim != 2:
        raise ValueError(f"stage_end_step must be [members, stages], got shape {ended.shape}")
    out = np.full(ended.shape, steps.size - 1, dtype=int)
    for (e, j), step in np.ndenumerate(ended):
        if step < 0:
            continue
        hit = np.flatnonzero(steps == step)
        if hit.size == 0:
            raise ValueError(
                f"member {e} left curriculum stage {j} at step {step}, which has no snapshot; "
                f"snapshots {steps.tolist()}"
            )
        out[e, j] = int(hit[0])
    return out
