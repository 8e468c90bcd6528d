"""Spectra: effective rank, explained variance, participation ratio (invariants, closed forms, null)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from metrics_helpers import cloud_with_spectrum, random_rotation, shares_rank

from geomclaims.metrics import (
    effective_rank,
    explained_variance,
    participation_ratio,
    random_walk,
    variance_spectrum,
)

seeds = st.integers(0, 2**32 - 1)


@st.composite
def clouds(draw, max_n: int = 30, max_d: int = 24):
    """Generic Gaussian clouds with a random anisotropic scaling (full rank, no ties by construction)."""
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(seeds))
    scales = np.exp(rng.uniform(-2, 2, size=d))
    return rng.standard_normal((n, d)) * scales + rng.normal(size=d) * 5


@st.composite
def known_spectrum(draw):
    """Cloud with exactly prescribed singular values (orthonormal factors x chosen spectrum)."""
    n = draw(st.integers(4, 40))
    d = draw(st.integers(2, 30))
    r = draw(st.integers(1, min(n - 1, d)))
    sing = np.array(draw(st.lists(st.floats(0.05, 20.0), min_size=r, max_size=r)))
    rng = np.random.default_rng(draw(seeds))
    return cloud_with_spectrum(n, d, sing, rng), sing


thresholds = st.floats(0.05, 1.0)


@given(clouds(), seeds, st.floats(1e-3, 1e3), thresholds)
def test_effective_rank_invariances(x, seed, scale, t):
    rng = np.random.default_rng(seed)
    r = effective_rank(x, t)
    q = random_rotation(x.shape[1], rng)
    assert effective_rank(x @ q, t) == r
    assert effective_rank(scale * x, t) == r
    assert effective_rank(x + rng.normal(size=x.shape[1]) * 100, t) == r
    assert effective_rank(x[rng.permutation(x.shape[0])], t) == r


@given(clouds(), thresholds)
def test_effective_rank_bounds(x, t):
    r = effective_rank(x, t)
    assert 1 <= r <= min(x.shape[0] - 1, x.shape[1])
    assert isinstance(r, int)


@given(clouds(), thresholds, thresholds)
def test_effective_rank_monotone_in_threshold(x, t1, t2):
    lo, hi = sorted((t1, t2))
    assert effective_rank(x, lo) <= effective_rank(x, hi)


@given(clouds(max_n=25, max_d=25), thresholds)
def test_routes_agree(x, t):
    ref = variance_spectrum(x, method="covariance")
    scale = ref.max()
    for method in ("svd", "gram", "auto"):
        lam = variance_spectrum(x, method=method)
        assert lam.shape == (min(x.shape[0] - 1, x.shape[1]),)
        np.testing.assert_allclose(lam, ref, rtol=1e-7, atol=1e-9 * scale)
    ranks = {effective_rank(x, t, method=m) for m in ("svd", "gram", "covariance")}
    assert len(ranks) == 1


@given(known_spectrum(), thresholds)
def test_exact_on_known_spectrum(data, t):
    x, sing = data
    shares = np.sort(sing**2)[::-1] / np.sum(sing**2)
    ev = explained_variance(x)
    np.testing.assert_allclose(ev[: len(sing)], shares, atol=1e-9)
    np.testing.assert_allclose(ev[len(sing) :], 0.0, atol=1e-9)
    np.testing.assert_allclose(ev.sum(), 1.0, rtol=1e-12)
    assert effective_rank(x, t) == shares_rank(shares, t)
    assert participation_ratio(x) == pytest.approx(np.sum(sing**2) ** 2 / np.sum(sing**4), rel=1e-7)


def test_eigenvalue_normalisation_is_one_over_n():
    rng = np.random.default_rng(0)
    sing = np.array([3.0, 2.0, 1.0])
    x = cloud_with_spectrum(10, 7, sing, rng)
    np.testing.assert_allclose(variance_spectrum(x)[:3], sing**2 / 10, rtol=1e-10)


@pytest.mark.parametrize(
    ("d", "threshold", "expected"), [(10, 0.9, 9), (10, 0.3, 3), (4, 0.75, 3), (8, 1.0, 8)]
)
def test_threshold_exact_ties_count_as_reached(d, threshold, expected):
    """d equal eigenvalues: the top-k share is k/d exactly; round-off must not push r past the tie."""
    x = cloud_with_spectrum(30, 40, np.ones(d), np.random.default_rng(1))
    assert effective_rank(x, threshold) == expected


def test_no_cap_at_computed_components():
    """Isotropic noise in D=200 with n=101: r90 is close to 90, never capped at e.g. 10 or 50 PCs."""
    x = np.random.default_rng(0).standard_normal((101, 200))
    r = effective_rank(x, 0.9)
    assert 60 < r <= 100
    assert effective_rank(x, 1.0) == 100  # rank bound min(n - 1, D)


def test_torch_input_and_float_results():
    x = torch.randn(12, 5, generator=torch.Generator().manual_seed(0))
    assert effective_rank(x, 0.9) == effective_rank(x.numpy(), 0.9)
    assert isinstance(participation_ratio(x), float)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN/inf"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN/inf"),
        (np.ones((1, 4)), "at least 2 rows"),
        (np.ones(5), "2-D"),
        (np.ones((4, 3)), "identical"),
    ],
)
def test_bad_input_raises(x, match):
    with pytest.raises(ValueError, match=match):
        effective_rank(x)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan")])
def test_bad_threshold_raises(threshold):
    with pytest.raises(ValueError, match="threshold"):
        effective_rank(np.eye(4), threshold)


def test_bad_method_raises():
    with pytest.raises(ValueError, match="method"):
        variance_spectrum(np.eye(4), method="eig")


# ---- random-walk null ------------------------------------------------------------------------------


def continuous_walk_shares(k_max: int) -> np.ndarray:
    """Cumulative variance shares of Brownian-motion PCA: the k-th PC carries 6 / (pi^2 k^2)."""
    k = np.arange(1, k_max + 1)
    return np.cumsum(6.0 / (math.pi**2 * k**2))


def finite_walk_shares(n: int) -> np.ndarray:
    """Expected cumulative shares for an n-snapshot walk as D -> inf: spectrum of the centred min(i, j) kernel."""
    i = np.arange(n)
    h = np.eye(n) - 1.0 / n
    ev = np.linalg.eigvalsh(h @ np.minimum.outer(i, i) @ h)[::-1]
    return np.cumsum(ev / ev.sum())


def test_random_walk_closed_form_shares_and_r90():
    """r90 of an i.i.d. Gaussian walk with n >= 20 snapshots in D >> n is 6.

    Known result: the k-th PC of a random walk carries 6 / (pi^2 k^2) of the variance, cumulative shares
    0.608, 0.760, 0.827, 0.866, 0.890, 0.907, so the 90% threshold is first reached at k = 6.
    Tolerance on the empirical cumulative shares (first 7): 0.02, made of (a) discretisation — the exact
    D -> inf shares for n snapshots (centred min(i, j) kernel) approach the continuum as O(1/n^2),
    within 5 / n^2 (asserted below: 0.0113 at n = 20, 0.0017 at n = 51), and (b) sampling over
    D = 16384 independent coordinates — the top eigenvalue is a sum over D i.i.d. coordinates with
    relative sd about sqrt(2 / D) ~ 0.011, i.e. <= 0.007 on a share of 0.61; 0.02 covers the n = 51
    discretisation plus more than 2.5 such (conservative) sd.
    """
    cont = continuous_walk_shares(7)
    for n in (20, 51, 200):
        assert np.max(np.abs(finite_walk_shares(n)[:7] - cont)) <= 5 / n**2
        assert shares_rank(np.diff(finite_walk_shares(n), prepend=0.0), 0.9) == 6
    x = random_walk(50, 16384, seed=0)
    assert x.shape == (51, 16384)
    emp = np.cumsum(explained_variance(x))[:7]
    np.testing.assert_allclose(emp, cont, atol=0.02)
    assert effective_rank(x, 0.9) == 6
