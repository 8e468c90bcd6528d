"""Marker-based modular arithmetic generator (paper E Sec. 3.1): targets, marker layout, seeding, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from geomclaims.studies.execution.task import Stages, TaskSpec, data_rng, sample


def _decode(tokens: np.ndarray, spec: TaskSpec) -> list[list[int]]:
    """Marked values of each sequence, read back from the tokens alone."""
    marker = spec.vocab.marker
    return [[int(row[p + 1]) for p in np.flatnonzero(row == marker)] for row in tokens]


@pytest.mark.parametrize("op,T,C", [("add", 16, 8), ("add", 32, 16), ("mul", 16, 7), ("mul", 32, 13)])
def test_target_is_the_marked_values_reduced_mod_C(op: str, T: int, C: int) -> None:
    spec = TaskSpec(T=T, C=C, m_values=(1, 2, 3, 4, 5, 6)[: (T - 1) // 2 if T < 16 else 6], op=op)
    b = sample(spec, data_rng(3), 512)
    for vals, target, m in zip(_decode(b.tokens, spec), b.target, b.m, strict=True):
        assert len(vals) == m
        expect = sum(vals) % C if op == "add" else int(np.prod(vals)) % C
        assert target == expect
        if op == "mul":
            assert min(vals) >= 1, "products draw from the multiplicative group {1..C-1}"


def test_mul_needs_a_prime_modulus_and_is_not_dominated_by_one_class() -> None:
    with pytest.raises(ValueError, match="prime"):
        TaskSpec(T=16, C=8, op="mul")
    b = sample(TaskSpec(T=16, C=7, m_values=(4,), op="mul"), data_rng(1), 6000)
    assert np.bincount(b.target, minlength=7).max() / b.target.size < 0.2  # ~1/6, no class 0 collapse
    assert not np.any(b.target == 0)


def test_markers_are_non_adjacent_followed_by_values_and_the_query_is_last() -> None:
    spec = TaskSpec(T=16, C=8, m_values=(1, 2, 3, 4, 5, 6, 7))
    b = sample(spec, data_rng(0), 2000)
    voc = spec.vocab
    assert np.all(b.tokens[:, -1] == voc.query)
    assert not np.any(b.tokens[:, :-1] == voc.query)
    for row, m, pos in zip(b.tokens, b.m, b.marker_pos, strict=True):
        p = np.flatnonzero(row == voc.marker)
        assert p.tolist() == pos[:m].tolist()
        assert np.all(np.diff(p) >= 2), "two markers are adjacent"
        assert np.all(row[p + 1] < spec.C), "a marker is not followed by a value token"
    # Every admissible position is used (the layout sampler is not biased to the start).
    assert set(np.unique(b.marker_pos[b.marker_pos >= 0])) == set(range(spec.T - 2))


def test_distractors_include_value_tokens_only_when_asked() -> None:
    for flag in (True, False):
        spec = TaskSpec(T=32, C=8, m_values=(1,), distractor_values=flag)
        b = sample(spec, data_rng(1), 256)
        n_values = (b.tokens < spec.C).sum(1)
        assert (n_values.max() > 1) == flag


def test_default_distractors_are_disjoint_from_values_marker_and_query() -> None:
    # Paper Sec. 3.1: distractors are their own tokens; no distractor id is ever a value id by default.
    spec = TaskSpec(T=16, C=8, m_values=(1, 2, 3, 4))
    assert spec.distractor_values is False
    voc = spec.vocab
    b = sample(spec, data_rng(2), 2000)
    for row, m, pos in zip(b.tokens, b.m, b.marker_pos, strict=True):
        slots = np.ones(spec.T, bool)
        slots[pos[:m]] = slots[pos[:m] + 1] = slots[-1] = False
        distract = row[slots]
        assert np.all(distract >= spec.C + 2), "a distractor slot holds a value, marker or query id"
        assert set(np.unique(distract)) <= set(voc.distractor_ids.tolist())


def test_overlap_distractors_variant_pool_includes_values() -> None:
    from geomclaims.studies.execution.profiles import PROFILE_SETTINGS, train_config

    cfg = train_config(PROFILE_SETTINGS["ci"], "overlap-distractors", "cpu")
    spec = TaskSpec.from_config(cfg["task"])
    assert spec.distractor_values is True
    b = sample(spec, data_rng(1), 2000)
    unmarked = np.ones_like(b.tokens, dtype=bool)
    for i, (m, pos) in enumerate(zip(b.m, b.marker_pos, strict=True)):
        unmarked[i, pos[:m]] = unmarked[i, pos[:m] + 1] = False
    unmarked[:, -1] = False
    assert set(np.unique(b.tokens[unmarked])) >= set(range(spec.C)), "values missing from the distractor pool"
    # Every other variant uses the paper's disjoint pool.
    for v in ("paper", "adam-cos2e-3-T16", "sgd0.1-cos-T16", "released-code"):
        assert train_config(PROFILE_SETTINGS["ci"], v, "cpu")["task"]["distractor_values"] is False


def test_generator_is_seeded_and_independent_of_torch() -> None:
    import torch

    spec = TaskSpec()
    a = sample(spec, data_rng(5), 64)
    torch.manual_seed(123)
    b = sample(spec, data_rng(5), 64)
    c = sample(spec, data_rng(6), 64)
    d = sample(spec, data_rng(5, "eval"), 64)
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.target, b.target)
    assert not np.array_equal(a.tokens, c.tokens)
    assert not np.array_equal(a.tokens, d.tokens)


def test_curriculum_members_advance_once_their_stage_is_learned_and_mixed_uses_all() -> None:
    mixed = Stages(TaskSpec(m_values=(1, 2, 3, 4)), 2)
    mixed.update(10, np.ones((2, 4)))
    assert mixed.m_values(0) == (1, 2, 3, 4) and mixed.ended.tolist() == [[-1] * 4] * 2
    # m_values deliberately unsorted: the curriculum ascends in m, the accuracy columns follow spec.m_values.
    cur = Stages(TaskSpec(m_values=(2, 1, 3, 4), schedule="curriculum"), 2, threshold=0.9)
    assert cur.m_values(0) == (1,) and cur.m_values(1) == (1,)
    acc = np.array([[0.3, 0.95, 0.1, 0.1], [0.3, 0.85, 0.1, 0.1]])  # columns m = 2, 1, 3, 4
    cur.update(100, acc)
    assert cur.m_values(0) == (2,) and cur.m_values(1) == (1,)  # member 1 is below the threshold on m = 1
    cur.update(200, np.array([[0.9, 0.2, 0.1, 0.1], [0.3, 0.9, 0.1, 0.1]]))
    assert cur.m_values(0) == (3,) and cur.m_values(1) == (2,)  # one stage per check, independently
    assert cur.ended.tolist() == [[100, 200, -1, -1], [200, -1, -1, -1]]
    for step in (300, 400, 500):
        cur.update(step, np.ones((2, 4)))
    assert cur.m_values(0) == (4,) and cur.m_values(1) == (4,)  # the last stage is never left
    assert cur.ended[:, -1].tolist() == [-1, -1]
    with pytest.raises(ValueError, match="threshold"):
        Stages(TaskSpec(), 1, threshold=0.0)


def test_invalid_specs_are_rejected() -> None:
    with pytest.raises(ValueError):
        TaskSpec(T=8, m_values=(4,))
    with pytest.raises(ValueError):
        TaskSpec(op="sub")
