"""Orientation checks of the signature study (the study contract's item 7; geomclaims.orientation).

Each check hands ``toy_evidence`` (through ``toy_run``, which merges one canned result per seed exactly as the real
runs are merged) synthetic members whose values are planted by hand: every (task, arch, labels) member carries a
value unique to it, so reading the wrong member, the shuffled-label members for the true ones, or the other snapshot
gives a different number. ``swapped=True`` exchanges the two members (or snapshots, or curves) the metric must tell
apart. The LM checks hand ``lm_evidence`` canned runs whose trained embedding rows are their own signature rows. Not part of the study's code version (registry.UNHASHED): nothing here is stored as a result.
tests/studies/signature/test_evidence_wiring.py holds the finer wiring tests (nulls, preconditions, details).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import stats

from geomclaims.claims import ClaimCase
from geomclaims.orientation import CannedRuns, OrientationCheck, median_measured
from geomclaims.registry import study_settings

from . import train
from .language import lm_evidence, pretrained_evidence
from .shared import dataset_signatures
from .tasks import ANCHORS, TASKS, TaskSpec
from .toy import toy_evidence

STEPS = np.array([0, 10, 20, 30, 40])
EARLY = 2  # column of the early snapshot (snapshot_step 20)
D = 8  # embedding width of the synthetic members
N_LABELS = len(train.LABEL_ROWS)

# A member's planted value: (task, arch, labels, seed) -> {"end": R_order / mean cos at the end, "early": at the
# early snapshot, "acc": final training accuracy, "curve": a full R_order curve (overrides end/early),
# "wu": its W^U label rows, "we_final" / "we_early": its anchor rows}. Missing keys take the defaults of _part.
Plant = Callable[[str, str, str, int], Mapping[str, Any]]


def code(task: str, arch: str, labels: str) -> float:
    """A value unique to (task, arch, labels): 0.1 per task index, 0.01 for ffn, 0.5 for shuffled labels."""
    return 0.1 * TASKS.index(task) + 0.01 * train.ARCHS.index(arch) + (0.5 if labels == "shuffled" else 0.0)


def _part(seed: int, plant: Plant) -> dict[str, Any]:
    """One seed's toy result, keyed as the store returns train_toy's (every key merge_member_runs knows)."""
    rng = np.random.default_rng(seed)
    mem = [(t, a, lab) for lab in ("true", "shuffled") for t in TASKS for a in train.ARCHS]
    m, n_a = len(mem), len(ANCHORS)
    r_order, mean_cos = np.zeros((m, len(STEPS))), np.zeros((m, len(STEPS)))
    acc = np.zeros(m)
    wu = rng.normal(size=(m, N_LABELS, D))
    we = {
        w: rng.normal(size=(m, n_a, n_a)) for w in ("init", "final", "early")
    }  # n_a wide: any anchor Gram fits
    for i, (t, a, lab) in enumerate(mem):
        p = plant(t, a, lab, seed)
        r_order[i] = p.get("end", 0.0)
        r_order[i, EARLY] = p.get("early", 0.0)
        if "curve" in p:
            r_order[i] = p["curve"]
        mean_cos[i] = -r_order[i]  # the same planted numbers, read by the mean-cosine metrics with their sign
        acc[i] = p.get("acc", 0.95)
        if "wu" in p:
            wu[i] = p["wu"]
        for w in ("final", "early"):
            if f"we_{w}" in p:
                we[w][i] = p[f"we_{w}"]
    grad = np.zeros((1, m, 1))
    return {
        "members/seed": np.full(m, seed),
        "members/task": np.array([x[0] for x in mem]),
        "members/arch": np.array([x[1] for x in mem]),
        "members/labels": np.array([x[2] for x in mem]),
        "members/data_seed": np.full(m, seed),
        "members/torch_seed": np.full(m, seed),
        "vocab_size": np.full(m, 200),
        "r_order": r_order,
        "mean_anchor_cos": mean_cos,
        "anchor_cos": np.zeros((m, len(STEPS), n_a, n_a)),
        "acc_final": acc,
        "acc_init": np.full(m, 0.02),
        **{f"WE_anchor/{w}": we[w] for w in ("init", "final", "early")},
        **{
            f"WU_label/{w}": wu if w == "final" else rng.normal(size=wu.shape)
            for w in ("init", "final", "early")
        },
        **{k: grad for k in train._MEMBER_AXIS_1},
        "grad/members": np.arange(m),
        "grad/steps": np.array([0]),
        "steps": STEPS,
        "total_steps": int(STEPS[-1]),
        "init_std": 0.02,
        "snapshot_step": int(STEPS[EARLY]),
        "train_seconds": 1.0,
        "seconds_per_step": 0.01,
        train.META: {"config": {"schedule": "canned", "lr": 1.0, "epochs": 1, "batch": 1, "n_samples": 100}},
    }


def measure_toy(case: ClaimCase, plant: Plant) -> float:
    """The median measured value of the real ``toy_evidence`` on the canned members ``plant`` describes."""

    def serve(name: str, config: Mapping[str, Any], seed: int) -> dict[str, Any]:
        if name == "toy_cost":
            return {"seconds_per_step": 0.01}
        return _part(seed, plant)

    return median_measured(toy_evidence(case, CannedRuns(study_settings("signature", "smoke"), serve)))


def _r_order_end(case: ClaimCase, swapped: bool) -> float:
    """True-label members are ordered (R_order -code-0.5), shuffled ones not (code); swapped: labels exchanged."""

    def plant(t: str, a: str, lab: str, seed: int) -> dict[str, float]:
        ordered = (lab == "true") != swapped
        return {"end": -code(t, a, "true") - 0.5 if ordered else code(t, a, "true")}

    return measure_toy(case, plant)


def _early_vs_end(case: ClaimCase, swapped: bool) -> float:
    """R_order (mean cosine: its negative) -0.8 at the early snapshot, -0.2 at the end; swapped: snapshots
    exchanged."""

    def plant(t: str, a: str, lab: str, seed: int) -> dict[str, float]:
        early, end = -0.8 - code(t, a, lab), -0.2 - code(t, a, lab)
        return {"early": end, "end": early} if swapped else {"early": early, "end": end}

    return measure_toy(case, plant)


def _shuffled_members(case: ClaimCase, swapped: bool) -> float:
    """Shuffled-label members end at -0.9 - code, true ones at -0.1 - code; swapped: labels exchanged."""

    def plant(t: str, a: str, lab: str, seed: int) -> dict[str, float]:
        shuffled = (lab == "shuffled") != swapped
        return {"end": (-0.9 if shuffled else -0.1) - code(t, a, "true")}

    return measure_toy(case, plant)


def _mean_cos_end(case: ClaimCase, swapped: bool) -> float:
    """True-label members collapse (mean cosine 0.5 + code), shuffled ones do not (-code of the shuffled member
    is planted as R_order, i.e. mean cosine code); swapped: labels exchanged."""

    def plant(t: str, a: str, lab: str, seed: int) -> dict[str, float]:
        collapsed = (lab == "true") != swapped
        return {"end": -(0.5 + code(t, a, "true")) if collapsed else -code(t, a, "true")}

    return measure_toy(case, plant)


def _accuracy(case: ClaimCase, swapped: bool) -> float:
    """lin members fit (0.97 - code), ffn members do not (0.3); swapped: the architectures exchanged."""

    def plant(t: str, a: str, lab: str, seed: int) -> dict[str, float]:
        fits = (a == "lin") != swapped
        return {"acc": 0.97 - code(t, "lin", lab) if fits else 0.3}

    return measure_toy(case, plant)


FAST = np.array([0.0, -1.0, -1.0, -1.0, -1.0])  # crosses -0.5 at step 5 (half-way from 0 to 10)
SLOW = np.array([0.0, 0.0, 0.0, -1.0, -1.0])  # crosses -0.5 at step 25


def _time_ratio(case: ClaimCase, swapped: bool) -> float:
    """f_add orders fast, the slow task (f~add) slowly; swapped: the two curves exchanged."""

    def plant(t: str, a: str, lab: str, seed: int) -> dict[str, np.ndarray]:
        fast = (t == "f_add") != swapped
        return {"curve": FAST if fast else SLOW}

    return measure_toy(case, plant)


def _ring_embedding(n: int) -> np.ndarray:
    """n label rows on a circle (label i at angle 2 pi i / n), padded to width D."""
    ang = 2 * np.pi * np.arange(n) / n
    return np.column_stack([np.cos(ang), np.sin(ang), np.zeros((n, D - 2))])


def _line_embedding(n: int) -> np.ndarray:
    """n label rows along a line at a slant (cosines fall with label distance, no wrap-around)."""
    return np.column_stack([np.linspace(-1, 1, n), np.full(n, 0.3), np.zeros((n, D - 2))])


def _label_rows(
    embed: Callable[[np.ndarray], np.ndarray], other: Callable[[np.ndarray], np.ndarray] | None
) -> Callable[[bool], Plant]:
    """A plant giving the true-label members' W^U label rows ``embed(label values)`` and the shuffled ones'
    ``other(values)`` (random rows where None); swapped in the returned plant: the two exchanged."""

    def plant_for(swapped: bool) -> Plant:
        def plant(t: str, a: str, lab: str, seed: int) -> dict[str, np.ndarray]:
            values = TaskSpec(t).label_domain
            wu = np.random.default_rng(seed).normal(size=(N_LABELS, D))
            fn = embed if (lab == "true") != swapped else other
            if fn is not None:
                wu[values - int(train.LABEL_ROWS[0])] = fn(values)
            return {"wu": wu}

        return plant

    return plant_for


_RING = _label_rows(lambda v: _ring_embedding(len(v)), lambda v: _line_embedding(len(v)))


def _ring(case: ClaimCase, swapped: bool) -> float:
    """True-label members' W^U label rows lie on a ring, shuffled ones' on a line; swapped: labels exchanged."""
    return measure_toy(case, _RING(swapped))


def _arc_angles(values: np.ndarray) -> np.ndarray:
    """A quarter circle, label value mapped linearly onto the angle."""
    v = np.asarray(values, dtype=float)
    return 0.5 * np.pi * (v - v.min()) / (v.max() - v.min())


def _arc_embedding(values: np.ndarray) -> np.ndarray:
    ang = _arc_angles(values)
    return np.column_stack([np.cos(ang), np.sin(ang), np.zeros((len(ang), D - 2))])


_ARC = _label_rows(_arc_embedding, None)


def _label_order(case: ClaimCase, swapped: bool) -> float:
    """True-label members' W^U label rows lie on a quarter arc in label order, shuffled ones' are random; swapped:
    labels exchanged."""
    return measure_toy(case, _ARC(swapped))


def _arc_r_order_closed_form(values: np.ndarray) -> float:
    """R_order of points on an arc: cos between labels i, j is cos(angle_i - angle_j) exactly; Pearson (scipy)
    with |value_i - value_j| over pairs i < j."""
    ang, v = _arc_angles(values), np.asarray(values, dtype=float)
    i, j = np.triu_indices(len(v), k=1)
    return float(stats.pearsonr(np.cos(ang[i] - ang[j]), np.abs(v[i] - v[j])).statistic)


def _ring_margin_closed_form(n: int) -> float:
    """Ring margin of n labels on a circle: cos between labels i, j is cos(2 pi (i - j) / n) exactly; Pearson
    correlation (scipy) of those over pairs i < j with -d_circ minus with -d_lin."""
    i, j = np.triu_indices(n, k=1)
    cos = np.cos(2 * np.pi * (i - j) / n)
    d_lin = (j - i).astype(float)
    d_circ = np.minimum(d_lin, n - d_lin)
    return float(stats.pearsonr(cos, -d_circ).statistic - stats.pearsonr(cos, -d_lin).statistic)


N_TOKENS, N_CONTEXT = 24, 12  # synthetic LM: top tokens, signature columns


OWN_SIG = (
    np.random.default_rng(11).uniform(0.0, 1.0, size=(N_TOKENS, N_CONTEXT)) ** 3
)  # positive, uneven rows
OTHER_SIG = np.random.default_rng(12).uniform(0.0, 1.0, size=(N_TOKENS, N_CONTEXT)) ** 3  # another corpus's


def _lm_run(seed: int, swapped: bool, corpora: list[str], exchange_corpora: bool = False) -> dict[str, Any]:
    """A canned LM run whose trained W^E rows are its tokens' phi^next rows (cos(W^E) = cos(phi^next), R_cos 1)
    and whose init rows are random, with ``OTHER_SIG`` as every other corpus's phi^next over the same tokens;
    swapped: the init and trained rows exchanged; exchange_corpora: the own and other signatures exchanged."""
    rand = np.random.default_rng(seed).normal(size=(N_TOKENS, N_CONTEXT))
    trained, init = (rand, OWN_SIG) if swapped else (OWN_SIG, rand)
    own, other = (OTHER_SIG, OWN_SIG) if exchange_corpora else (OWN_SIG, OTHER_SIG)
    return {
        "data_seed": seed,
        "corpus_bytes": 1000,
        "corpus_tokens": 500,
        "vocab_size": N_TOKENS,
        "steps": 10,
        "tokens_seen": 5000,
        "train_seconds": 1.0,
        "n_params": 100,
        "loss": np.linspace(5.0, 2.0, 20),
        "WE/final": trained,
        "WE/init": init,
        "phi_next": own,
        "token_counts": np.arange(N_TOKENS, 0, -1) * 10.0,
        "tokens": np.array([f"t{i}" for i in range(N_TOKENS)]),
        **{f"cross_phi_next/{c}": other for c in corpora},
        **{f"cross_counts/{c}": np.full(N_TOKENS, 100) for c in corpora},
    }


def _measure_lm(case: ClaimCase, swapped: bool, exchange_corpora: bool = False) -> float:
    settings = study_settings("signature", "smoke")
    corpora = list(settings["lm"]["corpora"])
    ctx = CannedRuns(settings, lambda name, config, seed: _lm_run(seed, swapped, corpora, exchange_corpora))
    ctx.profile = "smoke"  # type: ignore[attr-defined]  # lm_evidence maps the paper's corpora onto the smoke ones
    return median_measured(lm_evidence(case, ctx))


def _lm_alignment(case: ClaimCase, swapped: bool) -> float:
    """P8 / P8-freq (embedding): R_cos of the trained W^E with phi^next, raw or after regressing both sides on the
    same frequency covariates, is 1 by construction (identical matrices, identical residuals); swapped: init and
    trained rows exchanged (an evidence function reading the init rows would give that value)."""
    return _measure_lm(case, swapped)


def _specificity(case: ClaimCase, swapped: bool) -> float:
    """P8-specific (embedding): own R_cos (1) minus the other corpus's; swapped: own and other signatures
    exchanged, so a margin computed as other - own gives the expected value there."""
    return _measure_lm(case, False, exchange_corpora=swapped)


def _specificity_closed_form() -> float:
    """1 - Pearson (scipy) of the two signatures' cosines over token pairs i < j (cosines by hand)."""
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (OWN_SIG, OTHER_SIG)]
    i, j = np.triu_indices(N_TOKENS, k=1)
    own, other = ((u @ u.T)[i, j] for u in unit)
    return float(1.0 - stats.pearsonr(own, other).statistic)


