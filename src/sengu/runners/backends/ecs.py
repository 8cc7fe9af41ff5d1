"""Runners as ECS tasks on Fargate or Fargate Spot.

One RunTask per runner, on the capacity provider FARGATE or FARGATE_SPOT, sized by task-level cpu/memory
overrides (a Fargate pair chosen by label resolution), with the job's IAM role as the task role and the
JIT config in the runner container's environment.

Decisions:

- **One task definition per architecture.** The CPU architecture is `runtimePlatform` of the task
  definition and RunTask cannot override it. Registering revisions on demand would make the runner
  service write to the user's task-definition families (ecs:RegisterTaskDefinition, iam:PassRole of the
  execution role) and pile up revisions; instead the spec names a task definition per arch
  (`{"x64": "runner", "arm64": "runner-arm64"}`). Each is described before its first launch and again
  every `recheck_s` seconds (so a new revision is picked up) and checked: its architecture must be the
  one it is named for and its network mode awsvpc, and its runner container is found (the one named
  `container`, else the only one) — a wrong definition fails the launch with a message, not a task
  that cannot start. Tasks run the exact revision that was checked.
- **The JIT config travels as `ACTIONS_RUNNER_INPUT_JITCONFIG`** in the container override, the
  variable the official runner reads as `--jitconfig` (and which the actions-runner-controller sets),
  so it never appears on a command line. The command override defaults to `/home/runner/run.sh` of the
  official image (`ghcr.io/actions/actions-runner`), which has no command of its own. Risk: container
  overrides are visible to anyone allowed ecs:DescribeTasks in the account and are recorded in
  CloudTrail's RunTask event; whoever reads the config before the runner starts could register in its
  place and receive the job. The config is single-use and dies with the ephemeral runner, so restrict
  DescribeTasks and CloudTrail reads on the runner cluster's account. (ECS has no per-task secret
  override; Secrets Manager references live only in task definitions.)
- **Ownership**: tags sengu.dev/pool, sengu.dev/runner, sengu.dev/backend on the task, and `startedBy`
  derived from the pool so `list_owned` can ask ListTasks for our tasks only, then confirm by tag.
- **Idempotent launch**: `clientToken` is the runner name (ECS keeps it 24 h per cluster), so launching
  the same runner again after a crash returns the task already started instead of a second one.
- When the runner container is the task's only container its own cpu/memory are raised to the task's,
  so a small limit in the task definition never caps a larger job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sengu.core.clock import Clock, SystemClock
from sengu.runners.backends.aws import AwsClient, chunks, idempotency_token, tag_map
from sengu.runners.backends.base import (
    BACKEND_TAG,
    JIT_CONFIG_ENV,
    POOL_TAG,
    RUNNER_TAG,
    SPOT_INTERRUPTION,
    BackendError,
    Handle,
    Observation,
    ObservedState,
    StopOnce,
)

if TYPE_CHECKING:
    from sengu.runners.labels import Launch

OFFICIAL_RUNNER_COMMAND: tuple[str, ...] = ("/home/runner/run.sh",)
ECS_ARCH = {"x64": "X86_64", "arm64": "ARM64"}
OVERRIDES_LIMIT = 8192  # RunTask: characters of the overrides JSON, formatting included
_STARTING = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
# Containers have exited by DEPROVISIONING (the ENI is being detached); the runner is done.
_STOPPED = frozenset({"DEPROVISIONING", "STOPPED", "DELETED"})
_SPOT_WORD = re.compile(r"\bspot\b", re.IGNORECASE)


@dataclass(frozen=True)
class _TaskDefinition:
    arn: str
    container: str
    only_container: bool


class EcsBackend:
    """Runners as Fargate tasks. `task_definitions` maps "x64"/"arm64" to a task definition (family,
    family:revision or ARN); a plain string is the x64 one."""

    kind = "ecs"

    def __init__(
        self,
        name: str,
        *,
        cluster: str,
        task_definitions: Mapping[str, str] | str,
        subnets: Sequence[str],
        security_groups: Sequence[str] = (),
        assign_public_ip: bool = False,
        container: str | None = None,
        command: Sequence[str] | None = OFFICIAL_RUNNER_COMMAND,
        platform_version: str | None = None,
        recheck_s: float = 300.0,
        clock: Clock | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
    ):
        self.name = name
        self.cluster = cluster
        defs = {"x64": task_definitions} if isinstance(task_definitions, str) else dict(task_definitions)
        unknown = sorted(set(defs) - set(ECS_ARCH))
        if unknown:
            raise ValueError(f"task_definitions: unknown arch {unknown}, expected x64 or arm64")
        if not subnets:
            raise ValueError("subnets: Fargate tasks need at least one subnet")
        self.task_definitions = defs
        self.subnets = tuple(subnets)
        self.security_groups = tuple(security_groups)
        self.assign_public_ip = assign_public_ip
        self.container = container
        self.command = tuple(command) if command is not None else None
        self.platform_version = platform_version
        self._ecs = AwsClient(name, "ecs", client=client, region=region, endpoint_url=endpoint_url)
        self.recheck_s = recheck_s
        self._clock: Clock = clock or SystemClock()
        self._checked: dict[str, tuple[float, _TaskDefinition]] = {}
        self._stop_once = StopOnce()

    # --- launch ---------------------------------------------------------------------------------------
    async def launch(self, launch: Launch, *, runner_name: str, jit_config: str, owner_tag: str) -> Handle:
        if launch.capacity == "spot" and launch.arch != "x64":
            raise BackendError(self.name, "Fargate Spot runs x64 only; use on-demand for arm64", retryable=False)
        task_def = await self._task_definition(launch.arch)
        cpu, memory = self._size(launch)
        container: dict[str, Any] = {
            "name": task_def.container,
            "environment": [{"name": JIT_CONFIG_ENV, "value": jit_config}],
        }
        if self.command is not None:
            container["command"] = list(self.command)
        if task_def.only_container:
            container["cpu"] = cpu
            container["memory"] = memory
        overrides: dict[str, Any] = {
            "cpu": str(cpu),
            "memory": str(memory),
            "containerOverrides": [container],
        }
        if launch.role_arn:
            overrides["taskRoleArn"] = launch.role_arn
        size = len(json.dumps(overrides, separators=(",", ":")))
        if size > OVERRIDES_LIMIT:
            raise BackendError(
                self.name,
                f"RunTask overrides would be {size} characters, ECS allows {OVERRIDES_LIMIT} "
                "(the JIT config is too long for a container override)",
                retryable=False,
            )
        params: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": task_def.arn,
            "count": 1,
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE_SPOT" if launch.capacity == "spot" else "FARGATE", "weight": 1}
            ],
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": list(self.subnets),
                    "securityGroups": list(self.security_groups),
                    "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
                }
            },
            "overrides": overrides,
            "startedBy": started_by(owner_tag),
            "tags": [
                {"key": POOL_TAG, "value": owner_tag},
                {"key": RUNNER_TAG, "value": runner_name},
                {"key": BACKEND_TAG, "value": self.name},
            ],
            "clientToken": idempotency_token(runner_name),
        }
        if self.platform_version:
            params["platformVersion"] = self.platform_version
        reply = await self._ecs.call("run_task", secrets=(jit_config,), **params)
        tasks = reply.get("tasks") or []
        if not tasks:
            # RunTask answers 200 with `failures` for capacity and placement problems; they pass.
            failures = "; ".join(
                f"{f.get('reason', 'unknown')}" + (f" ({f['detail']})" if f.get("detail") else "")
                for f in reply.get("failures") or []
            )
            raise BackendError(self.name, f"RunTask started no task: {failures or 'no reason given'}", retryable=True)
        return Handle(
            backend=self.name,
            kind=self.kind,
            id=str(tasks[0]["taskArn"]),
            detail={
                "cluster": self.cluster,
                "container": task_def.container,
                "runner": runner_name,
                "arch": launch.arch,
                "capacity": launch.capacity,
            },
        )

    def _size(self, launch: Launch) -> tuple[int, int]:
        """Task cpu units and memory MiB: the Fargate pair label resolution chose, else the raw size."""
        try:
            cpu = int(launch.detail["fargateCpu"]) if "fargateCpu" in launch.detail else round(launch.vcpu * 1024)
            memory = (
                int(launch.detail["fargateMemory"])
                if "fargateMemory" in launch.detail
                else round(launch.memory_gib * 1024)
            )
        except ValueError as exc:
            raise BackendError(self.name, f"bad Fargate size in launch detail: {exc}", retryable=False) from exc
        return cpu, memory

    async def _task_definition(self, arch: str) -> _TaskDefinition:
        ref = self.task_definitions.get(arch)
        if ref is None:
            raise BackendError(
                self.name, f"no task definition for {arch}; name one under taskDefinitions.{arch}", retryable=False
            )
        known = self._checked.get(ref)
        if known is not None and self._clock.monotonic() - known[0] < self.recheck_s:
            return known[1]
        reply = await self._ecs.call("describe_task_definition", taskDefinition=ref)
        td = reply.get("taskDefinition") or {}
        declared = (td.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64"
        if declared != ECS_ARCH[arch]:
            raise BackendError(
                self.name,
                f"task definition {ref!r} runs on {declared}, but it is configured for {arch} ({ECS_ARCH[arch]})",
                retryable=False,
            )
        if td.get("networkMode") != "awsvpc":
            raise BackendError(
                self.name, f"task definition {ref!r} must use networkMode awsvpc for Fargate", retryable=False
            )
        names = [str(c.get("name")) for c in td.get("containerDefinitions") or []]
        if self.container is not None:
            if self.container not in names:
                raise BackendError(
                    self.name,
                    f"task definition {ref!r} has no container {self.container!r} (has {names})",
                    retryable=False,
                )
            container = self.container
        elif len(names) == 1:
            container = names[0]
        else:
            raise BackendError(
                self.name,
                f"task definition {ref!r} has containers {names}; name the runner's with `container`",
                retryable=False,
            )
        # Run the revision that was checked, so a later revision cannot slip in unchecked.
        checked = _TaskDefinition(
            arn=str(td.get("taskDefinitionArn", ref)), container=container, only_container=len(names) == 1
        )
        self._checked[ref] = (self._clock.monotonic(), checked)
        return checked

    # --- observe --------------------------------------------------------------------------------------
    async def observe(self, handle: Handle) -> Observation:
        return (await self.observe_many([handle]))[handle.id]

    async def observe_many(self, handles: Sequence[Handle]) -> dict[str, Observation]:
        by_cluster: dict[str, list[Handle]] = {}
        for handle in handles:
            by_cluster.setdefault(handle.detail.get("cluster", self.cluster), []).append(handle)
        seen: dict[str, Observation] = {}
        for cluster, group in by_cluster.items():
            tasks = await self._describe_many(cluster, [h.id for h in group])
            for handle in group:
                task = tasks.get(handle.id)
                seen[handle.id] = (
                    Observation("gone") if task is None else observation_of(task, handle.detail.get("container"))
                )
        return seen

    async def _describe(self, handle: Handle) -> dict[str, Any] | None:
        cluster = handle.detail.get("cluster", self.cluster)
        return (await self._describe_many(cluster, [handle.id])).get(handle.id)

    async def _describe_many(self, cluster: str, arns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The tasks ECS knows among `arns`, by ARN; a task it does not know is absent."""
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(dict.fromkeys(arns)), 100):  # DescribeTasks takes at most 100 tasks
            reply = await self._ecs.call("describe_tasks", cluster=cluster, tasks=list(batch))
            for task in reply.get("tasks") or []:
                found[str(task.get("taskArn"))] = dict(task)
            # MISSING: unknown, or stopped long enough ago that ECS forgot it. Any other reason says
            # nothing about the task, and calling it gone would have the engine give up a live runner.
            odd = [f for f in reply.get("failures") or [] if f.get("reason") != "MISSING"]
            if odd:
                told = "; ".join(f"{f.get('arn')}: {f.get('reason')} {f.get('detail') or ''}".strip() for f in odd)
                raise BackendError(self.name, f"ecs DescribeTasks in cluster {cluster!r}: {told}", retryable=True)
        return found

    # --- terminate ------------------------------------------------------------------------------------
    async def terminate(self, handle: Handle, reason: str) -> bool:
        async def stop() -> bool:
            task = await self._describe(handle)
            if task is None or task.get("desiredStatus") == "STOPPED" or task.get("lastStatus") in _STOPPED:
                return False  # gone, or already on its way out: someone else stopped it
            try:
                await self._ecs.call(
                    "stop_task",
                    cluster=handle.detail.get("cluster", self.cluster),
                    task=handle.id,
                    reason=reason[:255],
                )
            except BackendError as exc:
                if exc.code == "InvalidParameterException":  # "The referenced task was not found."
                    return False
                raise
            return True

        return await self._stop_once.run(handle.id, stop)

    # --- list_owned -----------------------------------------------------------------------------------
    async def list_owned(self, owner_tag: str) -> list[Handle]:
        pages = await self._ecs.pages("list_tasks", cluster=self.cluster, startedBy=started_by(owner_tag))
        arns = [str(arn) for page in pages for arn in page.get("taskArns") or []]
        owned: list[Handle] = []
        for batch in chunks(arns, 100):  # DescribeTasks takes at most 100 tasks
            reply = await self._ecs.call("describe_tasks", cluster=self.cluster, tasks=list(batch), include=["TAGS"])
            for task in reply.get("tasks") or []:
                tags = tag_map(task.get("tags"))
                # startedBy is shortened for long pool names, so the tag is what proves ownership.
                if tags.get(POOL_TAG) != owner_tag or task.get("lastStatus") in _STOPPED:
                    continue
                containers = [str(c.get("name")) for c in task.get("containers") or []]
                container = self.container or (containers[0] if len(containers) == 1 else "")
                owned.append(
                    Handle(
                        backend=self.name,
                        kind=self.kind,
                        id=str(task["taskArn"]),
                        detail={
                            "cluster": self.cluster,
                            "container": container,
                            "runner": tags.get(RUNNER_TAG, ""),
                            "capacity": "spot" if task.get("capacityProviderName") == "FARGATE_SPOT" else "on-demand",
                        },
                    )
                )
        return owned


