"""What the engine tells the outside world about runs: Prometheus metrics, Slack messages, Sentry check-ins.

Notifications are sent from background tasks: a slow Slack never delays a job, and a failed send is
logged (without the secret) and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sengu.batch.execute import Outcome
from sengu.batch.metrics import BatchMetrics
from sengu.batch.resolve import JobPlan
from sengu.batch.runs import Run
from sengu.batch.spec import Notifications
from sengu.batch.spec import SecretSource as SpecSecret
from sengu.core.clock import Clock
from sengu.core.errors import Problem, UserError
from sengu.core.notify import (
    MonitorConfig,
    NotifyError,
    SecretSource,
    SentryCrons,
    SlackNotifier,
    new_check_in_id,
    read_secret,
    sentry_slug,
)

log = logging.getLogger("sengu.batch.alerts")
LOG_TAIL_LINES = 15


def secret_source(src: SpecSecret) -> SecretSource:
    return SecretSource(file=src.file, env=src.env)


def log_tail(path: str | None, lines: int = LOG_TAIL_LINES, max_bytes: int = 4096) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


class EngineHooks:
    """RunHooks for the embedded engine: metrics always, notifications as each job's spec says."""

    def __init__(
        self,
        plans: Iterable[JobPlan],
        metrics: BatchMetrics,
        clock: Clock,
        *,
        environ: Mapping[str, str] | None = None,
    ):
        self.metrics = metrics
        self.clock = clock
        self._slack: dict[tuple[str | None, str | None], SlackNotifier] = {}
        self._sentry: dict[tuple[str | None, str | None, str | None], SentryCrons] = {}
        # run id -> (check-in id, monotonic start, the in_progress send that the closing one must follow)
        self._check_ins: dict[int, tuple[str, float, asyncio.Task[None]]] = {}
        self._last_status: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.reload(plans, environ=environ)

    def reload(self, plans: Iterable[JobPlan], *, environ: Mapping[str, str] | None = None) -> None:
        """Read the secrets of these plans' notifications; on a problem raise UserError and keep the old ones."""
        slack, sentry = self._slack, self._sentry
        self._slack, self._sentry = {}, {}
        problems: list[Problem] = []
        for plan in plans:
            try:
                self._prepare(plan.notifications, environ)
            except UserError as exc:
                problems.extend(Problem(f"{plan.key}: notifications: {p.message}", p.location) for p in exc.problems)
        if problems:
            self._slack, self._sentry = slack, sentry
            raise UserError(problems)

    def _prepare(self, cfg: Notifications | None, environ: Mapping[str, str] | None) -> None:
        if cfg is None:
            return
        if cfg.slack is not None:
            key = (cfg.slack.webhook_url.file, cfg.slack.webhook_url.env)
            if key not in self._slack:
                self._slack[key] = SlackNotifier(read_secret(secret_source(cfg.slack.webhook_url), environ=environ))
        if cfg.sentry is not None:
            skey = (cfg.sentry.dsn.file, cfg.sentry.dsn.env, cfg.sentry.environment)
            if skey not in self._sentry:
                dsn = read_secret(secret_source(cfg.sentry.dsn), environ=environ)
                self._sentry[skey] = SentryCrons(dsn, environment=cfg.sentry.environment)

    def _slack_for(self, plan: JobPlan, event: str) -> SlackNotifier | None:
        cfg = plan.notifications.slack if plan.notifications else None
        if cfg is None or event not in cfg.on:
            return None
        return self._slack[(cfg.webhook_url.file, cfg.webhook_url.env)]

    def _sentry_for(self, plan: JobPlan) -> SentryCrons | None:
        cfg = plan.notifications.sentry if plan.notifications else None
        if cfg is None:
            return None
        return self._sentry[(cfg.dsn.file, cfg.dsn.env, cfg.environment)]

    def _spawn(
        self, coro: Coroutine[Any, Any, object], what: str, *, after: asyncio.Task[None] | None = None
    ) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                if after is not None:
                    await asyncio.wait({after})
                await coro
            except NotifyError as exc:
                log.warning("%s not delivered: %s", what, exc)
            except Exception:  # a bug in a side channel must not take the engine down
                log.exception("%s failed", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def flush(self, timeout: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # --- RunHooks ---------------------------------------------------------------------------------
    def attempt_started(self, plan: JobPlan, run: Run, attempt: int) -> None:
        when = f" scheduled {run.scheduled_at.astimezone(plan.zone):%Y-%m-%d %H:%M %Z}" if run.scheduled_at else ""
        log.info("%s: run %d%s, attempt %d started", plan.key, run.id, when, attempt)
        self.metrics.attempts.labels(plan.manager, plan.name).inc()
        self.metrics.running.inc()
        now = self.clock.now()
        if attempt == 1 and run.trigger == "schedule" and run.scheduled_at is not None:
            self.metrics.lateness.observe(max(0.0, (now - run.scheduled_at).total_seconds()))
        sentry = self._sentry_for(plan)
        if sentry is not None and run.id not in self._check_ins and run.trigger != "recovery":
            check_in_id = new_check_in_id()
            opening = self._spawn(
                sentry.check_in(
                    self.sentry_slug(plan),
                    "in_progress",
                    check_in_id=check_in_id,
                    monitor_config=self.monitor_config(plan),
                ),
                f"Sentry check-in for {plan.key}",
            )
            self._check_ins[run.id] = (check_in_id, self.clock.monotonic(), opening)

    def attempt_finished(self, plan: JobPlan, run: Run, attempt: int) -> None:
        self.metrics.running.dec()

    def run_finished(self, plan: JobPlan, run: Run, outcome: Outcome) -> None:
        duration = None
        if run.started_at is not None:
            duration = (self.clock.now() - run.started_at).total_seconds()
        self.metrics.run_finished(plan, outcome, duration)
        took = f" in {duration:.1f}s" if duration is not None else ""
        level = logging.INFO if outcome.status == "succeeded" else logging.WARNING
        detail = f": {outcome.reason}" if outcome.reason else ""
        log.log(
            level,
            "%s: run %d %s%s after %d attempt(s)%s",
            plan.key,
            run.id,
            outcome.status,
            took,
            outcome.attempts,
            detail,
        )
        if outcome.status == "succeeded" and run.trigger == "schedule":  # a recovery's success is not the job's
            self.metrics.last_success.labels(plan.manager, plan.name).set(self.clock.now().timestamp())
        previous = self._last_status.get(plan.key)
        self._last_status[plan.key] = outcome.status
        pending = self._check_ins.pop(run.id, None)
        sentry = self._sentry_for(plan)
        if sentry is not None and pending is not None:
            # Sentry pairs check-ins by id but keeps the last status it received: never let the
            # closing check-in overtake the opening one.
            check_in_id, started, opening = pending
            self._spawn(
                sentry.check_in(
                    self.sentry_slug(plan),
                    "ok" if outcome.status == "succeeded" else "error",
                    check_in_id=check_in_id,
                    duration_s=max(0.0, self.clock.monotonic() - started),
                ),
                f"Sentry check-in for {plan.key}",
                after=opening,
            )
        if outcome.status == "failed":
            self._notify(plan, "failure", self.failure_text(plan, run, outcome), outcome.log_path)
        elif outcome.status == "succeeded":
            if previous == "failed":
                self._notify(plan, "recovery", f":large_green_circle: *{plan.key}* succeeded again (run {run.id}).")
            else:
                self._notify(plan, "success", f":white_check_mark: *{plan.key}* succeeded (run {run.id}).")

    def run_not_started(self, plan: JobPlan, scheduled_at: datetime, status: str, reason: str) -> None:
        self.metrics.missed.labels(plan.manager, plan.name, status).inc()
        log.warning("%s: %s at %s: %s", plan.key, status, scheduled_at.astimezone(plan.zone).isoformat(), reason)
        when = scheduled_at.astimezone(plan.zone).isoformat()
        self._notify(plan, "missed", f":warning: *{plan.key}* did not run at {when}: {status} ({reason}).")

    # --- messages ---------------------------------------------------------------------------------
    def _notify(self, plan: JobPlan, event: str, text: str, log_path: str | None = None) -> None:
        slack = self._slack_for(plan, event)
        if slack is None:
            return
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        tail = log_tail(log_path)
        if tail:
            # Slack rejects a section text over 3,000 characters.
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{tail[-2900:]}```"}})
        self._spawn(slack.send(text, blocks=blocks), f"Slack {event} message for {plan.key}")

    @staticmethod
    def failure_text(plan: JobPlan, run: Run, outcome: Outcome) -> str:
        when = f" scheduled {run.scheduled_at.astimezone(plan.zone).isoformat()}" if run.scheduled_at else ""
        log_hint = f" Log: `{Path(outcome.log_path)}`." if outcome.log_path else ""
        return (
            f":red_circle: *{plan.key}* failed (run {run.id}{when}, {outcome.attempts} attempt(s)): "
            f"{outcome.reason}.{log_hint}"
        )

    @staticmethod
    def sentry_slug(plan: JobPlan) -> str:
        return sentry_slug(f"{plan.manager}-{plan.name}")

    @staticmethod
    def monitor_config(plan: JobPlan) -> MonitorConfig | None:
        cfg = plan.notifications.sentry if plan.notifications else None
        if cfg is None or len(plan.schedules) != 1:
            return None  # a Sentry monitor has one schedule; several would report false misses
        max_runtime = cfg.max_runtime_minutes
        if max_runtime is None and plan.active_deadline_seconds:
            max_runtime = math.ceil(plan.active_deadline_seconds / 60)
        return MonitorConfig(
            schedule=plan.schedules[0].expression,
            timezone=plan.zone.key,
            checkin_margin_min=cfg.checkin_margin_minutes,
            max_runtime_min=max_runtime,
        )
