"""moto in server mode for the AWS runner backends, and a recorder of what boto3 put on the wire.

    def test_x(moto: MotoServer) -> None:
        ecs = moto.client("ecs")
        sent = Recorder(ecs)
        ...
        assert sent.one("RunTask")["capacityProviderStrategy"] == [...]

The server is a real HTTP server on 127.0.0.1 (moto's ThreadedMotoServer, an ephemeral port), started
once per test module and reset before each test. Clients use dummy credentials and `endpoint_url`, so
nothing leaves the machine.

Why a recorder: moto accepts more than it keeps (CodeBuild ignores every StartBuild override, ECS
tasks do not echo everything), so tests assert on the request as serialized and about to be sent —
botocore's `before-send` event, the last stop before the socket — decoded back from JSON (ECS) or
CBOR (CodeBuild speaks smithy-rpc-v2-cbor in this botocore).
See /work/shared/notes/aws-testing.md for what moto does and does not do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.parsers import RpcV2CBORParser
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


class MotoServer:
    """One ThreadedMotoServer on 127.0.0.1 and an ephemeral port."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""
        # One session: it caches the service models, which makes a client in milliseconds rather than
        # a few hundred; each client still gets its own copy of the event hooks.
        self._session = boto3.session.Session()

    def start(self) -> None:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        # One attempt: a test wants to see moto's first answer, not botocore's retries of a 500.
        return self._session.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )

    def reset(self) -> None:
        httpx.post(f"{self.endpoint_url}/moto-api/reset").raise_for_status()

    def set_transition(self, model: str, transition: dict[str, Any]) -> None:
        """How moto moves a model's status on (https://docs.getmoto.org/…/state_transition)."""
        body = {"model_name": model, "transition": transition}
        httpx.post(f"{self.endpoint_url}/moto-api/state-manager/set-transition", json=body).raise_for_status()

    def unset_transition(self, model: str) -> None:
        body = {"model_name": model}
        httpx.post(f"{self.endpoint_url}/moto-api/state-manager/unset-transition", json=body).raise_for_status()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> Iterator[MotoServer]:
    moto_server.reset()
    # moto advances an ECS task one status per DescribeTasks by default (RUNNING → DEACTIVATING → …);
    # hold tasks where they are so a test sees the state it set up, not the number of calls it made.
    moto_server.set_transition("ecs::task", {"progression": "manual", "times": 1_000_000})
    try:
        yield moto_server
    finally:
        moto_server.unset_transition("ecs::task")


@dataclass(frozen=True)
class Sent:
    operation: str
    body: dict[str, Any]


class Recorder:
    """Every request a client sends, as (operation, decoded body), in order."""

    def __init__(self, client: Any) -> None:
        self.requests: list[Sent] = []
        client.meta.events.register("before-send", self._on_send)

    def _on_send(self, request: Any, **_: Any) -> None:
        raw = request.body or b""
        if isinstance(raw, str):
            raw = raw.encode()
        target = request.headers.get("X-Amz-Target")
        if target is not None:  # JSON 1.1: "AmazonEC2ContainerServiceV20141113.RunTask"
            operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
            body = json.loads(raw) if raw else {}
        else:  # smithy-rpc-v2-cbor: POST /service/<Service>/operation/<Operation>
            operation = request.url.rsplit("/operation/", 1)[-1]
            body = RpcV2CBORParser()._initial_body_parse(raw) if raw else {}
        self.requests.append(Sent(operation, body))

    @property
    def operations(self) -> list[str]:
        return [r.operation for r in self.requests]

    def bodies(self, operation: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.operation == operation]

    def one(self, operation: str) -> dict[str, Any]:
        found = self.bodies(operation)
        assert len(found) == 1, f"expected one {operation}, sent {self.operations}"
        return found[0]


@dataclass(frozen=True)
class FargateNetwork:
    vpc: str
    subnet: str
    security_group: str


def fargate_network(moto: MotoServer) -> FargateNetwork:
    """The VPC moto needs before RunTask with awsvpc works: DNS hostnames on (else moto answers 500)
    and a real subnet and security group (made-up ids are refused as not found)."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="runners", Description="runners", VpcId=vpc)["GroupId"]
    return FargateNetwork(vpc, subnet, sg)


def register_runner_task_definition(
    ecs: Any,
    family: str,
    *,
    arch: str = "X86_64",
    containers: tuple[str, ...] = ("runner",),
    network_mode: str = "awsvpc",
) -> str:
    """A Fargate task definition like a user would register for runners. Containers carry their own
    cpu/memory because moto needs them (task-level only → 500 inside moto)."""
    reply = ecs.register_task_definition(
        family=family,
        # Fargate requires awsvpc; anything else is an EC2-only definition (moto forces awsvpc for Fargate).
        requiresCompatibilities=["FARGATE"] if network_mode == "awsvpc" else ["EC2"],
        networkMode=network_mode,
        cpu="1024",
        memory="2048",
        runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"},
        containerDefinitions=[
            {
                "name": name,
                "image": "ghcr.io/actions/actions-runner:latest",
                "cpu": 256,
                "memory": 512,
                "essential": True,
            }
            for name in containers
        ],
    )
    return str(reply["taskDefinition"]["taskDefinitionArn"])
