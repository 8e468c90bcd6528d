"""Toy models, batched training and the small helpers the evidence functions rely on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geomclaims.metrics import cosine_matrix
from geomclaims.studies.signature import experiment, models, train
from geomclaims.studies.signature.tasks import ANCHORS, TASKS, TaskSpec, make_dataset, shuffle_labels


def test_task_domains_and_vocabularies():
    assert TaskSpec("f_add").label_domain.tolist() == list(range(123, 181))
    assert TaskSpec("f_tadd").key_domain.tolist() == list(range(61, 119))
    assert [TaskSpec(t).vocab.size for t in TASKS] == [90, 90, 50]
    X, y = TaskSpec("f_mod").enumerate()
    assert len(y) == 4000 and set(y.tolist()) == set(range(101, 141))
    # literal Sec. 5 formula: min Z + (z + a1 + a2 mod |Z|)
    np.testing.assert_array_equal(y, 101 + (X.sum(axis=1) % 40))


def test_datasets_are_seeded_and_labels_follow_the_task():
    for t in TASKS:
        X1, y1 = make_dataset(t, 500, 3)
        X2, y2 = make_dataset(t, 500, 3)
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(y1, y2)
        spec = TaskSpec(t)
        np.testing.assert_array_equal(spec.label(X1[:, 0], X1[:, 1], X1[:, 2]), y1)
        assert set(np.unique(X1[:, 0])) <= set(spec.key_domain.tolist())
    y = make_dataset("f_add", 500, 0)[1]
    ys = shuffle_labels(y, 1)
    assert sorted(ys.tolist()) == sorted(y.tolist()) and not np.array_equal(ys, y)


def test_init_std_conventions():
    assert models.init_std(200, "std") == pytest.approx(200**-0.8)
    assert models.init_std(200, "variance") == pytest.approx(200**-0.4)
    with pytest.raises(ValueError):
        models.init_std(200, "other")


def test_batched_members_train_like_separate_models():
    """Summing member losses gives each member exactly its own AdamW trajectory (no shared parameter)."""
    torch.manual_seed(0)
    M, V, d, B = 3, 12, 8, 5
    X = torch.randint(0, V, (M, B, 3))
    y = torch.randint(0, V, (M, B))
    relu = torch.tensor([False, True, False])
    WE0, WU0 = models.init_weights([1, 2, 3], V, d, 0.1)

    def run(idx: list[int]) -> torch.Tensor:
        we = WE0[idx].clone().requires_grad_(True)
        wu = WU0[idx].clone().requires_grad_(True)
        opt = torch.optim.AdamW([we, wu], lr=1e-2)
        for _ in range(5):
            loss = models.member_loss(we, wu, X[idx], y[idx], relu[idx]).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return we.detach()

    together = run([0, 1, 2])
    for i in range(M):
        torch.testing.assert_close(together[i], run([i])[0], rtol=1e-5, atol=1e-6)


def test_vocab_mask_excludes_padded_outputs():
    WE, WU = models.init_weights([0], 6, 4, 0.5)
    mask = torch.tensor([[True, True, True, True, False, False]])
    lg = models.logits(WE, WU, torch.tensor([[[0, 1, 2]]]), torch.tensor([False]), mask)
    assert torch.isinf(lg[0, 0, 4:]).all() and torch.isfinite(lg[0, 0, :4]).all()


def test_smoke_training_run_and_full_gradient():
    cfg = train.toy_config(
        "smoke", ("true",), d=16, n_checkpoints=6, epochs=1, n_samples=2000, tasks=["f_add"]
    )
    res = train.train_toy(cfg, 0)
    assert res["r_order"].shape[0] == 2  # lin and ffn
    assert res["grad"]["WE_anchor"].shape[1:] == (2, len(ANCHORS), 16)
    assert np.all(np.isfinite(res["r_order"]))
    # the stored init is the member's seeded init
    WE0, _ = models.init_weights([train.init_seed(0)], TaskSpec("f_add").vocab.size, 16, res["init_std"])
    rows = TaskSpec("f_add").token_index()[list(ANCHORS)]
    np.testing.assert_allclose(res["WE_anchor"]["init"][0], WE0[0, rows].numpy(), rtol=1e-6)


def test_first_crossing_interpolates_and_censors():
    steps = np.array([0, 10, 20, 30])
    assert experiment.first_crossing(steps, np.array([0.0, -0.2, -0.8, -0.9]), -0.5) == pytest.approx(15.0)
    assert experiment.first_crossing(steps, np.array([0.0, 0.0, 0.0, 0.0]), -0.5) == 40.0


def test_ring_margin_separates_ring_from_line():
    n = 40
    ang = 2 * np.pi * np.arange(n) / n
    ring = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    t = np.linspace(0, np.pi / 2, n)  # an arc: cosine falls with linear distance, no wrap
    line = np.stack([np.cos(t), np.sin(t)], axis=1)
    assert experiment.ring_margin(cosine_matrix(ring)) > 0.3
    assert experiment.ring_margin(cosine_matrix(line)) < -0.2


def test_corollary1_prediction_matches_the_gradient_at_tiny_init():
    """At a small init the softmax is ~uniform and Corollary 1's leading terms give the gradient direction."""
    cfg = train.toy_config(
        "smoke",
        ("true",),
        d=32,
        tasks=["f_add"],
        archs=["lin"],
        epochs=1,
        n_samples=4000,
        init_convention="std",
    )
    res = train.train_toy(cfg, 0)
    sig = experiment.dataset_signatures("f_add", 4000, int(res["members"]["data_seed"][0]))
    label_rows = TaskSpec("f_add").label_domain - 101
    pred = experiment.corollary1_prediction(
        sig["phi_y"], res["grad"]["WU_label"][0, 0].astype(float), res["grad"]["WU_sum"][0, 0], label_rows, 90
    )
    g = res["grad"]["WE_anchor"][0, 0].astype(float)
    assert np.mean(np.diag(cosine_matrix(g, pred))) > 0.95


