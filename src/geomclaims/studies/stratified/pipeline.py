"""Shared run access of the stratified study: configs, the pipeline pieces every experiment shares, and how
evidence functions fetch runs (split out of experiment.py, issue 27; bodies unchanged).

* configs: ``_config`` (the cache key of a run: data, MoE and analysis knobs plus the method), ``_one_thread``.
* pipeline: the MoE input, untrained gates, the strata recipe of each method, ``_fit`` (train + strata) and
  ``_table`` (Tables 1-2 of one stratification).
* run access: ``_runs`` (one cached run per seed), ``_model_cfg`` (one model x method, or ``NotRun`` /
  ``Untestable`` with the reason), ``_table_details`` and ``_pool`` (per-seed lists and pooled null draws).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from geomclaims.claims import ClaimCase
from geomclaims.metrics import row_entropy
from geomclaims.registry import NotRun, RunContext, Untestable

from . import strata as st
from .data import Corpus
from .moe import build_moe, gate_probs, train_moe
from .profiles import BALANCED_WEIGHT, FULL_MODELS

METHODS = ("text", "text-balanced", "released-code")


# ----------------------------------------------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------------------------------------------


def _config(s: Mapping[str, Any], method: str, **extra: Any) -> dict[str, Any]:
    """Everything a run depends on (the cache key): data, MoE and analysis knobs plus the method."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    keys = (
        "data",
        "n_per_source",
        "n_pool_per_source",
        "pooling",
        "data_seed",
        "max_length",
        "synthetic_dim",
        "n_strata",
        "pca_dim",
        "kmeans_n_init",
        "pca_threshold",
        "min_stratum_size",
        "n_null_draws",
        "n_untrained_draws",
        "n_scatter",
        "text_bootstrap",
    )
    cfg = {k: s[k] for k in keys}
    # text-balanced trains the text MoE with the load-balancing term; both text methods share the MoE variant.
    cfg["moe"] = {**s["moe"], "variant": "released-code" if method == "released-code" else "text"}
    if method == "text-balanced":
        cfg["moe"]["balance_weight"] = BALANCED_WEIGHT
    cfg["method"] = method
    cfg.update(extra)
    return cfg


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run the MoE and the statistics single-threaded (torch and BLAS).

    The matrices here are small (<= 1200 x 768): a second thread gains little, and on a shared 2-core box
    OpenBLAS/OpenMP spin-waiting made a 200 x 96 SVD 100x slower (500 ms vs 4 ms) and a training step 10x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def _text_recipe(cfg: Mapping[str, Any]) -> bool:
    """True for the text methods (``text``, ``text-balanced``): strata from the gate, in the embedding space."""
    return cfg["moe"]["variant"] == "text"


def _data_rng(cfg: Mapping[str, Any], seed: int) -> np.random.Generator:
    return np.random.default_rng([int(cfg["data_seed"]), int(seed)])


# ----------------------------------------------------------------------------------------------------------
# shared pipeline pieces
# ----------------------------------------------------------------------------------------------------------


