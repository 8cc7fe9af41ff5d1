"""Process groups for the embedded engine: start a command, stream its output, kill its whole tree.

Every process started here leads a new session and process group (``start_new_session=True``), so one
signal to the group reaches every descendant that has not deliberately left it. A descendant that calls
``setsid``/``setpgid`` itself (a daemonising double fork) is out of reach, as it is for any supervisor that
does not use cgroups; the only symptom here is that it may keep the output pipe open, which is bounded
(see ``_DRAIN_S``).

Output goes through a pipe to the log keeper (``logkeeper``, one process per event loop while it has
processes), which writes the log file (capped) and passes the output on to the engine for streaming. If
the engine is killed, the process keeps writing into a pipe that is still read, so its log is complete to
the last line. After such a crash,
``kill_lost_tree`` finds what the process left from the recorded pid and start time, even when the leader
is gone, without mistaking a reused pid for it (its docstring reasons it out).

No thread per process: the exit of the leader is observed through a pidfd registered with the event loop
(with a polling fallback where pidfds do not exist), and output through a non-blocking pipe transport.

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
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from sengu.core import logkeeper
from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Failure

__all__ = [
    "ProcResult",
    "ProcSpec",
    "ProcStartError",
    "RunningProc",
    "boot_id",
    "end_lost_keeper",
    "group_alive",
    "kill_group",
    "kill_lost_tree",
    "lost_tree",
    "process_start_ticks",
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


class _Output:
    """One process's output as the engine sees it: chunks for ``on_output``, then the keeper's summary."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_output: Callable[[bytes], None] | None):
        self.summary: asyncio.Future[tuple[int, int] | None] = loop.create_future()
        self._on_output = on_output

    def output(self, data: bytes) -> None:
        if self._on_output is None:
            return
        try:
            self._on_output(data)
        except Exception:
            # A broken terminal must not break the run or its log; stop streaming, keep logging.
            logger.exception("on_output callback failed; streaming to it stopped")
            self._on_output = None

    def finished(self, summary: tuple[int, int] | None) -> None:
        if not self.summary.done():
            self.summary.set_result(summary)


