"""Strata statistics and controls of the stratified study."""

from __future__ import annotations

import numpy as np

from geomclaims.metrics import effective_rank
from geomclaims.studies.stratified import strata as st
from geomclaims.studies.stratified.data import line_disk_ball, synthetic_corpus


def test_pca75_dims_of_line_disk_ball_components_are_1_2_3() -> None:
    c = line_disk_ball(300, 20, data_seed=0)
    assert st.stratum_dims(c.X, c.source, 3).tolist() == [1, 2, 3]


def test_gaussian_control_has_the_same_size_and_spectrum() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 10)) * np.linspace(3, 0.1, 10) + 5
    G = st.gaussian_same_spectrum(X, np.random.default_rng(1))
    assert G.shape == X.shape
    ev_x = np.linalg.svd(X - X.mean(0), compute_uv=False) ** 2
    ev_g = np.linalg.svd(G - G.mean(0), compute_uv=False) ** 2
    np.testing.assert_allclose(ev_g / ev_g.sum(), ev_x / ev_x.sum(), atol=0.03)
    assert effective_rank(G, 0.75) == effective_rank(X, 0.75)


def test_random_partition_spreads_keep_sizes_and_are_small_for_iid_points() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8))
    strata = np.repeat(np.arange(3), 100)
    dims, vals = st.random_partition_spreads(X, X[:, 0], strata, 3, 20, n_draws=5, seed=0)
    assert dims.shape == vals.shape == (5,)
    assert np.all(dims <= 1)


def test_spread_ignores_small_strata() -> None:
    assert st.spread(np.array([3.0, 10.0, 1.0]), np.array([50, 5, 50]), min_size=20) == 2.0
    assert st.spread(np.array([3.0, 10.0]), np.array([50, 5]), min_size=20) == 0.0


def test_kmeans_labels_are_ordered_by_size_and_weighted_sparsity() -> None:
    labels = st.relabel_by_size(np.array([2, 2, 2, 0, 1, 1]), 3)
    assert labels.tolist() == [0, 0, 0, 2, 1, 1]
    w = np.array([[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(st.weighted_sparsity(w, [8, 32]), [8.0, 20.0])


def test_synthetic_corpus_is_deterministic_and_six_sources() -> None:
    a = synthetic_corpus("minilm-l6", 10, 0, 24)
    b = synthetic_corpus("minilm-l6", 10, 0, 24)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (60, 24) and sorted(set(a.source.tolist())) == list(range(6))


def test_stratum_of_duplicate_points_has_dimension_zero() -> None:
    # Duplicate texts embed identically; KMeans can put such a pair alone in a stratum.
    X = np.vstack([np.random.default_rng(0).standard_normal((6, 4)), np.ones((2, 4))])
    strata = np.array([0] * 6 + [1] * 2)
    dims = st.stratum_dims(X, strata, 3)
    assert dims[1] == 0 and dims[2] == 0 and dims[0] >= 1
