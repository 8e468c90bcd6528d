"""Sentence embeddings from the hidden states of registry models, pooled with the attention mask, cached.

Conventions (DESIGN.md "mean pooling"): an embedding must not depend on what it is batched with.

* ``mean``: attention-mask-weighted mean over tokens of ``hidden_states[layer]``. Padded positions are zeroed
  with ``masked_fill`` before summing (a fully masked query row may hold NaN under left padding).
* ``last``: the hidden state of the last real token (works for left and right padding).
* ``mean_with_padding``: the released code of paper S: the plain mean over ALL positions of the padded batch,
  padding included. The embedding then depends on its batch neighbours, so this pooling batches texts in input
  order (as the released script does) instead of by length, and its cache key includes ``batch_size``.
* Decoders get explicit ``position_ids = cumsum(mask) - 1``, so a left-padded text sees the same rotary
  positions as when unpadded. Encoders are padded on the right and keep their own position scheme.
* ``layer`` indexes ``hidden_states`` (0 = embeddings, -1 = last; for the decoders -1 is after the final norm).

Texts are tokenized once, sorted by token length (longest first) into batches and returned in input order
(``mean_with_padding``: batched in input order).
Results are cached as ``.npy`` under ``<results store>/embeddings/`` (``$GEOMCLAIMS_RESULTS_CACHE``, default
``$GEOMCLAIMS_CACHE/results``) keyed by (model sha256, sha256 of a chunk's texts, layer, pooling, max_length, the source of
this module and of ``models.py``). They are experiment products, not fetched resources: CI's empty results store
recomputes them, and a change to the pooling or loading code can never be served a stale embedding. Writes are
atomic (fsynced temporary file + ``os.replace``) and every chunk has a ``.sha256`` sidecar written after it: a chunk
whose bytes differ from it (a flipped bit), that is truncated or unreadable, or that has no sidecar (a write cut
short) is recomputed with a warning, never used and never a permanent error.

A cached request is split into chunks of consecutive texts (``CHUNK_TEXTS``, rounded up to a multiple of
``batch_size``), each cached under its own key, so that

* an interrupted embedding of a large pool (the full profile's Qwen-1.5B pool takes hours) resumes at the first
  missing chunk instead of starting over;
* two processes asking for the same pool (two Dask workers) share the work: each takes the next chunk nobody holds
  (a non-blocking file lock per chunk) and only then waits for chunks the other process is computing.

A chunk's batches are those of embedding the chunk alone: for ``mean_with_padding`` the chunk size is a multiple of
``batch_size``, so the input-order batches, and hence the padding every text gets, are exactly those of the whole
list; for ``mean``/``last`` the length sort happens within a chunk, which changes results only at float round-off.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.paths import results_root
from geomclaims.resources.models import is_decoder, load_model, model_sha, resolve_device

POOLINGS = ("mean", "last", "mean_with_padding")
_CACHE_VERSION = 1
# Texts per cached chunk: ~1-2 min of the slowest ci model (SmolLM2, ~5 texts/s), ~5 min of Qwen-1.5B.
CHUNK_TEXTS = 128
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}
log = logging.getLogger(__name__)


def texts_sha256(texts: Sequence[str]) -> str:
    """sha256 of a list of texts (length-prefixed UTF-8, so ``["ab"]`` and ``["a", "b"]`` differ)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def embedding_cache_path(
    model_name: str, texts: Sequence[str], layer: int, pooling: str, max_length: int, batch_size: int = 32
) -> Path:
    """Cache file for one embedding request (``batch_size`` is part of the key only for ``mean_with_padding``)."""
    parts: list[Any] = [
        _CACHE_VERSION,
        model_sha(model_name),
        texts_sha256(texts),
        layer,
        pooling,
        max_length,
    ]
    if pooling == "mean_with_padding":
        parts.append(batch_size)  # the padding each text gets depends on its batch
    parts.append(code_version())
    key = json.dumps(parts, separators=(",", ":"))
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return results_root() / "embeddings" / f"{model_name}-{digest}.npy"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 (16 hex) of the code that turns a model and texts into embeddings: this module and the model loader."""
    from geomclaims.resources import models

    h = hashlib.sha256()
    for module_file in (__file__, models.__file__):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _compute_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Exclusive flock on ``<path>.lock``; yields False without waiting when ``blocking`` is False and another
    process holds it (that process is computing ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def chunk_size(batch_size: int) -> int:
    """Texts per cached chunk: ``CHUNK_TEXTS`` rounded up to a multiple of ``batch_size`` (see the module doc)."""
    return -(-CHUNK_TEXTS // batch_size) * batch_size


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _load_valid(path: Path, n: int) -> np.ndarray | None:
    """The cached chunk at ``path`` if it is intact (checksum, format, shape ``(n, d)``, finite); else None, with a
    warning when a file was there (the caller recomputes and overwrites it)."""
    from geomclaims.store import sha256_file

    if not path.is_file():
        return None
    sidecar = _sidecar(path)
    problem = None
    if not sidecar.is_file():
        problem = "no checksum sidecar (interrupted write)"
    elif (actual := sha256_file(path)) != (expected := sidecar.read_text().strip()):
        problem = f"sha256 {actual[:12]} != recorded {expected[:12]}"
    else:
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            problem = f"unreadable ({exc})"
        else:
            if arr.ndim == 2 and arr.shape[0] == n and np.all(np.isfinite(arr)):
                return arr
            problem = f"shape {arr.shape} for {n} texts or non-finite values"
    warnings.warn(f"recomputing corrupt embedding chunk {path}: {problem}", stacklevel=3)
    return None


def _get_model(name: str, device: str, progress: bool) -> tuple[Any, Any]:
    """The loaded (tokenizer, model), kept for the next request. One model per process: the full profile walks six
    models up to Qwen-1.5B (~6 GB in float32), and two workers each holding all six would not fit in memory."""
    key = (name, device)
    if key not in _LOADED:
        if _LOADED:
            _LOADED.clear()
            import gc

            gc.collect()
        _LOADED[key] = load_model(name, device, progress=progress)
    return _LOADED[key]


def clear_model_cache() -> None:
    """Forget models that :func:`embed` keeps loaded in this process."""
    _LOADED.clear()


def pool_hidden(hidden: Any, mask: Any, pooling: str) -> Any:
    """Pool ``hidden`` (B, T, D) with attention ``mask`` (B, T) -> (B, D); see the module docstring."""
    import torch

    m = mask.bool()
    if pooling == "mean":
        summed = hidden.masked_fill(~m[..., None], 0.0).sum(dim=1)
        return summed / m.sum(dim=1, keepdim=True).clamp(min=1).to(hidden.dtype)
    if pooling == "mean_with_padding":
        return hidden.mean(dim=1)
    if pooling == "last":
        t = m.shape[1]
        last = (t - 1) - torch.flip(m.int(), dims=[1]).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def encode_batch(
    tok: Any, model: Any, encodings: list[list[int]], *, layer: int, pooling: str, decoder: bool, device: str
) -> np.ndarray:
    """Embed one batch of token-id lists (padded here with the tokenizer's own side) -> float32 (B, D)."""
    import torch

    batch = tok.pad({"input_ids": encodings}, padding=True, return_tensors="pt")
    ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "output_hidden_states": True}
    if decoder:
        kwargs["position_ids"] = (mask.long().cumsum(dim=1) - 1).clamp(min=0)
    body = getattr(model, "base_model", model) if decoder else model
    with torch.inference_mode():
        out = body(**kwargs)
        hidden = out.hidden_states[layer]
        pooled = pool_hidden(hidden.float(), mask, pooling)
    return pooled.cpu().numpy().astype(np.float32)


