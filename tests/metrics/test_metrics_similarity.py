"""Cosine matrices, R_order, R_cos, Mantel null, percentile-bin alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from metrics_helpers import random_rotation
from scipy import stats

from geomclaims.metrics import cosine_matrix, mantel, percentile_bin_alignment, r_cos, r_order

seeds = st.integers(0, 2**32 - 1)


@st.composite
def point_sets(draw, min_n: int = 4, max_n: int = 20):
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(2, 12))
    rng = np.random.default_rng(draw(seeds))
    return rng.standard_normal((n, d)) + rng.normal(size=d)


@given(point_sets(), seeds)
def test_cosine_matrix_properties_and_invariance(x, seed):
    rng = np.random.default_rng(seed)
    c = cosine_matrix(x)
    assert np.allclose(c, c.T) and np.allclose(np.diag(c), 1.0)
    assert c.min() >= -1.0 and c.max() <= 1.0
    q = random_rotation(x.shape[1], rng)
    scales = np.exp(rng.uniform(-3, 3, size=(x.shape[0], 1)))
    np.testing.assert_allclose(cosine_matrix(scales * (x @ q)), c, atol=1e-12)


@given(point_sets(), seeds)
def test_r_order_and_r_cos_invariant_to_rotation_and_positive_scaling(x, seed):
    rng = np.random.default_rng(seed)
    values = rng.permutation(x.shape[0]).astype(float)
    y = x + rng.standard_normal(x.shape)
    q = random_rotation(x.shape[1], rng)
    scales = np.exp(rng.uniform(-3, 3, size=(x.shape[0], 1)))
    x2 = scales * (x @ q)
    assert r_order(x2, values) == pytest.approx(r_order(x, values), abs=1e-9)
    a, b = cosine_matrix(x), cosine_matrix(y)
    for method in ("pearson", "spearman"):
        assert r_cos(cosine_matrix(x2), b, method) == pytest.approx(r_cos(a, b, method), abs=1e-9)
        assert r_cos(a, b, method) == pytest.approx(r_cos(b, a, method), abs=1e-12)
        assert -1.0 <= r_cos(a, b, method) <= 1.0
    assert r_cos(a, a) == pytest.approx(1.0)


@given(point_sets(), seeds)
def test_r_cos_spearman_invariant_to_monotone_transform(x, seed):
    y = x + np.random.default_rng(seed).standard_normal(x.shape)
    a, b = cosine_matrix(x), cosine_matrix(y)
    assert r_cos(np.exp(3 * a), b, "spearman") == pytest.approx(r_cos(a, b, "spearman"), abs=1e-12)


@given(st.integers(3, 12), st.floats(0.1, 3.0))
def test_r_order_on_arc(n, span):
    """Points on an arc ordered by angle: similarity falls strictly with the angle difference.

    Angles ``span * (2^i - 1) / (2^(n-1) - 1)`` make all pairwise differences distinct (binary expansions),
    so no tie is decided by round-off. Spearman is then exactly -1; Pearson equals the closed form
    Corr(cos(d), d) over the pair differences d and is negative.
    """
    theta = span * (2.0 ** np.arange(n) - 1) / (2.0 ** (n - 1) - 1)
    x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    assert r_order(x, theta, method="spearman") == pytest.approx(-1.0, abs=1e-12)
    iu, ju = np.triu_indices(n, 1)
    d = theta[ju] - theta[iu]
    expected = np.corrcoef(np.cos(d), d)[0, 1]
    assert r_order(x, theta) == pytest.approx(expected, abs=1e-9)
    assert r_order(x, theta) < 0


@given(st.integers(3, 25), seeds)
def test_r_order_minus_one_when_similarity_linear_in_distance(n, seed):
    """Gram matrix G_ij = 1 - |i - j| / (n - 1) (triangular kernel, PSD) realised by vectors: R_order = -1."""
    i = np.arange(n)
    g = 1.0 - np.abs(i[:, None] - i[None, :]) / (n - 1)
    w, v = np.linalg.eigh(g)
    x = v * np.sqrt(np.clip(w, 0, None))
    x = x @ random_rotation(n, np.random.default_rng(seed))
    assert r_order(x, i * 2.5 + 7) == pytest.approx(-1.0, abs=1e-9)


def test_r_order_excludes_diagonal():
    """With the diagonal (cos = 1, distance 0) included the value would be pulled towards -1."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 50))
    values = np.arange(6.0)
    c = cosine_matrix(x)
    iu, ju = np.triu_indices(6, 1)
    expected = np.corrcoef(c[iu, ju], np.abs(values[iu] - values[ju]))[0, 1]
    assert r_order(x, values) == pytest.approx(expected, abs=1e-12)
    with_diag = np.corrcoef(c.ravel(), np.abs(values[:, None] - values[None, :]).ravel())[0, 1]
    assert abs(with_diag - expected) > 0.05


