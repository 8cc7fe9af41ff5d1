"""The batch capability on Kubernetes: CronjobManager objects → CronJobs, and what their Jobs did.

Level-triggered: every event on a CronjobManager recomputes the desired CronJobs (the same render as
`sengu batch render`) and compares them with what exists. An object is written only when its content
differs from what we applied last (a hash annotation) or from what is there (fields changed by someone
else), so an unchanged re-reconcile makes no write at all. Removed jobs' CronJobs are pruned; every
CronJob is owned by its CronjobManager, so deleting the manager deletes them (garbage collection).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sengu.batch.resolve import Manager, resolve
from sengu.batch.spec import CronjobManager
from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import UserError
from sengu.core.kube import Cluster
from sengu.core.spec import Document, document_from_data, validate

log = logging.getLogger("sengu.batch.operator")

API_VERSION = "sengu.dev/v1alpha1"
KIND = "CronjobManager"
APPLIED_HASH = "sengu.dev/applied-hash"
MANAGER_LABEL = "sengu.dev/manager"
JOB_LABEL = "sengu.dev/job"


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def content_hash(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


def owned(obj: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    """The object as we apply it: owned by the manager, stamped with the hash of its content."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["ownerReferences"] = [owner]
    meta.setdefault("annotations", {})[APPLIED_HASH] = content_hash(obj)
    return out


