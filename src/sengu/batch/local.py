"""The embedded batch engine: schedules every active job and runs it as a subprocess.

Crash safety comes from ordering: a run row (unique per job and scheduled time) and the job's schedule
cursor are committed together before the process starts. After a SIGKILL the next start kills everything
the lost attempts left (their process groups and sessions, even when the leader is gone), marks them lost,
applies each job's lostAttemptPolicy (by default a lost attempt counts as a failure, so a job with
backoffLimit 0 never starts twice for one scheduled time), resumes what may retry, and applies
startingDeadlineSeconds to the times that passed while it was down.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sengu.batch import echo
from sengu.batch.alerts import EngineHooks
from sengu.batch.execute import (
    DEFAULT_LOG_CAP,
    NoHooks,
    Outcome,
    RunControl,
    RunHooks,
    attempt_marker,
    execute,
    settle_lost,
)
from sengu.batch.metrics import BatchMetrics
from sengu.batch.policy import catch_up, missed_reasons
from sengu.batch.resolve import JobPlan, Manager
from sengu.batch.retention import PRUNE_INTERVAL_S, Retention
from sengu.batch.runs import RunStore
from sengu.core import procs
from sengu.core.clock import Clock
from sengu.core.store import Store

log = logging.getLogger("sengu.batch")

# The scheduler wakes at least this often so a wall-clock jump (NTP step, suspend) is noticed.
MAX_SLEEP_S = 30.0


@dataclass(order=True)
class _Due:
    at: float  # POSIX seconds, the heap key
    seq: int  # unique: nothing after it is compared
    key: str  # the job's plan key: a reload may replace the plan, not the entry
    schedule_index: int
    when: datetime  # the same instant, aware


class BatchEngine:
    name = "batch"

    def __init__(
        self,
        managers: Sequence[Manager],
        *,
        store: Store,
        clock: Clock,
        hooks: RunHooks | None = None,
        log_cap: int = DEFAULT_LOG_CAP,
        metrics: BatchMetrics | None = None,
    ):
        self.managers = list(managers)
        self.plans: list[JobPlan] = [p for m in self.managers for p in m.jobs]
        self.by_key = {p.key: p for p in self.plans}
        self.metrics = metrics
        self._counted = set(self.by_key)  # jobs whose counters were restored from the store
        self.store = store
        self.runs = RunStore(store)
        self.retention = Retention(store)
        self.clock = clock
        self.hooks: RunHooks = hooks or NoHooks()
        self.log_cap = log_cap
        self.logs_dir = store.home / "logs"
        self.active: dict[str, dict[int, RunControl]] = {}
        self._heap: list[_Due] = []
        self._seq = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # the heap changed under the scheduler's sleep
        self._loop_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        self._echo: echo.OutputEcho | None = None
        self._echo_task: asyncio.Task[None] | None = None
        self._run_hooks: RunHooks = self.hooks
        self._tasks: set[asyncio.Task[Outcome]] = set()

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if echo.enabled():
            self._echo = echo.OutputEcho(self.logs_dir)
            self._run_hooks = echo.EchoingHooks(self.hooks, self._echo)
            self._echo_task = asyncio.create_task(self._echo.run(), name="batch-job-output")
        now = self.clock.now()
        self._recover_lost_attempts()
        self._resume_in_flight()
        self._catch_up(now)
        self._seed_heap(now)
        self.prune()
        self._loop_task = asyncio.create_task(self._loop(), name="batch-scheduler")
        self._loop_task.add_done_callback(_report_crash)
        self._prune_task = asyncio.create_task(self._prune_forever(), name="batch-retention")
        self._prune_task.add_done_callback(_report_crash)

    async def stop(self, drain_timeout: float = 30.0) -> None:
        """Stop scheduling; let running processes finish for up to drain_timeout, then kill them.
        Anything cut short is recorded as lost and resumed by the next start."""
        self._stopping.set()
        if self._loop_task:
            await self._loop_task
        if self._prune_task:
            await self._prune_task
        waiting = [c for runs in self.active.values() for c in runs.values() if c.proc is None]
        for ctl in waiting:  # sleeping in back-off: their next attempt time is stored, resume later
            ctl.stop_reason = "engine stopped"
            if ctl.task:
                ctl.task.cancel()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            log.info("draining %d running job(s) for up to %.0fs", len(pending), drain_timeout)
            _, pending = await asyncio.wait(pending, timeout=drain_timeout)
        for runs in list(self.active.values()):
            for ctl in list(runs.values()):
                ctl.stop_reason = "engine stopped before the attempt finished"
                ctl.stop_status = "lost"
                if ctl.task:
                    ctl.task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._echo_task is not None:
            self._echo_task.cancel()
            await asyncio.gather(self._echo_task, return_exceptions=True)
        flush = getattr(self.hooks, "flush", None)
        if flush is not None:
            await flush()

    def routes(self) -> list[BaseRoute]:
        async def jobs(request: Request) -> Response:
            last = {m.name: self.runs.last_runs(m.name) for m in self.managers}
            nxt = self.next_due()
            body = [
                {
                    "manager": p.manager,
                    "job": p.name,
                    "schedules": p.expressions,
                    "timeZone": p.zone.key,
                    "suspended": p.suspend_reason,
                    "next": nxt[p.key].isoformat() if p.key in nxt else None,
                    "running": sorted(self.active.get(p.key, {})),
                    "last": last[p.manager].get(p.name),
                }
                for p in self.plans
            ]
            return JSONResponse(body)

        return [Route("/api/batch/jobs", jobs)]

    def health(self) -> dict[str, object]:
        alive = self._loop_task is not None and not self._loop_task.done()
        return {
            "ok": alive or self._stopping.is_set(),
            "jobs": len(self.plans),
            "active_jobs": sum(1 for p in self.plans if not p.suspended),
            "running": sum(len(r) for r in self.active.values()),
            "next_due": self._heap[0].when.isoformat() if self._heap else None,
            "scheduler_alive": alive,
        }

    # --- reload -----------------------------------------------------------------------------------
    async def reload(self, managers: Sequence[Manager]) -> None:
        """Take a new spec in place, from now on: nothing running is touched.

        Added (or unsuspended) jobs are scheduled from now; removed (or suspended) jobs are no longer
        scheduled, their running runs finish; a job whose schedules or zone changed is scheduled anew from
        now; any other job keeps its due times and runs its new settings at the next one. A problem (a
        missing notification secret) raises UserError and changes nothing.
        """
        plans = [p for m in managers for p in m.jobs]
        reload_hooks = getattr(self.hooks, "reload", None)
        if reload_hooks is not None:
            reload_hooks(plans)
        now = self.clock.now()
        old, new = self.by_key, {p.key: p for p in plans}
        kept = {k for k, p in new.items() if k in old and _same_times(old[k], p)}
        fresh = [p for p in plans if p.key not in kept and not p.suspended]
        with self.store.transaction():
            for plan in fresh:  # missed times of the new schedule before now are not the job's to catch up
                self.runs.set_cursor(plan.manager, plan.name, now)
        self._heap = [d for d in self._heap if d.key in kept]
        heapq.heapify(self._heap)
        for plan in fresh:
            self._schedule_from(plan, now)
        self.managers, self.plans, self.by_key = list(managers), plans, new
        if self.metrics is not None:
            self.metrics.set_jobs(plans)
            unseen = [p for p in plans if p.key not in self._counted]
            self.metrics.restore(self.retention.totals(), unseen)
            self._counted.update(p.key for p in unseen)
        added = sum(1 for k in new if k not in old)
        removed = sum(1 for k in old if k not in new)
        rescheduled = sum(1 for p in fresh if p.key in old)
        changed = sum(1 for k in kept if old[k] != new[k])
        log.info(
            "reloaded: %d job(s); %d added, %d removed, %d rescheduled from now, %d changed keeping their times",
            len(plans),
            added,
            removed,
            rescheduled,
            changed,
        )
        self._wake.set()

    def next_due(self) -> dict[str, datetime]:
        """Each scheduled job's next fire time."""
        out: dict[str, datetime] = {}
        for d in self._heap:
            if d.key not in out or d.when < out[d.key]:
                out[d.key] = d.when
        return out

    # --- retention --------------------------------------------------------------------------------
    def prune(self) -> None:
        """Apply the history limits and ttlSecondsAfterFinished to finished runs and their logs."""
        try:
            pruned = self.retention.prune(self.plans, self.clock.now())
        except Exception:  # housekeeping: a failed round (a locked database) is tried again next time
            log.exception("retention: pruning the run history failed")
            return
        if pruned.runs:
            log.info("retention: deleted %d finished run(s) and %d log file(s)", pruned.runs, pruned.log_files)

    async def _prune_forever(self) -> None:
        while not self._stopping.is_set():
            await self._sleep(PRUNE_INTERVAL_S)
            if not self._stopping.is_set():
                self.prune()

    # --- start-up recovery ------------------------------------------------------------------------
    def _recover_lost_attempts(self) -> None:
        now = self.clock.now()
        boot = procs.boot_id()
        lost = []
        for row in self.runs.running_attempts():
            # Start times count from boot: after a reboot (which ended every process anyway) they mean nothing.
            same_boot = row["boot_id"] is None or row["boot_id"] == boot
            pgid, ticks = row["pgid"], row["proc_start"]
            if row["trigger"] != "manual":
                lost.append(row)
                continue
            # `sengu batch run` supervises its own process; only a dead one is ours to close.
            alive = bool(pgid) and ticks is not None and same_boot and procs.group_alive(pgid)
            if not (alive and procs.process_start_ticks(pgid) == ticks):
                with self.store.transaction():
                    self.runs.finish_attempt(row["id"], "lost", now, reason="`sengu batch run` stopped")
                    self.runs.finish_run(row["run_id"], "failed", now, reason="`sengu batch run` stopped")
        self._end_what_was_lost(lost, boot)
        for row in lost:
            with self.store.transaction():
                self.runs.finish_attempt(row["id"], "lost", now, reason="the engine stopped while it ran")
                plan = self.by_key.get(f"{row['manager']}/{row['job']}")
                if plan is None:
                    self.runs.mark_lost(row["run_id"])  # a job no longer in this spec: leave it for its owner
                    continue
                if row["trigger"] == "recovery" and plan.recovery_argv:
                    plan = _recovery_plan(plan)
                outcome = settle_lost(plan, row["run_id"], runs=self.runs, clock=self.clock, hooks=self.hooks)
            if outcome is not None:
                self._recover_from(plan, row["run_id"], outcome)

    def _end_what_was_lost(self, rows: list[Any], boot: str | None) -> None:
        """Kill everything the lost attempts left (even where the leader has exited), then let the old log
        keeper write the last of their output: it exits once every tree it served is gone."""
        keepers: set[tuple[int, int]] = set()
        for row in rows:
            pgid, ticks = row["pgid"], row["proc_start"]
            if not pgid or ticks is None or row["boot_id"] not in (None, boot):
                continue
            marker = attempt_marker(
                row["manager"], row["job"], row["run_id"], row["attempt"], str(self.runs.store.home)
            )
            killed = procs.kill_lost_tree(pgid, ticks, marker)
            if killed:
                log.warning("killed %d orphaned process(es) of run %d: %s", len(killed), row["run_id"], killed)
            if row["log_pid"] and row["log_proc_start"] is not None:
                keepers.add((row["log_pid"], row["log_proc_start"]))
        for pid, ticks in keepers:
            procs.end_lost_keeper(pid, ticks)

    def _resume_in_flight(self) -> None:
        for run in self.runs.in_flight():
            plan = self.by_key.get(f"{run.manager}/{run.job}")
            if plan is None or run.trigger == "manual":
                continue  # another manager's run, or a job removed from the spec: leave it for its owner
            if run.trigger == "recovery" and plan.recovery_argv:
                plan = _recovery_plan(plan)
            self._launch(plan, run.id)

    def _catch_up(self, now: datetime) -> None:
        with self.store.transaction():
            for manager in self.managers:
                cursors = self.runs.cursors(manager.name)
                for plan in manager.jobs:
                    if plan.suspended:
                        continue
                    cursor = cursors.get(plan.name)
                    if cursor is None:
                        self.runs.set_cursor(plan.manager, plan.name, now)
                        continue
                    due = _times_between(plan, cursor, now)
                    if not due:
                        continue
                    decision = catch_up(due, now, plan.starting_deadline_seconds)
                    for t, reason in missed_reasons(decision, now, plan.starting_deadline_seconds, plan.zone):
                        self._not_started(plan, t, now, "missed", reason)
                    if decision.missed_total:
                        log.warning(
                            "%s: %d scheduled time(s) missed while the engine was down", plan.key, decision.missed_total
                        )
                    self.runs.set_cursor(plan.manager, plan.name, due[-1])
                    if decision.run is not None:
                        self._start_scheduled(plan, decision.run, now)

    def _seed_heap(self, now: datetime) -> None:
        for plan in self.plans:
            if not plan.suspended:
                self._schedule_from(plan, now)

    def _schedule_from(self, plan: JobPlan, now: datetime) -> None:
        for j, schedule in enumerate(plan.schedules):
            nxt = schedule.next_after(now)
            if nxt is not None:
                self._push(plan.key, j, nxt)

    # --- scheduling -------------------------------------------------------------------------------
    def _push(self, key: str, schedule_index: int, when: datetime) -> None:
        self._seq += 1
        heapq.heappush(self._heap, _Due(when.timestamp(), self._seq, key, schedule_index, when))

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self._heap:
                await self._stopping.wait()
                return
            now = self.clock.now()
            delay = self._heap[0].at - now.timestamp()
            if delay > 0:
                await self._sleep(min(delay, MAX_SLEEP_S), wake=self._wake)
                continue
            self._fire_due(now)

    async def _sleep(self, seconds: float, *, wake: asyncio.Event | None = None) -> None:
        waits = {asyncio.ensure_future(self.clock.sleep(seconds)), asyncio.ensure_future(self._stopping.wait())}
        if wake is not None:
            wake.clear()
            waits.add(asyncio.ensure_future(wake.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for fut in waits:
            fut.cancel()

    def _fire_due(self, now: datetime) -> None:
        now_ts = now.timestamp()
        due: list[tuple[JobPlan, datetime]] = []
        while self._heap and self._heap[0].at <= now_ts:
            item = heapq.heappop(self._heap)
            plan = self.by_key[item.key]
            due.append((plan, item.when))
            nxt = plan.schedules[item.schedule_index].next_after(item.when)
            if nxt is not None:
                self._push(item.key, item.schedule_index, nxt)
        with self.store.transaction():
            for plan, when in due:
                self.runs.set_cursor(plan.manager, plan.name, when)
                self._start_scheduled(plan, when, now)

    def _start_scheduled(self, plan: JobPlan, when: datetime, now: datetime) -> None:
        """Decide and record what happens at one scheduled time. Called inside a transaction."""
        late = (now - when).total_seconds()
        if late > plan.starting_deadline_seconds:
            self._not_started(
                plan,
                when,
                now,
                "missed",
                f"{late:.0f}s late, past startingDeadlineSeconds ({plan.starting_deadline_seconds}s)",
            )
            return
        active = self.active.get(plan.key, {})
        if active and plan.concurrency_policy == "Forbid":
            self._not_started(plan, when, now, "skipped", f"run {min(active)} still active (concurrencyPolicy Forbid)")
            return
        run_id = self.runs.create_run(plan.manager, plan.name, trigger="schedule", scheduled_at=when, now=now)
        if run_id is None:
            return  # this scheduled time already has a run: it started before a restart
        if active and plan.concurrency_policy == "Replace":
            for ctl in list(active.values()):
                ctl.stop_reason = f"replaced by run {run_id} (concurrencyPolicy Replace)"
                ctl.stop_status = "replaced"
                if ctl.task:
                    ctl.task.cancel()
        # The process starts after the transaction commits: the task runs on the next loop turn.
        self._launch(plan, run_id)

    def _not_started(self, plan: JobPlan, when: datetime, now: datetime, status: str, reason: str) -> None:
        created = self.runs.create_run(
            plan.manager, plan.name, trigger="schedule", scheduled_at=when, now=now, status=status, reason=reason
        )
        if created is not None:
            self.hooks.run_not_started(plan, when, status, reason)

    def _launch(self, plan: JobPlan, run_id: int) -> None:
        ctl = RunControl(run_id, plan)
        self.active.setdefault(plan.key, {})[run_id] = ctl
        task = asyncio.create_task(self._run(ctl), name=f"run-{run_id}")
        ctl.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, ctl: RunControl) -> Outcome:
        plan = ctl.plan
        try:
            outcome = await execute(
                plan,
                ctl.run_id,
                runs=self.runs,
                clock=self.clock,
                logs_dir=self.logs_dir,
                hooks=self._run_hooks,
                control=ctl,
                log_cap=self.log_cap,
            )
        finally:
            if self._echo is not None:
                self._echo.finish(ctl.run_id)
            runs = self.active.get(plan.key, {})
            runs.pop(ctl.run_id, None)
            if not runs:
                self.active.pop(plan.key, None)
        self._recover_from(plan, ctl.run_id, outcome)
        return outcome

    def _recover_from(self, plan: JobPlan, run_id: int, outcome: Outcome) -> None:
        """After a run's final failure, its onFailure.recovery command runs once (not for a recovery run)."""
        if outcome.status == "failed" and plan.recovery_argv and not self._stopping.is_set():
            recovery_id = self.runs.create_run(
                plan.manager,
                plan.name,
                trigger="recovery",
                now=self.clock.now(),
                parent_run=run_id,
            )
            if recovery_id is not None:
                self._launch(_recovery_plan(plan), recovery_id)


def _same_times(old: JobPlan, new: JobPlan) -> bool:
    """The job fires at the same instants as before (its due times can be kept)."""
    return (
        not old.suspended
        and not new.suspended
        and old.expressions == new.expressions
        and str(old.zone) == str(new.zone)
    )


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # /healthz turns 503 from here on; say why where the operator looks.
        log.error("the batch scheduler stopped on an error", exc_info=task.exception())


def _recovery_plan(plan: JobPlan) -> JobPlan:
    """The recovery command runs once, with the job's environment and deadline."""
    assert plan.recovery_argv is not None
    return replace(
        plan, argv=plan.recovery_argv, backoff_limit=0, recovery_argv=None, env={**plan.env, "SENGU_RECOVERY": "1"}
    )


def _times_between(plan: JobPlan, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time of the job in (start, end], oldest first, in UTC."""
    times: set[datetime] = set()
    for schedule in plan.schedules:
        times.update(t.astimezone(UTC) for t in schedule.times_between(start, end))
    return sorted(times)


def build_engine(
    managers: Sequence[Manager], *, store: Store, clock: Clock, registry: CollectorRegistry
) -> BatchEngine:
    """The batch component of `sengu up`: engine, metrics and notifications wired together."""
    plans = [p for m in managers for p in m.jobs]
    metrics = BatchMetrics(registry)
    metrics.set_jobs(plans)
    hooks = EngineHooks(plans, metrics, clock)
    engine = BatchEngine(managers, store=store, clock=clock, hooks=hooks, metrics=metrics)
    metrics.restore(engine.retention.totals(), plans)
    return engine