def test_r_cos_reads_upper_triangle_only():
    rng = np.random.default_rng(0)
    a = cosine_matrix(rng.standard_normal((8, 5)))
    b = cosine_matrix(rng.standard_normal((8, 5)))
    iu, ju = np.triu_indices(8, 1)
    assert r_cos(a, b) == pytest.approx(np.corrcoef(a[iu, ju], b[iu, ju])[0, 1], abs=1e-12)
    assert r_cos(a, b, "spearman") == pytest.approx(stats.spearmanr(a[iu, ju], b[iu, ju])[0], abs=1e-12)
    np.fill_diagonal(b, 7.0)  # the diagonal is ignored
    assert r_cos(a, b) == pytest.approx(np.corrcoef(a[iu, ju], b[iu, ju])[0, 1], abs=1e-12)


def test_mantel_null_matches_explicit_permutations_and_p_value_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((15, 6))
    a, b = cosine_matrix(x), cosine_matrix(x + 0.8 * rng.standard_normal(x.shape))
    res = mantel(a, b, n_perm=40, seed=5)
    assert res.statistic == pytest.approx(r_cos(a, b), abs=1e-12)
    perm_rng = np.random.default_rng(5)
    explicit = []
    for _ in range(40):
        p = perm_rng.permutation(15)
        explicit.append(r_cos(a, b[p][:, p]))
    np.testing.assert_allclose(res.null, explicit, atol=1e-5)
    assert res.null.shape == (40,)
    assert res.p_value == pytest.approx((1 + np.sum(res.null >= res.statistic - 1e-6)) / 41)
    assert res.p_value == pytest.approx(1 / 41)  # strongly aligned
    assert mantel(a, b, n_perm=40, seed=5).null.tolist() == res.null.tolist()  # deterministic


def test_mantel_p_values_uniformish_under_null():
    """Independent matrices: the p-value is (super-)uniform. 200 replicates, n_perm = 99 (grid of 1/100).

    P(p <= 0.05) = 0.05 under the null; with 200 replicates the count is Binomial(200, 0.05) (mean 10,
    sd 3.1), accept 0..22 (about +4 sd). The Kolmogorov-Smirnov distance to U(0, 1) is checked at the
    alpha = 0.001 critical value (1.95 / sqrt(200) = 0.138) plus the 0.01 grid resolution.
    """
    pvals = []
    for rep in range(200):
        rng = np.random.default_rng(1000 + rep)
        a = cosine_matrix(rng.standard_normal((10, 4)))
        b = cosine_matrix(rng.standard_normal((10, 4)))
        pvals.append(mantel(a, b, n_perm=99, seed=rep).p_value)
    pvals = np.array(pvals)
    assert np.sum(pvals <= 0.05) <= 22
    assert stats.kstest(pvals, "uniform").statistic < 0.138 + 0.01


def test_mantel_rejects_non_symmetric_and_bad_n_perm():
    a = np.random.default_rng(0).standard_normal((5, 5))
    with pytest.raises(ValueError, match="symmetric"):
        mantel(a, a + a.T)
    with pytest.raises(ValueError, match="n_perm"):
        mantel(a + a.T, a + a.T, n_perm=0)


def test_percentile_bin_alignment_closed_forms():
    rng = np.random.default_rng(0)
    a = cosine_matrix(rng.standard_normal((16, 8)))  # 120 pairs -> 12 per decile
    centres = 100 * (np.arange(10) + 0.5) / 10
    np.testing.assert_allclose(percentile_bin_alignment(a, a), centres, atol=1e-9)
    np.testing.assert_allclose(percentile_bin_alignment(a, -a), 100 - centres, atol=1e-9)
    np.testing.assert_allclose(percentile_bin_alignment(a, np.exp(a)), centres, atol=1e-9)
    big_a = cosine_matrix(rng.standard_normal((200, 8)))
    big_b = cosine_matrix(rng.standard_normal((200, 8)))
    # independent: each bin mean of ~1990 uniform percentiles, sd ~ 28.9 / sqrt(1990) = 0.65
    np.testing.assert_allclose(percentile_bin_alignment(big_a, big_b), 50.0, atol=4 * 0.65)
    with pytest.raises(ValueError, match="n_bins"):
        percentile_bin_alignment(cosine_matrix(rng.standard_normal((4, 3))), a[:4, :4], n_bins=10)


def test_similarity_input_errors():
    x = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(ValueError, match="zero row"):
        cosine_matrix(np.vstack([x, np.zeros(3)]))
    with pytest.raises(ValueError, match="NaN/inf"):
        r_order(np.vstack([x, [np.nan, 1, 1]]), np.arange(6.0))
    with pytest.raises(ValueError, match="values"):
        r_order(x, np.arange(4.0))
    with pytest.raises(ValueError, match="values"):
        r_order(x, np.ones(5))
    with pytest.raises(ValueError, match="square"):
        r_cos(np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="shape"):
        r_cos(cosine_matrix(x), cosine_matrix(x[:4]))
    with pytest.raises(ValueError, match="method"):
        r_cos(cosine_matrix(x), cosine_matrix(x), method="kendall")
    with pytest.raises(ValueError, match="inf"):
        r_cos(cosine_matrix(x), np.full((5, 5), np.inf))


def test_torch_inputs():
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    assert r_order(x, torch.arange(7)) == pytest.approx(r_order(x.numpy(), np.arange(7)))
    assert isinstance(r_cos(cosine_matrix(x), cosine_matrix(x.numpy() ** 3)), float)
