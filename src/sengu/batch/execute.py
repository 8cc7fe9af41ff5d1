"""One run of a job, attempt after attempt, recorded as it goes. Used by the engine and by `batch run`.

Kubernetes Job semantics: backoffLimit counts failed attempts, with the pod-failure back-off between
them; activeDeadlineSeconds bounds the whole run, retries included, and kills the process tree.
"""

from __future__ import annotations

import asyncio
import os
import signal as signals
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sengu.batch.policy import after_lost, backoff_delay
from sengu.batch.resolve import JobPlan
from sengu.batch.runs import Run, RunStore, iso
from sengu.core import procs
from sengu.core.clock import Clock

DEFAULT_LOG_CAP = 10 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    run_id: int
    status: str  # succeeded | failed | replaced | lost
    reason: str | None
    exit_code: int | None
    signal: int | None
    attempts: int
    log_path: str | None


class RunHooks(Protocol):
    """What the engine wants to hear about (metrics, notifications)."""

    def attempt_started(self, plan: JobPlan, run: Run, attempt: int) -> None: ...

    def attempt_finished(self, plan: JobPlan, run: Run, attempt: int) -> None: ...

    def run_finished(self, plan: JobPlan, run: Run, outcome: Outcome) -> None: ...

    def run_not_started(self, plan: JobPlan, scheduled_at: datetime, status: str, reason: str) -> None: ...


class NoHooks:
    def attempt_started(self, plan: JobPlan, run: Run, attempt: int) -> None:
        pass

    def attempt_finished(self, plan: JobPlan, run: Run, attempt: int) -> None:
        pass

    def run_finished(self, plan: JobPlan, run: Run, outcome: Outcome) -> None:
        pass

    def run_not_started(self, plan: JobPlan, scheduled_at: datetime, status: str, reason: str) -> None:
        pass


@dataclass
class RunControl:
    """The engine's handle on a run in flight: cancel the task after setting stop_reason."""

    run_id: int
    plan: JobPlan
    stop_reason: str | None = None
    stop_status: str = "lost"
    proc: procs.RunningProc | None = None
    task: asyncio.Task[Outcome] | None = field(default=None, repr=False)


def describe_exit(exit_code: int | None, sig: int | None) -> str:
    if sig is not None:
        try:
            name = signals.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by {name}"
    return f"exit code {exit_code}"


def log_path_for(logs_dir: Path, plan: JobPlan, run_id: int, attempt: int) -> Path:
    return logs_dir / plan.manager / plan.name / f"run-{run_id}-attempt-{attempt}.log"


def job_environment(
    plan: JobPlan, run_id: int, attempt: int, scheduled_at: datetime | None, state: str
) -> dict[str, str]:
    """The engine's environment, then the job's env, then SENGU_* facts about this run."""
    env = dict(os.environ)
    env.update(plan.env)
    env.update(attempt_marker(plan.manager, plan.name, run_id, attempt, state))
    if scheduled_at is not None:
        env["SENGU_SCHEDULED_AT"] = iso(scheduled_at)
    return env


def attempt_marker(manager: str, job: str, run_id: int, attempt: int, state: str) -> dict[str, str]:
    """The environment every process of an attempt inherits; recovery checks it before killing (procs.lost_tree).

    With the state directory in it, no other engine's attempt carries the same marker (one engine per state
    directory, run ids unique within it): recovery may take any process carrying it as the lost attempt's.
    """
    return {
        "SENGU_STATE": os.path.realpath(state),
        "SENGU_MANAGER": manager,
        "SENGU_JOB": job,
        "SENGU_RUN_ID": str(run_id),
        "SENGU_ATTEMPT": str(attempt),
    }


def settle_lost(
    plan: JobPlan, run_id: int, *, runs: RunStore, clock: Clock, hooks: RunHooks | None = None
) -> Outcome | None:
    """Record that the run's current attempt was lost and apply lostAttemptPolicy: the run's Outcome when it
    fails for it, None when another attempt follows (at the run's next_attempt_at)."""
    runs.mark_lost(run_id)
    run = runs.get_run(run_id)
    verdict = after_lost(
        plan.lost_attempt_policy,
        attempt=run.attempts,
        failed=run.attempts - run.lost_attempts,
        lost=run.lost_attempts,
        backoff_limit=plan.backoff_limit,
    )
    now = clock.now()
    if verdict.retry:
        runs.update_run(run_id, next_attempt_at=now + timedelta(seconds=verdict.delay_s))
        return None
    runs.finish_run(run_id, "failed", now, reason=verdict.reason)
    outcome = Outcome(run_id, "failed", verdict.reason, None, None, run.attempts, None)
    (hooks or NoHooks()).run_finished(plan, runs.get_run(run_id), outcome)
    return outcome


