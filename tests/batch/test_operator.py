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
    events = cluster.list_objects("v1", "Event", ns)
    assert [(e["type"], e["reason"], e["message"]) for e in events] == [
        ("Normal", "Reconciled", "applied 3 CronJob(s), pruned 0")
    ]
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
    BatchOperator(cluster).reconcile(fresh(cluster, body))  # the same problem again: no second event
    (event,) = cluster.list_objects("v1", "Event", kube.namespace)
    assert event["type"] == "Warning" and event["reason"] == "InvalidSpec" and "image" in event["message"]


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


def test_failed_job_is_classified_reported_and_recovered(kube: KubeTarget) -> None:
    emulator = kube.require_emulator()
    from datetime import UTC, datetime

    from sengu.batch.failures import FailureWatcher

    cluster = cluster_for(kube)
    ns = kube.namespace
    recovering = job("import", schedule="0 3 * * *", onFailure={"recovery": {"command": "bin/cleanup"}})
    body = install(cluster, manager_body(ns, [recovering]))
    operator = BatchOperator(cluster)
    operator.reconcile(body)
    (cron_job,) = cron_jobs(cluster, ns)
    made = emulator.create_job_from_cronjob(ns, cron_job, datetime(2026, 11, 27, 18, 0, tzinfo=UTC))
    pod = emulator.create_pod_for_job(ns, made["metadata"]["name"])
    emulator.set_pod_oom_killed(ns, pod["metadata"]["name"])
    failed = emulator.set_job_failed(ns, made["metadata"]["name"])

    watcher = FailureWatcher(cluster)
    manager = operator.managers[(ns, "shop")]
    verdict = watcher.job_event(failed, manager)
    assert verdict is not None and verdict.reason == "OOMKilled" and verdict.final
    assert watcher.job_event(failed, manager) is None  # reported once

    last = fresh(cluster, body)["status"]["jobs"]["import"]["lastFailure"]
    assert last["reason"] == "OOMKilled" and last["jobName"] == made["metadata"]["name"]
    assert "memory" in last["message"]
    events = cluster.list_objects("v1", "Event", ns)
    assert any(e["reason"] == "OOMKilled" and e["involvedObject"]["name"] == "shop" for e in events)
    recovery = cluster.get("batch/v1", "Job", f"{made['metadata']['name'][:53]}-recovery", ns)
    assert recovery is not None
    container = recovery["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c", "bin/cleanup"]
    assert {"name": "SENGU_RECOVERY", "value": "1"} in container["env"]
    assert recovery["metadata"]["labels"]["sengu.dev/trigger"] == "recovery"
    marked = cluster.get("batch/v1", "Job", made["metadata"]["name"], ns)
    assert marked is not None and marked["metadata"]["annotations"]["sengu.dev/reported-failure"] == "OOMKilled"


def test_missed_schedules_are_found_and_counted(kube: KubeTarget) -> None:
    emulator = kube.require_emulator()
    from datetime import UTC, datetime, timedelta

    from sengu.batch.failures import FailureWatcher
    from sengu.batch.operator import audit_once
    from sengu.core.clock import FakeClock

    cluster = cluster_for(kube)
    ns = kube.namespace
    body = install(cluster, manager_body(ns, [job("tick", schedule="*/10 * * * *", startingDeadlineSeconds=60)]))
    operator = BatchOperator(cluster)
    operator.reconcile(body)
    (cron_job,) = cron_jobs(cluster, ns)
    now = datetime.now(UTC)
    clock = FakeClock(now)
    watcher = FailureWatcher(cluster, clock)
    base = now.replace(second=0, microsecond=0) + timedelta(minutes=10 - now.minute % 10)
    # The controller created Jobs for the first two times only.
    for minutes in (0, 10):
        made = emulator.create_job_from_cronjob(ns, cron_job, base + timedelta(minutes=minutes))
        watcher.job_event(made, operator.managers[(ns, "shop")])
    clock.set(base + timedelta(minutes=41))
    audit_once(operator, watcher, operator.managers[(ns, "shop")], ns, "shop")
    status = fresh(cluster, body)["status"]["jobs"]["tick"]
    assert status["missed"] == 2  # +20 and +30; +40 is still within the starting deadline and its grace
    events = [e for e in cluster.list_objects("v1", "Event", ns) if e["reason"] == "MissedSchedule"]
    assert len(events) == 2
    audit_once(operator, watcher, operator.managers[(ns, "shop")], ns, "shop")
    assert fresh(cluster, body)["status"]["jobs"]["tick"]["missed"] == 2  # each time reported once


