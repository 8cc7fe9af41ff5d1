"""Failure classification and schedule audits against Job and Pod objects shaped like the API's.

The fixtures in kube_objects/ are what `kubectl get -o yaml` shows for each case (Kubernetes 1.30-1.32)
and are checked against the official 1.32 schemas, so a field name typed wrong here fails a test.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sengu.batch.classify import (
    DISRUPTIONS,
    JobFailure,
    PodFailure,
    ScheduleAudit,
    audit_schedule,
    classify_job,
    classify_pod,
    job_state,
    scheduled_time,
)
from sengu.batch.schedule import parse

FIXTURES = Path(__file__).parent / "kube_objects"
# Strings planted in the fixtures (a literal env value, a password in a termination message) that no
# verdict may repeat.
SECRETS = ("tok-9f8e7d6c5b4a", "do-not-leak", "hunter2")

Obj = dict[str, Any]


@functools.cache
def _read(name: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all((FIXTURES / f"{name}.yaml").read_text()) if d]


def load(name: str) -> tuple[Obj | None, list[Obj]]:
    """The Job (if any) and the Pods of one fixture file, fresh copies for the test to change."""
    docs = copy.deepcopy(_read(name))
    jobs = [d for d in docs if d["kind"] == "Job"]
    pods = [d for d in docs if d["kind"] == "Pod"]
    assert len(jobs) <= 1
    return (jobs[0] if jobs else None), pods


def all_fixtures() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.yaml"))


def assert_clean(message: str | None) -> None:
    if message is None:
        return
    assert "\n" not in message and "\r" not in message
    for secret in SECRETS:
        assert secret not in message


# --------------------------------------------------------------------------------------------------
# The fixtures themselves


def test_there_are_fixtures() -> None:
    assert len(all_fixtures()) >= 25


@pytest.mark.parametrize("name", all_fixtures())
def test_fixture_is_a_valid_kubernetes_object(name: str) -> None:
    job, pods = load(name)
    for doc in [job, *pods] if job else pods:
        kubernetes_validate.validate(doc, "1.32", strict=True)
    # Pods name their Job as the Job controller does, so classify_job's ownership check sees them.
    for pod in pods:
        if job is not None:
            owner = pod["metadata"]["ownerReferences"][0]
            assert owner["uid"] == job["metadata"]["uid"]


# --------------------------------------------------------------------------------------------------
# Jobs: one row per case


JOB_CASES = [
    # fixture, reason, final, exit code, what the message must say
    (
        "backoff-oomkilled",
        "OOMKilled",
        True,
        137,
        [
            "OOMKilled",
            "limit 256Mi",
            "3 of 3",
            "BackoffLimitExceeded",
            "backoffLimit 2",
            ": raise resources.limits.memory",
        ],
    ),
    (
        "backoff-exit-code",
        "NonZeroExit",
        True,
        3,
        ["exited with code 3", "BackoffLimitExceeded", "kubectl logs -n batch shop-stock-sync-29540345-r9t4j -c app"],
    ),
    ("crashloop-oomkilled", "OOMKilled", True, 137, ["limit 512Mi", "BackoffLimitExceeded"]),
    ("spot-then-oom", "OOMKilled", True, 137, ["2 of 2", "raise resources.limits.memory"]),
    ("init-container-failed", "NonZeroExit", True, 2, ["container migrate exited with code 2", "-c migrate"]),
    ("cannot-run", "CannotRun", True, 128, ["StartError", "no such file or directory", "check the command"]),
    (
        "deadline-exceeded",
        "DeadlineExceeded",
        True,
        None,
        ["activeDeadlineSeconds (1800s)", "raise activeDeadlineSeconds"],
    ),
    (
        "deadline-unschedulable",
        "DeadlineExceeded",
        True,
        None,
        ["activeDeadlineSeconds (600s)", "never scheduled", "Insufficient memory", "lower resources.requests"],
    ),
    ("pod-failure-policy", "NonZeroExit", True, 42, ["exited with code 42", "podFailurePolicy"]),
    (
        "pod-failure-policy-pods-gone",
        "PodFailurePolicy",
        True,
        42,
        ["exit code 42", "FailJob", "kubectl describe job -n batch"],
    ),
    (
        "spot-interrupted",
        "SpotInterruption",
        True,
        None,
        ["spot node ip-10-0-40-7", "imminent node shutdown", "not failed by the job itself", "capacityType: on-demand"],
    ),
    ("image-pull-backoff", "ImagePull", False, None, ["shop/batch:2026.03.0l", "ImagePullBackOff", "imagePullSecrets"]),
    ("config-error", "ConfigError", False, None, ['secret "shop-db" not found', "Secret or ConfigMap"]),
]


@pytest.mark.parametrize(("name", "reason", "final", "exit_code", "says"), JOB_CASES, ids=[c[0] for c in JOB_CASES])
def test_job_verdict(name: str, reason: str, final: bool, exit_code: int | None, says: list[str]) -> None:
    job, pods = load(name)
    assert job is not None
    verdict = classify_job(job, pods)
    assert verdict is not None
    assert (verdict.job, verdict.reason, verdict.final, verdict.exit_code) == (
        job["metadata"]["name"],
        reason,
        final,
        exit_code,
    )
    for text in says:
        assert text in verdict.message
    assert_clean(verdict.message)
    # The pod list backs the verdict: every failed pod the Job owns, in creation order.
    created = {p["metadata"]["name"]: p["metadata"]["creationTimestamp"] for p in pods}
    order = [created[f.pod] for f in verdict.pods]
    assert order == sorted(order)


@pytest.mark.parametrize("name", ["active-running", "succeeded-after-retry", "spot-retrying"])
def test_jobs_that_did_not_fail_have_no_verdict(name: str) -> None:
    job, pods = load(name)
    assert job is not None
    assert classify_job(job, pods) is None


def test_a_verdict_does_not_depend_on_the_order_pods_arrive_in() -> None:
    job, pods = load("spot-then-oom")
    assert job is not None
    assert classify_job(job, pods) == classify_job(job, list(reversed(pods)))


def test_a_disruption_is_chosen_only_when_nothing_else_failed() -> None:
    job, pods = load("spot-then-oom")
    assert job is not None
    verdict = classify_job(job, pods)
    assert verdict is not None
    assert [f.reason for f in verdict.pods] == ["SpotInterruption", "OOMKilled", "OOMKilled"]
    assert not verdict.disruption
    spot = classify_job(job, [p for p in pods if p["metadata"]["name"].endswith("a1b2c")])
    assert spot is not None and spot.reason == "SpotInterruption" and spot.disruption


def test_a_pod_still_waiting_for_a_node_is_not_the_root_cause() -> None:
    job, pods = load("backoff-oomkilled")
    assert job is not None
    pending = find_pod("pod-pending-scheduling", "u7v8w")
    pending["metadata"]["ownerReferences"][0]["uid"] = job["metadata"]["uid"]
    pending["metadata"]["creationTimestamp"] = "2026-03-02T03:02:58Z"  # the newest pod
    verdict = classify_job(job, [*pods, pending])
    assert verdict is not None
    assert verdict.reason == "OOMKilled" and "3 of 3" in verdict.message
    assert verdict.pods[-1].reason == "Unschedulable"


def test_pods_of_another_job_are_ignored() -> None:
    job, _ = load("active-running")
    _, oom_pods = load("backoff-oomkilled")
    _, config_pods = load("config-error")
    assert job is not None
    # The config-error pod belongs to another Job: its stuck state must not be reported for this one.
    assert classify_job(job, config_pods + oom_pods) is None


def test_stuck_pod_while_active_is_reported_early_but_not_final() -> None:
    job, pods = load("image-pull-backoff")
    assert job is not None
    assert job_state(job) == "active"
    verdict = classify_job(job, pods)
    assert verdict is not None and not verdict.final
    # Once the deadline fails the Job the same pod becomes the reason the run never started.
    failed = copy.deepcopy(job)
    failed["status"]["conditions"] = [
        {
            "type": "Failed",
            "status": "True",
            "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
            "lastTransitionTime": "2026-03-03T03:30:03Z",
        }
    ]
    final = classify_job(failed, pods)
    assert final is not None and final.final
    assert final.reason == "DeadlineExceeded"
    assert "never started" in final.message and "imagePullSecrets" in final.message


def test_a_failed_job_without_a_reason_or_pods_still_gets_a_verdict() -> None:
    job, _ = load("backoff-oomkilled")
    assert job is not None
    job = copy.deepcopy(job)
    job["status"]["conditions"] = [{"type": "Failed", "status": "True"}]
    verdict = classify_job(job, [])
    assert verdict is not None
    assert verdict.reason == "Failed" and verdict.final and verdict.pods == ()
    assert "kubectl describe job -n batch shop-daily-report-29540340" in verdict.message


def test_an_unknown_pod_failure_keeps_the_jobs_reason() -> None:
    job, pods = load("backoff-oomkilled")
    assert job is not None
    pod = copy.deepcopy(pods[0])
    del pod["status"]["containerStatuses"]
    verdict = classify_job(job, [pod])
    assert verdict is not None
    assert verdict.reason == "BackoffLimitExceeded"
    assert verdict.pods[0].reason == "Unknown"


# --------------------------------------------------------------------------------------------------
# job_state


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("active-running", "active"),
        ("image-pull-backoff", "active"),
        ("succeeded-after-retry", "succeeded"),
        ("backoff-oomkilled", "failed"),
        ("backoff-exit-code", "failed"),  # pre-1.31: Failed only
        ("deadline-unschedulable", "failed"),  # FailureTarget only: pods still terminating
        ("crashloop-oomkilled", "failed"),
    ],
)
def test_job_state(name: str, state: str) -> None:
    job, _ = load(name)
    assert job is not None
    assert job_state(job) == state


def test_job_state_reads_each_terminal_condition() -> None:
    def with_conditions(*conds: tuple[str, str]) -> Obj:
        return {"status": {"conditions": [{"type": t, "status": s} for t, s in conds]}}

    assert job_state(with_conditions(("SuccessCriteriaMet", "True"))) == "succeeded"
    assert job_state(with_conditions(("Complete", "True"))) == "succeeded"
    assert job_state(with_conditions(("FailureTarget", "True"))) == "failed"
    assert job_state(with_conditions(("Failed", "False"), ("Suspended", "True"))) == "active"
    assert job_state({"status": {"completionTime": "2026-03-02T03:12:09Z"}}) == "succeeded"
    assert job_state({}) == "active"


# --------------------------------------------------------------------------------------------------
# Pods: one row per case


POD_CASES = [
    # fixture, pod name suffix, reason, container, exit code, signal, what the message must say
    ("backoff-oomkilled", "7xk2p", "OOMKilled", "app", 137, None, ["limit 256Mi"]),
    ("backoff-exit-code", "h2v8c", "NonZeroExit", "app", 3, None, ["exited with code 3"]),
    ("crashloop-oomkilled", "y5z6a", "OOMKilled", "app", 137, None, ["limit 512Mi"]),
    ("init-container-failed", "b7c8d", "NonZeroExit", "migrate", 2, None, ["migrate"]),
    ("cannot-run", "e9f0g", "CannotRun", "app", 128, None, ['exec: "bin/daily-reprot"']),
    ("image-pull-backoff", "b5n7x", "ImagePull", "app", None, None, ["shop/batch:2026.03.0l", "ImagePullBackOff"]),
    ("config-error", "c3l0v", "ConfigError", "app", None, None, ['secret "shop-db" not found']),
    ("pod-invalid-image-name", "l1m2n", "ImagePull", "app", None, None, ["InvalidImageName", "must be lowercase"]),
    ("pod-sigkill", "f7g8h", "Signal", "app", 137, 9, ["SIGKILL"]),
    ("pod-segfault", "i9j0k", "Signal", "app", 139, 11, ["SIGSEGV"]),
    ("spot-interrupted", "f6r2m", "SpotInterruption", None, None, None, ["spot node", "TerminationByKubelet"]),
    ("spot-retrying", "j7k8l", "SpotInterruption", None, None, None, ["EvictionByEvictionAPI"]),
    ("pod-podgc-spot-affinity", "z3a4b", "SpotInterruption", None, None, None, ["PodGC: node no longer exists"]),
    ("pod-evicted-node-pressure", "k3l4m", "Evicted", None, None, None, ["low on resource: memory"]),
    ("pod-legacy-evicted", "n5o6p", "Evicted", None, None, None, ["low on resource: memory"]),
    ("pod-drained", "c5d6e", "Evicted", None, None, None, ["Eviction API"]),
    ("pod-preempted", "q7r8s", "Preempted", None, None, None, ["higher-priority"]),
    ("pod-node-shutdown", "t9u0v", "NodeLost", None, None, None, ["imminent node shutdown"]),
    ("pod-taint-manager", "w1x2y", "NodeLost", None, None, None, ["NoExecute"]),
    ("pod-rejected-out-of-memory", "o3p4q", "Rejected", None, None, None, ["OutOfmemory"]),
]


def find_pod(name: str, suffix: str) -> Obj:
    _, pods = load(name)
    (pod,) = [p for p in pods if p["metadata"]["name"].endswith("-" + suffix)]
    return pod


@pytest.mark.parametrize(
    ("name", "suffix", "reason", "container", "exit_code", "sig", "says"), POD_CASES, ids=[c[0] for c in POD_CASES]
)
def test_pod_failure(
    name: str, suffix: str, reason: str, container: str | None, exit_code: int | None, sig: int | None, says: list[str]
) -> None:
    pod = find_pod(name, suffix)
    failure = classify_pod(pod)
    assert failure is not None
    assert (failure.pod, failure.node, failure.container, failure.reason, failure.exit_code, failure.signal) == (
        pod["metadata"]["name"],
        pod["spec"].get("nodeName"),
        container,
        reason,
        exit_code,
        sig,
    )
    assert failure.message is not None
    for text in says:
        assert text in failure.message
    assert_clean(failure.message)
    assert failure.disruption == (reason in DISRUPTIONS)


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("active-running", "h1i2j"),  # running
        ("succeeded-after-retry", "v3w4x"),  # succeeded
        ("spot-retrying", "m9n0p"),  # the replacement, running
        ("pod-pending-scheduling", "u7v8w"),  # waiting for a node: Karpenter may still bring one
        ("pod-sidecar-stopping", "r5s6t"),  # app exited 0; its sidecar's SIGKILL on the way out is no failure
    ],
)
def test_pods_that_did_not_fail(name: str, suffix: str) -> None:
    assert classify_pod(find_pod(name, suffix)) is None


def test_the_advice_fits_the_kind_of_eviction() -> None:
    job, _ = load("active-running")
    assert job is not None
    drained = classify_job(_failed(job), [find_pod("pod-drained", "c5d6e")])
    pressure = classify_job(_failed(job), [find_pod("pod-evicted-node-pressure", "k3l4m")])
    assert drained is not None and pressure is not None
    assert "node was drained" in drained.message
    assert "resources.requests" in pressure.message


def _failed(job: Obj) -> Obj:
    job = copy.deepcopy(job)
    del job["metadata"]["uid"]  # without a uid to compare, pods of other fixtures count as this Job's
    job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    return job


def test_oomkilled_without_a_limit_says_so() -> None:
    pod = find_pod("backoff-oomkilled", "7xk2p")
    pod["spec"]["containers"][0]["resources"] = {}
    failure = classify_pod(pod)
    assert failure is not None and "no memory limit" in (failure.message or "")
    pod["spec"]["resources"] = {"limits": {"memory": "1Gi"}}  # pod-level resources
    failure = classify_pod(pod)
    assert failure is not None and "limit 1Gi" in (failure.message or "")


def test_signal_field_is_used_when_the_runtime_sets_it() -> None:
    pod = find_pod("backoff-exit-code", "h2v8c")
    pod["status"]["containerStatuses"][0]["state"]["terminated"].update({"exitCode": 2, "signal": 6})
    failure = classify_pod(pod)
    assert failure is not None
    assert (failure.reason, failure.signal, failure.exit_code) == ("Signal", 6, 2)
    assert "SIGABRT" in (failure.message or "")


def test_spot_node_shutdown_without_disruption_conditions() -> None:
    pod = find_pod("spot-interrupted", "f6r2m")
    pod["status"]["conditions"] = [c for c in pod["status"]["conditions"] if c["type"] != "DisruptionTarget"]
    failure = classify_pod(pod)
    assert failure is not None and failure.reason == "SpotInterruption"
    pod["spec"]["nodeSelector"]["karpenter.sh/capacity-type"] = "on-demand"
    failure = classify_pod(pod)
    assert failure is not None and failure.reason == "NodeLost"


def test_spot_needs_every_affinity_term_to_require_it() -> None:
    pod = find_pod("pod-podgc-spot-affinity", "z3a4b")
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    terms.append(
        {"matchExpressions": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}]}
    )
    failure = classify_pod(pod)
    assert failure is not None and failure.reason == "NodeLost"


def test_wrongly_typed_fields_count_as_absent() -> None:
    pod = find_pod("backoff-exit-code", "h2v8c")
    pod["status"]["containerStatuses"][0]["state"]["terminated"].update({"exitCode": True, "reason": 7})
    failure = classify_pod(pod)
    assert failure is not None  # the pod did fail (phase Failed), but no exit code is known
    assert (failure.reason, failure.exit_code) == ("Unknown", None)
    pod["spec"]["nodeName"] = ["not", "a", "name"]
    pod["status"]["containerStatuses"] = {"name": "app"}
    failure = classify_pod(pod)
    assert failure is not None and failure.node is None


def test_pod_deadline_and_unknown_failures() -> None:
    pod = find_pod("active-running", "h1i2j")
    pod["status"] = {
        "phase": "Failed",
        "reason": "DeadlineExceeded",
        "message": "Pod was active on the node longer than the specified deadline",
    }
    failure = classify_pod(pod)
    assert failure is not None and failure.reason == "DeadlineExceeded"
    pod["status"] = {"phase": "Failed"}
    failure = classify_pod(pod)
    assert failure is not None and failure.reason == "Unknown"


# --------------------------------------------------------------------------------------------------
# scheduled_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02T12:00:00+09:00", datetime(2026, 3, 2, 3, 0, tzinfo=UTC)),  # the CronJob's timeZone
        ("2026-03-02T03:05:00Z", datetime(2026, 3, 2, 3, 5, tzinfo=UTC)),  # no timeZone: UTC
        ("2026-11-01T01:30:00-05:00", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        ("2026-03-02T12:00:00", None),  # no offset: not RFC 3339
        ("yesterday", None),
        ("0001-01-01T00:00:00+01:00", None),  # valid text, but before year 1 in UTC
        ("9999-12-31T23:59:59-01:00", None),  # after year 9999 in UTC
        ("", None),
        (1772420400, None),
        (None, None),
    ],
)
def test_scheduled_time(value: object, expected: datetime | None) -> None:
    job = {"metadata": {"annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": value}}}
    got = scheduled_time(job)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == timedelta(0)


def test_scheduled_time_of_fixtures() -> None:
    job, _ = load("backoff-oomkilled")
    assert job is not None
    assert scheduled_time(job) == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert scheduled_time({"metadata": {}}) is None


# --------------------------------------------------------------------------------------------------
# audit_schedule


def cron_job(scheduled: str | None, created: str | None) -> Obj:
    """A Job as the CronJob controller creates it: the annotation in the CronJob's zone."""
    meta: Obj = {"name": "shop-daily-report-x", "namespace": "batch"}
    if scheduled is not None:
        meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": scheduled}
    if created is not None:
        meta["creationTimestamp"] = created
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta}