def started_by(owner_tag: str) -> str:
    """The `startedBy` of a pool's tasks: at most 36 of [A-Za-z0-9/_-], readable when the name allows."""
    clean = re.sub(r"[^A-Za-z0-9/_-]", "-", owner_tag)
    value = f"sengu/{clean}"
    if len(value) <= 36 and clean == owner_tag:
        return value
    digest = hashlib.sha256(owner_tag.encode()).hexdigest()[:12]
    return f"sengu/{clean[:17]}-{digest}"


def observation_of(task: Mapping[str, Any], container: str | None = None) -> Observation:
    """An Observation from a DescribeTasks task.

    A Fargate Spot interruption shows as stopCode SpotInterruption (stoppedReason "Your Spot Task was
    interrupted.") from the moment the two-minute warning starts; a reason mentioning Spot counts too
    unless the stop was our own StopTask (stopCode UserInitiated).
    """
    last = str(task.get("lastStatus") or "")
    state: ObservedState
    if last in _STARTING:
        state = "starting"
    elif last in _STOPPED:
        state = "stopped"
    else:
        state = "running"
    stop_code = task.get("stopCode")
    stopped_reason = task.get("stoppedReason") or None
    reason: str | None
    if stop_code == SPOT_INTERRUPTION or (
        stop_code != "UserInitiated" and stopped_reason and _SPOT_WORD.search(stopped_reason)
    ):
        reason = SPOT_INTERRUPTION
    else:
        reason = stopped_reason or (str(stop_code) if stop_code else None)
    exit_code: int | None = None
    if state == "stopped":
        for c in task.get("containers") or []:
            if (container in (None, "") or c.get("name") == container) and c.get("exitCode") is not None:
                exit_code = int(c["exitCode"])
                break
    return Observation(state, reason, exit_code)
