"""Runs-on labels → one launch or a clear rejection: the rules, the policy, and properties over any labels."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sengu.core.spec import parse_documents, read_documents
from sengu.runners.labels import Launch, Policy, Rejection, effective_policy, is_ours, resolve_labels
from sengu.runners.spec import RunnerPoolSpec, load_pool

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runners" / "pool.yaml"
OURS = ["self-hosted", "sengu"]

POOL_YAML = """\
apiVersion: sengu.dev/v1alpha1
kind: RunnerPool
metadata: {name: ci}
spec:
  github: {appId: 1, installationId: 2, privateKeyFile: k, webhookSecretFile: s, owner: my-org}
  defaultBackend: fargate
  backends:
    - {name: box, local: {command: [run, '{jitconfig}'], arch: x64, maxCpu: 8, maxMemoryGiB: 16}}
    - name: fargate
      ecs: {cluster: ci, taskDefinition: runner, arm64TaskDefinition: runner-arm, subnets: [s]}
    - {name: codebuild, codebuild: {project: p, image: img-x64, arm64Image: img-arm}}
    - name: k8s
      kubernetes:
        namespace: ci
        image: runner:x64
        arm64Image: runner:arm
        serviceAccount: plain
        serviceAccounts: {deploy: deployer}
        spotNodes: true
        maxCpu: 64
    - {name: k8s-nospot, kubernetes: {namespace: ci, image: runner}}
    - {name: small-cb, codebuild: {project: p, computeTypes: [BUILD_GENERAL1_SMALL, BUILD_GENERAL1_MEDIUM]}}
  roles:
    deploy: arn:aws:iam::123456789012:role/ci-deploy
    read: arn:aws:iam::123456789012:role/ci-read
  policy:
    - repositories: ["my-org/*"]
      maxCpu: 4
      maxMemoryGiB: 16
      roles: []
    - repositories: ["my-org/infra"]
      roles: [deploy]
    - repositories: ["my-org/big-*"]
      maxCpu: 16
      maxMemoryGiB: 64
    - repositories: ["my-org/spotty"]
      capacity: [spot]
    - repositories: ["my-org/aws-only", "my-org/aws-*"]
      backends: [fargate, codebuild]
    - repositories: ["my-org/readers"]
      roles: [read]
    - repositories: ["my-org/readers"]
      roles: [deploy, read]
