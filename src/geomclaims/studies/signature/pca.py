"""PCA readings of the toy models (Figs. 3B, 4C, 8 = App. B.2) and the label order of the unembeddings (Figs. 4A,
9A/B = App. B.3), on the same ``signature/toy`` runs as P2-P7 (no extra training).

Conventions (one each, pinned in the tests):

* :func:`pca_consistency` — the paper shows two PCA projections side by side and calls them consistent. Read as: the
  2-D PCA projection of one set of rows, matched point by point to the 2-D PCA projection of the other, after the
  best rotation/reflection and uniform scale (orthogonal Procrustes on centred, unit-norm configurations):
  1 - Procrustes disparity, in [0, 1] (1 = the same picture up to rotation and scale).
* :func:`pc1_order` — "an ordered structure" in a PCA plot (App. B.2, Fig. 8): |Spearman| between the first
  principal coordinate and the anchor value (1 = the points lie in anchor order along PC1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import procrustes

from geomclaims.claims import ClaimCase
from geomclaims.metrics import cosine_matrix, r_order
from geomclaims.registry import Evidence, RunContext

from .shared import (
    _label_rows,
    _null_name,
    learning_preconditions,
    member_signatures,
    null_seed,
    parse_member,
    select,
    snapshot_column,
)
from .tasks import ANCHORS, TaskSpec


def pca_project(x: np.ndarray, k: int = 2) -> np.ndarray:
    """Rows of ``x`` projected on their top-``k`` principal axes (rows centred; SVD)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] <= k or not np.all(np.isfinite(x)):
        raise ValueError(f"pca_project: need a finite 2-D array with more than {k} rows, got shape {x.shape}")
    c = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(c, full_matrices=False)
    return u[:, :k] * s[:k]


def pca_consistency(a: np.ndarray, b: np.ndarray, k: int = 2) -> float:
    """1 - Procrustes disparity of the ``k``-D PCA projections of ``a`` and ``b`` (rows matched)."""
    if len(a) != len(b):
        raise ValueError(f"pca_consistency: {len(a)} rows vs {len(b)}")
    _, _, disparity = procrustes(pca_project(a, k), pca_project(b, k))
    return float(1.0 - disparity)


def pc1_order(x: np.ndarray, values: np.ndarray) -> float:
    """|Spearman| between the first principal coordinate of the rows of ``x`` and ``values``."""
    return float(abs(stats.spearmanr(pca_project(x, 1)[:, 0], values).statistic))


def _row_permutation_null(
    pairs: list[tuple[np.ndarray, np.ndarray]], stat: Any, n_perm: int, seed: int
) -> np.ndarray:
    """The statistic with the rows of the second matrix relabelled by a random permutation (the same permutation for
    every seed), median over seeds per permutation: the null of the aggregate the claim tests."""
    rng = np.random.default_rng(seed)
    n = pairs[0][1].shape[0]
    out = np.empty(n_perm)
    for k in range(n_perm):
        perm = rng.permutation(n)
        out[k] = np.median([stat(a, b[perm]) for a, b in pairs])
    return out


def pca_key_evidence(case: ClaimCase, ctx: RunContext, res: dict[str, Any]) -> Evidence:
    """Fig. 3B: PCA of the anchor embeddings (epoch 120) against PCA of the task's key signature."""
    arch, task = parse_member(case)
    idx = select(res, task, arch)
    n_samples = int(res["__meta__"]["config"]["n_samples"])
    sigs = [member_signatures(res, int(i), n_samples) for i in idx]
    pairs = [
        (res["WE_anchor/early"][i].astype(np.float64), s[s["key"]]) for i, s in zip(idx, sigs, strict=True)
    ]
    measured = [pca_consistency(a, b) for a, b in pairs]
    null = _null_for(
        case, ctx, res, task, arch, pairs, "WE_anchor/early", pca_consistency, "anchor_permutation"
    )
    details = {
        "key_signature": sigs[0]["key"],
        "pca_embedding_seed0": np.round(pca_project(pairs[0][0]), 4).tolist(),
        "pca_signature_seed0": np.round(pca_project(pairs[0][1]), 4).tolist(),
        "snapshot_step": int(res["snapshot_step"]),
    }
    return Evidence(
        measured=measured, null=null, details=details, preconditions=learning_preconditions(res, idx, task)
    )


