"""Content-addressed cache of experiment results.

A result is a flat mapping ``name -> numpy array | number | string | list`` (nested dicts are flattened with
``/``). It is stored as one ``.npz`` (arrays, plus the JSON of everything else and the provenance under
``__meta__``) next to a ``.sha256`` sidecar. Writes go to a temporary file that is fsynced and renamed, so an
interrupted run never leaves a file a later run trusts; on read the checksum is verified and a corrupt or
half-written entry is recomputed with a warning.

The key is the sha256 of (experiment name, canonical JSON of the config, seed, study code version): change any
of them and the result is recomputed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from geomclaims.paths import results_root

META_KEY = "__meta__"
TRACKED_PACKAGES = (
    "geomclaims",
    "torch",
    "numpy",
    "scipy",
    "scikit-learn",
    "transformers",
    "datasets",
    "tokenizers",
)


class CacheCorruption(RuntimeError):
    pass


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace; tuples become lists. Raises on values JSON cannot hold."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"config value {obj!r} of type {type(obj).__name__} is not JSON-serialisable")


def _entry_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# Temporary files and folders carry the writer's host and pid (``.<name>.gctmp-<host>-<pid>-<random>.tmp``), so a
# later run can tell a leftover of a killed process (remove it) from the file a live concurrent run is writing.
TMP_TOKEN = "gctmp"
_TMP_RE = re.compile(rf"{TMP_TOKEN}-(?P<host>.*)-(?P<pid>\d+)-[^-]*$")
# A leftover whose writer cannot be checked (another host, or an older naming) is removed only when it is this old.
STALE_TMP_S = 24 * 3600.0


def tmp_prefix(name: str) -> str:
    """Prefix of a temporary sibling of ``name`` (see :func:`clean_stale_tmp`)."""
    return f".{name}.{TMP_TOKEN}-{socket.gethostname()}-{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host (possibly owned by another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale_tmp(path: Path, now: float) -> bool:
    name = path.name
    if not name.startswith("."):
        return False
    m = _TMP_RE.search(name.removesuffix(".tmp"))
    if m is None:
        # older naming (``.<name>.XXXX.tmp`` files, ``.figures-XXXX`` folders): no writer to ask, so only by age
        legacy = name.endswith(".tmp") or name.startswith(".figures-")
        return legacy and now - path.lstat().st_mtime > STALE_TMP_S
    if m["host"] == socket.gethostname():
        return not pid_alive(int(m["pid"]))
    return now - path.lstat().st_mtime > STALE_TMP_S


def clean_stale_tmp(root: str | Path, *, recursive: bool = True) -> list[Path]:
    """Remove temporary files/folders under ``root`` (in ``root`` only, unless ``recursive``) left by killed
    writers (kill -9 skips every cleanup); those of live processes (a concurrent run on the same store) are kept.
    Returns what was removed."""
    import shutil

    root = Path(root)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    now = time.time()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames) + filenames:
            path = Path(dirpath) / name
            try:
                if not _is_stale_tmp(path, now):
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                    dirnames.remove(name)
                else:
                    path.unlink(missing_ok=True)
            except OSError:  # vanished meanwhile or not ours to remove: not worth failing a run over
                continue
            removed.append(path)
        if not recursive:
            break
    return removed


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a fsynced temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def git_sha(root: str | Path | None = None) -> str:
    from geomclaims.paths import project_root

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root or project_root(),
            capture_output=True,
            text=True,
            timeout=5,
        )
        sha = out.stdout.strip()
        if out.returncode != 0 or not sha:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root or project_root(),
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(device: str = "cpu") -> dict[str, Any]:
    import torch

    return {
        "git_sha": git_sha(),
        "packages": package_versions(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "host": socket.gethostname(),
    }


def flatten(result: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in result.items():
        if "/" in key or key == META_KEY:
            raise ValueError(f"result key {key!r} may not contain '/' or be {META_KEY!r}")
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "/"))
        else:
            flat[name] = value
    return flat


def _to_arrays(result: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    for key, value in flatten(result).items():
        if hasattr(value, "detach"):  # torch tensor
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise ValueError(f"result entry {key!r} is an object array; store numbers or strings only")
            arrays[key] = value
        elif isinstance(value, (np.generic,)):
            plain[key] = value.item()
        elif isinstance(value, (int, float, str, bool, list, tuple)) or value is None:
            plain[key] = list(value) if isinstance(value, tuple) else value
        else:
            raise ValueError(f"result entry {key!r} has unsupported type {type(value).__name__}")
    return arrays, plain


class Store:
    """Disk cache of experiment results under ``root`` (default ``paths.results_root()``)."""

    def __init__(self, root: str | Path | None = None, *, enabled: bool = True):
        self.root = Path(root) if root else results_root()
        self.enabled = enabled

    @staticmethod
    def key(
        name: str, config: Mapping[str, Any], seed: int, code_version: str = "", threads: int | None = None
    ) -> str:
        """``threads``: the torch/BLAS thread count the job runs with (results may differ in the last bits across
        thread counts, so a serial and a parallel run only share a cached result when they use the same count)."""
        fields: dict[str, Any] = {"name": name, "config": config, "seed": int(seed), "code": code_version}
        if threads is not None:
            fields["threads"] = int(threads)
        payload = canonical_json(fields)
        return hashlib.sha256(payload.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    @contextlib.contextmanager
    def _lock(self, key: str, exclusive: bool) -> Any:
        """flock on ``<root>/.locks/<key>.lock``: writers of one key are serialised and readers never see a
        half-replaced npz/sidecar pair (two processes saving the same key used to interleave the two files).
        A cache we cannot create lock files in (read-only) is read without a lock."""
        lock_dir = self.root / ".locks"
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            fh = open(lock_dir / f"{key}.lock", "a")
        except OSError:
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored result, or None when absent. Raises CacheCorruption on a checksum or format problem."""
        with self._lock(key, exclusive=False):
            return self._load_unlocked(key)

    def _load_unlocked(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        sidecar = path.with_suffix(".sha256")
        if not path.exists():
            return None
        if not sidecar.exists():
            raise CacheCorruption(f"{path}: no checksum sidecar (interrupted write?)")
        expected = sidecar.read_text().strip()
        actual = sha256_file(path)
        if actual != expected:
            raise CacheCorruption(f"{path}: sha256 {actual[:12]} != recorded {expected[:12]}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                out: dict[str, Any] = {k: npz[k] for k in npz.files if k != META_KEY}
                meta = json.loads(bytes(npz[META_KEY]).decode())
        except Exception as exc:  # a valid checksum over an unreadable file: treat as corruption
            raise CacheCorruption(f"{path}: unreadable ({exc})") from exc
        out.update(meta["plain"])
        out[META_KEY] = meta["provenance"]
        return out

    def save(self, key: str, result: Mapping[str, Any], prov: Mapping[str, Any]) -> None:
        with self._lock(key, exclusive=True):
            self._save_unlocked(key, result, prov)

    def _save_unlocked(self, key: str, result: Mapping[str, Any], prov: Mapping[str, Any]) -> None:
        import io

        arrays, plain = _to_arrays(result)
        meta = {"plain": plain, "provenance": dict(prov)}
        arrays[META_KEY] = np.frombuffer(canonical_json(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        path = self.path(key)
        # Data first, checksum last: a crash in between leaves a file without a sidecar, which is never trusted.
        path.with_suffix(".sha256").unlink(missing_ok=True)
        atomic_write_bytes(path, data)
        atomic_write_bytes(path.with_suffix(".sha256"), hashlib.sha256(data).hexdigest().encode())

    # ------------------------------------------------------------------ judged cases
    # A run writes each judged case here the moment it is decided (results.json is assembled from these), so a
    # fault after a judgement (an interrupt, a cluster that fails to close, kill -9) cannot lose it and re-running
    # the same command takes it from here. The key covers everything the entry depends on (see runner.case_key).

    def case_path(self, key: str) -> Path:
        return self.root / "cases" / key[:2] / f"{key}.json"

    def save_case(self, key: str, entry: Mapping[str, Any]) -> None:
        body = _entry_json(entry)  # key order kept: a reused entry must print exactly like a fresh one
        doc = {"sha256": hashlib.sha256(body.encode()).hexdigest(), "entry": json.loads(body)}
        atomic_write_bytes(self.case_path(key), _entry_json(doc).encode())

    def load_case(self, key: str) -> dict[str, Any] | None:
        """The judged entry stored under ``key``; None when absent, or (with a warning) unreadable or altered."""
        path = self.case_path(key)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            warnings.warn(f"re-judging: unreadable judged case {path} ({exc})", stacklevel=2)
            return None
        entry = doc.get("entry") if isinstance(doc, dict) else None
        if (
            not isinstance(entry, dict)
            or doc.get("sha256") != hashlib.sha256(_entry_json(entry).encode()).hexdigest()
        ):
            warnings.warn(f"re-judging: judged case {path} fails its checksum", stacklevel=2)
            return None
        return entry

    def get_or_compute(
        self,
        key: str,
        name: str,
        config: Mapping[str, Any],
        seed: int,
        fn: Callable[[Mapping[str, Any], int], Mapping[str, Any]],
        *,
        device: str = "cpu",
        progress: bool = True,
    ) -> dict[str, Any]:
        if not self.enabled:
            return self._compute(name, config, seed, fn, device=device, progress=progress)[0]
        # One process computes a key while the others wait and then read its entry: no duplicate work and no
        # interleaved npz/sidecar writes (issue 15 item 2).
        with self._lock(key, exclusive=True):
            try:
                cached = self._load_unlocked(key)
            except CacheCorruption as exc:
                warnings.warn(f"recomputing corrupt cache entry: {exc}", stacklevel=2)
                cached = None
            if cached is not None:
                return cached
            _, result, prov = self._compute(name, config, seed, fn, device=device, progress=progress)
            self._save_unlocked(key, result, prov)
            loaded = self._load_unlocked(key)
            if loaded is None:
                raise CacheCorruption(f"{self.path(key)}: entry vanished right after it was written")
            return loaded

    def _compute(
        self,
        name: str,
        config: Mapping[str, Any],
        seed: int,
        fn: Callable[[Mapping[str, Any], int], Mapping[str, Any]],
        *,
        device: str,
        progress: bool,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Run ``fn``; returns (uncached round-trip-shaped result, raw result, provenance)."""
        if progress:
            print(f"[geomclaims] computing {name} seed={seed} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = dict(fn(config, seed))
        wall = time.perf_counter() - start
        prov = {
            **provenance(device),
            "experiment": name,
            "config": json.loads(canonical_json(config)),
            "seed": int(seed),
            "wall_s": round(wall, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if progress:
            print(f"[geomclaims] {name} seed={seed} done in {wall:.1f}s", file=sys.stderr, flush=True)
        arrays, plain = _to_arrays(result)  # same shapes and types as a cache round trip
        out: dict[str, Any] = {**arrays, **json.loads(canonical_json(plain)), META_KEY: prov}
        return out, result, prov