DIGIT_VALUES = np.arange(10)


def _digits(case: ClaimCase, swapped: bool, arc_side: str) -> float:
    """P11 digits: the ``arc_side`` rows ("WE" or "phi_tilde") of the ten digits lie on a quarter arc in digit
    order, the other side's are random positive rows; swapped: the two sides exchanged (an evidence function
    reading the other matrix would give the expected value there)."""
    arc = _arc_embedding(DIGIT_VALUES)
    rand = np.random.default_rng(5).uniform(0.1, 1.0, size=arc.shape)
    sides = {"WE": rand, "phi_tilde": rand}
    sides[arc_side] = arc
    if swapped:
        sides = {"WE": sides["phi_tilde"], "phi_tilde": sides["WE"]}
    run = {
        "model_sha": "canned",
        "corpus_bytes": 1000,
        "corpus_tokens": 500,
        "digits/WE": sides["WE"],
        "digits/phi_tilde": sides["phi_tilde"],
        "digits/counts": np.full(10, 50),
    }
    settings = study_settings("signature", "smoke")
    settings = {**settings, "pretrained": {**settings["pretrained"], "model": "canned"}}  # smoke loads none
    return median_measured(pretrained_evidence(case, CannedRuns(settings, lambda name, config, seed: run)))


def _digit_we(case: ClaimCase, swapped: bool) -> float:
    return _digits(case, swapped, "WE")


