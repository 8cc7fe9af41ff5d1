"""The local backend's observe_many: real processes on this machine, one live and one that exited."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sengu.runners.backends import Handle, Observation
from sengu.runners.backends.local import LocalBackend
from sengu.runners.labels import Launch

LAUNCH = Launch(
    backend="here",
    kind="local",
    arch="x64",
    vcpu=1.0,
    memory_gib=1.0,
    capacity="on-demand",
    role=None,
    role_arn=None,
    image=None,
    labels=("self-hosted", "sengu"),
)
# The runner named "live" keeps running; any other exits 3 at once.
COMMAND = ["sh", "-c", 'if [ "$SENGU_RUNNER" = live ]; then exec sleep 300; fi; exit 3']


def test_observe_many_sees_a_live_and_an_exited_process(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = LocalBackend("here", COMMAND, tmp_path)
        live = await backend.launch(LAUNCH, runner_name="live", jit_config="jit", owner_tag="ci")
        done = await backend.launch(LAUNCH, runner_name="done", jit_config="jit", owner_tag="ci")
        unknown = Handle("here", "local", "999999999", {"startTicks": "1"})
        try:
            for _ in range(600):  # until the short one has exited (at most a minute on a busy machine)
                seen = await backend.observe_many([live, done, unknown])
                if seen[done.id].state == "stopped":
                    break
                await asyncio.sleep(0.1)
            assert seen == {
                live.id: Observation("running"),
                done.id: Observation("stopped", None, 3),
                unknown.id: Observation("gone"),
            }
            # A restarted engine's backend knows no process: it finds the live one by its start time,
            # and the exited one is gone.
            fresh = LocalBackend("here", COMMAND, tmp_path)
            assert await fresh.observe_many([live, done]) == {
                live.id: Observation("running"),
                done.id: Observation("gone"),
            }
            assert await backend.observe(live) == Observation("running")
        finally:
            await backend.terminate(live, "test over")
        # Killed by the stop: stopped, with no exit code of its own.
        assert (await backend.observe_many([live]))[live.id].state == "stopped"

    asyncio.run(scenario())
