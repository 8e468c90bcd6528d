"""Selection and null wiring of the signature evidence functions, on small synthetic run results.

Each test plants different values in the true-label members, the shuffled-label members and the other tasks, so a
swapped selection (true <-> shuffled, wrong task or architecture, end <-> early snapshot) or a flipped sign fails.
The last tests calibrate the permutation nulls: on data with no effect, the measurement beats the null's 95%
quantile in about 5% of draws.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from geomclaims.metrics import cosine_matrix, r_cos
from geomclaims.studies.signature import experiment as ex
from geomclaims.studies.signature.tasks import ANCHORS, TASKS

SEEDS = [0, 1, 2]
N_CKPT = 5
SNAP = 2  # checkpoint column of the early snapshot


def _case(metric: str, null: str, **params: Any) -> SimpleNamespace:
    claim = SimpleNamespace(metric=metric, null=SimpleNamespace(name=null))
    return SimpleNamespace(claim=claim, params=params)


def _ctx(n_null: int = 50) -> SimpleNamespace:
    return SimpleNamespace(settings={"n_null": n_null, "null_seed": 7}, profile="smoke")


def _code(task: str, arch: str, labels: str) -> float:
    """A value unique to (task, arch, labels), so a wrong selection shows up as a wrong number."""
    return (
        0.1 * TASKS.index(task) + 0.01 * ("lin", "ffn").index(arch) + (0.5 if labels == "shuffled" else 0.0)
    )


def fake_result() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    mem = [
        (s, t, a, lab) for lab in ("true", "shuffled") for s in SEEDS for t in TASKS for a in ("lin", "ffn")
    ]
    M, d = len(mem), 16
    r_order_curve = np.zeros((M, N_CKPT))
    cos_curve = np.zeros((M, N_CKPT))
    acc = np.zeros(M)
    for i, (s, t, a, lab) in enumerate(mem):
        base = _code(t, a, lab) + 0.001 * s
        sign = -1.0 if lab == "true" else 1.0  # true members ordered (negative), shuffled ones not
        r_order_curve[i] = sign * base
        r_order_curve[i, SNAP] = sign * base - 0.2  # the early snapshot differs from the end
        cos_curve[i] = base
        acc[i] = 0.9 + 0.01 * s if lab == "true" else 0.05
    return {
        "members/seed": np.array([m[0] for m in mem]),
        "members/task": np.array([m[1] for m in mem]),
        "members/arch": np.array([m[2] for m in mem]),
        "members/labels": np.array([m[3] for m in mem]),
        "steps": np.array([0, 10, 20, 30, 40]),
        "snapshot_step": 20,
        "total_steps": 40,
        "r_order": r_order_curve,
        "mean_anchor_cos": cos_curve,
        "anchor_cos": np.zeros((M, N_CKPT, len(ANCHORS), len(ANCHORS))),
        "acc_final": acc,
        "init_std": 0.01,
        "WE_anchor/final": rng.normal(size=(M, len(ANCHORS), d)).astype(np.float32),
        "WE_anchor/early": rng.normal(size=(M, len(ANCHORS), d)).astype(np.float32),
        "__meta__": {"config": {"schedule": "x", "lr": 1.0, "epochs": 1, "batch": 1, "n_samples": 100}},
    }


def test_select_orders_by_seed_and_separates_labels() -> None:
    res = fake_result()
    idx = ex.select(res, "f_mod", "lin")
    assert list(res["members/seed"][idx]) == SEEDS
    assert set(res["members/labels"][idx]) == {"true"}
    shuf = ex.select(res, "f_mod", "lin", "shuffled")
    assert set(res["members/labels"][shuf]) == {"shuffled"}


def test_snapshot_column_reads_the_early_step() -> None:
    res = fake_result()
    assert ex.snapshot_column(res, "early") == SNAP
    assert ex.snapshot_column(res, "end") == -1
    with pytest.raises(ValueError, match="when"):
        ex.snapshot_column(res, "peak")


@pytest.mark.parametrize("metric, col", [("r_order_final", -1), ("r_order_early", SNAP)])
def test_r_order_measured_and_shuffled_null(metric: str, col: int) -> None:
    res = fake_result()
    ev = ex._r_order_final(_case(metric, "shuffled_labels", member="ffn_f_tadd"), _ctx(), res)
    true = res["r_order"][ex.select(res, "f_tadd", "ffn"), col]
    shuf = res["r_order"][ex.select(res, "f_tadd", "ffn", "shuffled"), col]
    np.testing.assert_allclose(ev.measured, true)
    np.testing.assert_allclose(ev.null, shuf)
    assert np.all(
        np.asarray(ev.measured) < np.asarray(ev.null)
    )  # sign: the true members are more ordered here
    assert ev.preconditions["train_accuracy_min"] == pytest.approx(0.9)


def test_mean_anchor_cos_nulls() -> None:
    res = fake_result()
    ev = ex._mean_anchor_cos(
        _case("mean_anchor_cos_final", "shuffled_labels", member="lin_f_mod"), _ctx(), res
    )
    np.testing.assert_allclose(ev.measured, [_code("f_mod", "lin", "true") + 0.001 * s for s in SEEDS])
    np.testing.assert_allclose(ev.null, [_code("f_mod", "lin", "shuffled") + 0.001 * s for s in SEEDS])
    ev = ex._mean_anchor_cos(
        _case("mean_anchor_cos_final", "additive_tasks", member="lin_f_mod"), _ctx(), res
    )
    expected = [_code(t, "lin", "true") + 0.001 * s for t in ("f_add", "f_tadd") for s in SEEDS]
    np.testing.assert_allclose(ev.null, expected)
    # preconditions: the FFN on the same task (P3 judges a linear model that cannot fit f_mod)
    assert ev.preconditions["ffn_same_task_accuracy_min"] == pytest.approx(0.9)
    with pytest.raises(KeyError, match="support nulls"):
        ex._mean_anchor_cos(
            _case("mean_anchor_cos_final", "anchor_permutation", member="lin_f_mod"), _ctx(), res
        )


def test_learning_preconditions_use_the_judged_members() -> None:
    res = fake_result()
    res["acc_final"][ex.select(res, "f_add", "lin")[1]] = 0.3  # one seed of lin f_add did not learn
    pre = ex.learning_preconditions(res, ex.select(res, "f_add", "lin"), "f_add")
    assert pre["train_accuracy_min"] == pytest.approx(0.3)
    pre = ex.learning_preconditions(res, ex.select(res, "f_add", "ffn"), "f_add")
    assert pre["train_accuracy_min"] == pytest.approx(0.9)


def test_order_time_ratio_direction() -> None:
    steps = np.array([0.0, 10.0, 20.0, 30.0])
    fast = np.array([0.0, -0.9, -0.95, -0.99])
    slow = np.array([0.0, -0.1, -0.6, -0.99])
    assert ex.first_crossing(steps, fast, -0.5) < ex.first_crossing(steps, slow, -0.5)
    assert ex.first_crossing(steps, np.zeros(4), -0.5) > steps[-1]  # never reached: censored beyond the end


def test_ring_margin_sign() -> None:
    n = 20
    ang = 2 * np.pi * np.arange(n) / n
    ring = np.column_stack([np.cos(ang), np.sin(ang), 0.01 * np.ones(n)])
    line = np.column_stack([np.linspace(-1, 1, n), np.ones(n) * 0.3])
    assert ex.ring_margin(cosine_matrix(ring)) > 0.3
    assert ex.ring_margin(cosine_matrix(line)) < 0.0


def _sym(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.normal(size=(n, n))
    return (m + m.T) / 2


def _pair_matrices(rng: np.random.Generator, n: int, effect: float, freq_effect: float) -> tuple:
    """Pair-level similarity matrices: a frequency term linear in (log f_i + log f_j, |log f_i - log f_j|), a
    shared (real) structure, and independent noise on each side."""
    counts = np.exp(rng.uniform(0, 6, size=n))
    lf = np.log(counts)
    freq = (lf[:, None] + lf[None, :]) / 6 - np.abs(lf[:, None] - lf[None, :]) / 6
    shared = _sym(rng, n)
    w = _sym(rng, n) + effect * shared + freq_effect * freq
    s = _sym(rng, n) + effect * shared + freq_effect * freq
    return w, s, counts


def test_partial_r_cos_removes_frequency_and_keeps_real_alignment() -> None:
    rng = np.random.default_rng(1)
    # alignment driven only by frequency: raw R_cos high, partial near 0
    cw, cs, c = _pair_matrices(rng, 60, effect=0.0, freq_effect=6.0)
    assert r_cos(cw, cs) > 0.3
    assert abs(ex.partial_r_cos_given_frequency(cw, cs, c)) < 0.15
    # a real shared structure survives the control, with its sign
    cw, cs, c = _pair_matrices(rng, 60, effect=1.5, freq_effect=0.0)
    assert ex.partial_r_cos_given_frequency(cw, cs, c) > 0.3
    assert ex.partial_r_cos_given_frequency(cw, -cs, c) < -0.3
    with pytest.raises(ValueError, match="counts"):
        ex.partial_r_cos_given_frequency(cw, cs, np.zeros(60))


def _partial_r_by_least_squares(cos_w: np.ndarray, cos_s: np.ndarray, counts: np.ndarray) -> float:
    """Independent reference: residuals of two separate least-squares fits on the three pair covariates, then
    Pearson's r of the residuals (scipy, not the suite's projection)."""
    lf = np.log(counts)
    i, j = np.triu_indices(cos_w.shape[0], k=1)
    z = np.column_stack([np.ones(i.size), lf[i] + lf[j], np.abs(lf[i] - lf[j])])
    res = [m[i, j] - z @ np.linalg.lstsq(z, m[i, j], rcond=None)[0] for m in (cos_w, cos_s)]
    return float(stats.pearsonr(*res).statistic)


@pytest.mark.parametrize("equal_counts", [False, True])
def test_frequency_residual_equals_two_least_squares_fits(equal_counts: bool) -> None:
    """The projection (one basis, fixed embedding residual) gives the two-regression value, also when the
    covariates are collinear (equal counts: log f_i + log f_j is a multiple of the intercept), and the measurement
    function is that same projection."""
    rng = np.random.default_rng(4)
    cw, cs, c = _pair_matrices(rng, 30, effect=0.5, freq_effect=2.0)
    if equal_counts:
        c = np.full_like(c, 7.0)
    fast = ex.FrequencyResidual(cw, c)
    for _ in range(5):
        perm = rng.permutation(30)
        shuffled = cs[np.ix_(perm, perm)]
        reference = _partial_r_by_least_squares(cw, shuffled, c)
        assert fast.partial_r(shuffled) == pytest.approx(reference, abs=1e-10)
        assert ex.partial_r_cos_given_frequency(cw, shuffled, c) == pytest.approx(reference, abs=1e-10)
    with pytest.raises(ValueError, match="positive"):
        ex.FrequencyResidual(cw, np.zeros(30))


def test_frequency_permutation_null_calibration() -> None:
    """No effect -> the measurement beats the null's 95% quantile in about 5% of independent draws."""
    rng = np.random.default_rng(2)
    hits = 0
    trials = 60
    for _ in range(trials):
        pairs, counts = [], []
        for _seed in range(3):
            cw, cs, c = _pair_matrices(rng, 25, effect=0.0, freq_effect=3.0)
            pairs.append((cw, cs))
            counts.append(c)
        # signature side shared across seeds, as in the LM runs (one corpus)
        pairs = [(cw, pairs[0][1]) for cw, _ in pairs]
        counts = [counts[0]] * 3
        measured = np.median(
            [ex.partial_r_cos_given_frequency(cw, cs, c) for (cw, cs), c in zip(pairs, counts, strict=True)]
        )
        null = ex._frequency_permutation_null(pairs, counts, 100, seed=5)
        hits += measured > np.quantile(null, 0.95)
    assert hits / trials <= 0.15  # nominal 5%; 60 trials


def test_permutation_null_calibration() -> None:
    """The Mantel null of the median-over-seeds R_order/R_cos has a ~5% false-positive rate on noise."""
    rng = np.random.default_rng(3)
    anchors = np.asarray(ANCHORS, dtype=float)
    dist = np.abs(anchors[:, None] - anchors[None, :])
    hits, power, trials = 0, 0, 200
    for _ in range(trials):
        mats = [cosine_matrix(rng.normal(size=(len(ANCHORS), 12))) for _ in range(3)]
        measured = np.median([r_cos(m, dist) for m in mats])
        null = ex._permutation_null(mats, dist, 200, seed=5)
        hits += measured > np.quantile(null, 0.95)
    for _ in range(20):  # the same null rejects a real (ordered) structure: it can fail
        mats = [-dist + 3 * _sym(rng, len(ANCHORS)) for _ in range(3)]
        measured = np.median([r_cos(m, -dist) for m in mats])
        null = ex._permutation_null(mats, -dist, 200, seed=5)
        power += measured > np.quantile(null, 0.95)
    assert hits / trials <= 0.10  # nominal 5%
    assert power >= 15