class _KeeperClient:
    """The engine's side of the log keeper (``logkeeper``): one per event loop while it has processes."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        engine_end, keeper_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-I", "-S", logkeeper.__file__, str(keeper_end.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env={},
                pass_fds=(keeper_end.fileno(),),
                close_fds=True,
                # Its own session: a Ctrl-C at the terminal must not cut the logs short.
                start_new_session=True,
            )
        except OSError:
            engine_end.close()
            raise
        finally:
            keeper_end.close()
        self.start_ticks = process_start_ticks(self.popen.pid)
        self._sock = engine_end
        self._outputs: dict[int, _Output] = {}
        self._next_key = 0
        self.alive = True
        loop.add_reader(engine_end.fileno(), self._on_readable)

    def open(self, out_r: int, log_file: BinaryIO | None, cap: int, on_output: Callable[[bytes], None] | None) -> int:
        """Hand the read end of a process's output pipe (and its log) to the keeper; the key to follow it."""
        self._next_key += 1
        key = self._next_key
        self._outputs[key] = _Output(self._loop, on_output)
        fds = [out_r] if log_file is None else [out_r, log_file.fileno()]
        message = f"open {key} {cap} {int(log_file is not None)} {int(on_output is not None)}".encode()
        socket.send_fds(self._sock, [message], fds)
        return key

    def output(self, key: int) -> _Output:
        return self._outputs[key]

    def stop(self, key: int) -> None:
        """Stop reading a pipe a descendant that left the group holds open: the keeper finishes that log."""
        if self.alive:
            with contextlib.suppress(OSError):
                self._sock.send(f"stop {key}".encode())

    def _on_readable(self) -> None:
        while True:
            try:
                message = self._sock.recv(logkeeper.MAX_MESSAGE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self._lost()
                return
            kind, key = message[:1], logkeeper.KEY.unpack_from(message, 1)[0]
            output = self._outputs.get(key)
            if output is None:
                continue
            payload = message[1 + logkeeper.KEY.size :]
            if kind == logkeeper.OUTPUT:
                output.output(payload)
            elif kind == logkeeper.SUMMARY:
                log_bytes, dropped = payload.split()
                output.finished((int(log_bytes), int(dropped)))

    def _lost(self) -> None:
        """The keeper died (it never exits while it holds pipes): those logs end here."""
        if self.alive:
            logger.warning("the log keeper (pid %d) exited early; output of running processes is lost", self.popen.pid)
        self._detach()
        for output in self._outputs.values():
            output.finished(None)

    def _detach(self) -> None:
        if self.alive:
            self.alive = False
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            if _KEEPERS.get(self._loop) is self:
                del _KEEPERS[self._loop]

    async def release(self, key: int) -> None:
        """The process is done with its output. The last one ends the keeper (it exits once told)."""
        self._outputs.pop(key, None)
        if self._outputs:
            return
        self._detach()
        end = self._loop.time() + _SETTLE_S
        while self.popen.poll() is None:
            if self._loop.time() >= end:
                logger.warning("log keeper %d did not exit; killing it", self.popen.pid)
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait()
                break
            await asyncio.sleep(_POLL_S)


_KEEPERS: dict[asyncio.AbstractEventLoop, _KeeperClient] = {}


def _keeper(loop: asyncio.AbstractEventLoop) -> _KeeperClient:
    client = _KEEPERS.get(loop)
    if client is None or not client.alive:
        client = _KEEPERS[loop] = _KeeperClient(loop)
    return client


class RunningProc:
    """A started process and its group. Obtain one from ``start``; ``wait`` or ``stop`` it."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        spec: ProcSpec,
        keeper: tuple[_KeeperClient, int] | None,
        clock: Clock,
    ):
        self.pid: int = popen.pid
        # start_new_session makes the child the leader of a new session and group numbered by its pid.
        self.pgid: int = popen.pid
        # Read now, before anything can reap the process: with the pid, what finds the tree after a crash.
        self.start_ticks: int | None = process_start_ticks(popen.pid)
        # The log keeper's pid (None without a log or stream): recorded so a crash recovery can end it too.
        self.log_pid: int | None = keeper[0].popen.pid if keeper is not None else None
        self.log_start_ticks: int | None = keeper[0].start_ticks if keeper is not None else None
        self._popen = popen
        self._spec = spec
        self._keeper = keeper
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._output = keeper[0].output(keeper[1]) if keeper is not None else _Output(self._loop, None)
        if keeper is None:
            self._output.finished(None)
        self._exited: asyncio.Future[int] = self._loop.create_future()
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
        summary = self._output.summary.result() if self._output.summary.done() else None
        log_bytes, dropped = summary or (0, 0)
        return ProcResult(
            exit_code=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            timed_out=self._timed_out,
            cancelled=self._cancelled,
            log_bytes=log_bytes,
            dropped_bytes=dropped,
            pid=self.pid,
        )

    async def _drain(self) -> None:
        """Wait for the log keeper to write the last of the output; it does at the pipe's end."""
        if await self._output_done(_DRAIN_S):
            return
        logger.warning(
            "output of process %d still open %.0f s after its group exited: a descendant left the "
            "group and holds it; closing it",
            self.pid,
            _DRAIN_S,
        )
        self._stop_output()
        if not await self._output_done(_SETTLE_S):
            logger.warning("the log keeper did not finish the log of process %d", self.pid)

    async def _output_done(self, limit: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self._output.summary), limit)
        except TimeoutError:
            return False
        return True

    def _stop_output(self) -> None:
        if self._keeper is not None:
            self._keeper[0].stop(self._keeper[1])

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
            self._stop_output()
        if self._keeper is not None:
            await self._keeper[0].release(self._keeper[1])


