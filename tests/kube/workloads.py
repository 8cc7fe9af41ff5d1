"""What the cluster's controllers and kubelet would write, for the emulator's test helpers.

No CronJob controller, Job controller or kubelet runs in the emulator, so tests play their part with
these shapes, copied from what Kubernetes 1.32 writes: the Job a CronJob creates (name
`<cronjob>-<scheduled unix minutes>`, the scheduled-timestamp annotation, a controller owner reference),
the Pods a Job creates, container states (running, terminated with an exit code and reason such as
OOMKilled, waiting on ErrImagePull), the Pod DisruptionTarget condition, and the Job conditions
(SuccessCriteriaMet then Complete; FailureTarget then Failed with BackoffLimitExceeded,
DeadlineExceeded or PodFailurePolicy).

Pure functions: they take objects and times and return new dicts.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"

JOB_FAILURE_MESSAGES = {
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
    "PodFailurePolicy": "Container main for pod {pod} failed with exit code 1 matching FailJob rule at index 0",
    "MaxFailedIndexesExceeded": "Job has exceeded the specified maximal number of failed indexes",
    "FailedIndexes": "Job has failed indexes",
}

DISRUPTION_MESSAGES = {
    "PreemptionByScheduler": "default-scheduler: preempting to accommodate a higher priority pod",
    "DeletionByTaintManager": "Taint manager: deleting due to NoExecute taint",
    "EvictionByEvictionAPI": "Eviction API: evicting",
    "DeletionByPodGC": "PodGC: node no longer exists",
    "TerminationByKubelet": "Pod was terminated in response to imminent node shutdown.",
}

IMAGE_PULL_MESSAGES = {
    "ErrImagePull": (
        'failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found'
    ),
    "ImagePullBackOff": 'Back-off pulling image "{image}"',
    "InvalidImageName": 'Failed to apply default image tag "{image}": couldn\'t parse image name',
}


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"],
    }


def job_name_for(cronjob_name: str, scheduled: datetime) -> str:
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def job_from_cronjob(cronjob: Mapping[str, Any], scheduled: datetime, name: str | None = None) -> dict[str, Any]:
    template = cronjob["spec"]["jobTemplate"]
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = rfc3339(scheduled)
    metadata: dict[str, Any] = {
        "name": name or job_name_for(cronjob["metadata"]["name"], scheduled),
        "namespace": cronjob["metadata"]["namespace"],
        "annotations": annotations,
        "ownerReferences": [owner_reference(cronjob)],
    }
    if template_meta.get("labels"):
        metadata["labels"] = dict(template_meta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": copy.deepcopy(template["spec"])}


def job_pod_labels(job_name: str, job_uid: str) -> dict[str, str]:
    """The labels the API server adds to a Job's pod template (and so to its pods)."""
    return {
        "batch.kubernetes.io/controller-uid": job_uid,
        "batch.kubernetes.io/job-name": job_name,
        "controller-uid": job_uid,
        "job-name": job_name,
    }


def default_job(job: dict[str, Any]) -> dict[str, Any]:
    """The selector and pod-template labels the API server generates when a Job is created."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector"):
        return job
    meta = job["metadata"]
    labels = job_pod_labels(meta["name"], meta["uid"])
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}}
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
    return job


def _qos_class(pod_spec: Mapping[str, Any]) -> str:
    containers = [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res) is not None
        and (r.get("requests") or {}).get(res, (r.get("limits") or {}).get(res)) == (r.get("limits") or {}).get(res)
        for r in resources
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def pod_for_job(job: Mapping[str, Any], name: str, now: datetime) -> dict[str, Any]:
    template = job["spec"]["template"]
    template_meta = template.get("metadata") or {}
    meta = job["metadata"]
    labels = {**(template_meta.get("labels") or {}), **job_pod_labels(meta["name"], meta["uid"])}
    metadata: dict[str, Any] = {
        "name": name,
        "generateName": f"{meta['name']}-",
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(job)],
    }
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    spec = copy.deepcopy(template["spec"])
    status = {
        "phase": "Pending",
        "qosClass": _qos_class(spec),
        "conditions": [_condition("PodScheduled", "True", now)],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def _condition(
    kind: str, status: str, now: datetime, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(now),
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def set_condition(conditions: list[dict[str, Any]], condition: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the condition of the same type, keeping the order; a new type goes last."""
    result = [c for c in conditions if c.get("type") != condition["type"]]
    position = next((i for i, c in enumerate(conditions) if c.get("type") == condition["type"]), len(result))
    result.insert(position, condition)
    return result


