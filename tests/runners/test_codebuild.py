"""The CodeBuild backend. StartBuild runs against moto in server mode and is checked on the wire (moto
ignores every override, see /work/shared/notes/aws-testing.md). moto also reports every build as
SUCCEEDED the moment it is looked at and StopBuild cannot change that, so observing, terminating and
listing are driven by botocore's Stubber with BatchGetBuilds answers shaped as AWS documents them
(the Stubber checks both our requests and those answers against the service model)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sengu.core.clock import FakeClock
from sengu.runners.backends import (
    JIT_CONFIG_ENV,
    Backend,
    BackendError,
    CodeBuildBackend,
    Handle,
    Observation,
    ObservedState,
)
from sengu.runners.backends.codebuild import observation_of
from sengu.runners.labels import Launch
from tests.runners.aws import (
    ACCOUNT,
    MotoServer,
    Recorder,
    moto,  # noqa: F401  (fixture)
    moto_server,  # noqa: F401  (fixture)
)

JIT = "eyJydW5uZXIiOiJzZW5ndS0xIn0=" * 40
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"
PROJECT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/codebuild-runner"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

LAUNCH = Launch(
    backend="codebuild",
    kind="codebuild",
    arch="x64",
    vcpu=4.0,
    memory_gib=7.0,
    capacity="on-demand",
    role=None,
    role_arn=None,
    image=None,
    labels=("self-hosted", "sengu", "codebuild", "cpu-4"),
    detail={"computeType": "BUILD_GENERAL1_MEDIUM", "environmentType": "LINUX_CONTAINER"},
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- launch, against moto ------------------------------------------------------------------------------
@dataclass
class CodeBuild:
    moto: MotoServer
    client: Any
    sent: Recorder

    def backend(self, **over: Any) -> CodeBuildBackend:
        kwargs: dict[str, Any] = {"project": "runner", "client": self.client}
        kwargs.update(over)
        return CodeBuildBackend("codebuild", **kwargs)


@pytest.fixture
def codebuild(moto: MotoServer) -> Iterator[CodeBuild]:  # noqa: F811
    moto.client("codebuild").create_project(
        name="runner",
        source={"type": "NO_SOURCE", "location": "none", "buildspec": "version: 0.2"},  # moto wants a location
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=PROJECT_ROLE,
    )
    client = moto.client("codebuild")
    yield CodeBuild(moto, client, Recorder(client))


def test_launch_sends_compute_image_role_jit_and_ownership(codebuild: CodeBuild) -> None:
    backend: Backend = codebuild.backend()
    launch = replace(LAUNCH, role="deploy", role_arn=ROLE, image="ghcr.io/my-org/runner:2.330")
    handle = run(backend.launch(launch, runner_name="sengu-ci-7-1", jit_config=JIT, owner_tag="ci"))

    assert codebuild.sent.one("StartBuild") == {
        "projectName": "runner",
        "environmentTypeOverride": "LINUX_CONTAINER",
        "computeTypeOverride": "BUILD_GENERAL1_MEDIUM",
        "imageOverride": "ghcr.io/my-org/runner:2.330",
        "serviceRoleOverride": ROLE,
        "environmentVariablesOverride": [
            {"name": JIT_CONFIG_ENV, "value": JIT, "type": "PLAINTEXT"},
            {"name": "SENGU_POOL", "value": "ci", "type": "PLAINTEXT"},
            {"name": "SENGU_RUNNER", "value": "sengu-ci-7-1", "type": "PLAINTEXT"},
        ],
        "idempotencyToken": "sengu-ci-7-1",
    }
    assert handle.backend == "codebuild" and handle.kind == "codebuild"
    assert handle.detail == {"project": "runner", "runner": "sengu-ci-7-1", "arch": "x64"}
    # The build moto started is the one the handle names.
    assert handle.id.startswith("runner:")
    assert handle.id in codebuild.moto.client("codebuild").list_builds_for_project(projectName="runner")["ids"]


def test_arm64_uses_arm_container_the_arch_image_and_the_buildspec(codebuild: CodeBuild) -> None:
    arm_image = "aws/codebuild/amazonlinux2-aarch64-standard:3.0"
    buildspec = "version: 0.2\nphases:\n  build:\n    commands: [cd /opt/actions-runner && ./run.sh]\n"
    backend = codebuild.backend(images={"x64": "unused", "arm64": arm_image}, buildspec=buildspec)
    launch = replace(LAUNCH, arch="arm64", detail={"computeType": "BUILD_GENERAL1_LARGE"})
    run(backend.launch(launch, runner_name="r-arm", jit_config=JIT, owner_tag="ci"))
    body = codebuild.sent.one("StartBuild")
    assert body["environmentTypeOverride"] == "ARM_CONTAINER"  # from the arch when the detail has none
    assert body["computeTypeOverride"] == "BUILD_GENERAL1_LARGE"
    assert body["imageOverride"] == arm_image
    assert body["buildspecOverride"] == buildspec
    assert "serviceRoleOverride" not in body  # no role asked: the project's own


def test_without_an_image_the_project_image_runs(codebuild: CodeBuild) -> None:
    run(codebuild.backend().launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert "imageOverride" not in codebuild.sent.one("StartBuild")


def test_launch_without_compute_type_is_refused(codebuild: CodeBuild) -> None:
    with pytest.raises(BackendError, match="no CodeBuild computeType") as caught:
        run(codebuild.backend().launch(replace(LAUNCH, detail={}), runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert caught.value.retryable is False
    assert codebuild.sent.operations == []


def test_unknown_project_is_a_clear_error_without_the_secret(codebuild: CodeBuild) -> None:
    with pytest.raises(BackendError, match="ResourceNotFoundException") as caught:
        run(codebuild.backend(project="nope").launch(LAUNCH, runner_name="r", jit_config=JIT, owner_tag="ci"))
    assert caught.value.retryable is False
    assert caught.value.code == "ResourceNotFoundException"
    assert JIT not in str(caught.value)


def test_long_runner_names_get_a_digest_token(codebuild: CodeBuild) -> None:
    name = "sengu-" + "x" * 100
    run(codebuild.backend().launch(LAUNCH, runner_name=name, jit_config=JIT, owner_tag="ci"))
    body = codebuild.sent.one("StartBuild")
    assert len(body["idempotencyToken"]) == 64 and body["idempotencyToken"] != name[:64]
    assert body["environmentVariablesOverride"][2]["value"] == name


# --- observe / terminate / list_owned, with documented answers -------------------------------------------
BUILD_ID = "runner:6f2b4a9e-0d1c-4c7e-9a55-2b9d1e0f7a11"
HANDLE = Handle("codebuild", "codebuild", BUILD_ID, {"project": "runner", "runner": "r"})


def build(
    build_id: str = BUILD_ID,
    *,
    status: str = "IN_PROGRESS",
    phase: str = "BUILD",
    pool: str = "ci",
    runner: str = "r",
    started: datetime = NOW,
    phases: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A BatchGetBuilds build, shaped like the API reference's example."""
    return {
        "id": build_id,
        "arn": f"arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{build_id}",
        "startTime": started,
        "currentPhase": phase,
        "buildStatus": status,
        "projectName": "runner",
        "phases": phases or [{"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 0}],
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
            "environmentVariables": [
                {"name": JIT_CONFIG_ENV, "value": JIT, "type": "PLAINTEXT"},
                {"name": "SENGU_POOL", "value": pool, "type": "PLAINTEXT"},
                {"name": "SENGU_RUNNER", "value": runner, "type": "PLAINTEXT"},
            ],
        },
        "serviceRole": PROJECT_ROLE,
        "buildComplete": status != "IN_PROGRESS",
        "initiator": "sengu",
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.session.Session().client(
        "codebuild", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def expect_get(stub: Stubber, ids: list[str], builds: list[dict[str, Any]], not_found: Sequence[str] = ()) -> None:
    reply: dict[str, Any] = {"builds": builds}
    if not_found:
        reply["buildsNotFound"] = list(not_found)
    stub.add_response("batch_get_builds", reply, {"ids": ids})


@pytest.mark.parametrize(
    ("phase", "state"),
    [("QUEUED", "starting"), ("PROVISIONING", "starting"), ("PRE_BUILD", "starting"), ("BUILD", "running")],
)
def test_observe_in_progress(stubbed: tuple[Any, Stubber], phase: str, state: ObservedState) -> None:
    client, stub = stubbed
    expect_get(stub, [BUILD_ID], [build(phase=phase)])
    assert run(CodeBuildBackend("codebuild", project="runner", client=client).observe(HANDLE)) == Observation(state)


def test_observe_unknown_build_is_gone(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    expect_get(stub, [BUILD_ID], [], not_found=[BUILD_ID])
    assert run(CodeBuildBackend("codebuild", project="runner", client=client).observe(HANDLE)) == Observation("gone")


FAILED_PHASES = [
    {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
    {
        "phaseType": "BUILD",
        "phaseStatus": "FAILED",
        "contexts": [
            {
                "statusCode": "COMMAND_EXECUTION_ERROR",
                "message": "Error while executing command: ./run.sh. Reason: exit status 3",
            }
        ],
    },
]


@pytest.mark.parametrize(
    ("status", "phases", "expected"),
    [
        ("SUCCEEDED", None, Observation("stopped", None, 0)),
        (
            "FAILED",
            FAILED_PHASES,
            Observation("stopped", "FAILED: Error while executing command: ./run.sh. Reason: exit status 3", 3),
        ),
        ("STOPPED", None, Observation("stopped", "STOPPED", None)),
        ("TIMED_OUT", None, Observation("stopped", "TIMED_OUT", None)),
        ("FAULT", None, Observation("stopped", "FAULT", None)),
    ],
)
def test_observation_of_finished_builds(
    status: str, phases: list[dict[str, Any]] | None, expected: Observation
) -> None:
    assert observation_of(build(status=status, phase="COMPLETED", phases=phases)) == expected


def test_terminate_stops_once(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    expect_get(stub, [BUILD_ID], [build()])
    stub.add_response("stop_build", {"build": build(status="STOPPED", phase="COMPLETED")}, {"id": BUILD_ID})
    backend = CodeBuildBackend("codebuild", project="runner", client=client)

    async def scenario() -> list[bool]:
        first = await backend.terminate(HANDLE, "job cancelled")
        # Concurrent and later calls answer from memory; the Stubber fails any further AWS call.
        rest = await asyncio.gather(*(backend.terminate(HANDLE, "again") for _ in range(3)))
        return [first, *rest]

    assert run(scenario()) == [True, False, False, False]


def test_terminate_after_restart_asks_codebuild(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    expect_get(stub, [BUILD_ID], [build(status="STOPPED", phase="COMPLETED")])
    assert run(CodeBuildBackend("codebuild", project="runner", client=client).terminate(HANDLE, "x")) is False


def test_terminate_gone_build_is_a_no(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    expect_get(stub, [BUILD_ID], [], not_found=[BUILD_ID])
    assert run(CodeBuildBackend("codebuild", project="runner", client=client).terminate(HANDLE, "x")) is False


def test_terminate_racing_the_builds_own_end_is_a_no(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    expect_get(stub, [BUILD_ID], [build()])
    stub.add_client_error(
        "stop_build",
        service_error_code="InvalidInputException",
        service_message=f"Build {BUILD_ID} is already complete",
        http_status_code=400,
        expected_params={"id": BUILD_ID},
    )
    assert run(CodeBuildBackend("codebuild", project="runner", client=client).terminate(HANDLE, "x")) is False


def test_throttling_is_retryable(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_client_error("batch_get_builds", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(BackendError, match="ThrottlingException") as caught:
        run(CodeBuildBackend("codebuild", project="runner", client=client).observe(HANDLE))
    assert caught.value.retryable is True


def test_list_owned_keeps_our_live_builds_and_stops_at_history(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    old = NOW - timedelta(hours=49)
    page1 = [f"runner:{n}" for n in (9, 8, 7, 6)]
    page2 = [f"runner:{n}" for n in (5, 4)]
    stub.add_response(
        "list_builds_for_project",
        {"ids": page1, "nextToken": "t1"},
        {"projectName": "runner", "sortOrder": "DESCENDING"},
    )
    expect_get(
        stub,
        page1,
        [
            build("runner:9", pool="ci", runner="ci-9"),
            build("runner:8", pool="other", runner="other-8"),
            build("runner:7", status="SUCCEEDED", phase="COMPLETED", pool="ci"),
            build("runner:6", phase="QUEUED", pool="ci", runner="ci-6", started=old),  # queued long: still ours
        ],
    )
    stub.add_response(
        "list_builds_for_project",
        {"ids": page2, "nextToken": "t2"},
        {"projectName": "runner", "sortOrder": "DESCENDING", "nextToken": "t1"},
    )
    expect_get(
        stub,
        page2,
        [
            build("runner:5", status="SUCCEEDED", phase="COMPLETED", started=old),
            build("runner:4", status="FAILED", phase="COMPLETED", started=old - timedelta(days=3)),
        ],
    )
    # No third ListBuildsForProject: the whole second page is older than any build can live.
    backend = CodeBuildBackend("codebuild", project="runner", client=client, clock=FakeClock(NOW))
    owned = run(backend.list_owned("ci"))
    assert owned == [
        Handle("codebuild", "codebuild", "runner:9", {"project": "runner", "runner": "ci-9"}),
        Handle("codebuild", "codebuild", "runner:6", {"project": "runner", "runner": "ci-6"}),
    ]
    assert all(JIT not in str(h) for h in owned)


def test_list_owned_reads_every_page_while_builds_are_recent(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_response("list_builds_for_project", {"ids": ["runner:2"], "nextToken": "t1"})
    expect_get(stub, ["runner:2"], [build("runner:2", status="SUCCEEDED", phase="COMPLETED")])
    stub.add_response("list_builds_for_project", {"ids": ["runner:1"]})
    expect_get(stub, ["runner:1"], [build("runner:1", runner="ci-1")])
    backend = CodeBuildBackend("codebuild", project="runner", client=client, clock=FakeClock(NOW))
    assert [h.id for h in run(backend.list_owned("ci"))] == ["runner:1"]


# --- observe_many ----------------------------------------------------------------------------------------
def test_observe_many_asks_a_hundred_builds_per_call(codebuild: CodeBuild) -> None:
    setup = codebuild.moto.client("codebuild")
    known = [str(setup.start_build(projectName="runner")["build"]["id"]) for _ in range(103)]
    unknown = ["runner:00000000-0000-0000-0000-000000000001", "runner:00000000-0000-0000-0000-000000000002"]
    handles = [Handle("codebuild", "codebuild", i, {"project": "runner"}) for i in known + unknown]
    seen = run(codebuild.backend().observe_many(handles))
    # moto finishes every build the moment it is looked at (SUCCEEDED), and leaves unknown ids out.
    assert seen == {**{i: Observation("stopped", None, 0) for i in known}, **{i: Observation("gone") for i in unknown}}
    asked = codebuild.sent.bodies("BatchGetBuilds")
    assert [len(b["ids"]) for b in asked] == [100, 5]
    assert [i for b in asked for i in b["ids"]] == known + unknown


def test_observe_many_reads_builds_not_found_as_gone(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    ids = [f"runner:{n}" for n in range(150)]
    gone = {"runner:3", "runner:120"}
    for batch in (ids[:100], ids[100:]):
        expect_get(
            stub,
            batch,
            [build(i, phase="QUEUED" if i == "runner:4" else "BUILD") for i in batch if i not in gone],
            not_found=[i for i in batch if i in gone],
        )
    handles = [Handle("codebuild", "codebuild", i, {"project": "runner"}) for i in ids]
    seen = run(CodeBuildBackend("codebuild", project="runner", client=client).observe_many(handles))
    assert list(seen) == ids
    assert {i for i, o in seen.items() if o == Observation("gone")} == gone
    assert seen["runner:4"] == Observation("starting")
    assert all(o == Observation("running") for i, o in seen.items() if i not in gone and i != "runner:4")


def test_observe_many_of_nothing_asks_nothing(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed  # any call would fail: the Stubber expects none
    assert run(CodeBuildBackend("codebuild", project="runner", client=client).observe_many([])) == {}
