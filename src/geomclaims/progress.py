"""Progress of a run on stderr: bars on a terminal, plain lines in a log.

tqdm redraws a bar with carriage returns; in a file or a CI log every redraw becomes a line of its own (a nested
case/job pair printed hundreds of partial lines per run). So the bars are drawn only when the stream is a TTY;
otherwise each finished job and each judged case prints one complete line with its count
(``[geomclaims] case 3/8: F2[1.0]  not_replicated  (expected not_replicated)``).
"""

from __future__ import annotations

import sys
from typing import IO, Any


def is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """Counts of judged cases and finished jobs: tqdm bars on a TTY, one plain line per event elsewhere."""

    def __init__(
        self,
        cases: int,
        profile: str,
        *,
        jobs: bool,
        enabled: bool = True,
        stream: IO[str] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream is not None
        self.tty = self.enabled and is_tty(self.stream)
        self.cases_total, self.cases_done = cases, 0
        self.jobs_total, self.jobs_done = 0, 0
        self._case_bar: Any = None
        self._job_bar: Any = None
        if self.tty:
            from tqdm import tqdm

            self._case_bar = tqdm(
                total=cases,
                desc=f"cases ({profile})",
                unit="case",
                position=1 if jobs else 0,
                file=self.stream,
                leave=True,
            )
            if jobs:
                self._job_bar = tqdm(total=0, desc="jobs", unit="job", position=0, file=self.stream)

    def write(self, line: str) -> None:
        """A message line (above the bars on a TTY)."""
        if not self.enabled:
            return
        if self.tty:
            from tqdm import tqdm

            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def job_submitted(self) -> None:
        self.jobs_total += 1
        if self._job_bar is not None:
            self._job_bar.total = self.jobs_total
            self._job_bar.refresh()

    def job_finished(
        self, label: str, *, failed: bool, running: int, failures: int, reason: str | None = None
    ) -> None:
        """One finished job; ``reason`` (a failure worth naming: not a speculative job's) is printed either way."""
        self.jobs_done += 1
        if self.tty:
            if reason:
                self.write(f"FAILED {reason}")
            if self._job_bar is not None:
                self._job_bar.update()
                self._job_bar.set_postfix(running=running, failed=failures, refresh=True)
        else:
            state = f"FAILED: {reason}" if reason else ("failed: " if failed else "done: ") + label
            self.write(f"[geomclaims] job {self.jobs_done}/{self.jobs_total} {state} ({running} running)")

    def case_finished(self, line: str) -> None:
        """One judged (or skipped / errored) case; ``line`` says which and how."""
        self.cases_done += 1
        if self.tty:
            self.write(line)
            if self._case_bar is not None:
                self._case_bar.update()
        else:
            self.write(f"[geomclaims] case {self.cases_done}/{self.cases_total}: {line}")

    def close(self) -> None:
        for bar in (self._job_bar, self._case_bar):
            if bar is not None:
                bar.close()


def case_line(entry: dict[str, Any]) -> str:
    """How a judged case is shown while a run goes on: its verdict against its own control. The final verdict (every
    control on the same run, measurements.py) is decided once the run's cases are in, so a reading shown
    ``replicated`` here may end ``trivial``; the line says so instead of setting it beside the final expectation."""
    return f"{entry['id']:<40} {entry['verdict']:<15} (own control; final verdict expected {entry['expected_verdict']})"
