"""The verdict rule: samples of a claim's metric (one per seed) + the null's samples -> a :class:`Decision`.

A verdict must not hinge on the CPU or on the seed list, so every comparison is made on an interval, not on a
point estimate.

**Aggregate and CI** (:mod:`geomclaims.summaries`): median or mean over seeds with a 95% percentile bootstrap CI
over the seeds, or a two-stage CI when the seeds share a data sample (``replicates``).

**Paper condition on the CI.** ``holds`` when the whole CI satisfies the condition, ``fails`` when the whole CI
violates it, otherwise ``undecided`` (``approx`` and ``between``: CI inside the accepted interval vs disjoint from it).

**The null.** With null samples (``below_quantile`` / ``above_quantile`` with ``q``) the measurement *beats* the
null when the whole CI lies beyond the null's ``q`` quantile AND a one-sided Mann-Whitney U test of measured vs
null samples (``scipy.stats.mannwhitneyu``) gives p < ``MWU_ALPHA``. It is *decisively no better* when the whole CI
lies on the wrong side of the null median (a CI containing the null median is never trivial). The null *satisfies
the paper* when at least ``NULL_SATISFIES_FRACTION`` of its draws meet the paper condition. With ``ci_above`` /
``ci_below`` and a value v: beats when the whole CI is beyond v; decisively not when the whole CI is on the other
side of v or touches it; a CI straddling v is undecided.

**Verdict order.** (A precondition unmet -> ``untestable`` and a budget deferral -> ``not_run`` are decided by the
runner before this module is reached.) condition fails while the null reliably meets it (an alternative that
does what the claim says when the measurement does not) -> ``trivial``; condition fails -> ``not_replicated``;
condition undecided ->
``inconclusive``; holds and ``kind: verified`` -> ``verified``; holds and no null -> ``replicated``; the null
satisfies the paper -> ``trivial``; beats the null -> ``replicated``; decisively no better -> ``trivial``; otherwise
``inconclusive``.

**Several controls, and controls that cannot fail.** One measurement read against several controls (sibling claims
linked by ``same_measurement_as``, :mod:`geomclaims.measurements`) takes the verdict of the strongest control,
:func:`strongest` (not_replicated > trivial > inconclusive > replicated > verified), with a joint stability over the
shared resamples (:func:`resample_verdicts`). A ``ci_above``/``ci_below`` null that the condition already implies
(:func:`null_is_implied`, e.g. ``> 1`` with a seed CI above 1) can never change a verdict: the tallies count such a
claim as ``no_control``.

**Enough runs.** ``median_over_seeds`` / ``mean_over_seeds`` need at least ``MIN_RUNS`` samples under the ``ci``
and ``full`` profiles (:class:`InsufficientRuns`); ``smoke`` only proves plumbing and is exempt.

**Stability.** The measured samples and the null draws are resampled with replacement ``STABILITY_RESAMPLES``
times (seeded) and the whole decision is recomputed on each resample; ``stability`` is the share of resamples that
give the reported verdict. Inside this loop the CI is a plain numpy percentile bootstrap with
``STABILITY_INNER_BOOT`` resamples (the same estimator as the main CI, fewer draws, vectorised over all resamples
at once) so a case costs a few tens of milliseconds.

Bad input is an error, never a verdict: NaN/inf raises :class:`NonFiniteEvidence`; bools, strings, bytes and
arrays that are not 1-D raise :class:`BadEvidence` (a 3x4 array is not 12 seeds). Same inputs -> bit-identical
output.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from geomclaims.claims_schema import Expect, NullSpec, Verdict
from geomclaims.summaries import BOOT_SEED as BOOT_SEED
from geomclaims.summaries import CI_LEVEL as CI_LEVEL
from geomclaims.summaries import N_BOOT as N_BOOT
from geomclaims.summaries import BadEvidence as BadEvidence
from geomclaims.summaries import Summary as Summary
from geomclaims.summaries import aggregate as aggregate
from geomclaims.summaries import as_replicates as as_replicates
from geomclaims.summaries import as_samples as as_samples
from geomclaims.summaries import bootstrap_ci as bootstrap_ci
from geomclaims.summaries import order_of, statistic
from geomclaims.summaries import summarize as summarize

# A null "satisfies the paper condition" when at least this share of its draws does. Not 0.5: a null centred on
# the paper's threshold (a permutation null of a correlation "> 0") would flip between trivial and not on noise.
NULL_SATISFIES_FRACTION = 0.9
MWU_ALPHA = 0.05
# Three seeds is the least that gives a seed CI wider than a point; fewer under ci/full is an error.
MIN_RUNS = 3
MIN_RUNS_PROFILES = ("ci", "full")
STABILITY_RESAMPLES = 200
STABILITY_INNER_BOOT = 200
STABILITY_SEED = 1
# The gate and the pytest plugin treat a verdict with stability below this as unstable (a flip is a warning).
STABLE = 0.9

_CODES: tuple[Verdict, ...] = (
    Verdict.NOT_REPLICATED,
    Verdict.INCONCLUSIVE,
    Verdict.VERIFIED,
    Verdict.REPLICATED,
    Verdict.TRIVIAL,
)
_NOT_REP, _INCONCL, _VERIFIED, _REP, _TRIVIAL = range(5)


class InsufficientRuns(ValueError):
    """A seed aggregate with fewer than ``MIN_RUNS`` samples under a judging profile."""


@dataclass(frozen=True)
class NullSummary:
    name: str
    median: float | None
    q025: float | None
    q975: float | None
    samples: tuple[float, ...]
    threshold: float | None = None  # the q quantile (quantile rules) or the value (ci rules)
    mwu_p: float | None = None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    measured: Summary
    paper_condition_met: bool | None  # None: the CI straddles the condition (undecided)
    null: NullSummary | None
    null_condition_met: bool | None  # the measurement beats the null by the claim's rule
    null_satisfies_paper: bool | None  # the null reliably meets the paper condition itself (-> trivial)
    explanation: str
    stability: float | None = None
    decisively_not_better: bool | None = None


# ----------------------------------------------------------------------------------------------------------
# The rule, vectorised over resamples (row b = one resample; the main decision is a single row)
# ----------------------------------------------------------------------------------------------------------


def _holds(expect: Expect, x: np.ndarray) -> np.ndarray:
    v = expect.value
    if expect.op == "<":
        return x < v
    if expect.op == "<=":
        return x <= v
    if expect.op == ">":
        return x > v
    if expect.op == ">=":
        return x >= v
    a, b = _accepted_interval(expect)
    return (x >= a) & (x <= b)


def _accepted_interval(expect: Expect) -> tuple[float, float]:
    if expect.op == "between":
        lo, hi = expect.value  # type: ignore[misc]
        return float(lo), float(hi)
    tol = max(expect.abs or 0.0, (expect.rel or 0.0) * abs(float(expect.value)))  # type: ignore[arg-type]
    return float(expect.value) - tol, float(expect.value) + tol  # type: ignore[arg-type]


def condition_on_ci(expect: Expect, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(holds, fails) per row: the whole CI satisfies / the whole CI violates the paper condition."""
    if expect.op in ("between", "approx"):
        a, b = _accepted_interval(expect)
        return (lo >= a) & (hi <= b), (hi < a) | (lo > b)
    h_lo, h_hi = _holds(expect, lo), _holds(expect, hi)
    return h_lo & h_hi, ~h_lo & ~h_hi