def _digit_tilde(case: ClaimCase, swapped: bool) -> float:
    return _digits(case, swapped, "phi_tilde")


def _rows_with_cosines(x: np.ndarray) -> np.ndarray:
    """Square rows whose cosine matrix is that of the rows of ``x`` (eigendecomposition of their Gram matrix)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    lam, vec = np.linalg.eigh(unit @ unit.T)
    return vec * np.sqrt(np.clip(lam, 0.0, None))


def _key_rows(when: str) -> Callable[[bool], Plant]:
    """True-label members' anchor rows at ``when`` ("final" or "early") have exactly the cosines of their own
    dataset's key signature rows, the other snapshot's are random; swapped: the two snapshots exchanged."""

    def plant_for(swapped: bool) -> Plant:
        def plant(t: str, a: str, lab: str, seed: int) -> dict[str, np.ndarray]:
            if lab != "true":
                return {}
            sig = dataset_signatures(
                t, 100, seed
            )  # the data the evidence recomputes (n_samples 100, data seed)
            other = "early" if when == "final" else "final"
            return {f"we_{other if swapped else when}": _rows_with_cosines(sig[sig["key"]].astype(float))}

        return plant

    return plant_for


def _key_end(case: ClaimCase, swapped: bool) -> float:
    """P6 (end): R_cos of the final anchor rows with the key signature is 1 by construction."""
    return measure_toy(case, _key_rows("final")(swapped))


def _key_early(case: ClaimCase, swapped: bool) -> float:
    """P6-e120: R_cos of the early-snapshot anchor rows with the key signature is 1 by construction."""
    return measure_toy(case, _key_rows("early")(swapped))


def _toy(metric: str, what: str, fn: Callable[[ClaimCase, bool], float], expected: float) -> OrientationCheck:
    return OrientationCheck("signature/toy", metric, what, fn, expected=expected, atol=1e-6)


# Expected values by hand from the plants above (code(f_add, lin) = 0, code(f_tadd, lin) = 0.1,
# code(f_mod, lin) = 0.2 with TASKS = (f_add, f_tadd, f_mod)); the first claim case of each metric is named.
CHECKS = (
    # P2 (lin_f_add): R_order of the true-label members at the end
    _toy("r_order_final", "true- and shuffled-label members exchanged", _r_order_end, -0.5),
    # P2-e120 (lin_f_add): R_order at the early snapshot
    _toy("r_order_early", "early and end snapshots exchanged", _early_vs_end, -0.8),
    # P2-shuffled-tadd (lin_f_tadd): R_order of the shuffled-label members
    _toy("r_order_shuffled_final", "true- and shuffled-label members exchanged", _shuffled_members, -1.0),
    # P3 (lin_f_mod): mean anchor cosine at the end
    _toy("mean_anchor_cos_final", "true- and shuffled-label members exchanged", _mean_cos_end, 0.7),
    # P3-e120 (lin_f_mod): mean anchor cosine (the negated plant) at the early snapshot: 0.8 + 0.2
    _toy("mean_anchor_cos_early", "early and end snapshots exchanged", _early_vs_end, 1.0),
    # P1 (lin_f_add): final training accuracy of the judged architecture
    _toy("train_accuracy", "lin and ffn members exchanged", _accuracy, 0.97),
    # P4 (lin, slow f~add): steps to order on f~add over f_add = 25 / 5
    _toy("order_time_ratio", "f_add and slow-task curves exchanged (ratio inverted)", _time_ratio, 5.0),
    # P7-ring (lin_f_mod, 40 labels): a ring's margin, not a line's
    _toy(
        "ring_margin",
        "true- and shuffled-label members exchanged",
        _ring,
        _ring_margin_closed_form(len(TaskSpec("f_mod").label_domain)),
    ),
    # P8 / P8-freq (dm_mathematics, embedding): identical cosine matrices (and their identical residuals on the
    # same covariates) have Pearson correlation exactly 1
    *(
        OrientationCheck("signature/lm", m, "trained and init embedding rows exchanged", _lm_alignment, 1.0)
        for m in ("r_cos_lm", "partial_r_cos_lm")
    ),
    # P8-specific (dm_mathematics, embedding): own minus best other corpus's R_cos
    OrientationCheck(
        "signature/lm",
        "specificity_margin",
        "own and other corpus signatures exchanged",
        _specificity,
        _specificity_closed_form(),
    ),
    # P7-order (lin_f_add): R_order of the W^U label rows over the label values
    _toy(
        "r_order_unembedding",
        "true- and shuffled-label members exchanged",
        _label_order,
        _arc_r_order_closed_form(TaskSpec("f_add").label_domain),
    ),
    # P11-digits / P11-digits-tilde: R_order of the digit embedding rows, and of their phi~ rows
    *(
        OrientationCheck(
            "signature/pretrained",
            metric,
            "digit embedding and phi~ rows exchanged",
            fn,
            _arc_r_order_closed_form(DIGIT_VALUES),
        )
        for metric, fn in (("digit_r_order", _digit_we), ("digit_r_order_tilde", _digit_tilde))
    ),
    # P6 / P6-e120 (lin_f_add): R_cos of the anchor rows with the key signature, at the end and at the snapshot
    _toy("r_cos_key_signature", "end and early anchor rows exchanged", _key_end, 1.0),
    _toy("r_cos_key_signature_early", "end and early anchor rows exchanged", _key_early, 1.0),
)
