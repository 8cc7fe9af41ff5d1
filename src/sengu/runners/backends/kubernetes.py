"""Runners as Pods: one Pod per runner, on the arch, size, capacity type and IAM role the job asks for.

`render_runner` is pure (launch → Pod, Secret, ServiceAccount); `KubeBackend` creates, reads and deletes
them through `sengu.core.kube.Cluster`, a synchronous client, from worker threads (`asyncio.to_thread`).

Decisions:

- **The JIT config lives in a Secret**, `<pod>-jit`, read by the runner container as the variable
  `ACTIONS_RUNNER_INPUT_JITCONFIG` (the official runner's `--jitconfig`) through `secretKeyRef`, so it never
  appears in the Pod spec, which anyone allowed to list pods can read. The Secret is owned by the Pod
  (ownerReferences), so the garbage collector removes it with the Pod; `terminate` deletes it as well,
  so the credential goes at once.
- **Pod first, then its Secret.** The Secret's owner reference needs the Pod's uid, which exists only once
  the Pod does, so the Secret is created fully formed (owned) in one write. The other order leaves a window
  in which a crash orphans a Secret that nothing lists, owns or deletes — a live credential left behind.
  This order's window leaves a Pod without its Secret: its container waits in CreateContainerConfigError
  (the kubelet retries; in practice the Secret exists long before the Pod reaches a node), the Pod
  carries the pool label so `list_owned` finds it, and deleting it takes everything. When the Secret
  cannot be created the Pod is deleted again.
- **Idempotent launch**: the Pod is named for the runner, so a second launch of the same runner gets
  409 AlreadyExists; when the existing Pod is this runner's (annotation `sengu.dev/runner`) the launch
  succeeds and completes the Secret if the first attempt stopped before it.
- **Placement**: nodeSelector `kubernetes.io/arch` and `kubernetes.io/os`, plus `karpenter.sh/capacity-type`
  (spot/on-demand) when the cluster has spot nodes (`spotNodes`), plus the spec's own selector. Runner
  pods ask Karpenter and the cluster-autoscaler not to move them (`karpenter.sh/do-not-disrupt`,
  `safe-to-evict: false`): a consolidation would kill a job half-way. A spot reclaim still takes them,
  and `observe` reports it as a spot interruption.
- **Roles**: a job with `role-NAME` runs as the ServiceAccount of that role (`serviceAccounts[NAME]`,
  default `sengu-runner-NAME`), which this backend server-side applies with the IRSA annotation
  `eks.amazonaws.com/role-arn` before the first launch using it (once per process). It applies without
  `force`: if something else manages that annotation with a different ARN, the launch fails with a
  message instead of overwriting it. Only those pods get a service-account token mounted.

RBAC the runner service needs in the namespace: pods (create, get, list, delete), secrets (create, get,
delete), serviceaccounts (create and patch: server-side apply).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sengu.core.errors import UserError
from sengu.core.kube import Cluster, KubeError
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

T = TypeVar("T")

OFFICIAL_RUNNER_COMMAND: tuple[str, ...] = ("/home/runner/run.sh",)
CONTAINER = "runner"
SECRET_KEY = "jitconfig"
MANAGED_BY = "app.kubernetes.io/managed-by"
ROLE_TAG = "sengu.dev/role"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
ARCH_LABEL = "kubernetes.io/arch"
OS_LABEL = "kubernetes.io/os"
CAPACITY_LABEL = "karpenter.sh/capacity-type"
NODE_ARCH = {"x64": "amd64", "arm64": "arm64"}
# Long enough for the runner to tell GitHub its job was cancelled, short enough that a stop is a stop.
TERMINATION_GRACE_S = 30

_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$")
_FINISHED = frozenset({"Succeeded", "Failed"})
_PHASES: dict[str, ObservedState] = {
    "Pending": "starting",
    "Running": "running",
    "Succeeded": "stopped",
    "Failed": "stopped",
}
# What the kubelet and the node lifecycle write when a node goes away under its pods (status.reason),
# and the DisruptionTarget reasons of the same; PreemptionByScheduler is a priority decision, not a reclaim.
_NODE_GONE_REASONS = frozenset({"Evicted", "Terminated", "Shutdown", "NodeShutdown", "NodeLost"})
_NODE_GONE_DISRUPTIONS = frozenset(
    {"TerminationByKubelet", "DeletionByTaintManager", "DeletionByPodGC", "EvictionByEvictionAPI"}
)
_SPOT_WORDS = re.compile(r"spot|interrupt|terminat", re.IGNORECASE)


# --- rendering (pure) -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodSettings:
    """Where and how runner pods run: the `kubernetes` block of a backend in the pool spec."""

    namespace: str
    image: str
    arm64_image: str | None = None
    service_account: str | None = None
    service_accounts: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    spot_nodes: bool = False

    def account_for(self, role: str | None) -> str | None:
        if role:
            return self.service_accounts.get(role) or f"sengu-runner-{role}"
        return self.service_account


@dataclass(frozen=True)
class RunnerObjects:
    """One launch's objects. The Secret has no owner yet: it gets the Pod's uid once the Pod exists."""

    pod: dict[str, Any]
    secret: dict[str, Any]
    service_account: dict[str, Any] | None  # the role's, with its IRSA annotation; None without a role


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else a valid one derived from it (readable prefix + digest)."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:50].strip("-_.")
    return f"{clean}-{digest}" if clean else digest


def pod_name(runner_name: str) -> str:
    """The runner's name when it is a valid Pod name (a DNS subdomain, room left for the Secret's `-jit`)."""
    if len(runner_name) <= 240 and _DNS_SUBDOMAIN.match(runner_name):
        return runner_name
    digest = hashlib.sha256(runner_name.encode()).hexdigest()[:10]
    clean = re.sub(r"[^a-z0-9-]+", "-", runner_name.lower())[:50].strip("-")
    return f"{clean}-{digest}" if clean else f"runner-{digest}"


def secret_name(pod: str) -> str:
    return f"{pod}-jit"


def millicores(vcpu: float) -> int:
    # Label resolution already rounded up to the millicore; round() first so 0.1 * 1000 is not 101.
    return max(1, math.ceil(round(vcpu * 1000, 6)))


def mebibytes(gib: float) -> int:
    return max(1, math.ceil(round(gib * 1024, 6)))


def ownership_labels(*, backend: str, owner_tag: str, runner_name: str) -> dict[str, str]:
    return {
        MANAGED_BY: "sengu",
        POOL_TAG: label_value(owner_tag),
        RUNNER_TAG: label_value(runner_name),
        BACKEND_TAG: label_value(backend),
    }


def render_runner(
    settings: PodSettings,
    launch: Launch,
    *,
    runner_name: str,
    jit_config: str,
    owner_tag: str,
    backend: str,
    role_arn: str | None = None,
) -> RunnerObjects:
    """The Pod, its JIT-config Secret and (with a role) the role's ServiceAccount for one launch.

    Raises ValueError for a launch these settings cannot place (spot without spot nodes, a role without
    an ARN): the configuration, not the cluster, is wrong."""
    if launch.capacity == "spot" and not settings.spot_nodes:
        raise ValueError("spot capacity asked, but this backend has no spot nodes (kubernetes.spotNodes is false)")
    if launch.role and not role_arn:
        raise ValueError(f"role {launch.role!r} has no IAM role ARN in spec.roles")
    namespace = settings.namespace
    name = pod_name(runner_name)
    labels = ownership_labels(backend=backend, owner_tag=owner_tag, runner_name=runner_name)
    image = launch.image or (
        settings.arm64_image if launch.arch == "arm64" and settings.arm64_image else settings.image
    )
    size = {"cpu": f"{millicores(launch.vcpu)}m", "memory": f"{mebibytes(launch.memory_gib)}Mi"}
    # The spec's selector first, so it cannot move a pod to the wrong architecture or capacity type.
    selector = {**settings.node_selector, ARCH_LABEL: NODE_ARCH[launch.arch], OS_LABEL: "linux"}
    if settings.spot_nodes:
        selector[CAPACITY_LABEL] = launch.capacity
    secret = secret_name(name)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
        "enableServiceLinks": False,
        "nodeSelector": selector,
        "containers": [
            {
                "name": CONTAINER,
                "image": image,
                "command": list(OFFICIAL_RUNNER_COMMAND),
                "env": [
                    {
                        "name": JIT_CONFIG_ENV,
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}},
                    }
                ],
                "resources": {"requests": dict(size), "limits": dict(size)},
            }
        ],
    }
    account = settings.account_for(launch.role)
    if account:
        spec["serviceAccountName"] = account
    # A job gets Kubernetes API credentials only with a role it was allowed to ask for.
    spec["automountServiceAccountToken"] = bool(launch.role)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                RUNNER_TAG: runner_name,  # exact, where the label may be shortened
                "karpenter.sh/do-not-disrupt": "true",
                "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
            },
        },
        "spec": spec,
    }
    secret_obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret, "namespace": namespace, "labels": dict(labels)},
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(jit_config.encode()).decode()},
    }
    account_obj: dict[str, Any] | None = None
    if launch.role and account:
        account_obj = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": account,
                "namespace": namespace,
                "labels": {MANAGED_BY: "sengu", ROLE_TAG: label_value(launch.role)},
                "annotations": {IRSA_ANNOTATION: str(role_arn)},
            },
        }
    return RunnerObjects(pod=pod, secret=secret_obj, service_account=account_obj)


def owned_by(obj: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` with `pod` as its owner, so the garbage collector deletes it with the pod.

    No blockOwnerDeletion: setting it needs permission on pods/finalizers, and nothing waits on it."""
    meta = pod["metadata"]
    reference = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [reference]}}