@dataclass
class _Null:
    beats: np.ndarray
    decisively_not: np.ndarray
    satisfies: np.ndarray
    threshold: np.ndarray
    median: np.ndarray
    share: np.ndarray | None
    p: np.ndarray | None


def _null_rows(
    rule: NullSpec, expect: Expect, meas: np.ndarray, null: np.ndarray | None, lo: np.ndarray, hi: np.ndarray
) -> _Null:
    if rule.rule in ("ci_above", "ci_below"):
        v = float(rule.value)  # type: ignore[arg-type]
        full = np.full(lo.shape, v)
        never = np.zeros(lo.shape, dtype=bool)
        if rule.rule == "ci_above":
            return _Null(lo > v, hi <= v, never, full, full, None, None)
        return _Null(hi < v, lo >= v, never, full, full, None, None)
    assert null is not None
    threshold = np.quantile(null, rule.q, axis=1)
    median = np.median(null, axis=1)
    share = np.mean(_holds(expect, null), axis=1)
    below = rule.rule == "below_quantile"
    with warnings.catch_warnings():
        # A resample of identical values makes the test degenerate (p = nan -> not beating, as it should).
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.mannwhitneyu(meas, null, alternative="less" if below else "greater", axis=1).pvalue
    p = np.atleast_1d(np.asarray(p, dtype=float))
    significant = np.nan_to_num(p, nan=1.0) < MWU_ALPHA
    if below:
        beats, decisively_not = (hi < threshold) & significant, lo > median
    else:
        beats, decisively_not = (lo > threshold) & significant, hi < median
    return _Null(beats, decisively_not, share >= NULL_SATISFIES_FRACTION, threshold, median, share, p)


