"""Issue 25 item 6: three readings of the ``strata`` runs the suite did not make before (no new embedding, no new
MoE training; the runs record the few extra numbers they need).

* length (a control for S3 and S5): do the strata only sort texts by length? The measurement is S3's dimension
  spread / S5's NMI with the sources; the control is the same reading of pseudo-strata that sort the seed's texts by
  length with the strata's sizes (``len_dim_spread``, ``len_nmi``).
* the single global manifold (Sec. 1, a control for S3): the strata's dimension spread against that of random
  equal-size partitions of the same points (``eq_dim_spread``), which under one global manifold differ only by
  sampling around the global PCA-75% dimension (``global_dim``, in the details).
* sparsity tracks dimension (Sec. 5, Tables 1-2 read together): the Spearman correlation, over the experts, of an
  expert's sparsity level with the dimension of the stratum it serves, against random expert<->stratum assignments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import strata as st

# Random expert<->stratum assignments per seed, and the fixed seed of those draws (part of the control's
# definition, not of the experiment's seed list).
ASSIGNMENT_DRAWS = 50
ASSIGNMENT_SEED = 777


def length_details(runs: list[dict[str, Any]], min_size: int) -> dict[str, Any]:
    """Per-seed stratum mean lengths and the rank correlation of stratum dimension with mean length."""
    rho = []
    for r in runs:
        keep = np.asarray(r["sizes"]) >= min_size
        rho.append(st.rank_correlation(np.asarray(r["dims"])[keep], np.asarray(r["length_mean"])[keep]))
    return {
        "length_mean": [np.round(np.asarray(r["length_mean"], float), 1).tolist() for r in runs],
        "dim_length_rho": rho,
    }


def global_details(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed global PCA-75% dimension of all points and the median spread of random equal-size partitions."""
    return {
        "global_dim": [float(r["global_dim"]) for r in runs],
        "equal_partition_spread_median": float(np.median(np.concatenate([r["eq_dim_spread"] for r in runs]))),
    }


def sparsity_dimension(
    runs: list[dict[str, Any]], sparsities: Sequence[float], min_size: int
) -> tuple[list[float], np.ndarray, dict[str, Any]]:
    """Per seed: Spearman(s_e, dimension of the stratum expert e serves) over the experts; null: random assignments.

    The stratum an expert serves is the eligible stratum (>= ``min_size`` points) where its mean soft gate
    probability is highest (``strata.served_strata`` on the heatmap the report draws).
    """
    measured, null, served = [], [], []
    for i, r in enumerate(runs):
        dims, sizes = np.asarray(r["dims"], float), np.asarray(r["sizes"])
        e_stratum = st.served_strata(np.asarray(r["heat_strata"]), sizes, min_size)
        served.append(e_stratum.tolist())
        measured.append(st.rank_correlation(np.asarray(sparsities, float), dims[e_stratum]))
        null.append(
            st.random_assignment_rhos(
                sparsities, dims, sizes, min_size, ASSIGNMENT_DRAWS, ASSIGNMENT_SEED + i
            )
        )
    return measured, np.concatenate(null), {"served_strata": served, "sparsities": list(sparsities)}