def _flat_smoke_run(seed: int, labels: tuple[str, ...] = ("true", "shuffled")) -> dict:
    """A tiny per-seed toy job, flattened like a store round trip (``"a/b"`` keys and ``__meta__``)."""
    from geomclaims.store import flatten

    cfg = train.toy_config("smoke", labels, d=8, n_checkpoints=4, epochs=1, n_samples=1000, tasks=["f_add"])
    return {**flatten(train.train_toy(cfg, seed)), "__meta__": {"config": cfg}}


def test_merge_member_runs_concatenates_seeds_and_reindexes_gradient_members():
    a, b = _flat_smoke_run(0), _flat_smoke_run(1)
    merged = train.merge_member_runs([a, b])
    m_a = len(a["members/seed"])
    assert merged["members/seed"].tolist() == a["members/seed"].tolist() + b["members/seed"].tolist()
    np.testing.assert_array_equal(merged["r_order"][m_a:], b["r_order"])
    np.testing.assert_array_equal(merged["grad/WU_label"][:, m_a:], b["grad/WU_label"])
    # gradient rows are for true-label members only; their indices must point at seed 1's members after the merge
    idx = merged["grad/members"]
    assert idx.tolist() == a["grad/members"].tolist() + (b["grad/members"] + m_a).tolist()
    assert set(merged["members/labels"][idx]) == {"true"}
    assert merged["members/seed"][idx].tolist() == [0] * len(a["grad/members"]) + [1] * len(b["grad/members"])
    np.testing.assert_array_equal(merged["grad/WE_anchor"][:, len(a["grad/members"]) :], b["grad/WE_anchor"])
    # the experiment's member selection reads the merged run by seed
    sel = experiment.select(merged, "f_add", "lin", "shuffled")
    assert merged["members/seed"][sel].tolist() == [0, 1]
    assert merged["train_seconds"] == pytest.approx(float(a["train_seconds"]) + float(b["train_seconds"]))


def test_merge_member_runs_refuses_unknown_keys_and_inconsistent_parts():
    a, b = _flat_smoke_run(0), _flat_smoke_run(1)
    with pytest.raises(KeyError, match="new_field"):
        train.merge_member_runs([{**a, "new_field": 1}, {**b, "new_field": 1}])
    with pytest.raises(ValueError, match="total_steps"):
        train.merge_member_runs([a, {**b, "total_steps": 7}])
    with pytest.raises(ValueError, match="keys"):
        train.merge_member_runs([a, {k: v for k, v in b.items() if k != "acc_init"}])
    with pytest.raises(ValueError, match="no results"):
        train.merge_member_runs([])


def test_a_seed_job_is_a_function_of_its_seed_and_config_only():
    """The config holds no seed list, so seed 1's job is the same whichever profile lists it (--seed-offset safe)."""
    assert not any("seed" in k for k in train.toy_config("ci"))
    alone = _flat_smoke_run(1, ("true",))
    again = _flat_smoke_run(1, ("true",))
    other = _flat_smoke_run(2, ("true",))
    np.testing.assert_array_equal(alone["WE_anchor/final"], again["WE_anchor/final"])
    assert not np.array_equal(alone["WE_anchor/final"], other["WE_anchor/final"])
    with pytest.raises(ValueError, match="labels"):
        train.toy_config("smoke", ("real",))
