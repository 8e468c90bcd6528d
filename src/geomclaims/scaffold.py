"""``geomclaims new-study NAME``: write an installable study package that passes the contract as generated.

The package is the demo study's layout (tests/fixtures/demo_study, docs/ADD_A_PAPER.md) with one claim, one
experiment and its control: a spec exposed through the ``geomclaims.studies`` entry point, a claims file shipped
inside the package, smoke/ci/full profiles, an evidence function, a report section and a pytest module. Replace
the placeholder experiment with the paper's; ``geomclaims check-study NAME`` tells what the contract still misses.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_FILES: dict[str, str] = {
    "pyproject.toml": """[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "geomclaims-{name}"
version = "0.1.0"
description = "geomclaims study {name}"
requires-python = ">=3.10"
dependencies = ["geomclaims", "numpy"]

[project.entry-points."geomclaims.studies"]
{name} = "{package}.spec:STUDY"

[tool.setuptools.package-data]
{package} = ["claims.yaml"]
""",
    "{package}/__init__.py": '''"""Study {name}. Importing this package registers its profiles, evidence functions and report section."""

from {package} import experiment, report  # noqa: F401  (registration)
''',
    "{package}/spec.py": '''"""The study's plugin declaration (entry point ``geomclaims.studies`` in pyproject.toml): names only."""

from pathlib import Path

from geomclaims.plugin import StudySpec

STUDY = StudySpec(
    name="{name}",
    module="{package}",
    paper_id="{name}_paper",
    claims=Path(__file__).with_name("claims.yaml"),
    blurb="TODO: one line on the paper",
    orientation="{package}.orientation",
)
''',
    "{package}/orientation.py": '''"""Orientation checks of study {name} (the contract's item 7, geomclaims.orientation): each evidence function
fed canned runs with a known answer must give it, and must not give it once the runs are swapped or a sign flipped.
Add one check per (experiment, metric) whose claim has a direction (>, >=, <, <=)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geomclaims.claims import ClaimCase
from geomclaims.orientation import CannedRuns, OrientationCheck, median_measured
from geomclaims.registry import study_settings

from .experiment import signal


def _signal(case: ClaimCase, swapped: bool) -> float:
    """Signal runs serve a mean of 1.0, the no-signal control 0.0; swapped: each gets the other's runs."""

    def serve(name: str, config: Mapping[str, Any], seed: int) -> dict[str, Any]:
        with_signal = config["signal"] != 0.0
        return {{"mean": 1.0 if with_signal != swapped else 0.0}}

    return median_measured(signal(case, CannedRuns(study_settings("{name}", "smoke"), serve)))


CHECKS = (
    OrientationCheck("{name}/signal", "mean", "signal runs and no-signal control exchanged", _signal, expected=1.0),
)
''',
    "{package}/claims.yaml": """paper: {{id: {name}_paper, title: "TODO: the paper's title", source: "TODO: where the paper is"}}
version: 1
claims:
  - id: {upper}1
    section: "TODO: section / figure"
    statement: "TODO: the paper's statement, paraphrased (placeholder: the signal's mean exceeds 0.5)."
    experiment: {name}/signal
    metric: mean
    expect: {{op: ">", value: 0.5}}
    null: {{name: no_signal, rule: above_quantile, q: 0.95, description: "the same measurement without the signal"}}
    tolerance: {{atol: 0.05}}
    paper_value: "> 0.5"
    rationale: "TODO: why this threshold (from the paper's text or figures; never tuned to the result)."
    expected_verdict: {{ci: replicated}}
""",
    "{package}/experiment.py": '''"""Experiments of study {name} (pure functions of (config, seed)) and its evidence functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geomclaims.claims import ClaimCase
from geomclaims.registry import Evidence, RunContext, evidence, register_profiles

register_profiles(
    "{name}",
    {{
        "smoke": {{"seeds": [0, 1, 2], "null_seeds": list(range(100, 120)), "n": 100}},
        "ci": {{"seeds": list(range(5)), "null_seeds": list(range(100, 200)), "n": 1000}},
        "full": {{"seeds": list(range(20)), "null_seeds": list(range(100, 300)), "n": 10000}},
    }},
)


def measure(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Placeholder experiment: the mean of n draws of N(signal, 1). Put every knob in config, seed from seed."""
    rng = np.random.default_rng(seed)
    return {{"mean": float(rng.normal(config["signal"], 1.0, size=config["n"]).mean()), "data_seed": seed}}


@evidence("{name}/signal")
def signal(case: ClaimCase, ctx: RunContext) -> Evidence:
    s = ctx.settings
    measured = [ctx.run("measure", {{"n": s["n"], "signal": 1.0}}, seed, measure)["mean"] for seed in s["seeds"]]
    null = [ctx.run("measure", {{"n": s["n"], "signal": 0.0}}, seed, measure)["mean"] for seed in s["null_seeds"]]
    return Evidence(measured=measured, null=null, details={{"mean": measured}})
''',
    "{package}/report.py": '''"""Study {name}'s report section: markdown (and figures in fig_dir) from its results entries only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geomclaims.registry import report_section


@report_section("{name}")
def section(entries: list[dict[str, Any]], fig_dir: Path) -> str:
    lines = ["### {name}", ""]
    for e in entries:
        value = "-" if not e.get("measured") else f"{{e['measured']['value']:.3f}}"
        lines.append(f"- {{e['id']}}: {{e['verdict']}}, measured {{value}}")
    return "\\n".join(lines)
''',
    "tests/test_{name}_claims.py": '''"""The claims of study {name} as pytest items: `pytest tests --claims-profile smoke` (plumbing) or ci."""

import pytest

pytestmark = [pytest.mark.claims("{name}_paper"), pytest.mark.{name}]


def test_claim(claim_case, check_claim):
    check_claim(claim_case)
''',
    "tests/test_{name}_contract.py": '''"""The study passes the geomclaims study contract (structure, controls that can fail, same seed same numbers)."""

from geomclaims.contract import check_study


def test_contract():
    check_study("{name}", run_smoke=True)
''',
}


def new_study(name: str, directory: str | Path = ".") -> Path:
    """Write the package ``<directory>/geomclaims-<name>/``; returns its path. Refuses to overwrite a folder."""
    if not _NAME.match(name):
        raise ValueError(
            f"study name {name!r} must be lower-case letters, digits and _, starting with a letter"
        )
    root = Path(directory) / f"geomclaims-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists; choose another --dir or name")
    fields = {"name": name, "package": f"{name}_study", "upper": name[:1].upper()}
    for rel, template in _FILES.items():
        path = root / rel.format(**fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return root
