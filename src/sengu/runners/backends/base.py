"""The contract every runner backend keeps: launch one runner from a JIT config, observe it, terminate it once.

A backend starts compute that runs exactly one GitHub Actions runner, registered by a just-in-time (JIT)
config, which takes one job and exits. The engine stores the `Handle` a launch returns, so that after a
restart it can find the compute again, and it never trusts a launch it did not record: `list_owned`
lets the janitor find compute tagged as this pool's that the store does not know (an orphan).

Every method may raise `BackendError`; `retryable` says whether trying again later can help
(throttling, capacity, a network error) or whether the configuration or the request is wrong.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from sengu.core.errors import Failure

if TYPE_CHECKING:
    from sengu.runners.labels import Launch

# Ownership marks written on every piece of compute, so the janitor can tell ours from anyone else's.
POOL_TAG = "sengu.dev/pool"
RUNNER_TAG = "sengu.dev/runner"
BACKEND_TAG = "sengu.dev/backend"

# The official runner (actions/runner) reads any command-line input from ACTIONS_RUNNER_INPUT_<NAME>,
# so this is `./run.sh --jitconfig X` without putting the secret on a command line.
JIT_CONFIG_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG"

ObservedState = Literal["starting", "running", "stopped", "gone"]
SPOT_INTERRUPTION = "SpotInterruption"


@dataclass(frozen=True)
class Handle:
    """What the store keeps to find the compute again after a restart.

    `id` is the backend's own identifier (ECS task ARN, CodeBuild build id, pod name, pid); `detail` holds
    the rest needed to address it (cluster, project, runner name), never a secret.
    """

    backend: str
    kind: str
    id: str
    detail: dict[str, str]


@dataclass(frozen=True)
class Observation:
    """What the backend reports about one piece of compute, as observed now.

    `reason` can be set while the state is still "starting" or "running": the compute is on its way out
    (an ECS task given its two-minute Spot warning reports "running" with reason "SpotInterruption").
    """

    state: ObservedState
    reason: str | None = None
    exit_code: int | None = None


class BackendError(Failure):
    """A backend call failed. `retryable`: throttling, capacity or transport, worth trying again later."""

    def __init__(self, backend: str, message: str, *, retryable: bool, code: str | None = None):
        super().__init__(f"backend {backend!r}: {message}")
        self.backend = backend
        self.retryable = retryable
        self.code = code


class Backend(Protocol):
    """Where runners run. Implementations: local, kubernetes, ecs, codebuild."""

    @property
    def name(self) -> str:
        """The backend's name in the pool spec (a runs-on label picks it)."""
        ...

    @property
    def kind(self) -> str:
        """ "local", "kubernetes", "ecs" or "codebuild"."""
        ...

    async def launch(self, launch: Launch, *, runner_name: str, jit_config: str, owner_tag: str) -> Handle:
        """Start compute running one runner. Launching twice with the same runner name starts it once
        where the backend offers idempotency tokens (ECS: 24 h, CodeBuild: 5 min)."""
        ...

    async def observe(self, handle: Handle) -> Observation:
        """What the compute is doing now; "gone" when the backend does not know it (any more)."""
        ...

    async def observe_many(self, handles: Sequence[Handle]) -> dict[str, Observation]:
        """`observe` for many handles in as few API calls as the backend allows (the engine's ticker looks
        at every live runner every few seconds, and cloud APIs throttle per call).

        Keyed by `Handle.id`, with an entry for every handle given: one the backend does not know is
        "gone". Raises `BackendError` when a call fails; no partial answer is returned."""
        ...

    async def terminate(self, handle: Handle, reason: str) -> bool:
        """Stop the compute. Idempotent: True only for the call that stopped something."""
        ...

    async def list_owned(self, owner_tag: str) -> list[Handle]:
        """Live compute tagged as owned by `owner_tag` (the pool), for the janitor."""
        ...


class StopOnce:
    """Makes `terminate` answer True at most once per handle within this process.

    Concurrent calls for one handle run one after the other, so the second sees the first's stop rather
    than racing it; handles already stopped are remembered (a bounded number of them) and answered
    without asking the backend again. Across restarts the backend's own state answers.
    """

    def __init__(self, remember: int = 10_000):
        self._remember = remember
        self._done: OrderedDict[str, None] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, key: str, stop: Callable[[], Awaitable[bool]]) -> bool:
        if key in self._done:
            return False
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._done:
                return False
            stopped = await stop()
            self._done[key] = None
            while len(self._done) > self._remember:
                self._done.popitem(last=False)
            self._locks.pop(key, None)
            return stopped
