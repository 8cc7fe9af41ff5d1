"""Job output repeated on the engine's stdout, each line prefixed with its job and run, for container logs.

The echo follows each attempt's log file rather than the process's pipe: whatever writes the log (the
engine from a pipe, or the job itself straight into the file), the file is the one record of the output, and
the echo shows what it holds (past the log cap, neither has more). Lines go to the ``sengu.jobs`` logger,
one record per batch of lines; `sengu up` sends that logger to stdout, or nowhere (``--no-job-output``).
The engine follows nothing when the logger is not enabled for INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sengu.batch.execute import Outcome, RunHooks, log_path_for
from sengu.batch.resolve import JobPlan
from sengu.batch.runs import Run

JOB_OUTPUT = logging.getLogger("sengu.jobs")

POLL_S = 0.2  # how often running attempts' logs are read: the delay a line may take to reach stdout
READ_MAX = 1 << 20  # per file and poll, so one chatty job does not hold the loop
MAX_LINE = 64 * 1024  # a longer line without a newline is shown in pieces


def enabled() -> bool:
    return JOB_OUTPUT.isEnabledFor(logging.INFO)


class _Follower:
    def __init__(self, path: Path, prefix: str):
        self.path = path
        self.prefix = prefix
        self.file: BinaryIO | None = None
        self.partial = b""

    def read(self, *, final: bool) -> list[str]:
        if self.file is None:
            try:
                self.file = open(self.path, "rb")  # noqa: SIM115 - kept open while the attempt runs
            except OSError:
                return []  # not created yet (or could not start): nothing to show
        chunks = []
        while data := self.file.read(READ_MAX):
            chunks.append(data)
            if not final:
                break
        lines = (self.partial + b"".join(chunks)).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > MAX_LINE or (final and self.partial):
            lines.append(self.partial)
            self.partial = b""
        return [f"{self.prefix} {_text(line)}" for line in lines]

    def close(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None


class OutputEcho:
    """Follows the log file of every running attempt, by run."""

    def __init__(self, logs_dir: Path, *, poll_s: float = POLL_S):
        self.logs_dir = logs_dir
        self.poll_s = poll_s
        self._following: dict[int, _Follower] = {}

    def follow(self, plan: JobPlan, run_id: int, attempt: int) -> None:
        """Start showing an attempt's output; the run's previous attempt (finished by now) is shown to its end."""
        self.finish(run_id)
        prefix = f"[{plan.name} #{run_id}]" if attempt == 1 else f"[{plan.name} #{run_id} attempt {attempt}]"
        self._following[run_id] = _Follower(log_path_for(self.logs_dir, plan, run_id, attempt), prefix)

    def finish(self, run_id: int) -> None:
        """The run's process has ended: show the rest of its output, the last line even without a newline."""
        follower = self._following.pop(run_id, None)
        if follower is not None:
            _emit(follower.read(final=True))
            follower.close()

    def poll(self) -> None:
        for follower in list(self._following.values()):
            _emit(follower.read(final=False))

    async def run(self) -> None:
        """Poll until cancelled (after the engine's runs have finished)."""
        try:
            while True:
                await asyncio.sleep(self.poll_s)
                self.poll()
        finally:
            for run_id in list(self._following):
                self.finish(run_id)


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "backslashreplace")


def _emit(lines: list[str]) -> None:
    if lines:
        JOB_OUTPUT.info("\n".join(lines))


class EchoingHooks:
    """The engine's RunHooks, plus following each attempt's output as it starts."""

    def __init__(self, inner: RunHooks, echo: OutputEcho):
        self.inner = inner
        self.echo = echo

    def attempt_started(self, plan: JobPlan, run: Run, attempt: int) -> None:
        self.inner.attempt_started(plan, run, attempt)
        self.echo.follow(plan, run.id, attempt)

    def attempt_finished(self, plan: JobPlan, run: Run, attempt: int) -> None:
        self.inner.attempt_finished(plan, run, attempt)

    def run_finished(self, plan: JobPlan, run: Run, outcome: Outcome) -> None:
        self.inner.run_finished(plan, run, outcome)

    def run_not_started(self, plan: JobPlan, scheduled_at: datetime, status: str, reason: str) -> None:
        self.inner.run_not_started(plan, scheduled_at, status, reason)
