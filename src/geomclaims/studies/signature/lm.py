"""Small language models trained from scratch on one corpus each (paper P Sec. 6, App. A, App. C.4).

Per (corpus, architecture, seed): a byte-level BPE tokenizer is trained on the corpus with the ``tokenizers``
library, a Qwen2 (Sec. 6) or Llama (App. C.4) causal LM from ``transformers`` is trained with untied embeddings
(so W^E and W^U are separate matrices, as in the paper's Qwen2.5 setup), and the run returns the embedding and
unembedding rows of the top-C most frequent tokens at init and after training, plus phi^next and varphi^pre of
those tokens counted on the same tokenized corpus. With ``cross_corpora`` in the config the job also encodes each
of those other corpora with this run's tokenizer and counts their bigram signatures over the same rows (Corollary
4's specificity: does another corpus's signature fit this LM as well as its own?); counting is cheap, no training.

Scales (``SCALES``): ``smoke`` (synthetic Markov-chain corpus, 1 layer, seconds), ``ci`` (a few MB of real text,
2 layers x 128 hidden, a few hundred steps on CPU) and ``full`` (the paper's 12 layers x 512 hidden, 12 heads,
FFN 1024, sequence 2048, one epoch, AdamW 1e-4 with a cosine schedule; meant for a GPU).

Initialisation: App. A writes W_ij ~ N(0, d_in^-1). As for the toy models (models.py) we read the second argument
as the standard deviation (std = 1/d_in, a small initialisation); ``init: variance`` gives std d_in^-1/2 and
``init: hf`` the transformers default (std 0.02). For the embedding, d_in is the vocabulary size (one-hot input).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .signatures import bigram_signatures

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "max_bytes": 30_000,
        "vocab_size": 300,
        "hidden": 32,
        "layers": 1,
        "heads": 2,
        "intermediate": 64,
        "seq_len": 32,
        "batch": 8,
        "steps": 10,
        "lr": 3e-3,
        "top_c": 40,
    },
    "ci": {
        "max_bytes": 1_000_000,
        "vocab_size": 512,
        "hidden": 64,
        "layers": 2,
        "heads": 4,
        "intermediate": 128,
        "seq_len": 64,
        "batch": 8,
        "steps": 200,
        "lr": 3e-3,
        "top_c": 200,
    },
    "full": {
        "max_bytes": 50_000_000,
        "vocab_size": 16_384,
        "hidden": 512,
        "layers": 12,
        "heads": 8,  # App. A says 12 heads of size 64 with hidden 512; 512 / 64 = 8 heads is what fits
        "intermediate": 1024,
        "seq_len": 2048,
        "batch": 16,
        "steps": None,  # one epoch
        "lr": 1e-4,
        "top_c": 2000,
    },
}
EOS = "<|endoftext|>"


def lm_config(scale: str, corpus: str, arch: str, device: str = "cpu", **overrides: Any) -> dict[str, Any]:
    cfg = {
        "scale": scale,
        **SCALES[scale],
        "corpus": corpus,
        "arch": arch,
        "init": "std",
        "weight_decay": 0.01,
        "warmup_frac": 0.05,
        "torch_threads": 1,  # small matmuls on a shared 2-core box: one thread avoids spin-wait stalls (measured)
        "device": device,
    }
    cfg.update(overrides)
    return cfg


# --------------------------------------------------------------------------------------------------------------
# corpora and tokenizer
# --------------------------------------------------------------------------------------------------------------


def synthetic_corpus(name: str, n_bytes: int, seed: int = 0) -> list[str]:
    """A plumbing corpus for the smoke profile: sentences from a random first-order Markov chain over 60 words.

    Not a stand-in for anything; it only has real bigram structure for the pipeline to find.
    """
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    words = [f"w{i}" for i in range(60)]
    trans = rng.dirichlet(np.full(60, 0.1), size=60)
    docs, total = [], 0
    while total < n_bytes:
        w = int(rng.integers(60))
        toks = []
        for _ in range(int(rng.integers(20, 60))):
            toks.append(words[w])
            w = int(rng.choice(60, p=trans[w]))
        d = " ".join(toks) + "."
        docs.append(d)
        total += len(d)
    return docs


def load_corpus(name: str, max_bytes: int) -> tuple[list[str], int]:
    """Documents of an LM corpus (``synthetic_*`` for smoke; ``textfile-*`` a user's file; else resources.lm_corpus)."""
    if name.startswith("synthetic"):
        docs = synthetic_corpus(name, max_bytes)
        return docs, sum(len(d.encode()) for d in docs)
    from geomclaims.resources import lm_corpus, local

    # A user's text file (geomclaims probe --corpus FILE): one document per line.
    if local.is_local_corpus(name):
        from geomclaims.resources.lm_corpora import truncate_to_bytes

        return truncate_to_bytes(local.read_texts(name)[0], max_bytes)

    return lm_corpus(name, max_bytes=max_bytes)


def train_tokenizer(docs: list[str], vocab_size: int) -> Any:
    """Byte-level BPE (GPT-2/Qwen style) trained on ``docs`` with the ``tokenizers`` library; EOS is id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    return tok


def encode_docs(tok: Any, docs: list[str]) -> list[np.ndarray]:
    return [np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(docs)]


def top_tokens(ids: list[np.ndarray], c: int, exclude: tuple[int, ...] = ()) -> np.ndarray:
    """The ``c`` most frequent token ids (ties broken by id, so the set is deterministic)."""
    counts = np.bincount(np.concatenate(ids), minlength=1)
    for e in exclude:
        if e < counts.size:
            counts[e] = 0
    order = np.lexsort((np.arange(counts.size), -counts))
    order = order[counts[order] > 0]
    return np.sort(order[:c])


# --------------------------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------------------------


def build_model(cfg: Mapping[str, Any], vocab_size: int) -> torch.nn.Module:
    """Qwen2ForCausalLM or LlamaForCausalLM with untied embeddings, initialised as ``cfg['init']`` says."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = {
        "vocab_size": vocab_size,
        "hidden_size": int(cfg["hidden"]),
        "intermediate_size": int(cfg["intermediate"]),
        "num_hidden_layers": int(cfg["layers"]),
        "num_attention_heads": int(cfg["heads"]),
        "num_key_value_heads": int(cfg["heads"]),
        "max_position_embeddings": int(cfg["seq_len"]),
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
    }
    if cfg["arch"] == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    elif cfg["arch"] == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    else:
        raise ValueError(f"arch must be qwen2 or llama, got {cfg['arch']!r}")
    init = cfg["init"]
    if init != "hf":
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                    d_in = (
                        module.weight.shape[1]
                        if isinstance(module, torch.nn.Linear)
                        else module.weight.shape[0]
                    )
                    std = 1.0 / d_in if init == "std" else 1.0 / math.sqrt(d_in)
                    module.weight.normal_(0.0, std)
                    if getattr(module, "bias", None) is not None:
                        module.bias.zero_()
    return model


