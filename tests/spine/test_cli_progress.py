"""Progress output (issue 26 item 5): bars on a terminal only; in a log one plain line per finished job and case."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from geomclaims.executor import run_cases
from geomclaims.runner import Session
from geomclaims.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from test_executor import InlineExecutor, _cases  # the executor tests' in-process Dask stand-in


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(fixture_root: Path, tmp_path: Path) -> None:
    session = Session(profile="ci", store=Store(tmp_path / "store"), progress=False)
    out = run_cases(session, _cases(fixture_root), InlineExecutor(), on_entry=session.record)  # type: ignore[arg-type]
    assert len(out.entries) == 8 and not out.errors


def test_a_log_gets_one_plain_line_per_job_and_case(fixture_root: Path, tmp_path: Path, capsys):
    _run(fixture_root, tmp_path)
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err and "%|" not in err  # no bar redraws in a log
    lines = err.splitlines()
    case_lines = [line for line in lines if line.startswith("[geomclaims] case ")]
    job_lines = [line for line in lines if line.startswith("[geomclaims] job ")]
    assert len(case_lines) == 8 and case_lines[-1].startswith("[geomclaims] case 8/8: ")
    assert any("F2[1.0]" in line and "not_replicated" in line for line in case_lines)
    assert len(job_lines) == 10 and all(" done: fixture/gaussian" in line for line in job_lines)
    assert job_lines[0].startswith("[geomclaims] job 1/")


def test_a_terminal_gets_bars(fixture_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _run(fixture_root, tmp_path)
    text = terminal.getvalue()
    assert "\r" in text and "cases (ci)" in text and "jobs" in text
    assert "[geomclaims] case " not in text  # the counts are in the bars


def test_fetch_draws_no_bar_into_a_log(monkeypatch):
    """`geomclaims fetch` in a CI log: no tqdm redraw lines (issue #26 item 5), the archives still fetched."""
    import io
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from geomclaims.resources import fetcher

    monkeypatch.setattr(fetcher, "ensure_archive", lambda pkg: Path(pkg))
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    paths = fetcher._fetch_archives(SimpleNamespace(packages=["a", "b"], name="src"), True)
    assert paths == [Path("a"), Path("b")]
    assert "fetch src" not in log.getvalue() and "\r" not in log.getvalue()