def embed_with(
    tok: Any,
    model: Any,
    texts: Sequence[str],
    *,
    decoder: bool,
    layer: int = -1,
    pooling: str = "mean",
    max_length: int = 128,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Uncached embedding with an already loaded (tokenizer, model); see :func:`embed`."""
    from tqdm.auto import tqdm

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if batch_size < 1 or max_length < 1:
        raise ValueError(f"batch_size and max_length must be >= 1, got {batch_size}, {max_length}")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty")
    if not decoder:
        tok.padding_side = "right"
    enc = tok(texts, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
    if pooling == "mean_with_padding":
        order = list(
            range(len(texts))
        )  # the released script's batches: input order, padding is part of the result
    else:
        order = sorted(range(len(texts)), key=lambda i: (-len(enc[i]), i))
    out: np.ndarray | None = None
    bar = tqdm(total=len(texts), desc="embed", unit="text", disable=not progress, leave=False)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        vecs = encode_batch(
            tok, model, [enc[i] for i in idx], layer=layer, pooling=pooling, decoder=decoder, device=device
        )
        if out is None:
            out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
        bar.update(len(idx))
    bar.close()
    assert out is not None
    if not np.isfinite(out).all():
        raise FloatingPointError("non-finite values in pooled embeddings")
    return out


def embed(
    model_name: str,
    texts: list[str],
    *,
    layer: int = -1,
    pooling: str = "mean",
    max_length: int = 128,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = True,
    cache: bool = True,
) -> np.ndarray:
    """Pooled hidden states of registry model ``model_name`` for ``texts``: float32 array (n, hidden).

    Mean (attention-mask weighted), last-token or padding-included mean (released code of paper S) pooling of ``hidden_states[layer]``, truncation to
    ``max_length`` tokens, batches sorted by length, order restored, progress bar, on-disk cache (see the module
    docstring). Except for ``mean_with_padding``, the result does not depend on ``batch_size`` or on which other
    texts share a batch (up to float round-off, ~1e-6).
    """
    device = resolve_device(device)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if not cache:
        return _compute(model_name, texts, layer, pooling, max_length, batch_size, device, progress)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = chunk_size(batch_size)
    chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
    if not chunks:
        raise ValueError("texts is empty")
    paths = [embedding_cache_path(model_name, c, layer, pooling, max_length, batch_size) for c in chunks]
    parts: list[np.ndarray | None] = [None] * len(chunks)
    # Pass 1 computes every chunk no other process holds; pass 2 waits for (or, after a crash, computes) the rest.
    for blocking in (False, True):
        for i, (chunk, path) in enumerate(zip(chunks, paths, strict=True)):
            if parts[i] is not None:
                continue
            with _compute_lock(path, blocking=blocking) as held:
                if not held:
                    continue
                arr = _load_valid(path, len(chunk))
                if arr is None:
                    t0 = time.perf_counter()
                    arr = _compute(
                        model_name, chunk, layer, pooling, max_length, batch_size, device, progress
                    )
                    _atomic_save(path, arr)
                    log.info(
                        "embedded %s chunk %d/%d (%d texts) in %.1f s",
                        model_name,
                        i + 1,
                        len(chunks),
                        len(chunk),
                        time.perf_counter() - t0,
                    )
                parts[i] = arr
    return np.concatenate(parts, axis=0)  # type: ignore[arg-type]


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    """The chunk, then its checksum: a crash in between leaves a chunk without a sidecar, which is recomputed."""
    from geomclaims.store import atomic_write_bytes

    buf = io.BytesIO()
    np.save(buf, arr)  # the same bytes np.save writes to a file
    data = buf.getvalue()
    _sidecar(path).unlink(missing_ok=True)
    atomic_write_bytes(path, data)
    atomic_write_bytes(_sidecar(path), hashlib.sha256(data).hexdigest().encode())


def _compute(
    model_name: str,
    texts: list[str],
    layer: int,
    pooling: str,
    max_length: int,
    batch_size: int,
    device: str,
    progress: bool,
) -> np.ndarray:
    tok, model = _get_model(model_name, device, progress)
    arr = embed_with(
        tok,
        model,
        texts,
        decoder=is_decoder(model_name),
        layer=layer,
        pooling=pooling,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        progress=progress,
    )
    return arr