def test_audit_across_the_end_of_daylight_saving_time() -> None:
    # 01:30 happens twice in New York on 2026-11-01, and the CronJob controller fires at both.
    schedule = parse("30 1 * * *", "America/New_York")
    expected = list(schedule.times_between(datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)))
    assert len(expected) == 5
    jobs = [
        cron_job("2026-10-30T01:30:00-04:00", "2026-10-30T05:30:02Z"),
        # 10-31 never ran
        cron_job("2026-11-01T01:30:00-04:00", "2026-11-01T05:31:40Z"),  # first 01:30, 100 s late
        # the second 01:30 (EST) never ran: it must not be matched by the first one's wall time
        cron_job("2026-11-02T01:30:00-05:00", "2026-11-02T06:30:03Z"),
    ]
    audit = audit_schedule(expected, jobs, now=datetime(2026, 11, 2, 12, tzinfo=UTC), starting_deadline_s=300)
    assert [t.astimezone(UTC) for t in audit.missed] == [
        datetime(2026, 10, 31, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    ]
    assert audit.missed[1].utcoffset() == timedelta(hours=-5)  # the objects given, in their zone
    assert [(t.astimezone(UTC), late) for t, late in audit.late] == [(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), 100.0)]


def test_audit_across_the_start_of_daylight_saving_time() -> None:
    # 02:30 does not exist in New York on 2026-03-08: no run is expected, so none is missed.
    schedule = parse("30 2 * * *", "America/New_York")
    expected = list(schedule.times_between(datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)))
    jobs = [
        cron_job("2026-03-06T02:30:00-05:00", "2026-03-06T07:30:01Z"),
        cron_job("2026-03-07T02:30:00-05:00", "2026-03-07T07:30:01Z"),
        cron_job("2026-03-09T06:30:00Z", "2026-03-09T06:30:01Z"),  # same instant written in UTC
    ]
    audit = audit_schedule(expected, jobs, now=datetime(2026, 3, 10, tzinfo=UTC), starting_deadline_s=300)
    assert audit == ScheduleAudit(missed=[], late=[])


