"""P11: a pretrained tied-embedding model vs the signatures of general text (paper P Sec. 6, Fig. 6; App. C.1).

With tied embeddings the same matrix receives the phi^next (input) and varphi^pre (output) terms of Corollary 4,
so App. C.1 compares cos(W^E) with cos(phi~), phi~ = phi^next + varphi^pre. The paper uses Qwen2.5-3B-base and
its five Pile subsets pooled; here SmolLM2-135M (tied, Llama architecture; an *instruct* fine-tune, dequantised
from Q4_1 GGUF, the only small tied decoder on the registries) and the five stand-in corpora pooled.

Signatures are counted with the model's own tokenizer. Columns that are zero for every selected row are dropped
before any cosine (they do not change it), so phi~ stays [C, #observed neighbours] instead of [C, 49k].
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .lm import load_corpus, top_tokens
from .signatures import bigram_signatures

DIGITS = tuple(str(i) for i in range(10))


def pretrained_config(model: str, corpora: list[str], max_bytes: int, top_c: int) -> dict[str, Any]:
    return {
        "model": model,
        "corpora": list(corpora),
        "max_bytes_per_corpus": int(max_bytes),
        "top_c": int(top_c),
    }


def digit_ids(tok: Any) -> np.ndarray:
    """Token ids of "0".."9" as single tokens; raises if the tokenizer splits or merges them."""
    out = []
    for d in DIGITS:
        ids = tok.encode(d, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"digit {d!r} is not a single token ({ids})")
        out.append(ids[0])
    return np.asarray(out, dtype=np.int64)


def run_pretrained(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Embedding rows and phi~ rows for the top-C tokens and the digits. ``seed`` orders the corpus documents."""
    from geomclaims.resources import load_model, model_sha

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    tok, model = load_model(str(config["model"]), progress=False)
    if not bool(getattr(model.config, "tie_word_embeddings", False)):
        raise ValueError(f"{config['model']} does not tie its embeddings; P11 needs a tied model")
    load_s = time.perf_counter() - t0
    docs: list[str] = []
    n_bytes = 0
    for name in config["corpora"]:
        d, n = load_corpus(name, int(config["max_bytes_per_corpus"]))
        docs += d
        n_bytes += n
    ids = [np.asarray(tok.encode(d, add_special_tokens=False), dtype=np.int64) for d in docs]
    V = int(model.get_input_embeddings().weight.shape[0])
    special = tuple(int(i) for i in (tok.all_special_ids or []))
    rows = top_tokens(ids, int(config["top_c"]), exclude=special)
    digits = digit_ids(tok)
    both = np.unique(np.concatenate([rows, digits]))
    nxt, pre = bigram_signatures(ids, V, both)
    tilde = nxt + pre
    used = tilde.sum(axis=0) > 0
    W = model.get_input_embeddings().weight.detach().cpu().numpy()
    pos = {int(t): i for i, t in enumerate(both)}
    counts = np.bincount(np.concatenate(ids), minlength=V)
    return {
        "rows": rows,
        "tokens": np.array([tok.convert_ids_to_tokens(int(r)) for r in rows]),
        "token_counts": counts[rows],
        "WE": W[rows].astype(np.float32),
        "phi_tilde": tilde[[pos[int(r)] for r in rows]][:, used].astype(np.float32),
        "digits": {
            "ids": digits,
            "WE": W[digits].astype(np.float32),
            "phi_tilde": tilde[[pos[int(r)] for r in digits]][:, used].astype(np.float32),
            "counts": counts[digits],
        },
        "corpus_bytes": int(n_bytes),
        "corpus_tokens": int(sum(len(i) for i in ids)),
        "model_sha": str(model_sha(str(config["model"]))),
        "load_seconds": load_s,
    }
