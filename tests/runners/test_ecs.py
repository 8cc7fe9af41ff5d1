"""The ECS/Fargate backend against moto in server mode: what RunTask/StopTask carry on the wire, what
comes back, and the contract (terminate once, spot interruptions seen, only our tasks owned)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from botocore.stub import Stubber

from sengu.core.clock import FakeClock
from sengu.runners.backends import (
    JIT_CONFIG_ENV,
    SPOT_INTERRUPTION,
    Backend,
    BackendError,
    EcsBackend,
    Handle,
    Observation,
)
from sengu.runners.backends.ecs import OVERRIDES_LIMIT, observation_of, started_by
from sengu.runners.labels import Launch
from tests.runners.aws import (
    MotoServer,
    Recorder,
    fargate_network,
    moto,  # noqa: F401  (fixture)
    moto_server,  # noqa: F401  (fixture)
    register_runner_task_definition,
)

JIT = "eyJydW5uZXIiOiJzZW5ndS0xIn0=" * 40  # the shape of an encoded_jit_config: base64, a few KB
ROLE = "arn:aws:iam::123456789012:role/ci-deploy"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/ci/1a2b3c"

LAUNCH = Launch(
    backend="fargate",
    kind="ecs",
    arch="x64",
    vcpu=2.0,
    memory_gib=4.0,
    capacity="on-demand",
    role=None,
    role_arn=None,
    image=None,
    labels=("self-hosted", "sengu", "fargate", "cpu-2", "mem-4g"),
    detail={"fargateCpu": "2048", "fargateMemory": "4096"},
)


@dataclass
class Ecs:
    moto: MotoServer
    client: Any
    sent: Recorder
    subnet: str
    security_group: str
    x64: str  # task definition ARNs
    arm64: str

    def backend(self, **over: Any) -> EcsBackend:
        kwargs: dict[str, Any] = {
            "cluster": "ci",
            "task_definitions": {"x64": "runner", "arm64": "runner-arm64"},
            "subnets": [self.subnet],
            "security_groups": [self.security_group],
            "client": self.client,
        }
        kwargs.update(over)
        return EcsBackend("fargate", **kwargs)

    def task(self, arn: str) -> dict[str, Any]:
        tasks = self.moto.client("ecs").describe_tasks(cluster="ci", tasks=[arn], include=["TAGS"])["tasks"]
        assert len(tasks) == 1
        return dict(tasks[0])


@pytest.fixture
def ecs(moto: MotoServer) -> Iterator[Ecs]:  # noqa: F811
    net = fargate_network(moto)
    setup = moto.client("ecs")
    setup.create_cluster(clusterName="ci", capacityProviders=["FARGATE", "FARGATE_SPOT"])
    x64 = register_runner_task_definition(setup, "runner", arch="X86_64")
    arm64 = register_runner_task_definition(setup, "runner-arm64", arch="ARM64")
    client = moto.client("ecs")
    yield Ecs(moto, client, Recorder(client), net.subnet, net.security_group, x64, arm64)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- launch ---------------------------------------------------------------------------------------------
def test_spot_launch_sends_capacity_size_role_network_jit_and_ownership(ecs: Ecs) -> None:
    backend: Backend = ecs.backend()
    launch = replace(LAUNCH, capacity="spot", role="deploy", role_arn=ROLE)
    handle = run(backend.launch(launch, runner_name="sengu-ci-42-1", jit_config=JIT, owner_tag="ci"))

    body = ecs.sent.one("RunTask")
    assert body["cluster"] == "ci"
    assert body["taskDefinition"] == ecs.x64  # the revision checked, not whatever "runner" means later
    assert body["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert "launchType" not in body  # ECS refuses launchType together with a strategy
    assert body["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": [ecs.subnet],
            "securityGroups": [ecs.security_group],
            "assignPublicIp": "DISABLED",
        }
    }
    assert body["overrides"] == {
        "cpu": "2048",
        "memory": "4096",
        "taskRoleArn": ROLE,
        "containerOverrides": [
            {
                "name": "runner",
                "environment": [{"name": JIT_CONFIG_ENV, "value": JIT}],
                "command": ["/home/runner/run.sh"],
                "cpu": 2048,
                "memory": 4096,
            }
        ],
    }
    assert body["tags"] == [
        {"key": "sengu.dev/pool", "value": "ci"},
        {"key": "sengu.dev/runner", "value": "sengu-ci-42-1"},
        {"key": "sengu.dev/backend", "value": "fargate"},
    ]
    assert body["startedBy"] == "sengu/ci"
    assert body["clientToken"] == "sengu-ci-42-1"

    assert handle == Handle(
        backend="fargate",
        kind="ecs",
        id=handle.id,
        detail={"cluster": "ci", "container": "runner", "runner": "sengu-ci-42-1", "arch": "x64", "capacity": "spot"},
    )
    # What ECS (moto) made of it: the task we launched, on Fargate Spot, tagged and sized as asked.
    task = ecs.task(handle.id)
    assert task["taskArn"] == handle.id
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    assert task["startedBy"] == "sengu/ci"
    assert {t["key"]: t["value"] for t in task["tags"]}["sengu.dev/runner"] == "sengu-ci-42-1"
    assert task["overrides"]["taskRoleArn"] == ROLE
    assert run(backend.observe(handle)) == Observation("running", None, None)


def test_arm64_runs_the_arm64_task_definition_on_demand(ecs: Ecs) -> None:
    backend = ecs.backend(assign_public_ip=True, command=None)
    launch = replace(LAUNCH, arch="arm64", vcpu=0.5, memory_gib=1.0, detail={})
    handle = run(backend.launch(launch, runner_name="r-arm", jit_config=JIT, owner_tag="ci"))
    body = ecs.sent.one("RunTask")
    assert body["taskDefinition"] == ecs.arm64
    assert body["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert body["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    # No Fargate pair in the detail: the raw size, in cpu units and MiB; no role → no taskRoleArn.
    assert body["overrides"]["cpu"] == "512" and body["overrides"]["memory"] == "1024"
    assert "taskRoleArn" not in body["overrides"]
    assert "command" not in body["overrides"]["containerOverrides"][0]  # command=None keeps the definition's
    assert handle.detail["arch"] == "arm64" and handle.detail["capacity"] == "on-demand"
    assert ecs.task(handle.id)["capacityProviderName"] == "FARGATE"


def test_task_definitions_are_checked_once_and_again_after_recheck_interval(ecs: Ecs) -> None:
    clock = FakeClock()
    backend = ecs.backend(clock=clock, recheck_s=300)

    async def scenario() -> None:
        await backend.launch(LAUNCH, runner_name="r1", jit_config=JIT, owner_tag="ci")
        newer = register_runner_task_definition(ecs.moto.client("ecs"), "runner", arch="X86_64")
        await backend.launch(LAUNCH, runner_name="r2", jit_config=JIT, owner_tag="ci")
        clock.advance(301)
        await backend.launch(LAUNCH, runner_name="r3", jit_config=JIT, owner_tag="ci")
        assert [b["taskDefinition"] for b in ecs.sent.bodies("RunTask")] == [ecs.x64, ecs.x64, newer]

    run(scenario())
    assert ecs.sent.operations.count("DescribeTaskDefinition") == 2


@pytest.mark.parametrize(
    ("setup", "over", "launch", "message"),
    [
        # A definition registered for x86 but configured as the arm64 one.
        ("none", {"task_definitions": {"arm64": "runner"}}, {"arch": "arm64"}, "runs on X86_64"),
        ("none", {"task_definitions": {"x64": "runner"}}, {"arch": "arm64"}, "no task definition for arm64"),
        ("bridge", {"task_definitions": "bridge"}, {}, "networkMode awsvpc"),
        ("two", {"task_definitions": "two"}, {}, "name the runner's with `container`"),
        ("two", {"task_definitions": "two", "container": "nope"}, {}, "has no container 'nope'"),
        ("none", {}, {"capacity": "spot", "arch": "arm64"}, "Fargate Spot runs x64 only"),
        ("none", {}, {"detail": {"fargateCpu": "two", "fargateMemory": "4096"}}, "bad Fargate size"),
    ],
)
def test_misconfiguration_fails_the_launch_before_any_task_starts(
    ecs: Ecs, setup: str, over: dict[str, Any], launch: dict[str, Any], message: str
) -> None:
    if setup == "bridge":
        register_runner_task_definition(ecs.moto.client("ecs"), "bridge", network_mode="bridge")
    if setup == "two":
        register_runner_task_definition(ecs.moto.client("ecs"), "two", containers=("runner", "dind"))
    backend = ecs.backend(**over)
    with pytest.raises(BackendError, match=message) as caught:
        run(backend.launch(replace(LAUNCH, **launch), runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert caught.value.retryable is False
    assert "RunTask" not in ecs.sent.operations
    assert ecs.moto.client("ecs").list_tasks(cluster="ci")["taskArns"] == []


def test_sidecar_task_keeps_container_sizes_and_overrides_the_named_container(ecs: Ecs) -> None:
    td = register_runner_task_definition(ecs.moto.client("ecs"), "two", containers=("dind", "runner"))
    backend = ecs.backend(task_definitions="two", container="runner")
    run(backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    body = ecs.sent.one("RunTask")
    assert body["taskDefinition"] == td
    [container] = body["overrides"]["containerOverrides"]
    assert container["name"] == "runner"
    assert "cpu" not in container and "memory" not in container  # the sidecar needs its share
    assert body["overrides"]["cpu"] == "2048"


def test_jit_config_too_long_for_overrides_is_refused_without_leaking_it(ecs: Ecs) -> None:
    backend = ecs.backend()
    secret = "S" * OVERRIDES_LIMIT
    with pytest.raises(BackendError, match="ECS allows 8192") as caught:
        run(backend.launch(LAUNCH, runner_name="r", jit_config=secret, owner_tag="ci"))
    assert caught.value.retryable is False
    assert secret not in str(caught.value)
    assert "RunTask" not in ecs.sent.operations


def test_aws_errors_become_backend_errors(ecs: Ecs) -> None:
    backend = ecs.backend(cluster="missing")
    with pytest.raises(BackendError, match="ClusterNotFoundException") as caught:
        run(backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert caught.value.retryable is False and caught.value.code == "ClusterNotFoundException"
    assert JIT not in str(caught.value)


def test_unreachable_endpoint_is_retryable() -> None:
    import boto3
    from botocore.config import Config

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = boto3.session.Session().client(
        "ecs",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2),
    )
    backend = EcsBackend("fargate", cluster="ci", task_definitions="runner", subnets=["subnet-1"], client=client)
    with pytest.raises(BackendError, match="EndpointConnectionError") as caught:
        run(backend.observe(Handle("fargate", "ecs", TASK_ARN, {"cluster": "ci"})))
    assert caught.value.retryable is True


def test_backend_makes_its_own_client_on_first_use(ecs: Ecs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    backend = ecs.backend(client=None, region="us-east-1", endpoint_url=ecs.moto.endpoint_url)
    handle = run(backend.launch(LAUNCH, runner_name="own", jit_config=JIT, owner_tag="ci"))
    assert ecs.task(handle.id)["startedBy"] == "sengu/ci"


def test_importing_the_backends_does_not_import_boto3() -> None:
    code = "import sys, sengu.runners.backends; assert 'boto3' not in sys.modules, 'boto3 imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_run_task_failures_are_a_retryable_error() -> None:
    import boto3

    client = boto3.session.Session().client(
        "ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    td_arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/runner:3"
    stub.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "taskDefinitionArn": td_arn,
                "networkMode": "awsvpc",
                "containerDefinitions": [{"name": "runner"}],
            }
        },
    )
    stub.add_response(
        "run_task",
        {
            "tasks": [],
            "failures": [
                {
                    "arn": "arn:aws:ecs:us-east-1:123456789012:cluster/ci",
                    "reason": "Capacity is unavailable at this time. Please try again later or in a different "
                    "availability zone",
                }
            ],
        },
    )
    backend = EcsBackend("fargate", cluster="ci", task_definitions="runner", subnets=["subnet-1"], client=client)
    with stub, pytest.raises(BackendError, match="Capacity is unavailable") as caught:
        run(backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert caught.value.retryable is True


# --- observe and terminate ----------------------------------------------------------------------------
def test_terminate_stops_once_and_a_second_call_is_a_quiet_no(ecs: Ecs) -> None:
    backend = ecs.backend()

    async def scenario() -> None:
        handle = await backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci")
        assert await backend.terminate(handle, "sengu: job cancelled") is True
        assert await backend.terminate(handle, "sengu: job cancelled") is False
        observed = await backend.observe(handle)
        assert observed.state == "stopped"
        assert observed.reason == "sengu: job cancelled"
        assert observed.exit_code == 0  # moto's containers always exit 0

    run(scenario())
    assert ecs.sent.bodies("StopTask") == [
        {"cluster": "ci", "task": ecs.sent.bodies("StopTask")[0]["task"], "reason": "sengu: job cancelled"}
    ]
    assert ecs.task(ecs.sent.one("StopTask")["task"])["desiredStatus"] == "STOPPED"


def test_concurrent_terminates_stop_once(ecs: Ecs) -> None:
    backend = ecs.backend()

    async def scenario() -> list[bool]:
        handle = await backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci")
        return list(await asyncio.gather(*(backend.terminate(handle, "janitor: idle") for _ in range(5))))

    assert sorted(run(scenario())) == [False, False, False, False, True]
    assert len(ecs.sent.bodies("StopTask")) == 1


def test_after_a_restart_terminate_asks_ecs_and_does_not_stop_twice(ecs: Ecs) -> None:
    handle = run(ecs.backend().launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert run(ecs.backend().terminate(handle, "first")) is True
    # A fresh backend (a restarted process) remembers nothing; ECS says the task is stopped already.
    assert run(ecs.backend().terminate(handle, "second")) is False
    assert [b["reason"] for b in ecs.sent.bodies("StopTask")] == ["first"]


def test_unknown_task_is_gone_and_terminating_it_is_a_no(ecs: Ecs) -> None:
    backend = ecs.backend()
    ghost = Handle("fargate", "ecs", "arn:aws:ecs:us-east-1:123456789012:task/ci/0123456789abcdef", {"cluster": "ci"})
    assert run(backend.observe(ghost)) == Observation("gone")
    assert run(backend.terminate(ghost, "janitor")) is False
    assert "StopTask" not in ecs.sent.operations


def test_spot_interruption_is_observed(ecs: Ecs) -> None:
    backend = ecs.backend()
    handle = run(backend.launch(replace(LAUNCH, capacity="spot"), runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert run(backend.observe(handle)).reason is None
    # What ECS does to a Fargate Spot task when capacity is reclaimed (moto has no stopCode, only the reason).
    ecs.moto.client("ecs").stop_task(cluster="ci", task=handle.id, reason="Your Spot Task was interrupted.")
    assert run(backend.observe(handle)) == Observation("stopped", SPOT_INTERRUPTION, 0)
    assert run(backend.terminate(handle, "janitor")) is False


def test_status_progression_as_moto_walks_it(ecs: Ecs) -> None:
    ecs.moto.set_transition("ecs::task", {"progression": "manual", "times": 1})  # one step per DescribeTasks
    backend = ecs.backend()

    async def scenario() -> list[str]:
        handle = await backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci")
        return [(await backend.observe(handle)).state for _ in range(6)]

    states = run(scenario())
    # RUNNING, DEACTIVATING, STOPPING → running; DEPROVISIONING, STOPPED → stopped; never back.
    assert states[0] == "running" and states[-1] == "stopped"
    assert states == sorted(states, key=["running", "stopped"].index)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ({"lastStatus": "PROVISIONING", "desiredStatus": "RUNNING"}, Observation("starting")),
        ({"lastStatus": "PENDING", "desiredStatus": "RUNNING"}, Observation("starting")),
        ({"lastStatus": "RUNNING", "desiredStatus": "RUNNING"}, Observation("running")),
        # The two-minute warning: still running, already marked as a Spot interruption.
        (
            {
                "lastStatus": "RUNNING",
                "desiredStatus": "STOPPED",
                "stopCode": "SpotInterruption",
                "stoppedReason": "Your Spot Task was interrupted.",
            },
            Observation("running", SPOT_INTERRUPTION),
        ),
        (
            {
                "lastStatus": "STOPPED",
                "desiredStatus": "STOPPED",
                "stopCode": "SpotInterruption",
                "stoppedReason": "Your Spot Task was interrupted.",
                "containers": [{"name": "runner", "exitCode": 143}],
            },
            Observation("stopped", SPOT_INTERRUPTION, 143),
        ),
        # The stop code alone is enough, whatever the wording of the reason.
        (
            {"lastStatus": "STOPPING", "desiredStatus": "STOPPED", "stopCode": "SpotInterruption"},
            Observation("running", SPOT_INTERRUPTION),
        ),
        # Our own StopTask whose reason happens to say "spot" is not an interruption.
        (
            {"lastStatus": "STOPPED", "stopCode": "UserInitiated", "stoppedReason": "janitor: spot re-queue"},
            Observation("stopped", "janitor: spot re-queue"),
        ),
        (
            {
                "lastStatus": "STOPPED",
                "stopCode": "EssentialContainerExited",
                "stoppedReason": "Essential container in task exited",
                "containers": [{"name": "dind", "exitCode": 0}, {"name": "runner", "exitCode": 2}],
            },
            Observation("stopped", "Essential container in task exited", 2),
        ),
        ({"lastStatus": "STOPPED", "stopCode": "TaskFailedToStart"}, Observation("stopped", "TaskFailedToStart")),
    ],
)
def test_observation_of_documented_task_shapes(task: dict[str, Any], expected: Observation) -> None:
    assert observation_of({"taskArn": TASK_ARN, **task}, "runner") == expected


# --- list_owned --------------------------------------------------------------------------------------------
def test_list_owned_finds_only_our_live_tagged_tasks(ecs: Ecs) -> None:
    ours = ecs.backend()

    async def scenario() -> tuple[list[Handle], list[Handle], str]:
        a = await ours.launch(LAUNCH, runner_name="ci-a", jit_config=JIT, owner_tag="ci")
        b = await ours.launch(replace(LAUNCH, capacity="spot"), runner_name="ci-b", jit_config=JIT, owner_tag="ci")
        stopped = await ours.launch(LAUNCH, runner_name="ci-c", jit_config=JIT, owner_tag="ci")
        await ours.terminate(stopped, "done")
        other = await ours.launch(LAUNCH, runner_name="other-a", jit_config=JIT, owner_tag="other")
        listed = await ours.list_owned("ci")
        return [a, b], listed, other.id

    launched, listed, other_id = run(scenario())
    # Someone else's tasks: same startedBy but no tag (a collision), and an unrelated one.
    stranger = ecs.moto.client("ecs")
    network = {"awsvpcConfiguration": {"subnets": [ecs.subnet], "securityGroups": [ecs.security_group]}}
    stranger.run_task(
        cluster="ci", taskDefinition="runner", launchType="FARGATE", startedBy="sengu/ci", networkConfiguration=network
    )
    stranger.run_task(cluster="ci", taskDefinition="runner", launchType="FARGATE", networkConfiguration=network)

    assert sorted(h.id for h in listed) == sorted(h.id for h in launched)
    assert other_id not in {h.id for h in listed}
    by_runner = {h.detail["runner"]: h for h in listed}
    assert by_runner["ci-a"].detail == {
        "cluster": "ci",
        "container": "runner",
        "runner": "ci-a",
        "capacity": "on-demand",
    }
    assert by_runner["ci-b"].detail["capacity"] == "spot"
    # And again with the strangers present: still only ours.
    again = run(ours.list_owned("ci"))
    assert sorted(h.id for h in again) == sorted(h.id for h in launched)
    assert run(ours.list_owned("nobody")) == []
    for body in ecs.sent.bodies("DescribeTasks"):
        if len(body["tasks"]) > 1:
            assert body["include"] == ["TAGS"]


@pytest.mark.parametrize(
    "pool",
    ["ci", "a" * 30, "team.ci", "x" * 200, "ci pool/ü"],
)
def test_started_by_fits_ecs_limits(pool: str) -> None:
    value = started_by(pool)
    assert len(value) <= 36
    assert all(ch.isascii() and (ch.isalnum() or ch in "/_-") for ch in value)
    assert value.startswith("sengu/")


def test_started_by_is_distinct_for_names_that_clean_alike() -> None:
    assert started_by("team.ci") != started_by("team-ci")
    assert started_by("x" * 200) != started_by("x" * 201)
    assert started_by("ci") == "sengu/ci"


# --- observe_many ----------------------------------------------------------------------------------------
def _start_tasks(ecs: Ecs, cluster: str, count: int) -> list[str]:
    """`count` tasks started outside the backend, ten per RunTask (Fargate's most), for bulk setups."""
    network = {"awsvpcConfiguration": {"subnets": [ecs.subnet], "securityGroups": [ecs.security_group]}}
    setup = ecs.moto.client("ecs")
    arns: list[str] = []
    while len(arns) < count:
        reply = setup.run_task(
            cluster=cluster,
            taskDefinition="runner",
            launchType="FARGATE",
            networkConfiguration=network,
            count=min(10, count - len(arns)),
        )
        arns += [str(t["taskArn"]) for t in reply["tasks"]]
    return arns


def test_observe_many_asks_a_hundred_tasks_per_call_per_cluster(ecs: Ecs) -> None:
    ecs.moto.client("ecs").create_cluster(clusterName="batch", capacityProviders=["FARGATE"])
    in_ci = _start_tasks(ecs, "ci", 105)
    in_batch = _start_tasks(ecs, "batch", 3)
    stopped = in_ci[7]
    ecs.moto.client("ecs").stop_task(cluster="ci", task=stopped, reason="Your Spot Task was interrupted.")
    unknown = [f"arn:aws:ecs:us-east-1:123456789012:task/ci/{n:032x}" for n in (1, 2)]

    def handle(arn: str, cluster: str | None) -> Handle:
        detail = {"container": "runner", "runner": arn[-6:]}
        if cluster is not None:  # a handle without a cluster is in the backend's own
            detail["cluster"] = cluster
        return Handle("fargate", "ecs", arn, detail)

    handles = (
        [handle(a, "ci") for a in in_ci[:60]]
        + [handle(a, "batch") for a in in_batch]
        + [handle(a, None) for a in in_ci[60:]]
        + [handle(a, "ci") for a in unknown]
    )
    seen = run(ecs.backend().observe_many(handles))

    assert set(seen) == {h.id for h in handles}
    assert seen[stopped] == Observation("stopped", SPOT_INTERRUPTION, 0)
    assert all(seen[a] == Observation("gone") for a in unknown)
    assert all(seen[a] == Observation("running") for a in in_ci + in_batch if a != stopped)
    asked = ecs.sent.bodies("DescribeTasks")
    # 107 tasks in ci → 100 + 7; 3 in batch → 1 call.
    assert sorted((b["cluster"], len(b["tasks"])) for b in asked) == [("batch", 3), ("ci", 7), ("ci", 100)]
    assert sorted(t for b in asked if b["cluster"] == "ci" for t in b["tasks"]) == sorted(in_ci + unknown)
    assert all(b["tasks"] == in_batch for b in asked if b["cluster"] == "batch")


def test_observe_many_of_nothing_asks_nothing_and_repeats_are_asked_once(ecs: Ecs) -> None:
    backend = ecs.backend()
    assert run(backend.observe_many([])) == {}
    assert ecs.sent.operations == []
    handle = run(backend.launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert run(backend.observe_many([handle, handle])) == {handle.id: Observation("running")}
    assert ecs.sent.one("DescribeTasks")["tasks"] == [handle.id]


def _stubbed_ecs() -> tuple[Any, Stubber]:
    import boto3

    client = boto3.session.Session().client(
        "ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_observe_many_reads_missing_failures_as_gone() -> None:
    # moto answers unknown tasks by leaving them out; ECS lists them under `failures`, as here.
    client, stub = _stubbed_ecs()
    live, missing = f"{TASK_ARN}01", f"{TASK_ARN}02"
    stub.add_response(
        "describe_tasks",
        {
            "tasks": [{"taskArn": live, "lastStatus": "PENDING", "desiredStatus": "RUNNING"}],
            "failures": [{"arn": missing, "reason": "MISSING"}],
        },
        {"cluster": "ci", "tasks": [live, missing]},
    )
    backend = EcsBackend("fargate", cluster="ci", task_definitions="runner", subnets=["subnet-1"], client=client)
    handles = [Handle("fargate", "ecs", arn, {"cluster": "ci"}) for arn in (live, missing)]
    with stub:
        assert run(backend.observe_many(handles)) == {live: Observation("starting"), missing: Observation("gone")}
    stub.assert_no_pending_responses()


def test_observe_many_does_not_call_a_task_gone_for_a_failure_other_than_missing() -> None:
    client, stub = _stubbed_ecs()
    stub.add_response(
        "describe_tasks",
        {"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "INTERNAL_ERROR", "detail": "try again"}]},
        {"cluster": "ci", "tasks": [TASK_ARN]},
    )
    backend = EcsBackend("fargate", cluster="ci", task_definitions="runner", subnets=["subnet-1"], client=client)
    with stub, pytest.raises(BackendError, match="INTERNAL_ERROR try again") as caught:
        run(backend.observe_many([Handle("fargate", "ecs", TASK_ARN, {"cluster": "ci"})]))
    assert caught.value.retryable is True
