"""Claims on the six-source corpus (S3-S8, S10): the ``strata`` and ``gaussian`` experiments and their evidence.

* ``strata``   one model x one method x one seed: train the MoE, form 5 strata, Tables 1-2, and the controls that
               reuse the same points (random partitions, label permutations, fresh untrained gates).
* ``gaussian`` the same pipeline on a single Gaussian cloud with the embeddings' size, mean and spectrum (S3).

Evidence: ``stratified/strata`` (S3, S4, S5, S8, S10 for one model and method) and ``stratified/model_size`` (S6,
S7: paired larger-minus-smaller differences of a same-family pair). Split out of experiment.py (issue 27).

CI (issue 25 item 1): every seed draws its texts from one shared pool, so the seeds' spread misses the pool's own
sampling noise. Every metric read from the texts (dimension and sparsity spreads, NMI / ARI, the gate-vs-PCA ARI,
the sparsity-dimension correlation, the paired NMI gain and entropy drop) is also recomputed by the run on
``text_bootstrap`` shared resamples of the pool (text_bootstrap.py) and handed over as ``Evidence.replicates``:
the spine's CI is then a two-stage bootstrap (seeds, then one pool resample). ``expert_distance`` (a property of
the MoE's parameters) and the Gaussian control runs carry none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.metrics import ari, effective_rank, label_permutation, nmi, random_partition
from geomclaims.registry import Evidence, NotRun, RunContext, Untestable, evidence

from . import strata as st
from . import strata_controls as sc
from . import text_bootstrap as tb
from .data import Corpus, load_corpus, load_pool
from .moe import dictionary_distances
from .pipeline import (
    _data_rng,
    _fit,
    _model_cfg,
    _norm_entropy,
    _one_thread,
    _pool,
    _runs,
    _strata_of,
    _table,
    _table_details,
    _text_recipe,
)


def _run_strata(cfg: Mapping[str, Any], seed: int, device: str) -> dict[str, Any]:
    """One model x method x seed on the six-source corpus: Tables 1-2, S5/S7/S8 scores and their controls."""
    corpus, text_index = load_corpus(dict(cfg), seed, device)
    rng = _data_rng(cfg, seed)
    fit = _fit(corpus, cfg, seed, device)
    k, m, E = cfg["n_strata"], cfg["min_stratum_size"], len(cfg["moe"]["sparsities"])
    space, strata, w_soft = fit["space"], fit["strata"], fit["w_soft"]
    # Table 2 weighs each point's expert sparsities by its SOFT gate probabilities (the released script's dot
    # product of gate probabilities and sparsities), for both methods; the released MoE's one-hot mixing weights
    # (``w_used``) are not what the table reports.
    tab = _table(space, strata, w_soft, cfg)
    two, mle = st.cross_check_dims(space, strata, k, m)

    # S3/S4 permutation control: same points, same stratum sizes, random membership.
    rp_dims, rp_ws = st.random_partition_spreads(
        space, tab["ws_point"], strata, k, m, cfg["n_null_draws"], int(rng.integers(2**31))
    )
    # S4/S7/S8 untrained-gate control: fresh gate initialisations through the same strata recipe.
    pca_strata = st.kmeans_labels(st.pca_project(corpus.X, cfg["pca_dim"]), k, seed, cfg["kmeans_n_init"])
    un_ws_spread, un_entropy, un_ari, un_nmi = [], [], [], []
    for g0 in fit["untrained"][1:]:
        s0 = _strata_of(fit["Z"], space, g0, cfg, seed)
        un_ws_spread.append(_table(space, s0, g0, cfg)["ws_spread"])  # soft weights, as for the trained gate
        un_entropy.append(_norm_entropy(g0))
        un_ari.append(ari(g0.argmax(1), pca_strata))
        un_nmi.append(nmi(s0, corpus.source))  # S6 control: the untrained gate's strata vs sources
    # S5 label-permutation control.
    perm_nmi, perm_ari = [], []
    for r in range(cfg["n_null_draws"]):
        fake = label_permutation(corpus.source, int(rng.integers(2**31)) + r)
        perm_nmi.append(nmi(strata, fake))
        perm_ari.append(ari(strata, fake))
    # S6 random-partition control: NMI with the sources of partitions with this seed's stratum sizes. Drawn after
    # every other use of ``rng`` so the controls above keep their numbers.
    rp_nmi = [
        nmi(random_partition(tab["sizes"], int(rng.integers(2**31)) + r), corpus.source)
        for r in range(cfg["n_null_draws"])
    ]
    # Issue 25 item 6, drawn after every other use of ``rng`` (the controls above keep their numbers): pseudo-strata
    # that only sort texts by length, with this seed's stratum sizes (dimension spread; NMI with the sources), and
    # random equal-size partitions of the same points around one global PCA-75% dimension (Sec. 1's alternative).
    if corpus.length is None:
        raise ValueError("strata run: the corpus carries no text lengths (the length control needs them)")
    len_parts = st.length_bin_partitions(corpus.length, tab["sizes"], cfg["n_null_draws"], rng)
    len_dims = [
        st.spread(st.stratum_dims(space, p, k, cfg["pca_threshold"]), tab["sizes"], m) for p in len_parts
    ]
    eq_seed = int(rng.integers(2**31))
    eq_dims = st.equal_partition_spreads(space, k, m, cfg["n_null_draws"], eq_seed, cfg["pca_threshold"])
    # Issue 25 item 1: the metrics on R shared resamples of the text pool (Evidence.replicates). Own generator,
    # keyed by (data_seed, pool row): nothing is drawn from ``rng``, and every seed and model sees resample r alike.
    boot = tb.run_text_bootstrap(space, strata, w_soft, corpus.source, pca_strata, cfg, text_index)

    # Report material: 3-D PCA of a fixed subsample of this seed's sample (same rows for every method of a model).
    sub = np.sort(np.random.default_rng(cfg["data_seed"]).permutation(len(strata))[: cfg["n_scatter"]])
    pca3 = st.pca_project(corpus.X, 3)[sub]
    dist = dictionary_distances(fit["model"])
    n_src = int(corpus.source.max()) + 1
    return {
        "data_seed": int(cfg["data_seed"]),
        "torch_seed": int(seed),
        "text_seed": [int(cfg["data_seed"]), int(seed)],
        "text_index": text_index,
        "n": len(strata),
        "dim": int(corpus.X.shape[1]),
        "sizes": tab["sizes"],
        "dims": tab["dims"],
        "ws": tab["ws"],
        "twonn": two,
        "mle": mle,
        "dim_spread": tab["dim_spread"],
        "ws_spread": tab["ws_spread"],
        "rp_dim_spread": rp_dims,
        "rp_ws_spread": rp_ws,
        "untrained_ws_spread": np.asarray(un_ws_spread),
        "nmi": nmi(strata, corpus.source),
        "ari": ari(strata, corpus.source),
        "perm_nmi": np.asarray(perm_nmi),
        "perm_ari": np.asarray(perm_ari),
        "rp_nmi": np.asarray(rp_nmi),
        "untrained_nmi": np.asarray(un_nmi),
        "entropy": _norm_entropy(w_soft),
        # Gate collapse (the paper's objective has no balance term): largest share of points on one arg-max expert.
        "gate_top_share": float(np.bincount(w_soft.argmax(1), minlength=E).max() / len(w_soft)),
        "untrained_entropy": np.asarray(un_entropy),
        "own_init_entropy": _norm_entropy(fit["untrained"][0]),
        "gate_moved": float(np.abs(w_soft - fit["untrained"][0]).max()),
        "ari_gate_pca": ari(w_soft.argmax(1), pca_strata),
        "untrained_ari_gate_pca": np.asarray(un_ari),
        "expert_usage": np.bincount(w_soft.argmax(1), minlength=E),
        # Gating heatmaps (Figs. 2-6): mean gate probabilities, the same soft weights as Table 2.
        "heat_strata": st.mean_gate_by_group(w_soft, strata, k),
        "heat_sources": st.mean_gate_by_group(w_soft, corpus.source, n_src),
        "source_by_stratum": np.stack(
            [np.bincount(corpus.source[strata == s], minlength=n_src) for s in range(k)]
        ),
        "expert_distance": float(dist[~np.eye(E, dtype=bool)].mean()),
        "pca3": pca3,
        "pca3_strata": strata[sub],
        "pca3_source": corpus.source[sub],
        "source_names": ",".join(corpus.source_names),
        "loss": fit["hist"]["loss"],
        "recon": fit["hist"]["recon"],
        "length_mean": st.stratum_means(corpus.length.astype(float), strata, k),
        "len_dim_spread": np.asarray(len_dims),
        "len_nmi": np.asarray([nmi(p, corpus.source) for p in len_parts]),
        "global_dim": float(effective_rank(space, cfg["pca_threshold"])),
        "eq_dim_spread": eq_dims,
        **boot,
    }


def _run_gaussian(cfg: Mapping[str, Any], seed: int, device: str) -> dict[str, Any]:
    """S3 control: a single Gaussian with the embeddings' spectrum through the same pipeline."""
    corpus, text_index = load_corpus(dict(cfg), seed, device)
    rng = _data_rng(cfg, seed)
    base = corpus.X if _text_recipe(cfg) else st.pca_project(corpus.X, cfg["pca_dim"])
    gauss = st.gaussian_same_spectrum(base, rng)
    fake = Corpus(X=gauss, source=corpus.source, label=corpus.label, source_names=corpus.source_names)
    if _text_recipe(cfg):
        fit = _fit(fake, cfg, seed, device)
        space, strata = fit["space"], fit["strata"]
    else:
        # Released code: strata are KMeans on PCA-64 and do not depend on the MoE, so no training is needed here;
        # ``gauss`` already lives in PCA-64 coordinates.
        space, strata = gauss, st.kmeans_labels(gauss, cfg["n_strata"], seed, cfg["kmeans_n_init"])
    k, m = cfg["n_strata"], cfg["min_stratum_size"]
    sizes = np.bincount(strata, minlength=k)
    dims = st.stratum_dims(space, strata, k, cfg["pca_threshold"])
    return {
        "data_seed": int(cfg["data_seed"]),
        "torch_seed": int(seed),
        "text_seed": [int(cfg["data_seed"]), int(seed)],
        "text_index": text_index,
        "dims": dims,
        "sizes": sizes,
        "dim_spread": st.spread(dims, sizes, m),
    }


