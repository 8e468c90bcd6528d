"""Paper S (stratified manifolds + dictionary-learning MoE): importing this registers profiles, evidence, report."""

from . import experiment, profiles, report

# Code outside this folder that shapes the results (registry.study_code_version hashes it): text selection, model
# loading, pooling.
CODE_DEPENDENCIES = (
    "geomclaims.resources.corpora",
    "geomclaims.resources.embeddings",
    "geomclaims.resources.local",
    "geomclaims.resources.models",
)

__all__ = ["CODE_DEPENDENCIES", "experiment", "profiles", "report"]