def test_a_run_is_missed_only_once_its_starting_window_has_closed() -> None:
    t = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)

    def missed(after: float) -> list[datetime]:
        now = t + timedelta(seconds=after)
        return audit_schedule([t], [], now=now, starting_deadline_s=300, grace_s=60).missed

    assert missed(-10) == []  # in the future
    assert missed(200) == []  # the controller may still start it
    assert missed(360) == []  # deadline + grace, exactly
    assert missed(361) == [t]


def test_late_means_created_more_than_late_after_s_after_the_scheduled_time() -> None:
    t = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    now = t + timedelta(hours=1)
    on_time = audit_schedule(
        [t], [cron_job("2026-03-02T03:00:00Z", "2026-03-02T03:01:00Z")], now=now, starting_deadline_s=300
    )
    assert on_time.late == [] and on_time.missed == []
    late = audit_schedule(
        [t], [cron_job("2026-03-02T03:00:00Z", "2026-03-02T03:01:01Z")], now=now, starting_deadline_s=300
    )
    assert late.late == [(t, 61.0)]
    stricter = audit_schedule(
        [t],
        [cron_job("2026-03-02T03:00:00Z", "2026-03-02T03:00:20Z")],
        now=now,
        starting_deadline_s=300,
        late_after_s=10,
    )
    assert stricter.late == [(t, 20.0)]