def run_strata(cfg: Mapping[str, Any], seed: int, *, device: str = "cpu") -> dict[str, Any]:
    """One model x method x seed on the six-source corpus: Tables 1-2, S5/S7/S8 scores and their controls."""
    load_pool(
        dict(cfg), device
    )  # pool embeddings (cached) with the default threading, before going single-threaded
    with _one_thread():
        return _run_strata(cfg, seed, device)


def run_gaussian(cfg: Mapping[str, Any], seed: int, *, device: str = "cpu") -> dict[str, Any]:
    """S3 control: a single Gaussian with the embeddings' spectrum through the same pipeline."""
    load_pool(dict(cfg), device)
    with _one_thread():
        return _run_gaussian(cfg, seed, device)


@evidence("stratified/strata")
def strata_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    """S3, S4, S5, S8, S10, S11 for one model and method."""
    cfg = _model_cfg(case, ctx)
    runs = _runs(ctx, "strata", run_strata, cfg)
    metric = case.claim.metric
    details: dict[str, Any] = {"model": cfg["model"], "method": cfg["method"], **_table_details(runs)}
    notes: list[str] = []
    if metric == "dim_spread":
        null_name = case.claim.null.name if case.claim.null else ""
        if null_name == "gaussian_same_spectrum":
            gauss = _runs(ctx, "gaussian", run_gaussian, cfg)
            null = [g["dim_spread"] for g in gauss]
            details["gaussian_dims"] = [np.asarray(g["dims"]).tolist() for g in gauss]
        elif null_name == "equal_partitions":
            null = _pool(runs, "eq_dim_spread")
            details.update(sc.global_details(runs))
        elif null_name == "length_bins":
            null = _pool(runs, "len_dim_spread")
            details.update(sc.length_details(runs, cfg["min_stratum_size"]))
        else:
            null = _pool(runs, "rp_dim_spread")
        return _text_sampled(
            [r["dim_spread"] for r in runs], null, details, tb.replicates(runs, "boot_dim_spread")
        )
    if metric == "ws_spread":
        key = (
            "untrained_ws_spread"
            if case.claim.null and case.claim.null.name == "untrained_gate"
            else "rp_ws_spread"
        )
        return _text_sampled(
            [r["ws_spread"] for r in runs], _pool(runs, key), details, tb.replicates(runs, "boot_ws_spread")
        )
    if metric in ("nmi", "ari"):
        details["source_by_stratum"] = np.asarray(runs[0]["source_by_stratum"]).tolist()
        details["source_names"] = runs[0]["source_names"]
        if case.claim.null and case.claim.null.name == "length_bins":
            if metric != "nmi":
                raise KeyError(f"stratified/strata: the length_bins control reads nmi, not {metric!r}")
            details.update(sc.length_details(runs, cfg["min_stratum_size"]))
            return _text_sampled(
                [r["nmi"] for r in runs], _pool(runs, "len_nmi"), details, tb.replicates(runs, "boot_nmi")
            )
        return _text_sampled(
            [r[metric] for r in runs],
            _pool(runs, f"perm_{metric}"),
            details,
            tb.replicates(runs, f"boot_{metric}"),
        )
    if metric == "sparsity_dim_rho":
        spars, min_size = cfg["moe"]["sparsities"], cfg["min_stratum_size"]
        measured, null, extra = sc.sparsity_dimension(runs, spars, min_size)
        reps = tb.sparsity_rho_replicates(runs, spars, min_size)
        return _text_sampled(measured, null, {**details, **extra}, reps)
    if metric == "ari_gate_pca":
        details["expert_usage"] = [np.asarray(r["expert_usage"]).tolist() for r in runs]
        return _text_sampled(
            [r["ari_gate_pca"] for r in runs],
            _pool(runs, "untrained_ari_gate_pca"),
            details,
            tb.replicates(runs, "boot_ari_gate_pca"),
        )
    if metric == "expert_distance":
        r0 = runs[0]
        details.update(
            heat_strata=np.mean([r["heat_strata"] for r in runs], axis=0).tolist(),
            heat_sources=np.mean([r["heat_sources"] for r in runs], axis=0).tolist(),
            heat_strata_seed0=np.asarray(r0["heat_strata"]).tolist(),
            source_by_stratum=np.asarray(r0["source_by_stratum"]).tolist(),
            source_names=r0["source_names"],
            pca3=np.round(np.asarray(r0["pca3"]), 4).tolist(),
            pca3_strata=np.asarray(r0["pca3_strata"]).tolist(),
            pca3_source=np.asarray(r0["pca3_source"]).tolist(),
            entropy=[r["entropy"] for r in runs],
            gate_top_share=[r["gate_top_share"] for r in runs],
            untrained_entropy=[float(np.mean(r["untrained_entropy"])) for r in runs],
            gate_moved=[r["gate_moved"] for r in runs],
            expert_usage=[np.asarray(r["expert_usage"]).tolist() for r in runs],
            recon_final=[float(np.asarray(r["recon"])[-1]) for r in runs],
            nmi=[r["nmi"] for r in runs],
            ari=[r["ari"] for r in runs],
        )
        top = max(r["gate_top_share"] for r in runs)
        if top >= GATE_COLLAPSE_SHARE:
            notes.append(f"gate collapse: up to {top:.3f} of the points share one arg-max expert")
        return Evidence([r["expert_distance"] for r in runs], None, details, notes)
    raise KeyError(f"stratified/strata has no metric {metric!r}")


