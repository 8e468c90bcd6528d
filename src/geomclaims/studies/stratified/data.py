"""Inputs of the stratified study: the six-source corpus, its embeddings, and synthetic stand-ins.

Real data (ci / full): ``geomclaims.resources`` supplies a POOL of six sources x ``n_pool_per_source`` texts
(stand-ins for IMDB, RT, Amazon, SST-2, TweetEval, AG News; see shared/RESOURCES.md), drawn with the fixed
``data_seed`` and embedded once per (model, pooling, max_length) (last layer; attention-mask weighted mean by default,
``mean_with_padding`` = the released code's; cached on disk keyed by the pool's texts). Each experiment seed then draws
its own ``n_per_source`` texts per source from that pool (label-balanced, :func:`text_rng`), so the seeds vary the
texts within the pool as well as the MoE; models compared at the same seed see the same texts (paired design). The
pool's own sampling noise, which moves every seed alike, enters the CI through the text bootstrap
(text_bootstrap.py: shared resamples of the pool, issue 25 item 1).

Synthetic data (smoke) uses the same pool-then-resample path. A user's text file (``data`` = ``textfile-<sha16>``,
registered by ``geomclaims probe``) does too: its pool is up to ``n_pool_per_source`` texts per source of the file.

Synthetic data (smoke; S9 in every profile): clouds with known structure from ``geomclaims.metrics.synthetic``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomclaims.metrics.synthetic import affine_subspace, stratified_union, touching_line_disk_ball
from geomclaims.resources import local


@dataclass(frozen=True)
class Corpus:
    """Embeddings plus per-text source and label codes. ``labels`` are the mixed per-source labels (released code)."""

    X: np.ndarray  # (n, L) float64
    source: np.ndarray  # (n,) int source code
    label: np.ndarray  # (n,) int code of (source, label) pairs: labels from different sources never coincide
    source_names: tuple[str, ...]
    # (n,) characters per text: the alternative explanation "strata only sort texts by length" (issue 25 item 6).
    # None where the points are no texts (line/disk/ball, the S3 Gaussian).
    length: np.ndarray | None = None


def _codes(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    names = tuple(dict.fromkeys(values))  # first-appearance order: the dataset groups rows by source
    index = {n: i for i, n in enumerate(names)}
    return np.asarray([index[v] for v in values], dtype=np.int64), names


def real_corpus(
    model: str,
    n_per_source: int,
    data_seed: int,
    max_length: int,
    device: str = "cpu",
    pooling: str = "mean",
) -> Corpus:
    """Six sources x ``n_per_source`` texts embedded by registry model ``model`` (ResourceUnavailable propagates)."""
    from geomclaims.resources.corpora import multidomain_dataset
    from geomclaims.resources.embeddings import embed

    ds = multidomain_dataset(n_per_source, data_seed)
    texts = list(ds["text"])
    sources = [str(s) for s in ds["source"]]
    source, names = _codes(sources)
    label, _ = _codes([f"{s}:{lab}" for s, lab in zip(sources, ds["label"], strict=True)])
    X = embed(model, texts, layer=-1, pooling=pooling, max_length=max_length, device=device, progress=False)
    length = np.asarray([len(t) for t in texts], dtype=np.int64)
    return Corpus(
        X=np.asarray(X, dtype=np.float64), source=source, label=label, source_names=names, length=length
    )


def text_file_corpus(
    corpus: str,
    model: str,
    n_per_source: int,
    data_seed: int,
    max_length: int,
    device: str = "cpu",
    pooling: str = "mean",
) -> Corpus:
    """A user's text file (``geomclaims probe --corpus FILE``, ``resources.local``) embedded by ``model``: up to
    ``n_per_source`` texts per source of the file; a text's label is its source (the file carries no labels)."""
    from geomclaims.resources.embeddings import embed

    texts, sources = local.text_pool(corpus, n_per_source, data_seed)
    source, names = _codes(sources)
    X = embed(model, texts, layer=-1, pooling=pooling, max_length=max_length, device=device, progress=False)
    length = np.asarray([len(t) for t in texts], dtype=np.int64)  # the length control reads them (S3/S5)
    return Corpus(
        X=np.asarray(X, dtype=np.float64),
        source=source,
        label=source.copy(),
        source_names=names,
        length=length,
    )


# Stream tag that keeps the text draw independent of the controls' generator ``default_rng([data_seed, seed])``
# (a constant of the draw's definition, not a seed).
_TEXT_STREAM = 0x7E875


def text_rng(data_seed: int, seed: int) -> np.random.Generator:
    """Generator of seed ``seed``'s text sample: depends on (data_seed, seed) only, never on the model."""
    return np.random.default_rng([int(data_seed), int(seed), _TEXT_STREAM])


def resample_indices(pool: Corpus, n_per_source: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted pool rows of one seed's sample: ``n_per_source`` rows per source, label-balanced within a source.

    Raises ``ValueError`` naming the source when its pool holds fewer than ``n_per_source`` rows.
    """
    from geomclaims.resources.corpora import balanced_indices

    out = []
    for code, name in enumerate(pool.source_names):
        rows = np.flatnonzero(pool.source == code)
        if rows.size < n_per_source:
            raise ValueError(
                f"source {name!r}: pool has {rows.size} texts, fewer than n_per_source={n_per_source}"
            )
        out.append(rows[balanced_indices(pool.label[rows].tolist(), n_per_source, rng)])
    return np.sort(np.concatenate(out))


def subset(corpus: Corpus, index: np.ndarray) -> Corpus:
    """Rows ``index`` of ``corpus`` (codes and source names kept)."""
    return Corpus(
        X=corpus.X[index],
        source=corpus.source[index],
        label=corpus.label[index],
        source_names=corpus.source_names,
        length=None if corpus.length is None else corpus.length[index],
    )


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
    # Stand-in text lengths that grow with the source's dimension (drawn after the labels: same labels as before).
    length = rng.integers(20, 60, size=source.size) * (1 + source)
    return Corpus(
        X=np.vstack(parts),
        source=source,
        label=label,
        source_names=tuple(f"synthetic{i}" for i in range(6)),
        length=length,
    )


def load_pool(cfg: dict, device: str = "cpu") -> Corpus:
    """The text pool a config asks for (``cfg['data']`` is ``real`` or ``synthetic``), embedded once per model."""
    n_pool = int(cfg["n_pool_per_source"])
    if n_pool < int(cfg["n_per_source"]):
        raise ValueError(f"n_pool_per_source={n_pool} is smaller than n_per_source={cfg['n_per_source']}")
    if cfg["data"] == "real":
        return real_corpus(
            cfg["model"], n_pool, cfg["data_seed"], cfg["max_length"], device, cfg.get("pooling", "mean")
        )
    if cfg["data"] == "synthetic":
        return synthetic_corpus(cfg["model"], n_pool, cfg["data_seed"], cfg["synthetic_dim"])
    if str(cfg["data"]).startswith(local.CORPUS_PREFIX):
        return text_file_corpus(
            cfg["data"],
            cfg["model"],
            n_pool,
            cfg["data_seed"],
            cfg["max_length"],
            device,
            cfg.get("pooling", "mean"),
        )
    raise ValueError(f"unknown data kind {cfg['data']!r}")


def load_corpus(cfg: dict, seed: int, device: str = "cpu") -> tuple[Corpus, np.ndarray]:
    """Seed ``seed``'s sample of the pool and its pool row indices (see the module docstring)."""
    pool = load_pool(cfg, device)
    index = resample_indices(pool, int(cfg["n_per_source"]), text_rng(cfg["data_seed"], seed))
    return subset(pool, index), index


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