"""


def pool_from(text: str) -> RunnerPoolSpec:
    (doc,) = parse_documents(text, "pool.yaml")
    return load_pool(doc).spec


POOL = pool_from(POOL_YAML)
ISSUE_POOL = load_pool(read_documents(EXAMPLE)[0]).spec


def launch(labels: list[str], repo: str | None = "my-org/app", pool: RunnerPoolSpec = POOL) -> Launch:
    result = resolve_labels(pool, OURS + labels, repo)
    assert isinstance(result, Launch), result
    return result


def reject(labels: list[str], repo: str | None = "my-org/app", pool: RunnerPoolSpec = POOL) -> str:
    result = resolve_labels(pool, OURS + labels, repo)
    assert isinstance(result, Rejection), result
    return result.reason


# --------------------------------------------------------------------------------------------------
# The issue's pool, as the issue means it


def test_issue_pool_default_job_runs_on_fargate_x64_on_demand() -> None:
    got = launch([], pool=ISSUE_POOL)
    assert (got.backend, got.kind, got.arch, got.vcpu, got.memory_gib, got.capacity) == (
        "fargate",
        "ecs",
        "x64",
        2.0,
        4.0,
        "on-demand",
    )
    assert got.detail == {
        "fargateCpu": "2048",
        "fargateMemory": "4096",
        "taskDefinition": "runner",
        "capacityProvider": "FARGATE",
        "cpuArchitecture": "X86_64",
    }
    assert got.role is None and got.image is None and got.labels == ("self-hosted", "sengu")


def test_issue_pool_policy() -> None:
    assert reject(["cpu-8"], pool=ISSUE_POOL) == (
        "label 'cpu-8': the policy for my-org/app allows at most 4 vCPU (policy entry 'my-org/*')"
    )
    assert reject(["mem-32g"], pool=ISSUE_POOL) == (
        "label 'mem-32g': the policy for my-org/app allows at most 16 GiB of memory (policy entry 'my-org/*')"
    )
    assert reject(["role-deploy"], pool=ISSUE_POOL) == (
        "label 'role-deploy': the policy for my-org/app allows no roles (policy entry 'my-org/*')"
    )
    # my-org/infra: its own entry lifts roles; the broad entry's size limits still hold.
    infra = launch(["role-deploy", "spot"], "my-org/infra", ISSUE_POOL)
    assert infra.role == "deploy" and infra.role_arn == "arn:aws:iam::123456789012:role/ci-deploy"
    assert infra.capacity == "spot" and infra.detail["capacityProvider"] == "FARGATE_SPOT"
    assert "at most 4 vCPU" in reject(["role-deploy", "cpu-5"], "my-org/infra", ISSUE_POOL)
    assert reject([], "someone/else", ISSUE_POOL) == "repository someone/else is not served by this pool (owner my-org)"


def test_not_ours() -> None:
    assert resolve_labels(POOL, ["self-hosted", "linux", "x64"], "my-org/app") is None
    assert resolve_labels(POOL, ["sengu", "cpu-2"], "my-org/app") is None
    assert resolve_labels(POOL, [], None) is None
    assert is_ours(["Self-Hosted", "SENGU"]) and not is_ours(["self-hosted"])


# --------------------------------------------------------------------------------------------------
# Labels


def test_labels_are_case_insensitive_and_keep_their_spelling() -> None:
    got = launch(["Linux", "ARM64", "K8s", "CPU-2", "Mem-4G", "sengu"])
    assert (got.backend, got.arch, got.vcpu, got.memory_gib) == ("k8s", "arm64", 2.0, 4.0)
    assert got.labels == ("self-hosted", "sengu", "Linux", "ARM64", "K8s", "CPU-2", "Mem-4G")


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (
            ["gpu"],
            "unknown label 'gpu': sengu understands a backend (box, fargate, codebuild, k8s, k8s-nospot, small-cb), "
            "x64/arm64, cpu-N, mem-Ng, spot/on-demand and role-NAME",
        ),
        (["ubuntu-latest"], "unknown label 'ubuntu-latest' (a GitHub-hosted runner name; drop it from runs-on)"),
        (["windows"], "label 'windows': sengu runners are Linux"),
        (["fargate", "codebuild"], "labels 'fargate' and 'codebuild' conflict: give one backend"),
        (["x64", "arm64"], "labels 'x64' and 'arm64' conflict: give one of x64 or arm64"),
        (["spot", "on-demand"], "labels 'spot' and 'on-demand' conflict: give one of spot or on-demand"),
        (["cpu-2", "cpu-4"], "labels 'cpu-2' and 'cpu-4' conflict: give one cpu-N"),
        (["mem-2g", "mem-4g"], "labels 'mem-2g' and 'mem-4g' conflict: give one mem-Ng"),
        (["cpu-0"], "label 'cpu-0': cpu-N takes a number of vCPUs above 0, e.g. cpu-2 or cpu-0.5"),
        (["cpu-two"], "label 'cpu-two': cpu-N takes a number"),
        (["cpu-1e3"], "label 'cpu-1e3': cpu-N takes a number"),
        (["mem-8"], "label 'mem-8': mem-Ng takes GiB above 0 with a g, e.g. mem-8g or mem-0.5g"),
        (["mem-512m"], "label 'mem-512m': mem-Ng takes GiB"),
        (["role-admin"], "label 'role-admin': no role 'admin' in the pool (roles: deploy, read)"),
        (["gpu", "cpu-x"], "unknown label 'gpu'"),
    ],
)
def test_label_rejections(labels: list[str], reason: str) -> None:
    assert reject(labels).startswith(reason)


def test_every_label_problem_in_one_reason() -> None:
    reason = reject(["gpu", "cpu-x", "x64", "arm64"])
    assert "unknown label 'gpu'" in reason and "label 'cpu-x'" in reason and "'x64' and 'arm64' conflict" in reason
    assert "\n" not in reason


def test_repeated_labels_are_one_ask() -> None:
    got = launch(["cpu-2", "CPU-2.0", "spot", "spot"])
    assert got.vcpu == 2.0 and got.capacity == "spot"
    assert got.labels == ("self-hosted", "sengu", "cpu-2", "CPU-2.0", "spot")


# --------------------------------------------------------------------------------------------------
# Backends and rounding


@pytest.mark.parametrize(
    ("labels", "vcpu", "memory", "cpu_units", "memory_mib"),
    [
        (["cpu-0.25"], 0.25, 0.5, "256", "512"),
        (["cpu-0.25", "mem-3g"], 0.5, 3, "512", "3072"),
        (["cpu-0.3"], 0.5, 1, "512", "1024"),
        (["mem-0.5g"], 2, 4, "2048", "4096"),
        (["cpu-1", "mem-8g"], 1, 8, "1024", "8192"),
        (["cpu-1", "mem-9g"], 2, 9, "2048", "9216"),
        (["cpu-4", "mem-16.5g"], 4, 17, "4096", "17408"),
        (["cpu-8", "mem-17g"], 8, 20, "8192", "20480"),
        (["cpu-9"], 16, 32, "16384", "32768"),
        (["cpu-16", "mem-113g"], 16, 120, "16384", "122880"),
        (["mem-31g"], 8, 32, "8192", "32768"),
    ],
)
def test_fargate_rounds_up_to_a_valid_pair(
    labels: list[str], vcpu: float, memory: float, cpu_units: str, memory_mib: str
) -> None:
    got = launch(labels, repo=None)
    assert (got.vcpu, got.memory_gib) == (vcpu, memory)
    assert (got.detail["fargateCpu"], got.detail["fargateMemory"]) == (cpu_units, memory_mib)


def test_fargate_limits_and_arm64() -> None:
    assert reject(["cpu-17"], None) == "label 'cpu-17': backend fargate (Fargate, x64) offers at most 16 vCPU"
    assert reject(["mem-121g"], None) == "label 'mem-121g': backend fargate (Fargate, x64) offers at most 120 GiB"
    arm = launch(["arm64", "cpu-1"])
    assert arm.arch == "arm64" and arm.detail["cpuArchitecture"] == "ARM64"
    assert arm.detail["taskDefinition"] == "runner-arm" and arm.detail["capacityProvider"] == "FARGATE"
    assert reject(["arm64", "spot"]) == (
        "label 'spot': Fargate Spot runs x64 only (backend fargate): drop spot or arm64"
    )
    assert reject(["arm64"], pool=ISSUE_POOL) == "label 'arm64': backend fargate has no arm64TaskDefinition"


@pytest.mark.parametrize(
    ("labels", "compute_type", "environment", "vcpu", "memory", "image"),
    [
        ([], "BUILD_GENERAL1_SMALL", "LINUX_CONTAINER", 2, 3, "img-x64"),
        (["mem-4g"], "BUILD_GENERAL1_MEDIUM", "LINUX_CONTAINER", 4, 7, "img-x64"),
        (["cpu-0.5"], "BUILD_GENERAL1_SMALL", "LINUX_CONTAINER", 2, 3, "img-x64"),
        (["cpu-5"], "BUILD_GENERAL1_LARGE", "LINUX_CONTAINER", 8, 15, "img-x64"),
        (["mem-16g"], "BUILD_GENERAL1_XLARGE", "LINUX_CONTAINER", 36, 70, "img-x64"),
        (["cpu-40"], "BUILD_GENERAL1_2XLARGE", "LINUX_CONTAINER", 72, 145, "img-x64"),
        (["arm64"], "BUILD_GENERAL1_SMALL", "ARM_CONTAINER", 2, 4, "img-arm"),
        (["arm64", "mem-16g"], "BUILD_GENERAL1_LARGE", "ARM_CONTAINER", 8, 16, "img-arm"),
        (["arm64", "cpu-33"], "BUILD_GENERAL1_2XLARGE", "ARM_CONTAINER", 48, 96, "img-arm"),
    ],
)
def test_codebuild_compute_types(
    labels: list[str], compute_type: str, environment: str, vcpu: float, memory: float, image: str
) -> None:
    got = launch(["codebuild", *labels], repo=None)
    assert got.detail == {"computeType": compute_type, "environmentType": environment}
    assert (got.vcpu, got.memory_gib, got.image, got.capacity) == (vcpu, memory, image, "on-demand")


def test_codebuild_limits() -> None:
    assert reject(["codebuild", "spot"]) == "label 'spot': CodeBuild has no spot capacity (backend codebuild)"
    assert reject(["codebuild", "arm64", "cpu-64"], None) == (
        "label 'cpu-64': backend codebuild (CodeBuild, arm64) offers at most 48 vCPU"
    )
    assert (
        reject(["small-cb", "cpu-5"], None) == "label 'cpu-5': backend small-cb (CodeBuild, x64) offers at most 4 vCPU"
    )
    assert reject(["small-cb", "arm64"], None) == (
        "label 'arm64': backend small-cb has no arm64Image for ARM_CONTAINER builds"
    )


def test_kubernetes_takes_sizes_as_asked() -> None:
    got = launch(["k8s", "cpu-0.1", "mem-0.3g"], None)
    assert (got.vcpu, got.memory_gib, got.image) == (0.1, 0.30078125, "runner:x64")
    assert got.detail == {
        "cpu": "100m",
        "memory": "308Mi",
        "nodeArch": "amd64",
        "capacityType": "on-demand",
        "serviceAccount": "plain",
    }
    big = launch(["k8s", "cpu-48", "arm64", "spot"], None)
    assert (big.vcpu, big.memory_gib, big.image, big.capacity) == (48, 96, "runner:arm", "spot")
    assert big.detail["cpu"] == "48" and big.detail["memory"] == "96Gi" and big.detail["nodeArch"] == "arm64"
    assert reject(["k8s", "cpu-65"], None) == "label 'cpu-65': backend k8s offers at most 64 vCPU"
    role = launch(["k8s", "role-deploy"], "my-org/infra")
    assert role.detail["serviceAccount"] == "deployer" and role.role_arn and role.role == "deploy"
    read = launch(["k8s-nospot", "role-read"], "my-org/readers")
    assert read.detail["serviceAccount"] == "sengu-runner-read" and "capacityType" not in read.detail
    assert reject(["k8s-nospot", "spot"]) == (
        "label 'spot': backend k8s-nospot has no spot nodes (kubernetes.spotNodes is false)"
    )


def test_local_backend() -> None:
    got = launch(["box"], None)
    assert (got.kind, got.vcpu, got.memory_gib, got.capacity, got.detail, got.image) == (
        "local",
        2,
        4,
        "on-demand",
        {},
        None,
    )
    assert reject(["box", "arm64"]) == "label 'arm64': backend box runs on this machine, which is x64"
    assert reject(["box", "spot"]) == "label 'spot': backend box runs on this machine and has no spot capacity"
    assert reject(["box", "role-deploy"], "my-org/infra") == (
        "label 'role-deploy': backend box is a process on this machine and takes no IAM role"
    )
    assert reject(["box", "mem-17g"], None) == "label 'mem-17g': backend box offers at most 16 GiB"


# --------------------------------------------------------------------------------------------------
# Defaults and the policy


def test_defaults() -> None:
    pool = pool_from(
        POOL_YAML.replace(
            "  defaultBackend: fargate\n",
            "  defaultBackend: fargate\n  defaults: {cpu: 1, memoryGiB: 6, capacity: spot}\n",
        )
    )
    got = launch([], None, pool)
    assert (got.vcpu, got.memory_gib, got.capacity) == (1, 6, "spot")
    # A default bends where the backend cannot: arm64 Fargate and CodeBuild have no spot.
    assert launch(["arm64"], None, pool).capacity == "on-demand"
    cb = launch(["codebuild"], None, pool)
    assert cb.capacity == "on-demand" and cb.detail["computeType"] == "BUILD_GENERAL1_MEDIUM"  # 6 GiB > SMALL's 3
    assert launch(["k8s", "cpu-3"], None, pool).memory_gib == 6


def test_policy_is_field_by_field_most_specific() -> None:
    big = effective_policy(POOL, "my-org/big-data")
    assert big.max_cpu is not None and (big.max_cpu.value, big.max_cpu.pattern) == (16, "my-org/big-*")
    assert big.roles is not None and (big.roles.value, big.roles.pattern) == ([], "my-org/*")
    assert launch(["cpu-16"], "my-org/big-data").vcpu == 16
    assert "at most 16 vCPU (policy entry 'my-org/big-*')" in reject(["cpu-17", "k8s"], "my-org/big-data")
    # An exact name beats a pattern; between two entries naming the same repository, the later wins.
    readers = effective_policy(POOL, "My-Org/Readers")
    assert readers.roles is not None and readers.roles.value == ["deploy", "read"]
    # An entry's most specific matching pattern counts: 'my-org/aws-only' is exact.
    aws = effective_policy(POOL, "my-org/aws-only")
    assert aws.backends is not None and aws.backends.pattern == "my-org/aws-only"
    # Outside every entry: no limits, and no roles.
    assert effective_policy(POOL, "other/x") == Policy("other/x")


def test_policy_backends_and_capacity() -> None:
    assert reject(["k8s"], "my-org/aws-lambda") == (
        "label 'k8s': the policy for my-org/aws-lambda allows backends fargate, codebuild (policy entry 'my-org/aws-*')"
    )
    assert launch(["codebuild"], "my-org/aws-lambda").backend == "codebuild"
    # spot only: the default capacity bends to spot; an explicit on-demand is refused; CodeBuild cannot.
    assert launch([], "my-org/spotty").capacity == "spot"
    assert reject(["on-demand"], "my-org/spotty") == (
        "label 'on-demand': the policy for my-org/spotty allows capacity spot (policy entry 'my-org/spotty')"
    )
    assert reject(["codebuild"], "my-org/spotty") == (
        "backend codebuild offers on-demand; the policy for my-org/spotty allows capacity spot "
        "(policy entry 'my-org/spotty')"
    )


def test_capacity_override_after_a_spot_interruption() -> None:
    relaunch = resolve_labels(POOL, [*OURS, "spot"], "my-org/app", capacity="on-demand")
    assert isinstance(relaunch, Launch) and relaunch.labels == ("self-hosted", "sengu", "spot")
    assert replace(relaunch, labels=(*OURS, "on-demand")) == launch(["on-demand"])
    assert relaunch.detail["capacityProvider"] == "FARGATE"
    refused = resolve_labels(POOL, [*OURS, "spot"], "my-org/spotty", capacity="on-demand")
    assert refused == Rejection(
        "capacity on-demand: the policy for my-org/spotty allows capacity spot (policy entry 'my-org/spotty')"
    )


def test_policy_sees_sizes_after_rounding() -> None:
    # 3 vCPU is within the policy's 4, but CodeBuild's next size is MEDIUM (4 vCPU) — fine; 4.5 needs LARGE (8).
    assert launch(["codebuild", "cpu-3"]).detail["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert reject(["codebuild", "cpu-4.5"]) == (
        "label 'cpu-4.5': the policy for my-org/app allows at most 4 vCPU (policy entry 'my-org/*')"
    )
    assert reject(["codebuild", "mem-9g"]) == (
        "label 'mem-9g': resolves to 8 vCPU and 15 GiB on backend codebuild (BUILD_GENERAL1_LARGE); "
        "the policy for my-org/app allows at most 4 vCPU (policy entry 'my-org/*')"
    )
    # 16 GiB is allowed, but 4 vCPU on Fargate needs at least 8 GiB: fine; 8 vCPU is over on cpu.
    assert launch(["cpu-4"]).memory_gib == 8
    assert launch(["mem-16g", "cpu-0.25"]).vcpu == 2


def test_roles_without_repository_skip_the_policy() -> None:
    assert launch(["role-deploy"], None).role == "deploy"
    assert reject(["role-deploy"], "other-org/x").startswith("repository other-org/x is not served")


def test_no_entry_allows_roles() -> None:
    pool = pool_from(POOL_YAML.split("  policy:\n")[0])
    assert (
        reject(["role-deploy"], "my-org/app", pool)
        == "label 'role-deploy': no policy entry for my-org/app allows roles"
    )
    assert launch(["cpu-16"], "my-org/app", pool).vcpu == 16  # no entry: no size limit


# --------------------------------------------------------------------------------------------------
# Properties

_WORDS = [
    "self-hosted",
    "sengu",
    "linux",
    "x64",
    "arm64",
    "spot",
    "on-demand",
    "box",
    "fargate",
    "codebuild",
    "k8s",
    "k8s-nospot",
    "small-cb",
    "role-deploy",
    "role-read",
    "role-x",
    "windows",
    "gpu",
    "cpu-",
    "mem-",
    "role-",
]
_number = st.one_of(
    st.decimals(min_value=0, max_value=200, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.integers(-5, 10**9).map(str),
    st.text("0123456789.eE-+", max_size=8),
)
_label = st.one_of(
    st.sampled_from(_WORDS),
    _number.map(lambda n: f"cpu-{n}"),
    _number.map(lambda n: f"mem-{n}g"),
    _number.map(lambda n: f"mem-{n}"),
    st.text(max_size=12),
).flatmap(lambda s: st.sampled_from([s, s.upper(), s.title()]))
_repos = st.sampled_from(
    [
        None,
        "my-org/app",
        "my-org/infra",
        "my-org/big-x",
        "my-org/spotty",
        "my-org/readers",
        "my-org/aws-x",
        "other/x",
        "MY-ORG/APP",
    ]
)
_capacity = st.sampled_from([None, "spot", "on-demand"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_label, max_size=8), st.booleans(), _repos, _capacity)
def test_any_labels_resolve_without_raising(
    labels: list[str], ours: bool, repo: str | None, capacity: str | None
) -> None:
    if ours:
        labels = [*OURS, *labels]
    result = resolve_labels(POOL, labels, repo, capacity=capacity)  # type: ignore[arg-type]
    assert result is None or isinstance(result, Launch | Rejection)
    if result is None:
        assert not is_ours(labels)
    elif isinstance(result, Rejection):
        assert result.reason and "\n" not in result.reason
    else:
        assert POOL.backend(result.backend) is not None and result.vcpu > 0 and result.memory_gib > 0


def fargate_valid(cpu: Decimal, mem: Decimal) -> bool:
    """The documented Fargate task cpu/memory table, written independently of the code under test."""
    whole = mem == mem.to_integral_value()
    if cpu == Decimal("0.25"):
        return mem in (Decimal("0.5"), 1, 2)
    if cpu == Decimal("0.5"):
        return whole and 1 <= mem <= 4
    if cpu == 1:
        return whole and 2 <= mem <= 8
    if cpu == 2:
        return whole and 4 <= mem <= 16
    if cpu == 4:
        return whole and 8 <= mem <= 30
    if cpu == 8:
        return whole and 16 <= mem <= 60 and mem % 4 == 0
    if cpu == 16:
        return whole and 32 <= mem <= 120 and mem % 8 == 0
    return False


CODEBUILD = {
    "x64": {
        "BUILD_GENERAL1_SMALL": (2, 3),
        "BUILD_GENERAL1_MEDIUM": (4, 7),
        "BUILD_GENERAL1_LARGE": (8, 15),
        "BUILD_GENERAL1_XLARGE": (36, 70),
        "BUILD_GENERAL1_2XLARGE": (72, 145),
    },
    "arm64": {
        "BUILD_GENERAL1_SMALL": (2, 4),
        "BUILD_GENERAL1_MEDIUM": (4, 8),
        "BUILD_GENERAL1_LARGE": (8, 16),
        "BUILD_GENERAL1_XLARGE": (32, 64),
        "BUILD_GENERAL1_2XLARGE": (48, 96),
    },
}

_size = st.one_of(st.none(), st.decimals(min_value="0.001", max_value=160, places=3))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["fargate", "codebuild", "k8s", "box"]), st.sampled_from(["x64", "arm64"]), _size, _size)
def test_sizes_are_at_least_asked_and_valid_for_the_backend(
    backend: str, arch: str, cpu: Decimal | None, mem: Decimal | None
) -> None:
    labels = [backend, arch]
    if cpu is not None:
        labels.append(f"cpu-{cpu}")
    if mem is not None:
        labels.append(f"mem-{mem}g")
    result = resolve_labels(POOL, OURS + labels, None)
    if backend == "box" and arch == "arm64":
        assert isinstance(result, Rejection)
        return
    asked_cpu = cpu if cpu is not None else Decimal(2)
    if isinstance(result, Rejection):
        assert "offers at most" in result.reason, result
        if backend == "fargate":
            assert asked_cpu > 16 or (mem or 0) > 120
        elif backend == "codebuild":
            top = max(CODEBUILD[arch].values())
            assert asked_cpu > top[0] or (mem or 0) > top[1]
        return
    assert isinstance(result, Launch)
    got_cpu, got_mem = Decimal(str(result.vcpu)), Decimal(str(result.memory_gib))
    assert got_cpu >= asked_cpu and (mem is None or got_mem >= mem)
    if backend == "fargate":
        assert fargate_valid(got_cpu, got_mem)
        assert result.detail["fargateCpu"] == str(int(got_cpu * 1024))
        assert result.detail["fargateMemory"] == str(int(got_mem * 1024))
        # The smallest: no valid pair with less cpu (or as much cpu and less memory) would do.
        memories = [Decimal("0.5"), *(Decimal(g) for g in range(1, 121))]
        for c in (Decimal("0.25"), Decimal("0.5"), Decimal(1), Decimal(2), Decimal(4), Decimal(8), Decimal(16)):
            for m in memories:
                smaller = c < got_cpu or (c == got_cpu and m < got_mem)
                if smaller and c >= asked_cpu and (mem is None or m >= mem):
                    assert not fargate_valid(c, m), (c, m)
    elif backend == "codebuild":
        assert CODEBUILD[arch][result.detail["computeType"]] == (got_cpu, got_mem)
        smaller = [v for v in CODEBUILD[arch].values() if v[0] < got_cpu]
        assert all(v[0] < asked_cpu or (mem is not None and v[1] < mem) for v in smaller)
    else:
        assert got_cpu == asked_cpu  # as asked (labels have at most 3 decimals: whole millicores)
        assert got_mem - (mem if mem is not None else asked_cpu * 2) < Decimal(1) / 1024


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*_WORDS[2:], "cpu-2", "cpu-4", "mem-8g", "mem-2g"]), max_size=6), _repos, st.randoms())
def test_label_order_does_not_matter(labels: list[str], repo: str | None, rnd: random.Random) -> None:
    first = resolve_labels(POOL, OURS + labels, repo)
    shuffled = OURS + labels
    rnd.shuffle(shuffled)
    second = resolve_labels(POOL, shuffled, repo)
    if isinstance(first, Launch):
        assert isinstance(second, Launch) and replace(second, labels=first.labels) == first
    else:
        assert isinstance(second, Rejection) == isinstance(first, Rejection)