def cross_signatures(
    tok: Any, vocab_size: int, rows: np.ndarray, corpora: Any, max_bytes: int
) -> dict[str, dict[str, np.ndarray]]:
    """phi^next / varphi^pre of each corpus in ``corpora`` over this run's ``rows``, encoded with this run's
    tokenizer, and how often each row token occurs there (a token rare in the other corpus has a noisy row).
    Returned under ``cross_phi_next``, ``cross_varphi_pre`` and ``cross_counts``, keyed by corpus name."""
    out: dict[str, dict[str, np.ndarray]] = {"cross_phi_next": {}, "cross_varphi_pre": {}, "cross_counts": {}}
    for name in corpora:
        other_ids = encode_docs(tok, load_corpus(str(name), max_bytes)[0])
        nxt, pre = bigram_signatures(other_ids, vocab_size, rows)
        out["cross_phi_next"][str(name)] = nxt.astype(np.float32)
        out["cross_varphi_pre"][str(name)] = pre.astype(np.float32)
        out["cross_counts"][str(name)] = np.bincount(np.concatenate(other_ids), minlength=vocab_size)[rows]
    return out if corpora else {}


def _rows(model: torch.nn.Module, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = torch.as_tensor(rows)
    we = model.get_input_embeddings().weight.detach()[r].cpu().numpy().astype(np.float32)
    wu = model.get_output_embeddings().weight.detach()[r].cpu().numpy().astype(np.float32)
    return we, wu


def train_lm(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Tokenizer + model + training for one (corpus, arch, seed); returns top-C rows, signatures and provenance."""
    cfg = dict(config)
    torch.set_num_threads(min(int(cfg["torch_threads"]), 2))
    device = str(cfg["device"])
    docs, n_bytes = load_corpus(str(cfg["corpus"]), int(cfg["max_bytes"]))
    t0 = time.perf_counter()
    tok = train_tokenizer(docs, int(cfg["vocab_size"]))
    ids = encode_docs(tok, docs)
    V = tok.get_vocab_size()
    rows = top_tokens(ids, int(cfg["top_c"]), exclude=(0,))
    phi_next, varphi_pre = bigram_signatures(ids, V, rows)
    stream = np.concatenate([np.append(d, 0) for d in ids])  # EOS between documents
    cross = cross_signatures(tok, V, rows, cfg.get("cross_corpora", ()), int(cfg["max_bytes"]))
    tok_s = time.perf_counter() - t0

    data_rng = np.random.default_rng([seed, 17])
    torch_seed = 10_000 + int(seed)
    torch.manual_seed(torch_seed)
    model = build_model(cfg, V).to(device)
    we0, wu0 = _rows(model, rows)
    L, B = int(cfg["seq_len"]), int(cfg["batch"])
    n_windows = max(1, (stream.size - 1) // L)
    steps = int(cfg["steps"]) if cfg["steps"] else max(1, n_windows // B)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    warm = max(1, int(float(cfg["warmup_frac"]) * steps))

    def lr_at(step: int) -> float:  # linear warmup, then cosine decay to 0 (App. A: cosine schedule)
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses = []
    model.train()
    t1 = time.perf_counter()
    for _ in range(steps):
        starts = data_rng.integers(0, stream.size - L - 1, size=B)
        batch = torch.as_tensor(np.stack([stream[s : s + L + 1] for s in starts]), device=device)
        out = model(input_ids=batch[:, :-1], labels=batch[:, :-1].clone())
        # transformers shifts labels internally: position t predicts token t+1 of the same window
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
    train_s = time.perf_counter() - t1
    we1, wu1 = _rows(model, rows)
    counts = np.bincount(np.concatenate(ids), minlength=V)
    return {
        "rows": rows,
        "tokens": np.array([tok.id_to_token(int(r)) for r in rows]),
        "token_counts": counts[rows],
        "WE": {"init": we0, "final": we1},
        "WU": {"init": wu0, "final": wu1},
        "phi_next": phi_next.astype(np.float32),
        "varphi_pre": varphi_pre.astype(np.float32),
        **cross,
        "loss": np.asarray(losses, dtype=np.float32),
        "corpus_bytes": int(n_bytes),
        "corpus_tokens": int(stream.size),
        "vocab_size": int(V),
        "steps": steps,
        "tokens_seen": steps * B * L,
        "train_seconds": train_s,
        "tokenizer_seconds": tok_s,
        "data_seed": int(seed),
        "torch_seed": torch_seed,
        "n_params": int(sum(p.numel() for p in model.parameters())),
    }
