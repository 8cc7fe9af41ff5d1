"""On the cluster: why a managed Job failed, who to tell, the recovery Job, and schedules that never ran.

The Kubernetes CronJob controller misses runs silently and starts them late at scale (k/k#42649,
k/k#90801). The operator remembers the scheduled time of every Job it sees created and compares
them with the times the schedules say; what is missing past startingDeadlineSeconds is reported.
Jobs may be deleted by history limits or TTL before we look, which is why we remember, not list.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sengu.batch import classify
from sengu.batch.resolve import JobPlan, Manager
from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import UserError
from sengu.core.kube import Cluster, KubeError

log = logging.getLogger("sengu.batch.failures")

REPORTED = "sengu.dev/reported-failure"
TRIGGER_LABEL = "sengu.dev/trigger"
MANAGER_LABEL = "sengu.dev/manager"
JOB_LABEL = "sengu.dev/job"
AUDIT_WINDOW = timedelta(hours=2)


def check_in_id(job_uid: str) -> str:
    """The same Sentry check-in id from any replica and after restarts: derived from the Job's uid."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sengu:{job_uid}").hex


def recovery_job(job: Mapping[str, Any], plan: JobPlan) -> dict[str, Any]:
    """A Job that runs the recovery command once, from the failed Job's pod template."""
    assert plan.recovery_argv is not None
    meta = job["metadata"]
    spec = {k: v for k, v in job["spec"].items() if k not in ("selector", "manualSelector")}
    template = _strip_generated(spec["template"])
    containers = template["spec"]["containers"]
    containers[0] = {**containers[0], "command": list(plan.recovery_argv), "args": []}
    containers[0]["env"] = [*containers[0].get("env", []), {"name": "SENGU_RECOVERY", "value": "1"}]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k.startswith(("sengu.dev/", "app.kubernetes.io/"))}
    labels[TRIGGER_LABEL] = "recovery"
    template.setdefault("metadata", {})["labels"] = {**template.get("metadata", {}).get("labels", {}), **labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{meta['name'][:53]}-recovery",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"sengu.dev/recovery-for": meta["name"]},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"], "controller": False}
            ],
        },
        "spec": {**spec, "template": template, "backoffLimit": 0},
    }


def _strip_generated(template: Mapping[str, Any]) -> dict[str, Any]:
    import copy

    out: dict[str, Any] = copy.deepcopy(dict(template))
    labels = out.get("metadata", {}).get("labels", {})
    for key in ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"):
        labels.pop(key, None)
    return out


@dataclass
class Seen:
    """What the watcher remembers per CronJob: the scheduled times of Jobs it saw, since when it watches."""

    since: datetime
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job name -> minimal Job
    reported_missed: set[datetime] = field(default_factory=set)
    reported_late: set[datetime] = field(default_factory=set)


