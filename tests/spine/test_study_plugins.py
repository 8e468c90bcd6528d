"""Study discovery through the ``geomclaims.studies`` entry points (geomclaims.plugin): the in-tree studies from
pyproject.toml's table, conflicts and broken plugins named, a stale install told to reinstall, spec.py unhashed."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from plugin_helpers import ROOT, pyproject_studies, write_dist_info

from geomclaims import plugin, registry
from geomclaims.plugin import PluginError, StudySpec


@pytest.fixture
def entry_points_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A sys.path folder for dist-infos; the discovery cache is cleared before and after."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    plugin.clear_cache()
    yield root
    plugin.clear_cache()


def test_pyproject_table_discovers_the_in_tree_studies(entry_points_dir: Path):
    table = pyproject_studies()
    write_dist_info(entry_points_dir, "intree_copy", table)
    dist = metadata.PathDistribution(entry_points_dir / "intree_copy-0.dist-info")
    specs = {ep.name: ep.load() for ep in dist.entry_points.select(group=plugin.ENTRY_POINT_GROUP)}
    assert set(specs) == set(table) and len(table) == 3
    for name, spec in specs.items():
        assert (
            isinstance(spec, StudySpec)
            and spec.name == name
            and spec.module.startswith("geomclaims.studies.")
        )
        assert spec.claims_path(ROOT).is_file()  # the claims file it names is the checkout's
    found = {s.name: s for s in plugin.discovered()}
    assert set(table) <= set(
        found
    )  # also with the installed dist-info exposing the same specs (deduplicated)


def test_no_table_of_papers_in_the_spine():
    """The spine's modules name no study or paper (issue 27 item 1): the specs are the only place."""
    names = {w for s in plugin.all_specs() if s.module.startswith("geomclaims.studies.") for w in s.names()}
    spine = [
        p for p in (ROOT / "src" / "geomclaims").rglob("*.py") if not {"studies", "metrics"} & set(p.parts)
    ]
    hits = [(p.name, n) for p in spine for n in names if len(n) > 1 and n in p.read_text()]
    assert not hits


def test_broken_plugin_is_named(entry_points_dir: Path):
    (entry_points_dir / "broken_study.py").write_text("raise RuntimeError('half-installed')\n")
    write_dist_info(entry_points_dir, "broken", {"broken": "broken_study:STUDY"})
    with pytest.raises(
        PluginError, match=r"entry point 'broken' = 'broken_study:STUDY'.*RuntimeError: half-installed"
    ):
        plugin.discovered()


def test_entry_point_that_is_not_a_spec(entry_points_dir: Path):
    (entry_points_dir / "notspec_study.py").write_text("STUDY = {'name': 'x'}\n")
    write_dist_info(entry_points_dir, "notspec", {"notspec": "notspec_study:STUDY"})
    with pytest.raises(PluginError, match=r"'notspec'.*is a dict, not a geomclaims\.plugin\.StudySpec"):
        plugin.discovered()


def test_two_plugins_claiming_one_alias(entry_points_dir: Path):
    for name in ("one", "two"):
        (entry_points_dir / f"{name}_study.py").write_text(
            "from geomclaims.plugin import StudySpec\n"
            f"STUDY = StudySpec(name={name!r}, module='x', paper_id={name + '_paper'!r}, aliases=('Q',))\n"
        )
        write_dist_info(entry_points_dir, name, {name: f"{name}_study:STUDY"})
    with pytest.raises(PluginError, match=r"entry point 'two'.*entry point 'one'.*both claim the name 'q'"):
        plugin.all_specs()


def test_register_study_goes_through_the_same_checks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(plugin, "REGISTERED", {})
    registry.register_study("extra", "extra_module", "extra_paper", aliases=("X",))
    assert plugin.get_spec("extra").module == "extra_module"
    assert ("X", "extra_paper") in plugin.paper_names()
    taken = next(s for s in plugin.all_specs() if s.name != "extra")
    with pytest.raises(PluginError, match="both claim the name"):
        registry.register_study("clash", "m", taken.paper_id)


def test_stale_install_says_reinstall(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(plugin, "discovered", lambda: ())
    monkeypatch.setattr(plugin, "REGISTERED", {})
    with pytest.raises(PluginError, match=r"Reinstall: `./dev env` \(or `pip install -e \.`"):
        plugin.all_specs()


def test_spec_py_is_not_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Adding or editing a study's spec.py (a declaration) keeps its code version, so no result is recomputed."""
    pkg = tmp_path / "hashed_study_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        plugin.REGISTERED, "hashed", StudySpec(name="hashed", module="hashed_study_pkg", paper_id="h")
    )
    sys.modules.pop("hashed_study_pkg", None)

    def version() -> str:
        registry.study_code_version.cache_clear()
        return registry.study_code_version("hashed")

    before = version()
    (pkg / "spec.py").write_text("STUDY = 'a declaration'\n")
    (pkg / "report.py").write_text("# figures\n")
    assert version() == before
    (pkg / "model.py").write_text("SCALE = 2\n")
    assert version() != before
    registry.study_code_version.cache_clear()


def test_study_markers_come_from_the_specs():
    from geomclaims.markers import CLAIM_MARKERS, known_markers

    studies = {s.marker for s in plugin.all_specs()}
    assert not studies & set(CLAIM_MARKERS)  # the generic table names no study
    assert studies <= set(known_markers())
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not any(f'"{m}: ' in pyproject for m in studies)  # registered in pytest_configure, not pyproject
