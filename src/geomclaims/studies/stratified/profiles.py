"""Profile settings of the stratified study (smoke / ci / full).

MoE hyper-parameters from paper S, Sec. 5: 7 experts, 32 atoms, sparsities [8..32], lr 1e-3, 100 epochs, 5 strata.
Not given by the paper and pinned here: query dimension Q = 32, LISTA depth 3, batch 256, supervised-contrastive
temperature 0.1 (released-code variant), PCA-64 (released code). The main text recipe trains on the paper's objective
alone (``balance_weight`` 0); the named variant ``text-balanced`` adds the load-balancing term with weight
``BALANCED_WEIGHT`` (moe.py says why it was added). KMeans uses ``kmeans_n_init`` 10 restarts; the released code
uses 1, a named variant (the ``kmeans_n_init`` claim parameter).

Text sample: every seed draws ``n_per_source`` texts per source from a pool of ``n_pool_per_source`` (2x in ci, 1.2x in full) embedded
once per model (data.py), so the embedding cost is that of the pool. The seeds share that pool, so each run also
recomputes its metrics on ``text_bootstrap`` resamples of it (text_bootstrap.py) for the two-stage CI.

Cost of ``full`` (estimate from measured throughput). Embedding throughput, one thread, max_length 128, batches of 32
sorted by length, on this 2-core box (2026-11-29, 96 texts): MiniLM-L6 45 texts/s, MPNet-base 7.0, SmolLM2-135M
5.1, i.e. about 1.7-1.8 ms per million non-embedding parameters per text. Scaled by non-embedding parameters:
gemma-3-270m (~0.1 B) ~0.18 s/text, Qwen2.5-Coder-0.5B (~0.36 B) ~0.65 s/text, Qwen2.5-Coder-1.5B (~1.3 B) ~2.4
s/text. Sized to finish on 2 cores: the pool is 6 x 600 = 3600 texts per model (each seed draws 500 per source, the
paper's count; a 2x pool would add ~2.5 CPU-hours of Qwen-1.5B alone): MiniLM ~1.5 CPU-min, MPNet ~9, SmolLM2 ~12,
gemma ~11, Qwen-0.5B ~40, Qwen-1.5B ~145, plus ~40 for the padding variant of the three small models; the jobs
(MoE, KMeans, controls; ~3-4 CPU-min in ci for 8 seeds x 600 texts x 3 models) at 5x the texts, 6 models and both
recipes ~60-90. Whole ``full`` study: ~5.5 CPU-hours, ~3 h of wall time on 2 Dask workers; 8 seeds (the ci count,
which the stability rule needs) and 128 tokens as in ci. Every per-model claim lists all six models; ci embeds three
and reports the other three as ``not_run`` (budget deferral). Embeddings are cached per chunk of 128 texts, so an interrupted
run resumes where it stopped.

Cost of ``ci`` (measured 2026-11-29, one worker): 594 CPU-s for all jobs with the three mean-pooled pools already
cached, of which ~420 s is SmolLM2's padding-included pool; the three mean-pooled pools (1200 texts each) cost
~430 CPU-s cold at the throughput above, so a cold ci run of this study is ~17 CPU-min.
"""

from __future__ import annotations

from typing import Any

from geomclaims.registry import register_profiles
from geomclaims.resources.models import MODEL_NAMES

# The ci profile embeds the two sentence encoders and the smallest decoder (budget); full embeds every registry
# model. Names come from resources.models so the study cannot drift from what `geomclaims fetch` provides.
CI_MODELS: list[str] = [m for m in MODEL_NAMES if m in ("minilm-l6", "mpnet-base", "smollm2-135m")]
FULL_MODELS: list[str] = list(MODEL_NAMES)
ENCODER_PAIR = "minilm-l6>mpnet-base"
QWEN_PAIR = "qwen2.5-coder-0.5b>qwen2.5-coder-1.5b"
PAIRS: dict[str, list[str]] = {p: p.split(">") for p in (ENCODER_PAIR, QWEN_PAIR)}
for _pair in PAIRS.values():
    if not set(_pair) <= set(MODEL_NAMES):
        raise ValueError(
            f"stratified profiles: pair {_pair} names a model not in resources.models.MODEL_NAMES"
        )

PAPER_MOE: dict[str, Any] = {
    "n_atoms": 32,
    "sparsities": [8, 12, 16, 20, 24, 28, 32],
    "lr": 1e-3,
    "epochs": 100,
    "query_dim": 32,
    "lista_iters": 3,
    "batch_size": 256,
    "balance_weight": 0.0,  # the paper's objective has no balance term (Sec. 4, eq. 6)
    "temperature": 0.1,
}
# Weight of the load-balancing KL in the named variant ``text-balanced`` (the suite's earlier main recipe).
BALANCED_WEIGHT = 0.1

