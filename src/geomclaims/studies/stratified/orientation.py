"""Orientation checks of the stratified study (the study contract's item 7; geomclaims.orientation).

Each check hands one of the study's real evidence functions (``strata_evidence``, ``model_size_evidence``,
``ldb_evidence``) canned runs shaped as ``run_strata`` / ``run_ldb`` return them, with an answer known by hand:

* paired model-size differences (S6 ``nmi_gain`` = larger minus smaller, S7 ``entropy_drop`` = smaller minus larger):
  swapped, the two models' runs are exchanged, so a difference taken the wrong way round gives the swapped value;
* the sparsity-dimension correlation (S11): swapped, the strata's dimensions are reversed, which flips the sign;
* per-run scores judged against a control (S3 ``dim_spread``, S4 ``ws_spread``, S5 ``nmi`` / ``ari``, S8
  ``ari_gate_pca``, S9 ``ari`` / ``dim_error``): swapped, the run's score and its control draws are exchanged, so
  an evidence function that read the control as the measurement gives the swapped value. The spreads are computed
  by the run's own ``strata.spread`` from a hand-made Table 1/2, so a max - min taken as min - max shows too.

Not part of the study's code version (registry.UNHASHED): nothing here is stored as a result.
tests/studies/stratified holds the finer wiring tests (which null, which seeds, which pooling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.orientation import CannedRuns, OrientationCheck, median_measured
from geomclaims.registry import study_settings

from . import strata as st
from . import text_bootstrap as tb
from .ldb_claims import ldb_evidence
from .strata_claims import model_size_evidence, strata_evidence

PROFILE = "smoke"
K, E = 5, 7  # strata, experts (smoke: n_strata 5, seven sparsity levels)
# A hand-made Table 1/2 (every stratum but the last has >= min_stratum_size = 20 points).
SIZES = np.array([60, 40, 30, 25, 5])
DIMS = np.array([3.0, 5.0, 14.0, 7.0, 2.0])  # eligible 3, 5, 14, 7: spread 14 - 3 = 11
WS = np.array([18.0, 21.5, 12.0, 16.0, 30.0])  # eligible 18, 21.5, 12, 16: spread 21.5 - 12 = 9.5
CONTROL = np.array([1.0, 1.5, 2.0])  # control draws per seed (smoke: n_null_draws 3)


def _settings() -> dict[str, Any]:
    return study_settings("stratified", PROFILE)


def _strata_run(**values: Any) -> dict[str, Any]:
    """A ``run_strata`` result with the keys the evidence functions read (tables, scores, controls)."""
    s = _settings()
    run: dict[str, Any] = {
        "sizes": SIZES,
        "dims": DIMS,
        "ws": WS,
        "twonn": np.zeros(K),
        "mle": np.zeros(K),
        "dim_spread": st.spread(DIMS, SIZES, s["min_stratum_size"]),
        "ws_spread": st.spread(WS, SIZES, s["min_stratum_size"]),
        "rp_dim_spread": CONTROL,
        "rp_ws_spread": CONTROL,
        "untrained_ws_spread": CONTROL,
        "nmi": 0.7,
        "ari": 0.6,
        "perm_nmi": CONTROL / 100,
        "perm_ari": CONTROL / 100,
        "rp_nmi": CONTROL / 100,
        "untrained_nmi": CONTROL / 100,
        "ari_gate_pca": 0.65,
        "untrained_ari_gate_pca": CONTROL / 100,
        "expert_usage": np.full(E, 10),
        "source_by_stratum": np.ones((K, 6), dtype=int),
        "source_names": "a,b,c,d,e,f",
        "heat_strata": np.full((K, E), 1.0 / K),
        "entropy": 0.9,
        "untrained_entropy": np.full(s["n_untrained_draws"], 0.95),
    }
    run.update(values)
    # The text bootstrap's replicates (``boot_*``) as R copies of each score: no text-sampling noise here.
    return tb.constant_replicates(run, s["text_bootstrap"])


def _exchange(run: dict[str, Any], key: str, control: str) -> dict[str, Any]:
    """The run's score and its control draws exchanged (the score becomes the draws' median; its replicates too)."""
    score, draws = float(run[key]), np.asarray(run[control], dtype=float)
    out = {**run, key: float(np.median(draws)), control: np.full(draws.shape, score)}
    if f"boot_{key}" in run:  # strata runs: the text bootstrap's copies of the score follow it
        out[f"boot_{key}"] = np.full(np.shape(run[f"boot_{key}"]), out[key])
    return out


def _measure(evidence: Callable[..., Any], case: ClaimCase, serve: Callable[..., Any]) -> float:
    return median_measured(evidence(case, CannedRuns(_settings(), serve)))


# ---------------------------------------------------------------------------------------------------------------
# S6 / S7: paired model-size differences
# ---------------------------------------------------------------------------------------------------------------

SMALL_NMI, LARGE_NMI = 0.25, 0.55
SMALL_ENTROPY, LARGE_ENTROPY = 0.8, 0.6


def _model_size(case: ClaimCase, swapped: bool) -> float:
    """The smaller model of the pair gets NMI 0.25 and gate entropy 0.8, the larger 0.55 and 0.6; swapped: the two
    models' runs exchanged."""
    small, large = _settings()["pairs"][str(case.params["pair"])]
    runs = {
        small: _strata_run(nmi=SMALL_NMI, entropy=SMALL_ENTROPY),
        large: _strata_run(nmi=LARGE_NMI, entropy=LARGE_ENTROPY),
    }
    if swapped:
        runs = {small: runs[large], large: runs[small]}
    return _measure(model_size_evidence, case, lambda name, config, seed: runs[config["model"]])