def _verdict_codes(
    expect: Expect,
    rule: NullSpec | None,
    kind: str,
    meas: np.ndarray,
    null: np.ndarray | None,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Null | None]:
    holds, fails = condition_on_ci(expect, lo, hi)
    if rule is None:
        success = _VERIFIED if kind == "verified" else _REP
        codes = np.select([fails, ~holds], [_NOT_REP, _INCONCL], default=success)
        return codes, holds, fails, None
    n = _null_rows(rule, expect, meas, null, lo, hi)
    codes = np.select(
        # A failing measurement whose null meets the condition is trivial, not a plain miss (issue #24 item 6):
        # the condition does not tell the claim's mechanism from the control, so failing it says nothing either.
        [fails & n.satisfies, fails, ~holds, n.satisfies, n.beats, n.decisively_not],
        [_TRIVIAL, _NOT_REP, _INCONCL, _TRIVIAL, _REP, _TRIVIAL],
        default=_INCONCL,
    )
    return codes, holds, fails, n


def _check_profile_runs(n: int, how: str, profile: str, claim_id: str) -> None:
    if how != "single" and profile in MIN_RUNS_PROFILES and n < MIN_RUNS:
        raise InsufficientRuns(
            f"claim {claim_id}: aggregate {how!r} over n={n} measured sample(s) under profile {profile!r}; "
            f"needs >= {MIN_RUNS} independent seeds (or aggregate: single with a single_reason)"
        )


def decide(
    measured_samples: Sequence[float] | np.ndarray,
    expect: Expect,
    null_samples: Sequence[float] | np.ndarray | None,
    rule: NullSpec | None,
    *,
    how: str = "median_over_seeds",
    kind: str = "paper",
    profile: str = "ci",
    claim_id: str = "?",
    stability: bool = True,
    replicates: Any = None,
) -> Decision:
    """Verdict for one claim case (see the module docstring for the rule). Bad or non-finite input raises.

    ``replicates``: optional (n, R) shared-data resamples of the measured samples (module docstring)."""
    measured = summarize(measured_samples, how, replicates)
    _check_profile_runs(measured.n, how, profile, claim_id)
    if kind == "verified" and rule is not None:
        raise ValueError(f"claim {claim_id}: kind 'verified' takes no null")
    null_arr: np.ndarray | None = None
    if rule is not None and rule.rule in ("below_quantile", "above_quantile"):
        if null_samples is None:
            raise ValueError(f"null '{rule.name}' with rule {rule.rule!r} needs null samples")
        null_arr = np.sort(as_samples(null_samples, f"null samples ({rule.name})"))
        if null_arr.size < 2:
            raise ValueError(f"null '{rule.name}' needs >= 2 samples for a quantile, got {null_arr.size}")
    elif rule is not None and null_samples is not None and np.asarray(null_samples, dtype=object).size:
        raise ValueError(f"null rule {rule.rule!r} takes no null samples")

    meas_arr = np.asarray(measured.samples)
    reps = None if measured.replicates is None else np.asarray(measured.replicates)
    order = order_of(meas_arr, reps)
    meas_sorted = meas_arr[order]
    reps_sorted = None if reps is None else reps[order]
    lo, hi = np.array([measured.ci[0]]), np.array([measured.ci[1]])
    codes, holds, fails, nrows = _verdict_codes(
        expect, rule, kind, meas_sorted[None, :], None if null_arr is None else null_arr[None, :], lo, hi
    )
    verdict = _CODES[int(codes[0])]
    null_summary = None
    if rule is not None:
        assert nrows is not None
        null_summary = NullSummary(
            name=rule.name,
            median=float(nrows.median[0]),
            q025=None if null_arr is None else float(np.quantile(null_arr, 0.025)),
            q975=None if null_arr is None else float(np.quantile(null_arr, 0.975)),
            samples=() if null_arr is None else tuple(as_samples(null_samples, "null samples").tolist()),
            threshold=float(nrows.threshold[0]),
            mwu_p=None if nrows.p is None else float(nrows.p[0]),
        )
    stab = (
        _stability(meas_sorted, null_arr, expect, rule, how, kind, int(codes[0]), reps_sorted)
        if stability
        else None
    )
    return Decision(
        verdict=verdict,
        measured=measured,
        paper_condition_met=True if holds[0] else (False if fails[0] else None),
        null=null_summary,
        null_condition_met=None if nrows is None else bool(nrows.beats[0]),
        null_satisfies_paper=None if nrows is None else bool(nrows.satisfies[0]),
        explanation=_explain(
            verdict, measured, expect, rule, nrows, how, 0 if null_arr is None else null_arr.size
        ),
        stability=stab,
        decisively_not_better=None if nrows is None else bool(nrows.decisively_not[0]),
    )


