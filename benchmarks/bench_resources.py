"""Resources benchmark: seconds per 500 texts for each ci-profile model (cold = computed, cached = read from
the embedding cache), model load time, and the one-time GGUF -> plain-folder conversion time.

    python benchmarks/bench_resources.py                       # ci models, conversion time from the cache record
    python benchmarks/bench_resources.py --fresh-conversion smollm2-135m   # also re-time a conversion
    python benchmarks/bench_resources.py --models minilm-l6 --n 200

Needs the resources fetched (``geomclaims fetch --profile ci``); prints a table, writes nothing but caches.
Timings on a shared 2-core machine vary by 2x with the load of other processes: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from geomclaims.resources import PROFILE_RESOURCES, fetch
from geomclaims.resources.corpora import multidomain_dataset
from geomclaims.resources.embeddings import clear_model_cache, embed, embedding_cache_path
from geomclaims.resources.models import (
    MODEL_NAMES,
    converted_dir,
    dequantize_gguf,
    get_source,
    is_decoder,
    load_model,
)


def bench_texts(n: int) -> list[str]:
    """``n`` texts spread over the six multi-domain sources (seed 0)."""
    per = -(-n // 6)
    return list(multidomain_dataset(per, seed=0)["text"][:n])


def bench_model(name: str, texts: list[str], max_length: int, batch_size: int) -> dict[str, object]:
    t0 = time.perf_counter()
    load_model(name)
    load_s = time.perf_counter() - t0
    path = embedding_cache_path(name, texts, -1, "mean", max_length)
    path.unlink(missing_ok=True)
    clear_model_cache()
    t0 = time.perf_counter()
    cold = embed(name, texts, max_length=max_length, batch_size=batch_size, progress=False)
    cold_s = time.perf_counter() - t0  # includes one model load
    t0 = time.perf_counter()
    cached = embed(name, texts, max_length=max_length, batch_size=batch_size, progress=False)
    cached_s = time.perf_counter() - t0
    assert np.array_equal(cold, cached)
    conv = converted_dir(name) / "conversion.json" if is_decoder(name) else None
    conv_s = json.loads(conv.read_text())["seconds"] if conv and conv.is_file() else None
    scale = 500 / len(texts)
    return {
        "model": name,
        "hidden": cold.shape[1],
        "load s": round(load_s, 2),
        "cold s/500": round(cold_s * scale, 1),
        "cached s/500": round(cached_s * scale, 3),
        "GGUF conversion s (recorded)": conv_s,
    }


def fresh_conversion(name: str) -> float:
    """Re-time the GGUF dequantization of ``name`` into a throwaway folder."""
    src_dir = fetch(name, progress=False)
    with tempfile.TemporaryDirectory() as td:
        return dequantize_gguf(src_dir, get_source(name).entry, Path(td))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ci_models = [m for m in PROFILE_RESOURCES["ci"] if m in MODEL_NAMES]
    ap.add_argument("--models", nargs="*", default=ci_models)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--fresh-conversion", nargs="*", default=[], metavar="MODEL")
    args = ap.parse_args()
    texts = bench_texts(args.n)
    rows = [bench_model(m, texts, args.max_length, args.batch_size) for m in args.models]
    print(tabulate(rows, headers="keys"))
    for m in args.fresh_conversion:
        print(f"fresh GGUF conversion {m}: {fresh_conversion(m):.1f} s")


if __name__ == "__main__":
    main()
