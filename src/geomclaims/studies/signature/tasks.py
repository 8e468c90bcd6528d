"""Composite addition tasks of paper P (Sec. 5, App. B.1): f_add, f~add ("f_tadd" here) and f_mod.

An input is the sequence X = [z, a1, a2] of a key z and two anchors a1, a2 from A = {11..20}; the label is an
integer token. The paper's parameters (Sec. 5): A = {11, ..., 20}, Z = Y = {101, ..., 140}.

* ``f_add``:  y = z + a1 + a2 with a1, a2 ~ U(A) and z ~ U(Z) independently. Labels run 123..180.
* ``f_tadd``: the same sum, but the *label* domain is fixed: y ~ U(Y) and z = y - a1 - a2 (so z runs 61..118).
* ``f_mod``:  y = min Z + ((z + a1 + a2) mod |Z|) with a1, a2 ~ U(A), z ~ U(Z). Labels run 101..140.

The paper does not say how a pair (a1, a2) is drawn; we draw both anchors independently and uniformly (so a1 == a2
happens with probability 1/|A|), which is the only reading under which its closed forms start from U(A) x U(A).

Vocabulary (the paper does not state one): tokens are the integers themselves. Signatures are indexed by token
value over 0..180 (``VOCAB_SIZE``; the smallest range holding every token of the three tasks). A *model* of a task
embeds and predicts over that task's own vocabulary ``TaskSpec.vocab`` = anchors + key domain + label domain
(90 tokens for f_add and f_tadd, 50 for f_mod), so d_vob of Corollary 1 is that size and no softmax mass is spent
on tokens the task never uses. (A shared 181-token output would double the CPU cost for no claim-relevant gain.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANCHORS: tuple[int, ...] = tuple(range(11, 21))
KEYS: tuple[int, ...] = tuple(range(101, 141))  # Z = Y in the paper
TASKS: tuple[str, ...] = ("f_add", "f_tadd", "f_mod")
VOCAB_SIZE = 181  # tokens 0..180
SEQ_LEN = 3


@dataclass(frozen=True)
class TaskSpec:
    """Parameters of one task: the anchor set, the key set Z and the label domain Y (paper: Z = Y)."""

    name: str
    anchors: tuple[int, ...] = ANCHORS
    keys: tuple[int, ...] = KEYS

    def __post_init__(self) -> None:
        if self.name not in TASKS:
            raise ValueError(f"unknown task {self.name!r}; use one of {TASKS}")

    @property
    def key_domain(self) -> np.ndarray:
        """Every value the key z can take (the column block that keys occupy in a signature)."""
        a_min, a_max = min(self.anchors), max(self.anchors)
        if self.name == "f_tadd":
            return np.arange(min(self.keys) - 2 * a_max, max(self.keys) - 2 * a_min + 1)
        return np.asarray(self.keys)

    @property
    def label_domain(self) -> np.ndarray:
        a_min, a_max = min(self.anchors), max(self.anchors)
        if self.name == "f_add":
            return np.arange(min(self.keys) + 2 * a_min, max(self.keys) + 2 * a_max + 1)
        return np.asarray(self.keys)

    @property
    def vocab(self) -> np.ndarray:
        """The task's model vocabulary: sorted union of anchors, key domain and label domain (token values)."""
        return np.unique(np.concatenate([np.asarray(self.anchors), self.key_domain, self.label_domain]))

    def token_index(self) -> np.ndarray:
        """Map token value -> row of the model's embedding/unembedding (-1 for tokens outside the vocabulary)."""
        idx = np.full(VOCAB_SIZE, -1, dtype=np.int64)
        idx[self.vocab] = np.arange(self.vocab.size)
        return idx

    def label(self, z: np.ndarray, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
        """The task's label for keys and anchors (vectorised)."""
        s = np.asarray(z) + np.asarray(a1) + np.asarray(a2)
        if self.name == "f_mod":
            # Literal Sec. 5 formula: min Z + (z + a1 + a2 mod |Z|); no re-centring of z.
            return min(self.keys) + np.mod(s, len(self.keys))
        return s

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        """The full product set with its probabilities: (X [n, 3], y [n]); every row has probability 1/n.

        f_add / f_mod: all (z, a1, a2) in Z x A x A. f_tadd: all (y, a1, a2) in Y x A x A with z = y - a1 - a2.
        Each support point has the same probability under the sampling distribution, so the rows are equiprobable.
        """
        a = np.asarray(self.anchors)
        k = np.asarray(self.keys)
        g_k, g_a1, g_a2 = (m.ravel() for m in np.meshgrid(k, a, a, indexing="ij"))
        if self.name == "f_tadd":
            y = g_k
            z = y - g_a1 - g_a2
        else:
            z = g_k
            y = self.label(z, g_a1, g_a2)
        return np.stack([z, g_a1, g_a2], axis=1), y

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` i.i.d. samples (X [n, 3], y [n]) from the task distribution (with replacement, as the paper's 50k
        samples exceed the 4000 distinct triples)."""
        a = np.asarray(self.anchors)
        k = np.asarray(self.keys)
        a1 = rng.choice(a, size=n)
        a2 = rng.choice(a, size=n)
        kk = rng.choice(k, size=n)
        if self.name == "f_tadd":
            y = kk
            z = y - a1 - a2
        else:
            z = kk
            y = self.label(z, a1, a2)
        return np.stack([z, a1, a2], axis=1), y


def make_dataset(task: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded dataset of ``n`` samples for ``task`` (data RNG only; torch is seeded separately)."""
    return TaskSpec(task).sample(n, np.random.default_rng(seed))


def shuffle_labels(y: np.ndarray, seed: int) -> np.ndarray:
    """The shuffled-label control: the same labels, permuted across samples (marginal kept, X -> y destroyed)."""
    return np.random.default_rng(seed).permutation(y)