def test_operator_end_to_end_with_kopf_and_a_lease(kube: KubeTarget) -> None:
    """`sengu operator` as it runs: lease, kopf watch, reconcile on create and on change, health."""
    import asyncio
    import socket

    import httpx

    from sengu import capabilities
    from sengu.core import operator as runner

    cluster = cluster_for(kube)
    ns = kube.namespace
    cluster.apply(definition(RESOURCE))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            runner.run(
                capabilities.operator_registers(),
                cluster=cluster,
                liveness=f"http://127.0.0.1:{port}/healthz",
                lease_namespace=ns,
                stop=stop,
            )
        )

        async def until(check: Any, what: str, timeout: float = 15.0) -> Any:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                value = await asyncio.to_thread(check)
                if value:
                    return value
                assert not task.done(), task.exception() if task.done() else ""
                assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
                await asyncio.sleep(0.1)

        try:
            await asyncio.to_thread(cluster.apply, manager_body(ns, [job("a"), job("b")]))
            await until(lambda: len(cron_jobs(cluster, ns)) == 2, "two CronJobs")
            health = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/healthz")
            assert health.status_code == 200 and health.json() == {"ok": True, "role": "leader"}
            lease = cluster.get("coordination.k8s.io/v1", "Lease", "sengu-operator", ns)
            assert lease is not None and lease["spec"]["holderIdentity"]
            await asyncio.to_thread(cluster.apply, manager_body(ns, [job("a")]))
            await until(lambda: len(cron_jobs(cluster, ns)) == 1, "the removed job's CronJob pruned")
            if kube.emulator is not None:  # play the controllers: a run of job a fails, OOMKilled
                from datetime import UTC, datetime

                emulator = kube.emulator
                (name,) = cron_jobs(cluster, ns)
                made = emulator.create_job_from_cronjob(ns, name, datetime.now(UTC))
                pod = emulator.create_pod_for_job(ns, made["metadata"]["name"])
                emulator.set_pod_oom_killed(ns, pod["metadata"]["name"])
                emulator.set_job_failed(ns, made["metadata"]["name"])

                def failure() -> Any:
                    status = fresh(cluster, {"metadata": {"name": "shop", "namespace": ns}}).get("status") or {}
                    return ((status.get("jobs") or {}).get("a") or {}).get("lastFailure")

                last = await until(failure, "the failure classified in status through kopf's Job watch")
                assert last["reason"] == "OOMKilled"
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)

    asyncio.run(scenario())