def _stability(
    meas: np.ndarray,
    null: np.ndarray | None,
    expect: Expect,
    rule: NullSpec | None,
    how: str,
    kind: str,
    code: int,
    reps: np.ndarray | None = None,
) -> float:
    """Share of (measured, null) resamples whose recomputed decision equals the reported verdict."""
    return float(np.mean(_resample_codes(meas, null, expect, rule, how, kind, reps) == code))


def _resample_codes(
    meas: np.ndarray,
    null: np.ndarray | None,
    expect: Expect,
    rule: NullSpec | None,
    how: str,
    kind: str,
    reps: np.ndarray | None = None,
) -> np.ndarray:
    """The verdict code of each of the ``STABILITY_RESAMPLES`` (measured, null) resamples. The measured resamples
    are drawn first from a fixed seed, so two controls of one measurement see the same measured resamples. With
    ``reps`` each resample's CI is the two-stage one (module docstring)."""
    rng = np.random.default_rng(STABILITY_SEED)
    b, n = STABILITY_RESAMPLES, meas.size
    pick = rng.integers(0, n, size=(b, n))
    rows = meas[pick]
    if reps is not None:
        dev = (reps - reps.mean(axis=1, keepdims=True))[pick]  # (b, n, R): each drawn seed's deviations
        inner_idx = rng.integers(0, n, size=(b, STABILITY_INNER_BOOT, n))
        col = rng.integers(0, reps.shape[1], size=(b, STABILITY_INNER_BOOT))
        vals = (
            np.take_along_axis(rows[:, None, :], inner_idx, axis=2)
            + dev[np.arange(b)[:, None, None], inner_idx, col[:, :, None]]
        )
        stat = statistic("mean_over_seeds" if how == "single" else how)(vals, axis=2)
        alpha = (1.0 - CI_LEVEL) / 2.0
        lo, hi = np.quantile(stat, [alpha, 1.0 - alpha], axis=1)
        flat = (np.ptp(rows, axis=1) == 0) & ~np.any(dev, axis=(1, 2))
        lo, hi = np.where(flat, rows[:, 0], lo), np.where(flat, rows[:, 0], hi)
    elif n == 1:
        lo = hi = rows[:, 0]
    else:
        inner = np.take_along_axis(
            rows[:, None, :], rng.integers(0, n, size=(b, STABILITY_INNER_BOOT, n)), axis=2
        )
        stat = statistic(how)(inner, axis=2)
        alpha = (1.0 - CI_LEVEL) / 2.0
        lo, hi = np.quantile(stat, [alpha, 1.0 - alpha], axis=1)
        # Identical resampled values: the CI is the value (as in the main decision).
        flat = np.ptp(rows, axis=1) == 0
        lo, hi = np.where(flat, rows[:, 0], lo), np.where(flat, rows[:, 0], hi)
    null_rows = (
        None if null is None else np.sort(null[rng.integers(0, null.size, size=(b, null.size))], axis=1)
    )
    codes, *_ = _verdict_codes(expect, rule, kind, rows, null_rows, lo, hi)
    return codes