def _container(pod: Mapping[str, Any], container: str | None) -> Mapping[str, Any]:
    containers: list[Mapping[str, Any]] = pod["spec"]["containers"]
    if container is None:
        return containers[0]
    for c in containers:
        if c["name"] == container:
            return c
    raise KeyError(f"pod {pod['metadata']['name']} has no container {container!r}")


def _status_of(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status["name"] == container["name"]:
            return copy.deepcopy(status)
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
    }


def _put_status(status: dict[str, Any], container_status: dict[str, Any], pod: Mapping[str, Any]) -> None:
    order = [c["name"] for c in pod["spec"]["containers"]]
    others = [s for s in status.get("containerStatuses") or [] if s["name"] != container_status["name"]]
    status["containerStatuses"] = sorted([*others, container_status], key=lambda s: order.index(s["name"]))


def pod_running(pod: Mapping[str, Any], now: datetime, container: str | None = None) -> dict[str, Any]:
    result = copy.deepcopy(dict(pod))
    target = _container(result, container)
    status = result.setdefault("status", {})
    cs = _status_of(result, target)
    cs.update(
        {
            "imageID": f"{target['image']}@sha256:{_digest(target['image'])}",
            "containerID": "containerd://"
            + _digest(result["metadata"]["name"], target["name"], str(cs["restartCount"])),
            "ready": True,
            "started": True,
            "state": {"running": {"startedAt": rfc3339(now)}},
        }
    )
    _put_status(status, cs, result)
    status["phase"] = "Running"
    status.setdefault("startTime", rfc3339(now))
    status.setdefault("podIP", "10.0.0.10")
    status.setdefault("hostIP", "192.168.0.10")
    ready = all(s.get("ready") for s in status["containerStatuses"]) and len(status["containerStatuses"]) == len(
        result["spec"]["containers"]
    )
    conditions = status.get("conditions") or []
    for kind in ("PodReadyToStartContainers", "Initialized"):
        conditions = set_condition(conditions, _condition(kind, "True", now))
    for kind in ("Ready", "ContainersReady"):
        conditions = set_condition(conditions, _condition(kind, "True" if ready else "False", now))
    status["conditions"] = conditions
    return result


def pod_waiting(
    pod: Mapping[str, Any], now: datetime, reason: str, message: str | None = None, container: str | None = None
) -> dict[str, Any]:
    result = copy.deepcopy(dict(pod))
    target = _container(result, container)
    status = result.setdefault("status", {})
    cs = _status_of(result, target)
    text = message or IMAGE_PULL_MESSAGES.get(reason, "").format(image=target["image"]) or None
    cs["state"] = {"waiting": {"reason": reason, **({"message": text} if text else {})}}
    cs["ready"] = False
    cs["started"] = False
    _put_status(status, cs, result)
    status["phase"] = status.get("phase") or "Pending"
    status.setdefault("startTime", rfc3339(now))
    conditions = status.get("conditions") or []
    for kind in ("Ready", "ContainersReady"):
        conditions = set_condition(
            conditions,
            _condition(kind, "False", now, "ContainersNotReady", f"containers with unready status: [{target['name']}]"),
        )
    status["conditions"] = conditions
    return result


def pod_terminated(
    pod: Mapping[str, Any],
    now: datetime,
    *,
    exit_code: int,
    reason: str | None = None,
    message: str | None = None,
    container: str | None = None,
) -> dict[str, Any]:
    """The container exits. With restartPolicy OnFailure a failed container restarts (CrashLoopBackOff)."""
    result = copy.deepcopy(dict(pod))
    target = _container(result, container)
    status = result.setdefault("status", {})
    cs = _status_of(result, target)
    started_at = ((cs.get("state") or {}).get("running") or {}).get("startedAt", rfc3339(now))
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": started_at,
        "finishedAt": rfc3339(now),
        "containerID": cs.get("containerID") or f"containerd://{_digest(result['metadata']['name'], target['name'])}",
    }
    if message:
        terminated["message"] = message
    restarts = result["spec"].get("restartPolicy") == "OnFailure" and exit_code != 0
    if restarts:
        cs["lastState"] = {"terminated": terminated}
        cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
        cs["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": (
                    f"back-off 10s restarting failed container={target['name']} pod={result['metadata']['name']}"
                ),
            }
        }
    else:
        cs["state"] = {"terminated": terminated}
    cs["ready"] = False
    cs["started"] = False
    cs.setdefault("imageID", f"{target['image']}@sha256:{_digest(target['image'])}")
    _put_status(status, cs, result)
    statuses = status["containerStatuses"]
    all_done = len(statuses) == len(result["spec"]["containers"]) and all("terminated" in s["state"] for s in statuses)
    if all_done:
        status["phase"] = "Succeeded" if all(s["state"]["terminated"]["exitCode"] == 0 for s in statuses) else "Failed"
    status.setdefault("startTime", rfc3339(now))
    conditions = status.get("conditions") or []
    if all_done:
        for kind in ("Ready", "ContainersReady"):
            conditions = set_condition(conditions, _condition(kind, "False", now, "PodCompleted"))
    else:
        for kind in ("Ready", "ContainersReady"):
            conditions = set_condition(
                conditions,
                _condition(
                    kind, "False", now, "ContainersNotReady", f"containers with unready status: [{target['name']}]"
                ),
            )
    status["conditions"] = conditions
    return result