# ---------------------------------------------------------------------------------------------------------------
# S11: Spearman(sparsity of expert e, dimension of the stratum e serves)
# ---------------------------------------------------------------------------------------------------------------

RHO_DIMS = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
RHO_SIZES = np.array([60, 40, 30, 25, 45])  # all eligible
SERVED = np.array([1, 0, 2, 4, 3, 4, 2])  # the stratum expert e serves: dims 4, 2, 6, 10, 8, 10, 6
# By hand: sparsities rank 1..7; the served dims rank 2, 1, 3.5, 6.5, 5, 6.5, 3.5 (mid-ranks of the ties).
RHO_EXPECTED = float(np.corrcoef(np.arange(1, 8), [2, 1, 3.5, 6.5, 5, 6.5, 3.5])[0, 1])


def _sparsity_rho(case: ClaimCase, swapped: bool) -> float:
    """Expert e has its highest mean gate in stratum SERVED[e]; swapped: the strata's dimensions reversed (the
    correlation's sign flipped)."""
    heat = np.full((K, E), 0.1)
    heat[SERVED, np.arange(E)] = 0.6
    dims = RHO_DIMS[::-1] if swapped else RHO_DIMS
    run = _strata_run(sizes=RHO_SIZES, dims=dims, heat_strata=heat)
    return _measure(strata_evidence, case, lambda name, config, seed: run)


# ---------------------------------------------------------------------------------------------------------------
# per-run scores against their controls
# ---------------------------------------------------------------------------------------------------------------


def _score(
    evidence: Callable[[], Callable[..., Any]], key: str, control: str, base: Callable[[], dict[str, Any]]
) -> Any:
    """measure(case, swapped): the evidence function ``evidence()`` on runs ``base()``; swapped: ``key`` and
    ``control`` exchanged. ``evidence`` returns the function when the check runs, so a test that puts a wrong
    function in this module's name sees it caught."""

    def measure(case: ClaimCase, swapped: bool) -> float:
        run = base()
        if swapped:
            run = _exchange(run, key, control)
        return _measure(evidence(), case, lambda name, config, seed: run)

    return measure


def _ldb_run() -> dict[str, Any]:
    """A ``run_ldb`` result: recovered ARI 0.95 and dimension error 0.25 against permutation / random-partition
    draws."""
    return {
        "ari": 0.95,
        "perm_ari": CONTROL / 100,
        "dims": np.array([1.0, 2.0, 3.5]),
        "sizes": np.array([300, 300, 300]),
        "dim_error": 0.25,
        "rp_dim_error": CONTROL + 3.0,
        "true_component_dims": np.array([1.0, 2.0, 3.0]),
    }


# Scores read off a run and judged against its control: (metric = the run's key, what it is, the control's key,
# the control's name, the value by hand).
STRATA_SCORES = (
    ("dim_spread", "dimension spread", "rp_dim_spread", "random-partition", 14.0 - 3.0),
    ("ws_spread", "sparsity spread", "rp_ws_spread", "random-partition", 21.5 - 12.0),
    ("nmi", "NMI", "perm_nmi", "label-permutation", 0.7),
    ("ari", "ARI", "perm_ari", "label-permutation", 0.6),
    ("ari_gate_pca", "gate-vs-PCA ARI", "untrained_ari_gate_pca", "untrained-gate", 0.65),
)
LDB_SCORES = (
    ("ari", "recovery ARI", "perm_ari", "label-permutation", 0.95),
    ("dim_error", "dimension error", "rp_dim_error", "random-partition", 0.25),
)
SCORES = (
    *(("stratified/strata", lambda: strata_evidence, _strata_run, *row) for row in STRATA_SCORES),
    *(("stratified/ldb", lambda: ldb_evidence, _ldb_run, *row) for row in LDB_SCORES),
)

CHECKS = (
    OrientationCheck(
        "stratified/model_size",
        "nmi_gain",
        "smaller and larger models' runs exchanged",
        _model_size,
        expected=LARGE_NMI - SMALL_NMI,
    ),
    OrientationCheck(
        "stratified/model_size",
        "entropy_drop",
        "smaller and larger models' runs exchanged",
        _model_size,
        expected=SMALL_ENTROPY - LARGE_ENTROPY,
    ),
    OrientationCheck(
        "stratified/strata",
        "sparsity_dim_rho",
        "the strata's dimensions reversed (correlation sign flipped)",
        _sparsity_rho,
        expected=RHO_EXPECTED,
    ),
    *(
        OrientationCheck(
            exp, metric, f"{what} and its {name} control exchanged", _score(ev, metric, key, base), v
        )
        for exp, ev, base, metric, what, key, name, v in SCORES
    ),
)
