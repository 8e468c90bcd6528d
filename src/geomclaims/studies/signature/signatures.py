"""Probability signatures of paper P (Sec. 4; App. B.1 for the addition tasks; Sec. 6 for language models).

Three independent routes, deliberately kept apart so they can check each other:

* :func:`empirical` — vectorised counting on a dataset ``(X, y)`` (``np.bincount`` over within-sequence token
  pairs). This is what the experiments use: the signature of the training set the model actually saw.
* :func:`enumerate_exact` — ground truth: plain loops over every support point (z, a1, a2) of a task's sampling
  distribution with its probability, applying the definitions of Sec. 4 literally. Slow, obviously correct, and
  written without any of the counting code.
* ``printed_*`` — the closed forms as printed in App. B.1, transcribed literally (typos included). Where they
  disagree with the enumeration we do NOT change either side: the disagreement is pinned in the unit tests and
  listed in the report as a paper-text finding (see :func:`compare_printed`).

Conventions (pinned; the paper does not state them):

* "x in X" is *membership* by default, so a sequence [z, a, a] contains ``a`` once. This is what the experiments'
  empirical signatures use. The exact enumeration also offers *occurrence* counting (``counting="occurrence"``):
  every occurrence counts, so [z, a, a] weighs ``a`` twice, both as the condition and as the target. That is the
  convention Prop. 1 implies, since the gradient of the loss w.r.t. W^E_a sums over the positions holding a. App.
  B.1's printed forms are judged under occurrence counting, with membership shown beside (:func:`compare_printed`).
* A signature row whose condition has probability zero (a token that never occurs) is all zeros.
* Membership signatures (phi^X, phi^{X|y}, varphi^X) are vectors of probabilities, not distributions: a row sums
  to the expected number of distinct tokens in X. Restricted to the *key block* (columns z in the key domain) a row
  is a distribution, because every sequence holds exactly one key and keys never coincide with anchors. The key
  block is also the only part App. B.1 prints for phi^X, and the part Fig. 1A plots; the anchor block of row
  alpha holds the trivial self-membership P(alpha in X | alpha in X) = 1, which differs between anchors by
  construction. Claims on phi^X and phi^{X|y} therefore use the key block (``key_block``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tasks import VOCAB_SIZE, TaskSpec

# --------------------------------------------------------------------------------------------------------------
# Empirical signatures: vectorised counting
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signatures:
    """All signatures of one dataset over a vocabulary of size V.

    phi_y[x, nu] = P(y = nu | x in X); phi_X[x, x'] = P(x' in X | x in X); varphi_X[nu, x] = P(x in X | y = nu);
    phi_Xy[k, nu, x'] = P(x' in X | rows[k] in X, y = nu) for the requested condition tokens ``rows``.
    r_in[x] = P(x in X) and r_out[nu] = P(y = nu) (the paper's r^in and r^out).
    """

    phi_y: np.ndarray
    phi_X: np.ndarray
    varphi_X: np.ndarray
    phi_Xy: np.ndarray
    rows: tuple[int, ...]
    r_in: np.ndarray
    r_out: np.ndarray


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den along the leading axes, 0 where den == 0 (a condition that never occurs gives a zero row)."""
    out = np.zeros_like(num, dtype=np.float64)
    mask = den > 0
    out[mask] = num[mask] / den[mask][..., None] if num.ndim > den.ndim else num[mask] / den[mask]
    return out


def _distinct_mask(X: np.ndarray) -> np.ndarray:
    """[n, L] bool: slot k holds a token not seen in an earlier slot of the same row (membership, not count)."""
    keep = np.ones(X.shape, dtype=bool)
    for k in range(1, X.shape[1]):
        keep[:, k] = np.all(X[:, :k] != X[:, k : k + 1], axis=1)
    return keep


def empirical(
    X: np.ndarray,
    y: np.ndarray,
    vocab_size: int = VOCAB_SIZE,
    rows: Sequence[int] = (),
    weights: np.ndarray | None = None,
) -> Signatures:
    """Signatures of the dataset ``(X [n, L], y [n])`` by counting. ``weights`` (default 1) weight the samples.

    Every count is a ``np.bincount`` over (row, slot) pairs of distinct tokens, O(n L^2); nothing is V-dense per
    sample. ``rows`` selects the condition tokens x of phi^{X|y} (a V x V matrix per token).
    """
    X = np.asarray(X, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be [n, L] and y [n]; got {X.shape} and {y.shape}")
    if X.min() < 0 or max(X.max(), y.max()) >= vocab_size:
        raise ValueError(
            f"tokens must lie in [0, {vocab_size}); got range [{X.min()}, {max(X.max(), y.max())}]"
        )
    V = vocab_size
    n, L = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = _distinct_mask(X)

    tok = X[keep]  # distinct (row, token) memberships, flattened
    row_of = np.broadcast_to(np.arange(n)[:, None], X.shape)[keep]
    w_tok = w[row_of]
    in_count = np.bincount(tok, weights=w_tok, minlength=V)
    out_count = np.bincount(y, weights=w, minlength=V)
    xy = np.bincount(tok * V + y[row_of], weights=w_tok, minlength=V * V).reshape(V, V)

    # co-membership counts over ordered pairs of distinct slots plus the diagonal (x' = x)
    pair_idx, pair_w = [], []
    for i, j in itertools.product(range(L), repeat=2):
        m = keep[:, i] & keep[:, j]
        pair_idx.append(X[m, i] * V + X[m, j])
        pair_w.append(w[m])
    co = np.bincount(np.concatenate(pair_idx), weights=np.concatenate(pair_w), minlength=V * V).reshape(V, V)

    phi_y = _safe_divide(xy, in_count)
    phi_X = _safe_divide(co, in_count)
    varphi_X = _safe_divide(xy.T, out_count)

    rows = tuple(int(r) for r in rows)
    phi_Xy = np.zeros((len(rows), V, V))
    for k, r in enumerate(rows):
        has_r = np.any(X == r, axis=1)
        m = keep & has_r[:, None]
        idx = y[np.broadcast_to(np.arange(n)[:, None], X.shape)[m]] * V + X[m]
        num = np.bincount(idx, weights=w[np.nonzero(m)[0]], minlength=V * V).reshape(V, V)
        den = np.bincount(y[has_r], weights=w[has_r], minlength=V)
        phi_Xy[k] = _safe_divide(num, den)
    total = w.sum()
    return Signatures(phi_y, phi_X, varphi_X, phi_Xy, rows, in_count / total, out_count / total)


def key_block(sig_rows: np.ndarray, task: TaskSpec) -> np.ndarray:
    """Restrict the last axis of a membership signature to the key domain of ``task`` (see module docstring)."""
    return sig_rows[..., task.key_domain]


def task_signatures(X: np.ndarray, y: np.ndarray, task: str, weights: np.ndarray | None = None) -> dict:
    """The per-anchor signatures the claims use, from a dataset of ``task``.

    Returns ``phi_y`` [|A|, V], ``phi_X`` [|A|, |keys|] (key block), ``phi_Xy`` [|A|, V * |keys|] (key block,
    flattened over (nu, z)), ``varphi_X`` [|Y|, V] over the task's label domain, and ``key`` naming the signature
    the paper identifies as the driver of the anchor geometry in this task (Fig. 1A / Fig. 3).
    """
    spec = TaskSpec(task)
    anchors = np.asarray(spec.anchors)
    sig = empirical(X, y, rows=spec.anchors, weights=weights)
    phi_xy = key_block(sig.phi_Xy, spec)
    return {
        "phi_y": sig.phi_y[anchors],
        "phi_X": key_block(sig.phi_X[anchors], spec),
        "phi_Xy": phi_xy.reshape(len(anchors), -1),
        "varphi_X": sig.varphi_X[spec.label_domain],
        "r_anchor": sig.r_in[anchors],
        "r_label": sig.r_out[spec.label_domain],
        "key": KEY_SIGNATURE[task],
    }


def sampling_error(emp: dict, exact: dict) -> float:
    """How far a sample's signatures are from the exact ones: the largest, over phi^y, phi^X and varphi^X, of the
    probability-weighted mean total-variation distance between matching rows (weights = exact P(condition)).

    Weighting matters: a label seen a handful of times has a noisy row (max-entry error ~0.1 at 50k samples for
    f_add's rarest labels), but it also carries almost no weight in any gradient of Prop. 1/2.
    """
    out = []
    for key, w in (("phi_y", "r_anchor"), ("phi_X", "r_anchor"), ("varphi_X", "r_label")):
        tv = 0.5 * np.abs(emp[key] - exact[key]).sum(axis=1)
        out.append(float(np.sum(exact[w] * tv) / np.sum(exact[w])))
    return max(out)


KEY_SIGNATURE = {"f_add": "phi_y", "f_tadd": "phi_X", "f_mod": "phi_Xy"}
"""The signature that differs across anchors in each task (Sec. 5 bullets, Fig. 1A caption)."""


# --------------------------------------------------------------------------------------------------------------
# Ground truth: enumeration of the support with probabilities
# --------------------------------------------------------------------------------------------------------------


COUNTINGS = ("membership", "occurrence")


def enumerate_exact(task: str, vocab_size: int = VOCAB_SIZE, counting: str = "membership") -> Signatures:
    """Exact signatures of ``task`` by looping over every support point and applying the Sec. 4 definitions.

    Independent of :func:`empirical`: builds joint probabilities P(x in X, ...) in dictionaries and divides.
    """
    spec = TaskSpec(task)
    A, K = spec.anchors, spec.keys
    support: list[tuple[tuple[int, ...], int, float]] = []
    p = 1.0 / (len(A) * len(A) * len(K))
    for k, a1, a2 in itertools.product(K, A, A):
        if task == "f_tadd":
            y, z = k, k - a1 - a2
        else:
            z = k
            y = int(spec.label(np.asarray(z), np.asarray(a1), np.asarray(a2)))
        support.append(((z, a1, a2), y, p))
    return exact_from_support(support, vocab_size, rows=A, counting=counting)


def exact_from_support(
    support: Sequence[tuple[tuple[int, ...], int, float]],
    vocab_size: int,
    rows: Sequence[int] = (),
    counting: str = "membership",
) -> Signatures:
    """Signatures of a distribution given as ``(sequence, label, probability)`` support points (plain loops).

    ``counting="membership"``: a token in a sequence counts once; ``"occurrence"``: it counts as often as it occurs
    (condition and target alike), so probabilities become expected counts, e.g. phi^X[x, x'] = E[c_x c_x'] / E[c_x].
    """
    if counting not in COUNTINGS:
        raise ValueError(f"counting must be one of {COUNTINGS}, not {counting!r}")
    p_in: dict[int, float] = defaultdict(float)
    p_y: dict[int, float] = defaultdict(float)
    p_in_y: dict[tuple[int, int], float] = defaultdict(float)
    p_in_in: dict[tuple[int, int], float] = defaultdict(float)
    p_in_in_y: dict[tuple[int, int, int], float] = defaultdict(float)
    total = 0.0
    for seq, y, pr in support:
        mult = {x: (seq.count(x) if counting == "occurrence" else 1) for x in set(seq)}
        total += pr
        p_y[y] += pr
        for x, cx in mult.items():
            p_in[x] += pr * cx
            p_in_y[x, y] += pr * cx
            for x2, cx2 in mult.items():
                p_in_in[x, x2] += pr * cx * cx2
                p_in_in_y[x, y, x2] += pr * cx * cx2

    V = vocab_size
    phi_y = np.zeros((V, V))
    phi_X = np.zeros((V, V))
    varphi = np.zeros((V, V))
    for (x, y), pr in p_in_y.items():
        phi_y[x, y] = pr / p_in[x]
        varphi[y, x] = pr / p_y[y]
    for (x, x2), pr in p_in_in.items():
        phi_X[x, x2] = pr / p_in[x]
    rows = tuple(int(r) for r in rows)
    phi_Xy = np.zeros((len(rows), V, V))
    for (x, y, x2), pr in p_in_in_y.items():
        if x in rows:
            phi_Xy[rows.index(x), y, x2] = pr / p_in_y[x, y]
    r_in = np.zeros(V)
    r_out = np.zeros(V)
    for x, pr in p_in.items():
        r_in[x] = pr / total
    for y, pr in p_y.items():
        r_out[y] = pr / total
    return Signatures(phi_y, phi_X, varphi, phi_Xy, rows, r_in, r_out)


# --------------------------------------------------------------------------------------------------------------
# The closed forms as printed in App. B.1 (literal transcription)
# --------------------------------------------------------------------------------------------------------------


def _pmf_sum(*supports: Sequence[int]) -> dict[int, float]:
    """pmf of a sum of independent uniform variables on the given supports."""
    pmf = {0: 1.0}
    for s in supports:
        nxt: dict[int, float] = defaultdict(float)
        for v, pv in pmf.items():
            for u in s:
                nxt[v + u] += pv / len(s)
        pmf = dict(nxt)
    return pmf


def _pmf_sum_mod(m: int, *supports: Sequence[int]) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for v, pv in _pmf_sum(*supports).items():
        out[v % m] += pv
    return dict(out)


@dataclass(frozen=True)
class Printed:
    """App. B.1's printed values on the blocks it covers, laid out like :class:`Signatures`.

    ``phi_y`` [|A|, V]; ``phi_X_keys`` [|A|, V] (only key columns filled); ``phi_Xy_keys`` and ``phi_Xy_anchors``
    [|A|, V, V] (columns z resp. alpha' filled, for every label nu in the task's label domain); ``varphi_keys`` and
    ``varphi_anchors`` [V, V] (rows nu in the label domain).
    """

    phi_y: np.ndarray
    phi_X_keys: np.ndarray
    phi_Xy_keys: np.ndarray
    phi_Xy_anchors: np.ndarray
    varphi_keys: np.ndarray
    varphi_anchors: np.ndarray


def printed_closed_forms(task: str, vocab_size: int = VOCAB_SIZE) -> Printed:
    """Evaluate the App. B.1 formulas for ``task`` literally, with A ~ U(A), Z ~ U(Z), Y ~ U(Y) independent.

    Transcription notes (kept literal on purpose; :func:`compare_printed` measures the consequences):
    f_add / f_tadd use P(A + Z = nu - alpha), P(A + A = nu - z) with *one* uniform anchor (or two i.i.d.), no
    normalisation by P(y = nu); f_mod's P(z in X | alpha in X, y = nu) tests ``nu - min Z - (alpha - z mod |Z|)``
    (a minus sign on z) against ``A mod |Z|``. Every f_mod equality/membership is read modulo |Z| (both sides
    reduced): the printed right-hand sides are residues compared with un-reduced expressions, and a value equal up
    to a multiple of |Z| is the same residue, not a paper error (issue #24 item 1).
    """
    spec = TaskSpec(task)
    A, K = list(spec.anchors), list(spec.keys)
    V = vocab_size
    nA, nZ = len(A), len(K)
    zmin = min(K)
    labels = spec.label_domain
    keys = spec.key_domain
    phi_y = np.zeros((nA, V))
    phi_X = np.zeros((nA, V))
    phi_Xy_k = np.zeros((nA, V, V))
    phi_Xy_a = np.zeros((nA, V, V))
    var_k = np.zeros((V, V))
    var_a = np.zeros((V, V))
    p_az = _pmf_sum(A, K)  # P(A + Z = .)
    p_aa = _pmf_sum(A, A)  # P(A + A = .)
    if task == "f_add":
        for i, a in enumerate(A):
            for nu in labels:
                phi_y[i, nu] = p_az.get(nu - a, 0.0)
                for z in keys:
                    phi_Xy_k[i, nu, z] = (1.0 / nA) * ((nu - a - z) in A)
                for a2 in A:
                    phi_Xy_a[i, nu, a2] = (1.0 / nZ) * ((nu - a - a2) in K)
            phi_X[i, keys] = 1.0 / nZ
        for nu in labels:
            for z in keys:
                var_k[nu, z] = p_aa.get(nu - z, 0.0)
            for a in A:
                var_a[nu, a] = p_az.get(nu - a, 0.0)
    elif task == "f_tadd":
        p_ya = _pmf_sum(K, [-a for a in A])  # P(Y - A = .), Y ~ U(Y) with Y = Z in the paper
        for i, a in enumerate(A):
            phi_y[i, labels] = 1.0 / len(labels)
            for z in keys:
                phi_X[i, z] = p_ya.get(z + a, 0.0)
            for nu in labels:
                for z in keys:
                    phi_Xy_k[i, nu, z] = (1.0 / nA) * ((nu - a - z) in A)
                phi_Xy_a[i, nu, A] = 1.0 / nZ
        for nu in labels:
            for z in keys:
                var_k[nu, z] = p_aa.get(nu - z, 0.0)
            for a in A:
                var_a[nu, a] = p_az.get(nu - a, 0.0)
    else:  # f_mod
        a_mod = {a % nZ for a in A}
        p_aa_mod = _pmf_sum_mod(nZ, A, A)  # P((A + A) mod |Z| = .)
        p_az_mod = _pmf_sum_mod(nZ, A, K)  # P((A + Z) mod |Z| = .)
        for i, a in enumerate(A):
            phi_y[i, labels] = 1.0 / nZ
            phi_X[i, keys] = 1.0 / nZ
            for nu in labels:
                for z in keys:
                    # residues: both sides of the printed membership are read modulo |Z|
                    phi_Xy_k[i, nu, z] = (1.0 / nA) * (((nu - zmin - ((a - z) % nZ)) % nZ) in a_mod)
                phi_Xy_a[i, nu, A] = 1.0 / nZ
        for nu in labels:
            for z in keys:
                var_k[nu, z] = p_aa_mod.get((nu - zmin - (z % nZ)) % nZ, 0.0)
            for a in A:
                var_a[nu, a] = p_az_mod.get((nu - zmin - (a % nZ)) % nZ, 0.0)
    return Printed(phi_y, phi_X, phi_Xy_k, phi_Xy_a, var_k, var_a)


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of matching rows; rows that are zero in both count as 1, a zero row on one side only as 0."""
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    both_zero = (na == 0) & (nb == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.sum(a * b, axis=-1) / (na * nb)
    return np.where(both_zero, 1.0, np.nan_to_num(c, nan=0.0))


def compare_printed(task: str, counting: str = "membership") -> dict[str, dict[str, float | bool]]:
    """Printed App. B.1 forms vs the enumeration under ``counting``, per block: max |difference|, min row cosine,
    equal support.

    ``equal`` means equal to 1e-12; ``proportional`` means every row has cosine 1 (the printed form differs only
    by a per-row factor, which leaves every cosine-based claim unchanged).
    """
    spec = TaskSpec(task)
    exact = enumerate_exact(task, counting=counting)
    pr = printed_closed_forms(task)
    A = np.asarray(spec.anchors)
    keys = spec.key_domain
    labels = spec.label_domain
    blocks = {
        "phi_y": (pr.phi_y[:, labels], exact.phi_y[A][:, labels]),
        "phi_X[keys]": (pr.phi_X_keys[:, keys], exact.phi_X[A][:, keys]),
        "phi_Xy[keys]": (pr.phi_Xy_keys[:, labels][:, :, keys], exact.phi_Xy[:, labels][:, :, keys]),
        "phi_Xy[anchors]": (pr.phi_Xy_anchors[:, labels][:, :, A], exact.phi_Xy[:, labels][:, :, A]),
        "varphi[keys]": (pr.varphi_keys[labels][:, keys], exact.varphi_X[labels][:, keys]),
        "varphi[anchors]": (pr.varphi_anchors[labels][:, A], exact.varphi_X[labels][:, A]),
    }
    out: dict[str, dict[str, float | bool]] = {}
    for name, (p, e) in blocks.items():
        if name.startswith("phi_Xy"):
            # rows nu with P(alpha in X, y = nu) = 0 are undefined in the paper; compare defined rows only
            defined = exact.phi_Xy[:, labels].sum(axis=-1) > 0
            p, e = p[defined], e[defined]
        cos = _row_cosines(p, e)
        out[name] = {
            "max_abs_diff": float(np.max(np.abs(p - e))),
            "min_row_cos": float(np.min(cos)),
            "equal": bool(np.allclose(p, e, atol=1e-12, rtol=0)),
            "proportional": bool(np.all(cos > 1 - 1e-9)),
            "same_support": bool(np.array_equal(p > 0, e > 0)),
        }
    return out


def printed_findings(task: str) -> dict[str, dict[str, Any]]:
    """Both conventions per printed block, and whether the block is a paper error: it is one only when it is not
    exactly equal to the enumeration under occurrence counting (the convention of Prop. 1's gradient)."""
    by = {c: compare_printed(task, c) for c in COUNTINGS}
    return {
        block: {
            "membership": by["membership"][block],
            "occurrence": by["occurrence"][block],
            "paper_error": not by["occurrence"][block]["equal"],
        }
        for block in by["occurrence"]
    }


# --------------------------------------------------------------------------------------------------------------
# Language-model signatures (Sec. 6, eq. 4)
# --------------------------------------------------------------------------------------------------------------


def bigram_signatures(
    docs: Sequence[np.ndarray], vocab_size: int, rows: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """phi^next_s = P(X_{t+1} = . | X_t = s) and varphi^pre_s = P(X_t = . | X_{t+1} = s), for s in ``rows``.

    Counted over adjacent pairs inside each document (a document boundary is not a transition). Each row is a
    distribution over the whole vocabulary (a token never seen in that position gets a zero row). Returns two
    ``[len(rows), vocab_size]`` arrays. Counting is one ``np.bincount`` over pair codes (rows x V), so it never builds a V x V matrix.
    """
    V = int(vocab_size)
    prev = np.concatenate([np.asarray(d[:-1], dtype=np.int64) for d in docs if len(d) > 1])
    nxt = np.concatenate([np.asarray(d[1:], dtype=np.int64) for d in docs if len(d) > 1])
    rows = np.asarray(rows, dtype=np.int64)
    pos = np.full(V, -1, dtype=np.int64)
    pos[rows] = np.arange(rows.size)
    out = []
    for cond, other in ((prev, nxt), (nxt, prev)):
        sel = pos[cond] >= 0
        m = np.bincount(pos[cond[sel]] * V + other[sel], minlength=rows.size * V).reshape(rows.size, V)
        m = m.astype(np.float64)
        tot = m.sum(axis=1, keepdims=True)
        out.append(np.divide(m, tot, out=np.zeros_like(m), where=tot > 0))
    return out[0], out[1]
