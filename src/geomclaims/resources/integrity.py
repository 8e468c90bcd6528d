"""Integrity of fetched resources: the errors a fetch raises and the sha256 checks every cached file passes.

Split out of fetcher.py (which re-exports every name): hashing is shared by the downloader (pypi_index.py), the
assembly of sources and the model converters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

import geomclaims.resources.archive as archive


class ResourceUnavailable(RuntimeError):
    """A resource is not cached and cannot be fetched here (offline, package missing, tool missing).

    The message names the package ``==version`` and the exact command that would fetch it; test code turns it
    into ``pytest.skip(str(e))``.
    """


class ChecksumMismatch(RuntimeError):
    """An assembled file or downloaded archive does not have its pinned sha256."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"sha256 mismatch for {what}: expected {expected}, got {actual}")
        self.what, self.expected, self.actual = what, expected, actual


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(archive.CHUNK):
            h.update(chunk)
    return h.hexdigest()


#: ``path -> (size, mtime_ns, ctime_ns, inode, sha256)`` of files hashed in this process; a file whose stat is
#: unchanged is not re-hashed (sha256 of MPNet's 438 MB weights costs about a second per process).
_VERIFIED: dict[str, tuple[int, int, int, int, str]] = {}


def _stat_sig(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def file_matches(path: Path, sha256: str, size: int = 0, *, rehash: bool = False) -> bool:
    """True when ``path`` exists with ``size`` (if given) and sha256 ``sha256``; hashed once per process per
    unchanged file (``rehash`` forces a fresh hash)."""
    try:
        sig = _stat_sig(path)
    except OSError:
        return False
    if size and sig[0] != size:
        return False
    memo = _VERIFIED.get(str(path))
    if not rehash and memo is not None and memo[:4] == sig and memo[4] == sha256:
        return True
    actual = sha256_file(path)
    if actual != sha256:
        _VERIFIED.pop(str(path), None)
        return False
    _VERIFIED[str(path)] = (*sig, actual)
    return True


class _HashingWriter:
    """File-like wrapper that hashes everything written through it."""

    def __init__(self, fh: BinaryIO, limit: int = 0, what: str = "") -> None:
        self.fh, self.h, self.n, self.limit, self.what = fh, hashlib.sha256(), 0, limit, what

    def write(self, data: bytes) -> int:
        # Stop before writing past the pinned size: a planted or bomb archive must not fill the disk.
        if self.limit and self.n + len(data) > self.limit:
            raise archive.ArchiveError(
                f"{self.what}: assembled output exceeds its pinned size of {self.limit} bytes "
                "(archive tampered, a decompression bomb, or the wrong version); stopped writing"
            )
        self.h.update(data)
        self.n += len(data)
        return self.fh.write(data)
