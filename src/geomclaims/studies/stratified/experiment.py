"""Experiments and evidence functions of the stratified study (paper S, claims S1-S10).

Experiments (pure functions of (config, seed), cached by ``ctx.run``):

* ``strata``   one model x one method x one seed: train the MoE, form 5 strata, Tables 1-2, and the controls that
               reuse the same points (random partitions, label permutations, fresh untrained gates).
* ``gaussian`` the same pipeline on a single Gaussian cloud with the embeddings' size, mean and spectrum (S3).
* ``ldb``      the pipeline on a line/disk/ball set with known dimensions 1/2/3 (S1, S2 on the trained MoE; S9):
               ``separated`` pieces with k = 3 (estimator check) or ``touching`` pieces with small noise and the
               paper's k = 5 (the recipe itself); see ``ldb_spec``.

Table 2 (S4) weighs every point's expert sparsities by its soft gate probabilities for both methods, as the released
script does; the released MoE's one-hot mixing weights are used only inside the MoE.

Methods: ``text`` (the suite's own reading of Sec. 4: MoE trained on the paper's reconstruction objective alone,
strata = KMeans(5) of the gate probabilities, dimensions in the embedding space), ``text-balanced`` (the same with
the load-balancing term, weight ``profiles.BALANCED_WEIGHT``: a named variant) and ``released-code`` (strata = KMeans(5) on PCA-64 of the raw embeddings, dimensions in that
64-d space, hard untrained gate, supervised contrastive training). Seeds: ``seed`` drives torch (MoE init, batches)
and KMeans; the data RNG for the controls is ``np.random.default_rng([data_seed, seed])``; the seed's text sample is
drawn from the embedded pool with ``data.text_rng(data_seed, seed)`` (same texts for every model at one seed); all
are recorded (``data_seed``, ``torch_seed``, ``text_seed``, ``text_index``). The text bootstrap's pool resamples
(``boot_*`` keys, issue 25 item 1) depend on ``data_seed`` and the pool row only (``text_bootstrap``).

The code lives in three modules along the story it tells (issue 27): ``pipeline`` (configs, the shared pipeline and
how evidence functions fetch runs), ``strata_claims`` (the six-source corpus: S3-S8, S10) and ``ldb_claims`` (the
line/disk/ball set: S1, S2, S9). This module imports them (which registers the evidence functions) and re-exports
the names other modules and tests use.
"""

from __future__ import annotations

from .ldb_claims import _run_ldb, ldb_evidence, ldb_spec, run_ldb
from .pipeline import (
    METHODS,
    _config,
    _data_rng,
    _fit,
    _model_cfg,
    _moe_input,
    _norm_entropy,
    _one_thread,
    _pool,
    _runs,
    _strata_of,
    _table,
    _table_details,
    _text_recipe,
    _untrained_gates,
)
from .strata_claims import (
    GATE_COLLAPSE_SHARE,
    S6_CONTROLS,
    _run_gaussian,
    _run_strata,
    model_size_evidence,
    paired_draw_gains,
    run_gaussian,
    run_strata,
    strata_evidence,
    untrained_entropy_drops,
)

__all__ = [
    "GATE_COLLAPSE_SHARE",
    "METHODS",
    "S6_CONTROLS",
    "_config",
    "_data_rng",
    "_fit",
    "_model_cfg",
    "_moe_input",
    "_norm_entropy",
    "_one_thread",
    "_pool",
    "_run_gaussian",
    "_run_ldb",
    "_run_strata",
    "_runs",
    "_strata_of",
    "_table",
    "_table_details",
    "_text_recipe",
    "_untrained_gates",
    "ldb_evidence",
    "ldb_spec",
    "model_size_evidence",
    "paired_draw_gains",
    "run_gaussian",
    "run_ldb",
    "run_strata",
    "strata_evidence",
    "untrained_entropy_drops",
]
