"""Marker-based modular arithmetic (paper E, Sec. 3.1).

A sequence of length ``T`` holds ``m`` marker tokens at non-adjacent positions; the token right after each
marker is a value in ``{0, ..., C-1}`` (``{1, ..., C-1}`` for products, with C prime); the target is the sum (or
product) of the marked values mod ``C``. Every
other position holds an i.i.d. distractor. The last position is a fixed query token whose output is read out,
so the model must route the marked values to the end of the sequence.

Vocabulary layout (``Vocab``): values ``0..C-1``, then the marker, then the query token, then the distractor-only
tokens. By default (``distractor_values = False``) distractors come from their own token range, disjoint from the
values, the marker and the query, as in the paper (Sec. 3.1: the remaining positions hold i.i.d. distractor tokens
that must be ignored) and its released code. The model still has to select: summing every value token is right
only because unmarked positions never hold values, so what it must learn is to find the value slots. Setting
``distractor_values = True`` also draws distractors from the value tokens (the named, harder variant
``overlap-distractors`` of profiles.py): a value token then says nothing by itself and only the preceding marker
tells a marked value from a distractor. That task is not the paper's; issue 22 measured that the d = 64
attention-only model learns m <= 2 on it but stays near 0.3 / 0.17 on m = 3, 4.

The generator uses its own ``numpy.random.Generator`` (never torch's RNG), so data order is a function of the
data seed alone and an ensemble member sees the same batches as the same seed trained alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

OPS = ("add", "mul")
SCHEDULES = ("mixed", "curriculum")


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(n**0.5) + 1))


@dataclass(frozen=True)
class TaskSpec:
    """Task parameters. ``m_values`` are the marker counts trained on (mixed: uniform over them per sample)."""

    T: int = 32
    C: int = 8
    m_values: tuple[int, ...] = (1, 2, 3, 4)
    op: str = "add"
    n_distractors: int = 16
    distractor_values: bool = False
    schedule: str = "mixed"

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {OPS}, got {self.op!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.C < 2 or self.n_distractors < 1:
            raise ValueError("need C >= 2 and at least one distractor token")
        if self.op == "mul" and not _is_prime(self.C):
            # Modulo a composite C (e.g. 8) products collapse onto 0 and a constant predictor scores 0.3-0.7.
            raise ValueError(f"op 'mul' needs a prime modulus C, got C={self.C}")
        if not self.m_values or min(self.m_values) < 1:
            raise ValueError(f"m_values must be positive, got {self.m_values}")
        # m marker/value pairs with a gap between markers need 2m - 1 slots in the T - 1 positions before the query.
        if 2 * max(self.m_values) > self.T - 1:
            raise ValueError(
                f"T={self.T} is too short for m={max(self.m_values)} non-adjacent marker/value pairs"
            )

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.C, self.n_distractors)

    @staticmethod
    def from_config(cfg: dict) -> TaskSpec:
        d = dict(cfg)
        d["m_values"] = tuple(int(m) for m in d.get("m_values", (1, 2, 3, 4)))
        return TaskSpec(**d)


@dataclass(frozen=True)
class Vocab:
    C: int
    n_distractors: int
    marker: int = field(init=False)
    query: int = field(init=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "marker", self.C)
        object.__setattr__(self, "query", self.C + 1)
        object.__setattr__(self, "size", self.C + 2 + self.n_distractors)

    @property
    def distractor_ids(self) -> np.ndarray:
        return np.arange(self.C + 2, self.size)


@dataclass
class Batch:
    """tokens [B, T] int64, target [B] int64, m [B] int64, marker_pos [B, m_max] (-1 where unused)."""

    tokens: np.ndarray
    target: np.ndarray
    m: np.ndarray
    marker_pos: np.ndarray


def _marker_positions(rng: np.random.Generator, n: int, m: int, T: int) -> np.ndarray:
    """[n, m] sorted marker positions in [0, T-3] with gaps >= 2 (markers never adjacent; value slot p+1 free).

    Choosing m sorted positions among ``N - (m - 1)`` slots and adding ``0, 1, ..., m-1`` is a bijection onto
    position sets with pairwise gaps >= 2, so every admissible layout is equally likely.
    """
    n_slots = (T - 2) - (m - 1)  # markers live in [0, T-3] so the value (p+1) precedes the query at T-1
    keys = rng.random((n, n_slots))
    chosen = np.sort(np.argsort(keys, axis=1)[:, :m], axis=1)
    return chosen + np.arange(m)[None, :]


def sample(
    spec: TaskSpec, rng: np.random.Generator, batch: int, m_values: Sequence[int] | None = None
) -> Batch:
    """Draw ``batch`` sequences; each sample's m is uniform over ``m_values`` (default: ``spec.m_values``)."""
    voc = spec.vocab
    m_choices = np.asarray(tuple(m_values) if m_values is not None else spec.m_values, dtype=np.int64)
    T, C = spec.T, spec.C
    pool = voc.distractor_ids
    if spec.distractor_values:
        pool = np.concatenate([np.arange(C), pool])
    tokens = pool[rng.integers(0, pool.size, size=(batch, T))]
    tokens[:, T - 1] = voc.query
    m = m_choices[rng.integers(0, m_choices.size, size=batch)]
    m_max = int(m_choices.max())
    marker_pos = np.full((batch, m_max), -1, dtype=np.int64)
    # Multiplication draws from the multiplicative group {1..C-1} (C prime), so the product is uniform over it.
    values = (
        rng.integers(0, C, size=(batch, m_max))
        if spec.op == "add"
        else rng.integers(1, C, size=(batch, m_max))
    )
    target = np.zeros(batch, dtype=np.int64) if spec.op == "add" else np.ones(batch, dtype=np.int64)
    for mv in np.unique(m):
        rows = np.flatnonzero(m == mv)
        pos = _marker_positions(rng, rows.size, int(mv), T)
        marker_pos[rows, :mv] = pos
        vals = values[rows, :mv]
        tokens[rows[:, None], pos] = voc.marker
        tokens[rows[:, None], pos + 1] = vals
        if spec.op == "add":
            target[rows] = vals.sum(axis=1) % C
        else:
            target[rows] = np.prod(vals, axis=1) % C
    return Batch(tokens=tokens, target=target, m=m.astype(np.int64), marker_pos=marker_pos)


