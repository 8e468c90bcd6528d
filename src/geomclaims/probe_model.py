"""Check a user's model folder and text file before anything loads (``geomclaims probe``, issue 28).

Every refusal is a :class:`ProbeError` naming the folder or file and what is wrong: not a model directory (no
``config.json`` or no weights), an unsupported architecture (a model type transformers does not know, or an
encoder-decoder), a missing tokenizer, a model too large for the memory at hand (estimated from the safetensors
headers, or the weight files' sizes, before loading), an empty or non-UTF-8 text file. Nothing is written before
these checks pass.

A checked model is named by its content: ``local-<sha16>`` where the sha256 covers every file of the model folder and
of the tokenizer folder (weights, config and tokenizer all change the embeddings), and registered with
``geomclaims.resources.local`` so the study code loads it by that name.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geomclaims.resources import local

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")
# Bytes per element of the dtypes a safetensors header may name.
_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
# Memory a loaded float32 model needs beyond its weights (activations of a batch, the tokenizer, Python): the
# estimate is 4 bytes per parameter x MEMORY_FACTOR + MEMORY_SLACK.
MEMORY_FACTOR = 1.25
MEMORY_SLACK = 512 * 2**20


class ProbeError(ValueError):
    """A model folder, tokenizer, text file or option the probe cannot use (the message names it)."""


@dataclass(frozen=True)
class ModelInfo:
    """A checked model folder: its content name, identity and what the claims need to know about it."""

    name: str  # local-<sha16>
    dir: str
    tokenizer: str
    sha256: str  # identity: every file of the model and tokenizer folders
    weights: dict[str, str] = field(default_factory=dict)  # weight file -> sha256
    model_type: str = ""
    architectures: tuple[str, ...] = ()
    decoder: bool = False
    tied_embeddings: bool = False
    n_parameters: int = 0
    memory_needed: int = 0  # bytes, estimated before loading

    def provenance(self) -> dict[str, Any]:
        out = asdict(self)
        out["architectures"] = list(self.architectures)
        out["label"] = Path(self.dir).name
        return out

    def has(self, prop: str) -> bool:
        """A ``ProbeSpec.needs`` property (``plugin.MODEL_PROPERTIES``)."""
        return {"decoder": self.decoder, "tied_embeddings": self.decoder and self.tied_embeddings}[prop]


def sha256_file(path: Path) -> str:
    from geomclaims.store import sha256_file as sha

    return sha(path)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a model folder; a path that is not one is a ProbeError saying why."""
    if not folder.exists():
        raise ProbeError(f"--model {folder}: no such directory")
    if not folder.is_dir():
        raise ProbeError(f"--model {folder}: not a model directory (a file, not a folder)")
    config = folder / "config.json"
    if not config.is_file():
        raise ProbeError(
            f"--model {folder}: not a model directory: no config.json (save the model with "
            "`model.save_pretrained(DIR)`)"
        )
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProbeError(f"{config}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ProbeError(f"{config}: not a JSON object")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir()):
        raise ProbeError(
            f"--model {folder}: not a model directory: no weight file ({', '.join('*' + s for s in WEIGHT_SUFFIXES)})"
        )
    return data


def architecture(folder: Path, config: dict[str, Any]) -> tuple[bool, bool]:
    """(decoder, tied embeddings) of a supported architecture; ProbeError for a type transformers does not know or
    an encoder-decoder (the claims read the hidden states of one stack)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_MAPPING_NAMES

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING_NAMES:
        raise ProbeError(
            f"--model {folder}: unsupported architecture: model_type {model_type!r} in config.json is not a "
            "transformers model type (the probe loads models with transformers' Auto classes)"
        )
    if config.get("is_encoder_decoder"):
        raise ProbeError(
            f"--model {folder}: unsupported architecture {model_type!r}: an encoder-decoder model; the claims read "
            "the hidden states of one encoder or decoder stack"
        )
    if model_type not in MODEL_MAPPING_NAMES:
        raise ProbeError(
            f"--model {folder}: unsupported architecture {model_type!r}: transformers' AutoModel cannot load it"
        )
    archs = [str(a) for a in config.get("architectures") or []]
    decoder = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) or (
        not archs and model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    )
    from transformers import AutoConfig

    try:  # the class defaults fill what config.json leaves out (tie_word_embeddings differs per family)
        loaded = AutoConfig.from_pretrained(folder)
    except Exception as exc:  # a config transformers rejects: name the folder and the cause
        raise ProbeError(f"--model {folder}: config.json cannot be read by transformers: {exc}") from None
    return decoder, bool(getattr(loaded, "tie_word_embeddings", False))


def tokenizer_dir(model_dir: Path, tokenizer: Path | None) -> Path:
    """The folder holding the tokenizer (``--tokenizer``, else the model folder); ProbeError when it has none."""
    folder = tokenizer or model_dir
    where = f"--tokenizer {folder}" if tokenizer else f"--model {folder}"
    if not folder.is_dir():
        raise ProbeError(f"{where}: no such directory")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        hint = "" if tokenizer else "; pass --tokenizer DIR"
        raise ProbeError(f"{where}: missing tokenizer: none of {', '.join(TOKENIZER_FILES)}{hint}")
    return folder


def check_tokenizer(folder: Path) -> None:
    """Load the tokenizer once: an unreadable one, or one without a pad or end-of-text token (batches are padded
    with it), is a ProbeError."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder)
    except Exception as exc:  # transformers raises many types for a broken tokenizer folder: name the folder
        raise ProbeError(f"tokenizer {folder}: cannot be loaded: {type(exc).__name__}: {exc}") from None
    if tok.pad_token is None and tok.eos_token is None:
        raise ProbeError(
            f"tokenizer {folder}: has neither a pad token nor an end-of-text token to pad batches with"
        )


def parameter_count(folder: Path) -> int:
    """Parameters of the model, from the safetensors headers (exact) or the other weight files' sizes (assuming
    the config's dtype, float32 when it names none)."""
    total = 0
    for path in sorted(folder.iterdir()):
        if path.suffix == ".safetensors":
            with open(path, "rb") as fh:
                try:
                    (size,) = struct.unpack("<Q", fh.read(8))
                    header = json.loads(fh.read(size))
                except (struct.error, ValueError) as exc:
                    raise ProbeError(f"{path}: not a safetensors file ({exc})") from None
            for key, info in header.items():
                if key == "__metadata__":
                    continue
                n = 1
                for d in info["shape"]:
                    n *= int(d)
                total += n
        elif path.suffix in WEIGHT_SUFFIXES:
            total += path.stat().st_size // 2  # half precision is the smallest common dtype: an upper bound
    return total


def available_memory(device: str) -> int:
    """Bytes free for the model on ``device`` (CUDA: the device's free memory; else the system's available)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(folder: Path, n_params: int, device: str) -> int:
    """The estimated bytes the loaded model needs; ProbeError when they exceed what ``device`` has free."""
    need = int(4 * n_params * MEMORY_FACTOR + MEMORY_SLACK)
    have = available_memory(device)
    if need > have:
        raise ProbeError(
            f"--model {folder}: model too large for the memory at hand: ~{need / 2**30:.1f} GiB needed "
            f"({n_params:,} parameters as float32 x {MEMORY_FACTOR} + {MEMORY_SLACK // 2**20} MiB), "
            f"{have / 2**30:.1f} GiB available on {device}"
        )
    return need


def inspect_model(
    model_dir: str | Path, tokenizer: str | Path | None = None, device: str = "cpu"
) -> ModelInfo:
    """Check a model folder (and tokenizer folder) and hash it: every check of the module docstring, in order."""
    folder = Path(model_dir).expanduser().resolve()
    config = read_config(folder)
    decoder, tied = architecture(folder, config)
    tok_dir = tokenizer_dir(folder, Path(tokenizer).expanduser().resolve() if tokenizer else None)
    n_params = parameter_count(folder)
    need = check_memory(folder, n_params, device)
    check_tokenizer(tok_dir)
    h = hashlib.sha256()
    weights: dict[str, str] = {}
    for root in dict.fromkeys([folder, tok_dir]):
        for path in _files(root):
            sha = sha256_file(path)
            h.update(f"{path.relative_to(root).as_posix()}\0{sha}\n".encode())
            if root == folder and path.suffix in WEIGHT_SUFFIXES:
                weights[path.relative_to(root).as_posix()] = sha
    sha = h.hexdigest()
    return ModelInfo(
        name=local.MODEL_PREFIX + sha[:16],
        dir=str(folder),
        tokenizer=str(tok_dir),
        sha256=sha,
        weights=weights,
        model_type=str(config.get("model_type")),
        architectures=tuple(str(a) for a in config.get("architectures") or []),
        decoder=decoder,
        tied_embeddings=tied,
        n_parameters=n_params,
        memory_needed=need,
    )


def register(info: ModelInfo) -> None:
    """Make ``info.name`` loadable by the study code (in this process and the workers it starts)."""
    local.register_model(
        info.name,
        {"dir": info.dir, "tokenizer": info.tokenizer, "sha256": info.sha256, "decoder": info.decoder},
    )


@dataclass(frozen=True)
class CorpusInfo:
    """A checked text file: its content name and per-source text counts."""

    name: str  # textfile-<sha16>, or a registry corpus name (``--corpus NAME``: no path, no counts)
    path: str
    sha256: str
    texts: int
    per_source: dict[str, int]

    @property
    def is_file(self) -> bool:
        return bool(self.path)

    def provenance(self) -> dict[str, Any]:
        return asdict(self)


def inspect_corpus(path: str | Path, names: tuple[str, ...] = ()) -> CorpusInfo:
    """Check and register a text file (one text per line, ``source<TAB>text`` names a source); a bare name among
    ``names`` (the corpora the studies' probe declarations accept) is a registry corpus instead."""
    if str(path) in names and not Path(path).exists():
        return CorpusInfo(name=str(path), path="", sha256="", texts=0, per_source={})
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        if "/" not in str(path) and "." not in str(path):
            raise ProbeError(
                f"--corpus {path}: neither a text file nor a corpus the probed claims can read by name "
                f"({', '.join(names) or 'none'})"
            )
        raise ProbeError(f"--corpus {path}: no such file (a text file, one text per line)")
    data = file.read_bytes()
    try:
        texts, sources = local.parse_lines(data, f"--corpus {file}")
    except ValueError as exc:
        raise ProbeError(str(exc)) from None
    if not texts:
        raise ProbeError(f"--corpus {file}: no texts (every line is blank)")
    sha = hashlib.sha256(data).hexdigest()
    name = local.CORPUS_PREFIX + sha[:16]
    local.register_corpus(name, file, sha)
    per_source = {s: sources.count(s) for s in dict.fromkeys(sources)}
    return CorpusInfo(name=name, path=str(file), sha256=sha, texts=len(texts), per_source=per_source)