@evidence("stratified/model_size")
def model_size_evidence(case: ClaimCase, ctx: RunContext) -> Evidence:
    """S6 / S7: paired (same seed) difference larger-minus-smaller model of a same-family pair."""
    pair = str(case.params["pair"])
    if pair not in ctx.settings["pairs"]:
        if ctx.profile != "full":
            # Both models are fetched and verified; comparing them is a budget choice, not an impossibility.
            raise NotRun(
                f"runs in the full profile: pair {pair!r} is not compared in {ctx.profile} (budget; "
                f"pairs here: {sorted(ctx.settings['pairs'])})"
            )
        raise Untestable(
            f"pair {pair!r} is not compared in the {ctx.profile} profile (pairs: {sorted(ctx.settings['pairs'])})"
        )
    small, large = ctx.settings["pairs"][pair]
    rs = _runs(ctx, "strata", run_strata, _model_cfg(case, ctx, small))
    rl = _runs(ctx, "strata", run_strata, _model_cfg(case, ctx, large))
    metric = case.claim.metric
    if metric == "nmi_gain":
        diff = [b["nmi"] - a["nmi"] for a, b in zip(rs, rl, strict=True)]
        reps = tb.paired_replicates(rs, rl, "boot_nmi", sign=1.0)  # resample r of both models: large - small
        details = {"small": [a["nmi"] for a in rs], "large": [b["nmi"] for b in rl]}
        null_name = case.claim.null.name if case.claim.null else ""
        if null_name in S6_CONTROLS:
            # S6 control: the same larger-minus-smaller NMI gain for strata that carry no trained separation.
            null = paired_draw_gains(rs, rl, S6_CONTROLS[null_name])
            details.update(null_gain_median=float(np.median(null)), pair=[small, large])
            return _text_sampled(diff, null, {**details, "method": str(case.params["method"])}, reps)
    elif metric == "entropy_drop":
        # Lower gate entropy for the larger model = concentration; difference small - large.
        diff = [a["entropy"] - b["entropy"] for a, b in zip(rs, rl, strict=True)]
        reps = tb.paired_replicates(rs, rl, "boot_entropy", sign=-1.0)  # small - large, resample r of both
        un = untrained_entropy_drops(rs, rl)
        details = {
            "small": [a["entropy"] for a in rs],
            "large": [b["entropy"] for b in rl],
            "small_untrained": [float(np.mean(a["untrained_entropy"])) for a in rs],
            "large_untrained": [float(np.mean(b["untrained_entropy"])) for b in rl],
            "untrained_drop_median": float(np.median(un)),
        }
        null_name = case.claim.null.name if case.claim.null else ""
        if null_name == "untrained_gate":
            return _text_sampled(
                diff, un, {**details, "pair": [small, large], "method": str(case.params["method"])}, reps
            )
        if null_name != "seed_ci":
            raise KeyError(f"stratified/model_size entropy_drop: unsupported null {null_name!r}")
    else:
        raise KeyError(f"stratified/model_size has no metric {metric!r}")
    details.update(pair=[small, large], method=str(case.params["method"]))
    return _text_sampled(diff, None, details, reps)


