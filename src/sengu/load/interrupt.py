"""Ctrl-C while `sengu load run` or `step` measures: the first stops the run early and keeps what was
measured (the outputs are written, marked interrupted); a second one quits at once, as Ctrl-C always does.

The signal handler only sets a flag: the engine polls it (every 10 ms) and ends the run itself, so no
exception ever lands in the middle of the measuring.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Self

EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


class Interrupt:
    """``with Interrupt() as stop: run(..., stop=stop)``; ``stop()`` is True once SIGINT came."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # Python only lets the main thread do this
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt  # the second Ctrl-C: the user does not want to wait for the outputs
        self.requested = True