def contains(have: Any, want: Any) -> bool:
    """Whether `have` (from the server, with defaults filled in) carries everything in `want`."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and contains(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(contains, have, want))
    return bool(have == want)


@dataclass
class Changes:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def plan_changes(desired: Iterable[dict[str, Any]], existing: Iterable[dict[str, Any]]) -> Changes:
    """What to write so that `existing` becomes `desired` (both: objects of one kind in one namespace)."""
    current = {o["metadata"]["name"]: o for o in existing}
    changes = Changes()
    wanted = set()
    for obj in desired:
        name = obj["metadata"]["name"]
        wanted.add(name)
        have = current.get(name)
        same_hash = (
            have is not None
            and (have["metadata"].get("annotations") or {}).get(APPLIED_HASH)
            == (obj["metadata"]["annotations"][APPLIED_HASH])
        )
        if have is None or not same_hash or not contains(have, obj):
            changes.apply.append(obj)
    changes.delete = sorted(set(current) - wanted)
    return changes


def body_document(body: dict[str, Any]) -> Document:
    """A CronjobManager read from the API as a Document (problems are located in its YAML form)."""
    meta = body.get("metadata", {})
    data = {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
    data["metadata"] = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    return document_from_data(data, f"{meta.get('namespace')}/{meta.get('name')}")


def desired_state(body: dict[str, Any]) -> tuple[Manager, list[dict[str, Any]]]:
    """The resolved manager and the CronJobs it should have, owned by it. Raises UserError."""
    from sengu.batch.render import render_manager

    doc = body_document(body)
    model = validate(doc, CronjobManager)
    manager = resolve(model, doc)
    namespace = body["metadata"]["namespace"]
    objects = render_manager(manager, model=model, namespace=namespace, doc=doc)
    return manager, [owned(o, owner_reference(body)) for o in objects]


@dataclass
class Result:
    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    status_written: bool = False
    error: str | None = None


class BatchOperator:
    def __init__(self, cluster: Cluster, clock: Clock = SYSTEM_CLOCK):
        self.cluster = cluster
        self.clock = clock
        # The last valid manager of each (namespace, name): what the failure watch and the audit read.
        self.managers: dict[tuple[str, str], Manager] = {}

    def reconcile(self, body: dict[str, Any]) -> Result:
        meta = body["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        result = Result()
        try:
            manager, desired = desired_state(body)
            self.managers[(namespace, name)] = manager
        except UserError as exc:
            result.error = "; ".join(exc.lines())
            self._write_status(body, self._invalid_status(body, result.error), result)
            if result.status_written:  # once per change, not at every event
                self._event(body, "Warning", "InvalidSpec", result.error)
            return result
        existing = self.cluster.list_objects("batch/v1", "CronJob", namespace, labels={MANAGER_LABEL: name})
        changes = plan_changes(desired, existing)
        by_name = {o["metadata"]["name"]: o for o in existing}
        for obj in changes.apply:
            by_name[obj["metadata"]["name"]] = self.cluster.apply(obj)
            result.applied.append(obj["metadata"]["name"])
        for cron_job in changes.delete:
            self.cluster.delete("batch/v1", "CronJob", cron_job, namespace)
            by_name.pop(cron_job, None)
            result.deleted.append(cron_job)
        status = self._status(body, manager, [by_name[o["metadata"]["name"]] for o in desired])
        self._write_status(body, status, result)
        if result.applied or result.deleted:
            self._event(
                body, "Normal", "Reconciled", f"applied {len(result.applied)} CronJob(s), pruned {len(result.deleted)}"
            )
            log.info(
                "%s/%s: applied %d CronJob(s), pruned %d", namespace, name, len(result.applied), len(result.deleted)
            )
        return result

    def _event(self, body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        involved = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        }
        self.cluster.post_event(involved, kind, reason, message, now=self.clock.now(), component="sengu-operator")

    # --- status -----------------------------------------------------------------------------------
    def _status(self, body: dict[str, Any], manager: Manager, cron_jobs: list[dict[str, Any]]) -> dict[str, Any]:
        previous = body.get("status") or {}
        old_jobs = previous.get("jobs") or {}
        jobs: dict[str, Any] = {}
        for cj in sorted(cron_jobs, key=lambda c: c["metadata"]["name"]):
            job = cj["metadata"].get("labels", {}).get(JOB_LABEL, cj["metadata"]["name"])
            observed = cj.get("status") or {}
            if job not in jobs:
                # lastFailure and missed are written by the failure watch and the audit: keep them.
                old = old_jobs.get(job) or {}
                jobs[job] = {
                    k: old[k] for k in ("lastFailure", "missed", "lastScheduleTime", "lastSuccessfulTime") if k in old
                }
                jobs[job].update(cronJobs=[], suspended=False, active=0)
            entry = jobs[job]
            entry["cronJobs"].append(cj["metadata"]["name"])
            entry["suspended"] = entry["suspended"] or bool(cj.get("spec", {}).get("suspend"))
            entry["active"] += len(observed.get("active") or [])
            for key in ("lastScheduleTime", "lastSuccessfulTime"):
                if observed.get(key):
                    entry[key] = max(entry.get(key) or "", observed[key])
        active = sum(1 for p in manager.jobs if not p.suspended)
        return {
            "observedGeneration": body["metadata"].get("generation"),
            "stage": manager.stage,
            "jobCount": len(manager.jobs),
            "activeJobs": active,
            "active": sum(entry["active"] for entry in jobs.values()),
            "jobs": jobs,
            "conditions": [
                _condition(previous, "Ready", "True", "Reconciled", f"{len(cron_jobs)} CronJob(s) in sync", self.clock)
            ],
        }

    def _invalid_status(self, body: dict[str, Any], error: str) -> dict[str, Any]:
        previous = body.get("status") or {}
        status = dict(previous)
        status["observedGeneration"] = body["metadata"].get("generation")
        status["conditions"] = [_condition(previous, "Ready", "False", "InvalidSpec", error[:1000], self.clock)]
        return status

    def _write_status(self, body: dict[str, Any], status: dict[str, Any], result: Result) -> None:
        if status == (body.get("status") or {}):
            return
        meta = body["metadata"]
        self.cluster.patch(API_VERSION, KIND, meta["name"], meta["namespace"], {"status": status}, subresource="status")
        result.status_written = True


def _condition(
    previous: dict[str, Any], kind: str, status: str, reason: str, message: str, clock: Clock
) -> dict[str, Any]:
    """A condition whose lastTransitionTime only moves when its status does (no write loop)."""
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def register(registry: Any, context: Any) -> None:
    """The batch handlers, added to the operator's one kopf registry (see sengu.core.operator)."""
    import asyncio

    import kopf
    from prometheus_client import Counter as Metric

    from sengu.batch.failures import ClusterNotifier, FailureWatcher

    operator = BatchOperator(context.cluster, context.clock)
    watcher = FailureWatcher(context.cluster, context.clock, ClusterNotifier())
    reconciles = Metric(
        "sengu_operator_batch_reconciles",
        "CronjobManager reconciles by outcome.",
        ["outcome"],
        registry=context.metrics,
    )
    failures = Metric(
        "sengu_operator_batch_failures",
        "Failed runs on the cluster by classified reason.",
        ["reason"],
        registry=context.metrics,
    )
    missed_total = Metric(
        "sengu_operator_batch_missed_schedules", "Scheduled times with no Job.", registry=context.metrics
    )
    late_total = Metric(
        "sengu_operator_batch_late_starts", "Jobs created late by the CronJob controller.", registry=context.metrics
    )

    def reconcile(body: dict[str, Any]) -> None:
        result = operator.reconcile(body)
        outcome = "invalid" if result.error else "changed" if result.applied or result.deleted else "unchanged"
        reconciles.labels(outcome).inc()

    @kopf.on.event("sengu.dev", "v1alpha1", "cronjobmanagers", registry=registry)
    def manager_changed(type: str, body: kopf.Body, **_: Any) -> None:
        if type == "DELETED" or body.get("metadata", {}).get("deletionTimestamp"):
            meta = body.get("metadata", {})
            operator.managers.pop((meta.get("namespace", ""), meta.get("name", "")), None)
            return  # its CronJobs go with it: they are owned by it
        reconcile(_plain(body))

    @kopf.on.event("batch", "v1", "cronjobs", labels={MANAGER_LABEL: kopf.PRESENT}, registry=registry)
    def cron_job_changed(body: kopf.Body, **_: Any) -> None:
        # Someone edited or deleted one of our CronJobs, or its status moved: reconcile its manager.
        meta = body.get("metadata", {})
        owner = operator.cluster.get(API_VERSION, KIND, meta.get("labels", {})[MANAGER_LABEL], meta.get("namespace"))
        if owner is not None and not owner["metadata"].get("deletionTimestamp"):
            reconcile(owner)

    @kopf.on.event("batch", "v1", "jobs", labels={MANAGER_LABEL: kopf.PRESENT}, registry=registry)
    def job_changed(type: str, body: kopf.Body, **_: Any) -> None:
        if type == "DELETED":
            return
        job = _plain(body)
        meta = job.get("metadata", {})
        manager = operator.managers.get((meta.get("namespace", ""), meta.get("labels", {}).get(MANAGER_LABEL, "")))
        verdict = watcher.job_event(job, manager)
        if verdict is not None and verdict.final:
            failures.labels(verdict.reason).inc()

    async def audit_forever() -> None:
        while True:
            await context.clock.sleep(60)
            for (namespace, name), manager in list(operator.managers.items()):
                try:
                    late_before = len(watcher.late)
                    missed = await asyncio.to_thread(audit_once, operator, watcher, manager, namespace, name)
                    missed_total.inc(missed)
                    late_total.inc(len(watcher.late) - late_before)
                except Exception:  # one manager's problem must not stop the audit of the others
                    log.exception("schedule audit of %s/%s failed", namespace, name)

    context.background.append(audit_forever)


def audit_once(operator: BatchOperator, watcher: Any, manager: Manager, namespace: str, name: str) -> int:
    """Report scheduled times no Job was created for (and late ones), count them in the manager's status.
    Returns how many were newly missed."""
    cron_jobs = operator.cluster.list_objects("batch/v1", "CronJob", namespace, labels={MANAGER_LABEL: name})
    missed = watcher.audit(manager, namespace, cron_jobs)
    if not missed:
        return 0
    body = operator.cluster.get(API_VERSION, KIND, name, namespace)
    if body is None:
        return len(missed)
    jobs = (body.get("status") or {}).get("jobs") or {}
    counts = Counter(job for job, _ in missed)
    patch = {job: {"missed": int((jobs.get(job) or {}).get("missed") or 0) + n} for job, n in counts.items()}
    operator.cluster.patch(API_VERSION, KIND, name, namespace, {"status": {"jobs": patch}}, subresource="status")
    return len(missed)


def _plain(body: Any) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(dict(body)))
    return plain
