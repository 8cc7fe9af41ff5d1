"""The local backend: each runner is a process on this machine, in a fresh work directory of its own.

The configured command gets the JIT config where it says ``{jitconfig}``, and always in the environment
as ACTIONS_RUNNER_INPUT_JITCONFIG (which the official runner reads), so a command can keep it off the
command line. The process leads its own process group; terminating kills the whole group.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from sengu.core import procs
from sengu.runners.backends.base import JIT_CONFIG_ENV, POOL_TAG, RUNNER_TAG, BackendError, Handle, Observation
from sengu.runners.labels import Launch

MARK = "sengu-runner.json"


class LocalBackend:
    kind = "local"

    def __init__(self, name: str, command: list[str], work_root: Path, env: dict[str, str] | None = None):
        self._name = name
        self.command = command
        self.work_root = work_root
        self.env = env or {}
        self._running: dict[str, procs.RunningProc] = {}
        self._results: dict[str, procs.ProcResult] = {}

    @property
    def name(self) -> str:
        return self._name

    async def launch(self, launch: Launch, *, runner_name: str, jit_config: str, owner_tag: str) -> Handle:
        work = self.work_root / runner_name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        argv = [part.replace("{jitconfig}", jit_config) for part in self.command]
        env = {**os.environ, **self.env, JIT_CONFIG_ENV: jit_config, "SENGU_RUNNER": runner_name}
        spec = procs.ProcSpec(argv=argv, env=env, cwd=str(work), log_path=str(work / "runner.log"))
        try:
            proc = await procs.start(spec)
        except procs.ProcStartError as exc:
            raise BackendError(self.name, str(exc).replace(jit_config, "***"), retryable=False) from None
        self._running[str(proc.pid)] = proc
        ticks = procs.process_start_ticks(proc.pid)
        detail = {POOL_TAG: owner_tag, RUNNER_TAG: runner_name, "workDir": str(work), "startTicks": str(ticks or "")}
        # The ownership mark the janitor finds even when the engine died before recording the handle.
        (work / MARK).write_text(json.dumps({"pid": proc.pid, **detail}))
        return Handle(self.name, self.kind, str(proc.pid), detail)

    async def observe(self, handle: Handle) -> Observation:
        proc = self._running.get(handle.id)
        if proc is not None:
            if not proc.done:
                return Observation("running")
            result = await proc.wait()
            return Observation("stopped", None, result.exit_code)
        if handle.id in self._results:
            return Observation("stopped", None, self._results[handle.id].exit_code)
        if self._ours_alive(handle):
            return Observation("running")  # started by an engine before a restart
        return Observation("gone")

    async def observe_many(self, handles: Sequence[Handle]) -> dict[str, Observation]:
        # No API to batch: each look is a few syscalls on this machine.
        return {handle.id: await self.observe(handle) for handle in handles}

    async def terminate(self, handle: Handle, reason: str) -> bool:
        proc = self._running.pop(handle.id, None)
        if proc is not None:
            if proc.done:
                self._results[handle.id] = await proc.wait()
                return False
            self._results[handle.id] = await proc.stop()
            return True
        if self._ours_alive(handle):
            return procs.kill_group(int(handle.id), 9)
        return False

    async def list_owned(self, owner_tag: str) -> list[Handle]:
        """Live runner processes of this pool, found by the mark each launch leaves in its work directory."""
        owned = []
        for mark in sorted(self.work_root.glob(f"*/{MARK}")):
            try:
                data = json.loads(mark.read_text())
                detail = {k: str(v) for k, v in data.items() if k != "pid"}
                handle = Handle(self.name, self.kind, str(int(data["pid"])), detail)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half-written by a launch cut short, or not ours
            if detail.get(POOL_TAG) == owner_tag and self._ours_alive(handle):
                owned.append(handle)
        return owned

    @staticmethod
    def _ours_alive(handle: Handle) -> bool:
        ticks = handle.detail.get("startTicks")
        pid = int(handle.id)
        return bool(ticks) and procs.group_alive(pid) and str(procs.process_start_ticks(pid)) == ticks
