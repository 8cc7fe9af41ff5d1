"""The life of one workflow job, as a pure state machine: events in, the new state and actions out.

queued → launching → running → completed, or rejected / failed / cancelled / expired; a job held for an
environment's approval is `waiting` (no runner) until GitHub queues it. Webhooks and the
reconciler (which lists queued jobs from the GitHub API, so a lost webhook still gets a runner) feed the
same events; every event is safe to apply twice (deliveries are duplicated, the reconciler repeats
itself), and an event that does not fit the current state changes nothing. The adapter stores the new
state and only then carries out the actions, so a crash between the two repeats an action rather than
losing one: actions are idempotent by construction (a launch is keyed by the runner name, a termination
by the compute handle).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

State = Literal["waiting", "queued", "launching", "running", "completed", "rejected", "failed", "cancelled", "expired"]
FINAL: frozenset[str] = frozenset({"completed", "rejected", "failed", "cancelled", "expired"})


@dataclass(frozen=True)
class Job:
    """One (job id, run attempt) of a workflow, and the runner sengu made for it."""

    job_id: int
    run_attempt: int
    repository: str
    labels: tuple[str, ...]
    state: State = "queued"
    queued_at: datetime | None = None
    launched_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runner_name: str | None = None
    attempts: int = 0  # launches made (a spot interruption before the job started launches again)
    reason: str | None = None
    capacity_override: str | None = None  # "on-demand" after a spot interruption, when policy allows
    # Launches made before GitHub queued the job again: they name runners but spend none of its launches.
    earlier_attempts: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.job_id, self.run_attempt)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def may_launch_again(self, limits: Limits) -> bool:
        return self.attempts - self.earlier_attempts < limits.max_launches


# --- events -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Queued:
    """A job waits for a runner (webhook `queued`, or the reconciler saw it queued).

    `announced`: GitHub sent a `queued` delivery for it just now (after an approval, or a re-queue), which
    brings back a job that expired here; the reconciler seeing it still queued does not (that would undo
    the launch limit of a job whose runners never come up)."""

    job_id: int
    run_attempt: int
    repository: str
    labels: tuple[str, ...]
    announced: bool = False


@dataclass(frozen=True)
class Waiting:
    """GitHub holds the job for an environment's approval (webhook `waiting`, REST status "waiting"): no
    runner until it is queued."""

    job_id: int
    run_attempt: int
    repository: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Decided:
    """Labels resolved: launch `runner_name`, or reject with `reason`. `warm`: the runner is a warm one,
    up already, that the job takes instead of a launch."""

    runner_name: str | None
    rejection: str | None = None
    warm: bool = False


@dataclass(frozen=True)
class LaunchFailed:
    reason: str
    retryable: bool = True


@dataclass(frozen=True)
class InProgress:
    """GitHub says the job runs, on `runner_name`."""

    runner_name: str | None


@dataclass(frozen=True)
class Completed:
    """GitHub says the job ended; `conclusion` is GitHub's (success, failure, cancelled…)."""

    conclusion: str | None
    runner_name: str | None


@dataclass(frozen=True)
class ComputeStopped:
    """The backend's compute ended (observed), with a reason such as SpotInterruption."""

    reason: str | None
    spot_interruption: bool = False
    on_demand_allowed: bool = False


@dataclass(frozen=True)
class Tick:
    """Time passed: enforce the boot and maximum-duration timeouts."""


Event = Queued | Waiting | Decided | LaunchFailed | InProgress | Completed | ComputeStopped | Tick


# --- actions ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolve:
    """Resolve the job's labels (policy, sizes) and decide."""


@dataclass(frozen=True)
class StartRunner:
    runner_name: str
    capacity_override: str | None = None


@dataclass(frozen=True)
class StopRunner:
    """Terminate the compute and deregister the runner from GitHub (deregister first): the job's runner, or
    the named one."""

    reason: str
    runner: str | None = None


@dataclass(frozen=True)
class ReportRejection:
    reason: str


