"""Process groups for the embedded engine: start a command, stream its output, kill its whole tree.

Every process started here leads a new session and process group (``start_new_session=True``), so one
signal to the group reaches every descendant that has not deliberately left it. A descendant that calls
``setsid``/``setpgid`` itself (a daemonising double fork) is out of reach, as it is for any supervisor that
does not use cgroups; the only symptom here is that it may keep the output pipe open, which is bounded
(see ``_DRAIN_S``).

No thread per process: the exit of the leader is observed through a pidfd registered with the event loop
(with a polling fallback where pidfds do not exist), and output through a non-blocking pipe transport
that writes each chunk straight to the log file, so memory use does not grow with output size.

Policy: when the leader exits, whatever is left in its group is killed too (SIGTERM, then SIGKILL after the
grace). A job is over when its main process is over. Leftovers would otherwise outlive the job
unsupervised: beyond its deadline, overlapping the next run of the same job, holding the log pipe open so
the run never finishes, and surviving into states the store no longer tracks. It is also what Kubernetes
does when a container's main process exits, so a job behaves the same on both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Failure

__all__ = [
    "ProcResult",
    "ProcSpec",
    "ProcStartError",
    "RunningProc",
    "group_alive",
    "kill_group",
    "start",
]

logger = logging.getLogger(__name__)

# How often to look at a group while waiting for it to die. Members other than the leader are not our
# children, so nothing notifies us of their death; polling is the only portable way.
_POLL_S = 0.02
# After SIGKILL the kernel finishes a process almost at once; a process stuck in uninterruptible I/O is
# the exception. Past this, give up waiting (and say so) rather than hang the run forever.
_SETTLE_S = 5.0
# After the group is gone, a descendant that left the group may still hold the output pipe. Wait this
# long for it to close, then close our end: the run must finish even if its output never ends.
_DRAIN_S = 2.0


class ProcStartError(Failure):
    """The command could not be started: missing executable, not executable, bad working directory.

    A ``Failure`` (exit 1) rather than a ``UserError``: at run time it is a failed run of a job; checking
    executables up front, with a location in the spec, is the capability's business.
    """

    def __init__(self, message: str, *, argv: list[str], cwd: str | None, errno_: int | None = None):
        super().__init__(message)
        self.argv = argv
        self.cwd = cwd
        self.errno = errno_


@dataclass(frozen=True)
class ProcSpec:
    """What to run and how. ``argv`` is final: string commands become ``["/bin/sh", "-c", cmd]`` upstream."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    # Combined stdout+stderr is written here (file truncated, parent directories made).
    log_path: str | None = None
    # Past the cap the process keeps running but its output is dropped; one note line records how much.
    log_cap_bytes: int = 10 * 1024 * 1024
    # Seconds from start after which the whole tree is killed.
    deadline_s: float | None = None
    # Seconds between SIGTERM and SIGKILL to the group.
    kill_grace_s: float = 5.0

    def __post_init__(self) -> None:
        # Programming errors of the caller, not user input: the capability validates the spec first.
        if not self.argv:
            raise ValueError("ProcSpec.argv must not be empty")
        if self.log_cap_bytes < 0:
            raise ValueError("ProcSpec.log_cap_bytes must be >= 0")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("ProcSpec.deadline_s must be > 0")
        if self.kill_grace_s < 0:
            raise ValueError("ProcSpec.kill_grace_s must be >= 0")


@dataclass(frozen=True)
class ProcResult:
    """How a run ended, as observed."""

    exit_code: int | None  # None if the leader was ended by a signal
    signal: int | None  # the signal that ended the leader (e.g. 9, 15)
    timed_out: bool  # the deadline fired while the leader was running
    cancelled: bool  # stop() was called while the leader was running
    log_bytes: int  # bytes of output written to the log (the cap note is not counted)
    dropped_bytes: int  # bytes of output past the cap; log_bytes + dropped_bytes = all output
    pid: int


