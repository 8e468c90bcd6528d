"""Claims on the line/disk/ball set with known strata (S1, S2: properties of the trained MoE; S9: recovery).

``ldb`` runs the pipeline on a line/disk/ball set with known dimensions 1/2/3: ``separated`` pieces with k = 3
(estimator check) or ``touching`` pieces with small noise and the paper's k = 5 (the recipe itself); see
``ldb_spec``. Split out of experiment.py (issue 27); bodies unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.metrics import ari, label_permutation, random_partition
from geomclaims.registry import Evidence, RunContext, evidence

from . import strata as st
from .data import line_disk_ball
from .moe import code_support_sizes, ste_identity_error
from .pipeline import _config, _data_rng, _fit, _one_thread, _pool, _runs


def _run_ldb(cfg: Mapping[str, Any], seed: int, device: str) -> dict[str, Any]:
    """S1/S2/S9: the pipeline on the line/disk/ball set (true strata of dimension 1, 2, 3)."""
    corpus = line_disk_ball(
        cfg["ldb_per_stratum"], cfg["ldb_dim"], cfg["data_seed"], cfg["ldb_geometry"], cfg["ldb_noise"]
    )
    rng = _data_rng(cfg, seed)
    fit = _fit(corpus, cfg, seed, device)
    k = cfg["n_strata"]
    strata, space, truth = fit["strata"], fit["space"], corpus.source
    dims = st.stratum_dims(space, strata, k, cfg["pca_threshold"])
    true_dims = np.asarray([1, 2, 3], dtype=float)

    def dim_error(labels: np.ndarray, stratum_dim: np.ndarray) -> float:
        # Each true component is matched to the stratum holding most of its points.
        err = [
            abs(stratum_dim[np.bincount(labels[truth == c], minlength=k).argmax()] - true_dims[c])
            for c in range(3)
        ]
        return float(np.mean(err))

    sizes = np.bincount(strata, minlength=k)
    rp_err, perm_ari = [], []
    for r in range(cfg["n_null_draws"]):
        fake = random_partition(sizes, int(rng.integers(2**31)) + r)
        rp_err.append(dim_error(fake, st.stratum_dims(space, fake, k, cfg["pca_threshold"])))
        perm_ari.append(ari(strata, label_permutation(truth, int(rng.integers(2**31)) + r)))
    model, Z = fit["model"], fit["Z"]
    support = code_support_sizes(model, Z, device)
    # Report material: 3-D PCA of a fixed subsample with recovered strata and true pieces (S9 figure).
    sub = np.sort(np.random.default_rng(cfg["data_seed"]).permutation(len(strata))[: cfg["n_scatter"]])
    want = np.asarray(cfg["moe"]["sparsities"])[None, :]
    return {
        "data_seed": int(cfg["data_seed"]),
        "torch_seed": int(seed),
        "ari": ari(strata, truth),
        "perm_ari": np.asarray(perm_ari),
        "dims": dims,
        "sizes": sizes,
        "dim_error": dim_error(strata, dims),
        "rp_dim_error": np.asarray(rp_err),
        "true_component_dims": np.asarray(
            [st.stratum_dims(space, truth, 3, cfg["pca_threshold"])[c] for c in range(3)]
        ),
        "pca3": st.pca_project(corpus.X, 3)[sub],
        "pca3_strata": strata[sub],
        "pca3_truth": truth[sub],
        "support_exact_fraction": float((support == want).mean()),
        "ste_identity_error": ste_identity_error(model, Z, device, seed),
        "gate_row_error": float(
            max(
                np.abs(fit["w_soft"].sum(1) - 1).max(),
                max(0.0, -fit["w_soft"].min()),
                np.abs(fit["w_used"].sum(1) - 1).max(),
            )
        ),
    }


def run_ldb(cfg: Mapping[str, Any], seed: int, *, device: str = "cpu") -> dict[str, Any]:
    """S1/S2/S9: the pipeline on the line/disk/ball set (true strata of dimension 1, 2, 3)."""
    with _one_thread():
        return _run_ldb(cfg, seed, device)


def ldb_spec(geometry: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Number of strata and noise of the line/disk/ball run of one geometry.

    ``separated`` is the estimator check: pieces 10 units apart, no noise, and k = 3 (the true number of pieces,
    so only the estimators are tested). ``touching`` is the paper's recipe on a set whose pieces meet: k =
    ``n_strata`` (5, Sec. 5) and the profile's small noise ``ldb_noise``.
    """
    if geometry == "separated":
        return {"n_strata": 3, "ldb_geometry": "separated", "ldb_noise": 0.0}
    if geometry == "touching":
        return {
            "n_strata": int(settings["n_strata"]),
            "ldb_geometry": "touching",
            "ldb_noise": float(settings["ldb_noise"]),
        }
    raise KeyError(f"stratified/ldb: unknown geometry {geometry!r} (use separated or touching)")


@evidence("stratified/ldb")
def ldb_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    """S1/S2 (properties of the trained MoE) and S9 (known-truth recovery) on the line/disk/ball set."""
    method = str(case.params.get("method", "text"))
    geometry = str(case.params.get("geometry", "separated"))
    cfg = _config(ctx.settings, method, data="ldb", ldb_per_stratum=ctx.settings["ldb_per_stratum"])
    cfg.update(ldb_dim=ctx.settings["ldb_dim"], min_stratum_size=ctx.settings["min_stratum_size"])
    cfg.update(ldb_spec(geometry, ctx.settings))
    runs = _runs(ctx, "ldb", run_ldb, cfg, "ldb_seeds")
    metric = case.claim.metric
    details = {
        "dims": [np.asarray(r["dims"]).tolist() for r in runs],
        "sizes": [np.asarray(r["sizes"]).tolist() for r in runs],
        "true_component_dims": np.asarray(runs[0]["true_component_dims"]).tolist(),
        "method": method,
        "geometry": geometry,
        "n_strata": cfg["n_strata"],
        "ari": [r["ari"] for r in runs],
        "dim_error": [r["dim_error"] for r in runs],
    }
    if geometry == "touching":
        r0 = runs[0]
        details.update(
            pca3=np.round(np.asarray(r0["pca3"]), 4).tolist(),
            pca3_strata=np.asarray(r0["pca3_strata"]).tolist(),
            pca3_truth=np.asarray(r0["pca3_truth"]).tolist(),
        )
    if metric in ("support_exact_fraction", "ste_identity_error", "gate_row_error"):
        return Evidence([r[metric] for r in runs], None, details)
    if metric == "ari":
        return Evidence([r["ari"] for r in runs], _pool(runs, "perm_ari"), details)
    if metric == "dim_error":
        return Evidence([r["dim_error"] for r in runs], _pool(runs, "rp_dim_error"), details)
    raise KeyError(f"stratified/ldb has no metric {metric!r}")