Action = Resolve | StartRunner | StopRunner | ReportRejection


@dataclass(frozen=True)
class Limits:
    boot_timeout: timedelta = timedelta(minutes=10)
    max_job_duration: timedelta = timedelta(hours=6)
    max_launches: int = 3


@dataclass
class Step:
    job: Job
    actions: list[Action] = field(default_factory=list)


def runner_name(job: Job, pool: str) -> str:
    """Unique per launch: a retried launch must not collide with the runner of the previous one (409)."""
    return f"{pool}-{job.job_id}-{job.run_attempt}-{job.attempts + 1}"[:64]


def step(job: Job | None, event: Event, now: datetime, limits: Limits) -> Step:
    """The next state of `job` (None: not known yet) after `event`, and what to do about it."""
    if job is None:
        if isinstance(event, Waiting):
            held = Job(event.job_id, event.run_attempt, event.repository, tuple(event.labels), "waiting", queued_at=now)
            return Step(held)  # queued_at moves to when GitHub queues it, for the latency metrics
        if not isinstance(event, Queued):
            # A job we never saw queued (started before us, or not ours): nothing to track.
            raise UnknownJob
        new = Job(event.job_id, event.run_attempt, event.repository, tuple(event.labels), queued_at=now)
        return Step(new, [Resolve()])
    if isinstance(event, Queued) and event.announced and job.state == "expired":
        # GitHub queued it again (an approval after a wait that launched in vain): a fresh start.
        back = replace(job, state="queued", queued_at=now, earlier_attempts=job.attempts, reason=None, finished_at=None)
        fresh = replace(back, runner_name=None, launched_at=None, started_at=None, capacity_override=None)
        return Step(fresh, [Resolve()])
    if job.final:
        return Step(job)  # late or duplicate deliveries change nothing
    match event:
        case Queued():
            if job.state == "waiting":
                return Step(replace(job, state="queued", queued_at=now), [Resolve()])
            return Step(job)  # duplicate delivery, or the reconciler repeating itself
        case Waiting():
            return Step(job)  # a late delivery: GitHub queued it since (waiting comes before queued)
        case Decided(runner_name=name, rejection=rejection, warm=warm):
            if job.state != "queued":
                return Step(job)
            if rejection is not None:
                return Step(
                    replace(job, state="rejected", reason=rejection, finished_at=now), [ReportRejection(rejection)]
                )
            assert name is not None
            launched = replace(job, state="launching", runner_name=name, attempts=job.attempts + 1, launched_at=now)
            return Step(launched, [] if warm else [StartRunner(name, job.capacity_override)])
        case LaunchFailed(reason=reason, retryable=retryable):
            if job.state != "launching":
                return Step(job)
            if retryable and job.may_launch_again(limits):
                return _requeue(job, reason)
            return Step(replace(job, state="failed", reason=reason, finished_at=now), [StopRunner(reason)])
        case InProgress(runner_name=name):
            if name is not None and name != job.runner_name:
                # Another runner took it (GitHub may hand a job to any runner with matching labels): ours is
                # idle now and must go, or it would pick up someone else's job later.
                return Step(
                    replace(job, state="completed", reason=f"taken by runner {name}", finished_at=now),
                    [StopRunner(f"job taken by runner {name}")] if job.runner_name else [],
                )
            return Step(replace(job, state="running", started_at=job.started_at or now))
        case Completed(conclusion=conclusion, runner_name=name):
            if job.state in ("waiting", "queued", "launching") and (name is None or name != job.runner_name):
                # Cancelled before it started (no runner), or done elsewhere: release ours.
                state: State = "cancelled" if conclusion == "cancelled" or name is None else "completed"
                actions: list[Action] = [StopRunner(f"job {conclusion or 'ended'} before our runner took it")]
                return Step(
                    replace(job, state=state, reason=conclusion, finished_at=now), actions if job.runner_name else []
                )
            # Ephemeral runners leave by themselves; stopping is idempotent and catches the ones that don't.
            return Step(
                replace(job, state="completed", reason=conclusion, finished_at=now), [StopRunner("job completed")]
            )
        case ComputeStopped(reason=reason, spot_interruption=spot, on_demand_allowed=on_demand):
            if job.state == "launching" and spot and on_demand and job.may_launch_again(limits):
                return _requeue(replace(job, capacity_override="on-demand"), f"spot interruption: {reason}")
            if job.state in ("launching", "running"):
                # The job fails on GitHub's side when its runner vanishes; we record why.
                why = f"compute stopped: {reason or 'unknown'}"
                return Step(replace(job, state="failed", reason=why, finished_at=now), [StopRunner(why)])
            return Step(job)
        case Tick():
            if job.state == "launching" and job.launched_at and now - job.launched_at > limits.boot_timeout:
                why = f"no runner connected within the boot timeout ({duration_text(limits.boot_timeout)})"
                if job.may_launch_again(limits):  # replaced: the job still waits on GitHub
                    return _requeue(job, why)
                return Step(replace(job, state="expired", reason=why, finished_at=now), [StopRunner(why)])
            start = job.started_at
            if job.state == "running" and start and now - start > limits.max_job_duration:
                why = f"ran longer than maxJobDuration ({duration_text(limits.max_job_duration)})"
                return Step(replace(job, state="expired", reason=why, finished_at=now), [StopRunner(why)])
            return Step(job)
    raise AssertionError(f"unhandled event {event!r}")