def kill_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to every process in group ``pgid``. False if the group no longer exists.

    Meant also for cleaning up after a crash, from a pgid recorded in the store. Caveat, pid reuse: once
    every member of a group has exited and been reaped, its number is free, and a new unrelated process
    can get that pid and lead a group of the same number. While one member of the old group exists the
    kernel will not reuse the number, so the risk is only for groups that are already gone; compare the
    process start time (field 22 of ``/proc/<pgid>/stat``) with a recorded one before trusting an old
    pgid whose leader is still there. A ``PermissionError`` (group owned by another user) propagates.
    """
    _check_pgid(pgid)
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True if some process in group ``pgid`` is still running.

    Zombies do not count: they are dead, cannot be signalled, and wait only for their parent (often init,
    which may reap lazily) to collect them. The pid-reuse caveat of ``kill_group`` applies.
    """
    _check_pgid(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    states = _group_states(pgid)
    if states is None:
        return True
    return any(state not in ("Z", "X") for state in states)


def _check_pgid(pgid: int) -> None:
    # killpg(0) is our own group and killpg(1) init's on some systems; a stale or zeroed value from the
    # store must never signal the engine itself.
    if pgid <= 1:
        raise ValueError(f"refusing to signal process group {pgid}")
    if pgid == os.getpgrp():
        raise ValueError(f"refusing to signal process group {pgid}: it is this process's own group")


def _group_states(pgid: int) -> list[str] | None:
    """The states (R, S, D, Z, ...) of the members of ``pgid``, from /proc; None without /proc."""
    try:
        entries = os.scandir("/proc")
    except OSError:
        return None
    states: list[str] = []
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue  # exited while we looked
            # The command name is in parentheses and may hold spaces or parentheses itself.
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) == pgid:
                states.append(fields[0].decode("ascii", "replace"))
    return states


