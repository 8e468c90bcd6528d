"""Make ``geomclaims.studies`` entry points visible the way an installed distribution does, without pip.

``importlib.metadata`` finds a distribution through a ``<name>-<version>.dist-info/`` folder on ``sys.path`` with a
``METADATA`` and an ``entry_points.txt``; writing one into a temporary directory and putting that directory on
``sys.path`` (or PYTHONPATH, for a subprocess) "installs" a plugin for the test session. The in-tree studies' table
comes from pyproject.toml, so a test of discovery reads what a real install would read.

Run directly, it writes the in-tree studies' dist-info for manual CLI runs::

    python tests/spine/plugin_helpers.py /tmp/plugins-ep   # then PYTHONPATH=src:/tmp/plugins-ep
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import tomllib

from geomclaims.plugin import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[2]


def pyproject_studies(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """The ``[project.entry-points."geomclaims.studies"]`` table of a pyproject.toml (``{name: "module:attr"}``)."""
    data = tomllib.loads(pyproject.read_text())
    return dict(data["project"]["entry-points"][ENTRY_POINT_GROUP])


def write_dist_info(
    root: Path, dist: str, entry_points: Mapping[str, str], group: str = ENTRY_POINT_GROUP
) -> Path:
    """Write ``root/<dist>-0.dist-info`` exposing ``entry_points`` in ``group``; returns ``root`` (for sys.path)."""
    info = Path(root) / f"{dist}-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0\n")
    lines = [f"[{group}]", *(f"{name} = {target}" for name, target in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return Path(root)


def write_intree(root: Path) -> Path:
    """The in-tree studies' entry points, as pyproject.toml declares them, under a distribution of their own name
    (not ``geomclaims``: that would shadow the installed package's version in the provenance)."""
    return write_dist_info(root, "geomclaims_intree_studies", pyproject_studies())


if __name__ == "__main__":
    print(write_intree(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/plugins-ep")))
