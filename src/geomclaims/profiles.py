"""Profiles: ``smoke`` (seconds, plumbing only), ``ci`` (the gating profile), ``full`` (paper scale, GPU).

Each study registers its own settings per profile next to its code (``registry.register_profiles``), so a study's
knobs live with the study; this module is the one place to read them.
"""

from __future__ import annotations

from typing import Any

from geomclaims.claims import PROFILES
from geomclaims.registry import study_names, study_settings

DESCRIPTIONS = {
    "smoke": "seconds per study, tiny models; proves the plumbing, never judges science",
    "ci": "the gating profile: every claim on real models and corpora, >= 5 seeds where seeds matter, 2 CPU cores",
    "full": "paper scale (20 seeds, paper steps, bigger models); same code path, meant for a GPU",
}


def settings(study: str, profile: str) -> dict[str, Any]:
    """The settings a study uses under a profile (raises KeyError naming the study/profile)."""
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; use one of {list(PROFILES)}")
    return study_settings(study, profile)


def all_settings(profile: str) -> dict[str, dict[str, Any]]:
    return {study: settings(study, profile) for study in study_names()}