class _OutputSink(asyncio.Protocol):
    """Receives the combined output pipe: streams each chunk to ``on_output`` and writes it to the log."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        log_file: BinaryIO | None,
        cap: int,
        on_output: Callable[[bytes], None] | None,
    ):
        self.closed: asyncio.Future[None] = loop.create_future()
        self.log_bytes = 0
        self.dropped_bytes = 0
        self._file = log_file
        self._cap = cap
        self._on_output = on_output
        self._ends_with_newline = True
        self._write_failed = False

    def data_received(self, data: bytes) -> None:
        if self._on_output is not None:
            try:
                self._on_output(data)
            except Exception:
                # A broken terminal must not break the run or its log; stop streaming, keep logging.
                logger.exception("on_output callback failed; streaming to it stopped")
                self._on_output = None
        if self._file is None:
            return
        room = 0 if self._write_failed else self._cap - self.log_bytes
        keep = data if len(data) <= room else data[: max(room, 0)]
        self.dropped_bytes += len(data) - len(keep)
        if not keep:
            return
        try:
            self._file.write(keep)
            # Flushed per chunk so someone following the log sees output as the process makes it.
            self._file.flush()
        except OSError as e:
            # Disk full or similar: the process must still be supervised; its output is what we lose.
            logger.warning("writing the process log failed (%s); further output is dropped", e)
            self._write_failed = True
            self.dropped_bytes += len(keep)
            return
        self.log_bytes += len(keep)
        self._ends_with_newline = keep.endswith(b"\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def finish(self) -> None:
        """Append the cap note if output was dropped, and close the log."""
        if self._file is None:
            return
        try:
            if self.dropped_bytes and not self._write_failed:
                lead = b"" if self._ends_with_newline else b"\n"
                note = f"[sengu] log cap of {self._cap} bytes reached: dropped {self.dropped_bytes} bytes of output\n"
                self._file.write(lead + note.encode())
        except OSError as e:
            logger.warning("writing the log cap note failed: %s", e)
        finally:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


class RunningProc:
    """A started process and its group. Obtain one from ``start``; ``wait`` or ``stop`` it."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        spec: ProcSpec,
        sink: _OutputSink,
        clock: Clock,
    ):
        self.pid: int = popen.pid
        # start_new_session makes the child the leader of a new session and group numbered by its pid.
        self.pgid: int = popen.pid
        self._popen = popen
        self._spec = spec
        self._sink = sink
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._transport: asyncio.BaseTransport | None = None
        self._pidfd: int | None = None
        self._helpers: list[asyncio.Task[None]] = []  # deadline, escalation timers, exit poller
        self._escalate = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None
        self._term_sent = False
        self._group_gone = False
        self._finished = False
        self._timed_out = False
        self._cancelled = False
        self._task: asyncio.Task[ProcResult] | None = None

    async def _begin(self) -> None:
        if self._popen.stdout is not None:
            self._transport, _ = await self._loop.connect_read_pipe(lambda: self._sink, self._popen.stdout)
        else:
            self._sink.connection_lost(None)
        try:
            self._pidfd = os.pidfd_open(self.pid)
            self._loop.add_reader(self._pidfd, self._on_pidfd)
        except (AttributeError, OSError):
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
            self._helpers.append(self._loop.create_task(self._poll_exit()))
        if self._spec.deadline_s is not None:
            self._helpers.append(self._loop.create_task(self._deadline(self._spec.deadline_s)))
        self._task = self._loop.create_task(self._supervise())

    @property
    def done(self) -> bool:
        """True once the run has finished and its result is ready."""
        return self._task is not None and self._task.done()

    async def wait(self) -> ProcResult:
        """Wait for the leader to exit, its leftovers to be killed and its output to be written."""
        assert self._task is not None
        # Shielded: a caller that stops waiting must not abandon the process unsupervised.
        return await asyncio.shield(self._task)

    async def stop(self, grace_s: float | None = None) -> ProcResult:
        """SIGTERM the group, SIGKILL after the grace (default: the spec's); marks the run cancelled.

        Stopping a run whose leader has already exited changes nothing but may hasten the killing of
        its leftovers; the result then is not marked cancelled.
        """
        grace = self._spec.kill_grace_s if grace_s is None else grace_s
        if not self._exited.done():
            self._cancelled = True
        self._request_kill(grace)
        return await self.wait()

    def _on_pidfd(self) -> None:
        returncode = self._popen.poll()
        if returncode is None:
            return
        self._close_pidfd()
        if not self._exited.done():
            self._exited.set_result(returncode)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    async def _poll_exit(self) -> None:
        while (returncode := self._popen.poll()) is None:
            await asyncio.sleep(_POLL_S)
        if not self._exited.done():
            self._exited.set_result(returncode)

    async def _deadline(self, seconds: float) -> None:
        await self._clock.sleep(seconds)
        if self._exited.done():
            return
        if not self._term_sent:
            self._timed_out = True
        self._request_kill(self._spec.kill_grace_s)

    def _request_kill(self, grace: float) -> None:
        """SIGTERM the group (once), arrange SIGKILL after ``grace``, and watch the group until it is gone."""
        if self._finished or self._group_gone:
            return
        if not self._term_sent:
            self._term_sent = True
            self._signal_group(signal.SIGTERM)
        if grace <= 0:
            self._escalate.set()
        else:
            # Each request adds its own timer so a shorter grace from a later stop() wins.
            self._helpers.append(self._loop.create_task(self._escalate_after(grace)))
        if self._reaper is None:
            self._reaper = self._loop.create_task(self._reap_group())

    async def _escalate_after(self, grace: float) -> None:
        await self._clock.sleep(grace)
        self._escalate.set()

    def _signal_group(self, sig: int) -> None:
        # Once the leader is reaped its pid can be reused as soon as the group is empty; look before
        # signalling so a stale number never reaches someone else's group.
        if self._exited.done() and not group_alive(self.pgid):
            return
        kill_group(self.pgid, sig)

    async def _reap_group(self) -> None:
        if not await self._wait_group_gone(until=self._escalate):
            self._signal_group(signal.SIGKILL)
            if not await self._wait_group_gone(limit=_SETTLE_S):
                logger.warning(
                    "process group %d still has members %.0f s after SIGKILL (uninterruptible sleep?)",
                    self.pgid,
                    _SETTLE_S,
                )
        self._group_gone = True

    async def _wait_group_gone(self, *, until: asyncio.Event | None = None, limit: float | None = None) -> bool:
        """True once no member of the group runs; False if ``until`` is set or ``limit`` passes first."""
        end = None if limit is None else self._loop.time() + limit
        while group_alive(self.pgid):
            if until is not None and until.is_set():
                return False
            if end is not None and self._loop.time() >= end:
                return False
            await asyncio.sleep(_POLL_S)
        return True

    async def _supervise(self) -> ProcResult:
        try:
            returncode = await self._exited
            if self._reaper is None:
                if group_alive(self.pgid):
                    # Leftovers in the group: the job is over when its main process is (module docstring).
                    self._request_kill(self._spec.kill_grace_s)
                else:
                    self._group_gone = True
            if self._reaper is not None:
                await self._reaper
            await self._drain()
        finally:
            self._finished = True
            await self._close()
        return ProcResult(
            exit_code=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            timed_out=self._timed_out,
            cancelled=self._cancelled,
            log_bytes=self._sink.log_bytes,
            dropped_bytes=self._sink.dropped_bytes,
            pid=self.pid,
        )

    async def _drain(self) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._sink.closed), _DRAIN_S)
        except TimeoutError:
            logger.warning(
                "output of process %d still open %.0f s after its group exited: a descendant left the "
                "group and holds it; closing it",
                self.pid,
                _DRAIN_S,
            )

    async def _close(self) -> None:
        for task in self._helpers:
            task.cancel()
        if self._reaper is not None:
            self._reaper.cancel()
        self._close_pidfd()
        if not self._exited.done():
            # Only reached if supervision itself was cancelled: leave nothing running behind.
            with contextlib.suppress(OSError):
                kill_group(self.pgid, signal.SIGKILL)
        if self._transport is not None:
            self._transport.close()
            # connection_lost (which closes the pipe) runs on the next loop iteration.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._sink.closed)
        self._sink.finish()


