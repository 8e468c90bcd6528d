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
``$GEOMCLAIMS_CACHE/results``) keyed by (model sha256, sha256 of the texts, layer, pooling, max_length, the source of
this module and of ``models.py``). They are experiment products, not fetched resources: CI's empty results store
recomputes them, and a change to the pooling or loading code can never be served a stale embedding. Writes are
atomic (temporary file + ``os.replace``) and one process computes a given embedding while concurrent requests for
it (two Dask workers asking for the same model's pool) wait on a file lock and then read the cached file.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.paths import results_root
from geomclaims.resources.models import is_decoder, load_model, model_sha, resolve_device

POOLINGS = ("mean", "last", "mean_with_padding")
_CACHE_VERSION = 1
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}


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
def _compute_lock(path: Path) -> Iterator[None]:
    """Exclusive flock on ``<path>.lock``: one process computes an embedding, the others wait and then read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _get_model(name: str, device: str, progress: bool) -> tuple[Any, Any]:
    key = (name, device)
    if key not in _LOADED:
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
    path = embedding_cache_path(model_name, texts, layer, pooling, max_length, batch_size)
    with _compute_lock(path):
        if path.is_file():
            arr = np.load(path)
            if arr.shape == (len(texts), arr.shape[1]) and np.all(np.isfinite(arr)):
                return arr
        arr = _compute(model_name, texts, layer, pooling, max_length, batch_size, device, progress)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, arr)
        os.replace(tmp, path)
    return arr


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
