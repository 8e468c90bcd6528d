"""Evidence functions of the execution-manifolds study (claims E1-E11 of claims/execution_manifolds.yaml).

Every trained quantity comes from ``ctx.run("train", config, seed, train_run)``: one cached ensemble run per
(variant, modifiers), shared by all claims that need it. Samples returned as ``measured`` are one per seed
(member) unless a claim's aggregate is ``single``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.registry import Evidence, RunContext, Untestable, evidence
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution.profiles import MAIN_VARIANT, train_config
from geomclaims.studies.execution.train import train_run


def _run(ctx: RunContext, variant: str = MAIN_VARIANT, **mods: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, result) of one ensemble run; the main variant's run always records commutators (one cache entry)."""
    if variant == MAIN_VARIANT and not any(mods.get(k) for k in ("mlp", "labels", "init_seeds", "seeds")):
        if mods.get("schedule", "mixed") == "mixed" and mods.get("op", "add") == "add":
            mods["commutators"] = True
            mods["sae"] = True
    cfg = train_config(ctx.settings, variant, ctx.device, **mods)
    return cfg, ctx.run("train", cfg, cfg["seeds"][0], train_run)


def _final_acc(result: Mapping[str, Any]) -> np.ndarray:
    return np.asarray(result["acc"])[:, -1]  # [E, n_m]


def _acc_note(variant: str, result: Mapping[str, Any]) -> str:
    acc = _final_acc(result).mean(0)
    ms = np.asarray(result["m_values"]).tolist()
    parts = ", ".join(f"m={m}: {a:.2f}" for m, a in zip(ms, acc, strict=True))
    return f"variant {variant}: final accuracy per m (mean over seeds; chance 0.125) {parts}"


def _trajectory_details(result: Mapping[str, Any], mtype: str, draws: int) -> dict[str, Any]:
    names = A.layers_of(result, mtype)
    return {
        "r90_per_layer": [
            [A.dimension(A.trajectory(result, n, e), "r90") for n in names]
            for e in range(A.n_members(result))
        ],
        "r90_early_per_member": A.per_member(result, mtype, "r90_early").tolist(),
        "pr_per_member": A.per_member(result, mtype, "participation_ratio").tolist(),
        "n_snapshots": int(np.asarray(result["snap_steps"]).size),
        "ambient_dim": int(A.trajectory(result, names[0], 0).shape[1]),
    }


# ----------------------------------------------------------------------------------------------------------
# E1-E4, E9, E11: trajectory geometry
# ----------------------------------------------------------------------------------------------------------