class Stages:
    """Which m each ensemble member trains on: all of them (mixed) or one at a time (curriculum, m ascending).

    Paper E Sec. 4.5 contrasts mixed training with a strict curriculum that raises m from 1 to 4; forgetting means
    losing a stage that had been learned, so a member leaves a stage only once it has learned the stage's m
    (eval accuracy on that m >= ``threshold`` at a check, :meth:`update`; issue 22 item 6). The paper gives no stage
    lengths; equal-length stages left m = 4 unlearned within the ci budget (seed-mean 0.41 at the end of 3000-step
    stages, 12,000 steps in all), so the stage boundary is where the member has learned its m. Members advance
    independently, as if each seed were trained alone.
    """

    def __init__(self, spec: TaskSpec, n_members: int, threshold: float = 0.9) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"curriculum threshold must be in (0, 1], got {threshold}")
        self.spec, self.threshold = spec, float(threshold)
        self.order = sorted(spec.m_values)
        self.stage = np.zeros(n_members, dtype=int)
        # Step at which each member left each stage; -1 = not (yet) left. The last stage is left at the end only.
        self.ended = np.full((n_members, len(self.order)), -1, dtype=int)

    def m_values(self, member: int) -> tuple[int, ...]:
        if self.spec.schedule == "mixed":
            return self.spec.m_values
        return (self.order[int(self.stage[member])],)

    def update(self, step: int, acc: np.ndarray) -> None:
        """Advance every member whose accuracy on its current m (``acc`` [E, len(spec.m_values)]) reached the
        threshold; called after each evaluation."""
        if self.spec.schedule == "mixed":
            return
        acc = np.asarray(acc, dtype=float)
        for e in range(self.stage.size):
            j = int(self.stage[e])
            if j < len(self.order) - 1 and acc[e, self.spec.m_values.index(self.order[j])] >= self.threshold:
                self.ended[e, j] = step
                self.stage[e] = j + 1


def data_rng(seed: int, stream: str = "train") -> np.random.Generator:
    """The data generator of a seed; separate streams for training, evaluation and commutator batches."""
    streams = {"train": 0, "eval": 1, "commutator": 2, "labels": 3, "sae": 4}
    return np.random.default_rng([int(seed), streams[stream], 0x5EED])
