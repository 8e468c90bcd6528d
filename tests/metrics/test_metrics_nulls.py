"""Null generators: shapes, determinism, preserved quantities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geomclaims.metrics import (
    label_permutation,
    random_partition,
    random_walk,
    sign_flip_increments,
    step_matched_random_walk,
)

seeds = st.integers(0, 2**32 - 1)


def test_random_walk_shape_origin_and_step_scale():
    x = random_walk(2000, 30, seed=1, step_std=0.5)
    assert x.shape == (2001, 30)
    np.testing.assert_array_equal(x[0], 0.0)
    steps = np.diff(x, axis=0)
    assert steps.std() == pytest.approx(0.5, rel=0.02)  # 60k draws: rel. se of sd ~ 0.003
    np.testing.assert_array_equal(random_walk(5, 3, seed=7), random_walk(5, 3, seed=7))
    with pytest.raises(ValueError, match="n_steps"):
        random_walk(0, 3, seed=0)


@given(st.integers(2, 30), st.integers(1, 20), seeds, seeds)
def test_step_matched_and_sign_flip_preserve_step_norms(n, d, s1, s2):
    traj = np.cumsum(
        np.random.default_rng(s1).standard_normal((n, d)) * np.linspace(0.1, 2, n)[:, None], axis=0
    )
    norms = np.linalg.norm(np.diff(traj, axis=0), axis=1)
    for null in (step_matched_random_walk(traj, s2), sign_flip_increments(traj, s2)):
        assert null.shape == traj.shape
        np.testing.assert_allclose(null[0], traj[0])
        np.testing.assert_allclose(
            np.linalg.norm(np.diff(null, axis=0), axis=1), norms, rtol=1e-9, atol=1e-12
        )
    flipped = np.diff(sign_flip_increments(traj, s2), axis=0)
    np.testing.assert_allclose(np.abs(flipped), np.abs(np.diff(traj, axis=0)), atol=1e-9)


def test_step_matched_walk_directions_isotropic():
    traj = np.outer(np.arange(200.0), np.eye(10)[0])  # a straight line along e_0
    steps = np.diff(step_matched_random_walk(traj, seed=0), axis=0)
    # a random unit direction in R^10 has E[u_0^2] = 1/10; 199 steps, sd of u_0^2 ~ 0.13 -> se ~ 0.01
    assert (steps[:, 0] ** 2).mean() == pytest.approx(0.1, abs=0.04)


def test_random_partition_and_label_permutation():
    labels = random_partition([3, 0, 5, 2], seed=4)
    np.testing.assert_array_equal(np.bincount(labels, minlength=4), [3, 0, 5, 2])
    assert not np.array_equal(labels, np.sort(labels))
    orig = np.array(list("aabbbcd"))
    perm = label_permutation(orig, seed=1)
    assert sorted(perm) == sorted(orig)
    with pytest.raises(ValueError, match="sizes"):
        random_partition([-1, 3], seed=0)
    with pytest.raises(ValueError, match="trajectory"):
        step_matched_random_walk(np.ones((1, 3)), seed=0)
