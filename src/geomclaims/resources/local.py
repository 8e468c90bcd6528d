"""A user's own model directory and text file, named by their content (``geomclaims probe``, issue 28).

``geomclaims.probe`` checks a model directory / text file, hashes it and registers it here under a content name:
``local-<sha16>`` for a model, ``textfile-<sha16>`` for a corpus. The study code then reaches them through the
calls it already makes for registry resources (``models.model_path`` / ``model_sha`` / ``is_decoder`` /
``load_model``; paper S's ``data.load_pool`` and paper P's ``lm.load_corpus`` for a ``textfile-`` corpus), so the
probe runs the study's own evidence functions, controls and caches with only the source swapped. The names are
content hashes, so job and embedding cache keys identify what was measured, as a registry sha256 does.

The registrations live in the environment variable ``GEOMCLAIMS_LOCAL_RESOURCES`` (JSON), so worker processes
started after the registration resolve the same names. A registry name never starts with either prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ENV = "GEOMCLAIMS_LOCAL_RESOURCES"
MODEL_PREFIX = "local-"
CORPUS_PREFIX = "textfile-"
# Source of the lines of a text file that name none (``source<TAB>text`` names one).
DEFAULT_SOURCE = "text"


def _table() -> dict[str, dict[str, Any]]:
    raw = os.environ.get(ENV, "")
    if not raw:
        return {"models": {}, "corpora": {}}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {ENV} is not valid JSON: {exc}") from None
    return {"models": dict(data.get("models", {})), "corpora": dict(data.get("corpora", {}))}


def _register(kind: str, name: str, record: dict[str, Any]) -> None:
    table = _table()
    table[kind][name] = record
    os.environ[ENV] = json.dumps(table, sort_keys=True)


def _lookup(kind: str, name: str) -> dict[str, Any]:
    table = _table()[kind]
    if name not in table:
        raise KeyError(
            f"{name!r} is not a registered local {kind[:-1] if kind == 'models' else 'corpus'} in this process "
            f"({ENV}); local resources are registered by `geomclaims probe`"
        )
    return table[name]


def is_local_model(name: str) -> bool:
    return name.startswith(MODEL_PREFIX)


def is_local_corpus(name: str) -> bool:
    return name.startswith(CORPUS_PREFIX)


def register_model(name: str, record: dict[str, Any]) -> None:
    """Register model ``name`` (``local-<sha16>``): ``record`` has ``dir``, ``tokenizer`` (a folder), ``sha256``
    (the model's identity) and ``decoder`` (bool)."""
    if not is_local_model(name):
        raise ValueError(f"a local model name starts with {MODEL_PREFIX!r}, got {name!r}")
    missing = {"dir", "tokenizer", "sha256", "decoder"} - set(record)
    if missing:
        raise ValueError(f"local model {name!r}: record lacks {sorted(missing)}")
    _register("models", name, dict(record))


def local_model(name: str) -> dict[str, Any]:
    """The record of a registered local model (KeyError naming the variable when it is not registered)."""
    return _lookup("models", name)


def register_corpus(name: str, path: str | Path, sha256: str) -> None:
    """Register text file ``path`` under ``name`` (``textfile-<sha16>``) with the sha256 of its bytes."""
    if not is_local_corpus(name):
        raise ValueError(f"a local corpus name starts with {CORPUS_PREFIX!r}, got {name!r}")
    _register("corpora", name, {"path": str(Path(path).resolve()), "sha256": sha256})


def parse_lines(data: bytes, where: str) -> tuple[list[str], list[str]]:
    """(texts, sources) of a text file's bytes: one text per line, blank lines skipped; ``source<TAB>text`` gives
    the line's source, any other line belongs to ``DEFAULT_SOURCE``. Not UTF-8 is an error naming ``where``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text ({exc})") from None
    texts: list[str] = []
    sources: list[str] = []
    for line in text.splitlines():
        source, tab, rest = line.partition("\t")
        body = (rest if tab else line).strip()
        if body:
            texts.append(body)
            sources.append((source.strip() or DEFAULT_SOURCE) if tab else DEFAULT_SOURCE)
    return texts, sources


def read_texts(name: str) -> tuple[list[str], list[str]]:
    """(texts, sources) of registered corpus ``name``, after checking the file still has its registered sha256."""
    record = _lookup("corpora", name)
    path = Path(record["path"])
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != record["sha256"]:
        raise ValueError(f"{path}: sha256 {actual[:16]} differs from {record['sha256'][:16]} at registration")
    return parse_lines(data, str(path))


def text_pool(name: str, n_per_source: int, seed: int) -> tuple[list[str], list[str]]:
    """Up to ``n_per_source`` texts per source of corpus ``name`` (all of a source that has fewer), drawn without
    replacement with a generator of (seed, source name); grouped by source in first-appearance order, file order
    within a source."""
    texts, sources = read_texts(name)
    keep: list[int] = []
    for source in dict.fromkeys(sources):
        rows = [i for i, s in enumerate(sources) if s == source]
        if len(rows) > n_per_source:
            rng = np.random.default_rng([int(seed), zlib.crc32(source.encode())])
            rows = sorted(np.asarray(rows)[rng.permutation(len(rows))[:n_per_source]].tolist())
        keep += rows
    return [texts[i] for i in keep], [sources[i] for i in keep]