@evidence("execution/trajectory")
def trajectory_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    metric = case.claim.metric
    variant = case.claim.variant or MAIN_VARIANT
    draws = int(ctx.settings["null_draws"])
    _, res = _run(ctx, variant)
    notes = [_acc_note(variant, res)]

    if metric in ("r90", "early_capture"):
        mtype = case.params["matrix"]
        measured = A.per_member(res, mtype, metric)
        null = A.null_per_member(res, mtype, metric, draws)
        details = _trajectory_details(res, mtype, draws)
        _, shuffled = _run(ctx, variant, labels="shuffled") if variant == MAIN_VARIANT else (None, None)
        if shuffled is not None:
            details["shuffled_labels_" + metric] = A.per_member(shuffled, mtype, metric).tolist()
            notes.append(_acc_note(variant + " + shuffled labels", shuffled))
        details["final_acc_per_m"] = _final_acc(res).mean(0).tolist()
        return Evidence(measured=measured, null=null, details=details, notes=notes)

    if metric == "qk_minus_vo":
        measure = case.params["measure"]
        qk = (A.per_member(res, "W_Q", measure) + A.per_member(res, "W_K", measure)) / 2
        vo = (A.per_member(res, "W_V", measure) + A.per_member(res, "W_O", measure)) / 2
        return Evidence(measured=qk - vo, details={"qk": qk.tolist(), "vo": vo.tolist()}, notes=notes)

    if metric == "r90_sd_over_seeds":
        per = {t: A.per_member(res, t, "r90") for t in A.MATRIX_TYPES}
        sds = [float(np.std(v, ddof=1)) if v.size > 1 else 0.0 for v in per.values()]
        return Evidence(
            measured=[float(np.mean(sds))],
            details={"sd_per_type": sds, "r90_per_type": {k: v.tolist() for k, v in per.items()}},
            notes=notes,
        )

    if metric in ("overlap_across_seeds", "overlap_shared_init"):
        mtype = case.params["matrix"]
        names = A.layers_of(res, mtype)
        E = A.n_members(res)
        bases = {(e, n): A.execution_basis(A.trajectory(res, n, e)) for e in range(E) for n in names}
        across = np.array(
            [
                np.mean([A.subspace_overlap(bases[(a, n)], bases[(b, n)]) for n in names])
                for a, b in itertools.combinations(range(E), 2)
            ]
        )
        if E < 2:
            raise Untestable("subspace overlap across seeds needs at least 2 seeds in this profile")
        dim = A.trajectory(res, names[0], 0).shape[1]
        k = int(np.median([b.shape[0] for b in bases.values()]))
        if metric == "overlap_across_seeds":
            null = A.random_overlaps(dim, k, 200, seed=11)
            return Evidence(measured=across, null=null, details={"k": k, "dim": dim}, notes=notes)
        # Same initialisation as members 0..n-1 of the main run, different data order (data seeds + 100).
        init = [int(s) for s in ctx.settings["shared_init_seeds"]]
        _, twin = _run(ctx, variant, seeds=[s + 100 for s in init], init_seeds=init)
        main_seeds = [int(s) for s in np.asarray(res["seeds"])]
        shared = np.array(
            [
                np.mean(
                    [
                        A.subspace_overlap(
                            bases[(main_seeds.index(s), n)], A.execution_basis(A.trajectory(twin, n, j))
                        )
                        for n in names
                    ]
                )
                for j, s in enumerate(init)
            ]
        )
        # Null samples per (pair, layer), so even a 2-seed profile has more than one draw.
        across_layers = np.array(
            [
                A.subspace_overlap(bases[(a, n)], bases[(b, n)])
                for a, b in itertools.combinations(range(E), 2)
                for n in names
            ]
        )
        return Evidence(
            measured=shared,
            null=across_layers,
            details={"k": k, "overlap_across_seeds": across.tolist()},
            notes=[*notes, _acc_note(variant + " (shared-init twins)", twin)],
        )

    if metric in ("mlp_minus_attn", "mul_minus_add"):
        measure = case.params.get("measure", "r90")
        other_cfg = {"mlp": True} if metric == "mlp_minus_attn" else {"op": "mul"}
        _, other = _run(ctx, variant, **other_cfg)
        base = A.per_member_all(res, measure)
        alt = A.per_member_all(other, measure)
        label = "mlp" if metric == "mlp_minus_attn" else "mul"
        details = {"base": base.tolist(), label: alt.tolist()}
        if label == "mlp":
            # The MLP matrices' own trajectories, for the report (not part of the claim's paired comparison).
            details["mlp_matrices_" + measure] = A.per_member_all(other, measure, ("W_in", "W_out")).tolist()
        return Evidence(
            measured=alt - base, details=details, notes=[*notes, _acc_note(f"{variant} + {label}", other)]
        )

    raise ValueError(f"execution/trajectory: unknown metric {metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E5: attention entropy
# ----------------------------------------------------------------------------------------------------------


def _entropy_curve(result: Mapping[str, Any], layer: str) -> np.ndarray:
    ent = np.asarray(result["entropy"])  # [E, S, L]
    return ent[:, :, -1] if layer == "last" else ent.mean(2)


@evidence("execution/entropy")
def entropy_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, res = _run(ctx, variant)
    _, shuf = _run(ctx, variant, labels="shuffled")
    layer = case.params.get("layer", "last")
    cur, cur_null = _entropy_curve(res, layer), _entropy_curve(shuf, layer)
    details = {
        "steps": np.asarray(res["snap_steps"]).tolist(),
        "entropy_mean": cur.mean(0).tolist(),
        "entropy_shuffled_mean": cur_null.mean(0).tolist(),
        "entropy_per_layer_mean": np.asarray(res["entropy"]).mean(0).T.tolist(),
    }
    notes = [_acc_note(variant, res), _acc_note(variant + " + shuffled labels", shuf)]
    if case.claim.metric == "entropy_end_over_start":
        return Evidence(
            measured=cur[:, -1] / cur[:, 0],
            null=cur_null[:, -1] / cur_null[:, 0],
            details=details,
            notes=notes,
        )
    if case.claim.metric == "entropy_max_step_share":
        # Largest drop between consecutive snapshots as a share of the total start-to-minimum drop.
        drops = -np.diff(cur, axis=1)
        total = cur[:, :1] - cur.min(1, keepdims=True)
        if np.any(total[:, 0] <= 0):
            raise Untestable(
                "entropy never drops below its start value, so the smoothness of the drop is undefined"
            )
        return Evidence(measured=drops.max(1) / total[:, 0], details=details, notes=notes)
    raise ValueError(f"execution/entropy: unknown metric {case.claim.metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E6, E7: SGD commutators
# ----------------------------------------------------------------------------------------------------------


@evidence("execution/commutator")
def commutator_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, res = _run(ctx, variant)
    if "comm_norm" not in res:
        raise Untestable("this run recorded no commutators")
    norms = np.asarray(res["comm_norm"])  # [E, K]
    steps = np.asarray(res["comm_steps"])
    details: dict[str, Any] = {
        "steps": steps.tolist(),
        "norm_mean": norms.mean(0).tolist(),
        "D_mean": np.asarray(res["comm_D"]).mean(0).tolist(),
    }
    if case.claim.metric == "commutator_persistence":
        half = steps.size // 2
        measured = np.median(norms[:, half:], 1) / np.median(norms[:, :half], 1)
        d_norm = np.asarray(res["comm_D"])
        details["D_persistence"] = (np.median(d_norm[:, half:], 1) / np.median(d_norm[:, :half], 1)).tolist()
        return Evidence(measured=measured, details=details, notes=[_acc_note(variant, res)])
    if case.claim.metric == "perpendicular_share":
        mtype = case.params["matrix"]
        draws = 50
        per = [A.commutator_projection(res, mtype, e, draws, seed=1000 + e) for e in range(A.n_members(res))]
        measured = np.array([np.median(p["perp"]) for p in per])
        null = np.concatenate([p["perp_random"] for p in per])
        details.update(
            {
                "rho_mean": np.mean([p["rho"] for p in per], 0).tolist(),
                "rho_grad_mean": np.mean([p["rho_grad"] for p in per], 0).tolist(),
                "rho_random_median": float(np.median(np.concatenate([p["rho_random"] for p in per]))),
                "rho_random_q975": float(np.quantile(np.concatenate([p["rho_random"] for p in per]), 0.975)),
            }
        )
        return Evidence(measured=measured, null=null, details=details, notes=[_acc_note(variant, res)])
    raise ValueError(f"execution/commutator: unknown metric {case.claim.metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E8: sparse autoencoders
# ----------------------------------------------------------------------------------------------------------


@evidence("execution/sae")
def sae_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, res = _run(ctx, variant)
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
    fields += ("n_alive", "rel_recon_error", "l0")
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
    }
    notes = [_acc_note(variant, res)]
    if case.claim.metric == "ablation_drop":
        return Evidence(measured=final["drop"], null=final["drop_all"], details=details, notes=notes)
    if case.claim.metric == "n_correlated_latents":
        return Evidence(
            measured=final["n_correlated"],
            null=final["n_correlated_null"].ravel(),
            details=details,
            notes=notes,
        )
    raise ValueError(f"execution/sae: unknown metric {case.claim.metric!r}")


# ----------------------------------------------------------------------------------------------------------
# E10: curriculum vs mixed
# ----------------------------------------------------------------------------------------------------------


@evidence("execution/curriculum")
def curriculum_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    variant = case.claim.variant or MAIN_VARIANT
    _, mixed = _run(ctx, variant)
    _, cur = _run(ctx, variant, schedule="curriculum")
    ms = np.asarray(mixed["m_values"]).tolist()
    i1 = ms.index(1)
    acc_mixed, acc_cur = np.asarray(mixed["acc"]), np.asarray(cur["acc"])  # [E, S, n_m]
    n_stage = len(ms)
    S_ = acc_cur.shape[1]
    end_stage1 = (S_ - 1) // n_stage
    details = {
        "steps": np.asarray(mixed["snap_steps"]).tolist(),
        "m_values": ms,
        "acc_mixed_mean": acc_mixed.mean(0).T.tolist(),  # [n_m][S]
        "acc_curriculum_mean": acc_cur.mean(0).T.tolist(),
        "acc_m1_curriculum_after_stage1": acc_cur[:, end_stage1, i1].tolist(),
    }
    measured = acc_mixed[:, -1, i1] - acc_cur[:, -1, i1]
    return Evidence(
        measured=measured,
        details=details,
        notes=[_acc_note(variant + " curriculum", cur)],
    )