# ----------------------------------------------------------------------------------------------------------
# Several controls of one measurement, and controls that cannot fail
# ----------------------------------------------------------------------------------------------------------

# The strongest control decides: an alternative explanation that accounts for the effect (trivial) beats a
# control the measurement does beat, and a control it cannot be told apart from (inconclusive) beats one it beats.
SKEPTICAL_ORDER: tuple[Verdict, ...] = (
    Verdict.NOT_REPLICATED,
    Verdict.TRIVIAL,
    Verdict.INCONCLUSIVE,
    Verdict.REPLICATED,
    Verdict.VERIFIED,
)


def strongest(verdicts: Iterable[Verdict | str]) -> Verdict:
    """The verdict of one measurement judged against several controls: the most sceptical reading."""
    vs = [Verdict(v) for v in verdicts]
    if not vs:
        raise ValueError("strongest(): no readings")
    return min(vs, key=SKEPTICAL_ORDER.index)


def resample_verdicts(
    measured_samples: Sequence[float] | np.ndarray,
    expect: Expect,
    null_samples: Sequence[float] | np.ndarray | None,
    rule: NullSpec | None,
    *,
    how: str = "median_over_seeds",
    kind: str = "paper",
    replicates: Any = None,
) -> list[Verdict]:
    """The verdict on each of the ``STABILITY_RESAMPLES`` stability resamples (the ones :func:`decide` scores).

    The measured resamples come first from a fixed seed, so the controls of one measurement are read on the same
    measured resamples and a joint stability (share of resamples where the strongest reading is unchanged) is
    well defined."""
    meas = as_samples(measured_samples, "measured samples")
    reps = None if replicates is None else as_replicates(replicates, meas.size)
    order = order_of(meas, reps)
    meas, reps = meas[order], None if reps is None else reps[order]
    null = None
    if rule is not None and rule.rule in ("below_quantile", "above_quantile"):
        null = np.sort(as_samples(null_samples, f"null samples ({rule.name})"))
    codes = _resample_codes(meas, null, expect, rule, how, kind, reps)
    return [_CODES[int(c)] for c in codes]


def null_is_implied(expect: Expect, rule: NullSpec | None) -> bool:
    """True when a ``ci_above`` / ``ci_below`` null can never change the verdict: whenever the whole CI meets the
    paper condition it also clears the null's value (e.g. condition ``> 1`` with null ``ci_above 1``, or ``>= 0.9``
    against chance ``ci_above 0.025``). Such a null is no control; the report labels the claim ``no control``.
    Quantile nulls have samples that can lie anywhere, so they are never implied."""
    if rule is None or rule.rule not in ("ci_above", "ci_below"):
        return False
    v = float(rule.value)  # type: ignore[arg-type]
    if expect.op in ("between", "approx"):
        lo, hi = _accepted_interval(expect)
    else:
        c = float(expect.value)  # type: ignore[arg-type]
        lo, hi = (c, np.inf) if expect.op in (">", ">=") else (-np.inf, c)
    # A CI inside [lo, hi] clears v when lo >= v (ci_above) or hi <= v (ci_below); equality is the measure-zero
    # case of a CI end exactly on the value, which would read inconclusive, not a control that fails.
    return lo >= v if rule.rule == "ci_above" else hi <= v


# ----------------------------------------------------------------------------------------------------------
# Explanations
# ----------------------------------------------------------------------------------------------------------


