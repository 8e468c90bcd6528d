"""Where geomclaims keeps things on disk. One place so every module agrees."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Root of the artifact cache: ``$GEOMCLAIMS_CACHE`` or ``~/.cache/geomclaims``."""
    env = os.environ.get("GEOMCLAIMS_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "geomclaims"
    root.mkdir(parents=True, exist_ok=True)
    return root


def results_root() -> Path:
    """The experiment results store: ``$GEOMCLAIMS_RESULTS_CACHE`` or ``<cache_root>/results``.

    Separate from the resources so CI can judge the code on an empty results store while keeping the (sha256-verified)
    models and corpora cached.
    """
    env = os.environ.get("GEOMCLAIMS_RESULTS_CACHE")
    return Path(env).expanduser() if env else cache_root() / "results"


def resources_dir() -> Path:
    """Fetched registry packages and assembled model/corpus files."""
    path = cache_root() / "resources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def project_root() -> Path:
    """The source checkout (where claims/ and reports/ live), when running from one."""
    env = os.environ.get("GEOMCLAIMS_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "claims").is_dir() and (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd()
