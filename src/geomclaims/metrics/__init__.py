"""Metrics shared by all studies: pure functions, numpy/torch in, numpy arrays or Python floats out.

One convention per metric (see ../../../DESIGN.md "Metric conventions" and each docstring).
"""

from .dynamics import CommutatorResult, flat_params, param_slices, sgd_commutator
from .information import ari, attention_entropy, nmi, row_entropy
from .intrinsic import local_pca_dimension, mle_dimension, twonn
from .nulls import (
    label_permutation,
    random_partition,
    random_walk,
    sign_flip_increments,
    step_matched_random_walk,
)
from .similarity import MantelResult, cosine_matrix, mantel, percentile_bin_alignment, r_cos, r_order
from .spectra import effective_rank, explained_variance, participation_ratio, variance_spectrum
from .subspaces import (
    orthonormal_basis,
    perpendicular_share,
    principal_angles,
    projection_ratio,
    random_subspace_ratio,
)

__all__ = [
    "CommutatorResult",
    "MantelResult",
    "ari",
    "attention_entropy",
    "cosine_matrix",
    "effective_rank",
    "explained_variance",
    "flat_params",
    "label_permutation",
    "local_pca_dimension",
    "mantel",
    "mle_dimension",
    "nmi",
    "orthonormal_basis",
    "param_slices",
    "participation_ratio",
    "percentile_bin_alignment",
    "perpendicular_share",
    "principal_angles",
    "projection_ratio",
    "r_cos",
    "r_order",
    "random_partition",
    "random_subspace_ratio",
    "random_walk",
    "row_entropy",
    "sgd_commutator",
    "sign_flip_increments",
    "step_matched_random_walk",
    "twonn",
    "variance_spectrum",
]
