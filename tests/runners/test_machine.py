"""The workflow-job state machine: every path, and properties over arbitrary event sequences."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.runners.machine import (
    Completed,
    ComputeStopped,
    Decided,
    Event,
    InProgress,
    Job,
    LaunchFailed,
    Limits,
    Queued,
    ReportRejection,
    Resolve,
    StartRunner,
    Step,
    StopRunner,
    Tick,
    UnknownJob,
    Waiting,
    runner_name,
    step,
    take,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LIMITS = Limits(boot_timeout=timedelta(minutes=10), max_job_duration=timedelta(hours=6), max_launches=3)
QUEUED = Queued(7, 1, "my-org/app", ("self-hosted", "sengu", "cpu-2"))
ANNOUNCED = replace(QUEUED, announced=True)  # a `queued` delivery, as opposed to the reconciler's listing
WAITING = Waiting(7, 1, "my-org/app", ("self-hosted", "sengu", "cpu-2"))


def run(events: list[Event], start: Job | None = None) -> tuple[Job, list[object]]:
    job, actions = start, []
    for i, event in enumerate(events):
        result = step(job, event, T0 + timedelta(seconds=i), LIMITS)
        job = result.job
        actions.extend(result.actions)
    assert job is not None
    return job, actions


def test_happy_path() -> None:
    job, actions = run([QUEUED, Decided("ci-7-1-1"), InProgress("ci-7-1-1"), Completed("success", "ci-7-1-1")])
    assert job.state == "completed" and job.reason == "success"
    assert actions == [Resolve(), StartRunner("ci-7-1-1"), StopRunner("job completed")]


def test_duplicates_change_nothing() -> None:
    job, actions = run([QUEUED, QUEUED, Decided("r1"), Decided("r2"), InProgress("r1"), InProgress("r1")])
    assert job.state == "running" and job.runner_name == "r1"
    assert actions == [Resolve(), StartRunner("r1")]


def test_rejection_is_reported_once() -> None:
    job, actions = run([QUEUED, Decided(None, "label 'cpu-64': at most 4 vCPU"), QUEUED])
    assert job.state == "rejected"
    assert actions == [Resolve(), ReportRejection("label 'cpu-64': at most 4 vCPU")]


def test_cancelled_before_start_releases_the_runner() -> None:
    job, actions = run([QUEUED, Decided("r1"), Completed("cancelled", None)])
    assert job.state == "cancelled"
    assert actions[-1] == StopRunner("job cancelled before our runner took it")


def test_job_taken_by_another_runner_stops_ours() -> None:
    job, actions = run([QUEUED, Decided("r1"), InProgress("someone-else")])
    assert job.state == "completed" and actions[-1] == StopRunner("job taken by runner someone-else")


def test_spot_interruption_before_start_relaunches_on_demand() -> None:
    job, actions = run([QUEUED, Decided("r1"), ComputeStopped("SpotInterruption", True, True)])
    assert job.state == "queued" and job.capacity_override == "on-demand"
    assert actions[-2:] == [StopRunner("spot interruption: SpotInterruption", runner="r1"), Resolve()]
    job, actions = run([Decided(runner_name(job, "ci"))], job)
    assert actions == [StartRunner("ci-7-1-2", "on-demand")]


def test_spot_interruption_while_running_fails() -> None:
    job, _ = run([QUEUED, Decided("r1"), InProgress("r1"), ComputeStopped("SpotInterruption", True, True)])
    assert job.state == "failed" and "SpotInterruption" in (job.reason or "")


def test_boot_timeout_replaces_the_runner_then_expires() -> None:
    job, _ = run([QUEUED, Decided("r1")])
    assert step(job, Tick(), T0 + timedelta(minutes=9), LIMITS).job.state == "launching"
    replaced = step(job, Tick(), T0 + timedelta(minutes=11), LIMITS)
    assert replaced.job.state == "queued" and "boot timeout" in (replaced.job.reason or "")
    assert [type(a) for a in replaced.actions] == [StopRunner, Resolve]
    job, _ = run([Decided("r2"), LaunchFailed("throttled"), Decided("r3")], replaced.job)
    assert job.attempts == LIMITS.max_launches
    expired = step(job, Tick(), T0 + timedelta(minutes=30), LIMITS)
    assert expired.job.state == "expired" and expired.actions == [StopRunner(expired.job.reason or "")]


def test_max_duration() -> None:
    job, _ = run([QUEUED, Decided("r1"), InProgress("r1")])
    assert step(job, Tick(), T0 + timedelta(hours=7), LIMITS).job.state == "expired"


def test_launch_failures_retry_then_fail() -> None:
    job, actions = run([QUEUED, Decided("r1"), LaunchFailed("throttled")])
    assert job.state == "queued" and actions[-1] == Resolve()
    assert job.runner_name is None and StopRunner("throttled", runner="r1") in actions  # the old one goes by name
    job, _ = run([Decided("r2"), LaunchFailed("throttled"), Decided("r3"), LaunchFailed("throttled")], job)
    assert job.state == "failed" and job.attempts == 3


A = Job(1, 1, "my-org/app", ("self-hosted", "sengu"), state="launching", runner_name="ra", attempts=1)
B = Job(2, 1, "my-org/app", ("self-hosted", "sengu"), state="launching", runner_name="rb", attempts=1)


def test_a_job_run_on_another_jobs_runner_hands_its_own_runner_over() -> None:
    took, gave = take(B, A, "ra", T0)
    assert took.job.state == "running" and took.job.runner_name == "ra" and took.actions == []
    assert gave is not None and gave.job.state == "launching" and gave.job.runner_name == "rb" and gave.actions == []


def test_a_runner_that_cannot_run_the_waiting_job_is_stopped_and_the_job_queued_again() -> None:
    big = replace(A, labels=("self-hosted", "sengu", "cpu-4"))
    took, gave = take(B, big, "ra", T0)
    assert took.job.runner_name == "ra" and took.actions == [StopRunner("its job ran on runner ra", runner="rb")]
    assert gave is not None and gave.job.state == "queued" and gave.job.runner_name is None
    assert gave.actions == [Resolve()]


def test_a_taken_runner_whose_job_is_over_only_frees_the_takers_own() -> None:
    done = replace(A, state="completed")
    took, gave = take(B, done, "ra", T0)
    assert gave is None and took.job.state == "running"
    assert took.actions == [StopRunner("its job ran on runner ra", runner="rb")]
    queued = replace(B, state="queued", runner_name=None)  # waited for room: no runner of its own to give
    took, gave = take(queued, A, "ra", T0)
    assert took.actions == [] and gave is not None and gave.job.state == "queued" and gave.actions == [Resolve()]
    assert take(replace(B, state="completed"), A, "ra", T0) == (Step(replace(B, state="completed")), None)


def test_a_job_held_for_approval_gets_no_runner_until_queued() -> None:
    job, actions = run([WAITING, WAITING, Tick()])
    assert job.state == "waiting" and actions == [] and job.runner_name is None
    approved = step(job, ANNOUNCED, T0 + timedelta(hours=1), LIMITS)
    assert approved.job.state == "queued" and approved.actions == [Resolve()]
    assert approved.job.queued_at == T0 + timedelta(hours=1)  # queued from the approval on, for the metrics
    job, actions = run([Decided("ci-7-1-1")], approved.job)
    assert job.state == "launching" and actions == [StartRunner("ci-7-1-1")]
    late, actions = run([WAITING], job)  # deliveries arrive out of order: waiting never undoes queued
    assert late == job and actions == []


def test_the_reconciler_seeing_a_waiting_job_queued_queues_it() -> None:
    job, actions = run([WAITING, QUEUED])
    assert job.state == "queued" and actions == [Resolve()]


def test_a_job_cancelled_while_it_waited_ends_without_a_runner() -> None:
    job, actions = run([WAITING, Completed("failure", None)])
    assert job.state == "cancelled" and actions == []


def test_a_queued_delivery_brings_an_expired_job_back_with_launches_of_its_own() -> None:
    expired = Job(7, 1, "my-org/app", ("self-hosted", "sengu"), "expired", attempts=3, reason="boot timeout")
    assert step(expired, QUEUED, T0, LIMITS).job == expired  # the reconciler's listing alone: no
    back = step(expired, ANNOUNCED, T0, LIMITS)
    assert back.job.state == "queued" and back.actions == [Resolve()] and back.job.reason is None
    assert runner_name(back.job, "ci") == "ci-7-1-4"  # never the name of an earlier runner
    job, _ = run([Decided("ci-7-1-4"), LaunchFailed("x"), Decided("ci-7-1-5"), LaunchFailed("x")], back.job)
    assert job.state == "queued" and job.attempts == 5  # two of its three launches spent
    job, _ = run([Decided("ci-7-1-6"), LaunchFailed("x")], job)
    assert job.state == "failed"
    completed = replace(expired, state="completed")
    assert step(completed, ANNOUNCED, T0, LIMITS).job == completed  # only an expired job comes back


def test_events_for_unknown_jobs() -> None:
    with pytest.raises(UnknownJob):
        step(None, InProgress("r1"), T0, LIMITS)


EVENTS = st.one_of(
    st.just(QUEUED),
    st.just(WAITING),
    st.builds(Decided, st.sampled_from(["r1", "r2"]), st.sampled_from([None, None, None, "too big"])),
    st.builds(LaunchFailed, st.just("boom"), st.booleans()),
    st.builds(InProgress, st.sampled_from(["r1", "r2", "other", None])),
    st.builds(Completed, st.sampled_from(["success", "failure", "cancelled", None]), st.sampled_from(["r1", None])),
    st.builds(ComputeStopped, st.just("stopped"), st.booleans(), st.booleans()),
    st.just(Tick()),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(EVENTS, max_size=25), st.lists(st.integers(0, 8 * 3600), max_size=25))
def test_no_runner_left_behind(events: list[Event], offsets: list[int]) -> None:
    job: Job | None = None
    actions: list[object] = []
    now = T0
    final_seen: Job | None = None
    for event, offset in zip([QUEUED, *events], [0, *offsets], strict=False):
        now = now + timedelta(seconds=offset)
        result = step(job, event, now, LIMITS)
        if final_seen is not None:
            assert result.job == final_seen and result.actions == []  # final states are final
        job = result.job
        actions.extend(result.actions)
        if job.final:
            final_seen = job
    starts = [a for a in actions if isinstance(a, StartRunner)]
    assert len(starts) <= LIMITS.max_launches
    assert job is not None
    if job.final and starts:
        last_start = max(i for i, a in enumerate(actions) if isinstance(a, StartRunner))
        assert any(isinstance(a, StopRunner) for a in actions[last_start:]), (job, actions)


def test_a_job_given_a_warm_runner_launches_nothing_and_is_stopped_as_any_other() -> None:
    job, actions = run([QUEUED, Decided("ci-warm-1", warm=True)])
    assert (job.state, job.runner_name, job.attempts) == ("launching", "ci-warm-1", 1)
    assert actions == [Resolve()]  # no StartRunner: the runner is up already
    job, actions = run([InProgress("ci-warm-1"), Completed("success", "ci-warm-1")], start=job)
    assert job.state == "completed" and actions == [StopRunner("job completed")]
