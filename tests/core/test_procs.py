"""sengu.core.procs against real subprocesses: exit, signals, deadlines, whole-tree kills, logs, streaming."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sengu.core.clock import FakeClock
from sengu.core.procs import (
    ProcResult,
    ProcSpec,
    ProcStartError,
    RunningProc,
    boot_id,
    group_alive,
    kill_group,
    kill_lost_tree,
    lost_tree,
    process_start_ticks,
    start,
)

T = TypeVar("T")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}

# Popen, pipes and files left behind show up as ResourceWarnings from their finalisers.
pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def sh(script: str, **kw: Any) -> ProcSpec:
    return ProcSpec(["/bin/sh", "-c", script], dict(ENV), **kw)


def running(pid: int) -> bool:
    """Whether pid is a live process; a zombie is dead, only waiting for its parent to collect it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


async def group_vanishes(pgid: int, within: float = 5.0) -> bool:
    """Wait until os.killpg(pgid, 0) says ESRCH: no member left, zombies included.

    Orphans are collected by init; this machine's init does that lazily (up to ~2 s), hence the wait.
    """
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


class Collect:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.arrived = asyncio.Event()

    def __call__(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.arrived.set()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    async def first_line(self) -> bytes:
        while b"\n" not in self.data:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)
        return self.data.split(b"\n", 1)[0]


# --- exit codes and signals -------------------------------------------------------------------------


def test_exit_codes_are_reported() -> None:
    async def body() -> tuple[ProcResult, ProcResult]:
        ok = await (await start(ProcSpec(["true"], dict(ENV)))).wait()
        three = await (await start(sh("exit 3"))).wait()
        return ok, three

    ok, three = run(body())
    assert (ok.exit_code, ok.signal, ok.timed_out, ok.cancelled) == (0, None, False, False)
    assert (three.exit_code, three.signal) == (3, None)


def test_signal_that_ended_the_leader_is_reported() -> None:
    async def body() -> tuple[ProcResult, int]:
        proc = await start(sh("kill -KILL $$"))
        return await proc.wait(), proc.pid

    result, pid = run(body())
    assert result.exit_code is None
    assert result.signal == signal.SIGKILL
    assert result.pid == pid


def test_child_leads_its_own_group() -> None:
    async def body() -> tuple[int, int, int]:
        proc = await start(ProcSpec(["sleep", "5"], dict(ENV)))
        pgid = os.getpgid(proc.pid)
        sid = os.getsid(proc.pid)
        await proc.stop(grace_s=0.5)
        return proc.pid, pgid, sid

    pid, pgid, sid = run(body())
    assert pgid == pid and sid == pid
    assert pgid != os.getpgrp()


# --- deadlines and whole-tree kills -----------------------------------------------------------------


def test_deadline_kills_the_grandchild_too() -> None:
    async def body() -> tuple[ProcResult, int, int, bool, float]:
        out = Collect()
        started = time.monotonic()
        proc = await start(sh("sleep 100 & echo $!; wait", deadline_s=0.3, kill_grace_s=1.0), on_output=out)
        grandchild = int(await out.first_line())
        was_running = running(grandchild)
        result = await proc.wait()
        return result, grandchild, proc.pgid, was_running, time.monotonic() - started

    result, grandchild, pgid, was_running, elapsed = run(body())
    assert was_running
    assert result.timed_out and not result.cancelled
    assert result.signal == signal.SIGTERM
    assert 0.3 <= elapsed < 1.0  # SIGTERM sufficed; no grace spent
    assert not running(grandchild)
    assert not group_alive(pgid)
    assert run(group_vanishes(pgid))


def test_term_ignoring_tree_is_killed_after_the_grace() -> None:
    async def body() -> tuple[ProcResult, int, int, float]:
        out = Collect()
        started = time.monotonic()
        spec = sh("trap '' TERM; sleep 100 & echo $!; wait", deadline_s=0.2, kill_grace_s=0.3)
        proc = await start(spec, on_output=out)
        grandchild = int(await out.first_line())
        result = await proc.wait()
        return result, grandchild, proc.pgid, time.monotonic() - started

    result, grandchild, pgid, elapsed = run(body())
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    assert elapsed >= 0.5  # deadline + grace: SIGTERM was given its chance
    assert elapsed < 2.0
    assert not running(grandchild)
    assert run(group_vanishes(pgid))


