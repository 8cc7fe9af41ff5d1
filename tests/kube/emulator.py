"""An in-process Kubernetes API server for tests: kmock's KubernetesEmulator, extended until the official
`kubernetes` client and kopf work against it over real HTTP on 127.0.0.1 (kubectl reads work too).

    with running_emulator() as emulator:            # a thread serves http://127.0.0.1:<port>
        api = kubernetes.config.new_client_from_config(str(emulator.write_kubeconfig(tmp / "kubeconfig")))
        ...
        emulator.reset_log()
        reconcile()
        assert emulator.writes() == []

What it does, like a real API server
- Stores objects per resource; every write assigns `metadata.resourceVersion` from one increasing counter;
  creation assigns `uid`, `creationTimestamp` and `generation: 1`; `generation` grows only when something
  outside `metadata` and `status` changes. A write that changes nothing is not a write (no new version,
  no watch event). `generateName`, `?dryRun=All` (validated, never stored), PUT with a resourceVersion
  precondition (409 on mismatch; required for custom resources), DELETE with preconditions, finalizers
  (`deletionTimestamp`, then gone when the last finalizer is removed), deletecollection.
- Lists carry `kind` (`CronJobList`), `apiVersion` and `metadata.resourceVersion`, honour `limit`/`continue`,
  and, like the real server, leave `kind`/`apiVersion` out of the items of built-in kinds.
- Watches start from `?resourceVersion=` with no event lost between a list and the watch; without one
  (or with `0`, or with `sendInitialEvents=true`) they begin with synthetic ADDED events. `labelSelector`
  (`a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`) and `fieldSelector` (`metadata.name`,
  `metadata.namespace` and the fields the real server indexes for that kind; others are 400) filter
  lists and watches; an object that stops or starts matching is DELETED or ADDED for that watch.
  `timeoutSeconds` ends the stream. BOOKMARKs go to watches with `allowWatchBookmarks=true`: after the
  initial events of `sendInitialEvents`, every `bookmark_interval` seconds if set, and on `send_bookmarks()`.
  `expire_watch_history()` makes older resourceVersions answer 410 Gone, as after an etcd compaction.
- Patches: JSON merge patch, JSON patch (a failed `test` is 422), strategic merge patch (built-in kinds
  only; 415 for custom resources, as on a real server), and server-side apply (`application/apply-patch+yaml`,
  `?fieldManager=` required, `?force=true`): creates a missing object; sets the applied fields; removes
  fields the manager applied before and omits now; 409 Conflict on a field another applier owns with a
  different value; `metadata.managedFields` lists the appliers (see tests/kube/applying.py).
- The status subresource of kinds that have one (CRDs that declare it, Jobs, Pods…): writes to the object
  keep the old status, writes to `/status` change only the status; status is dropped on create.
- Rejects with 422 and a Status listing every cause: a built-in object that fails the official strict JSON
  schema of `k8s_version` (kubernetes-validate), a custom resource that fails its CRD's openAPIV3Schema
  (undeclared fields included), a CRD that fails the CRD schema or the structural-schema rules, invalid
  names and labels, CronJob names over 52 characters, a Job (or CronJob template) whose restartPolicy is
  not OnFailure/Never or with a podFailurePolicy without restartPolicy Never. Objects in a namespace that
  does not exist are 404.
- Discovery (/api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, /version) lists the built-in kinds
  and every CRD version created at runtime (removed with the CRD).
- `GET …/pods/NAME/log` returns what the test wrote with `append_log()`; `?follow=true` streams until
  `set_pod_terminated()`; 400 while the container has not started, as on a real server.
- A request log (method, path, query, content type, status): `request_log`, `writes()`, `reset_log()`.
- Test helpers play the controllers: `create_job_from_cronjob()`, `create_pod_for_job()`,
  `set_pod_running()`, `set_pod_terminated()` (exit codes, OOMKilled), `set_pod_waiting()` (ErrImagePull),
  `set_pod_disrupted()` (DisruptionTarget), `set_job_succeeded()`, `set_job_failed()` (BackoffLimitExceeded,
  DeadlineExceeded, PodFailurePolicy), shaped like Kubernetes 1.32 writes them (tests/kube/workloads.py).
- kmock's DSL still works for fault injection: `emulator["patch", kmock.resource("batch/v1/cronjobs")] << 500`
  answers matching requests before the emulation does.

What it cannot show (a real cluster is needed: `make e2e-cluster`)
- No controllers: nothing creates Jobs from CronJobs on a schedule, Pods from Jobs, or runs containers;
  tests call the helpers above. Nothing schedules pods onto nodes; no node, kubelet, resource, quota,
  PriorityClass or preemption semantics; pods are deleted at once (no graceful termination). New
  namespaces get no `kube-root-ca.crt` ConfigMap and no `default` ServiceAccount. A CRD is Established
  the moment it is created (a real server takes a moment). Leases are stored objects, nothing more.
- No garbage collection: ownerReferences are stored but deleting an owner deletes nothing else;
  `propagationPolicy` is ignored. Deleting a namespace or a CRD removes its objects at once (finalizers
  of those objects are not waited for).
- No defaulting of built-in kinds: fields the real server fills in (backoffLimit 6, imagePullPolicy,
  terminationMessagePath, CronJob concurrencyPolicy Allow, …) stay absent, so a diff against a live object
  on a real cluster shows more fields than here. The exceptions: a created Job gets its generated
  selector and `controller-uid`/`job-name` pod-template labels, and custom resources get the `default`s
  of their CRD schema (as the real server does).
- No admission: no webhooks, no ValidatingAdmissionPolicy, no Pod Security, no RBAC (every request is
  allowed, so missing RBAC verbs show only on a real cluster), no LimitRanger or ResourceQuota.
- Validation is the JSON schema plus the few rules above: cron syntax, time zones, immutable fields
  (e.g. a Job's template), CEL `x-kubernetes-validations`, and most cross-field rules are not checked.
  Unknown fields are rejected, in built-in objects and custom resources alike (a real server drops them
  silently from custom resources and with a warning from built-ins, unless `fieldValidation=Strict`):
  a CRD whose status kopf writes to needs `x-kubernetes-preserve-unknown-fields` or declared fields.
- Simplified server-side apply: lists are atomic; only appliers own fields (no `Update` managers, so
  no conflicts with kubectl edit/patch writers); managedFields are approximate.
- Simplified strategic merge patch: merge keys come from a table of common fields.
- One storage for all versions of a CRD with no conversion (only apiVersion changes); no webhooks.
- Lists and `continue` tokens read the current state, not a snapshot at the list's resourceVersion;
  `resourceVersionMatch` on lists is ignored. No `/openapi/v2|v3` (so no `kubectl apply`/`explain`),
  no Table output, no protobuf (kubectl's typed writes, e.g. `kubectl create configmap`, get 415), no
  aggregated discovery, no exec/attach/port-forward, no eviction API, no authentication or authorization.
- Pod logs ignore `timestamps`, `sinceSeconds`, `sinceTime` and `limitBytes`; `tailLines` works.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import copy
import functools
import json
import random
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from sengu.core.clock import Clock, SystemClock
from tests.kube import applying, patching, schemas, selectors, validation, workloads

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
_WAITING_MESSAGES = {"ErrImagePull": "trying and failing to pull image", "ImagePullBackOff": "image can't be pulled"}
# k3s-only and aggregated groups in kmock's bundled discovery: real clusters have them only as add-ons.
_NOT_BUILT_IN = ("gateway.networking.k8s.io", "metrics.k8s.io")

ObjectKey = tuple[kmock.resource, str | None, str]


class ApiError(Exception):
    """An answer with a Kubernetes Status, not a failure of the emulator."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = dict(self.details)
        return body


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


