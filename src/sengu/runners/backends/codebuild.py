"""Runners as CodeBuild builds.

One StartBuild per runner on a project made for runners: compute type, image and environment type
(LINUX_CONTAINER for x64, ARM_CONTAINER for arm64) overridden per job, the job's IAM role as the
service role (in CodeBuild the service role *is* the credentials the build runs with), and the JIT
config in the environment.

The project's buildspec (or `buildspec`, sent as buildspecOverride) must start the runner, which reads
its JIT config from ACTIONS_RUNNER_INPUT_JITCONFIG, e.g. with a NO_SOURCE project:

    version: 0.2
    phases:
      build:
        commands:
          - cd /opt/actions-runner && ./run.sh

Decisions:

- **The JIT config is a PLAINTEXT environment variable.** Plaintext overrides are shown in the console
  and returned by BatchGetBuilds to anyone allowed codebuild:BatchGetBuilds; whoever reads the config
  before the runner starts could register in its place and receive the job. The config is single-use
  and dies with the ephemeral runner. Putting it in Parameter Store (type PARAMETER_STORE) would hide
  it but means writing and deleting one parameter per runner (ssm:PutParameter/DeleteParameter, and
  a leak when a delete is lost); we keep the simple path and say so: restrict BatchGetBuilds on the
  runner project.
- **Ownership**: builds carry no tags, so ownership travels as environment variables SENGU_POOL and
  SENGU_RUNNER, which BatchGetBuilds returns; `list_owned` walks the project's builds newest first
  and stops at builds older than `lookback` (CodeBuild's longest timeout plus queue time).
- **Idempotent launch**: `idempotencyToken` is the runner name; CodeBuild honours it for 5 minutes,
  enough for a retried launch after a timeout or a quick restart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sengu.core.clock import Clock, SystemClock
from sengu.runners.backends.aws import AwsClient, chunks, idempotency_token
from sengu.runners.backends.base import JIT_CONFIG_ENV, BackendError, Handle, Observation, ObservedState, StopOnce

if TYPE_CHECKING:
    from sengu.runners.labels import Launch

POOL_ENV = "SENGU_POOL"
RUNNER_ENV = "SENGU_RUNNER"
ENVIRONMENT_TYPE = {"x64": "LINUX_CONTAINER", "arm64": "ARM_CONTAINER"}
# Until the BUILD phase the buildspec has not started the runner yet.
_STARTING_PHASES = frozenset({"SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD"})
_EXIT_STATUS = re.compile(r"exit status (\d+)")
# 36 h (the longest build timeout) + 8 h (the longest queued timeout), rounded up.
DEFAULT_LOOKBACK = timedelta(hours=48)


class CodeBuildBackend:
    """Runners as builds of one CodeBuild project. `images` maps "x64"/"arm64" to the image used when
    the launch names none; without either the project's image runs."""

    kind = "codebuild"

    def __init__(
        self,
        name: str,
        *,
        project: str,
        images: Mapping[str, str] | None = None,
        buildspec: str | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        clock: Clock | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
    ):
        self.name = name
        self.project = project
        self.images = dict(images or {})
        unknown = sorted(set(self.images) - set(ENVIRONMENT_TYPE))
        if unknown:
            raise ValueError(f"images: unknown arch {unknown}, expected x64 or arm64")
        self.buildspec = buildspec
        self.lookback = lookback
        self._clock: Clock = clock or SystemClock()
        self._codebuild = AwsClient(name, "codebuild", client=client, region=region, endpoint_url=endpoint_url)
        self._stop_once = StopOnce()

    # --- launch ---------------------------------------------------------------------------------------
    async def launch(self, launch: Launch, *, runner_name: str, jit_config: str, owner_tag: str) -> Handle:
        compute_type = launch.detail.get("computeType")
        if not compute_type:
            raise BackendError(self.name, "the launch names no CodeBuild computeType", retryable=False)
        params: dict[str, Any] = {
            "projectName": self.project,
            "environmentTypeOverride": launch.detail.get("environmentType") or ENVIRONMENT_TYPE[launch.arch],
            "computeTypeOverride": compute_type,
            "environmentVariablesOverride": [
                {"name": JIT_CONFIG_ENV, "value": jit_config, "type": "PLAINTEXT"},
                {"name": POOL_ENV, "value": owner_tag, "type": "PLAINTEXT"},
                {"name": RUNNER_ENV, "value": runner_name, "type": "PLAINTEXT"},
            ],
            "idempotencyToken": idempotency_token(runner_name),
        }
        image = launch.image or self.images.get(launch.arch)
        if image:
            params["imageOverride"] = image
        if launch.role_arn:
            params["serviceRoleOverride"] = launch.role_arn
        if self.buildspec is not None:
            params["buildspecOverride"] = self.buildspec
        reply = await self._codebuild.call("start_build", secrets=(jit_config,), **params)
        build = reply.get("build") or {}
        if not build.get("id"):
            raise BackendError(self.name, "StartBuild answered without a build id", retryable=True)
        return Handle(
            backend=self.name,
            kind=self.kind,
            id=str(build["id"]),
            detail={"project": self.project, "runner": runner_name, "arch": launch.arch},
        )

    # --- observe --------------------------------------------------------------------------------------
    async def observe(self, handle: Handle) -> Observation:
        return (await self.observe_many([handle]))[handle.id]

    async def observe_many(self, handles: Sequence[Handle]) -> dict[str, Observation]:
        builds = await self._get_many([h.id for h in handles])
        return {
            h.id: Observation("gone") if (build := builds.get(h.id)) is None else observation_of(build) for h in handles
        }

    async def _get(self, build_id: str) -> dict[str, Any] | None:
        return (await self._get_many([build_id])).get(build_id)

    async def _get_many(self, build_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The builds CodeBuild knows among `build_ids`, by id; one listed in buildsNotFound is absent."""
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(dict.fromkeys(build_ids)), 100):  # BatchGetBuilds takes at most 100 ids
            reply = await self._codebuild.call("batch_get_builds", ids=list(batch))
            for build in reply.get("builds") or []:
                found[str(build.get("id"))] = dict(build)
        return found

    # --- terminate ------------------------------------------------------------------------------------
    async def terminate(self, handle: Handle, reason: str) -> bool:
        # StopBuild takes no reason; the caller records it.
        async def stop() -> bool:
            build = await self._get(handle.id)
            if build is None or build.get("buildStatus") != "IN_PROGRESS":
                return False
            try:
                await self._codebuild.call("stop_build", id=handle.id)
            except BackendError as exc:
                # The build ended between our look and the stop: someone else's stop, or its own end.
                if exc.code in ("InvalidInputException", "ResourceNotFoundException"):
                    return False
                raise
            return True

        return await self._stop_once.run(handle.id, stop)

    # --- list_owned -----------------------------------------------------------------------------------
    async def list_owned(self, owner_tag: str) -> list[Handle]:
        horizon = self._clock.now() - self.lookback
        owned: list[Handle] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"projectName": self.project, "sortOrder": "DESCENDING"}
            if token:
                params["nextToken"] = token
            page = await self._codebuild.call("list_builds_for_project", **params)
            ids = [str(i) for i in page.get("ids") or []]
            recent = False
            for batch in chunks(ids, 100):  # BatchGetBuilds takes at most 100 ids
                reply = await self._codebuild.call("batch_get_builds", ids=list(batch))
                for build in reply.get("builds") or []:
                    started = build.get("startTime")
                    if not isinstance(started, datetime) or started >= horizon:
                        recent = True
                    if build.get("buildStatus") != "IN_PROGRESS":
                        continue
                    env = _env(build)
                    if env.get(POOL_ENV) != owner_tag:
                        continue
                    owned.append(
                        Handle(
                            backend=self.name,
                            kind=self.kind,
                            id=str(build["id"]),
                            detail={"project": self.project, "runner": env.get(RUNNER_ENV, "")},
                        )
                    )
            token = page.get("nextToken")
            # Newest first: once a whole page is older than any build can live, the rest is history.
            if not token or not recent:
                return owned


def _env(build: Mapping[str, Any]) -> dict[str, str]:
    variables: Sequence[Mapping[str, Any]] = (build.get("environment") or {}).get("environmentVariables") or []
    return {str(v.get("name")): str(v.get("value", "")) for v in variables}


def observation_of(build: Mapping[str, Any]) -> Observation:
    """An Observation from a BatchGetBuilds build. CodeBuild reports no exit code: SUCCEEDED is 0, and
    a failed command's "exit status N" is read from the phase contexts."""
    status = str(build.get("buildStatus") or "")
    state: ObservedState
    if status == "IN_PROGRESS":
        phase = str(build.get("currentPhase") or "")
        state = "starting" if phase in _STARTING_PHASES else "running"
        return Observation(state)
    if status == "SUCCEEDED":
        return Observation("stopped", None, 0)
    messages = [
        str(context.get("message") or context.get("statusCode") or "")
        for phase in build.get("phases") or []
        if phase.get("phaseStatus") not in (None, "SUCCEEDED")
        for context in phase.get("contexts") or []
    ]
    messages = [m for m in messages if m]
    exit_code: int | None = None
    for message in messages:
        found = _EXIT_STATUS.search(message)
        if found:
            exit_code = int(found.group(1))
            break
    reason = status or "UNKNOWN"
    if messages:
        reason = f"{reason}: {messages[0]}"
    return Observation("stopped", reason, exit_code)