async def execute(
    plan: JobPlan,
    run_id: int,
    *,
    runs: RunStore,
    clock: Clock,
    logs_dir: Path,
    hooks: RunHooks | None = None,
    control: RunControl | None = None,
    on_output: Callable[[bytes], None] | None = None,
    log_cap: int = DEFAULT_LOG_CAP,
) -> Outcome:
    hooks = hooks or NoHooks()
    control = control or RunControl(run_id, plan)
    run = runs.get_run(run_id)
    attempt_no = run.attempts
    # Under lostAttemptPolicy Count a lost attempt is a failed one (settle_lost decided it may retry).
    failures = run.attempts - (0 if plan.lost_attempt_policy == "Count" else run.lost_attempts)
    deadline_at = run.deadline_at
    if deadline_at is None and plan.active_deadline_seconds:
        deadline_at = clock.now() + timedelta(seconds=plan.active_deadline_seconds)
        runs.update_run(run_id, deadline_at=deadline_at)
    log_path: str | None = None

    def done(status: str, reason: str | None, exit_code: int | None = None, sig: int | None = None) -> Outcome:
        runs.finish_run(run_id, status, clock.now(), reason=reason, exit_code=exit_code, signal=sig)
        outcome = Outcome(run_id, status, reason, exit_code, sig, attempt_no, log_path)
        hooks.run_finished(plan, runs.get_run(run_id), outcome)
        return outcome

    async def back_off(seconds: float) -> None:
        try:
            await clock.sleep(seconds)
        except asyncio.CancelledError:
            if control.stop_status != "lost":  # lost runs keep their retry time for the next start
                done(control.stop_status, control.stop_reason or "stopped")
            raise

    if run.next_attempt_at is not None:
        wait = (run.next_attempt_at - clock.now()).total_seconds()
        if wait > 0:
            await back_off(wait)

    while True:
        now = clock.now()
        remaining = (deadline_at - now).total_seconds() if deadline_at else None
        if remaining is not None and remaining <= 0:
            return done("failed", "DeadlineExceeded: activeDeadlineSeconds passed before the next attempt")
        attempt_no += 1
        path = log_path_for(logs_dir, plan, run_id, attempt_no)
        log_path = str(path)
        attempt_id = runs.start_attempt(run_id, attempt_no, now, log_path)
        hooks.attempt_started(plan, run, attempt_no)
        spec = procs.ProcSpec(
            argv=plan.argv,
            env=job_environment(plan, run_id, attempt_no, run.scheduled_at, str(runs.store.home)),
            cwd=plan.working_dir,
            log_path=log_path,
            log_cap_bytes=log_cap,
            deadline_s=remaining,
        )
        try:
            proc = await procs.start(spec, on_output=on_output)
        except procs.ProcStartError as exc:
            hooks.attempt_finished(plan, run, attempt_no)
            result_exit: int | None = 127
            result_sig: int | None = None
            timed_out = False
            reason = str(exc)
            runs.finish_attempt(attempt_id, "failed", clock.now(), exit_code=127, reason=reason)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"sengu: {reason}\n")
        else:
            control.proc = proc
            runs.attempt_pid(
                attempt_id,
                proc.pid,
                proc.pgid,
                proc.start_ticks,
                boot_id=procs.boot_id(),
                log_pid=proc.log_pid,
                log_proc_start=proc.log_start_ticks,
            )
            try:
                result = await proc.wait()
                hooks.attempt_finished(plan, run, attempt_no)
            except asyncio.CancelledError:
                hooks.attempt_finished(plan, run, attempt_no)
                result = await asyncio.shield(proc.stop())
                why = control.stop_reason or "stopped"
                runs.finish_attempt(
                    attempt_id, "killed", clock.now(), exit_code=result.exit_code, signal=result.signal, reason=why
                )
                if control.stop_status == "lost":
                    # Cut short by the engine stopping: lostAttemptPolicy says whether the next start retries it.
                    settle_lost(plan, run_id, runs=runs, clock=clock, hooks=hooks)
                else:
                    done(control.stop_status, why, result.exit_code, result.signal)
                raise
            finally:
                control.proc = None
            result_exit, result_sig, timed_out = result.exit_code, result.signal, result.timed_out
            reason = describe_exit(result_exit, result_sig)
            if timed_out:
                reason = "DeadlineExceeded: activeDeadlineSeconds passed, process tree killed"
            status = "succeeded" if result_exit == 0 and not timed_out else "failed"
            runs.finish_attempt(
                attempt_id,
                status,
                clock.now(),
                exit_code=result_exit,
                signal=result_sig,
                reason=None if status == "succeeded" else reason,
            )
            if status == "succeeded":
                return done("succeeded", None, 0)
        if timed_out:
            return done("failed", reason, result_exit, result_sig)
        failures += 1
        if failures > plan.backoff_limit:
            if plan.backoff_limit > 0:
                reason = f"BackoffLimitExceeded: {failures} attempts failed, the last with {reason}"
            return done("failed", reason, result_exit, result_sig)
        delay = backoff_delay(failures)
        next_at = clock.now() + timedelta(seconds=delay)
        if deadline_at is not None and next_at >= deadline_at:
            return done("failed", f"DeadlineExceeded: no time left to retry after {reason}", result_exit, result_sig)
        runs.update_run(run_id, status="retrying", next_attempt_at=next_at, reason=reason)
        await back_off(delay)