@dataclass(frozen=True)
class ResourceType:
    """One served resource (group, version, plural) and what discovery says about it."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    storage_version: str = ""  # the CRD's storage version; "" for built-ins (each version its own storage)
    crd: str | None = None  # the CRD's name for custom resources

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> kmock.resource:
        return kmock.resource(self.group, self.storage_version or self.version, self.plural)

    @property
    def label(self) -> str:
        """How error messages name the resource: `cronjobs.batch`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    status: int | None = None

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


@dataclass(frozen=True)
class _Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    namespace: str | None
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass
class _EventLog:
    events: list[_Event] = field(default_factory=list)
    rvs: list[int] = field(default_factory=list)


@dataclass
class _LogBuffer:
    chunks: list[str] = field(default_factory=list)
    done: bool = False


def _kube_version_sort_key(version: str) -> tuple[int, int, int]:
    """Kubernetes' version priority: GA before beta before alpha, higher numbers first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if m is None:
        return (3, 0, 0)
    stage = {"": 0, "beta": 1, "alpha": 2}[m.group(2) or ""]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0))


def _seen_as(kind: str, matches_now: bool, matched_before: bool) -> str | None:
    """How a watch with selectors sees a change: objects entering the selection are ADDED, leaving it DELETED."""
    if kind == "ADDED":
        return kind if matches_now else None
    if kind == "DELETED":
        return kind if matched_before else None
    if matches_now:
        return "MODIFIED" if matched_before else "ADDED"
    return "DELETED" if matched_before else None


@functools.cache
def _built_in_types() -> tuple[ResourceType, ...]:
    """The built-in kinds, from the discovery documents kmock bundles (taken from a k3s cluster)."""
    bundled = kmock.ResourcesArray()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # kmock reads its data with a deprecated call
        bundled.load_bundled()
    types: list[ResourceType] = []
    for res, info in bundled.items():
        if not isinstance(res, kmock.resource) or not isinstance(info, kmock.ResourceInfo):
            continue
        if res.group in _NOT_BUILT_IN or res.group is None or res.version is None or res.plural is None:
            continue
        types.append(
            ResourceType(
                group=res.group,
                version=res.version,
                plural=res.plural,
                kind=info.kind or res.plural.capitalize(),
                singular=info.singular or (info.kind or res.plural).lower(),
                namespaced=bool(info.namespaced),
                subresources=frozenset(info.subresources),
                short_names=tuple(sorted(info.shortnames)),
                categories=tuple(sorted(info.categories)),
                verbs=tuple(sorted(info.verbs)),
            )
        )
    return tuple(types)


def _json(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """The emulated API server (see the module docstring). Serve it with `running_emulator()`.

    `clock` dates creationTimestamps and the helpers' status times; `k8s_version` picks the official
    schemas and what /version reports; `namespaces` exist from the start; `seed` makes uids and
    generated names repeatable.
    """

    clock: Clock = attrs.field(factory=SystemClock)
    k8s_version: str = schemas.DEFAULT_K8S_VERSION
    namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")
    bookmark_interval: float | None = None
    seed: int = 0

    _types: dict[tuple[str, str, str], ResourceType] = attrs.field(factory=dict, init=False)
    _live: dict[kmock.resource, dict[tuple[str | None, str], dict[str, Any]]] = attrs.field(factory=dict, init=False)
    _events: dict[kmock.resource, _EventLog] = attrs.field(factory=dict, init=False)
    _owners: dict[ObjectKey, dict[str, dict[str, frozenset[applying.FieldPath]]]] = attrs.field(
        factory=dict, init=False
    )
    _owner_times: dict[ObjectKey, dict[tuple[str, str], str]] = attrs.field(factory=dict, init=False)
    _crd_validators: dict[tuple[str, str, str], schemas.CustomValidator] = attrs.field(factory=dict, init=False)
    _crd_schemas: dict[tuple[str, str, str], Mapping[str, Any]] = attrs.field(factory=dict, init=False)
    _pod_logs: dict[tuple[str, str, str], _LogBuffer] = attrs.field(factory=dict, init=False)
    _previous_logs: dict[tuple[str, str, str], _LogBuffer] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _compacted_rv: int = attrs.field(default=0, init=False)
    _expiry_epoch: int = attrs.field(default=0, init=False)
    _bookmark_epoch: int = attrs.field(default=0, init=False)
    _signal: asyncio.Event | None = attrs.field(default=None, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    _rng: random.Random = attrs.field(factory=random.Random, init=False)
    _log: list[RequestRecord] = attrs.field(factory=list, init=False)
    _changed: threading.Condition = attrs.field(factory=threading.Condition, init=False)
    _writes: int = attrs.field(default=0, init=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _url: str | None = attrs.field(default=None, init=False)
    internal_errors: list[BaseException] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        # Deliberately not kmock's: its fallback reactions would answer before the emulation below.
        self._rng.seed(self.seed)
        for rtype in _built_in_types():
            self._register(rtype)
        now = workloads.rfc3339(self.clock.now())
        for name in self.namespaces:
            self._seed_namespace(name, now)

    # ---- lifecycle ----------------------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not serving; use running_emulator() or serve()")
        return self._url

    async def serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        """Serve on an ephemeral port of 127.0.0.1 until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        async with self, kmock.Server(self) as server:
            self._url = str(server.url).rstrip("/")
            ready()
            await stop.wait()
            self._closing = True
            self._wake()
            await asyncio.sleep(0)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.server_url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator"}}],
            "contexts": [
                {"name": "emulator", "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace}}
            ],
            "current-context": "emulator",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def _in_loop(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the emulator's event loop (helpers are called from the test's thread)."""
        loop = self._loop
        if loop is None:
            return fn()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def _wake(self) -> None:
        if self._signal is not None:
            self._signal.set()
            self._signal = asyncio.Event()
        with self._changed:
            self._writes += 1
            self._changed.notify_all()

    # ---- request log --------------------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        return list(self._log)

    def writes(self, *, include_dry_run: bool = False) -> list[RequestRecord]:
        """POST, PUT, PATCH and DELETE requests since the last `reset_log()` (dry runs only if asked)."""
        return [r for r in self._log if r.is_write and (include_dry_run or not r.dry_run)]

    def reset_log(self) -> None:
        self._log.clear()

    # ---- registry of resources ----------------------------------------------------------------------

    def _register(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype
        self.resources[kmock.resource(rtype.group, rtype.version, rtype.plural)] = kmock.ResourceInfo(
            namespaced=rtype.namespaced,
            kind=rtype.kind,
            singular=rtype.singular,
            verbs=set(rtype.verbs),
            shortnames=set(rtype.short_names),
            categories=set(rtype.categories),
            subresources=set(rtype.subresources),
        )

    def _unregister(self, key: tuple[str, str, str]) -> None:
        self._types.pop(key, None)
        self._crd_validators.pop(key, None)
        self._crd_schemas.pop(key, None)
        with contextlib.suppress(KeyError):
            del self.resources[kmock.resource(*key)]

    def resource_type(self, resource: str) -> ResourceType:
        """Look a served resource up by `batch/v1/cronjobs`, `v1/pods` or `sengu.dev/v1alpha1/cronjobmanagers`."""
        parts = resource.split("/")
        group, version, plural = ("", parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[1], parts[2])
        rtype = self._types.get((group, version, plural))
        if rtype is None:
            raise KeyError(f"the emulator does not serve {resource}")
        return rtype

    def _type_of(self, obj: Mapping[str, Any]) -> ResourceType:
        api_version = str(obj.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        for rtype in self._types.values():
            if rtype.group == group and rtype.version == version and rtype.kind == obj.get("kind"):
                return rtype
        raise KeyError(f"the emulator does not serve {api_version} {obj.get('kind')}")

    # ---- state --------------------------------------------------------------------------------------

    def _key(self, rtype: ResourceType, namespace: str | None, name: str) -> ObjectKey:
        return (rtype.storage, namespace if rtype.namespaced else None, name)

    def _current(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._live.get(rtype.storage, {}).get((namespace if rtype.namespaced else None, name))

    def _stored_form(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Custom resources are stored at the CRD's storage version, whatever version wrote them."""
        if rtype.storage_version and rtype.storage_version != rtype.version:
            obj["apiVersion"] = f"{rtype.group}/{rtype.storage_version}"
        return obj

    def _present(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Serve a stored object at the requested version (CRDs store all versions once, unconverted)."""
        if obj.get("apiVersion") == rtype.api_version:
            return obj
        return {**obj, "apiVersion": rtype.api_version}

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _record_event(self, rtype: ResourceType, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        namespace = obj["metadata"].get("namespace") if rtype.namespaced else None
        log = self._events.setdefault(rtype.storage, _EventLog())
        rv = int(obj["metadata"]["resourceVersion"])
        log.events.append(_Event(rv, kind, namespace, obj, old))
        log.rvs.append(rv)

    def _store(self, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        meta = obj["metadata"]
        namespace = meta.get("namespace") if rtype.namespaced else None
        meta["resourceVersion"] = str(self._next_rv())
        self._live.setdefault(rtype.storage, {})[(namespace, meta["name"])] = obj
        key = self._key(rtype, namespace, meta["name"])
        if key in self.objects:
            self.objects[key].create(obj)
        else:
            self.objects[key] = obj
        self._record_event(rtype, "ADDED" if old is None else "MODIFIED", obj, old)
        self._after_write(rtype, obj, old)
        self._wake()
        return obj

    def _remove(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        namespace = meta.get("namespace") if rtype.namespaced else None
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._next_rv())
        self._live.get(rtype.storage, {}).pop((namespace, meta["name"]), None)
        key = self._key(rtype, namespace, meta["name"])
        if key in self.objects:
            self.objects[key].delete()
        self._owners.pop(key, None)
        self._owner_times.pop(key, None)
        self._record_event(rtype, "DELETED", gone, obj)
        self._after_delete(rtype, gone)
        self._wake()
        return gone

    def _seed_namespace(self, name: str, now: str) -> None:
        rtype = self._types[("", "v1", "namespaces")]
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                "creationTimestamp": now,
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        self._store(rtype, obj, None)

    # ---- side effects of writes ---------------------------------------------------------------------

    def _after_write(self, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._sync_crd(obj, old)

    def _after_delete(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._sync_crd(None, obj)
        elif rtype.kind == "Namespace" and rtype.group == "":
            for storage, objects in list(self._live.items()):
                for (namespace, _), item in list(objects.items()):
                    if namespace == name:
                        self._remove(self._storage_type(storage), item)
        elif rtype.kind == "Pod" and rtype.group == "":
            for key, buffer in self._pod_logs.items():
                if key[:2] == (obj["metadata"]["namespace"], name):
                    buffer.done = True

    def _storage_type(self, storage: kmock.resource) -> ResourceType:
        rtype = self._types.get((str(storage.group), str(storage.version), str(storage.plural)))
        if rtype is not None:
            return rtype
        for candidate in self._types.values():  # a CRD being removed: its storage version first
            if candidate.storage == storage:
                return candidate
        raise KeyError(storage)

    def _sync_crd(self, crd: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """Serve (or stop serving) the versions of a CRD; remove its objects when the CRD goes."""
        old_keys: set[tuple[str, str, str]] = set()
        if old is not None:
            spec = old["spec"]
            old_keys = {(spec["group"], v["name"], spec["names"]["plural"]) for v in spec.get("versions", [])}
        new_keys: set[tuple[str, str, str]] = set()
        if crd is not None:
            spec = crd["spec"]
            names = spec["names"]
            storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                key = (spec["group"], version["name"], names["plural"])
                new_keys.add(key)
                subresources = set((version.get("subresources") or {}).keys())
                self._register(
                    ResourceType(
                        group=spec["group"],
                        version=version["name"],
                        plural=names["plural"],
                        kind=names["kind"],
                        singular=names.get("singular") or names["kind"].lower(),
                        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                        subresources=frozenset(subresources),
                        short_names=tuple(names.get("shortNames") or ()),
                        categories=tuple(names.get("categories") or ()),
                        storage_version=storage,
                        crd=crd["metadata"]["name"],
                    )
                )
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
                self._crd_validators[key] = schemas.custom_resource_validator(schema)
                self._crd_schemas[key] = schema
        else:
            assert old is not None
            spec = old["spec"]
            storage_versions = [v["name"] for v in spec["versions"] if v.get("storage")]
            if storage_versions:
                storage_key = kmock.resource(spec["group"], storage_versions[0], spec["names"]["plural"])
                any_type = next((self._types[k] for k in old_keys if k in self._types), None)
                if any_type is not None:
                    for item in list(self._live.get(storage_key, {}).values()):
                        self._remove(any_type, item)
        for key in old_keys - new_keys:
            self._unregister(key)

    # ---- HTTP entry point ---------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        try:
            request = await kmock.Request._parse(raw_request, id=len(self._requests))
        except ValueError:  # kmock's path parser fails on some valid paths, e.g. /api/v1/namespaces
            request = kmock.Request(
                id=len(self._requests),
                raw_request=raw_request,
                url=raw_request.url,
                method=raw_request.method,
                params=dict(raw_request.query),
                headers=dict(raw_request.headers),
                body=body,
                text=body.decode(errors="replace"),
            )
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as e:  # a bug in the emulator, or a request it cannot serve: the fixture fails the test
            self.internal_errors.append(e)
            return await self._render_error(e)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        record = RequestRecord(
            method=str(request.method.value).upper(),
            path=request.url.path,
            query=dict(request.params),
            content_type=raw.headers.get("Content-Type") if raw is not None else None,
        )
        self._log.append(record)
        try:
            # Reactions scripted with kmock's DSL (fault injection) answer first.
            response = await kmock.RawHandler._handle(self, request)
        except NotImplementedError:
            try:
                response = await self._serve(request, record)
            except ApiError as e:
                response = _json(e.status(), e.code)
        record.status = response.status
        return response

    async def _serve(self, request: kmock.Request, record: RequestRecord) -> aiohttp.web.StreamResponse:
        method = record.method
        parts = [p for p in request.url.path.split("/") if p]
        query = record.query
        if not parts:
            return _json({"paths": sorted(self._root_paths())})
        if parts == ["version"]:
            return _json(self._version_info())
        if parts[0] == "api":
            if len(parts) == 1:
                return _json(self._api_versions())
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return _json(self._api_group_list())
            if len(parts) == 2:
                return _json(self._api_group(parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            if method != "GET":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            return _json(self._api_resource_list(group, version))

        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        rtype = self._types.get((group, version, plural))
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if subresource is not None and subresource not in rtype.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if subresource not in (None, "status", "log"):
            raise ApiError(405, "MethodNotAllowed", f"the emulator does not implement the {subresource} subresource")
        dry_run = query.get("dryRun")
        if dry_run not in (None, "All"):
            raise _bad_request(f'Invalid dry run value "{dry_run}": only "All" is supported')
        watching = query.get("watch") in ("true", "1")

        if method == "GET":
            if subresource == "log":
                assert name is not None and namespace is not None
                return await self._pod_log(request, namespace, name, query)
            if watching:
                return await self._watch(request, rtype, namespace, name, query)
            if name is None:
                return _json(self._list(rtype, namespace, query))
            obj = self._current(rtype, namespace, name)
            if obj is None:
                raise self._not_found(rtype, name)
            return _json(self._present(rtype, obj))

        body = self._body(request, record)
        if method == "POST" and name is None:
            if rtype.namespaced and namespace is None:
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            if "create" not in rtype.verbs:
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            created = self._create(rtype, namespace, body, dry_run=dry_run == "All")
            return _json(self._present(rtype, created), 201)
        if method == "PUT" and name is not None:
            updated, status = self._replace(rtype, namespace, name, body, subresource, dry_run=dry_run == "All")
            return _json(self._present(rtype, updated), status)
        if method == "PATCH" and name is not None:
            updated, status = self._patch(rtype, namespace, name, body, record, subresource, dry_run=dry_run == "All")
            return _json(self._present(rtype, updated), status)
        if method == "DELETE" and name is not None:
            return self._delete(rtype, namespace, name, body, dry_run=dry_run == "All")
        if method == "DELETE" and name is None:
            return _json(self._delete_collection(rtype, namespace, query, dry_run=dry_run == "All"))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _body(self, request: kmock.Request, record: RequestRecord) -> Any:
        if not request.body:
            return None
        content_type = (record.content_type or "application/json").split(";")[0].strip()
        if "protobuf" in content_type or "cbor" in content_type:
            raise ApiError(
                415, "UnsupportedMediaType", f"the emulator reads JSON and YAML bodies only, not {content_type}"
            )
        try:
            if content_type.endswith("yaml"):
                try:
                    return json.loads(request.body)
                except ValueError:
                    return yaml.load(request.body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            return json.loads(request.body)
        except (ValueError, yaml.YAMLError) as e:
            raise _bad_request(f"the body of the request could not be decoded: {e}") from e

    # ---- discovery ----------------------------------------------------------------------------------

    def _root_paths(self) -> set[str]:
        paths = {"/api", "/api/v1", "/apis", "/version"}
        for rtype in self._types.values():
            if rtype.group:
                paths |= {f"/apis/{rtype.group}", f"/apis/{rtype.group}/{rtype.version}"}
        return paths

    def _version_info(self) -> dict[str, str]:
        major, minor = self.k8s_version.split(".")[:2]
        return {
            "major": major,
            "minor": minor,
            "gitVersion": f"v{major}.{minor}.0+sengu-emulator",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.23.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _api_versions(self) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_url.split("//")[-1]}
            ],
        }

    def _group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, set[str]] = {}
        for rtype in self._types.values():
            if rtype.group:
                groups.setdefault(rtype.group, set()).add(rtype.version)
        return {group: sorted(versions, key=_kube_version_sort_key) for group, versions in sorted(groups.items())}

    def _group_entry(self, group: str, versions: list[str]) -> dict[str, Any]:
        return {
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
        }

    def _api_group_list(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group_entry(g, vs) for g, vs in self._group_versions().items()],
        }

    def _api_group(self, group: str) -> dict[str, Any]:
        versions = self._group_versions().get(group)
        if not versions:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group, versions)}

    def _api_resource_list(self, group: str, version: str) -> dict[str, Any]:
        served = sorted(
            (r for r in self._types.values() if (r.group, r.version) == (group, version)), key=lambda r: r.plural
        )
        if not served:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources: list[dict[str, Any]] = []
        for rtype in served:
            resources.append(
                {
                    "name": rtype.plural,
                    "singularName": rtype.singular,
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": list(rtype.verbs),
                    **({"shortNames": list(rtype.short_names)} if rtype.short_names else {}),
                    **({"categories": list(rtype.categories)} if rtype.categories else {}),
                }
            )
            for sub in sorted(rtype.subresources):
                verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
                resources.append(
                    {
                        "name": f"{rtype.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": verbs,
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    # ---- reads --------------------------------------------------------------------------------------

    def _not_found(self, rtype: ResourceType, name: str) -> ApiError:
        return ApiError(
            404,
            "NotFound",
            f'{rtype.label} "{name}" not found',
            {"name": name, "group": rtype.group, "kind": rtype.plural},
        )

    def _selectors(
        self, rtype: ResourceType, query: Mapping[str, str], name: str | None = None
    ) -> tuple[tuple[selectors.LabelRequirement, ...], tuple[selectors.FieldRequirement, ...]]:
        try:
            labels = selectors.parse_label_selector(query.get("labelSelector", ""))
            fields = selectors.parse_field_selector(query.get("fieldSelector", ""), group=rtype.group, kind=rtype.kind)
        except selectors.SelectorError as e:
            raise _bad_request(str(e)) from e
        if name is not None:
            fields = (*fields, selectors.FieldRequirement("metadata.name", "=", name))
        return labels, fields

    def _matching(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: tuple[selectors.LabelRequirement, ...],
        fields: tuple[selectors.FieldRequirement, ...],
    ) -> list[dict[str, Any]]:
        items = [
            obj
            for (ns, _), obj in self._live.get(rtype.storage, {}).items()
            if (namespace is None or ns == namespace)
            and selectors.match_labels(labels, obj)
            and selectors.match_fields(fields, obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return items

    def _list(self, rtype: ResourceType, namespace: str | None, query: Mapping[str, str]) -> dict[str, Any]:
        labels, fields = self._selectors(rtype, query)
        items = self._matching(rtype, namespace, labels, fields)
        start = 0
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                after = (token["ns"], token["name"])
            except (ValueError, KeyError, TypeError) as e:
                raise _bad_request("continue key is not valid") from e
            start = next(
                (
                    i
                    for i, o in enumerate(items)
                    if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > after
                ),
                len(items),
            )
        limit = int(query.get("limit") or 0)
        page = items[start : start + limit] if limit > 0 else items[start:]
        metadata: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if limit > 0 and start + limit < len(items):
            last = page[-1]["metadata"]
            token_data = {"ns": last.get("namespace") or "", "name": last["name"]}
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token_data).encode()).decode()
            metadata["remainingItemCount"] = len(items) - start - limit
        presented = [self._present(rtype, o) for o in page]
        if rtype.crd is None:  # the real server leaves kind/apiVersion out of built-in list items
            presented = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in presented]
        return {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": metadata, "items": presented}

    # ---- watches ------------------------------------------------------------------------------------

    def _bookmark(self, rtype: ResourceType, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if annotations:
            metadata["annotations"] = dict(annotations)
        return {
            "type": "BOOKMARK",
            "object": {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": metadata},
        }

    def _gone(self, rv: int) -> dict[str, Any]:
        status = ApiError(410, "Expired", f"too old resource version: {rv} ({self._compacted_rv})").status()
        return {"type": "ERROR", "object": status}

    async def _watch(
        self,
        request: kmock.Request,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        query: Mapping[str, str],
    ) -> aiohttp.web.StreamResponse:
        labels, fields = self._selectors(rtype, query, name)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        initial = query.get("sendInitialEvents") == "true"
        if initial and query.get("resourceVersionMatch") != "NotOlderThan":
            raise ApiError(
                422,
                "Invalid",
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch "
                "to NotOlderThan",
            )
        if initial and not bookmarks:
            raise ApiError(
                422, "Invalid", "allowWatchBookmarks: Forbidden: sendInitialEvents requires allowWatchBookmarks=true"
            )
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        log = self._events.setdefault(rtype.storage, _EventLog())
        since = query.get("resourceVersion") or ""

        def matches(obj: Mapping[str, Any] | None) -> bool:
            return obj is not None and selectors.match_labels(labels, obj) and selectors.match_fields(fields, obj)

        first: list[dict[str, Any]] = []
        if since in ("", "0") or initial:
            items = self._matching(rtype, namespace, labels, fields)
            first = [{"type": "ADDED", "object": self._present(rtype, o)} for o in items]
            position = len(log.events)
            if initial:
                first.append(self._bookmark(rtype, {"k8s.io/initial-events-end": "true"}))
        else:
            try:
                rv = int(since)
            except ValueError as e:
                raise _bad_request(f"invalid resource version: {since}") from e
            if rv < self._compacted_rv:
                first = [self._gone(rv)]
                position = -1
            else:
                position = bisect.bisect_right(log.rvs, rv)

        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        raw = request._raw_request
        assert raw is not None
        await response.prepare(raw)

        async def send(event: Mapping[str, Any]) -> None:
            await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")

        for event in first:
            await send(event)
        if position < 0:
            return response
        expiry, bookmark_epoch = self._expiry_epoch, self._bookmark_epoch
        next_bookmark = loop.time() + self.bookmark_interval if self.bookmark_interval else None
        while not self._closing:
            while position < len(log.events):
                change = log.events[position]
                position += 1
                if namespace is not None and change.namespace != namespace:
                    continue
                seen_as = _seen_as(change.type, matches(change.obj), matches(change.old))
                if seen_as:
                    await send({"type": seen_as, "object": self._present(rtype, change.obj)})
            if self._expiry_epoch != expiry:
                await send(self._gone(self._rv))
                break
            if self._bookmark_epoch != bookmark_epoch:
                bookmark_epoch = self._bookmark_epoch
                if bookmarks:
                    await send(self._bookmark(rtype))
            now = loop.time()
            if deadline is not None and now >= deadline:
                break
            if next_bookmark is not None and now >= next_bookmark:
                next_bookmark = now + (self.bookmark_interval or 0)
                if bookmarks:
                    await send(self._bookmark(rtype))
            waits = [t - now for t in (deadline, next_bookmark) if t is not None]
            signal = self._signal
            assert signal is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=min(waits) if waits else None)
        return response

    # ---- writes -------------------------------------------------------------------------------------

    def _invalid(self, rtype: ResourceType, name: str, causes: list[schemas.Cause]) -> ApiError:
        listing = ", ".join(f"{c.field}: {c.message}" for c in causes)
        what = f"{rtype.kind}.{rtype.group}" if rtype.group else rtype.kind
        return ApiError(
            422,
            "Invalid",
            f'{what} "{name}" is invalid: [{listing}]',
            {"name": name, "group": rtype.group, "kind": rtype.kind, "causes": [c.as_dict() for c in causes]},
        )

    def _default(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Custom resources get their CRD schema's defaults; built-in kinds get none (see the docstring)."""
        schema = self._crd_schemas.get((rtype.group, rtype.version, rtype.plural))
        if schema is not None:
            schemas.apply_defaults({**schema, "properties": {**(schema.get("properties") or {}), "metadata": {}}}, obj)

    def _validate(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        causes = validation.metadata_problems(obj, rtype.group, rtype.kind)
        if rtype.crd is not None:
            validator = self._crd_validators.get((rtype.group, rtype.version, rtype.plural))
            if validator is not None:
                causes += validator(self._present(rtype, obj))
        else:
            try:
                causes += schemas.validate_builtin(obj, self.k8s_version)
            except LookupError as e:
                raise ApiError(500, "InternalError", f"the emulator cannot validate this kind: {e}") from e
            causes += validation.kind_problems(obj, rtype.group, rtype.kind)
            if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
                for index, version in enumerate((obj.get("spec") or {}).get("versions") or []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    causes += schemas.structural_problems(schema, f"spec.versions[{index}].schema.openAPIV3Schema")
        if causes:
            raise self._invalid(rtype, str((obj.get("metadata") or {}).get("name", "")), causes)

    def _check_identity(self, rtype: ResourceType, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise _bad_request("the body of the request must be an object")
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        if obj["apiVersion"] != rtype.api_version:
            raise _bad_request(
                f"the API version in the data ({obj['apiVersion']}) does not match the expected API version "
                f"({rtype.api_version})"
            )
        if obj["kind"] != rtype.kind:
            raise _bad_request(f"the kind in the data ({obj['kind']}) does not match the expected kind ({rtype.kind})")
        if not isinstance(obj.setdefault("metadata", {}), dict):
            raise _bad_request("metadata must be an object")
        return obj

    def _generate_name(self, rtype: ResourceType, namespace: str | None, prefix: str) -> str:
        for _ in range(100):
            name = prefix + "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(5))
            if self._current(rtype, namespace, name) is None:
                return name
        raise ApiError(409, "AlreadyExists", f"could not generate a unique name for {prefix}")

    def _create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        keep_status: bool = False,
        owners: dict[str, frozenset[applying.FieldPath]] | None = None,
        manager: str | None = None,
    ) -> dict[str, Any]:
        obj = self._check_identity(rtype, copy.deepcopy(body))
        meta = obj["metadata"]
        if rtype.namespaced:
            if not namespace:
                raise _bad_request("a namespaced object needs a namespace")
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise _bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for server_field in _SERVER_METADATA:
            meta.pop(server_field, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(rtype, namespace, str(meta["generateName"]))
        name = str(meta.get("name") or "")
        if rtype.has_status and not keep_status:
            obj.pop("status", None)
        if (
            rtype.namespaced
            and namespace is not None
            and self._current(self._types[("", "v1", "namespaces")], None, namespace) is None
        ):
            raise ApiError(
                404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
            )
        if name and self._current(rtype, namespace, name) is not None:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{rtype.label} "{name}" already exists',
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        meta["uid"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = workloads.rfc3339(self.clock.now())
        meta["generation"] = 1
        if (rtype.group, rtype.kind) == ("batch", "Job") and name:
            workloads.default_job(obj)
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            obj["status"] = self._crd_status(obj)
        if rtype.kind == "Namespace" and rtype.group == "":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        key = self._key(rtype, namespace, name)
        if owners and manager:
            meta["managedFields"] = self._managed_fields(key, rtype, {"": owners}, touched={("", manager)})
        self._default(rtype, obj)
        self._validate(rtype, obj)
        self._stored_form(rtype, obj)
        if dry_run:
            return obj
        if owners:
            self._owners[key] = {"": owners}
        return self._store(rtype, obj, None)

    def _crd_status(self, crd: Mapping[str, Any]) -> dict[str, Any]:
        spec = crd.get("spec") or {}
        now = workloads.rfc3339(self.clock.now())
        return {
            "acceptedNames": dict(spec.get("names") or {}),
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
        }

    def _update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        candidate: Any,
        subresource: str | None,
        *,
        dry_run: bool = False,
        owners: dict[str, dict[str, frozenset[applying.FieldPath]]] | None = None,
        manager: str | None = None,
    ) -> dict[str, Any]:
        """Turn the candidate a write produced into the next stored version, the way the server does."""
        stored = self._current(rtype, namespace, name)
        if stored is None:
            raise self._not_found(rtype, name)
        current = self._present(rtype, stored)
        new = self._check_identity(rtype, candidate)
        meta, old_meta = new["metadata"], current["metadata"]
        if meta.get("name") not in (None, name):
            raise _bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rtype.namespaced and meta.get("namespace") not in (None, namespace):
            raise _bad_request("the namespace of the provided object does not match the namespace sent on the request")
        precondition = meta.get("resourceVersion")
        if precondition not in (None, "") and precondition != old_meta["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rtype.label} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        if meta.get("uid") not in (None, "", old_meta["uid"]):
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old_meta['uid']}",
            )
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(current)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif rtype.has_status:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        self._default(rtype, new)
        for server_field in _SERVER_METADATA:
            if server_field in old_meta:
                meta[server_field] = copy.deepcopy(old_meta[server_field])
            else:
                meta.pop(server_field, None)
        meta["name"] = name
        if rtype.namespaced:
            meta["namespace"] = namespace
        if "generateName" in old_meta:
            meta.setdefault("generateName", old_meta["generateName"])
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{rtype.kind} "{name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
                    f"added if the object is being deleted, found new finalizers {sorted(added)}",
                )
        key = self._key(rtype, namespace, name)
        if owners is not None and manager is not None:
            meta["managedFields"] = self._managed_fields(
                key, rtype, owners, touched={(subresource or "", manager)}, current=current
            )
        if self._spec_of(new) != self._spec_of(current):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        self._validate(rtype, new)
        self._stored_form(rtype, new)
        if new == stored:
            return stored  # nothing changes: no new resourceVersion, no watch event
        if dry_run:
            return new
        if owners is not None:
            self._owners[key] = owners
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
            return self._remove(rtype, new)
        return self._store(rtype, new, stored)

    @staticmethod
    def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}

    def _replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None,
        *,
        dry_run: bool,
    ) -> tuple[dict[str, Any], int]:
        if self._current(rtype, namespace, name) is None:
            raise self._not_found(rtype, name)
        has_version = isinstance(body, Mapping) and (body.get("metadata") or {}).get("resourceVersion")
        if rtype.crd is not None and not has_version:  # custom resources allow no unconditional update
            raise self._invalid(
                rtype,
                name,
                [
                    schemas.Cause(
                        "FieldValueInvalid",
                        "Invalid value: 0: must be specified for an update",
                        "metadata.resourceVersion",
                    )
                ],
            )
        return self._update(rtype, namespace, name, copy.deepcopy(body), subresource, dry_run=dry_run), 200

    def _patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        record: RequestRecord,
        subresource: str | None,
        *,
        dry_run: bool,
    ) -> tuple[dict[str, Any], int]:
        content_type = (record.content_type or "").split(";")[0].strip()
        if content_type == "application/apply-patch+yaml":
            return self._apply(rtype, namespace, name, body, record.query, subresource, dry_run=dry_run)
        stored = self._current(rtype, namespace, name)
        if stored is None:
            raise self._not_found(rtype, name)
        current = self._present(rtype, stored)
        try:
            if content_type == "application/merge-patch+json":
                candidate = patching.merge_patch(current, body)
            elif content_type == "application/json-patch+json":
                candidate = patching.json_patch(current, body)
            elif content_type == "application/strategic-merge-patch+json":
                if rtype.crd is not None:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: "
                        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    )
                candidate = patching.strategic_merge_patch(current, body)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format: {content_type or 'none'}",
                )
        except patching.PatchConflict as e:
            raise ApiError(
                422, "Invalid", f"the server rejected our request due to an error in our request: {e}"
            ) from e
        except patching.PatchError as e:
            raise _bad_request(str(e)) from e
        return self._update(rtype, namespace, name, candidate, subresource, dry_run=dry_run), 200

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        config: Any,
        query: Mapping[str, str],
        subresource: str | None,
        *,
        dry_run: bool,
    ) -> tuple[dict[str, Any], int]:
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            )
        force = query.get("force") == "true"
        if not isinstance(config, dict):
            raise _bad_request("an apply configuration must be an object")
        if "apiVersion" not in config or "kind" not in config:
            raise _bad_request("apiVersion and kind must be set in an apply configuration")
        config = self._check_identity(rtype, copy.deepcopy(config))
        meta = config["metadata"]
        if meta.get("name") not in (None, name):
            raise _bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rtype.namespaced and meta.get("namespace") not in (None, namespace):
            raise _bad_request("the namespace of the provided object does not match the namespace sent on the request")
        realm = subresource or ""
        if rtype.has_status:
            config = (
                {k: v for k, v in config.items() if k in ("apiVersion", "kind", "metadata", "status")}
                if realm == "status"
                else {k: v for k, v in config.items() if k != "status"}
            )
        stored = self._current(rtype, namespace, name)
        key = self._key(rtype, namespace, name)
        if stored is None:
            if realm:
                raise self._not_found(rtype, name)
            merged, new_owners = applying.server_side_apply({}, config, manager=manager, owners={}, force=force)
            merged.setdefault("metadata", {})["name"] = name
            return self._create(rtype, namespace, merged, dry_run=dry_run, owners=new_owners, manager=manager), 201
        all_owners = copy.deepcopy(self._owners.get(key, {}))
        try:
            merged, realm_owners = applying.server_side_apply(
                self._present(rtype, stored), config, manager=manager, owners=all_owners.get(realm, {}), force=force
            )
        except applying.ApplyConflict as e:
            causes = [
                {"reason": "FieldManagerConflict", "message": f'conflict with "{c.manager}"', "field": c.field}
                for c in e.conflicts
            ]
            listing = "\n".join(f'- conflict with "{c.manager}": {c.field}' for c in e.conflicts)
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(e.conflicts)} conflict(s):\n{listing}",
                {"name": name, "group": rtype.group, "kind": rtype.plural, "causes": causes},
            ) from e
        all_owners[realm] = realm_owners
        return self._update(
            rtype, namespace, name, merged, subresource, dry_run=dry_run, owners=all_owners, manager=manager
        ), 200

    def _managed_fields(
        self,
        key: ObjectKey,
        rtype: ResourceType,
        owners: Mapping[str, Mapping[str, frozenset[applying.FieldPath]]],
        *,
        touched: set[tuple[str, str]],
        current: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        previous = self._owners.get(key, {})
        times = self._owner_times.setdefault(key, {})
        now = workloads.rfc3339(self.clock.now())
        entries: list[dict[str, Any]] = []
        for realm, managers in sorted(owners.items()):
            for manager, paths in sorted(managers.items()):
                changed = (realm, manager) in touched and previous.get(realm, {}).get(manager) != paths
                if changed or (realm, manager) not in times:
                    times[(realm, manager)] = now
                entry: dict[str, Any] = {
                    "manager": manager,
                    "operation": "Apply",
                    "apiVersion": rtype.api_version,
                    "time": times[(realm, manager)],
                    "fieldsType": "FieldsV1",
                    "fieldsV1": applying.fields_v1(paths),
                }
                if realm:
                    entry["subresource"] = realm
                entries.append(entry)
        return entries

    def _delete(
        self, rtype: ResourceType, namespace: str | None, name: str, options: Any, *, dry_run: bool
    ) -> aiohttp.web.Response:
        current = self._current(rtype, namespace, name)
        if current is None:
            raise self._not_found(rtype, name)
        preconditions = (options or {}).get("preconditions") or {} if isinstance(options, Mapping) else {}
        meta = current["metadata"]
        if preconditions.get("uid") not in (None, meta["uid"]):
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {meta['uid']}",
            )
        if preconditions.get("resourceVersion") not in (None, meta["resourceVersion"]):
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: ResourceVersion in precondition: {preconditions['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp") or dry_run:
                return _json(self._present(rtype, current), 202)
            pending = copy.deepcopy(current)
            pending["metadata"]["deletionTimestamp"] = workloads.rfc3339(self.clock.now())
            pending["metadata"]["deletionGracePeriodSeconds"] = 0
            pending["metadata"]["generation"] = int(meta.get("generation", 1)) + 1
            return _json(self._present(rtype, self._store(rtype, pending, current)), 202)
        gone = current if dry_run else self._remove(rtype, current)
        if rtype.crd is not None or (rtype.group, rtype.kind) in (
            ("", "Namespace"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ):
            return _json(self._present(rtype, gone))
        return _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "group": rtype.group, "kind": rtype.plural, "uid": meta["uid"]},
            }
        )

    def _delete_collection(
        self, rtype: ResourceType, namespace: str | None, query: Mapping[str, str], *, dry_run: bool
    ) -> dict[str, Any]:
        labels, fields = self._selectors(rtype, query)
        deleted: list[dict[str, Any]] = []
        for obj in self._matching(rtype, namespace, labels, fields):
            meta = obj["metadata"]
            if dry_run:
                deleted.append(obj)
            elif meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    pending = copy.deepcopy(obj)
                    pending["metadata"]["deletionTimestamp"] = workloads.rfc3339(self.clock.now())
                    pending["metadata"]["deletionGracePeriodSeconds"] = 0
                    deleted.append(self._store(rtype, pending, obj))
            else:
                deleted.append(self._remove(rtype, obj))
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": [self._present(rtype, o) for o in deleted],
        }

    # ---- pod logs -----------------------------------------------------------------------------------

    async def _pod_log(
        self, request: kmock.Request, namespace: str, name: str, query: Mapping[str, str]
    ) -> aiohttp.web.StreamResponse:
        pods = self._types[("", "v1", "pods")]
        pod = self._current(pods, namespace, name)
        if pod is None:
            raise self._not_found(pods, name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        containers += [c["name"] for c in pod["spec"].get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(pod["spec"].get("containers") or []) != 1:
                raise _bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
                )
            container = containers[0]
        if container not in containers:
            raise _bad_request(f"container {container} is not valid for pod {name}")
        key = (namespace, name, container)
        if query.get("previous") == "true":
            buffer = self._previous_logs.get(key)
            if buffer is None:
                raise _bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        else:
            state = next(
                (
                    s.get("state") or {}
                    for s in (pod.get("status") or {}).get("containerStatuses") or []
                    if s.get("name") == container
                ),
                {},
            )
            if "running" not in state and "terminated" not in state and key not in self._pod_logs:
                reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
                message = _WAITING_MESSAGES.get(reason, reason)
                raise _bad_request(f'container "{container}" in pod "{name}" is waiting to start: {message}')
            buffer = self._pod_logs.setdefault(key, _LogBuffer())
        text = "".join(buffer.chunks)
        if query.get("tailLines"):
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]) :]) if int(query["tailLines"]) > 0 else ""
        if query.get("follow") != "true":
            return aiohttp.web.Response(text=text, content_type="text/plain")
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        raw = request._raw_request
        assert raw is not None
        await response.prepare(raw)
        if text:
            await response.write(text.encode())
        position = len(buffer.chunks)
        while not self._closing:
            while position < len(buffer.chunks):
                await response.write(buffer.chunks[position].encode())
                position += 1
            if buffer.done:
                break
            signal = self._signal
            assert signal is not None
            await signal.wait()
        return response

    # ---- public helpers (callable from the test's thread) ---------------------------------------------

    def get_object(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object (a copy); `resource` as in `resource_type()`. KeyError when absent."""

        def read() -> dict[str, Any]:
            rtype = self.resource_type(resource)
            obj = self._current(rtype, namespace, name)
            if obj is None:
                raise KeyError(f"{resource} {namespace}/{name} does not exist")
            return copy.deepcopy(self._present(rtype, obj))

        result: dict[str, Any] = self._in_loop(read)
        return result

    def list_objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            rtype = self.resource_type(resource)
            return [copy.deepcopy(self._present(rtype, o)) for o in self._matching(rtype, namespace, (), ())]

        result: list[dict[str, Any]] = self._in_loop(read)
        return result

    def put_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or replace it (status included), through the same validation as the API."""

        def write() -> dict[str, Any]:
            rtype = self._type_of(obj)
            namespace = (obj.get("metadata") or {}).get("namespace") if rtype.namespaced else None
            name = str((obj.get("metadata") or {}).get("name"))
            if self._current(rtype, namespace, name) is None:
                return copy.deepcopy(self._create(rtype, namespace, copy.deepcopy(dict(obj)), keep_status=True))
            body = copy.deepcopy(dict(obj))
            body.get("metadata", {}).pop("resourceVersion", None)
            updated = self._update(rtype, namespace, name, body, None)
            if rtype.has_status and "status" in obj:
                status_body = {**copy.deepcopy(updated), "status": copy.deepcopy(obj["status"])}
                updated = self._update(rtype, namespace, name, status_body, "status")
            return copy.deepcopy(updated)

        result: dict[str, Any] = self._in_loop(write)
        return result

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block the test's thread until `predicate()` holds, re-checking after every write (no polling).

        The predicate runs without the emulator's lock held, so it may call the helpers above."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._writes
            if predicate():
                return
            with self._changed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._changed.wait_for(partial(self._written_since, seen), timeout=remaining):
                    if predicate():
                        return
                    raise AssertionError(f"condition not met within {timeout} s")

    def _written_since(self, seen: int) -> bool:
        return self._writes != seen

    def wait_for_object(self, resource: str, namespace: str | None, name: str, timeout: float = 10.0) -> dict[str, Any]:
        def exists() -> bool:
            try:
                self.get_object(resource, namespace, name)
            except KeyError:
                return False
            return True

        self.wait_for(exists, timeout)
        return self.get_object(resource, namespace, name)

    def send_bookmarks(self) -> None:
        """Send a BOOKMARK now on every watch that allows them."""

        def bump() -> None:
            self._bookmark_epoch += 1
            self._wake()

        self._in_loop(bump)

    def expire_watch_history(self) -> None:
        """Forget history: watches from an older resourceVersion get 410 Gone, open watches end with it."""

        def expire() -> None:
            self._compacted_rv = self._rv
            self._expiry_epoch += 1
            self._wake()

        self._in_loop(expire)

    def _mutate(
        self, resource: str, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Apply a controller's change to the object and its status, as two writes when it has a status subresource."""

        def write() -> dict[str, Any]:
            rtype = self.resource_type(resource)
            current = self._current(rtype, namespace, name)
            if current is None:
                raise KeyError(f"{resource} {namespace}/{name} does not exist")
            changed = change(copy.deepcopy(current))
            updated = self._update(rtype, namespace, name, copy.deepcopy(changed), None)
            if rtype.has_status:
                status_body = {**copy.deepcopy(updated), "status": changed.get("status")}
                updated = self._update(rtype, namespace, name, status_body, "status")
            return copy.deepcopy(updated)

        result: dict[str, Any] = self._in_loop(write)
        return result

    def create_job_from_cronjob(
        self, namespace: str, cronjob: str, scheduled_time: datetime, *, name: str | None = None
    ) -> dict[str, Any]:
        """What the CronJob controller does at a scheduled time: the Job (with the scheduled-timestamp
        annotation and a controller owner reference), then the CronJob's status.active and lastScheduleTime."""

        def write() -> dict[str, Any]:
            cronjobs = self.resource_type("batch/v1/cronjobs")
            parent = self._current(cronjobs, namespace, cronjob)
            if parent is None:
                raise KeyError(f"cronjob {namespace}/{cronjob} does not exist")
            job = self._create(
                self.resource_type("batch/v1/jobs"), namespace, workloads.job_from_cronjob(parent, scheduled_time, name)
            )
            started = workloads.cronjob_job_started(parent, job, scheduled_time)
            self._update(cronjobs, namespace, cronjob, started, "status")
            return copy.deepcopy(job)

        result: dict[str, Any] = self._in_loop(write)
        return result

    def create_pod_for_job(self, namespace: str, job: str, *, name: str | None = None) -> dict[str, Any]:
        """What the Job controller does: a Pod from the template (Pending), and the Job's status.active."""

        def write() -> dict[str, Any]:
            jobs = self.resource_type("batch/v1/jobs")
            parent = self._current(jobs, namespace, job)
            if parent is None:
                raise KeyError(f"job {namespace}/{job} does not exist")
            pods = self.resource_type("v1/pods")
            pod_name = name or self._generate_name(pods, namespace, f"{job}-")
            pod = self._create(
                pods, namespace, workloads.pod_for_job(parent, pod_name, self.clock.now()), keep_status=True
            )
            active = workloads.job_active(parent, self.clock.now())
            self._update(jobs, namespace, job, active, "status")
            return copy.deepcopy(pod)

        result: dict[str, Any] = self._in_loop(write)
        return result

    def set_pod_running(self, namespace: str, pod: str, *, container: str | None = None) -> dict[str, Any]:
        def change(obj: dict[str, Any]) -> dict[str, Any]:
            target = container or obj["spec"]["containers"][0]["name"]
            key = (namespace, pod, target)
            old = self._pod_logs.get(key)
            if old is not None and old.done:
                self._previous_logs[key] = old
                self._pod_logs[key] = _LogBuffer()
            self._pod_logs.setdefault(key, _LogBuffer())
            return workloads.pod_running(obj, self.clock.now(), container)

        return self._mutate("v1/pods", namespace, pod, change)

    def append_log(self, namespace: str, pod: str, text: str, *, container: str | None = None) -> None:
        """Add `text` to the container's log (what `GET …/log` returns and `follow` streams)."""

        def write() -> None:
            obj = self._current(self.resource_type("v1/pods"), namespace, pod)
            if obj is None:
                raise KeyError(f"pod {namespace}/{pod} does not exist")
            target = container or obj["spec"]["containers"][0]["name"]
            self._pod_logs.setdefault((namespace, pod, target), _LogBuffer()).chunks.append(text)
            self._wake()

        self._in_loop(write)

    def set_pod_terminated(
        self,
        namespace: str,
        pod: str,
        *,
        exit_code: int = 0,
        reason: str | None = None,
        message: str | None = None,
        container: str | None = None,
    ) -> dict[str, Any]:
        """The container exits (reason Completed/Error by exit code, or e.g. OOMKilled with 137); followed
        logs end. With restartPolicy OnFailure a non-zero exit restarts it (CrashLoopBackOff)."""

        def change(obj: dict[str, Any]) -> dict[str, Any]:
            target = container or obj["spec"]["containers"][0]["name"]
            self._pod_logs.setdefault((namespace, pod, target), _LogBuffer()).done = True
            return workloads.pod_terminated(
                obj, self.clock.now(), exit_code=exit_code, reason=reason, message=message, container=container
            )

        updated = self._mutate("v1/pods", namespace, pod, change)
        self._in_loop(self._wake)  # end followed logs even when the status did not change
        return updated

    def set_pod_oom_killed(self, namespace: str, pod: str, *, container: str | None = None) -> dict[str, Any]:
        return self.set_pod_terminated(namespace, pod, exit_code=137, reason="OOMKilled", container=container)

    def set_pod_waiting(
        self,
        namespace: str,
        pod: str,
        reason: str = "ErrImagePull",
        *,
        message: str | None = None,
        container: str | None = None,
    ) -> dict[str, Any]:
        """The container cannot start: ErrImagePull, ImagePullBackOff, CreateContainerConfigError…"""
        return self._mutate(
            "v1/pods",
            namespace,
            pod,
            lambda obj: workloads.pod_waiting(obj, self.clock.now(), reason, message, container),
        )

    def set_pod_disrupted(
        self, namespace: str, pod: str, reason: str = "TerminationByKubelet", *, message: str | None = None
    ) -> dict[str, Any]:
        """A DisruptionTarget condition (PreemptionByScheduler, EvictionByEvictionAPI, TerminationByKubelet for
        a node shutting down, e.g. a spot interruption, DeletionByTaintManager), containers killed (143)."""

        def change(obj: dict[str, Any]) -> dict[str, Any]:
            for c in obj["spec"]["containers"]:
                self._pod_logs.setdefault((namespace, pod, c["name"]), _LogBuffer()).done = True
            return workloads.pod_disrupted(obj, self.clock.now(), reason, message)

        updated = self._mutate("v1/pods", namespace, pod, change)
        self._in_loop(self._wake)
        return updated

    def _finish_job(
        self, namespace: str, job: str, change: Callable[[dict[str, Any]], dict[str, Any]], succeeded: bool
    ) -> dict[str, Any]:
        updated = self._mutate("batch/v1/jobs", namespace, job, change)

        def cronjob_status() -> None:
            for ref in updated["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "CronJob" and ref.get("controller"):
                    cronjobs = self.resource_type("batch/v1/cronjobs")
                    parent = self._current(cronjobs, namespace, ref["name"])
                    if parent is not None:
                        finished = workloads.cronjob_job_finished(parent, updated, succeeded, self.clock.now())
                        self._update(cronjobs, namespace, ref["name"], finished, "status")

        self._in_loop(cronjob_status)
        return updated

    def set_job_succeeded(self, namespace: str, job: str) -> dict[str, Any]:
        """Conditions SuccessCriteriaMet and Complete; the owning CronJob's lastSuccessfulTime."""
        return self._finish_job(namespace, job, lambda obj: workloads.job_succeeded(obj, self.clock.now()), True)

    def set_job_failed(
        self, namespace: str, job: str, reason: str = "BackoffLimitExceeded", *, message: str | None = None
    ) -> dict[str, Any]:
        """Conditions FailureTarget and Failed with `reason`: BackoffLimitExceeded, DeadlineExceeded…"""
        return self._finish_job(
            namespace, job, lambda obj: workloads.job_failed(obj, self.clock.now(), reason, message), False
        )


@contextlib.contextmanager
def running_emulator(**options: Any) -> Iterator[KubeEmulator]:
    """Serve a new emulator from a background thread for the duration of the block."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            emulator = KubeEmulator(**options)
            stop = asyncio.Event()
            state["emulator"], state["stop"], state["loop"] = emulator, stop, asyncio.get_running_loop()
            await emulator.serve(ready.set, stop)

        try:
            asyncio.run(main())
        except BaseException as e:  # surface startup failures in the test's thread
            state["error"] = e
            ready.set()

    thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
    started = time.monotonic()
    thread.start()
    ready.wait(timeout=30)
    if "error" in state:
        raise RuntimeError("the Kubernetes emulator failed to start") from state["error"]
    if "emulator" not in state:
        raise RuntimeError(f"the Kubernetes emulator did not start within {time.monotonic() - started:.0f} s")
    try:
        yield state["emulator"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout=30)
