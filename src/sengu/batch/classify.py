"""Why a batch run failed on Kubernetes, read from Job and Pod status; which scheduled runs never came.

Pure functions over the dicts the API returns (camelCase keys, as kopf and the watch stream give
them). Objects from a watch can be partial or odd, so nothing here raises on a strange shape: a
field that is missing or of the wrong type counts as absent.

The verdict names the most useful root cause rather than the Job controller's bookkeeping reason:
a Job that ran out of retries because each pod was OOMKilled is reported as ``OOMKilled`` with the
back-off in the message. Disruptions (spot interruption, preemption, eviction, a lost node) are
reported, but never chosen over a failure of the job itself.

Messages are one line: what failed, then what to do. They quote Kubernetes' own messages (kubelet,
scheduler, container runtime), never a container's termination message or logs, which are written
by the application and may hold anything, secrets included.
"""

from __future__ import annotations

import re
import signal as signals
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "DISRUPTIONS",
    "SCHEDULED_TIMESTAMP",
    "STUCK",
    "JobFailure",
    "PodFailure",
    "ScheduleAudit",
    "audit_schedule",
    "classify_job",
    "classify_pod",
    "job_state",
    "scheduled_time",
]

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"

# Pod failure reasons that are not the job's fault: the pod was taken away from a healthy run.
DISRUPTIONS = frozenset({"SpotInterruption", "Preempted", "Evicted", "NodeLost"})
# Pod states that never resolve by themselves: the Job waits (until its deadline, if any) while the
# pod sits there, so they are worth reporting before the Job fails.
STUCK = frozenset({"ImagePull", "ConfigError"})

JobState = Literal["active", "succeeded", "failed"]


@dataclass(frozen=True)
class PodFailure:
    """What happened to one pod."""

    pod: str
    node: str | None
    container: str | None
    # OOMKilled | ImagePull | ConfigError | CannotRun | NonZeroExit | Signal | SpotInterruption |
    # Preempted | Evicted | NodeLost | DeadlineExceeded | Rejected | Unschedulable | Unknown
    reason: str
    exit_code: int | None
    signal: int | None
    message: str | None  # one line for humans: what happened, quoting Kubernetes where it helps

    @property
    def disruption(self) -> bool:
        """True when the pod was taken away (spot, preemption, eviction, node loss), not failed by itself."""
        return self.reason in DISRUPTIONS


@dataclass(frozen=True)
class JobFailure:
    """The verdict for one Job (one run)."""

    job: str
    reason: str
    message: str  # one line: what failed and what to do
    exit_code: int | None
    pods: tuple[PodFailure, ...]
    final: bool  # the Job has failed for good: no more retries

    @property
    def disruption(self) -> bool:
        return self.reason in DISRUPTIONS


@dataclass(frozen=True)
class ScheduleAudit:
    missed: list[datetime] = field(default_factory=list)
    late: list[tuple[datetime, float]] = field(default_factory=list)  # (scheduled, seconds late)


# --------------------------------------------------------------------------------------------------
# Reading objects that may be partial


def _get(obj: object, *path: str) -> object:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str(obj: object, *path: str) -> str | None:
    value = _get(obj, *path)
    return value if isinstance(value, str) and value else None


def _int(obj: object, *path: str) -> int | None:
    value = _get(obj, *path)
    # bool is an int to Python but never a count or a code to Kubernetes
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _maps(obj: object, *path: str) -> list[Mapping[str, Any]]:
    value = _get(obj, *path)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _condition(obj: object, kind: str) -> Mapping[str, Any] | None:
    """The condition of type ``kind`` whose status is "True", if any."""
    for cond in _maps(obj, "status", "conditions"):
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


_SPACE = re.compile(r"\s+")