def test_leftovers_are_killed_when_the_leader_exits() -> None:
    async def body() -> tuple[ProcResult, int, int, float]:
        out = Collect()
        started = time.monotonic()
        proc = await start(sh("sleep 100 & echo $!", kill_grace_s=1.0), on_output=out)
        result = await proc.wait()
        return result, int(out.data.split(b"\n")[0]), proc.pgid, time.monotonic() - started

    result, grandchild, pgid, elapsed = run(body())
    assert result.exit_code == 0 and not result.timed_out and not result.cancelled
    assert elapsed < 1.0  # SIGTERM sufficed, and the open pipe did not hold the run
    assert not running(grandchild)
    assert run(group_vanishes(pgid))


def test_term_ignoring_leftovers_get_sigkill_after_the_grace() -> None:
    async def body() -> tuple[ProcResult, int, float]:
        out = Collect()
        started = time.monotonic()
        proc = await start(sh("trap '' TERM; sleep 100 & echo $!", kill_grace_s=0.3), on_output=out)
        result = await proc.wait()
        return result, int(out.data.split(b"\n")[0]), time.monotonic() - started

    result, grandchild, elapsed = run(body())
    assert result.exit_code == 0
    assert 0.3 <= elapsed < 2.0
    assert not running(grandchild)


def test_deadline_follows_the_injected_clock() -> None:
    async def body() -> tuple[bool, ProcResult]:
        clock = FakeClock()
        proc = await start(ProcSpec(["sleep", "100"], dict(ENV), deadline_s=60, kill_grace_s=5), clock=clock)
        try:
            await asyncio.sleep(0)  # let the deadline task start its sleep on the clock
            clock.advance(59.9)
            for _ in range(5):
                await asyncio.sleep(0)
            alive_before = group_alive(proc.pgid) and not proc.done
            clock.advance(0.1)
            result = await asyncio.wait_for(proc.wait(), 5)
        finally:
            if not proc.done:
                await proc.stop(grace_s=0)
        return alive_before, result

    alive_before, result = run(body())
    assert alive_before
    assert result.timed_out and result.signal == signal.SIGTERM


# --- stop() -----------------------------------------------------------------------------------------


def test_stop_cancels_and_kills_the_tree() -> None:
    async def body() -> tuple[ProcResult, int, float]:
        out = Collect()
        proc = await start(sh("sleep 100 & echo $!; wait"), on_output=out)
        grandchild = int(await out.first_line())
        started = time.monotonic()
        result = await proc.stop(grace_s=1.0)
        return result, grandchild, time.monotonic() - started

    result, grandchild, elapsed = run(body())
    assert result.cancelled and not result.timed_out
    assert result.signal == signal.SIGTERM
    assert elapsed < 1.0
    assert not running(grandchild)


def test_stop_escalates_to_sigkill() -> None:
    async def body() -> tuple[ProcResult, float]:
        out = Collect()
        proc = await start(sh("trap '' TERM; echo ready; while :; do sleep 0.05; done"), on_output=out)
        await out.first_line()
        started = time.monotonic()
        result = await proc.stop(grace_s=0.2)
        return result, time.monotonic() - started

    result, elapsed = run(body())
    assert result.cancelled and result.signal == signal.SIGKILL
    assert 0.2 <= elapsed < 2.0


def test_stop_after_exit_changes_nothing() -> None:
    async def body() -> tuple[ProcResult, ProcResult]:
        proc = await start(sh("exit 4"))
        first = await proc.wait()
        return first, await proc.stop()

    first, second = run(body())
    assert first == second
    assert second.exit_code == 4 and not second.cancelled


def test_waiters_may_give_up_without_abandoning_the_process() -> None:
    async def body() -> tuple[bool, ProcResult]:
        proc = await start(ProcSpec(["sleep", "0.3"], dict(ENV)))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.05)
        still = group_alive(proc.pgid)
        return still, await proc.wait()

    still, result = run(body())
    assert still
    assert result.exit_code == 0


# --- output: log file, cap, streaming ---------------------------------------------------------------


def test_stdout_and_stderr_go_to_the_log_and_the_stream(tmp_path: Path) -> None:
    log = tmp_path / "deep" / "er" / "run.log"
    out = Collect()

    async def body() -> ProcResult:
        proc = await start(sh("echo out; echo err >&2; echo again", log_path=str(log)), on_output=out)
        return await proc.wait()

    result = run(body())
    assert log.read_bytes() == b"out\nerr\nagain\n"
    assert out.data == log.read_bytes()
    assert result.log_bytes == len(b"out\nerr\nagain\n") and result.dropped_bytes == 0


def test_log_is_truncated_on_start(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"stale output from an earlier run\n")
    run(_wait(sh("echo fresh", log_path=str(log))))
    assert log.read_bytes() == b"fresh\n"


