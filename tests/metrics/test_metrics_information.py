"""Row entropy, causal attention entropy, NMI / ARI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from geomclaims.metrics import ari, attention_entropy, nmi, random_partition, row_entropy

seeds = st.integers(0, 2**32 - 1)


@st.composite
def stochastic_rows(draw):
    m = draw(st.integers(1, 6))
    n = draw(st.integers(1, 20))
    rng = np.random.default_rng(draw(seeds))
    alpha = draw(st.floats(0.05, 5.0))
    p = rng.dirichlet(np.full(n, alpha), size=m)
    return p


@given(stochastic_rows())
def test_row_entropy_bounds(p):
    h = row_entropy(p)
    n = p.shape[1]
    assert h.shape == (p.shape[0],)
    assert np.all(h >= -1e-12) and np.all(h <= math.log(n) + 1e-9)
    np.testing.assert_allclose(row_entropy(p, base=2), h / math.log(2))


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_row_entropy_uniform_and_one_hot(n):
    assert row_entropy(np.full((1, n), 1.0 / n))[0] == pytest.approx(math.log(n))
    one_hot = np.zeros((2, n))
    one_hot[:, 0] = 1.0
    np.testing.assert_allclose(row_entropy(one_hot), 0.0)


def test_row_entropy_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        row_entropy(np.array([[0.5, 0.6]]))
    with pytest.raises(ValueError, match="negative"):
        row_entropy(np.array([[1.5, -0.5]]))
    with pytest.raises(ValueError, match="NaN/inf"):
        row_entropy(np.array([[np.nan, 1.0]]))


def causal_uniform(t: int) -> np.ndarray:
    a = np.tril(np.ones((t, t)))
    return a / a.sum(axis=1, keepdims=True)


def test_attention_entropy_causal_uniform():
    a = causal_uniform(6)
    raw = attention_entropy(a, normalize=False)
    np.testing.assert_allclose(raw, np.log(np.arange(1, 7)))
    norm = attention_entropy(a)
    np.testing.assert_allclose(norm, [0.0, 1, 1, 1, 1, 1])  # row 0: one visible key -> 0 by convention
    batched = attention_entropy(torch.tensor(np.stack([a, a]))[:, None])
    assert batched.shape == (2, 1, 6)


def test_attention_entropy_non_causal_and_key_cache_offset():
    a = np.full((3, 5), 0.2)
    np.testing.assert_allclose(attention_entropy(a, causal=False), 1.0)
    # T_key > T_query: query t sees t + 1 + 2 keys
    b = np.zeros((3, 5))
    for t in range(3):
        b[t, : t + 3] = 1.0 / (t + 3)
    np.testing.assert_allclose(attention_entropy(b), 1.0)
    with pytest.raises(ValueError, match="masked"):
        attention_entropy(a)


@given(st.integers(2, 12), seeds)
def test_attention_entropy_in_unit_interval(t, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(t, t)) * 3
    logits[np.triu_indices(t, 1)] = -np.inf
    a = np.exp(logits - logits.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    h = attention_entropy(a)
    assert np.all(h >= -1e-12) and np.all(h <= 1 + 1e-9)


def test_nmi_ari():
    a = np.repeat(np.arange(4), 25)
    relabeled = (a + 1) % 4
    assert nmi(a, relabeled) == pytest.approx(1.0)
    assert ari(a, relabeled) == pytest.approx(1.0)
    rnd = random_partition([25, 25, 25, 25], seed=0)
    assert abs(ari(a, rnd)) < 0.05
    assert nmi(a, rnd) < 0.1
    with pytest.raises(ValueError, match="labels_b"):
        nmi(a, a[:10])