def _clean(text: object, limit: int = 200, *, tail: bool = False) -> str | None:
    """Kubernetes' message on one line and of bounded length.

    ``tail`` keeps the end instead of the start: container runtimes wrap errors outside-in, so the
    cause ('no such file or directory', 'not found') comes last.
    """
    if not isinstance(text, str):
        return None
    one_line = _SPACE.sub(" ", text).strip()
    if not one_line:
        return None
    if len(one_line) <= limit:
        return one_line
    if tail:
        return "…" + one_line[1 - limit :].lstrip()
    return one_line[: limit - 1].rstrip() + "…"


def _without(text: str | None, image: str) -> str | None:
    """A pull error without the image reference it repeats (it is already in the sentence)."""
    if text is None or not image:
        return text
    text = re.sub(r'\s*"?' + re.escape(image) + '"?', "", text)
    return re.sub(r":(\s*:)+", ":", text).strip() or None


def _named(node: str | None) -> str:
    return f" {node}" if node else ""


def _signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --------------------------------------------------------------------------------------------------
# Pods

_IMAGE_PULL = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
        "SignatureValidationFailed",
        "ImageInspectError",
    }
)
_CONFIG = frozenset({"CreateContainerConfigError"})
# The runtime could not create or start the process: bad command, missing binary, failed hook.
_CANNOT_RUN_WAITING = frozenset(
    {"CreateContainerError", "RunContainerError", "PreCreateHookError", "PreStartHookError", "PostStartHookError"}
)
_CANNOT_RUN_TERMINATED = frozenset({"ContainerCannotRun", "StartError"})
# status.reason values the kubelet sets when it refuses a pod at admission (phase Failed, no containers ran).
_REJECTED_PREFIXES = ("OutOf", "UnexpectedAdmissionError", "NodeAffinity", "NodeShutdown", "SysctlForbidden")
# How sure a container's state is as the pod's cause: lower wins when several containers failed.
_RANK = {"ImagePull": 0, "ConfigError": 0, "CannotRun": 1, "OOMKilled": 2, "NonZeroExit": 3, "Signal": 4, "Unknown": 5}

# Node labels that put a pod on spot capacity (Karpenter, EKS managed node groups, GKE, AKS, kOps).
_SPOT_LABELS: dict[str, frozenset[str]] = {
    "karpenter.sh/capacity-type": frozenset({"spot"}),
    "eks.amazonaws.com/capacityType": frozenset({"SPOT"}),
    "cloud.google.com/gke-spot": frozenset({"true"}),
    "cloud.google.com/gke-preemptible": frozenset({"true"}),
    "kubernetes.azure.com/scalesetpriority": frozenset({"spot"}),
    "node.kubernetes.io/lifecycle": frozenset({"spot"}),
}


def _on_spot(pod: object) -> bool:
    """Whether the pod could only run on spot capacity.

    Read from the pod's own placement: the operator has no access to Node objects, and the node is
    usually gone by the time we look.
    """
    selector = _get(pod, "spec", "nodeSelector")
    if isinstance(selector, Mapping):
        for key, values in _SPOT_LABELS.items():
            if _str(selector, key) in values:
                return True
    terms = _maps(
        pod, "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"
    )
    if not terms:
        return False

    def spot_only(term: Mapping[str, Any]) -> bool:
        for expr in _maps(term, "matchExpressions"):
            allowed = _SPOT_LABELS.get(_str(expr, "key") or "")
            values = expr.get("values")
            if (
                allowed is not None
                and expr.get("operator") == "In"
                and isinstance(values, list)
                and values
                and all(isinstance(v, str) and v in allowed for v in values)
            ):
                return True
        return False

    # Terms are ORed: every one of them must pin the pod to spot.
    return all(spot_only(term) for term in terms)


def _memory_limit(pod: object, container: str) -> str | None:
    for spec in (*_maps(pod, "spec", "containers"), *_maps(pod, "spec", "initContainers")):
        if spec.get("name") == container:
            limit = _get(spec, "resources", "limits", "memory")
            if isinstance(limit, str | int) and not isinstance(limit, bool):
                return str(limit)
    limit = _get(pod, "spec", "resources", "limits", "memory")  # pod-level resources (1.32+)
    return str(limit) if isinstance(limit, str | int) and not isinstance(limit, bool) else None


