"""Null controls: each null must be beaten by data with the effect and must NOT be beaten by null data."""

from __future__ import annotations

import numpy as np

from geomclaims.metrics import (
    effective_rank,
    label_permutation,
    nmi,
    projection_ratio,
    random_subspace_ratio,
    random_walk,
    step_matched_random_walk,
)

N_NULL = 40


def null_r90(trajectory: np.ndarray) -> np.ndarray:
    return np.array([effective_rank(step_matched_random_walk(trajectory, seed=s)) for s in range(N_NULL)])


def test_step_matched_walk_null_separates_drift_from_diffusion():
    """A drifting trajectory (constant direction + 10% isotropic jitter, 51 snapshots, D = 2048) has
    r90 = 1, below the 5% quantile of its step-matched null (whose r90 is ~6, the random-walk value).
    A genuine random walk is not below the 5% quantile of its own null: the rule cannot be passed by
    diffusion alone."""
    rng = np.random.default_rng(0)
    d = 2048
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    steps = direction + 0.1 * rng.standard_normal((50, d)) / np.sqrt(d)
    drift = np.vstack([np.zeros(d), np.cumsum(steps, axis=0)])
    null = null_r90(drift)
    assert effective_rank(drift) == 1
    assert effective_rank(drift) < np.quantile(null, 0.05)
    assert np.median(null) == 6
    walk = random_walk(50, d, seed=1)
    assert not effective_rank(walk) < np.quantile(null_r90(walk), 0.05)


def test_random_subspace_null_separates_aligned_vectors():
    """A vector mostly inside a k-dim subspace beats the random-subspace null (rho above its 99th
    percentile); a random vector does not (its rho sits inside the central 98% of the null)."""
    rng = np.random.default_rng(2)
    d, k = 500, 5
    basis = rng.standard_normal((k, d))
    aligned = rng.standard_normal(k) @ basis + 3.0 * rng.standard_normal(d) / np.sqrt(d)
    random_vec = rng.standard_normal(d)
    for v, should_beat in ((aligned, True), (random_vec, False)):
        null = random_subspace_ratio(v, k, n_draws=2000, seed=3)
        rho = projection_ratio(v, basis)
        assert bool(rho > np.quantile(null, 0.99)) is should_beat
        if not should_beat:
            assert np.quantile(null, 0.01) < rho < np.quantile(null, 0.99)


def test_label_permutation_null_for_nmi():
    """Strata equal to domains (NMI = 1) beat the permutation null; permuted labels (NMI ~ 0) do not."""
    domains = np.repeat(np.arange(4), 50)
    null = np.array([nmi(domains, label_permutation(domains, seed=s)) for s in range(100)])
    assert nmi(domains, domains) > null.max()
    shuffled = label_permutation(domains, seed=999)
    assert nmi(domains, shuffled) < np.quantile(null, 0.995)
