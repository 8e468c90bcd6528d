"""Inputs of the stratified study: the six-source corpus, its embeddings, and synthetic stand-ins.

Real data (ci / full): ``geomclaims.resources`` supplies six sources x N texts (stand-ins for IMDB, RT, Amazon,
SST-2, TweetEval, AG News; see shared/RESOURCES.md) and mean-pooled last-layer embeddings (attention-mask weighted,
cached on disk). The corpus is drawn with a fixed *data* seed, so every model and every MoE seed sees the same texts
and the embedding cache is hit; the MoE seed (torch) varies separately.

Synthetic data (smoke; S9 in every profile): clouds with known structure from ``geomclaims.metrics.synthetic``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomclaims.metrics.synthetic import affine_subspace, stratified_union, touching_line_disk_ball


@dataclass(frozen=True)
class Corpus:
    """Embeddings plus per-text source and label codes. ``labels`` are the mixed per-source labels (released code)."""

    X: np.ndarray  # (n, L) float64
    source: np.ndarray  # (n,) int source code
    label: np.ndarray  # (n,) int code of (source, label) pairs: labels from different sources never coincide
    source_names: tuple[str, ...]


def _codes(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    names = tuple(dict.fromkeys(values))  # first-appearance order: the dataset groups rows by source
    index = {n: i for i, n in enumerate(names)}
    return np.asarray([index[v] for v in values], dtype=np.int64), names


def real_corpus(
    model: str, n_per_source: int, data_seed: int, max_length: int, device: str = "cpu"
) -> Corpus:
    """Six sources x ``n_per_source`` texts embedded by registry model ``model`` (ResourceUnavailable propagates)."""
    from geomclaims.resources.corpora import multidomain_dataset
    from geomclaims.resources.embeddings import embed

    ds = multidomain_dataset(n_per_source, data_seed)
    texts = list(ds["text"])
    sources = [str(s) for s in ds["source"]]
    source, names = _codes(sources)
    label, _ = _codes([f"{s}:{lab}" for s, lab in zip(sources, ds["label"], strict=True)])
    X = embed(model, texts, layer=-1, pooling="mean", max_length=max_length, device=device, progress=False)
    return Corpus(X=np.asarray(X, dtype=np.float64), source=source, label=label, source_names=names)


def synthetic_corpus(model: str, n_per_source: int, data_seed: int, dim: int) -> Corpus:
    """Smoke stand-in for a model's embeddings: six 'sources', each a Gaussian on its own affine subspace.

    Source ``i`` has intrinsic dimension ``2 + 2 i`` so the pipeline has something to find; the cloud depends on the
    model name only through a seed offset (plumbing, not science).
    """
    offset = sum(map(ord, model)) % 1000
    parts = [affine_subspace(n_per_source, 2 + 2 * i, dim, data_seed * 7919 + offset + i) for i in range(6)]
    source = np.repeat(np.arange(6), n_per_source)
    rng = np.random.default_rng(data_seed + offset)
    label = source * 2 + rng.integers(0, 2, size=source.size)
    return Corpus(
        X=np.vstack(parts), source=source, label=label, source_names=tuple(f"synthetic{i}" for i in range(6))
    )


def load_corpus(cfg: dict, device: str = "cpu") -> Corpus:
    """The corpus a config asks for: ``cfg['data']`` is ``real`` or ``synthetic``."""
    if cfg["data"] == "real":
        return real_corpus(cfg["model"], cfg["n_per_source"], cfg["data_seed"], cfg["max_length"], device)
    if cfg["data"] == "synthetic":
        return synthetic_corpus(cfg["model"], cfg["n_per_source"], cfg["data_seed"], cfg["synthetic_dim"])
    raise ValueError(f"unknown data kind {cfg['data']!r}")


LDB_GEOMETRIES = ("separated", "touching")


def line_disk_ball(
    n_per_stratum: int, ambient_dim: int, data_seed: int, geometry: str = "separated", noise: float = 0.0
) -> Corpus:
    """Known-truth set with strata of dimension 1, 2, 3 (line, disk, ball).

    ``separated``: ``metrics.synthetic.stratified_union`` (pieces 10 units apart, no noise; ``noise`` must be 0).
    ``touching``: ``metrics.synthetic.touching_line_disk_ball`` (a line piercing a disk that touches a ball, with
    isotropic noise of s.d. ``noise``).
    """
    if geometry == "separated":
        if noise != 0:
            raise ValueError(f"noise: the separated line/disk/ball set is noiseless, got {noise}")
        X, labels, _dims = stratified_union(n_per_stratum, ambient_dim, data_seed)
    elif geometry == "touching":
        X, labels, _coords, _dims = touching_line_disk_ball(n_per_stratum, ambient_dim, data_seed, noise)
    else:
        raise ValueError(
            f"geometry: unknown line/disk/ball geometry {geometry!r}; use one of {LDB_GEOMETRIES}"
        )
    return Corpus(X=X, source=labels, label=labels, source_names=("line", "disk", "ball"))