def test_cluster_commands(kube: KubeTarget, spec_file: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    emulator = kube.require_emulator()
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, KUBECONFIG=str(kube.kubeconfig))

    def sengu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sengu", *args], capture_output=True, text=True, env=env, cwd=root, timeout=60
        )

    applied = sengu("batch", "apply", str(spec_file), "--cluster")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        "applied CustomResourceDefinition cronjobmanagers.sengu.dev",
        f"applied CronjobManager {kube.namespace}/shop (1 jobs)",
    ]
    again = sengu("batch", "apply", str(spec_file), "--cluster")
    assert again.stdout.splitlines() == [f"applied CronjobManager {kube.namespace}/shop (1 jobs)"]
    assert sengu("batch", "apply", str(spec_file)).returncode == 2  # --cluster is required

    cluster = cluster_for(kube)
    body = fresh(cluster, {"metadata": {"name": "shop", "namespace": kube.namespace}})
    BatchOperator(cluster).reconcile(body)
    shown = sengu("batch", "status", str(spec_file), "--cluster", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    (manager,) = json.loads(shown.stdout)
    assert manager["manager"] == f"{kube.namespace}/shop" and manager["conditions"][0]["status"] == "True"
    assert [j["job"] for j in manager["jobs"]] == ["report"]

    proc = subprocess.Popen(
        [sys.executable, "-m", "sengu", "batch", "run", str(spec_file), "report", "--cluster"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=root,
    )
    try:
        jobs = emulator.wait_for(lambda: bool(emulator.list_objects("batch/v1/jobs", kube.namespace)), timeout=20)
        del jobs
        (made,) = emulator.list_objects("batch/v1/jobs", kube.namespace)
        assert made["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
        pod = emulator.create_pod_for_job(kube.namespace, made["metadata"]["name"])
        emulator.set_pod_running(kube.namespace, pod["metadata"]["name"])
        emulator.append_log(kube.namespace, pod["metadata"]["name"], "report: 3 rows\nreport: failed\n")
        emulator.set_pod_terminated(kube.namespace, pod["metadata"]["name"], exit_code=3, reason="Error")
        emulator.set_job_failed(kube.namespace, made["metadata"]["name"])
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert b"report: 3 rows\nreport: failed\n" in out


def test_cluster_failures_reach_slack_and_sentry(kube: KubeTarget, tmp_path: Path, monkeypatch: Any) -> None:
    emulator = kube.require_emulator()
    from datetime import UTC, datetime

    from sengu.batch.failures import ClusterNotifier, FailureWatcher, check_in_id
    from tests.fakes.receivers import SentryReceiver, SlackReceiver

    cluster = cluster_for(kube)
    ns = kube.namespace
    with SlackReceiver() as slack, SentryReceiver() as sentry:
        monkeypatch.setenv("TEST_SLACK_URL", slack.url)
        dsn = tmp_path / "dsn"
        dsn.write_text(sentry.dsn)
        body = manager_body(ns, [job("nightly", schedule="0 3 * * *")])
        body["spec"]["defaults"]["notifications"] = {
            "slack": {"webhookUrl": {"env": "TEST_SLACK_URL"}},
            "sentry": {"dsn": {"file": str(dsn)}},
        }
        body = install(cluster, body)
        operator = BatchOperator(cluster)
        operator.reconcile(body)
        manager = operator.managers[(ns, "shop")]
        (cron_job,) = cron_jobs(cluster, ns)
        made = emulator.create_job_from_cronjob(ns, cron_job, datetime(2026, 11, 27, 18, 0, tzinfo=UTC))
        watcher = FailureWatcher(cluster, notifier=ClusterNotifier())
        watcher.job_event(made, manager)
        pod = emulator.create_pod_for_job(ns, made["metadata"]["name"])
        emulator.set_pod_terminated(ns, pod["metadata"]["name"], exit_code=4, reason="Error")
        watcher.job_event(emulator.set_job_failed(ns, made["metadata"]["name"]), manager)
        slack.wait_for(1)
        sentry.wait_for(2)
    (message,) = slack.messages
    assert "*shop/nightly* failed on Kubernetes" in message["text"] and "exited with code 4" in message["text"]
    assert [c["status"] for c in sentry.check_ins] == ["in_progress", "error"]
    assert {c["check_in_id"] for c in sentry.check_ins} == {check_in_id(made["metadata"]["uid"])}
    assert sentry.check_ins[0]["monitor_config"]["schedule"]["value"] == "0 3 * * *"


def test_late_starts_are_reported_once(kube: KubeTarget) -> None:
    from datetime import UTC, datetime, timedelta

    from sengu.batch.failures import FailureWatcher
    from sengu.core.clock import FakeClock

    cluster = cluster_for(kube)
    ns = kube.namespace
    body = install(cluster, manager_body(ns, [job("tick", schedule="*/10 * * * *")]))
    operator = BatchOperator(cluster)
    operator.reconcile(body)
    manager = operator.managers[(ns, "shop")]
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    clock = FakeClock(now)
    watcher = FailureWatcher(cluster, clock)
    cron_job = {
        "metadata": {
            "name": "shop-tick",
            "labels": {"sengu.dev/job": "tick"},
            "creationTimestamp": "2026-11-27T10:00:00Z",
        },
        "spec": {"schedule": "*/10 * * * *"},
    }
    watcher.seen[(ns, "shop-tick")].since = now - timedelta(hours=1)
    for minutes, delay in ((50, 4), (40, 3), (30, 200), (20, 5), (10, 2)):
        scheduled = now - timedelta(minutes=minutes)
        created = scheduled + timedelta(seconds=delay)
        watcher.job_event(
            {
                "metadata": {
                    "name": f"shop-tick-{minutes}",
                    "namespace": ns,
                    "uid": f"u{minutes}",
                    "labels": {"sengu.dev/manager": "shop", "sengu.dev/job": "tick"},
                    "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": scheduled.isoformat()},
                    "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ownerReferences": [{"kind": "CronJob", "name": "shop-tick"}],
                },
                "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
            },
            manager,
        )
    assert watcher.audit(manager, ns, [cron_job]) == []  # nothing missed (now itself is not due yet)
    assert watcher.late == [("tick", now - timedelta(minutes=30), 200.0)]
    watcher.audit(manager, ns, [cron_job])
    assert len(watcher.late) == 1  # reported once
    events = [e for e in cluster.list_objects("v1", "Event", ns) if e["reason"] == "LateStart"]
    assert len(events) == 1 and "200s late" in events[0]["message"]


def test_a_job_with_several_schedules_has_one_status_entry(kube: KubeTarget) -> None:
    cluster = cluster_for(kube)
    twice = {"name": "twice", "schedules": ["0 1 * * *", "0 13 * * *"], "command": "bin/twice", "priority": "low"}
    body = install(cluster, manager_body(kube.namespace, [twice]))
    BatchOperator(cluster).reconcile(body)
    entry = fresh(cluster, body)["status"]["jobs"]["twice"]
    assert entry["cronJobs"] == ["shop-twice-0", "shop-twice-1"] and entry["active"] == 0
    assert sorted(c["spec"]["schedule"] for c in cron_jobs(cluster, kube.namespace).values()) == [
        "0 1 * * *",
        "0 13 * * *",
    ]
