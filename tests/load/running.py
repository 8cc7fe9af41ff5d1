"""`sengu load …` as a running subprocess whose stderr is read line by line as it comes, so a test can see
what is printed when (and send it SIGINT at a chosen line) without sleeping."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

WAIT_S = 90.0  # generous: the machine is shared


class Running:
    """``with Running("load", "run", …) as run: run.wait_for(lambda line: …); run.interrupt(); run.finish()``.

    ``lines`` holds every stderr line read so far, with ``running`` (did the process still run when the line
    was read) in ``alive``.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sengu", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
        )
        self.lines: list[str] = []
        self.alive: list[bool] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stdout = ""

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, match: Callable[[str], bool]) -> str:
        """Read stderr until a line matches; return it (fails if the process ends first)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise AssertionError("the process ended before the line came:\n" + "\n".join(self.lines))
            self.lines.append(line)
            self.alive.append(self.proc.poll() is None)
            if match(line):
                return line

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self) -> int:
        """Wait for the end; read the rest of stderr and all of stdout; the exit code."""
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()
        code = self.proc.wait(timeout=WAIT_S)
        while (line := self._queue.get(timeout=WAIT_S)) is not None:
            self.lines.append(line)
            self.alive.append(False)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
