"""A function computed in a forked child while the caller goes on with other work: two cores for one command.

`sengu batch render` checks 11,000 CronJobs against the official schemas (0.35 s) and prints them (0.4 s);
neither needs the other, so the check runs in a child that shares the rendered objects copy-on-write and
sends back only its result. Where there is no fork (Windows) or it fails, the function runs in the caller
when the result is asked for: same result, one core.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Forked"]


class Forked(Generic[T]):
    """`fn(*args)`, computed in a child process from now on; `result()` waits for it.

    The result must pickle. An exception in the child (or a child that dies) makes `result()` compute the
    function again here, so what the caller sees — value or exception — never depends on the fork.
    The child writes nothing but its result: no output, no atexit handlers, no buffered stdout flushed twice.
    """

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._fn, self._args = fn, args
        self._pid: int | None = None
        self._fd: int | None = None
        if not hasattr(os, "fork"):
            return
        try:
            read, write = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # the child
            code = 0
            try:
                os.close(read)
                payload = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as out:
                    out.write(payload)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        self._pid, self._fd = pid, read

    def result(self) -> T:
        if self._pid is None or self._fd is None:
            return self._fn(*self._args)
        with os.fdopen(self._fd, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = self._fd = None
        if os.waitstatus_to_exitcode(status) != 0 or not payload:
            return self._fn(*self._args)
        value: T = pickle.loads(payload)
        return value
