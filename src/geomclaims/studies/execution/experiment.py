"""Evidence functions of the execution-manifolds study's trajectory-geometry claims (E1-E4, E9, E11 of
claims/execution_manifolds.yaml); the training-dynamics claims (E5-E8, E10) are in dynamics.py and the run access
they share in runs.py. This module imports both, so importing it registers every E evidence function.

Samples returned as ``measured`` are one per seed (member) unless a claim's aggregate is ``single``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.registry import Evidence, RunContext, Untestable, evidence
from geomclaims.studies.execution import analysis as A
from geomclaims.studies.execution.dynamics import (  # noqa: F401  (registration; re-exported for the tests)
    commutator_evidence,
    commutator_persistence,
    curriculum_evidence,
    curriculum_stage_ends,
    entropy_evidence,
    sae_evidence,
)
from geomclaims.studies.execution.profiles import MAIN_VARIANT
from geomclaims.studies.execution.runs import (  # noqa: F401  (re-exported: the tests read them here)
    SHUFFLED_TWIN_VARIANTS,
    acc_curves,
    acc_note,
    final_acc,
    learning_preconditions,
    member_rows,
    paired_wilcoxon,
    run_of,
    uses_ordering_seeds,
    with_preconditions,
)
from geomclaims.studies.execution.task import TaskSpec
from geomclaims.studies.execution.train import eval_set


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
    null_name = case.claim.null.name if case.claim.null is not None else "none"
    variant = case.claim.variant or MAIN_VARIANT
    draws = int(ctx.settings["null_draws"])
    _, res = run_of(ctx, variant)
    notes = [acc_note(variant, res)]
    pre = learning_preconditions(res)
    details: dict[str, Any] = acc_curves(res)

    def shuffled_run() -> Mapping[str, Any]:
        # Only the main and SGD variants have shuffled-label twins (the SGD one is the optimizer comparison's
        # control, issue 22 item 7); asking for one elsewhere is a claims-file error.
        if variant not in SHUFFLED_TWIN_VARIANTS:
            raise ValueError(
                f"claim {case.claim.id}: null 'shuffled_labels' exists only for variants "
                f"{sorted(SHUFFLED_TWIN_VARIANTS)}, not {variant!r}"
            )
        _, shuf = run_of(ctx, variant, labels="shuffled")
        notes.append(acc_note(variant + " + shuffled labels", shuf))
        pre.update(learning_preconditions(shuf, "shuffled_"))
        return shuf

    if metric in ("r90", "early_capture", "participation_ratio"):
        try:
            mtype = case.params["matrix"]
            measured = A.per_member(res, mtype, metric)
            walk = A.null_per_member(res, mtype, metric, draws)
            details.update(_trajectory_details(res, mtype, draws))
            details["walk_null_" + metric] = walk.tolist()
            if metric == "r90":
                details["paper_readings"] = r90_readings(measured)
            if null_name == "shuffled_labels":
                null = A.per_member(shuffled_run(), mtype, metric)
            elif null_name == "step_matched_random_walk":
                null = walk
            else:
                raise ValueError(f"claim {case.claim.id}: unsupported null {null_name!r} for metric {metric}")
            if variant in SHUFFLED_TWIN_VARIANTS:
                details["shuffled_labels_" + metric] = A.per_member(shuffled_run(), mtype, metric).tolist()
            return with_preconditions(measured, null, details=details, notes=notes, preconditions=pre)
        except A.EarlyWindowTooShort as exc:
            # Recorded, never capped: the profile has too few snapshots for E3's definition.
            raise Untestable(str(exc)) from exc

    if metric == "qk_minus_vo":
        measure = case.params["measure"]
        qk, vo = qk_vo(res, measure)
        details.update(
            {"qk": qk.tolist(), "vo": vo.tolist(), "wilcoxon": paired_wilcoxon(qk - vo, case.claim.expect.op)}
        )
        null = None
        if null_name == "shuffled_labels":
            sqk, svo = qk_vo(shuffled_run(), measure)
            null = sqk - svo
            details.update({"shuffled_qk": sqk.tolist(), "shuffled_vo": svo.tolist()})
        return with_preconditions(qk - vo, null, details=details, notes=notes, preconditions=pre)

    if metric == "r90_seed_deviation":
        measured, per = seed_deviation(res)
        details["r90_per_type"] = per
        null = None
        if null_name == "shuffled_labels":
            null, sper = seed_deviation(shuffled_run())
            details["shuffled_r90_per_type"] = sper
        return with_preconditions(measured, null, details=details, notes=notes, preconditions=pre)

    if metric in ("overlap_across_seeds", "overlap_shared_init"):
        mtype = case.params["matrix"]
        names = A.layers_of(res, mtype)
        E = A.n_members(res)
        if E < 2:
            raise Untestable("subspace overlap across seeds needs at least 2 seeds in this profile")
        bases = {(e, n): A.execution_basis(A.trajectory(res, n, e)) for e in range(E) for n in names}
        across = np.array(
            [
                np.mean([A.subspace_overlap(bases[(a, n)], bases[(b, n)]) for n in names])
                for a, b in itertools.combinations(range(E), 2)
            ]
        )
        dim = A.trajectory(res, names[0], 0).shape[1]
        k = int(np.median([b.shape[0] for b in bases.values()]))
        if metric == "overlap_across_seeds":
            # Chance level of the measure (Haar-random k-subspaces of R^dim): shown, and the old null, which can
            # never fail ("< 0.5" holds for random subspaces at any d), so no longer the deciding control.
            chance = A.random_overlaps(dim, k, 200, seed=11)
            # Noise ceiling: each member's subspace from its even vs its odd snapshots, per (member, layer).
            split = np.array([A.split_half_overlap(A.trajectory(res, n, e)) for e in range(E) for n in names])
            details.update(
                {
                    "k": k,
                    "dim": dim,
                    "random_subspace_overlap": {
                        "median": float(np.median(chance)),
                        "q95": float(np.quantile(chance, 0.95)),
                    },
                    "split_half_self_overlap": split.tolist(),
                }
            )
            if null_name == "split_half_self_overlap":
                null = split
            elif null_name == "random_subspaces":
                null = chance
            else:
                raise ValueError(f"claim {case.claim.id}: unsupported null {null_name!r} for metric {metric}")
            return with_preconditions(across, null, details=details, notes=notes, preconditions=pre)
        # Same initialisation as members 0..n-1 of the main run, different data order (data seeds + 100).
        init = [int(s) for s in ctx.settings["shared_init_seeds"]]
        _, twin = run_of(ctx, variant, seeds=[s + 100 for s in init], init_seeds=init)
        pre.update(learning_preconditions(twin, "twin_"))
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
        details.update({"k": k, "overlap_across_seeds": across.tolist()})
        notes.append(acc_note(variant + " (shared-init twins)", twin))
        return with_preconditions(shared, across_layers, details=details, notes=notes, preconditions=pre)

    if metric in ("mlp_minus_attn", "mul_minus_add", "mlp_acc_minus_attn", "mlp_dimension"):
        measure = case.params.get("measure", "r90")
        if metric == "mul_minus_add":
            # Prime modulus, values in the multiplicative group (task.py), and an addition run on the same modulus.
            C = int(ctx.settings["mul_modulus"])
            cfg_add, res = run_of(ctx, variant, C=C)
            cfg_mul, other = run_of(ctx, variant, C=C, op="mul")
            label = "mul"
            notes = [acc_note(f"{variant} add mod {C}", res)]
            pre = learning_preconditions(res)
            details = acc_curves(res)
            details["majority_baseline"] = {
                "add": majority_baselines(cfg_add["task"], int(cfg_add["eval_per_m"])),
                "mul": majority_baselines(cfg_mul["task"], int(cfg_mul["eval_per_m"])),
            }
        else:
            _, other = run_of(ctx, variant, mlp=True)
            label = "mlp"
        _check_paired(res, other, case.claim.id)
        pre.update(learning_preconditions(other, label + "_"))
        notes.append(acc_note(f"{variant} + {label}", other))
        details[label + "_acc"] = acc_curves(other)
        if metric == "mlp_acc_minus_attn":
            # Paper Sec. 4.5 "generalisation degrades": mean over m of the final accuracy, paired by seed.
            measured = final_acc(other).mean(1) - final_acc(res).mean(1)
            details["wilcoxon"] = paired_wilcoxon(measured, case.claim.expect.op)
            # Second reading at matched steps (same snapshot steps in both runs): mean over m and over snapshots,
            # so a model that learns later under the same budget shows up even when both end learned.
            if np.array_equal(np.asarray(res["snap_steps"]), np.asarray(other["snap_steps"])):
                curve_gap = np.asarray(other["acc"]).mean((1, 2)) - np.asarray(res["acc"]).mean((1, 2))
                details["acc_over_training_mlp_minus_attn"] = curve_gap.tolist()
            return with_preconditions(measured, None, details=details, notes=notes, preconditions=pre)
        base = A.per_member_all(res, measure)
        alt = A.per_member_all(other, measure)
        details.update({"base": base.tolist(), label: alt.tolist()})
        if label == "mlp":
            # The MLP matrices' own trajectories, for the report (not part of the claim's paired comparison).
            details["mlp_matrices_" + measure] = A.per_member_all(other, measure, ("W_in", "W_out")).tolist()
            # Second reading: each model's all-parameter trajectory (the decision reads the matched attention set).
            details["all_params_" + measure] = {
                "base": A.all_params_per_member(res, measure).tolist(),
                "mlp": A.all_params_per_member(other, measure).tolist(),
            }
        if metric == "mlp_dimension":
            # The MLP model's attention dimension itself, against the attention-only model's (paired seeds).
            return with_preconditions(alt, base, details=details, notes=notes, preconditions=pre)
        details["wilcoxon"] = paired_wilcoxon(alt - base, case.claim.expect.op)
        return with_preconditions(alt - base, None, details=details, notes=notes, preconditions=pre)

    raise ValueError(f"execution/trajectory: unknown metric {metric!r}")


# E1's three readings of the paper (issue 22 item 4): the claim judges the Fig. 1 caption's band; the others are shown.
R90_READINGS = {"fig1_caption_3_5": (3.0, 5.0), "text_3_4": (3.0, 4.0), "other_caption_2_3": (2.0, 3.0)}


def r90_readings(samples: Any) -> dict[str, Any]:
    """Median r90 over seeds and, per paper reading, the share of seeds inside that band (for the report)."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"r90_readings: samples must be finite and non-empty, got {x.tolist()}")
    out: dict[str, Any] = {"median": float(np.median(x))}
    for name, (lo, hi) in R90_READINGS.items():
        out[name] = float(np.mean((x >= lo) & (x <= hi)))
    return out


