"""`sengu batch apply|status|run --cluster`: the batch capability's commands against a Kubernetes cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sengu.batch import classify
from sengu.batch.operator import API_VERSION, JOB_LABEL, KIND, MANAGER_LABEL
from sengu.batch.resolve import JobPlan
from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Failure, Problem, UserError
from sengu.core.kube import Cluster, KubeError

CRD_NAME = "cronjobmanagers.sengu.dev"


def ensure_crd(cluster: Cluster, crd: dict[str, Any], *, timeout_s: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Apply the CRD when it is missing or differs; wait until it is Established. True when it was written."""
    existing = cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD_NAME)
    if existing is not None and existing.get("spec") == crd["spec"]:
        return False
    cluster.apply(crd)
    deadline = clock.monotonic() + timeout_s
    while clock.monotonic() < deadline:
        current = cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD_NAME) or {}
        conditions = (current.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return True
        time.sleep(0.2)
    raise Failure(f"the CRD {CRD_NAME} was applied but is not Established after {timeout_s:.0f}s")


def manager_body(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The CronjobManager object to apply: the document as written, in the target namespace."""
    meta = dict(document.get("metadata") or {})
    meta["namespace"] = namespace
    return {"apiVersion": document["apiVersion"], "kind": document["kind"], "metadata": meta, "spec": document["spec"]}


def apply_manager(cluster: Cluster, document: dict[str, Any], namespace: str) -> dict[str, Any]:
    try:
        return cluster.apply(manager_body(document, namespace))
    except KubeError as exc:
        if exc.status == 422:
            causes = (exc.body.get("details") or {}).get("causes") or []
            lines = [f"{c.get('field', '?')}: {c.get('message', '')}" for c in causes] or [str(exc)]
            raise UserError([Problem(f"the cluster refused the CronjobManager: {line}") for line in lines]) from None
        raise


@dataclass(frozen=True)
class JobStatus:
    job: str
    cron_jobs: list[str]
    suspended: bool
    active: int
    last_schedule: str | None
    last_success: str | None
    last_failure: str | None


def status(cluster: Cluster, name: str, namespace: str) -> tuple[dict[str, Any], list[JobStatus]]:
    body = cluster.get(API_VERSION, KIND, name, namespace)
    if body is None:
        raise UserError(f"CronjobManager {name!r} is not in namespace {namespace!r}; apply it with `sengu batch apply`")
    jobs = (body.get("status") or {}).get("jobs") or {}
    rows = []
    for job, entry in sorted(jobs.items()):
        failure = entry.get("lastFailure") or {}
        rows.append(
            JobStatus(
                job=job,
                cron_jobs=list(entry.get("cronJobs") or []),
                suspended=bool(entry.get("suspended")),
                active=int(entry.get("active") or 0),
                last_schedule=entry.get("lastScheduleTime"),
                last_success=entry.get("lastSuccessfulTime"),
                last_failure=f"{failure.get('time', '')} {failure.get('reason', '')}".strip() or None,
            )
        )
    return body, rows


def manual_job(cron_job: dict[str, Any], suffix: str) -> dict[str, Any]:
    """A Job from a CronJob's template, as `kubectl create job --from=cronjob/NAME` makes it."""
    meta = cron_job["metadata"]
    template = cron_job["spec"]["jobTemplate"]
    labels = {**(template.get("metadata") or {}).get("labels", {}), "sengu.dev/trigger": "manual"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{meta['name'][:52]}-{suffix}"[:63],
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def run_on_cluster(
    cluster: Cluster,
    plan: JobPlan,
    namespace: str,
    *,
    write: Callable[[bytes], None],
    clock: Clock = SYSTEM_CLOCK,
    poll_s: float = 0.5,
    timeout_s: float = 24 * 3600,
) -> int:
    """Create a Job from the job's CronJob, stream every pod's log to the end, return the container's exit code."""
    cron_jobs = cluster.list_objects(
        "batch/v1", "CronJob", namespace, labels={MANAGER_LABEL: plan.manager, JOB_LABEL: plan.name}
    )
    if not cron_jobs:
        raise UserError(
            f"no CronJob for {plan.key} in namespace {namespace!r}: apply the manager first "
            "(`sengu batch apply FILE --cluster`) and let the operator reconcile it"
        )
    cron_job = sorted(cron_jobs, key=lambda c: c["metadata"]["name"])[0]
    job = cluster.create(manual_job(cron_job, f"manual-{int(clock.now().timestamp())}"))
    job_name = job["metadata"]["name"]
    write(f"sengu: created Job {namespace}/{job_name} from CronJob {cron_job['metadata']['name']}\n".encode())
    followed: set[str] = set()
    deadline = clock.monotonic() + timeout_s
    exit_code: int | None = None
    while clock.monotonic() < deadline:
        pods = sorted(
            cluster.list_objects("v1", "Pod", namespace, labels={"job-name": job_name}),
            key=lambda p: p["metadata"].get("creationTimestamp", ""),
        )
        for pod in pods:
            name = pod["metadata"]["name"]
            if name in followed or _waiting(pod):
                stuck = _stuck_reason(pod)
                if stuck:
                    raise Failure(f"pod {name} cannot start: {stuck}")
                continue
            followed.add(name)
            write(f"sengu: logs of pod {name}\n".encode())
            for chunk in cluster.follow_log(namespace, name):
                write(chunk)
            code = _exit_code(cluster.get("v1", "Pod", name, namespace) or pod)
            if code is not None:
                exit_code = code
        current = cluster.get("batch/v1", "Job", job_name, namespace) or job
        state = _job_finished(current)
        if state is not None:
            if state == "Complete":
                return 0
            return exit_code if exit_code else 1
        time.sleep(poll_s)
    raise Failure(f"Job {namespace}/{job_name} did not finish within {timeout_s:.0f}s")


def _waiting(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in (None, "Pending")


def _stuck_reason(pod: dict[str, Any]) -> str | None:
    failure = classify.classify_pod(pod)
    if failure is not None and failure.reason in classify.STUCK:
        return failure.message or failure.reason
    return None


def _exit_code(pod: dict[str, Any]) -> int | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated is not None:
            return int(terminated.get("exitCode", 1))
    return None


def _job_finished(job: dict[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None