_COMMON: dict[str, Any] = {
    "moe": PAPER_MOE,
    "n_strata": 5,  # paper Sec. 5: "number of strata ... 5"
    "pca_dim": 64,  # released code: KMeans on PCA-64
    "kmeans_n_init": 10,  # KMeans restarts; the released code's 1 is a named variant (claim parameter)
    "pca_threshold": 0.75,  # Table 1: components reaching 75% of the variance
    "min_stratum_size": 20,  # strata smaller than this are left out of spreads (dimension capped by size)
    "max_length": 128,
    "pooling": "mean",  # attention-mask weighted; the padding-included variant is a claim parameter (S5 padding)
    "data_seed": 0,
    "synthetic_dim": 48,
    "ldb_per_stratum": 200,  # S9 line/disk/ball points per stratum
    "ldb_dim": 96,
    "ldb_noise": 0.01,  # S9 touching line/disk/ball: isotropic noise s.d. (pieces have unit size)
    "n_null_draws": 10,  # random partitions / label permutations per seed
    "n_untrained_draws": 10,  # fresh gate initialisations per seed
    "n_scatter": 300,  # 3-D PCA points kept for the report
    # Pool resamples per strata run (issue 25 item 1, text_bootstrap.py): the text-sampling noise the spine's
    # two-stage CI adds to the seeds'. 50: the spine draws one resample column per bootstrap draw and uses each
    # seed's deviations from its mean, so R only has to pin the spread of the pool noise (its s.d. to ~10%,
    # 1 / sqrt(2 (R - 1))); it reuses the run's points, gate and strata (no embedding, no training): ~0.15 s per ci
    # run (600 points, d = 384), a few seconds per full run (3000 points, d <= 1536), beside minutes of training.
    "text_bootstrap": 50,
}

SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        **_COMMON,
        "moe": {**PAPER_MOE, "epochs": 2},
        "data": "synthetic",
        "n_per_source": 25,
        "n_pool_per_source": 50,
        "ldb_per_stratum": 40,
        "models": CI_MODELS,
        "pairs": {ENCODER_PAIR: PAIRS[ENCODER_PAIR]},
        "seeds": [0, 1],
        "ldb_seeds": [0, 1],
        "padding_models": ["minilm-l6"],
        "n_null_draws": 3,
        "n_untrained_draws": 2,
        "n_scatter": 50,
        "text_bootstrap": 5,  # plumbing only
    },
    "ci": {
        **_COMMON,
        "data": "real",
        # Each seed draws 100 texts per source from a 200-per-source pool embedded once per model; 100 (not the
        # earlier fixed 200) keeps the cold embeddings of the 2x pool at the earlier 1200 texts per model.
        "n_per_source": 100,
        "n_pool_per_source": 200,
        "models": CI_MODELS,
        # Same-family size pairs the profile compares (RESOURCES.md): only the two sentence encoders in ci; the
        # Qwen pair is a budget deferral to full (embedding 1200 texts with the 1.5B at 128 tokens alone costs
        # several CPU-minutes, beyond the study's ci budget).
        "pairs": {ENCODER_PAIR: PAIRS[ENCODER_PAIR]},
        # 8 seeds: text sample and MoE both vary per seed; 8 v 8 paired/rank comparisons reach p well below 0.05.
        "seeds": [0, 1, 2, 3, 4, 5, 6, 7],
        # The line/disk/ball runs (S1, S2, S9) are synthetic and far from their thresholds: 5 seeds.
        "ldb_seeds": [0, 1, 2, 3, 4],
        # Released-code padding-included pooling (S5 padding variant): SmolLM2 only in ci, where an independent run
        # saw it move NMI (0.52 -> 0.36); the two encoders are a budget deferral to full.
        "padding_models": ["smollm2-135m"],
    },
    "full": {
        **_COMMON,
        "data": "real",
        "n_per_source": 500,  # paper: 500 texts per source
        # 600 (not 2x): the pool is what the models embed, and Qwen-1.5B's ~2.4 s/text makes the pool the cost of
        # this profile; each seed still draws its own 500 of the 600 (sizing: module docstring).
        "n_pool_per_source": 600,
        "models": FULL_MODELS,
        "pairs": dict(PAIRS),
        "seeds": list(range(8)),
        "ldb_seeds": list(range(10)),
        # The three small models only: re-embedding the Qwen pools with padding would add ~5 CPU-hours.
        "padding_models": CI_MODELS,
    },
}

register_profiles("stratified", SETTINGS)