def _requeue(job: Job, reason: str) -> Step:
    """Back to queued for another runner. The old one is stopped by name and no longer the job's, so a
    stop that fails is retried as any stop of a runner nobody holds, and it is never handed over."""
    old = [StopRunner(reason, runner=job.runner_name)] if job.runner_name else []
    return Step(replace(job, state="queued", runner_name=None, reason=reason), [*old, Resolve()])


def take(taker: Job, owner: Job | None, runner: str, now: datetime) -> tuple[Step, Step | None]:
    """GitHub ran `taker` on `runner`, one of ours made for `owner` (GitHub hands a job to any idle runner
    whose labels cover it). The taker keeps that runner; the owner, if it still waits, gets the taker's own
    runner when that one can run it, or is queued for a new one. A runner nobody waits for is stopped, so
    no idle runner is left to pick up a stranger's job later."""
    if taker.final:
        return Step(taker), None
    # Only a runner on its way up can be handed over (a queued job holds none).
    spare = taker.runner_name if taker.state == "launching" and taker.runner_name != runner else None
    took = replace(taker, state="running", runner_name=runner, started_at=taker.started_at or now)
    waiting = owner is not None and owner.key != taker.key and owner.runner_name == runner and not owner.final
    if owner is None or not waiting:
        return Step(took, [StopRunner(f"its job ran on runner {runner}", runner=spare)] if spare else []), None
    if spare and covers(taker.labels, owner.labels):
        # The spare was launched for the taker: its boot timeout counts from then.
        return Step(took), Step(replace(owner, state="launching", runner_name=spare, launched_at=taker.launched_at))
    stops: list[Action] = [StopRunner(f"its job ran on runner {runner}", runner=spare)] if spare else []
    requeued = replace(owner, state="queued", runner_name=None, reason=f"its runner took job {taker.job_id}")
    return Step(took, stops), Step(requeued, [Resolve()])


def covers(runner_labels: tuple[str, ...], job_labels: tuple[str, ...]) -> bool:
    """A runner registered with `runner_labels` can run a job asking for `job_labels` (GitHub's rule)."""
    have = {label.lower() for label in (*runner_labels, "self-hosted")}
    return {label.lower() for label in job_labels} <= have


class UnknownJob(Exception):
    """An event about a job that was never queued here."""


def duration_text(delta: timedelta) -> str:
    """90 s, 10 min, 6.0 h: how long a timeout is, for reasons people read."""
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