def _text_sampled(measured: Any, null: Any, details: dict[str, Any], replicates: np.ndarray) -> Evidence:
    """Evidence of a metric read from the seed's texts: with its pool-resample replicates (text_bootstrap.py), so
    the spine's CI is the two-stage bootstrap, and a note of that in the details."""
    return Evidence(measured, null, {**details, "ci_method": tb.CI_METHOD}, replicates=replicates)


# S6 controls (null name -> per-draw NMI key of a strata run).
S6_CONTROLS = {"random_partition": "rp_nmi", "untrained_gate": "untrained_nmi"}
# Share of points on one arg-max expert from which S10 notes a gate collapse.
GATE_COLLAPSE_SHARE = 0.9


def paired_draw_gains(small: list[dict[str, Any]], large: list[dict[str, Any]], key: str) -> np.ndarray:
    """Larger-minus-smaller ``key`` per (seed, draw): draw ``r`` of a seed is paired across the two models.

    The sign matches the S6 measurement (larger minus smaller); one value per (seed, draw).
    """
    out = []
    for a, b in zip(small, large, strict=True):
        ua, ub = np.asarray(a[key], float), np.asarray(b[key], float)
        if ua.shape != ub.shape:
            raise ValueError(f"{key}: {ua.shape} draws for the smaller model, {ub.shape} for the larger")
        out.append(ub - ua)
    return np.concatenate(out)


def untrained_entropy_drops(small: list[dict[str, Any]], large: list[dict[str, Any]]) -> np.ndarray:
    """S7 null: the same small-minus-large entropy difference for freshly initialised gates on each model's input.

    Draw ``r`` of a seed uses the same initialisation seed for both models (``_untrained_gates``), so the pairs
    differ only in the input the gate sees: a gate whose entropy merely tracks input scale or spread shows the
    same "concentration" here without any training. One value per (seed, draw).
    """
    return -paired_draw_gains(small, large, "untrained_entropy")