async def start(
    spec: ProcSpec,
    *,
    on_output: Callable[[bytes], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> RunningProc:
    """Start ``spec.argv`` as the leader of a new process group and supervise it.

    Its output goes through a pipe to the log keeper process (``logkeeper``), which writes the log file and
    outlives the engine if the engine is killed, so no output is lost with it. ``on_output`` receives each
    chunk of combined output as it arrives, uncapped (the cap is on the log file only); it runs in the event
    loop and must not block. ``clock`` times the deadline and the kill grace, so tests can move them without
    sleeping. Raises ``ProcStartError`` if the command cannot start.
    """
    _check_cwd(spec)
    log_file = _open_log(spec)
    keeper: tuple[_KeeperClient, int] | None = None
    out_w: int | None = None
    if log_file is not None or on_output is not None:
        keeper, out_w = _hand_to_keeper(spec, log_file, on_output)
    try:
        popen = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=out_w if out_w is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=spec.env,
            cwd=spec.cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as e:
        error = _start_error(spec, e)
        if out_w is not None:
            # The run's log is where its owner looks first; say there why nothing ran.
            with contextlib.suppress(OSError):
                os.write(out_w, f"[sengu] {error}\n".encode())
            os.close(out_w)
        if keeper is not None:
            # Written before the caller may write the log itself.
            output = keeper[0].output(keeper[1])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(output.summary), _SETTLE_S)
            await keeper[0].release(keeper[1])
        raise error from e
    if out_w is not None:
        os.close(out_w)  # the process and its descendants hold the only write ends: EOF when they are all gone
    proc = RunningProc(popen, spec, keeper, clock)
    try:
        await proc._begin()
    except BaseException:
        kill_group(proc.pgid, signal.SIGKILL)
        popen.wait()
        await proc._close()
        raise
    return proc


def _hand_to_keeper(
    spec: ProcSpec, log_file: BinaryIO | None, on_output: Callable[[bytes], None] | None
) -> tuple[tuple[_KeeperClient, int], int]:
    """A pipe whose read end the log keeper holds; returns the keeper and key, and the write end."""
    out_r, out_w = os.pipe()
    try:
        client = _keeper(asyncio.get_running_loop())
        key = client.open(out_r, log_file, spec.log_cap_bytes, on_output)
    except OSError as e:
        os.close(out_w)
        raise ProcStartError(
            f"cannot start {spec.argv[0]!r}: cannot start its log keeper: {e.strerror or e}",
            argv=spec.argv,
            cwd=spec.cwd,
            errno_=e.errno,
        ) from e
    finally:
        os.close(out_r)  # the keeper has its own copies now
        if log_file is not None:
            log_file.close()
    return (client, key), out_w


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


@functools.cache
def boot_id() -> str | None:
    """This boot's id (``/proc/sys/kernel/random/boot_id``): start times are ticks since boot, so a pid and
    start time recorded before a reboot say nothing afterwards (and a reboot ended every process anyway)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


@dataclass(frozen=True)
class _ProcInfo:
    pid: int
    state: str
    pgid: int
    sid: int
    start_ticks: int


def _scan() -> list[_ProcInfo]:
    """Every process on the machine, from /proc (empty without /proc)."""
    try:
        entries = os.scandir("/proc")
    except OSError:
        return []
    with entries:
        names = [entry.name for entry in entries if entry.name.isdigit()]
    return [info for name in names if (info := _stat(int(name))) is not None]


def _stat(pid: int) -> _ProcInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None  # exited while we looked
    # The command name is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return _ProcInfo(pid, fields[0].decode("ascii", "replace"), int(fields[2]), int(fields[3]), int(fields[19]))


def _environ_has(pid: int, marker: dict[str, str]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = set(f.read().split(b"\0"))
    except OSError:
        return False  # gone, or another user's (which we could not signal anyway)
    return all(f"{k}={v}".encode() in environ for k, v in marker.items())


def lost_tree(leader: int, start_ticks: int, marker: dict[str, str]) -> list[int]:
    """The live processes left by a process tree started with ``start`` whose supervisor died.

    ``leader`` led its own session and group (numbered by its pid) and started at ``start_ticks``;
    ``marker`` is environment the tree was started with. A process is in the tree if its group or its
    session is ``leader`` — which keeps descendants whose leader has already exited, or that moved to a
    group of their own in the same session. Why that does not reach someone else's processes after pid reuse:

    - Linux does not reuse a number while any process still has it as its pid, group id or session id. So if
      a process numbered ``leader`` exists with another start time, the number was free at some point, which
      means nothing of our tree was left then: everything in that group or session now is someone else's.
    - If the leader is there with our start time (alive, or a zombie nobody reaped), the number never was
      free: every member is ours.
    - If no process has that number, the members either are our leader's descendants (the number stayed
      taken since it started) or belong to a group created later by another process that got the number
      after our tree had ended, and has exited itself. Both started after ``start_ticks``, so the start time
      cannot tell them apart; the environment can: only members that carry ``marker`` (inherited from our
      leader) are taken. A descendant of ours that cleared its environment is then left alone — a miss
      we prefer to signalling a stranger.

    A descendant that left both the group and the session (``setsid``, a daemon's double fork) is found by
    ``marker`` alone: the caller makes it unique to the attempt (its state directory, run and attempt), so a
    process carrying all of it and started after the leader descends from it. One that also cleared its
    environment is out of reach, as for any supervisor without cgroups. Zombies are not listed.
    """
    everything = _scan()
    me = os.getpid()
    lead = next((p for p in everything if p.pid == leader), None)
    if lead is not None and lead.start_ticks != start_ticks:
        return []
    live = [p for p in everything if p.state not in ("Z", "X") and p.pid != me]
    members = [p for p in live if p.pgid == leader or p.sid == leader]
    ours = (
        [p.pid for p in members]
        if lead is not None
        else [p.pid for p in members if p.start_ticks >= start_ticks and _environ_has(p.pid, marker)]
    )
    # Descendants that left the session (`setsid`, a daemon's double fork) keep the environment they were
    # started with: a process carrying the whole marker, started after the leader, is ours wherever it is.
    taken = set(ours)
    inside = {p.pid for p in members}
    return ours + [
        p.pid
        for p in live
        if p.pid not in inside and p.pid not in taken and p.start_ticks >= start_ticks and _environ_has(p.pid, marker)
    ]


def kill_lost_tree(leader: int, start_ticks: int, marker: dict[str, str]) -> list[int]:
    """SIGKILL every process of ``lost_tree``, until none is left (one may fork while we look); the pids.

    Processes owned by another user are logged and left (we cannot signal them).
    """
    killed: list[int] = []
    refused: set[int] = set()
    deadline = time.monotonic() + _SETTLE_S
    while time.monotonic() < deadline:
        members = [pid for pid in lost_tree(leader, start_ticks, marker) if pid not in refused]
        if not members:
            break
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            except PermissionError:
                logger.warning("process %d of lost process group %d belongs to another user; left running", pid, leader)
                refused.add(pid)
                continue
            if pid not in killed:
                killed.append(pid)
        time.sleep(_POLL_S)  # SIGKILL is delivered at once, but a process is gone only once the kernel finished it
    else:
        logger.warning("process group %d still has members %.0f s after SIGKILL", leader, _SETTLE_S)
    return killed


def end_lost_keeper(pid: int, start_ticks: int) -> bool:
    """After ``kill_lost_tree``: let the lost tree's log keeper finish writing (it exits at the end of its
    pipe), SIGTERM it if a runaway descendant still holds the pipe. False if it was not there (or reused)."""
    if process_start_ticks(pid) != start_ticks:
        return False
    end = time.monotonic() + _DRAIN_S
    while time.monotonic() < end:
        if not _running(pid, start_ticks):
            return True
        time.sleep(_POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + _SETTLE_S
    while time.monotonic() < end:
        if not _running(pid, start_ticks):
            return True
        time.sleep(_POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _running(pid: int, start_ticks: int) -> bool:
    info = _stat(pid)
    return info is not None and info.start_ticks == start_ticks and info.state not in ("Z", "X")