# --- reading pods (pure) -----------------------------------------------------------------------------------
def _runner_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == CONTAINER:
            return dict(status)
    return dict(statuses[0]) if statuses else {}


def _text(reason: Any, message: Any) -> str | None:
    parts = [str(p) for p in (reason, message) if p]
    return ": ".join(parts) or None


def disruption_of(pod: Mapping[str, Any]) -> str | None:
    """Why the pod's node went away under it (eviction, shutdown, reclaim), or None."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "DisruptionTarget"
            and condition.get("status") == "True"
            and condition.get("reason") in _NODE_GONE_DISRUPTIONS
        ):
            return _text(condition.get("reason"), condition.get("message"))
    reason, message = status.get("reason"), status.get("message")
    if reason in _NODE_GONE_REASONS or _SPOT_WORDS.search(f"{reason or ''} {message or ''}"):
        return _text(reason, message)
    return None


def ran_on_spot(pod: Mapping[str, Any]) -> bool:
    return ((pod.get("spec") or {}).get("nodeSelector") or {}).get(CAPACITY_LABEL) == "spot"


def observation_of(pod: Mapping[str, Any]) -> Observation:
    """An Observation from a Pod as the API server returns it.

    A pod that lost its node to an eviction, a shutdown or a reclaim reports SpotInterruption when it ran
    on spot capacity (its nodeSelector says so), else what Kubernetes said; it may still be "running"
    then (evicted, within its grace period)."""
    status = pod.get("status") or {}
    # Unknown: the node stopped reporting; the pod is not known to have ended.
    state = _PHASES.get(str(status.get("phase") or "Pending"), "running")
    runner = _runner_status(pod)
    terminated = (runner.get("state") or {}).get("terminated") or (runner.get("lastState") or {}).get("terminated")
    exit_code: int | None = None
    if state == "stopped" and terminated and terminated.get("exitCode") is not None:
        exit_code = int(terminated["exitCode"])
    disruption = disruption_of(pod)
    reason: str | None
    if disruption:
        reason = SPOT_INTERRUPTION if ran_on_spot(pod) else disruption
    elif state == "stopped":
        # A pod-level reason (rejected by the kubelet, deadline) says more than the container's.
        reason = _text(status.get("reason"), status.get("message")) or (
            _text(terminated.get("reason"), terminated.get("message")) if terminated else None
        )
    else:
        reason = None
    return Observation(state, reason, exit_code)


# --- errors ---------------------------------------------------------------------------------------------
def backend_error(
    backend: str, exc: KubeError, doing: str, *, namespace: str, secrets: tuple[str, ...] = ()
) -> BackendError:
    """A BackendError for a failed API call: throttling, server and transport errors are worth retrying;
    refusals (forbidden, invalid, missing namespace, bad credentials) are configuration to fix."""
    body = exc.body if isinstance(exc.body, dict) else {}
    message = str(body.get("message") or exc)
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    status = exc.status
    code = str(body.get("reason") or "") or None
    details = body.get("details") or {}
    if status == 0:
        return BackendError(backend, f"{doing}: {message}", retryable=True, code="Unreachable")
    if status == 429 or status >= 500:
        return BackendError(backend, f"{doing}: {status} {message}", retryable=True, code=code)
    if status == 404 and (details.get("kind") == "namespaces" or f'namespaces "{namespace}" not found' in message):
        hint = f"namespace {namespace!r} does not exist: create it, or name another in kubernetes.namespace"
        return BackendError(backend, f"{doing}: {hint}", retryable=False, code=code or "NotFound")
    if status == 403:
        hint = f" (sengu's identity lacks RBAC permission in namespace {namespace!r})"
        return BackendError(backend, f"{doing}: forbidden: {message}{hint}", retryable=False, code=code)
    if status == 401:
        hint = " (the cluster did not accept sengu's credentials: check the kubeconfig or service account)"
        return BackendError(backend, f"{doing}: unauthorized: {message}{hint}", retryable=False, code=code)
    if status in (400, 422):
        return BackendError(backend, f"{doing}: rejected as invalid: {message}", retryable=False, code=code)
    if status in (409, 410):  # a write raced another, or a read expired: the next attempt sees the new state
        return BackendError(backend, f"{doing}: {status} {message}", retryable=True, code=code)
    return BackendError(backend, f"{doing}: {status} {message}", retryable=False, code=code)


# --- the backend -----------------------------------------------------------------------------------------
class KubeBackend:
    """Runners as Pods in one namespace of one cluster.

    `cluster` is a connected Cluster, or a zero-argument factory called (once, from a worker thread) on the
    first call that needs the cluster; None connects with the default kubeconfig or in-cluster config."""

    kind = "kubernetes"

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        image: str,
        arm64_image: str | None = None,
        service_account: str | None = None,
        service_accounts: Mapping[str, str] | None = None,
        node_selector: Mapping[str, str] | None = None,
        spot_nodes: bool = False,
        roles: Mapping[str, str] | None = None,
        cluster: Cluster | Callable[[], Cluster] | None = None,
    ):
        self.name = name
        self.settings = PodSettings(
            namespace=namespace,
            image=image,
            arm64_image=arm64_image,
            service_account=service_account,
            service_accounts=dict(service_accounts or {}),
            node_selector=dict(node_selector or {}),
            spot_nodes=spot_nodes,
        )
        self.roles = dict(roles or {})
        self._cluster: Cluster | None = cluster if isinstance(cluster, Cluster) else None
        self._connect: Callable[[], Cluster] = (
            cluster if cluster is not None and not isinstance(cluster, Cluster) else Cluster.connect
        )
        self._connecting = threading.Lock()
        self._accounts: set[tuple[str, str, str]] = set()  # (namespace, name, role ARN) applied by this process
        self._stop_once = StopOnce()

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    # --- plumbing ---------------------------------------------------------------------------------------
    def _client(self) -> Cluster:
        with self._connecting:
            if self._cluster is None:
                try:
                    self._cluster = self._connect()
                except UserError as exc:
                    raise BackendError(self.name, f"cannot connect to the cluster: {exc}", retryable=False) from None
                except KubeError as exc:
                    raise backend_error(self.name, exc, "connecting", namespace=self.namespace) from None
            return self._cluster

    async def _run(self, work: Callable[[Cluster], T]) -> T:
        def call() -> T:
            return work(self._client())

        return await asyncio.to_thread(call)

    # --- launch -----------------------------------------------------------------------------------------
    async def launch(self, launch: Launch, *, runner_name: str, jit_config: str, owner_tag: str) -> Handle:
        role_arn = (self.roles.get(launch.role) or launch.role_arn) if launch.role else None
        try:
            objects = render_runner(
                self.settings,
                launch,
                runner_name=runner_name,
                jit_config=jit_config,
                owner_tag=owner_tag,
                backend=self.name,
                role_arn=role_arn,
            )
        except ValueError as exc:
            raise BackendError(self.name, str(exc), retryable=False) from None
        if objects.service_account is not None:
            await self._ensure_account(objects.service_account)
        secrets = (jit_config, objects.secret["data"][SECRET_KEY])
        await self._run(lambda cluster: self._create(cluster, objects, runner_name, secrets))
        pod = objects.pod["metadata"]["name"]
        return Handle(
            backend=self.name,
            kind=self.kind,
            id=pod,
            detail={POOL_TAG: owner_tag, RUNNER_TAG: runner_name, "namespace": self.namespace},
        )

    def _create(self, cluster: Cluster, objects: RunnerObjects, runner_name: str, secrets: tuple[str, ...]) -> None:
        ns = self.namespace
        name = objects.pod["metadata"]["name"]
        try:
            pod = cluster.create(objects.pod)
        except KubeError as exc:
            if exc.status != 409:
                raise backend_error(self.name, exc, f"creating Pod {ns}/{name}", namespace=ns) from None
            pod = self._existing_pod(cluster, name, runner_name)
        secret = owned_by(objects.secret, pod)
        secret_id = secret["metadata"]["name"]
        try:
            cluster.create(secret)
            return
        except KubeError as exc:
            failure = exc
        if failure.status == 409 and self._owned_secret_kept(cluster, secret, pod):
            return
        # The pod cannot start without its Secret: take it away rather than leave it waiting.
        with contextlib.suppress(KubeError):  # if this fails too, the pool label lets the janitor find it
            cluster.delete("v1", "Pod", name, ns)
        raise backend_error(
            self.name, failure, f"creating Secret {ns}/{secret_id}", namespace=ns, secrets=secrets
        ) from None

    def _existing_pod(self, cluster: Cluster, name: str, runner_name: str) -> dict[str, Any]:
        """The pod of an earlier launch of this runner (409 AlreadyExists), or an error if it is not ours."""
        ns = self.namespace
        try:
            pod = cluster.get("v1", "Pod", name, ns)
        except KubeError as exc:
            raise backend_error(self.name, exc, f"reading Pod {ns}/{name}", namespace=ns) from None
        if pod is None:  # deleted in between: the next attempt creates it
            raise BackendError(self.name, f"Pod {ns}/{name} existed and was deleted during the launch", retryable=True)
        if (pod.get("metadata", {}).get("annotations") or {}).get(RUNNER_TAG) != runner_name:
            raise BackendError(
                self.name,
                f"Pod {ns}/{name} exists and is not runner {runner_name!r}'s (not made by sengu)",
                retryable=False,
            )
        return pod

    def _owned_secret_kept(self, cluster: Cluster, secret: dict[str, Any], pod: Mapping[str, Any]) -> bool:
        """After 409 on the Secret: True when the existing one belongs to this pod (an earlier launch made
        it). One left by an older pod of the same name would be collected with that pod: replace it."""
        ns, name = self.namespace, secret["metadata"]["name"]
        try:
            existing = cluster.get("v1", "Secret", name, ns)
        except KubeError:
            return False
        if existing is None:
            return False
        owners = [r.get("uid") for r in (existing.get("metadata") or {}).get("ownerReferences") or []]
        if pod["metadata"]["uid"] in owners:
            return True
        try:
            cluster.delete("v1", "Secret", name, ns)
            cluster.create(secret)
        except KubeError:
            return False
        return True

    async def _ensure_account(self, account: dict[str, Any]) -> None:
        meta = account["metadata"]
        key = (meta["namespace"], meta["name"], meta["annotations"][IRSA_ANNOTATION])
        if key in self._accounts:
            return
        what = f"applying ServiceAccount {meta['namespace']}/{meta['name']}"

        def apply(cluster: Cluster) -> None:
            try:
                cluster.apply(account, force=False)  # no force: never take the role ARN from its owner
            except KubeError as exc:
                if exc.status == 409:
                    raise BackendError(
                        self.name,
                        f"{what}: another manager sets {IRSA_ANNOTATION} differently; make it {key[2]} or name "
                        f"another ServiceAccount in kubernetes.serviceAccounts ({exc})",
                        retryable=False,
                        code="Conflict",
                    ) from None
                raise backend_error(self.name, exc, what, namespace=meta["namespace"]) from None

        await self._run(apply)
        self._accounts.add(key)

    # --- observe ----------------------------------------------------------------------------------------
    async def observe(self, handle: Handle) -> Observation:
        return (await self.observe_many([handle]))[handle.id]

    async def observe_many(self, handles: Sequence[Handle]) -> dict[str, Observation]:
        """One list of the pool's pods per namespace and pool, rather than a read per pod.

        A lone handle is read by name (the same one call, without the API server walking the pool); a
        handle without a pool (not made by `launch` or `list_owned`) is read by name too. Either way a pod
        is the handle's only while it carries the handle's pool label: one of that name without it was
        made by someone else after ours went."""
        groups: dict[tuple[str, str | None], list[Handle]] = {}
        for handle in handles:
            ns = handle.detail.get("namespace", self.namespace)
            pool = handle.detail.get(POOL_TAG)
            groups.setdefault((ns, label_value(pool) if pool else None), []).append(handle)

        def read(cluster: Cluster) -> dict[str, Observation]:
            seen: dict[str, Observation] = {}
            for (ns, pool), group in groups.items():
                if pool is not None and len(group) > 1:
                    pods = self._pool_pods(cluster, ns, pool)
                else:
                    pods = {h.id: pod for h in group if (pod := self._read_pod(cluster, ns, h.id)) is not None}
                for handle in group:
                    pod = pods.get(handle.id)
                    labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
                    if pod is None or (pool is not None and labels.get(POOL_TAG) != pool):
                        seen[handle.id] = Observation("gone")
                    else:
                        seen[handle.id] = observation_of(pod)
            return seen

        return await self._run(read)

    def _read_pod(self, cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
        try:
            return cluster.get("v1", "Pod", name, ns)
        except KubeError as exc:
            raise backend_error(self.name, exc, f"reading Pod {ns}/{name}", namespace=ns) from None

    def _pool_pods(self, cluster: Cluster, ns: str, pool_label: str) -> dict[str, dict[str, Any]]:
        try:
            pods = cluster.list_objects("v1", "Pod", ns, labels={POOL_TAG: pool_label})
        except KubeError as exc:
            raise backend_error(self.name, exc, f"listing Pods in {ns}", namespace=ns) from None
        return {str((pod.get("metadata") or {}).get("name")): pod for pod in pods}

    # --- terminate --------------------------------------------------------------------------------------
    async def terminate(self, handle: Handle, reason: str) -> bool:
        ns = handle.detail.get("namespace", self.namespace)

        def stop(cluster: Cluster) -> bool:
            stopped = False
            try:
                pod = cluster.get("v1", "Pod", handle.id, ns)
                # A pod already being deleted was stopped by someone else (another process, a drain).
                if pod is not None and not pod.get("metadata", {}).get("deletionTimestamp"):
                    stopped = cluster.delete("v1", "Pod", handle.id, ns)
                # Garbage collection would take the Secret with the pod; this takes the credential now.
                cluster.delete("v1", "Secret", secret_name(handle.id), ns)
            except KubeError as exc:
                if exc.status == 404:
                    return stopped
                raise backend_error(self.name, exc, f"deleting Pod {ns}/{handle.id}", namespace=ns) from None
            return stopped

        async def once() -> bool:
            return await self._run(stop)

        return await self._stop_once.run(f"{ns}/{handle.id}", once)

    # --- list_owned -------------------------------------------------------------------------------------
    async def list_owned(self, owner_tag: str) -> list[Handle]:
        ns = self.namespace

        def pods(cluster: Cluster) -> list[dict[str, Any]]:
            try:
                return cluster.list_objects("v1", "Pod", ns, labels={POOL_TAG: label_value(owner_tag)})
            except KubeError as exc:
                raise backend_error(self.name, exc, f"listing Pods in {ns}", namespace=ns) from None

        owned: list[Handle] = []
        for pod in await self._run(pods):
            meta = pod.get("metadata") or {}
            if (pod.get("status") or {}).get("phase") in _FINISHED or meta.get("deletionTimestamp"):
                continue
            runner = (meta.get("annotations") or {}).get(RUNNER_TAG) or str(meta["name"])
            owned.append(
                Handle(
                    backend=self.name,
                    kind=self.kind,
                    id=str(meta["name"]),
                    detail={POOL_TAG: owner_tag, RUNNER_TAG: runner, "namespace": ns},
                )
            )
        return owned
