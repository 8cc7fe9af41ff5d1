"""The Kubernetes backend: what it renders (valid against the official schemas, strictly), and the contract
against the API-server emulator over loopback HTTP — launch once, observe through the phases, spot
reclaims seen, terminate once, only the pool's live pods owned, refusals told from hiccups."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import kmock
import pytest

from sengu.core import kschema
from sengu.core.kube import Cluster, KubeError
from sengu.runners.backends import (
    JIT_CONFIG_ENV,
    POOL_TAG,
    RUNNER_TAG,
    SPOT_INTERRUPTION,
    Backend,
    BackendError,
    Handle,
    Observation,
)
from sengu.runners.backends.kubernetes import (
    CAPACITY_LABEL,
    IRSA_ANNOTATION,
    KubeBackend,
    PodSettings,
    backend_error,
    label_value,
    observation_of,
    pod_name,
    render_runner,
    secret_name,
)
from sengu.runners.labels import Launch
from tests.kube import fixtures
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import KubeTarget

# tests/runners has no conftest of its own: the fixtures come in by name.
kube = fixtures.kube
emulator = fixtures.emulator

ROOT = Path(__file__).resolve().parents[2]
JIT = "eyJydW5uZXIiOiJzZW5ndS0xIn0=" * 40  # the shape of an encoded_jit_config: base64, a few KB
DEPLOY = "arn:aws:iam::123456789012:role/ci-deploy"
IMAGE = "ghcr.io/actions/actions-runner:2.321.0"
ARM_IMAGE = "ghcr.io/example/runner-arm64:2.321.0"

LAUNCH = Launch(
    backend="k8s",
    kind="kubernetes",
    arch="x64",
    vcpu=2.0,
    memory_gib=4.0,
    capacity="on-demand",
    role=None,
    role_arn=None,
    image=None,
    labels=("self-hosted", "sengu", "k8s", "cpu-2", "mem-4g"),
)
SETTINGS = PodSettings(namespace="ci", image=IMAGE, arm64_image=ARM_IMAGE, spot_nodes=True)


def render(launch: Launch = LAUNCH, settings: PodSettings = SETTINGS, runner: str = "ci-123-1-1", **kw: Any) -> Any:
    return render_runner(settings, launch, runner_name=runner, jit_config=JIT, owner_tag="ci", backend="k8s", **kw)


def schema_errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in kschema.validate(obj, strict=True)]


# --- rendering -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arch", "capacity", "node_arch", "image"),
    [("x64", "on-demand", "amd64", IMAGE), ("x64", "spot", "amd64", IMAGE), ("arm64", "spot", "arm64", ARM_IMAGE)],
)
def test_the_pod_lands_on_the_asked_arch_and_capacity(arch: Any, capacity: Any, node_arch: str, image: str) -> None:
    objects = render(replace(LAUNCH, arch=arch, capacity=capacity))
    pod = objects.pod
    assert schema_errors(pod) == [] and schema_errors(objects.secret) == []
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["terminationGracePeriodSeconds"] > 0
    assert spec["nodeSelector"] == {
        "kubernetes.io/arch": node_arch,
        "kubernetes.io/os": "linux",
        CAPACITY_LABEL: capacity,
    }
    (container,) = spec["containers"]
    assert container["name"] == "runner" and container["image"] == image
    assert container["command"] == ["/home/runner/run.sh"] and "args" not in container


def test_the_jit_config_is_in_the_secret_only() -> None:
    objects = render()
    assert JIT not in json.dumps(objects.pod)
    (env,) = objects.pod["spec"]["containers"][0]["env"]
    ref = env["valueFrom"]["secretKeyRef"]
    assert (
        env["name"] == JIT_CONFIG_ENV and ref["name"] == secret_name("ci-123-1-1") == objects.secret["metadata"]["name"]
    )
    assert base64.b64decode(objects.secret["data"][ref["key"]]).decode() == JIT


@pytest.mark.parametrize(
    ("vcpu", "gib", "cpu", "memory"),
    [
        (2.0, 4.0, "2000m", "4096Mi"),
        (0.5, 1.5, "500m", "1536Mi"),
        (0.1, 0.25, "100m", "256Mi"),
        (1.25, 3.001, "1250m", "3074Mi"),
    ],
)
def test_requests_equal_limits_in_millicores_and_mebibytes(vcpu: float, gib: float, cpu: str, memory: str) -> None:
    resources = render(replace(LAUNCH, vcpu=vcpu, memory_gib=gib)).pod["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def test_ownership_is_labelled_on_the_pod_and_the_secret() -> None:
    objects = render()
    want = {
        "app.kubernetes.io/managed-by": "sengu",
        POOL_TAG: "ci",
        RUNNER_TAG: "ci-123-1-1",
        "sengu.dev/backend": "k8s",
    }
    assert objects.pod["metadata"]["labels"] == want == objects.secret["metadata"]["labels"]
    assert objects.pod["metadata"]["name"] == "ci-123-1-1" and objects.pod["metadata"]["namespace"] == "ci"
    assert objects.pod["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"


def test_a_role_runs_as_its_service_account_with_the_irsa_annotation() -> None:
    deploy = replace(LAUNCH, role="deploy", role_arn=DEPLOY)
    objects = render(deploy, role_arn=DEPLOY)
    account = objects.service_account
    assert account is not None and schema_errors(account) == [] and schema_errors(objects.pod) == []
    assert account["metadata"]["name"] == "sengu-runner-deploy"
    assert account["metadata"]["annotations"] == {IRSA_ANNOTATION: DEPLOY}
    assert account["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sengu"
    spec = objects.pod["spec"]
    assert spec["serviceAccountName"] == "sengu-runner-deploy" and spec["automountServiceAccountToken"] is True
    named = render(deploy, replace(SETTINGS, service_accounts={"deploy": "deployer"}), role_arn=DEPLOY)
    assert named.pod["spec"]["serviceAccountName"] == "deployer" == named.service_account["metadata"]["name"]


def test_without_a_role_the_pod_gets_no_token() -> None:
    plain = render()
    assert plain.service_account is None and "serviceAccountName" not in plain.pod["spec"]
    assert plain.pod["spec"]["automountServiceAccountToken"] is False
    chosen = render(settings=replace(SETTINGS, service_account="ci-runner"))
    assert chosen.pod["spec"]["serviceAccountName"] == "ci-runner" and chosen.service_account is None


def test_the_spec_node_selector_adds_to_placement_and_cannot_override_it() -> None:
    settings = replace(SETTINGS, node_selector={"pool": "ci", "kubernetes.io/arch": "s390x"}, spot_nodes=False)
    pod = render(settings=settings).pod
    assert pod["spec"]["nodeSelector"] == {"pool": "ci", "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}
    assert schema_errors(pod) == []


def test_what_cannot_be_placed_is_refused_before_the_cluster() -> None:
    with pytest.raises(ValueError, match="no spot nodes"):
        render(replace(LAUNCH, capacity="spot"), replace(SETTINGS, spot_nodes=False))
    with pytest.raises(ValueError, match="no IAM role ARN"):
        render(replace(LAUNCH, role="deploy"))


def test_names_too_long_for_labels_stay_valid_and_the_exact_name_is_kept() -> None:
    runner = ("a" * 52 + "-1234567890-1-1")[:64]  # what runner_name() makes of a long pool name: ends in '-'
    objects = render(runner=runner)
    assert schema_errors(objects.pod) == [] and schema_errors(objects.secret) == []
    assert objects.pod["metadata"]["annotations"][RUNNER_TAG] == runner
    assert len(objects.pod["metadata"]["labels"][RUNNER_TAG]) <= 63 and label_value(runner) != runner
    assert pod_name(runner) != runner and pod_name("ci-123-1-1") == "ci-123-1-1" == label_value("ci-123-1-1")


# --- observation (pure) ----------------------------------------------------------------------------------
def _pod(phase: str, status: dict[str, Any] | None = None, *, spot: bool = False) -> dict[str, Any]:
    selector = {CAPACITY_LABEL: "spot" if spot else "on-demand"}
    return {"metadata": {"name": "p"}, "spec": {"nodeSelector": selector}, "status": {"phase": phase, **(status or {})}}


def test_an_evicted_pod_is_a_spot_interruption_only_on_spot() -> None:
    evicted = {"reason": "Evicted", "message": "The node was low on resource: memory."}
    assert observation_of(_pod("Failed", evicted, spot=True)).reason == SPOT_INTERRUPTION
    seen = observation_of(_pod("Failed", evicted))
    assert seen.state == "stopped" and seen.reason == "Evicted: The node was low on resource: memory."
    # Karpenter drains a node given its spot interruption notice through the Eviction API.
    drained = {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]}
    assert observation_of(_pod("Running", drained, spot=True)) == Observation("running", SPOT_INTERRUPTION)
    preempted = {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]}
    assert observation_of(_pod("Running", preempted, spot=True)).reason is None
    assert observation_of(_pod("Unknown")).state == "running"
    assert observation_of(_pod("Pending")) == observation_of({"metadata": {"name": "p"}}) == Observation("starting")


# --- against the API server -----------------------------------------------------------------------------
@pytest.fixture
def cluster(kube: KubeTarget) -> Cluster:
    return Cluster.connect(kubeconfig=str(kube.kubeconfig))


def make(kube: KubeTarget, cluster: Cluster, **over: Any) -> KubeBackend:
    kwargs: dict[str, Any] = {
        "namespace": kube.namespace,
        "image": IMAGE,
        "arm64_image": ARM_IMAGE,
        "spot_nodes": True,
        "roles": {"deploy": DEPLOY},
        "cluster": cluster,
    }
    kwargs.update(over)
    return KubeBackend("k8s", **kwargs)


def launch(backend: KubeBackend, runner: str = "ci-123-1-1", owner: str = "ci", **over: Any) -> Any:
    return asyncio.run(backend.launch(replace(LAUNCH, **over), runner_name=runner, jit_config=JIT, owner_tag=owner))


def test_launch_creates_the_pod_and_a_secret_it_owns(kube: KubeTarget, cluster: Cluster) -> None:
    backend: Backend = make(kube, cluster)
    handle = launch(backend)  # type: ignore[arg-type]
    ns = kube.namespace
    assert (handle.backend, handle.kind, handle.id) == ("k8s", "kubernetes", "ci-123-1-1")
    assert handle.detail == {POOL_TAG: "ci", RUNNER_TAG: "ci-123-1-1", "namespace": ns}
    pod = cluster.get("v1", "Pod", "ci-123-1-1", ns)
    assert pod is not None and pod["metadata"]["labels"][POOL_TAG] == "ci"
    assert JIT not in json.dumps(pod)
    secret = cluster.request("GET", f"/api/v1/namespaces/{ns}/secrets/ci-123-1-1-jit")
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "ci-123-1-1", pod["metadata"]["uid"])
    assert base64.b64decode(secret["data"]["jitconfig"]).decode() == JIT
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sengu"


def test_a_role_applies_its_service_account_once(kube: KubeTarget, cluster: Cluster, emulator: KubeEmulator) -> None:
    backend = make(kube, cluster)
    emulator.reset_log()
    launch(backend, "ci-1-1-1", role="deploy", role_arn=DEPLOY)
    launch(backend, "ci-2-1-1", role="deploy", role_arn=DEPLOY)
    applied = [r for r in emulator.writes() if "serviceaccounts" in r.path]
    assert [(r.method, r.content_type) for r in applied] == [("PATCH", "application/apply-patch+yaml")]
    account = cluster.request("GET", f"/api/v1/namespaces/{kube.namespace}/serviceaccounts/sengu-runner-deploy")
    assert account["metadata"]["annotations"][IRSA_ANNOTATION] == DEPLOY
    pod = cluster.get("v1", "Pod", "ci-2-1-1", kube.namespace)
    assert pod is not None and pod["spec"]["serviceAccountName"] == "sengu-runner-deploy"
    again = make(kube, cluster)  # another process: applying again changes nothing and succeeds
    launch(again, "ci-3-1-1", role="deploy", role_arn=DEPLOY)


def test_a_role_arn_managed_elsewhere_is_not_taken_over(kube: KubeTarget, cluster: Cluster) -> None:
    other = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "sengu-runner-deploy", "namespace": kube.namespace, "annotations": {IRSA_ANNOTATION: "x"}},
    }
    path = f"/api/v1/namespaces/{kube.namespace}/serviceaccounts/sengu-runner-deploy"
    query = {"fieldManager": "terraform"}
    cluster.request("PATCH", path, body=other, query=query, content_type="application/apply-patch+yaml")
    with pytest.raises(BackendError, match="another manager") as refused:
        launch(make(kube, cluster), role="deploy", role_arn=DEPLOY)
    assert refused.value.retryable is False
    assert cluster.get("v1", "Pod", "ci-123-1-1", kube.namespace) is None


def test_launching_the_same_runner_twice_is_one_pod(kube: KubeTarget, cluster: Cluster) -> None:
    backend = make(kube, cluster)
    first = launch(backend)
    assert launch(make(kube, cluster)) == first
    pods = cluster.list_objects("v1", "Pod", kube.namespace)
    assert [p["metadata"]["name"] for p in pods] == ["ci-123-1-1"]
    # An earlier launch that stopped between the Pod and its Secret is completed by the next one.
    cluster.request("DELETE", f"/api/v1/namespaces/{kube.namespace}/secrets/ci-123-1-1-jit")
    assert launch(backend) == first
    secret = cluster.request("GET", f"/api/v1/namespaces/{kube.namespace}/secrets/ci-123-1-1-jit")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pods[0]["metadata"]["uid"]


def test_a_pod_of_the_same_name_that_is_not_this_runners_is_refused(kube: KubeTarget, cluster: Cluster) -> None:
    stranger = render().pod
    stranger["metadata"]["namespace"] = kube.namespace
    stranger["metadata"]["annotations"] = {}
    cluster.create(stranger)
    with pytest.raises(BackendError, match="not runner 'ci-123-1-1'") as refused:
        launch(make(kube, cluster))
    assert refused.value.retryable is False


def test_observe_follows_the_pod_through_its_phases(kube: KubeTarget, cluster: Cluster, emulator: KubeEmulator) -> None:
    backend = make(kube, cluster)
    ns = kube.namespace
    ok, failing = launch(backend, "ci-1-1-1"), launch(backend, "ci-2-1-1")

    def seen(handle: Any) -> Any:
        return asyncio.run(backend.observe(handle))

    assert seen(ok).state == "starting"
    emulator.set_pod_waiting(ns, "ci-1-1-1", "CreateContainerConfigError")
    assert seen(ok).state == "starting"
    emulator.set_pod_running(ns, "ci-1-1-1")
    assert (seen(ok).state, seen(ok).reason) == ("running", None)
    emulator.set_pod_terminated(ns, "ci-1-1-1", exit_code=0)
    assert (seen(ok).state, seen(ok).reason, seen(ok).exit_code) == ("stopped", "Completed", 0)
    emulator.set_pod_running(ns, "ci-2-1-1")
    emulator.set_pod_oom_killed(ns, "ci-2-1-1")
    assert (seen(failing).state, seen(failing).reason, seen(failing).exit_code) == ("stopped", "OOMKilled", 137)
    cluster.delete("v1", "Pod", "ci-1-1-1", ns)
    assert seen(ok).state == "gone"


def test_a_reclaimed_spot_node_is_a_spot_interruption(
    kube: KubeTarget, cluster: Cluster, emulator: KubeEmulator
) -> None:
    backend = make(kube, cluster)
    ns = kube.namespace
    spot = launch(backend, "ci-1-1-1", capacity="spot")
    on_demand = launch(backend, "ci-2-1-1")
    for name in ("ci-1-1-1", "ci-2-1-1"):
        emulator.set_pod_running(ns, name)
        emulator.set_pod_disrupted(ns, name, "TerminationByKubelet")
    interrupted = asyncio.run(backend.observe(spot))
    assert (interrupted.state, interrupted.reason, interrupted.exit_code) == ("stopped", SPOT_INTERRUPTION, 143)
    other = asyncio.run(backend.observe(on_demand))
    assert other.state == "stopped" and other.reason is not None and other.reason.startswith("TerminationByKubelet")


def test_terminate_deletes_the_pod_and_its_secret_once(kube: KubeTarget, cluster: Cluster) -> None:
    backend = make(kube, cluster)
    handle = launch(backend)

    async def twice() -> list[bool]:
        return list(await asyncio.gather(backend.terminate(handle, "cancelled"), backend.terminate(handle, "again")))

    assert sorted(asyncio.run(twice())) == [False, True]
    assert asyncio.run(make(kube, cluster).terminate(handle, "after a restart")) is False
    secret = f"/api/v1/namespaces/{kube.namespace}/secrets/ci-123-1-1-jit"
    with pytest.raises(KubeError) as missing:
        cluster.request("GET", secret)
    assert missing.value.status == 404
    if kube.emulated:  # a real cluster keeps the pod for its grace period
        assert asyncio.run(backend.observe(handle)).state == "gone"


def test_list_owned_finds_the_pools_live_pods(kube: KubeTarget, cluster: Cluster, emulator: KubeEmulator) -> None:
    backend = make(kube, cluster)
    for runner in ("ci-1-1-1", "ci-2-1-1", "ci-3-1-1"):
        launch(backend, runner)
    launch(backend, "other-1-1-1", owner="other")
    emulator.set_pod_running(kube.namespace, "ci-1-1-1")
    emulator.set_pod_terminated(kube.namespace, "ci-3-1-1", exit_code=1)
    owned = asyncio.run(backend.list_owned("ci"))
    assert sorted((h.id, h.detail[RUNNER_TAG], h.detail[POOL_TAG], h.backend) for h in owned) == [
        ("ci-1-1-1", "ci-1-1-1", "ci", "k8s"),
        ("ci-2-1-1", "ci-2-1-1", "ci", "k8s"),
    ]
    assert [h.id for h in asyncio.run(backend.list_owned("other"))] == ["other-1-1-1"]
    assert asyncio.run(backend.list_owned("nobody")) == []


def test_observe_many_lists_each_pools_pods_once(kube: KubeTarget, cluster: Cluster, emulator: KubeEmulator) -> None:
    backend = make(kube, cluster)
    ns = kube.namespace
    ci = [launch(backend, f"ci-{n}-1-1") for n in range(1, 5)]
    other = [launch(backend, f"other-{n}-1-1", owner="other") for n in (1, 2)]
    lone = launch(backend, "lone-1-1-1", owner="lone")
    emulator.set_pod_running(ns, "ci-2-1-1")
    emulator.set_pod_running(ns, "ci-3-1-1")
    emulator.set_pod_terminated(ns, "ci-3-1-1", exit_code=3)
    emulator.set_pod_running(ns, "other-2-1-1")
    cluster.delete("v1", "Pod", "ci-4-1-1", ns)
    # A pod named like a runner of the pool, not carrying its label: made by someone else, not ours.
    stranger = render(runner="ci-9-1-1").pod
    stranger["metadata"]["namespace"] = ns
    stranger["metadata"]["labels"] = {}
    cluster.create(stranger)
    ghost = Handle("k8s", "kubernetes", "ci-9-1-1", {POOL_TAG: "ci", RUNNER_TAG: "ci-9-1-1", "namespace": ns})

    emulator.reset_log()
    seen = asyncio.run(backend.observe_many([*ci, ghost, *other, lone]))
    assert {name: (o.state, o.exit_code) for name, o in seen.items()} == {
        "ci-1-1-1": ("starting", None),
        "ci-2-1-1": ("running", None),
        "ci-3-1-1": ("stopped", 3),
        "ci-4-1-1": ("gone", None),
        "ci-9-1-1": ("gone", None),
        "other-1-1-1": ("starting", None),
        "other-2-1-1": ("running", None),
        "lone-1-1-1": ("starting", None),
    }
    # One list per pool with more than one runner; the lone runner's pod is read by name.
    asked = sorted((r.method, r.path, r.query.get("labelSelector", "")) for r in emulator.request_log)
    assert asked == [
        ("GET", f"/api/v1/namespaces/{ns}/pods", f"{POOL_TAG}=ci"),
        ("GET", f"/api/v1/namespaces/{ns}/pods", f"{POOL_TAG}=other"),
        ("GET", f"/api/v1/namespaces/{ns}/pods/lone-1-1-1", ""),
    ]
    # The stranger is gone read by name too, and observe agrees with observe_many.
    assert asyncio.run(backend.observe(ghost)) == Observation("gone")
    assert asyncio.run(backend.observe(ci[2])) == seen["ci-3-1-1"]
    assert asyncio.run(backend.observe_many([])) == {}


# --- errors ---------------------------------------------------------------------------------------------
def test_a_missing_namespace_is_a_configuration_error(kube: KubeTarget, cluster: Cluster) -> None:
    with pytest.raises(BackendError) as refused:
        launch(make(kube, cluster, namespace="nowhere"))
    assert refused.value.retryable is False and "namespace 'nowhere' does not exist" in str(refused.value)
    assert "nowhere/ci-123-1-1" in str(refused.value)


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (422, False), (429, True), (503, True)])
def test_refusals_and_hiccups_are_told_apart(
    kube: KubeTarget,
    cluster: Cluster,
    emulator: KubeEmulator,
    status: int,
    retryable: bool,
) -> None:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status, "message": "injected"}
    emulator[kmock.method.POST, kmock.resource("", "v1", "pods")] << status << body
    with pytest.raises(BackendError) as failed:
        launch(make(kube, cluster))
    assert failed.value.retryable is retryable and f"{kube.namespace}/ci-123-1-1" in str(failed.value)


def test_a_secret_that_cannot_be_created_takes_its_pod_away(
    kube: KubeTarget,
    cluster: Cluster,
    emulator: KubeEmulator,
) -> None:
    emulator[kmock.method.POST, kmock.resource("", "v1", "secrets")] << 500 << {"message": f"boom {JIT}"}
    with pytest.raises(BackendError) as failed:
        launch(make(kube, cluster))
    assert failed.value.retryable is True and JIT not in str(failed.value) and "***" in str(failed.value)
    assert cluster.get("v1", "Pod", "ci-123-1-1", kube.namespace) is None


def test_an_unreachable_cluster_is_worth_retrying_and_connects_lazily(tmp_path: Path) -> None:
    calls: list[int] = []

    def connect() -> Cluster:
        calls.append(1)
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{_closed_port()}"}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        cluster = Cluster.connect(kubeconfig=str(kubeconfig))
        cluster.timeout = 5
        return cluster

    backend = KubeBackend("k8s", namespace="ci", image=IMAGE, cluster=connect)
    assert calls == []
    with pytest.raises(BackendError) as failed:
        asyncio.run(backend.list_owned("ci"))
    assert failed.value.retryable is True and calls == [1]
    with pytest.raises(BackendError):
        asyncio.run(backend.observe(_handle("ci-1-1-1")))
    assert calls == [1]


def test_a_cluster_that_cannot_be_configured_is_a_configuration_error() -> None:
    def connect() -> Cluster:
        from sengu.core.errors import UserError

        raise UserError("no Kubernetes cluster configured")

    with pytest.raises(BackendError, match="no Kubernetes cluster configured") as failed:
        asyncio.run(KubeBackend("k8s", namespace="ci", image=IMAGE, cluster=connect).list_owned("ci"))
    assert failed.value.retryable is False


@pytest.mark.parametrize(
    ("status", "body", "retryable", "says"),
    [
        (0, {}, True, "cannot reach"),
        (401, {"message": "Unauthorized"}, False, "credentials"),
        (403, {"message": 'pods is forbidden: User "x"', "reason": "Forbidden"}, False, "RBAC"),
        (404, {"message": 'namespaces "ci" not found', "details": {"kind": "namespaces"}}, False, "does not exist"),
        (409, {"message": "conflict"}, True, "409"),
        (422, {"message": "Pod is invalid"}, False, "invalid"),
        (429, {"message": "slow down"}, True, "429"),
        (500, {"message": "etcd"}, True, "500"),
    ],
)
def test_api_errors_map_to_retryable_or_not(status: int, body: dict[str, Any], retryable: bool, says: str) -> None:
    exc = KubeError(f"POST /api/v1/namespaces/ci/pods: cannot reach {status}", status, body)
    error = backend_error("k8s", exc, "creating Pod ci/p", namespace="ci")
    assert error.retryable is retryable and says in str(error) and "creating Pod ci/p" in str(error)


def test_importing_the_backend_imports_no_kubernetes_client() -> None:
    code = "import sys, sengu.runners.backends.kubernetes; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _handle(name: str) -> Handle:
    return Handle("k8s", "kubernetes", name, {"namespace": "ci"})