@dataclass(frozen=True)
class _Found:
    reason: str
    container: str
    exit_code: int | None = None
    signal: int | None = None
    message: str | None = None


def _terminated(pod: object, name: str, term: Mapping[str, Any]) -> _Found | None:
    """A terminated container state as a failure, or None if it exited 0."""
    code = _int(term, "exitCode")
    sig = _int(term, "signal")
    reason = _str(term, "reason")
    if reason == "OOMKilled":
        limit = _memory_limit(pod, name)
        detail = f"limit {limit}" if limit else "no memory limit set: the node ran out of memory"
        return _Found("OOMKilled", name, code, sig, f"container {name} was OOMKilled ({detail})")
    if reason in _CANNOT_RUN_TERMINATED:
        # The runtime's message (e.g. 'exec: "x": executable file not found in $PATH') is the useful part.
        why = _clean(term.get("message"), tail=True)
        return _Found(
            "CannotRun", name, code, sig, f"container {name} could not start ({reason}{': ' + why if why else ''})"
        )
    if sig:
        return _Found("Signal", name, code, sig, f"container {name} was killed by {_signal_name(sig)}")
    if code is None:
        if reason in (None, "Completed"):
            return None
        return _Found("Unknown", name, None, None, f"container {name} terminated ({reason})")
    if code == 0:
        return None
    if 128 < code < 160:
        # The shell convention 128+n: the process died of signal n (the kubelet leaves `signal` unset).
        sig = code - 128
        return _Found(
            "Signal", name, code, sig, f"container {name} was killed by {_signal_name(sig)} (exit code {code})"
        )
    return _Found("NonZeroExit", name, code, None, f"container {name} exited with code {code}")


def _container(pod: object, status: Mapping[str, Any], sidecar: bool, history: bool) -> _Found | None:
    name = _str(status, "name") or "?"
    waiting = _get(status, "state", "waiting")
    if isinstance(waiting, Mapping):
        reason = _str(waiting, "reason")
        why = _clean(waiting.get("message"), tail=True)
        if reason in _IMAGE_PULL:
            image = _str(status, "image") or "?"
            why = _clean(_without(_str(waiting, "message"), image), tail=True)
            detail = f"{reason}: {why}" if why else reason
            return _Found("ImagePull", name, message=f"container {name} cannot pull image {image} ({detail})")
        if reason in _CONFIG:
            return _Found("ConfigError", name, message=f"container {name} cannot be created: {why or reason}")
        if reason in _CANNOT_RUN_WAITING:
            return _Found(
                "CannotRun", name, message=f"container {name} could not start ({reason}{': ' + why if why else ''})"
            )
    if sidecar:
        # A restartable init container is stopped when the main containers finish; its exit says nothing.
        return None
    last = _get(status, "lastState", "terminated")
    term = _get(status, "state", "terminated")
    if isinstance(term, Mapping):
        return _terminated(pod, name, term)
    if isinstance(waiting, Mapping) and isinstance(last, Mapping):
        # CrashLoopBackOff and friends (restartPolicy OnFailure): the last exit is the failure.
        return _terminated(pod, name, last)
    if history and isinstance(last, Mapping):
        # Running again after a failed try; when the Job has already failed, that try is the story.
        return _terminated(pod, name, last)
    if isinstance(waiting, Mapping) and _str(waiting, "reason") == "CrashLoopBackOff":
        return _Found("Unknown", name, message=f"container {name} keeps crashing (CrashLoopBackOff)")
    return None


def _sidecars(pod: object) -> set[str]:
    return {
        _str(spec, "name") or ""
        for spec in _maps(pod, "spec", "initContainers")
        if spec.get("restartPolicy") == "Always"
    }


