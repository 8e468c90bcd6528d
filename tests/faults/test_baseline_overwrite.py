"""Item 7: the committed baseline is written by `geomclaims gate --regen` only, and regen touches only its own files.

Before the fix: `pytest --claims-results B --claims-baseline B` wrote B and compared it with itself (gate OK despite
a flip); `geomclaims run --out reports/ci` replaced the committed baseline; `gate --regen` accepted a smoke results
file for the ci baseline and deleted every file in figures/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults_helpers import PYTEST_CONFTEST

from geomclaims.cli import main
from geomclaims.runner import read_results

pytest_plugins = ["pytester"]

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "spine" / "results_fixed.json"
TEST_MODULE = """
import pytest
pytestmark = pytest.mark.claims("fixture_paper")

def test_claim(claim_case, check_claim):
    check_claim(claim_case)
"""


@pytest.fixture
def plugin_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> pytest.Pytester:
    claims = pytester.path / "claims"
    claims.mkdir()
    fixture_yaml = FIXED.parent / "claims" / "fixture.yaml"
    (claims / "fixture.yaml").write_text(fixture_yaml.read_text())
    monkeypatch.setenv("GEOMCLAIMS_ROOT", str(pytester.path))
    monkeypatch.setenv("GEOMCLAIMS_CACHE", str(tmp_path / "cache"))
    pytester.makeconftest(PYTEST_CONFTEST)
    pytester.makepyfile(test_fixture_claims=TEST_MODULE)
    return pytester


def _committed_baseline(root: Path, profile: str = "ci") -> Path:
    data = json.loads(FIXED.read_text())
    data["profile"] = profile
    path = root / "reports" / profile / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_pytest_refuses_results_equal_to_the_baseline(plugin_project: pytest.Pytester):
    baseline = plugin_project.path / "b" / "results.json"
    baseline.parent.mkdir()
    baseline.write_text(FIXED.read_text())
    before = baseline.read_bytes()
    # Spell the same file two ways: the check compares resolved paths.
    r = plugin_project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--claims-results",
        "b/../b/results.json",
        "--claims-baseline",
        str(baseline),
    )
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--claims-results*is the baseline*"])
    assert baseline.read_bytes() == before


@pytest.mark.parametrize(
    "option", [["--claims-results", "reports/ci/results.json"], ["--claims-report", "reports/ci"]]
)
def test_pytest_refuses_to_write_into_the_committed_baseline_dir(plugin_project: pytest.Pytester, option):
    baseline = _committed_baseline(plugin_project.path)
    before = baseline.read_bytes()
    r = plugin_project.runpytest_subprocess("-p", "no:cacheprovider", *option)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*committed baseline directory*--regen*"])
    assert baseline.read_bytes() == before
    assert not (baseline.parent / "REPORT.md").exists()


def test_pytest_may_write_latest(plugin_project: pytest.Pytester):
    """Control: the default place, reports/ci/latest, stays allowed."""
    _committed_baseline(plugin_project.path)
    r = plugin_project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--claims-results",
        "reports/ci/latest/results.json",
        "--claims-report",
        "reports/ci/latest",
    )
    assert r.ret == pytest.ExitCode.OK
    assert (plugin_project.path / "reports" / "ci" / "latest" / "REPORT.md").exists()


def test_cli_run_refuses_out_into_the_committed_baseline_dir(project: Path, capsys):
    baseline = _committed_baseline(project)
    before = baseline.read_bytes()
    for out in (baseline.parent, baseline.parent / "figures"):
        assert main(["run", "--claim", "F2", "--device", "cpu", "--out", str(out)]) == 2
        assert "committed baseline directory" in capsys.readouterr().err
    assert baseline.read_bytes() == before
    latest = baseline.parent / "latest"
    assert main(["run", "--claim", "F2", "--device", "cpu", "--out", str(latest)]) == 0
    assert baseline.read_bytes() == before and (latest / "results.json").exists()


def test_regen_refuses_a_results_file_of_another_profile(project: Path, tmp_path: Path, capsys):
    baseline = _committed_baseline(project, "ci")
    before = baseline.read_bytes()
    smoke = json.loads(FIXED.read_text())
    smoke["profile"] = "smoke"
    smoke_path = tmp_path / "smoke.json"
    smoke_path.write_text(json.dumps(smoke))
    assert main(["gate", str(smoke_path), "--baseline", str(baseline), "--regen"]) == 2
    assert "profile" in capsys.readouterr().err
    assert baseline.read_bytes() == before
    # A new baseline file (none yet) in reports/ci/ still takes only ci results.
    baseline.unlink()
    assert main(["gate", str(smoke_path), "--baseline", str(baseline), "--regen"]) == 2
    assert not baseline.exists()
    # And a custom baseline path keeps the profile of the file it replaces.
    custom = tmp_path / "custom" / "results.json"
    custom.parent.mkdir()
    custom.write_text(FIXED.read_text())
    assert main(["gate", str(smoke_path), "--baseline", str(custom), "--regen"]) == 2
    assert read_results(custom)["profile"] == "ci"


def test_regen_deletes_only_the_figures_it_generated(project: Path, tmp_path: Path):
    baseline = _committed_baseline(project)
    figures = baseline.parent / "figures"
    # First regen with a results file that includes the faults paper: its section draws faults_cases.png.
    with_faults = json.loads(FIXED.read_text())
    extra = dict(with_faults["claims"][0], id="R1", claim_id="R1", paper="faults_paper", study="faults")
    with_faults["claims"].append(extra)
    first = tmp_path / "first.json"
    first.write_text(json.dumps(with_faults))
    assert main(["gate", str(first), "--baseline", str(baseline), "--regen"]) == 0
    assert (figures / "faults_cases.png").exists() and (figures / "summary_fixture_paper.png").exists()
    (figures / "hand_drawn.png").write_bytes(b"not ours")
    (figures / "README.txt").write_text("notes kept with the figures")
    # Second regen without the faults paper: its figure is stale and goes; files regen did not write stay.
    assert main(["gate", str(FIXED), "--baseline", str(baseline), "--regen"]) == 0
    assert not (figures / "faults_cases.png").exists()
    assert (figures / "summary_fixture_paper.png").exists()
    assert (figures / "hand_drawn.png").read_bytes() == b"not ours"
    assert (figures / "README.txt").exists()


def test_regen_without_a_manifest_deletes_only_figures_the_old_report_links(project: Path):
    """A baseline written before the manifest existed: the old REPORT.md's links say what regen drew."""
    baseline = _committed_baseline(project)
    figures = baseline.parent / "figures"
    figures.mkdir()
    (figures / "old_section.png").write_bytes(b"drawn by an old report")
    (figures / "hand_drawn.png").write_bytes(b"not ours")
    (baseline.parent / "REPORT.md").write_text("# old\n\n![old](figures/old_section.png)\n")
    assert main(["gate", str(FIXED), "--baseline", str(baseline), "--regen"]) == 0
    assert not (figures / "old_section.png").exists()
    assert (figures / "hand_drawn.png").exists() and (figures / "summary_fixture_paper.png").exists()


def test_regen_refuses_results_with_errored_cases(project: Path, tmp_path: Path, capsys):
    baseline = _committed_baseline(project)
    before = baseline.read_bytes()
    data = json.loads(FIXED.read_text())
    data["claims"][0] = dict(data["claims"][0], verdict="error", explanation="error: RuntimeError: boom")
    bad = tmp_path / "errored.json"
    bad.write_text(json.dumps(data))
    assert main(["gate", str(bad), "--baseline", str(baseline), "--regen"]) == 2
    assert "error" in capsys.readouterr().err
    assert baseline.read_bytes() == before
