"""Paper S (stratified manifolds + dictionary-learning MoE): importing this registers profiles, evidence, report."""

from . import experiment, profiles, report

__all__ = ["experiment", "profiles", "report"]