def _containers(pod: object, history: bool) -> _Found | None:
    sidecars = _sidecars(pod)
    found: list[_Found] = []
    for status in _maps(pod, "status", "initContainerStatuses"):
        hit = _container(pod, status, _str(status, "name") in sidecars, history)
        if hit is not None:
            found.append(hit)
    for status in _maps(pod, "status", "containerStatuses"):
        hit = _container(pod, status, False, history)
        if hit is not None:
            found.append(hit)
    if not found:
        return None
    return min(found, key=lambda f: _RANK.get(f.reason, 9))  # stable: the first of equal rank wins


_DRAINED = "pod was evicted through the Eviction API"


def _disruption(pod: object, cond: Mapping[str, Any], node: str | None) -> tuple[str, str]:
    """(reason, message) for a pod carrying the DisruptionTarget condition."""
    why = _str(cond, "reason") or "DisruptionTarget"
    detail = _clean(cond.get("message"))
    status_reason = _str(pod, "status", "reason")
    status_message = _clean(_get(pod, "status", "message"))
    where = f" on node {node}" if node else ""
    said = f"{why}: {detail}" if detail else why
    spot = _on_spot(pod)
    if why == "PreemptionByScheduler" or status_reason == "Preempting":
        return "Preempted", f"pod was preempted{where} to make room for a higher-priority pod ({said})"
    if why == "TerminationByKubelet" and status_reason == "Evicted":
        return "Evicted", f"pod was evicted by the kubelet{where}: {status_message or detail or 'node pressure'}"
    if spot:
        return "SpotInterruption", f"pod lost its spot node{_named(node)} ({said})"
    if why == "EvictionByEvictionAPI":
        return "Evicted", f"{_DRAINED}{where}, as when a node is drained ({said})"
    if why in ("DeletionByPodGC", "DeletionByTaintManager", "TerminationByKubelet"):
        return "NodeLost", f"pod's node{_named(node)} went away ({said})"
    return "Evicted", f"pod was disrupted{where} ({said})"


def _pod_status_reason(pod: object, node: str | None) -> tuple[str, str] | None:
    """(reason, message) from status.reason of a failed pod, for clusters without disruption conditions."""
    reason = _str(pod, "status", "reason")
    if reason is None:
        return None
    said = _clean(_get(pod, "status", "message"))
    where = f" on node {node}" if node else ""
    detail = f"{reason}: {said}" if said else reason
    if reason == "Evicted":
        return "Evicted", f"pod was evicted{where}: {said or 'node pressure'}"
    if reason == "Preempting":
        return "Preempted", f"pod was preempted{where} ({detail})"
    if reason in ("Terminated", "Shutdown", "NodeLost"):
        if _on_spot(pod):
            return "SpotInterruption", f"pod lost its spot node{_named(node)} ({detail})"
        return "NodeLost", f"pod's node{_named(node)} went away ({detail})"
    if reason == "DeadlineExceeded":
        return "DeadlineExceeded", f"pod ran past its activeDeadlineSeconds ({detail})"
    if reason.startswith(_REJECTED_PREFIXES):
        return "Rejected", f"node{_named(node)} refused to run the pod ({detail})"
    return None


def _classify(pod: object, *, history: bool = False) -> PodFailure | None:
    if not isinstance(pod, Mapping):
        return None
    name = _str(pod, "metadata", "name") or "?"
    node = _str(pod, "spec", "nodeName")
    phase = _str(pod, "status", "phase")
    if phase == "Succeeded":
        return None

    def failure(reason: str, message: str, found: _Found | None = None) -> PodFailure:
        return PodFailure(
            pod=name,
            node=node,
            container=found.container if found else None,
            reason=reason,
            exit_code=found.exit_code if found else None,
            signal=found.signal if found else None,
            message=message,
        )

    cond = _condition(pod, "DisruptionTarget")
    if cond is not None:
        return failure(*_disruption(pod, cond, node))
    if phase == "Failed":
        by_status = _pod_status_reason(pod, node)
        if by_status is not None:
            return failure(*by_status)
    found = _containers(pod, history)
    if found is not None:
        return failure(found.reason, found.message or f"container {found.container} failed", found)
    if phase == "Failed":
        reason = _str(pod, "status", "reason")
        said = _clean(_get(pod, "status", "message"))
        detail = ": ".join(part for part in (reason, said) if part) or "no reason given by Kubernetes"
        return failure("Unknown", f"pod failed ({detail})")
    return None


