"""The emulator behaves like the API server where sengu depends on it, driven by the official client.

Tests that take only `kube` also run against a real cluster (SENGU_E2E_CLUSTER=1): they are the
evidence that the emulator's answers match a real server's. Tests that take `emulator` use its helpers.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import kmock
import kopf
import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.kube.emulator import KubeEmulator, running_emulator
from tests.kube.fixtures import KubeTarget

APPLY = "application/apply-patch+yaml"
CRD_GROUP = "test.sengu.dev"


def cronjob(name: str, *, labels: dict[str, str] | None = None, image: str = "busybox:1.36") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "schedule": "*/5 * * * *",
            "suspend": True,  # on a real cluster (SENGU_E2E_CLUSTER=1) nothing runs
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": image, "command": ["sh", "-c", "echo hi"]}],
                        }
                    },
                }
            },
        },
    }


def widget_crd(*, status: bool = True) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "minimum": 1},
                            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                        },
                    },
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    if status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{CRD_GROUP}"},
        "spec": {
            "group": CRD_GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [version],
        },
    }


def widget(name: str, size: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{CRD_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **extra},
    }


def create_widget_crd(kube: KubeTarget, *, status: bool = True) -> None:
    extensions = client.ApiextensionsV1Api(kube.api)
    extensions.create_custom_resource_definition(widget_crd(status=status))
    deadline = time.monotonic() + 30
    while not kube.emulated:  # a real server establishes a CRD asynchronously; nothing to inject a clock into
        conditions = extensions.read_custom_resource_definition(f"widgets.{CRD_GROUP}").status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions) or time.monotonic() > deadline:
            break
        time.sleep(0.2)


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def raw(kube: KubeTarget, method: str, path: str) -> Any:
    status, body = kube.request(method, path)
    assert status == 200, body
    return body


# ---- discovery, reads, metadata ---------------------------------------------------------------------


def test_discovery_serves_core_and_groups_and_the_namespace_list(kube: KubeTarget) -> None:
    core = raw(kube, "GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    assert {"name": "pods/log", "kind": "Pod"}.items() <= next(
        r for r in core["resources"] if r["name"] == "pods/log"
    ).items()
    groups = {g["name"]: g for g in raw(kube, "GET", "/apis")["groups"]}
    assert groups["batch"]["preferredVersion"]["version"] == "v1"
    assert "events.k8s.io" in groups and "coordination.k8s.io" in groups
    batch = raw(kube, "GET", "/apis/batch/v1")
    assert {r["name"] for r in batch["resources"]} >= {"cronjobs", "cronjobs/status", "jobs", "jobs/status"}
    names = [n.metadata.name for n in client.CoreV1Api(kube.api).list_namespace().items]
    assert kube.namespace in names and "default" in names
    assert client.VersionApi(kube.api).get_code().major == "1"


def test_create_assigns_uid_timestamp_generation_and_resource_versions(kube: KubeTarget) -> None:
    batch = client.BatchV1Api(kube.api)
    created = batch.create_namespaced_cron_job(kube.namespace, cronjob("nightly"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp is not None and meta.generation == 1
    first = int(meta.resource_version)

    labelled = batch.patch_namespaced_cron_job("nightly", kube.namespace, {"metadata": {"labels": {"team": "a"}}})
    assert int(labelled.metadata.resource_version) > first
    assert labelled.metadata.generation == 1, "metadata changes do not bump generation"

    respec = batch.patch_namespaced_cron_job("nightly", kube.namespace, {"spec": {"schedule": "0 3 * * *"}})
    assert respec.metadata.generation == 2
    assert int(respec.metadata.resource_version) > int(labelled.metadata.resource_version)
    assert respec.metadata.uid == meta.uid

    same = batch.patch_namespaced_cron_job("nightly", kube.namespace, {"spec": {"schedule": "0 3 * * *"}})
    assert same.metadata.resource_version == respec.metadata.resource_version, "a no-op patch is not a write"


def test_lists_carry_kind_and_resource_version_and_page(kube: KubeTarget) -> None:
    batch = client.BatchV1Api(kube.api)
    for name in ("a", "b", "c"):
        batch.create_namespaced_cron_job(kube.namespace, cronjob(name))
    listed = raw(kube, "GET", f"/apis/batch/v1/namespaces/{kube.namespace}/cronjobs")
    assert listed["kind"] == "CronJobList" and listed["apiVersion"] == "batch/v1"
    assert int(listed["metadata"]["resourceVersion"]) >= max(
        int(i["metadata"]["resourceVersion"]) for i in listed["items"]
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a", "b", "c"]

    page = batch.list_namespaced_cron_job(kube.namespace, limit=2)
    assert [i.metadata.name for i in page.items] == ["a", "b"] and page.metadata._continue
    rest = batch.list_namespaced_cron_job(kube.namespace, limit=2, _continue=page.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["c"] and not rest.metadata._continue


def test_generate_name_and_put_with_a_stale_resource_version(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    made = core.create_namespaced_config_map(kube.namespace, {"metadata": {"generateName": "cfg-"}, "data": {"a": "1"}})
    assert made.metadata.name.startswith("cfg-") and len(made.metadata.name) == len("cfg-") + 5

    body = made.to_dict()
    body["data"] = {"a": "2"}
    replaced = core.replace_namespaced_config_map(made.metadata.name, kube.namespace, body)
    assert replaced.data == {"a": "2"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map(made.metadata.name, kube.namespace, body)  # still the old resourceVersion
    assert stale.value.status == 409 and status_of(stale.value)["reason"] == "Conflict"


def test_dry_run_validates_but_never_writes(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    answer = core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "ghost"}}, dry_run="All")
    assert answer.metadata.name == "ghost"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("ghost", kube.namespace)
    assert missing.value.status == 404
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "Bad_Name"}}, dry_run="All")
    assert invalid.value.status == 422


def test_objects_in_a_missing_namespace_are_not_found(kube: KubeTarget) -> None:
    with pytest.raises(ApiException) as missing:
        client.CoreV1Api(kube.api).create_namespaced_config_map("no-such-namespace", {"metadata": {"name": "x"}})
    assert missing.value.status == 404


# ---- watches and selectors ----------------------------------------------------------------------------


def _events(kube: KubeTarget, count: int, **kwargs: Any) -> list[tuple[str, str]]:
    """The first `count` events of a ConfigMap watch, as (type, name); closes the stream after."""
    seen: list[tuple[str, str]] = []
    stream: Iterator[dict[str, Any]] = watch.Watch().stream(
        client.CoreV1Api(kube.api).list_namespaced_config_map, kube.namespace, timeout_seconds=5, **kwargs
    )
    try:
        for event in stream:
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == count:
                break
    finally:
        stream.close()  # type: ignore[attr-defined]
    return seen


def test_a_watch_resumes_from_the_list_resource_version_without_losing_events(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "before"}})
    listed = core.list_namespaced_config_map(kube.namespace)
    since = listed.metadata.resource_version
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "between"}})
    core.patch_namespaced_config_map("before", kube.namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("between", kube.namespace)

    assert _events(kube, 3, resource_version=since) == [
        ("ADDED", "between"),
        ("MODIFIED", "before"),
        ("DELETED", "between"),
    ]
    assert _events(kube, 1) == [("ADDED", "before")], "without a resourceVersion a watch starts with the current state"


def test_label_selectors_filter_lists_and_watches(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    for name, labels in (("x", {"tier": "a"}), ("y", {"tier": "b", "canary": "1"}), ("z", {"tier": "c"})):
        labels["suite"] = "selectors"  # a real namespace also holds kube-root-ca.crt
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        found = core.list_namespaced_config_map(kube.namespace, label_selector=f"suite=selectors,{selector}")
        return [c.metadata.name for c in found.items]

    assert names("tier=a") == ["x"]
    assert names("tier!=a") == ["y", "z"]
    assert names("canary") == ["y"]
    assert names("!canary") == ["x", "z"]
    assert names("tier in (a, c)") == ["x", "z"]
    assert names("tier notin (a),canary") == ["y"]
    with pytest.raises(ApiException) as bad:
        names("tier in (a")
    assert bad.value.status == 400

    since = core.list_namespaced_config_map(kube.namespace).metadata.resource_version
    leaves, joins = {"metadata": {"labels": {"tier": "c"}}}, {"metadata": {"labels": {"tier": "a"}}}
    core.patch_namespaced_config_map("x", kube.namespace, leaves)
    core.patch_namespaced_config_map("z", kube.namespace, joins)
    assert _events(kube, 2, resource_version=since, label_selector="tier in (a,b)") == [
        ("DELETED", "x"),
        ("ADDED", "z"),
    ]


def test_field_selector_on_metadata_name_and_unsupported_fields(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    for name in ("one", "two"):
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": name}})
    found = core.list_namespaced_config_map(kube.namespace, field_selector="metadata.name=two").items
    assert [c.metadata.name for c in found] == ["two"]
    assert _events(kube, 1, field_selector="metadata.name=two") == [("ADDED", "two")]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map(kube.namespace, field_selector="data.key=x")
    assert bad.value.status == 400


def test_bookmarks_initial_events_and_expired_history(emulator: KubeEmulator, kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "seen"}})
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    params = {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
    }
    with (
        httpx.Client(base_url=emulator.server_url, timeout=5) as http,
        http.stream("GET", path, params=params) as stream,
    ):
        lines = stream.iter_lines()
        added = json.loads(next(lines))
        assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "seen")
        end = json.loads(next(lines))
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        emulator.send_bookmarks()
        again = json.loads(next(lines))
        assert again["type"] == "BOOKMARK" and again["object"]["kind"] == "ConfigMap"

    with httpx.Client(base_url=emulator.server_url, timeout=5) as http:
        ended = http.get(path, params={"watch": "true", "timeoutSeconds": "1"})  # returns: the server ends it
    assert [json.loads(line)["type"] for line in ended.text.splitlines()] == ["ADDED"]

    old = core.list_namespaced_config_map(kube.namespace).metadata.resource_version
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "later"}})
    emulator.expire_watch_history()
    with httpx.Client(base_url=emulator.server_url, timeout=5) as http:
        gone = json.loads(http.get(path, params={"watch": "true", "resourceVersion": old}).text.splitlines()[0])
    assert gone["type"] == "ERROR" and gone["object"]["code"] == 410


# ---- patches and server-side apply --------------------------------------------------------------------


def test_server_side_apply_creates_sets_removes_and_reports_conflicts(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)

    def apply(body: dict[str, Any], manager: str, force: bool = False) -> Any:
        return core.patch_namespaced_config_map(
            "applied", kube.namespace, body, field_manager=manager, force=force, _content_type=APPLY
        )

    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied", "labels": {"a": "1"}}}
    created = apply({**config, "data": {"keep": "1", "drop": "2"}}, "sengu")
    assert created.data == {"keep": "1", "drop": "2"}
    assert [m.manager for m in created.metadata.managed_fields] == ["sengu"]

    updated = apply({**config, "data": {"keep": "1"}}, "sengu")
    assert updated.data == {"keep": "1"}, "a field the manager stopped applying is removed"
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    again = apply({**config, "data": {"keep": "1"}}, "sengu")
    assert again.metadata.resource_version == updated.metadata.resource_version, "re-applying the same is not a write"

    with pytest.raises(ApiException) as conflict:
        apply({**config, "data": {"keep": "other"}}, "someone-else")
    assert conflict.value.status == 409
    assert status_of(conflict.value)["details"]["causes"][0]["field"] == ".data.keep"
    forced = apply({**config, "data": {"keep": "other"}}, "someone-else", force=True)
    assert forced.data == {"keep": "other"}

    with pytest.raises(ApiException) as no_manager:
        core.patch_namespaced_config_map("applied", kube.namespace, config, _content_type=APPLY)
    assert no_manager.value.status in (400, 422)


def test_merge_json_and_strategic_patches(kube: KubeTarget) -> None:
    batch = client.BatchV1Api(kube.api)
    made = batch.create_namespaced_cron_job(kube.namespace, cronjob("patched"))

    # strategic merge (the client's default for a dict body): containers merge by name, finalizers as a set
    sidecar = {"name": "sidecar", "image": "busybox:1.36"}
    batch.patch_namespaced_cron_job(
        "patched",
        kube.namespace,
        {
            "metadata": {"finalizers": ["sengu.dev/a"]},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [sidecar]}}}}},
        },
    )
    merged = batch.patch_namespaced_cron_job("patched", kube.namespace, {"metadata": {"finalizers": ["sengu.dev/b"]}})
    containers = merged.spec.job_template.spec.template.spec.containers
    assert [c.name for c in containers] == ["main", "sidecar"]
    assert merged.metadata.finalizers == ["sengu.dev/a", "sengu.dev/b"]

    # merge patch: lists are replaced, null deletes
    replaced = batch.patch_namespaced_cron_job(
        "patched",
        kube.namespace,
        {"metadata": {"finalizers": None, "labels": {"app": None, "x": "1"}}},
        _content_type="application/merge-patch+json",
    )
    assert replaced.metadata.finalizers is None and replaced.metadata.labels == {"x": "1"}

    # JSON patch with a test: a stale resourceVersion is 422, as kopf expects
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": made.metadata.resource_version},
        {"op": "add", "path": "/metadata/labels/y", "value": "2"},
    ]
    with pytest.raises(ApiException) as stale:
        batch.patch_namespaced_cron_job("patched", kube.namespace, ops)
    assert stale.value.status == 422
    ops[0]["value"] = replaced.metadata.resource_version
    assert batch.patch_namespaced_cron_job("patched", kube.namespace, ops).metadata.labels == {"x": "1", "y": "2"}


def test_finalizers_delay_deletion_until_removed(kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "held", "finalizers": ["sengu.dev/hold"]}})
    since = core.list_namespaced_config_map(kube.namespace).metadata.resource_version
    core.delete_namespaced_config_map("held", kube.namespace)
    pending = core.read_namespaced_config_map("held", kube.namespace)
    assert pending.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "held", kube.namespace, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", kube.namespace)
    assert gone.value.status == 404
    assert _events(kube, 2, resource_version=since) == [("MODIFIED", "held"), ("DELETED", "held")]


# ---- validation ---------------------------------------------------------------------------------------


def test_built_in_objects_failing_the_official_schema_are_422_with_every_cause(
    emulator: KubeEmulator, kube: KubeTarget
) -> None:
    bad = cronjob("broken")
    container = bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicy"] = 7
    container["bogus"] = True
    code, status = kube.request("POST", f"/apis/batch/v1/namespaces/{kube.namespace}/cronjobs", bad)
    assert code == 422 and status["reason"] == "Invalid" and status["kind"] == "Status"
    fields = {c["field"] for c in status["details"]["causes"]}
    base = "spec.jobTemplate.spec.template.spec.containers[0]"
    assert fields == {f"{base}.imagePullPolicy", f"{base}.bogus"}
    assert emulator.list_objects("batch/v1/cronjobs", kube.namespace) == []


def test_api_server_rules_beyond_the_schema(kube: KubeTarget) -> None:
    batch = client.BatchV1Api(kube.api)
    with pytest.raises(ApiException) as too_long:
        batch.create_namespaced_cron_job(kube.namespace, cronjob("x" * 53))
    assert too_long.value.status == 422
    batch.create_namespaced_cron_job(kube.namespace, cronjob("x" * 52))

    always = cronjob("always")
    always["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(ApiException) as restart:
        batch.create_namespaced_cron_job(kube.namespace, always)
    assert restart.value.status == 422

    with pytest.raises(ApiException) as label:
        client.CoreV1Api(kube.api).create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": "l", "labels": {"bad key!": "v"}}}
        )
    assert label.value.status == 422


def test_custom_resources_follow_their_crd_schema_and_status_subresource(
    emulator: KubeEmulator, kube: KubeTarget
) -> None:
    create_widget_crd(kube)
    versions = raw(kube, "GET", f"/apis/{CRD_GROUP}/v1")
    assert [r["name"] for r in versions["resources"]] == ["widgets", "widgets/status"]
    custom = client.CustomObjectsApi(kube.api)
    ns = kube.namespace

    made = custom.create_namespaced_custom_object(
        CRD_GROUP, "v1", ns, "widgets", {**widget("w", 2), "status": {"x": 1}}
    )
    assert "status" not in made, "status is dropped on create when the status subresource is on"
    assert made["spec"] == {"size": 2, "color": "red"}, "the schema's defaults are filled in"
    for body in (widget("bad", 0), widget("bad", 1, color="green"), widget("bad", 1, shape="round")):
        with pytest.raises(ApiException) as invalid:
            custom.create_namespaced_custom_object(CRD_GROUP, "v1", ns, "widgets", body)
        assert invalid.value.status == 422, body

    ignored = custom.patch_namespaced_custom_object(CRD_GROUP, "v1", ns, "widgets", "w", {"status": {"phase": "x"}})
    assert "status" not in ignored, "a write to the object does not change its status"
    status = custom.patch_namespaced_custom_object_status(
        CRD_GROUP, "v1", ns, "widgets", "w", {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    )
    assert status["status"] == {"phase": "Ready"} and status["spec"]["size"] == 2
    assert status["metadata"]["generation"] == 1

    with pytest.raises(ApiException) as smp:
        custom.patch_namespaced_custom_object(
            CRD_GROUP,
            "v1",
            ns,
            "widgets",
            "w",
            {"spec": {"size": 3}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert smp.value.status == 415

    client.ApiextensionsV1Api(kube.api).delete_custom_resource_definition(f"widgets.{CRD_GROUP}")
    assert emulator.list_objects("v1/namespaces") and all(
        g["name"] != CRD_GROUP for g in raw(kube, "GET", "/apis")["groups"]
    )


def test_a_crd_serves_every_version_from_one_storage(emulator: KubeEmulator, kube: KubeTarget) -> None:
    crd = widget_crd()
    stored = crd["spec"]["versions"][0]
    crd["spec"]["versions"] = [stored, {**stored, "name": "v1beta1", "storage": False}]
    client.ApiextensionsV1Api(kube.api).create_custom_resource_definition(crd)
    group = raw(kube, "GET", f"/apis/{CRD_GROUP}")
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]

    custom = client.CustomObjectsApi(kube.api)
    made = custom.create_namespaced_custom_object(
        CRD_GROUP, "v1beta1", kube.namespace, "widgets", {**widget("w"), "apiVersion": f"{CRD_GROUP}/v1beta1"}
    )
    assert made["apiVersion"] == f"{CRD_GROUP}/v1beta1"
    read = custom.get_namespaced_custom_object(CRD_GROUP, "v1", kube.namespace, "widgets", "w")
    assert read["apiVersion"] == f"{CRD_GROUP}/v1" and read["metadata"]["uid"] == made["metadata"]["uid"]
    patched = custom.patch_namespaced_custom_object(
        CRD_GROUP, "v1beta1", kube.namespace, "widgets", "w", {"spec": {"size": 5}}
    )
    assert patched["apiVersion"] == f"{CRD_GROUP}/v1beta1" and patched["metadata"]["generation"] == 2

    with pytest.raises(ApiException) as unconditional:  # custom resources need a resourceVersion to be replaced
        custom.replace_namespaced_custom_object(CRD_GROUP, "v1", kube.namespace, "widgets", "w", widget("w", 6))
    assert unconditional.value.status == 422


def test_leases_support_optimistic_leader_election(kube: KubeTarget) -> None:
    leases = client.CoordinationV1Api(kube.api)
    spec = {"holderIdentity": "replica-a", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}
    lease = leases.create_namespaced_lease(kube.namespace, {"metadata": {"name": "sengu-operator"}, "spec": spec})
    mine, theirs = copy.deepcopy(lease), copy.deepcopy(lease)
    mine.spec.renew_time = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    leases.replace_namespaced_lease("sengu-operator", kube.namespace, mine)
    theirs.spec.holder_identity = "replica-b"
    with pytest.raises(ApiException) as lost:
        leases.replace_namespaced_lease("sengu-operator", kube.namespace, theirs)
    assert lost.value.status == 409
    assert leases.read_namespaced_lease("sengu-operator", kube.namespace).spec.holder_identity == "replica-a"


def test_crds_must_be_structural(emulator: KubeEmulator, kube: KubeTarget) -> None:
    crd = widget_crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["size"] = {"minimum": 1}  # no type
    schema["properties"]["spec"]["additionalProperties"] = False
    with pytest.raises(ApiException) as rejected:
        client.ApiextensionsV1Api(kube.api).create_custom_resource_definition(crd)
    fields = {c["field"] for c in status_of(rejected.value)["details"]["causes"]}
    base = "spec.versions[0].schema.openAPIV3Schema.properties[spec]"
    assert fields == {f"{base}.properties[size].type", f"{base}.additionalProperties"}


# ---- pods, logs, events, controller helpers ------------------------------------------------------------


def test_pod_logs_answer_after_start_and_follow_until_termination(emulator: KubeEmulator, kube: KubeTarget) -> None:
    ns = kube.namespace
    client.BatchV1Api(kube.api).create_namespaced_cron_job(ns, cronjob("logger"))
    job = emulator.create_job_from_cronjob(ns, "logger", datetime(2026, 1, 1, 3, 0, tzinfo=UTC))
    pod = emulator.create_pod_for_job(ns, job["metadata"]["name"])["metadata"]["name"]
    core = client.CoreV1Api(kube.api)
    with pytest.raises(ApiException) as waiting:
        core.read_namespaced_pod_log(pod, ns)
    assert waiting.value.status == 400 and "waiting to start" in status_of(waiting.value)["message"]

    emulator.set_pod_running(ns, pod)
    emulator.append_log(ns, pod, "line 1\n")
    assert core.read_namespaced_pod_log(pod, ns) == "line 1\n"

    chunks: list[str] = []
    first_chunk = threading.Event()

    def follow() -> None:
        response = core.read_namespaced_pod_log(pod, ns, follow=True, _preload_content=False)
        for chunk in response.stream(16):
            chunks.append(chunk.decode())
            first_chunk.set()

    follower = threading.Thread(target=follow)
    follower.start()
    assert first_chunk.wait(timeout=5) and chunks == ["line 1\n"]
    emulator.append_log(ns, pod, "line 2\n")
    emulator.set_pod_terminated(ns, pod, exit_code=3)
    follower.join(timeout=5)
    assert not follower.is_alive() and "".join(chunks) == "line 1\nline 2\n"
    assert core.read_namespaced_pod_log(pod, ns, tail_lines=1) == "line 2\n"
    state = core.read_namespaced_pod(pod, ns).status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (3, "Error")


def test_events_post_to_core_and_events_k8s_io(kube: KubeTarget) -> None:
    now = datetime.now(UTC)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "namespace": kube.namespace}
    core_event = client.CoreV1Api(kube.api).create_namespaced_event(
        kube.namespace,
        {
            "metadata": {"generateName": "c."},
            "involvedObject": ref,
            "reason": "Tested",
            "message": "core event",
            "type": "Normal",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": "sengu"},
        },
    )
    assert core_event.metadata.name.startswith("c.")
    new_event = client.EventsV1Api(kube.api).create_namespaced_event(
        kube.namespace,
        {
            "metadata": {"generateName": "c."},
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "regarding": ref,
            "reason": "Tested",
            "note": "events.k8s.io event",
            "type": "Warning",
            "action": "Check",
            "reportingController": "sengu.dev/operator",
            "reportingInstance": "sengu-0",
        },
    )
    assert new_event.reason == "Tested"


def test_cronjob_controller_helpers_are_shaped_like_kubernetes(emulator: KubeEmulator, kube: KubeTarget) -> None:
    ns = kube.namespace
    parent = client.BatchV1Api(kube.api).create_namespaced_cron_job(ns, cronjob("report"))
    scheduled = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    job = emulator.create_job_from_cronjob(ns, "report", scheduled)
    meta = job["metadata"]
    assert meta["name"] == f"report-{int(scheduled.timestamp()) // 60}"
    assert meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2026-01-01T03:00:00Z"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "report",
            "uid": parent.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}}
    status = client.BatchV1Api(kube.api).read_namespaced_cron_job(name="report", namespace=ns).status
    assert [a.name for a in status.active] == [meta["name"]] and status.last_schedule_time == scheduled

    pod = emulator.create_pod_for_job(ns, meta["name"])
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == meta["name"]
    oom = emulator.set_pod_oom_killed(ns, pod["metadata"]["name"])
    terminated = oom["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"], oom["status"]["phase"]) == ("OOMKilled", 137, "Failed")

    failed = emulator.set_job_failed(ns, meta["name"], "BackoffLimitExceeded")
    conditions = {c["type"]: c for c in failed["status"]["conditions"]}
    assert conditions["Failed"]["reason"] == "BackoffLimitExceeded" and conditions["Failed"]["status"] == "True"
    assert client.BatchV1Api(kube.api).read_namespaced_cron_job("report", ns).status.active is None

    late = emulator.create_job_from_cronjob(ns, "report", datetime(2026, 1, 1, 4, 0, tzinfo=UTC))
    pulled = emulator.create_pod_for_job(ns, late["metadata"]["name"])["metadata"]["name"]
    waiting = emulator.set_pod_waiting(ns, pulled, "ErrImagePull")["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull" and "busybox:1.36" in waiting["message"]
    evicted = emulator.set_pod_disrupted(ns, pulled, "TerminationByKubelet")
    assert {"type": "DisruptionTarget", "reason": "TerminationByKubelet", "status": "True"}.items() <= evicted[
        "status"
    ]["conditions"][-1].items()
    deadline = emulator.set_job_failed(ns, late["metadata"]["name"], "DeadlineExceeded")
    assert deadline["status"]["conditions"][-1]["message"] == "Job was active longer than specified deadline"

    done = emulator.create_job_from_cronjob(ns, "report", datetime(2026, 1, 1, 5, 0, tzinfo=UTC))
    complete = emulator.set_job_succeeded(ns, done["metadata"]["name"])
    assert [c["type"] for c in complete["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert client.BatchV1Api(kube.api).read_namespaced_cron_job("report", ns).status.last_successful_time is not None


# ---- request log, fault injection, fixtures ------------------------------------------------------------


def test_request_log_counts_writes_and_resets(emulator: KubeEmulator, kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "logged"}})
    emulator.reset_log()
    core.read_namespaced_config_map("logged", kube.namespace)
    core.list_namespaced_config_map(kube.namespace)
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    assert emulator.writes() == []
    assert len(emulator.writes(include_dry_run=True)) == 1
    core.patch_namespaced_config_map("logged", kube.namespace, {"data": {"a": "b"}})
    (write,) = emulator.writes()
    assert (write.method, write.path, write.content_type, write.status) == (
        "PATCH",
        f"/api/v1/namespaces/{kube.namespace}/configmaps/logged",
        "application/strategic-merge-patch+json",
        200,
    )
    emulator.reset_log()
    assert emulator.request_log == []


def test_kmock_reactions_inject_faults_before_the_emulation(emulator: KubeEmulator, kube: KubeTarget) -> None:
    core = client.CoreV1Api(kube.api)
    emulator[kmock.method.GET, kmock.resource("", "v1", "configmaps")] << 503
    with pytest.raises(ApiException) as unavailable:
        core.list_namespaced_config_map(kube.namespace)
    assert unavailable.value.status == 503


def test_the_fixture_exports_a_kubeconfig_for_default_loading(kube: KubeTarget) -> None:
    from kubernetes import config

    assert os.environ["KUBECONFIG"] == str(kube.kubeconfig) or not kube.emulated
    loaded = config.new_client_from_config()
    try:
        assert client.CoreV1Api(loaded).read_namespace(kube.namespace).metadata.name == kube.namespace
    finally:
        loaded.close()
    if kube.emulated:  # the process-wide default configuration, as code under test loads it
        config.load_config()
        assert client.Configuration.get_default_copy().host == kube.api.configuration.host


def test_the_e2e_switch_runs_the_same_tests_on_the_kubeconfig_cluster(tmp_path: Path) -> None:
    """SENGU_E2E_CLUSTER=1 (make e2e-cluster) with an emulator standing in for the real cluster."""
    with running_emulator() as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        env = {**os.environ, "SENGU_E2E_CLUSTER": "1", "KUBECONFIG": str(kubeconfig)}
        selection = "lists_carry_kind or leases_support or bookmarks_initial_events"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", selection],
            env=env,
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=60,
        )
        namespaces = [n["metadata"]["name"] for n in cluster.list_objects("v1/namespaces")]
        created = [r.path for r in cluster.request_log if r.method == "POST" and r.path == "/api/v1/namespaces"]
    assert "2 passed, 1 skipped" in run.stdout, run.stdout + run.stderr
    assert len(created) == 2 and not [n for n in namespaces if n.startswith("sengu-e2e-")], "namespaces cleaned up"


def test_periodic_bookmarks() -> None:
    with (
        running_emulator(bookmark_interval=0.05) as emulator,
        httpx.Client(base_url=emulator.server_url, timeout=5) as http,
        http.stream("GET", "/api/v1/namespaces", params={"watch": "true", "allowWatchBookmarks": "true"}) as stream,
    ):
        lines = stream.iter_lines()
        kinds = [json.loads(next(lines))["type"] for _ in range(6)]
    assert kinds[:4] == ["ADDED"] * 4 and kinds[4:] == ["BOOKMARK", "BOOKMARK"]


def test_stopping_the_emulator_ends_open_watches() -> None:
    answers: list[int] = []
    watching = threading.Event()
    with running_emulator() as emulator:
        url = f"{emulator.server_url}/api/v1/namespaces/default/configmaps"

        def watch_forever() -> None:
            with httpx.stream("GET", url, params={"watch": "true"}, timeout=10) as response:
                answers.append(response.status_code)
                watching.set()
                for _ in response.iter_lines():
                    pass

        watcher = threading.Thread(target=watch_forever)
        watcher.start()
        assert watching.wait(timeout=5)
    watcher.join(timeout=5)
    assert answers == [200] and not watcher.is_alive()


# ---- kopf ---------------------------------------------------------------------------------------------


def test_a_kopf_operator_reconciles_a_custom_resource(emulator: KubeEmulator, kube: KubeTarget) -> None:
    create_widget_crd(kube)
    registry = kopf.OperatorRegistry()
    core = client.CoreV1Api(kube.api)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.queueing.idle_timeout = 0.5
        settings.queueing.exit_timeout = 0.5

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=emulator.server_url, default_namespace=kube.namespace)

    @kopf.on.create(CRD_GROUP, "v1", "widgets", id="create_config_map", registry=registry)
    def create_config_map(
        name: str, namespace: str | None, spec: kopf.Spec, body: kopf.Body, **_: Any
    ) -> dict[str, str]:
        assert namespace is not None
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"widget-{name}"}, "data": {"size": str(spec["size"])}}
        )
        kopf.info(body, reason="Created", message=f"config map widget-{name}")
        return {"configMap": f"widget-{name}"}

    @kopf.on.delete(CRD_GROUP, "v1", "widgets", id="delete_config_map", registry=registry)
    def delete_config_map(name: str, namespace: str | None, **_: Any) -> None:
        assert namespace is not None
        core.delete_namespaced_config_map(f"widget-{name}", namespace)

    loop = asyncio.new_event_loop()
    task = loop.create_task(kopf.operator(registry=registry, standalone=True, clusterwide=True))

    def run() -> None:
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)

    operator = threading.Thread(target=run, name="kopf")
    operator.start()
    try:
        client.CustomObjectsApi(kube.api).create_namespaced_custom_object(
            CRD_GROUP, "v1", kube.namespace, "widgets", widget("w1", 3)
        )
        made = emulator.wait_for_object("v1/configmaps", kube.namespace, "widget-w1", timeout=15)
        assert made["data"] == {"size": "3"}
        emulator.wait_for(
            lambda: (
                emulator.get_object(f"{CRD_GROUP}/v1/widgets", kube.namespace, "w1")
                .get("status", {})
                .get("create_config_map")
                == {"configMap": "widget-w1"}
            ),
            timeout=15,
        )
        emulator.wait_for(lambda: bool(emulator.list_objects("v1/events", kube.namespace)), timeout=15)
        finalizers = emulator.get_object(f"{CRD_GROUP}/v1/widgets", kube.namespace, "w1")["metadata"]["finalizers"]
        assert finalizers == ["kopf.zalando.org/KopfFinalizerMarker"], "kopf guards its delete handler"

        client.CustomObjectsApi(kube.api).delete_namespaced_custom_object(
            CRD_GROUP, "v1", kube.namespace, "widgets", "w1"
        )
        emulator.wait_for(lambda: not emulator.list_objects(f"{CRD_GROUP}/v1/widgets", kube.namespace), timeout=15)
        assert [c["metadata"]["name"] for c in emulator.list_objects("v1/configmaps", kube.namespace)] == []
    finally:
        loop.call_soon_threadsafe(task.cancel)
        operator.join(timeout=15)
        loop.close()
    assert not operator.is_alive()
    assert [r for r in emulator.request_log if (r.status or 0) >= 500] == []
    (event, *_) = emulator.list_objects("v1/events", kube.namespace)
    assert (event["involvedObject"]["name"], event["reason"], event["source"]) == (
        "w1",
        "Created",
        {"component": "kopf"},
    )
