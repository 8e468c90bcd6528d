"""Projection ratio, perpendicular share, principal angles, random-subspace null."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from metrics_helpers import orthonormal_rows
from scipy import stats

from geomclaims.metrics import (
    orthonormal_basis,
    perpendicular_share,
    principal_angles,
    projection_ratio,
    random_subspace_ratio,
)

seeds = st.integers(0, 2**32 - 1)


@st.composite
def vector_and_basis(draw):
    d = draw(st.integers(2, 40))
    k = draw(st.integers(1, d))
    rng = np.random.default_rng(draw(seeds))
    q = orthonormal_rows(k, d, rng)
    mix = rng.standard_normal((k, k)) + 3 * np.eye(k)  # well-conditioned change of basis
    return rng.standard_normal(d), mix @ q, q, rng


@given(vector_and_basis())
def test_projection_ratio_range_pythagoras_and_basis_invariance(data):
    v, basis, q, _ = data
    rho = projection_ratio(v, basis)
    assert 0.0 <= rho <= 1.0
    assert rho == pytest.approx(projection_ratio(v, q), abs=1e-9)
    assert rho**2 + perpendicular_share(rho) ** 2 == pytest.approx(1.0, abs=1e-12)
    perp = v - q.T @ (q @ v)
    assert perpendicular_share(rho) == pytest.approx(np.linalg.norm(perp) / np.linalg.norm(v), abs=1e-7)
    assert projection_ratio(3.7 * v, basis) == pytest.approx(rho, abs=1e-12)


@given(vector_and_basis())
def test_projection_ratio_one_in_span_zero_orthogonal(data):
    _, basis, q, rng = data
    k, d = q.shape
    in_span = rng.standard_normal(k) @ q
    assert projection_ratio(in_span, basis) == pytest.approx(1.0, abs=1e-9)
    if k < d:
        w = rng.standard_normal(d)
        ortho = w - q.T @ (q @ w)
        assert projection_ratio(ortho, basis) == pytest.approx(0.0, abs=1e-7)


def test_projection_ratio_batch_and_errors():
    q = np.eye(3)[:2]
    np.testing.assert_allclose(
        projection_ratio(np.array([[1.0, 0, 0], [0, 0, 2.0], [1, 0, 1]]), q), [1, 0, 2**-0.5]
    )
    assert projection_ratio(torch.tensor([1.0, 1.0, 0.0]), torch.eye(3)[:1]) == pytest.approx(2**-0.5)
    with pytest.raises(ValueError, match="zero vector"):
        projection_ratio(np.zeros(3), q)
    with pytest.raises(ValueError, match="linearly dependent"):
        projection_ratio(np.ones(3), np.array([[1.0, 0, 0], [2.0, 0, 0]]))
    with pytest.raises(ValueError, match="length 3"):
        projection_ratio(np.ones(4), q)
    with pytest.raises(ValueError, match="NaN/inf"):
        projection_ratio(np.array([1.0, np.nan, 0]), q)
    with pytest.raises(ValueError, match="rho"):
        perpendicular_share(1.5)
    assert perpendicular_share(0.6) == pytest.approx(0.8)  # sqrt(1 - rho^2), not 1 - rho


def test_principal_angles_known_values():
    e = np.eye(4)
    np.testing.assert_allclose(principal_angles(e[:2], e[:2]), [0, 0], atol=1e-7)
    np.testing.assert_allclose(principal_angles(e[:2], e[2:]), [np.pi / 2] * 2, atol=1e-12)
    th = 0.3
    v = np.stack([e[0], np.cos(th) * e[1] + np.sin(th) * e[2]])
    np.testing.assert_allclose(principal_angles(e[:2], v), [0.0, th], atol=1e-9)
    assert principal_angles(e[:1], e[:3]).shape == (1,)


@given(vector_and_basis(), seeds)
def test_principal_angles_ascending_and_basis_invariant(data, seed):
    _, basis, q, _ = data
    d = q.shape[1]
    other = orthonormal_rows(min(d, 3), d, np.random.default_rng(seed))
    ang = principal_angles(basis, other)
    assert np.all(np.diff(ang) >= 0) and ang.min() >= 0 and ang.max() <= np.pi / 2 + 1e-12
    np.testing.assert_allclose(principal_angles(q, other), ang, atol=1e-7)


def test_random_subspace_null_mean_close_to_sqrt_k_over_d():
    """E[rho^2] = k / D exactly (Beta(k/2, (D-k)/2)); E[rho] = sqrt(k/D) (1 - O(1/k)) by Jensen.

    Tolerances: mean rho^2 within 4 standard errors; mean rho within the Jensen gap bound
    (1 - k/D) / (4 k) (relative, second-order delta method) plus 4 standard errors.
    """
    d, k, n = 400, 8, 4000
    v = np.random.default_rng(1).standard_normal(d)
    rho = random_subspace_ratio(v, k, n_draws=n, seed=0)
    assert rho.shape == (n,) and np.all((rho >= 0) & (rho <= 1))
    se2 = (rho**2).std() / np.sqrt(n)
    assert abs((rho**2).mean() - k / d) < 4 * se2
    target = np.sqrt(k / d)
    assert abs(rho.mean() - target) < target * (1 - k / d) / (4 * k) + 4 * rho.std() / np.sqrt(n)


def test_random_subspace_sampler_matches_explicit_qr_subspaces():
    """The Gaussian-direction shortcut has the same law as projecting v on explicit Haar subspaces (KS)."""
    d, k, n = 30, 4, 600
    rng = np.random.default_rng(2)
    v = rng.standard_normal(d)
    explicit = [projection_ratio(v, orthonormal_rows(k, d, rng)) for _ in range(n)]
    fast = random_subspace_ratio(v, k, n_draws=n, seed=3)
    assert stats.ks_2samp(explicit, fast).pvalue > 1e-3


def test_random_subspace_respects_support():
    d, k = 100, 5
    mask = np.zeros(d, dtype=bool)
    mask[:20] = True
    v = np.zeros(d)
    v[:20] = 1.0
    rho = random_subspace_ratio(v, k, support_mask=mask, n_draws=4000, seed=0)
    assert abs((rho**2).mean() - k / 20) < 4 * (rho**2).std() / np.sqrt(4000)
    v[20:] = 1.0  # off-support half of the squared norm (20 of 100 -> scale sqrt(0.2)) can never be captured
    rho2 = random_subspace_ratio(v, k, support_mask=mask, n_draws=4000, seed=0)
    np.testing.assert_allclose(rho2, rho * np.sqrt(0.2))
    with pytest.raises(ValueError, match="k"):
        random_subspace_ratio(v, 21, support_mask=mask)
    with pytest.raises(ValueError, match="support_mask"):
        random_subspace_ratio(v, 2, support_mask=np.ones(5, dtype=bool))
    np.testing.assert_array_equal(
        random_subspace_ratio(v, 3, n_draws=10, seed=4), random_subspace_ratio(v, 3, n_draws=10, seed=4)
    )


def test_orthonormal_basis_rows():
    b = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    q = orthonormal_basis(b)
    np.testing.assert_allclose(q @ q.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(projection_ratio(b, q), [1.0, 1.0])