def test_audit_edge_cases() -> None:
    t1 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    t2 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    now = datetime(2026, 3, 3, tzinfo=UTC)
    jobs = [
        cron_job(None, "2026-03-02T03:00:01Z"),  # created by hand or by a controller before 1.28: no annotation
        cron_job("2026-03-02T04:00:00Z", "2026-03-02T04:09:00Z"),  # late ...
        cron_job("2026-03-02T04:00:00Z", "2026-03-02T04:00:02Z"),  # ... but this copy was on time: earliest counts
        cron_job("2026-03-02T05:00:00Z", None),  # not expected in this window: ignored
    ]
    audit = audit_schedule([t2, t1, t1], jobs, now=now, starting_deadline_s=300)
    assert audit == ScheduleAudit(missed=[t1], late=[])
    # A Job whose creation time is unknown counts as run, never as late.
    audit = audit_schedule([t1], [cron_job("2026-03-02T03:00:00Z", None)], now=now, starting_deadline_s=300)
    assert audit == ScheduleAudit(missed=[], late=[])


def test_audit_wants_aware_times() -> None:
    t = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        audit_schedule([t.replace(tzinfo=None)], [], now=t, starting_deadline_s=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        audit_schedule([t], [], now=t.replace(tzinfo=None), starting_deadline_s=0)


# --------------------------------------------------------------------------------------------------
# Partial and malformed objects never raise

K8S_KEYS = [
    "metadata",
    "name",
    "namespace",
    "uid",
    "annotations",
    "creationTimestamp",
    "ownerReferences",
    "kind",
    "controller",
    "spec",
    "status",
    "phase",
    "reason",
    "message",
    "conditions",
    "type",
    "containerStatuses",
    "initContainerStatuses",
    "state",
    "lastState",
    "terminated",
    "waiting",
    "running",
    "exitCode",
    "signal",
    "image",
    "nodeName",
    "nodeSelector",
    "containers",
    "initContainers",
    "resources",
    "limits",
    "memory",
    "restartPolicy",
    "affinity",
    "nodeAffinity",
    "requiredDuringSchedulingIgnoredDuringExecution",
    "nodeSelectorTerms",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "activeDeadlineSeconds",
    "backoffLimit",
    "completionTime",
    "batch.kubernetes.io/cronjob-scheduled-timestamp",
    "karpenter.sh/capacity-type",
]
K8S_WORDS = [
    "True",
    "False",
    "Failed",
    "FailureTarget",
    "Complete",
    "SuccessCriteriaMet",
    "DisruptionTarget",
    "Pending",
    "Running",
    "Succeeded",
    "OOMKilled",
    "Error",
    "Completed",
    "StartError",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CrashLoopBackOff",
    "Evicted",
    "Terminated",
    "PodFailurePolicy",
    "BackoffLimitExceeded",
    "DeadlineExceeded",
    "TerminationByKubelet",
    "EvictionByEvictionAPI",
    "spot",
    "In",
    "Always",
    "PodScheduled",
    "Job",
    "app",
    "2026-03-02T03:00:00Z",
    "2026-03-02T12:00:00+09:00",
    "0001-01-01T00:00:00+01:00",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(K8S_WORDS)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(K8S_KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)


def is_int_or_none(value: object) -> bool:
    return value is None or type(value) is int


def check_pod_result(result: PodFailure | None) -> None:
    assert result is None or isinstance(result, PodFailure)
    if result is not None:
        assert isinstance(result.reason, str) and result.reason
        assert is_int_or_none(result.exit_code) and is_int_or_none(result.signal)
        assert_clean(result.message)


def check_job_result(job: object, result: JobFailure | None) -> None:
    assert result is None or isinstance(result, JobFailure)
    if result is not None:
        assert isinstance(result.message, str) and result.message
        assert is_int_or_none(result.exit_code)
        assert_clean(result.message)
        for pod in result.pods:
            check_pod_result(pod)
        assert result.final == (job_state(job) == "failed")  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job=json_values, pods=st.lists(json_values, max_size=4) | json_values)
def test_arbitrary_input_never_raises(job: Any, pods: Any) -> None:
    check_job_result(job, classify_job(job, pods))
    check_pod_result(classify_pod(job))
    assert job_state(job) in ("active", "succeeded", "failed")
    assert scheduled_time(job) is None or scheduled_time(job).tzinfo is not None  # type: ignore[union-attr]
    for pod in pods if isinstance(pods, list) else [pods]:
        check_pod_result(classify_pod(pod))


def paths(obj: object, prefix: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def mutate(doc: Obj, data: st.DataObject) -> Obj:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 6))):
        options = list(paths(doc))
        if not options:
            break
        *parent_path, last = data.draw(st.sampled_from(options))
        parent: Any = doc
        for step in parent_path:
            parent = parent[step]
        if data.draw(st.booleans()):
            del parent[last]
        else:
            parent[last] = data.draw(json_values)
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_real_objects_never_raise(data: st.DataObject) -> None:
    job, pods = load(data.draw(st.sampled_from([n for n in all_fixtures() if load(n)[0] is not None])))
    assert job is not None
    job = mutate(job, data) if data.draw(st.booleans()) else job
    pods = [mutate(p, data) for p in pods]
    check_job_result(job, classify_job(job, pods))
    for doc in [job, *pods]:
        check_pod_result(classify_pod(doc))
    audit_schedule(
        [datetime(2026, 3, 2, 3, 0, tzinfo=UTC)], [job], now=datetime(2026, 3, 3, tzinfo=UTC), starting_deadline_s=300
    )