def classify_pod(pod: Mapping[str, Any]) -> PodFailure | None:
    """What went wrong with this pod; None if it has not failed (yet).

    A pod stuck waiting for its image or a missing Secret/ConfigMap counts as failed: it never
    recovers by itself. A pod in a crash loop is reported by its last exit.
    """
    return _classify(pod)


def _unschedulable(pod: object) -> PodFailure | None:
    """A pod that was never placed: the usual reason a Job hits its deadline without running."""
    if _str(pod, "status", "phase") not in (None, "Pending") or _str(pod, "spec", "nodeName"):
        return None
    for cond in _maps(pod, "status", "conditions"):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            # The scheduler appends why preemption would not help either; the first part says it all.
            text = _str(cond, "message")
            said = _clean(text.split(" preemption:")[0] if text else None) or _str(cond, "reason") or "no node fits"
            return PodFailure(
                pod=_str(pod, "metadata", "name") or "?",
                node=None,
                container=None,
                reason="Unschedulable",
                exit_code=None,
                signal=None,
                message=f"pod was never scheduled ({said})",
            )
    return None


# --------------------------------------------------------------------------------------------------
# Jobs


def job_state(job: Mapping[str, Any]) -> JobState:
    """Where the Job stands. FailureTarget and SuccessCriteriaMet already decide the outcome (1.31+):
    the controller is only waiting for pods to terminate before it sets Failed or Complete."""
    if _condition(job, "Failed") or _condition(job, "FailureTarget"):
        return "failed"
    if _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet"):
        return "succeeded"
    if _str(job, "status", "completionTime"):
        return "succeeded"  # set only on success, and by controllers older than the conditions
    return "active"


def _created(obj: object) -> datetime:
    return _time(_get(obj, "metadata", "creationTimestamp")) or datetime.min.replace(tzinfo=UTC)


def _owned_by(pod: object, job_uid: str | None) -> bool:
    if job_uid is None:
        return True
    for ref in _maps(pod, "metadata", "ownerReferences"):
        if ref.get("kind") == "Job" and ref.get("controller") is True:
            return ref.get("uid") == job_uid
    return True


_ADVICE = {
    "OOMKilled": "raise resources.limits.memory",
    "ConfigError": "create the missing Secret or ConfigMap, or fix the reference to it",
    "CannotRun": "check the command and that the image contains it",
    "Preempted": "give the job a higher priority (PriorityClass) or add capacity",
    "SpotInterruption": "nothing to fix in the job; "
    "set placement.capacityType: on-demand if runs must not be interrupted",
    "NodeLost": "nothing to fix in the job: the node failed or shut down",
    "DeadlineExceeded": "raise activeDeadlineSeconds or make the job faster",
    "Rejected": "lower resources.requests or fix placement so the pod fits the node",
    "Unschedulable": "lower resources.requests or fix placement (arch, capacityType, nodeSelector, tolerations)",
}


