"""LM-training corpora (paper P stand-ins for Pile subsets) as lists of documents plus a byte count.

=================  ===============================================================  ====================
name               content (document = ...)                                          Pile subset
=================  ===============================================================  ====================
dm_mathematics     DeepMind ``mathematics_dataset`` generator output (one module file)  DM Mathematics
arxiv_latex        LaTeX of texlive-science-doc + pari-doc (one .tex file)            ArXiv
python_docs        Python 3.11 docs reST sources (one .rst file)                      GitHub / tech docs
wikipedia          Wikipedia lead paragraphs (one article lead)                       Wikipedia (en)
prose_shakespeare  Shakespeare's works, Gutenberg texts (one work)                    Pile-CC / prose
=================  ===============================================================  ====================

DM-mathematics is *generated*, not downloaded: ``mathematics_dataset==1.0.1`` runs in its own venv under the
cache (``pip install mathematics_dataset==1.0.1 sympy==1.4 "numpy<1.24"``; never imported here), writes
``--per_train_module`` questions per module (train-easy/medium/hard thirds), and the output is bundled into
``dm_mathematics.jsonl``. The generator is not reproducible across runs (even seeded), so its sha256 is
*recorded* in the folder's manifest (and verified on later reads) rather than pinned in the registry: two
machines will have different DM-mathematics texts of the same distribution. Report the recorded sha.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.paths import resources_dir
from geomclaims.resources.fetcher import (
    MANIFEST,
    ResourceUnavailable,
    _HashingWriter,
    atomic_dir,
    fetch,
    file_matches,
    offline,
    resource_lock,
    write_manifest,
)
from geomclaims.resources.sources import LM_CORPUS_NAMES

DM_PACKAGES: tuple[str, ...] = ("mathematics_dataset==1.0.1", "sympy==1.4", "numpy<1.24")
#: What the generator venv installs, every distribution pinned with the sha256 of its wheel (pip's hash-checking
#: mode, ``--require-hashes --only-binary=:all: --no-deps``: nothing unpinned, no sdist build runs). The versions
#: are those ``DM_PACKAGES`` resolved to; numpy's wheel is the CPython 3.11 manylinux x86_64 one, so another Python
#: or platform fails with pip's "no matching distribution" instead of installing unchecked files.
DM_REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("mathematics_dataset==1.0.1", "8ebfe083ed65e07a9a555c9a51449c8e7c0ee097a96880a7183d2e8606081de6"),
    ("sympy==1.4", "f9b00ec76151c98470e84f1da2d7d03633180b71fb318428ddccce1c867d3eaa"),
    ("numpy==1.23.5", "58f545efd1108e647604a1b5aa809591ccd2540f468a880bedb97247e72db387"),
    ("absl-py==2.5.1", "721200f2f0e9960f2ca9dc3a2a706b201f5f75d812c158f059cbbe29eeafbdb8"),
    ("six==1.17.0", "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"),
    ("mpmath==1.4.1", "dc4f0ea2304480d4a9a48a94c1020571558ade522b44a6912efac63a586e140f"),
)


def dm_requirements_text() -> str:
    """The hash-pinned requirements file of the generator venv."""
    return "".join(f"{spec} --hash=sha256:{sha}\n" for spec, sha in DM_REQUIREMENTS)


#: Questions per train module for the ci corpus: 56 modules x 3 difficulties x 100 = 16,800 Q/A, ~1.3 MB, about
#: 2.5 CPU-minutes (360 per module measured 180 CPU-s / 1.55 MB on a busy 2-core box).
DM_PER_TRAIN_MODULE = 300
_BUNDLES = {
    "arxiv_latex": "arxiv_latex.jsonl",
    "python_docs": "python_docs.jsonl",
    "prose_shakespeare": "shakespeare.jsonl",
}
_ALIASES = {"shakespeare": "prose_shakespeare", "prose": "prose_shakespeare", "wikipedia_leads": "wikipedia"}


# ----------------------------------------------------------------------------------------------- DM mathematics
def _dm_venv(progress: bool) -> Path:
    """The generator's own venv (created once, atomically; marker file ``.geomclaims-ok``)."""
    final = resources_dir() / "_venvs" / "mathematics_dataset-1.0.1"
    marker = final / ".geomclaims-ok"
    if marker.is_file():
        return final
    cmd_text = (
        "python -m venv VENV && VENV/bin/python -m pip install --require-hashes --only-binary=:all: --no-deps "
        "-r REQUIREMENTS (geomclaims.resources.lm_corpora.DM_REQUIREMENTS)"
    )
    if offline():
        raise ResourceUnavailable(
            f"dm_mathematics needs {', '.join(DM_PACKAGES)} and GEOMCLAIMS_OFFLINE is set: {cmd_text}"
        )
    base = getattr(sys, "_base_executable", sys.executable)
    with atomic_dir(final) as work:
        requirements = work / "requirements.txt"
        requirements.write_text(dm_requirements_text())
        for cmd in (
            [base, "-m", "venv", str(work)],
            [
                str(work / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-hashes",
                "--only-binary=:all:",
                "--no-deps",
                "-r",
                str(requirements),
            ],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ResourceUnavailable(
                    f"could not build the DM-mathematics generator venv ({', '.join(DM_PACKAGES)}); "
                    f"command: {cmd_text}\n{proc.stderr[-600:]}"
                )
        (work / ".geomclaims-ok").write_text(" ".join(DM_PACKAGES) + "\n")
    return final


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _dm_dir(per_train_module: int) -> Path:
    return resources_dir() / f"dm_mathematics-{per_train_module}"


def _dm_cached(d: Path, verify: bool = False, rehash: bool = False) -> dict[str, Any] | None:
    """The manifest when the generated corpus matches its recorded size (and sha256 with ``verify``, hashed
    once per process unless ``rehash``)."""
    try:
        man = json.loads((d / MANIFEST).read_text())
        f = d / "dm_mathematics.jsonl"
        rec = man["files"]["dm_mathematics.jsonl"]
        if f.stat().st_size != rec["size"]:
            return None
        if verify and not file_matches(f, rec["sha256"], rec["size"], rehash=rehash):
            return None
        return man
    except (OSError, ValueError, KeyError):
        return None


def dm_mathematics_dir(
    *, progress: bool = True, per_train_module: int = DM_PER_TRAIN_MODULE, verify: bool = False
) -> Path:
    """Folder holding ``dm_mathematics.jsonl`` (generated once, hashed, manifest with the recorded sha256)."""
    final = _dm_dir(per_train_module)
    if _dm_cached(final, True, verify):
        return final
    with resource_lock(final.name):
        if _dm_cached(final, True, verify):
            return final
        venv = _dm_venv(progress)
        with atomic_dir(final) as work:
            t0, cpu0 = time.perf_counter(), _children_cpu()
            cmd = [
                str(venv / "bin" / "python"),
                "-m",
                "mathematics_dataset.generate_to_file",
                f"--output_dir={work / 'raw'}",
                f"--per_train_module={per_train_module}",
                "--per_test_module=0",
            ]
            if progress:
                print(f"generating DM-mathematics ({per_train_module} per train module) ...", file=sys.stderr)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"DM-mathematics generator failed: {' '.join(cmd)}\n{proc.stderr[-1000:]}")
            seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
            files = sorted(p for p in (work / "raw").rglob("*.txt") if p.stat().st_size > 0)
            with open(work / "dm_mathematics.jsonl", "wb") as fh:
                w = _HashingWriter(fh)
                for p in files:
                    rel = p.relative_to(work / "raw").as_posix()
                    w.write((json.dumps({"path": rel, "text": p.read_text()}) + "\n").encode())
            shutil.rmtree(work / "raw")
            manifest = {
                "name": "dm_mathematics",
                "generator": list(DM_PACKAGES),
                "command": f"python -m mathematics_dataset.generate_to_file --output_dir=RAW "
                f"--per_train_module={per_train_module} --per_test_module=0",
                "per_train_module": per_train_module,
                "files": {"dm_mathematics.jsonl": {"sha256": w.h.hexdigest(), "size": w.n}},
                "generate_seconds": round(seconds, 1),
                "generate_cpu_seconds": round(cpu, 1),
                "documents": len(files),
                "note": "generator output is not reproducible across runs; sha256 recorded, not pinned",
                "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            write_manifest(work, manifest)
    return final


def dm_mathematics_row() -> dict[str, Any]:
    """Row of :func:`geomclaims.resources.fetcher.list_sources` for the generated DM-mathematics corpus."""
    man = _dm_cached(_dm_dir(DM_PER_TRAIN_MODULE)) or {}
    rec = man.get("files", {}).get("dm_mathematics.jsonl", {})
    return {
        "name": "dm_mathematics",
        "kind": "lm_corpus",
        "role": "Pile DM-Mathematics stand-in: DeepMind's own generator, generated once and cached",
        "package": ", ".join(DM_PACKAGES),
        "version": "1.0.1",
        "sha256": rec.get("sha256", "(recorded at generation, not pinned)"),
        "license": "Apache-2.0 (generator)",
        "cached": bool(man),
        "size": rec.get("size", 0),
    }


# ----------------------------------------------------------------------------------------------- loading
def _read_jsonl(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def _documents(name: str) -> list[str]:
    if name == "dm_mathematics":
        return _read_jsonl(dm_mathematics_dir(progress=False) / "dm_mathematics.jsonl")
    if name == "wikipedia":
        src = fetch("wikipedia_leads", progress=False) / "summaries_en-us.json"
        data = json.loads(src.read_text(encoding="utf-8"))
        return [data[k]["extract"].strip() for k in sorted(data)]
    return _read_jsonl(fetch(name, progress=False) / _BUNDLES[name])


def lm_corpus(name: str, max_bytes: int | None = None, *, seed: int = 0) -> tuple[list[str], int]:
    """``(documents, total UTF-8 bytes)`` of LM corpus ``name`` (see the module table).

    Documents are shuffled with ``seed`` (deterministically) and then cut to ``max_bytes``: whole documents are
    taken while they fit and the next one is truncated at a character boundary to fill the budget exactly (up
    to a multi-byte character). ``max_bytes=None`` returns everything. Raises
    :class:`~geomclaims.resources.fetcher.ResourceUnavailable` when the source cannot be fetched/generated.
    """
    name = _ALIASES.get(name, name)
    if name not in LM_CORPUS_NAMES:
        raise KeyError(f"unknown LM corpus {name!r}; known: {', '.join(LM_CORPUS_NAMES)}")
    if max_bytes is not None and max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes}")
    docs = [d for d in _documents(name) if d]
    order = np.random.default_rng(seed).permutation(len(docs))
    docs = [docs[i] for i in order]
    return truncate_to_bytes(docs, max_bytes)


def truncate_to_bytes(docs: list[str], max_bytes: int | None) -> tuple[list[str], int]:
    """Take documents in order until ``max_bytes`` UTF-8 bytes; the last one is cut at a character boundary."""
    out: list[str] = []
    total = 0
    for d in docs:
        n = len(d.encode("utf-8"))
        if max_bytes is not None and total + n > max_bytes:
            rest = d.encode("utf-8")[: max_bytes - total].decode("utf-8", errors="ignore")
            if rest:
                out.append(rest)
                total += len(rest.encode("utf-8"))
            break
        out.append(d)
        total += n
    return out, total