def smallest_mwu_p(n_measured: int, n_null: int) -> float:
    """Smallest one-sided p the exact Mann-Whitney test can give for these sample sizes (no ties): 1 / C(n+m, n).

    3 seeds against 3 null runs give 0.05, so such a comparison can never reach p < ``MWU_ALPHA``: the verdict is
    ``inconclusive`` by budget, and the explanation says so instead of hiding it.
    """
    from math import comb

    return 1.0 / comb(n_measured + n_null, n_measured)


def _explain(
    verdict: Verdict,
    m: Summary,
    expect: Expect,
    rule: NullSpec | None,
    nrows: _Null | None,
    how: str,
    n_null: int = 0,
) -> str:
    agg = {"median_over_seeds": "median", "mean_over_seeds": "mean", "single": "single value"}[how]
    ci = f"{agg} {m.value:.4g}, 95% CI [{m.ci[0]:.4g}, {m.ci[1]:.4g}], n={m.n}"
    if m.replicates is not None:
        ci += f" x {len(m.replicates[0])} shared-data resamples"
    cond = expect.describe()
    if verdict is Verdict.NOT_REPLICATED:
        return f"not replicated: the whole CI violates the paper condition {cond} ({ci})"
    if (
        verdict is Verdict.TRIVIAL
        and nrows is not None
        and rule is not None
        and nrows.share is not None
        and bool(condition_on_ci(expect, np.array(m.ci[:1]), np.array(m.ci[1:]))[1][0])
    ):
        return (
            f"trivial: the whole CI violates {cond} ({ci}), while {float(nrows.share[0]):.0%} of the draws of the "
            f"null '{rule.name}' meet it ({_null_text(rule, nrows)}): the condition does not separate the claim "
            "from its control"
        )
    if nrows is None or rule is None:
        if verdict is Verdict.INCONCLUSIVE:
            return f"inconclusive: the CI straddles the paper condition {cond} ({ci})"
        what = "verified" if verdict is Verdict.VERIFIED else "replicated"
        return f"{what}: the whole CI meets {cond} ({ci}); no null applies"
    if verdict is Verdict.INCONCLUSIVE and not bool(
        condition_on_ci(expect, np.array(m.ci[:1]), np.array(m.ci[1:]))[0][0]
    ):
        return f"inconclusive: the CI straddles the paper condition {cond} ({ci})"
    null_txt = _null_text(rule, nrows)
    if nrows.share is not None and bool(nrows.satisfies[0]):
        return (
            f"trivial: the whole CI meets {cond} ({ci}), but so do {float(nrows.share[0]):.0%} of the draws of the "
            f"null '{rule.name}' ({null_txt})"
        )
    if verdict is Verdict.REPLICATED:
        return f"replicated: the whole CI meets {cond} ({ci}) and beats the null '{rule.name}' ({null_txt})"
    if verdict is Verdict.TRIVIAL:
        return (
            f"trivial: the whole CI meets {cond} ({ci}) but lies decisively on the null's side "
            f"('{rule.name}': {null_txt})"
        )
    budget = ""
    if n_null and smallest_mwu_p(m.n, n_null) >= MWU_ALPHA:
        budget = (
            f"; with {m.n} seeds against {n_null} null samples the rank test cannot reach p < {MWU_ALPHA:g} "
            f"(smallest possible p {smallest_mwu_p(m.n, n_null):.3g}): more seeds or null runs are needed"
        )
    return (
        f"inconclusive: the whole CI meets {cond} ({ci}) but the comparison with the null '{rule.name}' is within "
        f"uncertainty ({null_txt}){budget}"
    )


def _null_text(rule: NullSpec, nrows: _Null) -> str:
    t, med = float(nrows.threshold[0]), float(nrows.median[0])
    if rule.rule == "ci_above":
        return f"the seed CI must lie above {t:.4g}"
    if rule.rule == "ci_below":
        return f"the seed CI must lie below {t:.4g}"
    side = "below" if rule.rule == "below_quantile" else "above"
    p = float(nrows.p[0]) if nrows.p is not None else float("nan")
    return f"CI must lie {side} its {rule.q:g} quantile {t:.4g}; null median {med:.4g}; one-sided Mann-Whitney p={p:.3g}"