def _moe_input(X: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Text: standardised embeddings. Released code: raw PCA-64 coordinates (what its MoE consumes)."""
    if _text_recipe(cfg):
        return st.standardize(X)
    return st.pca_project(X, cfg["pca_dim"])


def _untrained_gates(Z: np.ndarray, cfg: Mapping[str, Any], seed: int, device: str) -> list[np.ndarray]:
    """Softmax gates of freshly initialised MoEs: draw 0 is this seed's own init, the rest are extra draws."""
    out = []
    for r in range(1 + int(cfg["n_untrained_draws"])):
        torch.manual_seed(seed if r == 0 else 1_000_003 * (seed + 1) + r)
        model = build_moe(Z.shape[1], cfg["moe"]).to(device)
        out.append(gate_probs(model, Z, device)[1])
    return out


def _strata_of(
    Z: np.ndarray, space: np.ndarray, gate_soft: np.ndarray, cfg: Mapping[str, Any], seed: int
) -> np.ndarray:
    """Text: KMeans(k) of the gate probabilities. Released code: KMeans(k) of the PCA-64 space."""
    n_init = int(cfg["kmeans_n_init"])
    if _text_recipe(cfg):
        return st.kmeans_labels(gate_soft, cfg["n_strata"], seed, n_init)
    return st.kmeans_labels(space, cfg["n_strata"], seed, n_init)


def _norm_entropy(P: np.ndarray) -> float:
    return float(row_entropy(P).mean() / np.log(P.shape[1]))


def _fit(corpus: Corpus, cfg: Mapping[str, Any], seed: int, device: str) -> dict[str, Any]:
    """Train the MoE of ``cfg['method']`` on ``corpus`` and form strata; the core every experiment shares."""
    Z = _moe_input(corpus.X, cfg)
    untrained = _untrained_gates(Z, cfg, seed, device)
    labels = None if _text_recipe(cfg) else corpus.label
    model, hist = train_moe(Z, cfg["moe"], seed, device, labels=labels)
    w_used, w_soft = gate_probs(model, Z, device)
    space = Z  # Table 1 space: standardised embeddings (text) or the PCA-64 projection (released code)
    strata = _strata_of(Z, space, w_soft, cfg, seed)
    return {
        "Z": Z,
        "space": space,
        "model": model,
        "hist": hist,
        "w_used": w_used,
        "w_soft": w_soft,
        "untrained": untrained,
        "strata": strata,
    }


def _table(
    space: np.ndarray, strata: np.ndarray, weights: np.ndarray, cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """Tables 1-2 of one stratification; ``weights`` (n, E) are the soft gate probabilities Table 2 uses."""
    k, m = cfg["n_strata"], cfg["min_stratum_size"]
    sizes = np.bincount(strata, minlength=k)
    dims = st.stratum_dims(space, strata, k, cfg["pca_threshold"])
    ws_point = st.weighted_sparsity(weights, cfg["moe"]["sparsities"])
    ws = st.stratum_means(ws_point, strata, k)
    return {
        "sizes": sizes,
        "dims": dims,
        "ws": ws,
        "ws_point": ws_point,
        "dim_spread": st.spread(dims, sizes, m),
        "ws_spread": st.spread(ws, sizes, m),
    }


# ----------------------------------------------------------------------------------------------------------
# run access (evidence functions)
# ----------------------------------------------------------------------------------------------------------


def _runs(
    ctx: RunContext, name: str, fn: Any, cfg: Mapping[str, Any], seeds_key: str = "seeds"
) -> list[dict[str, Any]]:
    return [
        ctx.run(name, cfg, seed, functools.partial(fn, device=ctx.device)) for seed in ctx.settings[seeds_key]
    ]


def _model_cfg(case: ClaimCase, ctx: RunContext, model: str | None = None) -> dict[str, Any]:
    """Config of one model x method (x pooling, when the case names one) on the six-source corpus."""
    model = model or str(case.params["model"])
    if model not in ctx.settings["models"]:
        if ctx.profile != "full" and model in FULL_MODELS:
            # Every registry model is fetched and verified; embedding it here is a budget choice, not an impossibility.
            raise NotRun(
                f"runs in the full profile: model {model!r} is not embedded in {ctx.profile} (budget; models here: "
                f"{ctx.settings['models']})"
            )
        raise Untestable(
            f"model {model!r} is not embedded in the {ctx.profile} profile (models: {ctx.settings['models']})"
        )
    pooling = str(case.params.get("pooling", ctx.settings["pooling"]))
    if pooling != ctx.settings["pooling"] and model not in ctx.settings["padding_models"]:
        # A second embedding of the pool per model: a budget choice, run in full.
        raise NotRun(
            f"runs in the full profile: {pooling!r} pooling of {model!r} is not embedded in {ctx.profile} "
            f"(budget; models with it here: {ctx.settings['padding_models']})"
        )
    cfg = _config(ctx.settings, str(case.params["method"]), model=model, pooling=pooling)
    if "kmeans_n_init" in case.params:  # named variant: the released code's single KMeans restart
        cfg["kmeans_n_init"] = int(case.params["kmeans_n_init"])
    return cfg


def _table_details(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed tables for the report (small lists)."""
    keys = ("sizes", "dims", "ws", "twonn", "mle")
    return {k: [np.asarray(r[k]).tolist() for r in runs] for k in keys}


def _pool(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.concatenate([np.atleast_1d(np.asarray(r[key], dtype=float)) for r in runs])
