"""Tiny randomly initialised Hugging Face models saved to a folder, for the probe tests (no download).

A byte-level BPE tokenizer trained on a few lines (digits are single tokens, as P11 needs), a 1-layer BERT encoder
and a 1-layer Llama decoder with tied embeddings, each saved with ``save_pretrained`` as a user would.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the cat sat on the mat while a dog ran past the old red barn and 0 1 2 3 4 5 6 7 8 9 apples fell from trees "
    "rain stock market rose sharply today film was dull acting superb plot thin numbers add up quickly"
).split()


def sample_texts(n: int, n_sources: int = 1) -> list[str]:
    """``n`` deterministic short lines; with ``n_sources`` > 1 each line is ``source<TAB>text``."""
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * (i % 5 + 1)) % len(WORDS)] for j in range(4 + i % 9)]
        text = " ".join(words)
        out.append(f"src{i % n_sources}\t{text}" if n_sources > 1 else text)
    return out


def save_tokenizer(folder: Path, *, bert: bool) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if bert else ["<pad>", "<eos>"]
    tok = Tokenizer(models.BPE(unk_token="[UNK]" if bert else None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([" ".join(WORDS)] * 4, trainer=trainer)
    kw = (
        {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
        if bert
        else {"pad_token": "<pad>", "eos_token": "<eos>"}
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kw)
    fast.save_pretrained(folder)
    return fast


def _save(folder: Path, model: object, *, tokenizer: bool, bert: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # type: ignore[attr-defined]
    if tokenizer:
        save_tokenizer(folder, bert=bert)
    return folder


# One layer, hidden 16, two heads: the smallest shape every code path accepts.
TINY = dict(vocab_size=300, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)


def save_encoder(folder: Path, *, tokenizer: bool = True) -> Path:
    """A 1-layer BERT (hidden 16) with random weights in ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(**TINY, max_position_embeddings=160))
    return _save(folder, model, tokenizer=tokenizer, bert=True)


def save_decoder(folder: Path, *, tied: bool = True, tokenizer: bool = True) -> Path:
    """A 1-layer Llama (hidden 16), embeddings tied unless ``tied`` is False, random weights, in ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        **TINY,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=tied,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    return _save(folder, LlamaForCausalLM(config), tokenizer=tokenizer, bert=False)