def _advice(failure: PodFailure, namespace: str | None) -> str:
    if failure.reason in _ADVICE:
        return _ADVICE[failure.reason]
    target = f"-n {namespace} {failure.pod}" if namespace else failure.pod
    logs = f"kubectl logs {target}" + (f" -c {failure.container}" if failure.container else "")
    if failure.reason == "Evicted":
        if failure.message and failure.message.startswith(_DRAINED):
            return "nothing to fix in the job: its node was drained"
        return "set resources.requests to what the job really uses, so it is not the first evicted under node pressure"
    if failure.reason == "ImagePull":
        if "InvalidImageName" in (failure.message or ""):
            return "fix image: it is not a valid image reference"
        return "check that image (name and tag) exists and that the cluster may pull it (imagePullSecrets)"
    if failure.reason == "Signal":
        if failure.signal == signals.SIGKILL:
            return f"it was killed from outside (memory, a probe or a deadline): kubectl describe pod {target}"
        if failure.signal == signals.SIGTERM:
            return f"it was asked to stop (pod deleted or deadline): kubectl describe pod {target}"
        return f"it crashed; read its logs: {logs}"
    if failure.reason == "NonZeroExit":
        return f"read its logs: {logs}"
    return f"check the pod's events: kubectl describe pod {target}"


_POLICY_EXIT = re.compile(r"exit code (\d{1,3})\b")