def _check_paired(a: Mapping[str, Any], b: Mapping[str, Any], claim_id: str) -> None:
    """Paired differences need the same member seeds in the same order in both runs."""
    sa, sb = np.asarray(a["seeds"]).tolist(), np.asarray(b["seeds"]).tolist()
    if sa != sb:
        raise ValueError(f"claim {claim_id}: paired runs have different seeds {sa} vs {sb}")


def qk_vo(result: Mapping[str, Any], measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-member mean of the W_Q, W_K measure and of the W_V, W_O measure (paper Fig. 1 ordering)."""
    qk = (A.per_member(result, "W_Q", measure) + A.per_member(result, "W_K", measure)) / 2
    vo = (A.per_member(result, "W_V", measure) + A.per_member(result, "W_O", measure)) / 2
    return qk, vo


def seed_deviation(result: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Per seed: |r90 - median r90 of the other seeds|, averaged over the four matrix types ([E] samples).

    One sample per seed (not one pooled standard deviation), so the seed CI is a real CI: "the dimension is
    consistent across seeds" reads as every seed lying within about one dimension of the others.
    """
    per = {t: A.per_member(result, t, "r90") for t in A.MATRIX_TYPES}
    E = A.n_members(result)
    if E < 2:
        raise Untestable("seed consistency needs at least 2 seeds in this profile")
    dev = np.array(
        [np.mean([abs(v[e] - np.median(np.delete(v, e))) for v in per.values()]) for e in range(E)]
    )
    return dev, {k: v.tolist() for k, v in per.items()}


def majority_baselines(task_cfg: Mapping[str, Any], n_per_m: int) -> list[float]:
    """Share of the most frequent target per m on the evaluation set: the accuracy of a constant predictor."""
    spec = TaskSpec.from_config(dict(task_cfg))
    return [
        float(np.bincount(b.target, minlength=spec.C).max() / b.target.size) for b in eval_set(spec, n_per_m)
    ]