class FailureWatcher:
    def __init__(self, cluster: Cluster, clock: Clock = SYSTEM_CLOCK, notifier: Any = None):
        self.cluster = cluster
        self.clock = clock
        self.notifier = notifier
        self.reported: set[str] = set()
        self.late: list[tuple[str, datetime, float]] = []  # (job, scheduled, seconds late), as reported
        self.seen: dict[tuple[str, str], Seen] = defaultdict(lambda: Seen(self.clock.now()))

    # --- Jobs -------------------------------------------------------------------------------------
    def job_event(self, job: dict[str, Any], manager: Manager | None) -> classify.JobFailure | None:
        meta = job.get("metadata") or {}
        labels = meta.get("labels") or {}
        owner = next((o["name"] for o in meta.get("ownerReferences") or [] if o.get("kind") == "CronJob"), None)
        if owner and classify.scheduled_time(job) is not None:
            key = (meta.get("namespace", ""), owner)
            self.seen[key].jobs[meta["name"]] = {
                "metadata": {
                    "name": meta["name"],
                    "annotations": {classify.SCHEDULED_TIMESTAMP: meta["annotations"][classify.SCHEDULED_TIMESTAMP]},
                    "creationTimestamp": meta.get("creationTimestamp"),
                }
            }
        uid = meta.get("uid", meta.get("name", ""))
        state = classify.job_state(job)
        plan = manager.by_name.get(labels.get(JOB_LABEL, "")) if manager else None
        if self.notifier is not None and plan is not None and labels.get(TRIGGER_LABEL) != "recovery":
            self.notifier.check_in(plan, uid, state)
        if state == "succeeded" or f"{uid}:final" in self.reported or (meta.get("annotations") or {}).get(REPORTED):
            return None
        pods = self.cluster.list_objects("v1", "Pod", meta.get("namespace"), labels={"job-name": meta["name"]})
        verdict = classify.classify_job(job, pods)
        if verdict is None or not (verdict.final or verdict.reason in classify.STUCK):
            return None
        # A stuck pod (image pull) is worth telling early, once; the final failure is told again.
        told = f"{uid}:{'final' if verdict.final else 'early'}"
        if told in self.reported:
            return None
        self.reported.add(told)
        self._report(job, verdict, manager, labels)
        return verdict

    def _report(
        self, job: dict[str, Any], verdict: classify.JobFailure, manager: Manager | None, labels: Mapping[str, str]
    ) -> None:
        meta = job["metadata"]
        namespace = meta["namespace"]
        job_name = labels.get(JOB_LABEL, "?")
        manager_name = labels.get(MANAGER_LABEL, "?")
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        log.warning("%s/%s: Job %s failed: %s", namespace, job_name, meta["name"], verdict.message)
        if verdict.final:  # survives a restart of the operator: never told twice
            try:
                self.cluster.patch(
                    "batch/v1",
                    "Job",
                    meta["name"],
                    namespace,
                    {"metadata": {"annotations": {REPORTED: verdict.reason}}},
                )
            except KubeError as exc:
                log.warning("cannot mark Job %s reported: %s", meta["name"], exc)
        failure = {"time": now, "reason": verdict.reason, "message": verdict.message[:1000], "jobName": meta["name"]}
        if verdict.exit_code is not None:
            failure["exitCode"] = verdict.exit_code
        try:
            self.cluster.patch(
                "sengu.dev/v1alpha1",
                "CronjobManager",
                manager_name,
                namespace,
                {"status": {"jobs": {job_name: {"lastFailure": failure}}}},
                subresource="status",
            )
        except KubeError as exc:
            log.warning("cannot record the failure in %s/%s status: %s", namespace, manager_name, exc)
        self.event(namespace, manager_name, verdict.reason, f"{job_name}: {verdict.message}")
        plan = manager.by_name.get(job_name) if manager else None
        if self.notifier is not None and plan is not None:
            self.notifier.failure(plan, meta["name"], verdict)
        if verdict.final and plan is not None and plan.recovery_argv and labels.get(TRIGGER_LABEL) != "recovery":
            try:
                self.cluster.create(recovery_job(job, plan))
            except (KubeError, UserError) as exc:
                log.warning("cannot start the recovery Job for %s: %s", meta["name"], exc)

    # --- missed schedules -------------------------------------------------------------------------
    def audit(self, manager: Manager, namespace: str, cron_jobs: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
        """Scheduled times with no Job, past the starting deadline; each reported once."""
        now = self.clock.now()
        missed: list[tuple[str, datetime]] = []
        for cj in cron_jobs:
            meta = cj["metadata"]
            job_name = (meta.get("labels") or {}).get(JOB_LABEL)
            plan = manager.by_name.get(job_name or "")
            if plan is None or cj.get("spec", {}).get("suspend"):
                continue
            seen = self.seen[(namespace, meta["name"])]
            start = max(seen.since, now - AUDIT_WINDOW, _created(cj) or seen.since)
            expression = cj["spec"]["schedule"]
            schedule = next((s for s in plan.schedules if s.expression == expression), None)
            if schedule is None:
                continue
            expected = list(schedule.times_between(start, now))
            report = classify.audit_schedule(
                expected, seen.jobs.values(), now=now, starting_deadline_s=plan.starting_deadline_seconds
            )
            for t in report.missed:
                if t not in seen.reported_missed:
                    seen.reported_missed.add(t)
                    missed.append((plan.name, t))
                    self.event(
                        namespace,
                        plan.manager,
                        "MissedSchedule",
                        f"{plan.name}: no Job was created for {t.isoformat()} (CronJob {meta['name']})",
                    )
                    if self.notifier is not None:
                        self.notifier.missed(plan, t)
            for t, seconds in report.late:
                if t not in seen.reported_late:
                    seen.reported_late.add(t)
                    self.late.append((plan.name, t, seconds))
                    self.event(
                        namespace,
                        plan.manager,
                        "LateStart",
                        f"{plan.name}: the Job for {t.isoformat()} was created {seconds:.0f}s late (CronJob "
                        f"{meta['name']}); the CronJob controller is overloaded or was down",
                    )
        return missed

    # --- events -----------------------------------------------------------------------------------
    def event(self, namespace: str, manager: str, reason: str, message: str) -> None:
        involved = {
            "apiVersion": "sengu.dev/v1alpha1",
            "kind": "CronjobManager",
            "name": manager,
            "namespace": namespace,
        }
        self.cluster.post_event(involved, "Warning", reason, message, now=self.clock.now(), component="sengu-operator")


def _created(obj: Mapping[str, Any]) -> datetime | None:
    text = (obj.get("metadata") or {}).get("creationTimestamp")
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


class ClusterNotifier:
    """Slack messages and Sentry check-ins for runs on the cluster, with the embedded engine's wording.

    Called from kopf's handler threads (no event loop there), so each send runs its own short loop.
    Secrets come from the operator's environment or mounted files, as the spec names them.
    """

    def __init__(self) -> None:
        self._checked_in: set[tuple[str, str]] = set()

    def check_in(self, plan: JobPlan, job_uid: str, state: str) -> None:
        """Sentry Crons: in_progress when a Job is seen running, ok/error when it ends; one id per Job."""
        import asyncio

        from sengu.batch.alerts import EngineHooks, secret_source
        from sengu.core.notify import NotifyError, SentryCrons, read_secret

        cfg = plan.notifications.sentry if plan.notifications else None
        status = {"active": "in_progress", "succeeded": "ok", "failed": "error"}[state]
        if cfg is None or (job_uid, status) in self._checked_in:
            return
        self._checked_in.add((job_uid, status))
        try:
            sentry = SentryCrons(read_secret(secret_source(cfg.dsn)), environment=cfg.environment)
            asyncio.run(
                sentry.check_in(
                    EngineHooks.sentry_slug(plan),
                    status,  # type: ignore[arg-type]
                    check_in_id=check_in_id(job_uid),
                    monitor_config=EngineHooks.monitor_config(plan) if status == "in_progress" else None,
                )
            )
        except (NotifyError, UserError) as exc:
            log.warning("Sentry check-in for %s not delivered: %s", plan.key, exc)

    def failure(self, plan: JobPlan, job_name: str, verdict: classify.JobFailure) -> None:
        text = f":red_circle: *{plan.key}* failed on Kubernetes (Job {job_name}): {verdict.message}"
        self._slack(plan, "failure", text)

    def missed(self, plan: JobPlan, when: datetime) -> None:
        text = f":warning: *{plan.key}* did not run at {when.astimezone(plan.zone).isoformat()}: no Job was created"
        self._slack(plan, "missed", text)

    def _slack(self, plan: JobPlan, event: str, text: str) -> None:
        import asyncio

        from sengu.batch.alerts import secret_source
        from sengu.core.notify import NotifyError, SlackNotifier, read_secret

        cfg = plan.notifications.slack if plan.notifications else None
        if cfg is None or event not in cfg.on:
            return
        try:
            notifier = SlackNotifier(read_secret(secret_source(cfg.webhook_url)))
            asyncio.run(notifier.send(text))
        except (NotifyError, UserError) as exc:
            log.warning("Slack %s message for %s not delivered: %s", event, plan.key, exc)