def _sentence(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def classify_job(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> JobFailure | None:
    """The verdict for one Job, from its status and its pods' last known states; None if not failed.

    An active Job is reported (``final=False``) only when a pod is stuck (image pull, missing
    config): the Job would otherwise wait silently until its deadline, or forever without one.
    """
    if not isinstance(job, Mapping):
        return None
    name = _str(job, "metadata", "name") or "?"
    namespace = _str(job, "metadata", "namespace")
    uid = _str(job, "metadata", "uid")
    state = job_state(job)
    if state == "succeeded":
        return None
    listed = pods if isinstance(pods, Sequence) and not isinstance(pods, str | bytes) else []
    mine = [p for p in listed if isinstance(p, Mapping) and _owned_by(p, uid)]
    mine.sort(key=lambda p: (_created(p), _str(p, "metadata", "name") or ""))
    final = state == "failed"

    failures: list[PodFailure] = []
    for pod in mine:
        found = _classify(pod, history=final) or (_unschedulable(pod) if final else None)
        if found is not None:
            failures.append(found)

    if not final:
        stuck = [f for f in failures if f.reason in STUCK]
        if not stuck:
            return None
        root = stuck[-1]
        message = _sentence(root.message or root.reason, "the run cannot start until this is fixed")
        return JobFailure(name, root.reason, f"{message}: {_advice(root, namespace)}", None, tuple(failures), False)

    cond = _condition(job, "Failed") or _condition(job, "FailureTarget") or {}
    job_reason = _str(cond, "reason") or "Failed"
    job_said = _clean(cond.get("message"))
    pods_out = tuple(failures)

    if job_reason == "DeadlineExceeded":
        deadline = _int(job, "spec", "activeDeadlineSeconds")
        head = f"the run exceeded activeDeadlineSeconds ({deadline}s)" if deadline else "the run exceeded its deadline"
        last = failures[-1] if failures else None
        blocked = last if last is not None and last.reason in (*STUCK, "Unschedulable", "CannotRun") else None
        if blocked is not None:
            message = f"{_sentence(head, 'its pod never started: ' + (blocked.message or blocked.reason))}: "
            return JobFailure(name, "DeadlineExceeded", message + _advice(blocked, namespace), None, pods_out, True)
        own = [f for f in failures if not f.disruption and f.reason != "Signal"]
        earlier = f"earlier tries failed: {own[-1].message}" if own else ""
        message = f"{_sentence(head + ' and was stopped', earlier)}: {_ADVICE['DeadlineExceeded']}"
        return JobFailure(name, "DeadlineExceeded", message, None, pods_out, True)

    # The job's own failures first; then disruptions; a pod that merely never got a node, last.
    own = [f for f in failures if not f.disruption and f.reason != "Unschedulable"]
    candidates = own or [f for f in failures if f.disruption] or failures
    if job_reason == "BackoffLimitExceeded":
        limit = _int(job, "spec", "backoffLimit")
        context = f"retries ran out (BackoffLimitExceeded, backoffLimit {6 if limit is None else limit})"
    elif job_reason == "PodFailurePolicy":
        context = "a podFailurePolicy rule failed the Job without retrying (PodFailurePolicy)"
    else:
        context = f"the Job failed ({job_reason}{': ' + job_said if job_said else ''})"

    if not candidates:
        # The pods are gone (TTL, or we never saw them): all we have is the Job's condition.
        code = None
        if job_reason == "PodFailurePolicy" and job_said and (m := _POLICY_EXIT.search(job_said)):
            code = int(m.group(1))
        said = f"the Job failed ({job_reason}{': ' + job_said if job_said else ''})"
        target = f"-n {namespace} " if namespace else ""
        return JobFailure(
            name, job_reason, f"{said}: check its events: kubectl describe job {target}{name}", code, pods_out, True
        )

    root = candidates[-1]
    same = sum(1 for f in candidates if f.reason == root.reason and f.container == root.container)
    count = f" in {same} of {len(candidates)} failed pods" if len(candidates) > 1 else ""
    what = (root.message or root.reason) + count
    if root.disruption:
        context += "; the pods were disrupted, not failed by the job itself"
    reason = job_reason if root.reason == "Unknown" else root.reason
    return JobFailure(
        name, reason, f"{_sentence(what, context)}: {_advice(root, namespace)}", root.exit_code, pods_out, True
    )


# --------------------------------------------------------------------------------------------------
# Schedules


def scheduled_time(job: Mapping[str, Any]) -> datetime | None:
    """When the CronJob controller meant this Job to run, from the annotation it sets (Kubernetes
    1.28+), as an aware UTC datetime. None when the annotation is missing or not RFC 3339."""
    return _time(_get(job, "metadata", "annotations", SCHEDULED_TIMESTAMP))


def _utc(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {t.isoformat()}")
    return t.astimezone(UTC)


def audit_schedule(
    expected: Iterable[datetime],
    jobs: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    starting_deadline_s: int,
    late_after_s: float = 60.0,
    grace_s: float = 60.0,
) -> ScheduleAudit:
    """Compare the fire times a schedule should have produced with the Jobs that exist.

    A time is missed when no Job carries it as its scheduled timestamp and the controller's
    starting window (startingDeadlineSeconds, plus ``grace_s`` for informer and clock lag) has
    closed; a time still inside the window is neither missed nor late. A Job created more than
    ``late_after_s`` after its scheduled time is late. Returned times are the ``expected`` objects,
    in order; each is reported once. Suspended periods are the caller's to leave out.
    """
    now_utc = _utc(now, "now")
    created_at: dict[datetime, datetime | None] = {}
    for job in jobs:
        when = scheduled_time(job)
        if when is None:
            continue
        created = _time(_get(job, "metadata", "creationTimestamp"))
        known = created_at.get(when)
        if when not in created_at or (created is not None and (known is None or created < known)):
            created_at[when] = created

    # Compared as UTC instants: two datetimes in one zone compare by wall time, which would match
    # the two passes of a repeated hour at the end of daylight saving time with each other.
    window = starting_deadline_s + grace_s
    missed: list[tuple[datetime, datetime]] = []
    late: list[tuple[datetime, datetime, float]] = []
    seen: set[datetime] = set()
    for t in expected:
        key = _utc(t, "expected times")
        if key in seen:
            continue
        seen.add(key)
        if key in created_at:
            created = created_at[key]
            if created is not None:
                delay = (created - key).total_seconds()
                if delay > late_after_s:
                    late.append((key, t, delay))
        elif (now_utc - key).total_seconds() > window:
            missed.append((key, t))
    missed.sort(key=lambda item: item[0])
    late.sort(key=lambda item: item[0])
    return ScheduleAudit(missed=[t for _, t in missed], late=[(t, delay) for _, t, delay in late])