async def _wait(spec: ProcSpec) -> ProcResult:
    return await (await start(spec)).wait()


def test_log_cap_drops_output_past_it_and_says_how_much(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    cap, total = 64 * 1024, 1024 * 1024
    spec = ProcSpec(["head", "-c", str(total), "/dev/zero"], dict(ENV), log_path=str(log), log_cap_bytes=cap)
    result = run(_wait(spec))
    data = log.read_bytes()
    assert result.exit_code == 0  # the process kept going; nothing was killed by a full pipe
    assert result.log_bytes == cap
    assert result.dropped_bytes == total - cap
    assert data[:cap] == b"\0" * cap
    note = data[cap:]
    assert note.startswith(b"\n") and note.endswith(b"\n") and note.count(b"\n") == 2
    assert str(total - cap).encode() in note
    assert len(data) < cap + 200


def test_output_exactly_at_the_cap_is_kept_whole(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = run(_wait(sh("printf 'abc\\n'", log_path=str(log), log_cap_bytes=4)))
    assert log.read_bytes() == b"abc\n"
    assert (result.log_bytes, result.dropped_bytes) == (4, 0)


def test_cap_note_follows_a_line_ending_output(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = run(_wait(sh("printf 'abc\\ndef\\n'", log_path=str(log), log_cap_bytes=4)))
    assert log.read_bytes().startswith(b"abc\n[sengu]")
    assert (result.log_bytes, result.dropped_bytes) == (4, 4)


def test_output_streams_while_the_process_runs() -> None:
    async def body() -> tuple[bytes, bool, ProcResult]:
        out = Collect()
        proc = await start(sh("echo first; sleep 5; echo never"), on_output=out)
        line = await out.first_line()
        return line, proc.done, await proc.stop(grace_s=0.5)

    line, done_when_seen, result = run(body())
    assert line == b"first"
    assert not done_when_seen
    assert result.cancelled


def test_failing_stream_callback_does_not_break_the_log(tmp_path: Path) -> None:
    log = tmp_path / "run.log"

    def broken(chunk: bytes) -> None:
        raise RuntimeError("terminal went away")

    async def body() -> ProcResult:
        return await (await start(sh("echo a; echo b", log_path=str(log)), on_output=broken)).wait()

    result = run(body())
    assert result.exit_code == 0
    assert log.read_bytes() == b"a\nb\n"


# --- environment, working directory, start errors ----------------------------------------------------


def test_env_is_exactly_the_given_one_and_cwd_is_honoured(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    spec = ProcSpec(
        ["/bin/sh", "-c", 'echo "$FOO"; echo "${HOME-unset}"; pwd'],
        {"FOO": "bar baz", "PATH": ENV["PATH"]},
        cwd=str(tmp_path),
        log_path=str(log),
    )
    result = run(_wait(spec))
    assert result.exit_code == 0
    assert log.read_text().splitlines() == ["bar baz", "unset", str(tmp_path)]


def test_program_is_looked_up_on_the_given_path(tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "mytool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexit 7\n")
    tool.chmod(0o755)
    spec = ProcSpec(["mytool"], {"PATH": f"{tool.parent}:{ENV['PATH']}"})
    assert run(_wait(spec)).exit_code == 7


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_missing_executable_raises_a_typed_error(tmp_path: Path) -> None:
    log = tmp_path / "run.log"

    async def body() -> tuple[ProcStartError, int, int]:
        before = fds()
        with pytest.raises(ProcStartError) as info:
            await start(ProcSpec(["no-such-program-sengu"], dict(ENV), log_path=str(log)))
        return info.value, before, fds()

    error, before, after = run(body())
    assert "no-such-program-sengu" in str(error) and "not found" in str(error)
    assert error.argv == ["no-such-program-sengu"]
    assert before == after
    assert b"no-such-program-sengu" in log.read_bytes()  # the run's log says why nothing ran


def test_bad_working_directory_raises_a_typed_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")

    async def body() -> tuple[ProcStartError, ProcStartError]:
        with pytest.raises(ProcStartError) as missing:
            await start(ProcSpec(["true"], dict(ENV), cwd=str(tmp_path / "nope")))
        with pytest.raises(ProcStartError) as not_dir:
            await start(ProcSpec(["true"], dict(ENV), cwd=str(a_file)))
        return missing.value, not_dir.value

    missing, not_dir = run(body())
    assert "working directory" in str(missing) and "does not exist" in str(missing)
    assert "not a directory" in str(not_dir)


def test_non_executable_file_raises_a_typed_error(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)

    async def body() -> ProcStartError:
        with pytest.raises(ProcStartError) as info:
            await start(ProcSpec([str(script)], dict(ENV)))
        return info.value

    # Even root needs an execute bit to exec a file, so this holds whoever runs the tests.
    assert "permission denied" in str(run(body()))


def test_unwritable_log_raises_a_typed_error_before_starting(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")

    async def body() -> ProcStartError:
        with pytest.raises(ProcStartError) as info:
            await start(ProcSpec(["true"], dict(ENV), log_path=str(blocker / "run.log")))
        return info.value

    assert "log file" in str(run(body()))


def test_spec_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ProcSpec([], {})
    with pytest.raises(ValueError):
        ProcSpec(["true"], {}, deadline_s=0)
    with pytest.raises(ValueError):
        ProcSpec(["true"], {}, log_cap_bytes=-1)


# --- kill_group / group_alive (for orphans recorded before a crash) ------------------------------------


def test_kill_group_and_group_alive_on_a_foreign_group() -> None:
    # A group this module did not start, as after an engine crash: only its pgid is known.
    leader = subprocess.Popen(["/bin/sh", "-c", "sleep 100 & wait"], start_new_session=True)
    try:
        assert group_alive(leader.pid)
        assert kill_group(leader.pid, signal.SIGKILL)
        leader.wait(5)
        assert run(group_vanishes(leader.pid))
        assert not group_alive(leader.pid)
        assert not kill_group(leader.pid, signal.SIGTERM)  # ESRCH is not an error
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


def test_group_alive_ignores_zombies() -> None:
    # The leader stays an unreaped zombie (we do not wait for it yet): dead, though killpg(0) succeeds.
    leader = subprocess.Popen(["true"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while running(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(leader.pid, 0)  # still in the process table
        assert not group_alive(leader.pid)
    finally:
        leader.wait()


def test_refuses_to_signal_its_own_or_special_groups() -> None:
    for pgid in (0, 1, os.getpgrp()):
        with pytest.raises(ValueError):
            kill_group(pgid, 0)
        with pytest.raises(ValueError):
            group_alive(pgid)


# --- lost_tree / kill_lost_tree (what a crashed supervisor's tree left) ----------------------------------

MARK = {"SENGU_TEST_TREE": "lost-tree"}


def lost_leader(script: str) -> tuple[int, int, list[int]]:
    """A tree as an engine crash leaves it: its leader has exited and been reaped, its other members run.

    Returns the leader's pid, its start time, and the members' pids (each member prints its pid).
    """
    leader = subprocess.Popen(
        ["/bin/sh", "-c", script + "; read x"],
        env={**ENV, **MARK},
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert leader.stdin is not None and leader.stdout is not None
    ticks = process_start_ticks(leader.pid)
    assert ticks is not None
    members = [int(leader.stdout.readline())]
    leader.stdin.close()  # the leader reads EOF and exits
    leader.wait(5)
    leader.stdout.close()
    return leader.pid, ticks, members


def test_lost_tree_finds_members_after_the_leader_is_gone_and_kills_them() -> None:
    pid, ticks, members = lost_leader("(sleep 222 >/dev/null & echo $!)")
    try:
        assert lost_tree(pid, ticks, MARK) == members
        assert kill_lost_tree(pid, ticks, MARK) == members
        assert not running(members[0]) and lost_tree(pid, ticks, MARK) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(members[0], signal.SIGKILL)


def test_lost_tree_finds_a_member_that_moved_to_its_own_group_in_the_session() -> None:
    mover = "import os, sys, time; os.setpgid(0, 0); print(os.getpid(), flush=True); time.sleep(222)"
    pid, ticks, members = lost_leader(f"({sys.executable} -c '{mover}' & )")
    try:
        stat = Path(f"/proc/{members[0]}/stat").read_text()
        pgid, sid = (int(f) for f in stat[stat.rindex(")") + 2 :].split()[2:4])
        assert (pgid, sid) == (members[0], pid)
        assert lost_tree(pid, ticks, MARK) == members
    finally:
        os.kill(members[0], signal.SIGKILL)


def test_lost_tree_finds_a_member_that_left_the_session_by_its_environment() -> None:
    # `setsid` (a daemon's double fork) leaves group and session: only the inherited marker still tells.
    pid, ticks, members = lost_leader("(setsid sleep 222 >/dev/null & echo $!)")
    try:

        def session() -> int:
            stat = Path(f"/proc/{members[0]}/stat").read_text()
            return int(stat[stat.rindex(")") + 2 :].split()[3])

        def settled() -> bool:  # `setsid` has left the session and exec'd sleep (mid-exec, environ reads empty)
            return session() != pid and Path(f"/proc/{members[0]}/comm").read_text().strip() == "sleep"

        deadline = time.monotonic() + 5
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session() != pid  # not in the lost session any more
        assert lost_tree(pid, ticks, MARK) == members
        assert kill_lost_tree(pid, ticks, MARK) == members
        assert lost_tree(pid, ticks, {"SENGU_TEST_TREE": "another"}) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(members[0], signal.SIGKILL)


def test_lost_tree_leaves_processes_that_cannot_be_ours() -> None:
    pid, ticks, members = lost_leader("(sleep 222 >/dev/null & echo $!)")
    try:
        # A reused number whose leader has exited: its members lack the environment ours were started with.
        assert lost_tree(pid, ticks, {"SENGU_TEST_TREE": "another"}) == []
        # Members that started before the recorded leader cannot descend from it.
        assert lost_tree(pid, ticks + 10**9, MARK) == []
    finally:
        os.kill(members[0], signal.SIGKILL)


def test_lost_tree_leaves_a_group_whose_leader_started_at_another_time() -> None:
    # The number is someone else's now: a process holds it with another start time.
    leader = subprocess.Popen(["/bin/sh", "-c", "sleep 222 & wait"], env={**ENV, **MARK}, start_new_session=True)
    try:
        ticks = process_start_ticks(leader.pid)
        assert ticks is not None
        assert lost_tree(leader.pid, ticks - 1, MARK) == []
        assert leader.pid in lost_tree(leader.pid, ticks, MARK)
    finally:
        kill_group(leader.pid, signal.SIGKILL)
        leader.wait()


def test_boot_id_is_known_here() -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", boot_id() or "")


# --- the log keeper ----------------------------------------------------------------------------------


def test_one_log_keeper_serves_concurrent_processes_and_ends_after_the_last(tmp_path: Path) -> None:
    async def body() -> tuple[list[RunningProc], list[ProcResult]]:
        specs = [sh(f"echo out-{i}; sleep 0.{i}", log_path=str(tmp_path / f"{i}.log")) for i in range(3)]
        procs = [await start(spec) for spec in specs]
        return procs, [await p.wait() for p in procs]

    procs, results = run(body())
    (keeper,) = {p.log_pid for p in procs}
    assert keeper is not None and keeper not in {p.pid for p in procs}
    assert not running(keeper)  # ended (and reaped) with the last process
    for i, result in enumerate(results):
        assert (tmp_path / f"{i}.log").read_text() == f"out-{i}\n" and result.log_bytes == len(f"out-{i}\n")


def test_output_held_open_by_a_process_that_left_the_session_does_not_hold_the_run(tmp_path: Path) -> None:
    # setsid: out of the group's reach, it keeps the output pipe open; the run still ends, its log complete.
    pidfile = tmp_path / "daemon.pid"
    spec = sh(
        f"echo before; {sys.executable} -c 'import os, time; os.setsid(); "
        f'open("{pidfile}", "w").write(str(os.getpid())); time.sleep(60)\' & sleep 0.5; echo after',
        log_path=str(tmp_path / "run.log"),
    )
    try:
        result = run(asyncio.wait_for(run_to_end(spec), 30))
        assert result.exit_code == 0
        assert (tmp_path / "run.log").read_text() == "before\nafter\n"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


async def run_to_end(spec: ProcSpec) -> ProcResult:
    return await (await start(spec)).wait()


# --- scale -------------------------------------------------------------------------------------------


def test_250_concurrent_processes_finish_without_leaking_fds(tmp_path: Path) -> None:
    async def body() -> tuple[list[ProcResult], int, int, float]:
        before = fds()
        started = time.monotonic()
        specs = [
            ProcSpec(
                ["sleep", "0.2"] if i % 2 else ["true"],
                dict(ENV),
                log_path=str(tmp_path / f"{i}.log"),
                deadline_s=30,
            )
            for i in range(250)
        ]
        procs: list[RunningProc] = await asyncio.gather(*(start(s) for s in specs))
        results = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 30)
        return results, before, fds(), time.monotonic() - started

    results, before, after, elapsed = run(body())
    assert [r.exit_code for r in results] == [0] * 250
    assert elapsed < 10  # one after another, the 125 sleeps alone would take 25 s
    assert len({r.pid for r in results}) == 250
    assert after == before