def _varphi_pairs(
    res: dict[str, Any], idx: np.ndarray, task: str, key: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    n_samples = int(res["__meta__"]["config"]["n_samples"])
    out = []
    for i in idx:
        v = member_signatures(res, int(i), n_samples)["varphi_X"]
        ok = v.sum(axis=1) > 0  # a label absent from the training set has no signature row
        out.append((res[key][i][_label_rows(task)][ok].astype(np.float64), v[ok]))
    return out


def pca_unembedding_evidence(case: ClaimCase, ctx: RunContext, res: dict[str, Any]) -> Evidence:
    """Fig. 4C: PCA of the label unembeddings (epoch 120) against PCA of varphi^X."""
    arch, task = parse_member(case)
    idx = select(res, task, arch)
    pairs = _varphi_pairs(res, idx, task, "WU_label/early")
    measured = [pca_consistency(a, b) for a, b in pairs]
    null = _null_for(
        case, ctx, res, task, arch, pairs, "WU_label/early", pca_consistency, "label_permutation"
    )
    details = {
        "pca_unembedding_seed0": np.round(pca_project(pairs[0][0]), 4).tolist(),
        "pca_varphi_seed0": np.round(pca_project(pairs[0][1]), 4).tolist(),
        "train_accuracy": res["acc_final"][idx].tolist(),
    }
    return Evidence(measured=measured, null=null, details=details)


def _null_for(
    case: ClaimCase,
    ctx: RunContext,
    res: dict[str, Any],
    task: str,
    arch: str,
    pairs: list[tuple[np.ndarray, np.ndarray]],
    key: str,
    stat: Any,
    permutation_name: str,
) -> np.ndarray:
    name = _null_name(case)
    if name == permutation_name:
        return _row_permutation_null(pairs, stat, int(ctx.settings["n_null"]), null_seed(ctx))
    if name == "shuffled_labels":
        shuf = select(res, task, arch, "shuffled")
        if key.startswith("WU_label"):
            shuf_pairs = _varphi_pairs(res, shuf, task, key)
            # the shuffled model's rows against the true data's signature of the same seed (same valid labels)
            return np.array([stat(sp[0], p[1]) for sp, p in zip(shuf_pairs, pairs, strict=False)])
        return np.array(
            [stat(res[key][j].astype(np.float64), pairs[k % len(pairs)][1]) for k, j in enumerate(shuf)]
        )
    raise KeyError(f"PCA claims support nulls {permutation_name}/shuffled_labels, not {name!r}")


def pc1_order_evidence(case: ClaimCase, ctx: RunContext, res: dict[str, Any]) -> Evidence:
    """App. B.2, Fig. 8: the anchor embeddings of F_lin at epoch 120 lie in anchor order along PC1."""
    arch, task = parse_member(case)
    idx = select(res, task, arch)
    values = np.asarray(ANCHORS, dtype=float)
    col = snapshot_column(res, "early")
    measured = [pc1_order(res["WE_anchor/early"][i], values) for i in idx]
    name = _null_name(case)
    if name == "anchor_permutation":
        rng = np.random.default_rng(null_seed(ctx))
        null = np.array(
            [
                np.median([pc1_order(res["WE_anchor/early"][i], rng.permutation(values)) for i in idx])
                for _ in range(int(ctx.settings["n_null"]))
            ]
        )
    elif name == "shuffled_labels":
        null = np.array(
            [pc1_order(res["WE_anchor/early"][j], values) for j in select(res, task, arch, "shuffled")]
        )
    else:
        raise KeyError(f"PC1-order claims support nulls anchor_permutation/shuffled_labels, not {name!r}")
    details = {
        "pca_seed0": np.round(pca_project(res["WE_anchor/early"][idx[0]]), 4).tolist(),
        "r_order_early": res["r_order"][idx, col].tolist(),
        "train_accuracy": res["acc_final"][idx].tolist(),
    }
    return Evidence(measured=measured, null=null, details=details)


def unembedding_order_evidence(case: ClaimCase, ctx: RunContext, res: dict[str, Any]) -> Evidence:
    """Figs. 4A / 9A: cos(W^U) over the labels falls with label distance (R_order over label values, end of
    training), against models trained on shuffled labels."""
    arch, task = parse_member(case)
    idx = select(res, task, arch)
    rows = _label_rows(task)
    values = TaskSpec(task).label_domain.astype(float)
    measured = [r_order(res["WU_label/final"][i][rows].astype(np.float64), values) for i in idx]
    if _null_name(case) != "shuffled_labels":
        raise KeyError("unembedding-order claims use the 'shuffled_labels' null")
    null = [
        r_order(res["WU_label/final"][j][rows].astype(np.float64), values)
        for j in select(res, task, arch, "shuffled")
    ]
    details = {
        "unembedding_cos_seed0": np.round(cosine_matrix(res["WU_label/final"][idx[0]][rows]), 3).tolist(),
        "train_accuracy": res["acc_final"][idx].tolist(),
    }
    return Evidence(measured=measured, null=np.asarray(null), details=details)