async def start(
    spec: ProcSpec,
    *,
    on_output: Callable[[bytes], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> RunningProc:
    """Start ``spec.argv`` as the leader of a new process group and supervise it.

    ``on_output`` receives each chunk of combined output as it arrives, uncapped (the cap is on the log
    file only); it runs in the event loop and must not block. ``clock`` times the deadline and the kill
    grace, so tests can move them without sleeping. Raises ``ProcStartError`` if the command cannot start.
    """
    loop = asyncio.get_running_loop()
    _check_cwd(spec)
    log_file = _open_log(spec)
    capture = log_file is not None or on_output is not None
    try:
        popen = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=spec.env,
            cwd=spec.cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as e:
        error = _start_error(spec, e)
        if log_file is not None:
            # The run's log is where its owner looks first; say there why nothing ran.
            with contextlib.suppress(OSError):
                log_file.write(f"[sengu] {error}\n".encode())
            log_file.close()
        raise error from e
    proc = RunningProc(popen, spec, _OutputSink(loop, log_file, spec.log_cap_bytes, on_output), clock)
    try:
        await proc._begin()
    except BaseException:
        kill_group(proc.pgid, signal.SIGKILL)
        popen.wait()
        await proc._close()
        raise
    return proc


def _check_cwd(spec: ProcSpec) -> None:
    # Checked here because the child's chdir error is reported as a bare errno, indistinguishable from a
    # missing executable for the reader of the message.
    if spec.cwd is None:
        return
    if not os.path.exists(spec.cwd):
        raise ProcStartError(
            f"cannot start {spec.argv[0]!r}: working directory {spec.cwd!r} does not exist",
            argv=spec.argv,
            cwd=spec.cwd,
            errno_=errno.ENOENT,
        )
    if not os.path.isdir(spec.cwd):
        raise ProcStartError(
            f"cannot start {spec.argv[0]!r}: working directory {spec.cwd!r} is not a directory",
            argv=spec.argv,
            cwd=spec.cwd,
            errno_=errno.ENOTDIR,
        )


def _open_log(spec: ProcSpec) -> BinaryIO | None:
    if spec.log_path is None:
        return None
    try:
        parent = os.path.dirname(spec.log_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        # Closed by the sink when the run ends.
        return open(spec.log_path, "wb")
    except OSError as e:
        raise ProcStartError(
            f"cannot start {spec.argv[0]!r}: cannot open log file {spec.log_path!r}: {e.strerror}",
            argv=spec.argv,
            cwd=spec.cwd,
            errno_=e.errno,
        ) from e


def _start_error(spec: ProcSpec, e: OSError) -> ProcStartError:
    program = spec.argv[0]
    if spec.cwd is not None and e.filename == spec.cwd:
        reason = f"working directory {spec.cwd!r}: {e.strerror}"
    elif isinstance(e, FileNotFoundError):
        reason = "no such file" if os.sep in program else "not found on PATH"
    elif isinstance(e, PermissionError):
        reason = "permission denied (not executable?)"
    else:
        reason = e.strerror or str(e)
    return ProcStartError(f"cannot start {program!r}: {reason}", argv=spec.argv, cwd=spec.cwd, errno_=e.errno)


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22), or None if gone.

    Stored with a pid so that after a crash a reused pid is not mistaken for our orphan.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])