def pod_disrupted(pod: Mapping[str, Any], now: datetime, reason: str, message: str | None = None) -> dict[str, Any]:
    """A DisruptionTarget condition, and the containers killed by SIGTERM (exit 143)."""
    result = copy.deepcopy(dict(pod))
    status = result.setdefault("status", {})
    text = message or DISRUPTION_MESSAGES.get(reason, reason)
    status["conditions"] = set_condition(
        status.get("conditions") or [], _condition("DisruptionTarget", "True", now, reason, text)
    )
    for container in result["spec"]["containers"]:
        cs = _status_of(result, container)
        if "terminated" not in (cs.get("state") or {}):
            result = pod_terminated(result, now, exit_code=143, reason="Error", container=container["name"])
            status = result["status"]
    status["phase"] = "Failed"
    if reason == "TerminationByKubelet":
        status["reason"] = "Terminated"
        status["message"] = text
    return result


def job_active(job: Mapping[str, Any], now: datetime, delta: int = 1) -> dict[str, Any]:
    result = copy.deepcopy(dict(job))
    status = result.setdefault("status", {})
    active = max(0, int(status.get("active", 0)) + delta)
    if active:
        status["active"] = active
    else:
        status.pop("active", None)
    status.setdefault("startTime", rfc3339(now))
    status.setdefault("ready", 0)
    status.setdefault("terminating", 0)
    status.setdefault("uncountedTerminatedPods", {})
    return result


def job_succeeded(job: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    result = copy.deepcopy(dict(job))
    status = result.setdefault("status", {})
    status.pop("active", None)
    status["succeeded"] = max(1, int(status.get("succeeded", 0)))
    status.setdefault("startTime", rfc3339(now))
    status["completionTime"] = rfc3339(now)
    status["ready"] = 0
    status["terminating"] = 0
    status["uncountedTerminatedPods"] = {}
    message = "Reached expected number of succeeded pods"
    conditions = status.get("conditions") or []
    conditions = set_condition(conditions, _condition("SuccessCriteriaMet", "True", now, "CompletionsReached", message))
    status["conditions"] = set_condition(conditions, _condition("Complete", "True", now, "CompletionsReached", message))
    return result


def job_failed(job: Mapping[str, Any], now: datetime, reason: str, message: str | None = None) -> dict[str, Any]:
    result = copy.deepcopy(dict(job))
    status = result.setdefault("status", {})
    status.pop("active", None)
    backoff = int((result.get("spec") or {}).get("backoffLimit", 6))
    if reason == "BackoffLimitExceeded":
        status["failed"] = max(backoff + 1, int(status.get("failed", 0)))
    else:
        status["failed"] = max(1, int(status.get("failed", 0)))
    status.setdefault("startTime", rfc3339(now))
    status["ready"] = 0
    status["terminating"] = 0
    status["uncountedTerminatedPods"] = {}
    text = message or JOB_FAILURE_MESSAGES.get(reason, reason).format(pod=f"{result['metadata']['namespace']}/pod")
    conditions = status.get("conditions") or []
    conditions = set_condition(conditions, _condition("FailureTarget", "True", now, reason, text))
    status["conditions"] = set_condition(conditions, _condition("Failed", "True", now, reason, text))
    return result


def cronjob_job_started(cronjob: Mapping[str, Any], job: Mapping[str, Any], scheduled: datetime) -> dict[str, Any]:
    result = copy.deepcopy(dict(cronjob))
    status = result.setdefault("status", {})
    ref = object_reference(job)
    status["active"] = [*(a for a in status.get("active") or [] if a.get("uid") != ref["uid"]), ref]
    status["lastScheduleTime"] = rfc3339(scheduled)
    return result


def cronjob_job_finished(
    cronjob: Mapping[str, Any], job: Mapping[str, Any], succeeded: bool, now: datetime
) -> dict[str, Any]:
    result = copy.deepcopy(dict(cronjob))
    status = result.setdefault("status", {})
    remaining = [a for a in status.get("active") or [] if a.get("uid") != job["metadata"]["uid"]]
    if remaining:
        status["active"] = remaining
    else:
        status.pop("active", None)
    if succeeded:
        status["lastSuccessfulTime"] = rfc3339(now)
    return result
