"""Shared access of the signature study's toy experiments: the cached runs, member selection, dataset signatures,
the init draws of the nulls, snapshot columns and the learning preconditions (used by :mod:`.toy` and
:mod:`.corollary`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.metrics import cosine_matrix, mantel
from geomclaims.registry import RunContext

from . import signatures, train
from .tasks import ANCHORS, TASKS, TaskSpec

N_ANCHORS = len(ANCHORS)
ORDER_THRESHOLD = -0.5  # P4: "ordered" = R_order at or below this (half-way to the ideal -1)


def toy_seeds(settings: dict[str, Any]) -> list[int]:
    """Seeds with a toy job: the true-label seeds, then shuffled-label seeds not among them (profile order)."""
    seeds = [int(s) for s in settings["seeds"]]
    return seeds + [int(s) for s in settings["shuffled_seeds"] if int(s) not in seeds]


def _toy_labels(settings: dict[str, Any], seed: int) -> tuple[str, ...]:
    modes = [m for m, key in (("true", "seeds"), ("shuffled", "shuffled_seeds")) if seed in settings[key]]
    return tuple(modes)


def toy_run(ctx: RunContext) -> dict[str, Any]:
    """Every toy member of the profile: one job per seed (see ``train.toy_config``), merged in seed order."""
    s = ctx.settings
    parts = []
    for seed in toy_seeds(s):
        cfg = train.toy_config(
            s["toy_schedule"], _toy_labels(s, seed), device=ctx.device, **s["toy_overrides"]
        )
        parts.append(ctx.run("toy", cfg, seed, train.train_toy))
    return train.merge_member_runs(parts)


def toy_cost(ctx: RunContext) -> dict[str, float]:
    """Measured seconds per step of the paper schedule (one seed's members, ``cost_steps`` steps), extrapolated to
    every seed job of the profile."""
    s = ctx.settings
    seed = toy_seeds(s)[0]
    cfg = train.toy_config(
        "paper",
        _toy_labels(s, seed),
        device=ctx.device,
        max_steps=int(s["cost_steps"]),
        n_checkpoints=4,
        evaluate=False,
    )
    res = ctx.run("toy_cost", cfg, seed, train.train_toy)
    paper = train.SCHEDULES["paper"]
    paper_steps = paper["epochs"] * paper["n_samples"] // paper["batch"]
    return {
        "paper_s_per_step": float(res["seconds_per_step"]),
        "paper_steps": paper_steps,
        "jobs": len(toy_seeds(s)),
    }


def select(res: dict[str, Any], task: str, arch: str, labels: str = "true") -> np.ndarray:
    """Member indices of (task, arch, labels), ordered by seed."""
    m = (res["members/task"] == task) & (res["members/arch"] == arch) & (res["members/labels"] == labels)
    idx = np.nonzero(m)[0]
    return idx[np.argsort(res["members/seed"][idx], kind="stable")]


def member_signatures(res: dict[str, Any], i: int, n_samples: int) -> dict[str, Any]:
    """Signatures of member ``i``'s own (true-label) training set, recomputed from its recorded data seed."""
    return dataset_signatures(str(res["members/task"][i]), n_samples, int(res["members/data_seed"][i]))


@functools.lru_cache(maxsize=64)
def dataset_signatures(task: str, n_samples: int, data_seed: int) -> dict[str, Any]:
    """Cached: several claims read the same dataset's signatures (treat the returned arrays as read-only)."""
    X, y = train.make_dataset(task, n_samples, data_seed)
    return signatures.task_signatures(X, y, task)


def null_seed(ctx: RunContext) -> int:
    """Seed of the null draws and permutations (profile setting ``null_seed``; nulls use fixed offsets of it)."""
    return int(ctx.settings["null_seed"])


def init_anchor_draws(seed: int, d: int, std: float, n: int, rows: int = N_ANCHORS) -> np.ndarray:
    """``n`` fresh draws of ``rows`` x d weights from the models' init distribution (the ``init`` null)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, std, size=(n, rows, d))


def parse_member(case: ClaimCase) -> tuple[str, str]:
    """params ``member: "lin_f_add"`` -> ("lin", "f_add")."""
    arch, task = str(case.params["member"]).split("_", 1)
    if arch not in train.ARCHS or task not in TASKS:
        raise ValueError(f"bad member {case.params['member']!r}")
    return arch, task


def _upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(m.shape[0], k=1)]


def _null_name(case: ClaimCase) -> str:
    return case.claim.null.name if case.claim.null is not None else "none"


def learning_preconditions(res: dict[str, Any], idx: np.ndarray, task: str) -> dict[str, float]:
    """Validity preconditions of a trained-model claim (contract v2 ``requires``): the worst final training
    accuracy over the judged seeds of the member, and of the FFN on the same task (the geometry a claim reads is
    the paper's mechanism only on a model that fitted its task; P1-linfail's control needs the FFN to have fitted)."""
    return {
        "train_accuracy_min": float(np.min(res["acc_final"][idx])),
        "ffn_same_task_accuracy_min": float(np.min(res["acc_final"][select(res, task, "ffn")])),
    }


def _curve_details(res: dict[str, Any], idx: np.ndarray, key: str = "r_order") -> dict[str, Any]:
    return {
        "steps": res["steps"].tolist(),
        f"{key}_curves": np.round(res[key][idx], 4).tolist(),
        "total_steps": int(res["total_steps"]),
        "schedule": {
            k: res["__meta__"]["config"][k] for k in ("schedule", "lr", "epochs", "batch", "n_samples")
        },
    }


def _permutation_null(mats: list[np.ndarray], target: np.ndarray, n_perm: int, seed: int) -> np.ndarray:
    """Mantel null of the median-over-seeds statistic: the same permutation sequence for every seed's matrix, then
    the median across seeds per permutation (so the null describes the aggregate the claim tests)."""
    per_seed = np.stack([mantel(m, target, n_perm=n_perm, seed=seed).null for m in mats])
    return np.median(per_seed, axis=0)


def snapshot_column(res: dict[str, Any], when: str) -> int:
    """Checkpoint column of ``when``: "end" (last) or "early" (the epoch-120-of-1000 snapshot)."""
    if when == "end":
        return -1
    if when == "early":
        return int(np.nonzero(res["steps"] == int(res["snapshot_step"]))[0][0])
    raise ValueError(f"when must be 'end' or 'early', not {when!r}")


def _when(case: ClaimCase) -> str:
    """Metrics ending in ``_early`` read the epoch-120-of-1000 snapshot, all others the end of training."""
    return "early" if case.claim.metric.endswith("_early") else "end"


def _label_rows(task: str) -> np.ndarray:
    """Positions of the task's label domain inside the stored W^U rows (tokens 101..180)."""
    return TaskSpec(task).label_domain - int(train.LABEL_ROWS[0])


def _unembedding_cos(res: dict[str, Any], i: int, task: str, which: str = "final") -> np.ndarray:
    return cosine_matrix(res[f"WU_label/{which}"][i][_label_rows(task)].astype(np.float64))
