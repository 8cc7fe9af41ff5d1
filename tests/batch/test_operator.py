"""The operator's reconcile, failure watch and cluster commands, against the API emulator (or a real
cluster with SENGU_E2E_CLUSTER=1, where the tests that play the cluster's controllers skip)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sengu.batch.operator import APPLIED_HASH, BatchOperator
from sengu.batch.spec import RESOURCE
from sengu.core.crd import definition
from sengu.core.kube import Cluster
from tests.kube.fixtures import KubeTarget


def cluster_for(kube: KubeTarget) -> Cluster:
    return Cluster.connect(kubeconfig=str(kube.kubeconfig))


def manager_body(
    namespace: str, jobs: list[dict[str, Any]], *, name: str = "shop", stage: str = "high"
) -> dict[str, Any]:
    return {
        "apiVersion": "sengu.dev/v1alpha1",
        "kind": "CronjobManager",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "defaults": {"image": "registry.example.com/shop:1.2.3", "timeZone": "Asia/Tokyo", "backoffLimit": 1},
            "migration": {"stage": stage},
            "jobs": jobs,
        },
    }


def job(name: str, schedule: str = "H * * * *", priority: str = "low", **extra: Any) -> dict[str, Any]:
    return {"name": name, "schedule": schedule, "command": f"bin/{name}", "priority": priority, **extra}


def install(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    cluster.apply(definition(RESOURCE))
    return cluster.apply(body)


def fresh(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    got = cluster.get("sengu.dev/v1alpha1", "CronjobManager", body["metadata"]["name"], body["metadata"]["namespace"])
    assert got is not None
    return got


def cron_jobs(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    items = cluster.list_objects("batch/v1", "CronJob", namespace, labels={"sengu.dev/manager": "shop"})
    return {c["metadata"]["name"]: c for c in items}


def test_reconcile_creates_prunes_and_is_a_no_op_when_unchanged(kube: KubeTarget) -> None:
    cluster = cluster_for(kube)
    ns = kube.namespace
    body = install(cluster, manager_body(ns, [job("a"), job("b"), job("c", priority="high")], stage="middle"))
    operator = BatchOperator(cluster)

    result = operator.reconcile(body)
    assert result.error is None, result.error
    made = cron_jobs(cluster, ns)
    assert len(made) == 3 and len(result.applied) == 3
    owner = next(iter(made.values()))["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "CronjobManager" and owner["uid"] == body["metadata"]["uid"] and owner["controller"]
    assert all(APPLIED_HASH in c["metadata"]["annotations"] for c in made.values())
    status = fresh(cluster, body)["status"]
    assert set(status["jobs"]) == {"a", "b", "c"}
    assert status["jobs"]["c"]["suspended"] is True  # priority high is above stage middle
    assert made[status["jobs"]["c"]["cronJobs"][0]]["spec"]["suspend"] is True
    # Unchanged: not one write request.
    if kube.emulator is not None:
        kube.emulator.reset_log()
    again = operator.reconcile(fresh(cluster, body))
    assert again.applied == [] and again.deleted == [] and not again.status_written
    if kube.emulator is not None:
        assert kube.emulator.writes() == []

    # A job removed from the spec: its CronJob is pruned; a changed schedule is re-applied.
    body = fresh(cluster, body)
    body["spec"]["jobs"] = [job("a", schedule="*/5 * * * *"), job("c", priority="high")]
    cluster.apply(
        {k: body[k] for k in ("apiVersion", "kind", "spec")} | {"metadata": {"name": "shop", "namespace": ns}}
    )
    result = operator.reconcile(fresh(cluster, body))
    assert len(result.applied) == 1 and len(result.deleted) == 1
    left = cron_jobs(cluster, ns)
    assert len(left) == 2 and any(c["spec"]["schedule"] == "*/5 * * * *" for c in left.values())


def test_invalid_spec_is_reported_in_status_not_applied(kube: KubeTarget) -> None:
    cluster = cluster_for(kube)
    body = manager_body(kube.namespace, [job("a")])
    del body["spec"]["defaults"]["image"]  # valid for the CRD, impossible to render: no image
    body = install(cluster, body)
    result = BatchOperator(cluster).reconcile(body)
    assert result.error is not None and "image" in result.error
    assert cron_jobs(cluster, kube.namespace) == {}
    (ready,) = fresh(cluster, body)["status"]["conditions"]
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec" and "image" in ready["message"]


def test_250_jobs_from_scratch(kube: KubeTarget) -> None:
    cluster = cluster_for(kube)
    body = install(cluster, manager_body(kube.namespace, [job(f"job-{i}") for i in range(250)]))
    started = time.perf_counter()
    result = BatchOperator(cluster).reconcile(body)
    took = time.perf_counter() - started
    assert result.error is None and len(result.applied) == 250
    print(f"reconciled 250 jobs from scratch in {took:.2f}s")  # recorded in docs/benchmarks.md, not asserted
    if kube.emulator is not None:
        kube.emulator.reset_log()
    assert BatchOperator(cluster).reconcile(fresh(cluster, body)).applied == []
    if kube.emulator is not None:
        assert kube.emulator.writes() == []


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(
        "apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: shop}\nspec:\n"
        "  defaults: {image: 'registry.example.com/shop:1.2.3'}\n"
        "  jobs:\n    - {name: report, schedule: '0 3 * * *', command: bin/report, priority: low}\n"
    )
    return path
