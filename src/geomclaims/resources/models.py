"""Load the registry's real models through transformers, offline, float32, eval mode.

Plain folders (MiniLM, MPNet) load directly. GGUF files (SmolLM2, gemma-3, the Qwens) are dequantized ONCE:
loaded with ``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)``, stripped of the quantizer
(``model.hf_quantizer = None``, ``config.quantization_config`` deleted) and saved with ``save_pretrained`` as a
plain folder ``resources/converted/<name>-<gguf sha256[:16]>/``. Later loads read that folder (seconds instead of
minutes) and give bit-identical hidden states. The conversion is atomic (``.partial`` folder + ``os.replace``).

Encoders are returned as ``AutoModel`` (hidden states only); decoders as ``AutoModelForCausalLM`` (logits
available; ``model.base_model`` is the transformer body).

A user's own model directory registered by ``geomclaims probe`` (``local-<sha16>``, ``resources/local.py``) goes
through the same functions: its folder, identity sha256, decoder flag and tokenizer folder come from its record.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from geomclaims.paths import resources_dir
from geomclaims.resources import local
from geomclaims.resources.fetcher import fetch, get_source

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAMES: tuple[str, ...] = (
    "minilm-l6",
    "mpnet-base",
    "smollm2-135m",
    "gemma3-270m",
    "qwen2.5-coder-0.5b",
    "qwen2.5-coder-1.5b",
)


def is_decoder(name: str) -> bool:
    """True for the causal LMs (their registry entry point is a GGUF file)."""
    if local.is_local_model(name):
        return bool(local.local_model(name)["decoder"])
    return get_source(name).entry.endswith(".gguf")


def model_sha(name: str) -> str:
    """Pinned sha256 of the model's main weight file (safetensors or GGUF): its identity in cache keys and
    provenance. A local model's is the sha256 its record carries (its weights, config and tokenizer files)."""
    if local.is_local_model(name):
        return str(local.local_model(name)["sha256"])
    src = get_source(name)
    if src.kind != "model":
        raise KeyError(f"{name!r} is a {src.kind}, not a model; models: {', '.join(MODEL_NAMES)}")
    kept = [o for o in src.outputs if o.keep]
    return max(kept, key=lambda o: o.size).sha256


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` if available, else ``mps`` if available, else ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def converted_dir(name: str) -> Path:
    """Where the dequantized plain folder of GGUF model ``name`` lives (keyed by the GGUF sha256)."""
    return resources_dir() / "converted" / f"{name}-{model_sha(name)[:16]}"


def dequantize_gguf(src_dir: Path, gguf: str, out_dir: Path) -> float:
    """Load ``src_dir/gguf`` (dequantized to float32 by transformers), drop the quantizer, save a plain
    folder (weights + tokenizer) into ``out_dir``; returns the seconds taken."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return time.perf_counter() - t0


def _conversion_ok(final: Path) -> bool:
    """True when ``conversion.json`` records the sha256 of every converted file and each still matches
    (hashed once per process per unchanged file). A record without file hashes (older layout) is redone."""
    from geomclaims.resources.fetcher import file_matches

    try:
        files = json.loads((final / "conversion.json").read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    return bool(files) and all(file_matches(final / p, r["sha256"], r["size"]) for p, r in files.items())


def _record_files(folder: Path) -> dict[str, dict[str, Any]]:
    from geomclaims.resources.fetcher import sha256_file

    return {
        p.relative_to(folder).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def convert_gguf(name: str, *, progress: bool = True) -> Path:
    """Dequantize GGUF model ``name`` once into :func:`converted_dir` (idempotent, atomic); returns the folder.
    The sha256 of every converted file is recorded at conversion and verified when the folder is reused."""
    final = converted_dir(name)
    if _conversion_ok(final):
        return final

    from geomclaims.resources.fetcher import atomic_dir, resource_lock

    src_dir = fetch(name, progress=progress)
    gguf = get_source(name).entry
    with resource_lock(f"convert-{name}"):
        if _conversion_ok(final):
            return final
        with atomic_dir(final) as work:
            seconds = dequantize_gguf(src_dir, gguf, work)
            info = {
                "source": name,
                "gguf": gguf,
                "gguf_sha256": model_sha(name),
                "seconds": round(seconds, 1),
                "files": _record_files(work),
            }
            (work / "conversion.json").write_text(json.dumps(info, indent=1))
    return final


def model_path(name: str, *, progress: bool = True) -> Path:
    """Plain transformers folder for model ``name`` (fetching and converting as needed)."""
    if local.is_local_model(name):
        return Path(local.local_model(name)["dir"])
    if name not in MODEL_NAMES:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    if is_decoder(name):
        return convert_gguf(name, progress=progress)
    return fetch(name, progress=progress) / get_source(name).entry


def load_model(name: str, device: str = "cpu", *, progress: bool = True) -> tuple[Any, Any]:
    """``(tokenizer, model)`` for a registry model: float32, eval mode, on ``device`` (``auto`` allowed).

    Decoders get a pad token (eos) when they lack one. Raises
    :class:`~geomclaims.resources.fetcher.ResourceUnavailable` when the weights cannot be fetched.
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    path = model_path(name, progress=progress)
    tok = AutoTokenizer.from_pretrained(
        local.local_model(name)["tokenizer"] if local.is_local_model(name) else path
    )
    cls = AutoModelForCausalLM if is_decoder(name) else AutoModel
    model = cls.from_pretrained(path, dtype=torch.float32)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(resolve_device(device))
    model.eval()
    return tok, model
