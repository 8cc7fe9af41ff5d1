"""The runners component of `sengu up`: webhook intake, the job processor, and the reconciler.

Intake only verifies, routes and stores (the delivery is committed before GitHub gets its answer), then
wakes the processor, so the answer takes milliseconds. A body over GitHub's 25 MB cap is refused before it
is held, a bad signature before anything is parsed, a malformed payload before anything is stored. A
delivery goes to the pools whose secret signed it, whose installation sent it and that serve its repository.
The processor turns deliveries into state-machine events (runners/machine.py), saves the new state, then
carries out the actions; the reconciler feeds the same events from the GitHub API, so a lost webhook still
gets a runner and a job cancelled before it started releases its runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sengu.core.clock import Clock
from sengu.core.errors import UserError
from sengu.core.notify import read_secret
from sengu.core.store import Store
from sengu.runners import machine
from sengu.runners.backends.base import RUNNER_TAG, SPOT_INTERRUPTION, Backend, BackendError, Handle
from sengu.runners.bodies import BodyBudget, Busy, HeldBody
from sengu.runners.github import GitHubApp, GitHubError, RateBudget, RunnerBusy, RunnerNotRemovable
from sengu.runners.labels import Launch, Rejection, resolve_labels
from sengu.runners.reports import RejectionReporter
from sengu.runners.spec import RunnerPool, warm_key
from sengu.runners.store import PRUNE_BATCH, UNBOUND, Delivery, RunnerStore
from sengu.runners.webhook import (
    MAX_DELIVERY_ID,
    MAX_PAYLOAD,
    MalformedWebhook,
    WorkflowJobEvent,
    parse_workflow_job,
    verify_signature,
)

log = logging.getLogger("sengu.runners")

BUDGET_RESERVE = 0.1  # of the hourly API limit, kept for launches and stops: reconciling pauses below it
REGISTRATION_GRACE = timedelta(seconds=10)  # a runner registered just now may not be listed yet
NOT_OURS = "labels are not ours"  # the spec changed under a queued job: nothing to tell its repository
# Seconds: launches take milliseconds here and tens of seconds on Fargate; a job may wait minutes for room.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Seconds a job runs: from a minute-long lint to maxJobDuration's default 6 h and beyond.
DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600, 43200, 86400)
PRUNE_EVERY_S = 600.0  # deliveries past their retention are deleted this often


@dataclass
class PoolRuntime:
    pool: RunnerPool
    github: GitHubApp
    webhook_secrets: tuple[bytes, ...]  # the current secret, and the previous one while rotating
    backends: dict[str, Backend]
    limits: machine.Limits
    reporter: RejectionReporter | None = None

    @property
    def name(self) -> str:
        return self.pool.name

    def scope(self, repository: str) -> str:
        return self.pool.spec.github.runner_scope(repository)

    async def runner_scopes(self) -> list[str]:
        """Every scope this pool's runners may be registered in (a user's: each repository of theirs)."""
        gh = self.pool.spec.github
        if gh.org_runners and gh.owner is not None:
            return [gh.owner]
        if gh.repositories is not None:
            return list(gh.repositories)
        return [r for r in await self.github.installation_repositories() if gh.serves(r)]

    def signed(self, body: bytes | bytearray, signature: str) -> bool:
        return any(verify_signature(secret, body, signature) for secret in self.webhook_secrets)

    def serves(self, installation_id: int | None, repository: str) -> bool:
        """Jobs of `repository` sent by `installation_id` (None: a webhook without one) are this pool's to
        consider: one App installed on several accounts signs all their deliveries with one secret."""
        gh = self.pool.spec.github
        return (installation_id is None or installation_id == gh.installation_id) and gh.serves(repository)


class RunnerEngine:
    name = "runners"

    def __init__(
        self,
        pools: Sequence[PoolRuntime],
        *,
        store: Store,
        clock: Clock,
        registry: CollectorRegistry,
        reconcile_s: float = 60.0,
        tick_s: float = 10.0,
        prune_s: float = PRUNE_EVERY_S,
        concurrent_launches: int = 32,
    ):
        self.pools = {p.name: p for p in pools}
        self.runners = RunnerStore(store)
        self.clock = clock
        self.reconcile_s = reconcile_s
        self.tick_s = tick_s
        self.prune_s = prune_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        # State changes are quick (SQLite) and made one at a time, so two events about a job never interleave;
        # the slow calls their actions need (GitHub, the backends) run as tasks outside the lock.
        self._lock = asyncio.Lock()
        self._work: set[asyncio.Task[None]] = set()
        self._launching: dict[str, asyncio.Task[None]] = {}  # runner name → its launch in flight
        self._launch_slots = asyncio.Semaphore(concurrent_launches)
        self._bodies = BodyBudget()  # every request's body being read or handled, at once
        # Deliveries stored and parsed at intake, until processed: processing does not read and parse a
        # body (up to 25 MB) a second time. Those stored before a restart are read from the store.
        self._parsed: dict[str, WorkflowJobEvent] = {}
        self._retiring: set[str] = set()  # warm runners being stopped: no job may take them
        # Every runner metric has a `pool` label; a delivery no pool's secret verified has pool="".
        self.deliveries = Counter(
            "sengu_runners_deliveries", "Webhook deliveries by pool and result.", ["pool", "result"], registry=registry
        )
        self.launches = Counter(
            "sengu_runners_launches",
            "Runner launches by pool, backend and outcome.",
            ["pool", "backend", "outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "sengu_runners_rejections", "Jobs rejected by label resolution.", ["pool"], registry=registry
        )
        self.orphans = Counter(
            "sengu_runners_orphans_reaped", "Orphans removed by the janitor.", ["pool", "what"], registry=registry
        )
        self.launch_wait = Histogram(
            "sengu_runners_queued_to_launch_seconds",
            "From a job's queued webhook (or the reconciler finding it) to the backend launch call.",
            ["pool"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.start_wait = Histogram(
            "sengu_runners_queued_to_running_seconds",
            "From a job's queued webhook to GitHub reporting it running on a runner.",
            ["pool"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.job_duration = Histogram(
            "sengu_runners_job_duration_seconds",
            "From GitHub reporting a job running to its end (completed, failed or stopped).",
            ["pool"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        # Read from the store when scraped, so they are right after a restart and need no bookkeeping.
        open_jobs = Gauge(
            "sengu_runners_open_jobs",
            "Jobs not over: waiting for an approval, queued, launching or running.",
            ["pool"],
            registry=registry,
        )
        runners = {
            state: Gauge(f"sengu_runners_{state}_runners", help, ["pool"], registry=registry)
            for state, help in (
                ("idle", "Live runners seen online without a job (warm runners wait here)."),
                ("busy", "Live runners GitHub runs a job on."),
                ("launching", "Live runners not seen online yet."),
            )
        }
        budget = Gauge(
            "sengu_runners_github_budget_remaining",
            "GitHub API requests left in the installation's primary rate limit (NaN until known).",
            ["pool"],
            registry=registry,
        )
        for runtime in self.pools.values():
            budget.labels(runtime.name).set_function(_budget_of(runtime.github))
            open_jobs.labels(runtime.name).set_function(_open_jobs_of(self.runners, runtime.name))
            for per_pool in (self.rejections, self.launch_wait, self.start_wait, self.job_duration):
                per_pool.labels(runtime.name)  # at 0 from the start: a pool with nothing to count yet shows 0
            for state, gauge in runners.items():
                gauge.labels(runtime.name).set_function(_runners_of(self.runners, runtime.name, state))

    # --- component --------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.recover()
        self._loops = [
            asyncio.create_task(self._process_forever(), name="runners-processor"),
            asyncio.create_task(self._every(self.reconcile_s, self.reconcile), name="runners-reconciler"),
            asyncio.create_task(self._every(self.tick_s, self.tick), name="runners-ticker"),
            asyncio.create_task(self._every(self.reconcile_s, self.janitor), name="runners-janitor"),
            asyncio.create_task(self._every(self.prune_s, self.prune), name="runners-pruner"),
        ]

    async def stop(self, drain_timeout: float) -> None:
        self._stopping.set()
        self._wake.set()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # Launches in flight finish (their handles get recorded) unless the drain time runs out.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settle(), timeout=max(drain_timeout, 0.1))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cool_down(), timeout=max(drain_timeout, 5.0))
        for task in list(self._work):
            task.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)
        for runtime in self.pools.values():
            await runtime.github.aclose()

    def routes(self) -> list[BaseRoute]:
        return [Route("/webhooks/github", self.webhook, methods=["POST"])]

    def health(self) -> dict[str, object]:
        alive = all(not t.done() for t in self._loops) or self._stopping.is_set()
        return {"ok": alive, "pools": sorted(self.pools), "open_jobs": self.runners.count_open()}

    async def settle(self) -> None:
        """Wait until no launch or stop is in flight (tests, and the drain at stop)."""
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guarded(work, name), name=name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        return task

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except (GitHubError, BackendError) as exc:
            log.warning("runners: %s: %s", name, exc)  # the ticker, reconciler or janitor come back to it
        except Exception:
            log.exception("runners: %s failed", name)

    # --- intake -----------------------------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        length = request.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > MAX_PAYLOAD:
            return self._too_large()  # before reading a byte of it
        signature = request.headers.get("x-hub-signature-256")
        held = HeldBody(self._bodies)
        try:
            # Unsigned bodies are read only to tell "too large" from "not signed", and kept nowhere.
            body = await held.read(request, keep=signature is not None)
            if body is None:
                return self._too_large()
            return self._judge(request, body, signature)
        except Busy:
            self._count("busy", [])
            return JSONResponse(
                {"error": "busy reading other deliveries; retry"}, status_code=503, headers={"Retry-After": "1"}
            )
        finally:
            held.release()

    def _judge(self, request: Request, body: bytearray, signature: str | None) -> Response:
        """A body read whole: verified, parsed, routed and stored."""
        signed = [p for p in self.pools.values() if signature is not None and p.signed(body, signature)]
        if not signed:
            self._count("bad_signature", [])
            return JSONResponse({"error": "signature does not match"}, status_code=401)
        delivery = request.headers.get("x-github-delivery")
        if not delivery:
            self._count("malformed", signed)
            log.warning("runners: a signed delivery without X-GitHub-Delivery refused")
            return JSONResponse({"error": "missing X-GitHub-Delivery"}, status_code=400)
        if len(delivery) > MAX_DELIVERY_ID:
            self._count("malformed", signed)
            log.warning("runners: a signed delivery with a %d-character X-GitHub-Delivery refused", len(delivery))
            return JSONResponse(
                {"error": f"X-GitHub-Delivery longer than {MAX_DELIVERY_ID} characters"}, status_code=400
            )
        event = request.headers.get("x-github-event")
        try:
            parsed = parse_workflow_job(body, event)
        except MalformedWebhook as exc:
            self._count("malformed", signed)
            log.warning("runners: delivery %s (%s) refused, malformed: %s", delivery, event or "no event", exc)
            return JSONResponse({"error": f"malformed delivery: {exc}"}, status_code=400)
        pools = [] if parsed is None else [p for p in signed if p.serves(parsed.installation_id, parsed.repository)]
        if parsed is None or not pools:
            # Another event (ping…), or a job no pool here serves (the App is installed on more accounts).
            if parsed is not None:
                log.debug(
                    "runners: delivery %s: no pool serves %s for installation %s",
                    delivery, parsed.repository, parsed.installation_id,
                )  # fmt: skip
            self._count("ignored", signed)
            return JSONResponse({"stored": False, "duplicate": False}, status_code=202)
        new = self.runners.add_delivery(
            delivery, "workflow_job", body, self.clock.now(), pools=[p.name for p in pools], job=parsed.key
        )
        if new:
            self._parsed[delivery] = parsed
        self._count("stored" if new else "duplicate", pools)
        self._wake.set()
        return JSONResponse({"stored": True, "duplicate": not new}, status_code=202)

    def _count(self, result: str, pools: Sequence[PoolRuntime]) -> None:
        """A delivery counted once per pool it is about: verified by (or, once parsed, routed to) each."""
        for name in [p.name for p in pools] or [""]:
            self.deliveries.labels(name, result).inc()

    def _too_large(self) -> Response:
        self._count("too_large", [])
        return JSONResponse({"error": f"payload over {MAX_PAYLOAD} bytes (GitHub caps them at 25 MB)"}, status_code=413)

    # --- processing -------------------------------------------------------------------------------
    async def _process_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            try:
                await self.process_pending()
            except Exception:  # the store hiccuped: deliveries stay pending and are tried again
                log.exception("runners: processing deliveries failed")

    async def process_pending(self) -> int:
        done = 0
        while deliveries := self.runners.pending_deliveries():
            for delivery in deliveries:
                error = None
                try:
                    await self._handle(delivery)
                except MalformedWebhook as exc:
                    error = str(exc)
                except Exception as exc:  # a bug must not stall intake: the reconciler covers this job
                    log.exception("runners: delivery %s failed", delivery.delivery_id)
                    error = f"internal error: {type(exc).__name__}: {exc}"
                self.runners.mark_processed(delivery.delivery_id, self.clock.now(), error)
                done += 1
        return done

    async def _handle(self, delivery: Delivery) -> None:
        parsed = self._parsed.pop(delivery.delivery_id, None)
        if parsed is None:
            parsed = parse_workflow_job(self.runners.delivery_body(delivery.delivery_id), delivery.event or None)
        routed = [self.pools[name] for name in delivery.pools if name in self.pools]
        if parsed is None or not routed:
            return
        job = (parsed.job_id, parsed.run_attempt, parsed.repository, tuple(parsed.labels))
        if parsed.held:  # no runner until it is approved and queued
            await self.offer(routed, machine.Waiting(*job))
        elif parsed.action == "queued":
            await self.offer(routed, machine.Queued(*job, announced=True))
        else:
            step: machine.Event
            if parsed.action == "in_progress":
                step = machine.InProgress(parsed.runner_name)
            else:
                step = machine.Completed(parsed.conclusion, parsed.runner_name)
            for runtime in routed:  # only the pool that holds the job (or ran it on its runner) acts
                await self.apply(runtime, parsed.key, step, machine.Queued(*job))

    async def offer(self, candidates: Sequence[PoolRuntime], event: machine.Queued | machine.Waiting) -> None:
        """A job queued (or waiting) that any of `candidates` could serve goes to one of them (see _claim)."""
        async with self._lock:
            runtime = self._claim(candidates, event)
            if runtime is not None:
                await self._apply(runtime, (event.job_id, event.run_attempt), event)

    def _claim(self, candidates: Sequence[PoolRuntime], event: machine.Queued | machine.Waiting) -> PoolRuntime | None:
        """The pool that takes a job several pools serve: the one already holding it, else the first that would
        launch it, else the first that would reject it (so it is reported once). One pool's rejection never
        keeps the job from another pool that can run it, and two pools never both launch for it."""
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        for runtime in candidates:
            held = self.runners.job(runtime.name, event.job_id, event.run_attempt)
            if held is not None and not held.final:
                return runtime
        rejecting = None
        for runtime in candidates:
            answer = resolve_labels(runtime.pool.spec, event.labels, event.repository)
            if isinstance(answer, Launch):
                return runtime
            if rejecting is None and isinstance(answer, Rejection):
                rejecting = runtime
        return rejecting

    def _serving(self, runtime: PoolRuntime, repository: str) -> list[PoolRuntime]:
        """The pools that may take a job `runtime`'s installation shows in `repository` (itself included)."""
        gh = runtime.pool.spec.github
        same_app = (p for p in self.pools.values() if p.pool.spec.github.api_url == gh.api_url)
        return [p for p in same_app if p.serves(gh.installation_id, repository)]

    async def apply(
        self, runtime: PoolRuntime, key: tuple[int, int], event: machine.Event, about: machine.Queued | None = None
    ) -> None:
        """Apply `event` to the job `key`; `about` describes the job as GitHub shows it, for a job first
        heard of through a runner of ours running it (its queued webhook was lost)."""
        async with self._lock:
            await self._apply(runtime, key, event, about)

    async def _apply(
        self, runtime: PoolRuntime, key: tuple[int, int], event: machine.Event, about: machine.Queued | None = None
    ) -> None:
        job = self.runners.job(runtime.name, *key)
        ran_on = event.runner_name if isinstance(event, machine.InProgress | machine.Completed) else None
        if ran_on and (job is None or (job.runner_name != ran_on and not job.final)):
            row = self.runners.runner(ran_on)
            if row is not None and row["pool"] == runtime.name and (job is not None or about is not None):
                # GitHub ran this job on a runner of ours made for another job: it keeps that runner.
                taker = job or _job_from(about, self.clock.now())
                await self._take(runtime, taker, row, known=job is not None)
                if isinstance(event, machine.InProgress):
                    return
                job = self.runners.job(runtime.name, *key)
        if job is None:
            if not isinstance(event, machine.Queued | machine.Waiting):
                return  # not a job we were asked for
            if resolve_labels(runtime.pool.spec, event.labels, event.repository) is None:
                return  # not ours: labels lack self-hosted + sengu
        try:
            result = machine.step(job, event, self.clock.now(), runtime.limits)
        except machine.UnknownJob:
            return
        if result.job == job and not result.actions:
            return  # a duplicate, or a tick with nothing due: no write
        self._save(runtime, job, result.job)
        for action in result.actions:
            await self._do(runtime, result.job, action)

    def _save(self, runtime: PoolRuntime, before: machine.Job | None, after: machine.Job) -> None:
        self.runners.save_job(runtime.name, after)
        if after.state == "running" and before is not None and before.state != "running" and after.queued_at:
            self.start_wait.labels(runtime.name).observe(max(0.0, (self.clock.now() - after.queued_at).total_seconds()))
        if after.final and after.started_at and after.finished_at and (before is None or not before.final):
            ran = (after.finished_at - after.started_at).total_seconds()
            self.job_duration.labels(runtime.name).observe(max(0.0, ran))

    async def _take(self, runtime: PoolRuntime, taker: machine.Job, row: dict[str, Any], *, known: bool) -> None:
        """GitHub ran `taker` on a runner of ours made for another job: see machine.take."""
        name = row["runner_name"]
        owner = self.runners.job(runtime.name, row["job_id"], row["run_attempt"])
        took, gave = machine.take(taker, owner, name, self.clock.now())
        log.info("%s: job %d runs on runner %s, made for job %s", runtime.name, taker.job_id, name, row["job_id"])
        with self.runners.store.transaction():  # both jobs and both runners, or none of it after a crash
            self.runners.assign_runner(name, *took.job.key)
            self._save(runtime, taker if known else None, took.job)
            if gave is not None:
                if gave.job.runner_name:
                    self.runners.assign_runner(gave.job.runner_name, *gave.job.key)
                self._save(runtime, owner, gave.job)
        if gave is not None:
            for action in gave.actions:
                await self._do(runtime, gave.job, action)
        for action in took.actions:
            spare = (
                self.runners.runner(action.runner) if isinstance(action, machine.StopRunner) and action.runner else None
            )
            if spare is not None and spare["warm"] is not None and not spare["stopped_at"]:
                # A warm runner the taker was given, unused: it waits for the next job instead of stopping.
                self.runners.assign_runner(spare["runner_name"], *UNBOUND, self.clock.now())
                continue
            await self._do(runtime, took.job, action)
        self._warm_up(runtime)

    async def _do(self, runtime: PoolRuntime, job: machine.Job, action: machine.Action) -> None:
        """Carry out an action; called holding the lock, so anything slow is spawned."""
        match action:
            case machine.Resolve():
                await self._resolve(runtime, job)
            case machine.StartRunner(runner_name=name):
                task = self._launching[name] = self._spawn(self._start(runtime, name), f"launch {name}")
                task.add_done_callback(lambda _: self._launching.pop(name, None))
            case machine.StopRunner(reason=reason, runner=runner):
                if stopping := runner or job.runner_name:
                    self._spawn(self._stop(runtime, stopping, reason), f"stop {stopping}")
            case machine.ReportRejection(reason=reason):
                self.rejections.labels(runtime.name).inc()
                log.warning("%s: job %d of %s rejected: %s", runtime.name, job.job_id, job.repository, reason)
                if runtime.reporter is not None and reason != NOT_OURS:
                    self._spawn(self._report(runtime, job, reason), f"report {job.job_id}")

    async def _resolve(self, runtime: PoolRuntime, job: machine.Job) -> None:
        if runtime.pool.spec.warm and await self._take_warm(runtime, job):
            return
        if self.runners.active_count(runtime.name) >= runtime.pool.spec.limits.max_runners:
            if runtime.pool.spec.warm and isinstance(
                resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity=_capacity(job)), Launch
            ):
                self._make_room(runtime)
            return  # stays queued: admitted when a runner stops (see admit)
        answer = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity=_capacity(job))
        if isinstance(answer, Launch):
            await self._apply(runtime, job.key, machine.Decided(machine.runner_name(job, runtime.name)))
        else:
            reason = answer.reason if isinstance(answer, Rejection) else NOT_OURS
            await self._apply(runtime, job.key, machine.Decided(None, reason))

    async def admit(self) -> None:
        """Queued jobs that waited for maxRunners, oldest first, while there is room (or a warm runner for
        them); then warm runners up to their count."""
        if self._stopping.is_set():
            return  # draining: nothing new starts
        for runtime in self.pools.values():
            async with self._lock:
                room = runtime.pool.spec.limits.max_runners - self.runners.active_count(runtime.name)
                if runtime.pool.spec.warm:
                    room = max(room, 0) + len(self.runners.idle_warm(runtime.name))
                if room > 0:
                    for job in self.runners.queued_jobs(runtime.name, room):
                        await self._resolve(runtime, job)
                self._warm_up(runtime)

    # --- warm runners -------------------------------------------------------------------------------
    # A warm runner is a runner row no job holds (job id 0), registered with one of spec.warm's label sets.
    # GitHub gives a queued job to any idle runner whose labels cover it, so a job queued while one is up
    # starts on it at once; sengu binds the job to it instead of launching, and launches a replacement.

    async def _take_warm(self, runtime: PoolRuntime, job: machine.Job) -> bool:
        """Bind queued `job` to an idle warm runner whose labels cover it, if there is one. Holding the lock."""
        answer = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity=_capacity(job))
        if not isinstance(answer, Launch):
            return False  # rejected (or not ours): as without warm runners
        for row in self.runners.idle_warm(runtime.name):
            if row["runner_name"] in self._retiring or not machine.covers(row["warm"], job.labels):
                continue
            name = row["runner_name"]
            bound = machine.step(job, machine.Decided(name, warm=True), self.clock.now(), runtime.limits)
            if bound.job.state != "launching":
                return False
            with self.runners.store.transaction():  # a crash leaves it free or the job's, never both
                self.runners.assign_runner(name, *job.key, self.clock.now())
                self._save(runtime, job, bound.job)
            log.info("%s: job %d takes warm runner %s", runtime.name, job.job_id, name)
            self._warm_up(runtime)
            return True
        return False

    def _make_room(self, runtime: PoolRuntime) -> None:
        """A job waits for room that idle warm runners hold (none covers it): one of them makes way. It is
        not replaced while jobs wait (see _warm_up)."""
        for row in self.runners.idle_warm(runtime.name):
            if row["runner_name"] not in self._retiring:
                self._retire(runtime, row["runner_name"], "warm runner stopped to make room for a queued job")
                return

    def _retire(self, runtime: PoolRuntime, name: str, reason: str) -> None:
        self._retiring.add(name)
        task = self._spawn(self._stop(runtime, name, reason), f"stop {name}")
        task.add_done_callback(lambda _: self._retiring.discard(name))

    def _warm_up(self, runtime: PoolRuntime) -> None:
        """Idle warm runners to each label set's count: the missing ones launched while there is room under
        maxRunners and no job waits for it, those no longer in the spec (or beyond its count) stopped.
        Holding the lock."""
        if self._stopping.is_set():
            return
        spec = runtime.pool.spec
        wanted = {warm_key(w.labels): w.count for w in spec.warm}
        have: dict[tuple[str, ...], list[str]] = {}
        for row in self.runners.idle_warm(runtime.name):
            if row["runner_name"] not in self._retiring:
                have.setdefault(warm_key(row["warm"]), []).append(row["runner_name"])
        for key, names in have.items():
            for name in names[wanted.get(key, 0) :]:
                self._retire(runtime, name, "warm runner no longer wanted by the spec")
        if not spec.warm or self.runners.queued_jobs(runtime.name, 1):
            return
        room = spec.limits.max_runners - self.runners.active_count(runtime.name)
        for entry in spec.warm:
            missing = entry.count - len(have.get(warm_key(entry.labels), []))
            while missing > 0 and room > 0:
                answer = resolve_labels(spec, entry.labels, None)
                backend = runtime.backends.get(answer.backend) if isinstance(answer, Launch) else None
                if not isinstance(answer, Launch) or backend is None:
                    log.warning("%s: warm runners %s cannot be launched here", runtime.name, entry.labels)
                    break
                name = f"{runtime.name[:50]}-warm-{secrets.token_hex(4)}"
                # Recorded first, as a job's runner is: the janitor never takes its compute for an orphan.
                self.runners.add_warm_runner(
                    runtime.name, name, answer.labels, backend.name, backend.kind, self.clock.now()
                )
                task = self._launching[name] = self._spawn(
                    self._launch_warm(runtime, name, answer, backend), f"launch {name}"
                )
                task.add_done_callback(lambda _, n=name: self._launching.pop(n, None))  # type: ignore[misc]
                missing -= 1
                room -= 1

    async def _launch_warm(self, runtime: PoolRuntime, name: str, answer: Launch, backend: Backend) -> None:
        async with self._launch_slots:
            gh = runtime.pool.spec.github
            try:
                jit = await runtime.github.generate_jitconfig(
                    runtime.scope(""), name, list(answer.labels), gh.runner_group_id
                )
                self.runners.set_github_id(name, jit.runner.id)
                handle = await backend.launch(
                    answer, runner_name=name, jit_config=jit.encoded_jit_config.reveal(), owner_tag=runtime.name
                )
            except (GitHubError, BackendError) as exc:
                self.launches.labels(runtime.name, backend.name, "failed").inc()
                log.warning("%s: warm runner %s not launched: %s", runtime.name, name, exc)
                await self._drop_warm(runtime, name, f"launch failed: {exc}")
                return
        self.runners.set_handle(name, handle.id, handle.detail)
        self.launches.labels(runtime.name, backend.name, "launched").inc()

    async def _drop_warm(self, runtime: PoolRuntime, name: str, reason: str) -> None:
        """A warm launch that failed: its registration removed, its row over. Not replaced before the next
        tick, so a backend that is down is not called in a loop."""
        row = self.runners.runner(name)
        if row is not None and row["github_runner_id"] is not None:
            with contextlib.suppress(GitHubError):
                await runtime.github.delete_runner(runtime.scope(""), row["github_runner_id"])
        async with self._lock:
            held = self.runners.holder(name)
            if held is not None:  # a job took it while it launched: that job needs another runner
                await self._apply(runtime, held.key, machine.LaunchFailed(reason))
        self.runners.mark_stopped(name, self.clock.now(), reason)

    def _check_warm(self, runtime: PoolRuntime) -> None:
        """Idle warm runners never seen online within bootTimeout (a crash cut the launch short, the runner
        could not connect) are stopped; the next _warm_up replaces them."""
        booted_before = self.clock.now() - runtime.limits.boot_timeout
        for row in self.runners.idle_warm(runtime.name):
            late = row["online_at"] is None and datetime.fromisoformat(row["launched_at"]) < booted_before
            if late and row["runner_name"] not in self._retiring and row["runner_name"] not in self._launching:
                boot = machine.duration_text(runtime.limits.boot_timeout)
                self._retire(runtime, row["runner_name"], f"warm runner not connected within the boot timeout ({boot})")

    async def _cool_down(self) -> None:
        """At stop: idle warm runners are stopped (a restart makes them anew, from the spec it loads)."""
        for runtime in self.pools.values():
            for row in self.runners.idle_warm(runtime.name):
                try:
                    await self._stop(runtime, row["runner_name"], "the engine stopped")
                except (GitHubError, BackendError) as exc:
                    log.warning("%s: warm runner %s not stopped: %s", runtime.name, row["runner_name"], exc)

    async def _report(self, runtime: PoolRuntime, job: machine.Job, reason: str) -> None:
        assert runtime.reporter is not None
        await runtime.reporter.report(job.job_id, job.run_attempt, job.repository, job.labels, reason)  # logs its own

    async def _start(self, runtime: PoolRuntime, name: str) -> None:
        async with self._launch_slots:
            await self._launch(runtime, name)

    async def _launch(self, runtime: PoolRuntime, name: str) -> None:
        # The job is read now, not when the launch was decided: it may have ended meanwhile (nothing to
        # launch), or a handover may have given this runner to another job.
        job = self.runners.holder(name)
        if job is None or job.state != "launching":
            return
        answer = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity=_capacity(job))
        if not isinstance(answer, Launch):  # the spec changed since the decision
            await self._launch_failed(runtime, name, "labels no longer resolve", retryable=False)
            return
        backend = runtime.backends.get(answer.backend)
        if backend is None:
            reason = f"backend {answer.backend!r} is not available in this engine"
            await self._launch_failed(runtime, name, reason, retryable=False)
            return
        # Recorded before GitHub hears of the runner, so the janitor never takes a runner of a launch in
        # flight for an orphan, and a crash at any point leaves a row the restart can act on.
        self.runners.add_runner(runtime.name, name, job, backend.name, backend.kind, self.clock.now())
        try:
            jit = await runtime.github.generate_jitconfig(
                runtime.scope(job.repository), name, list(answer.labels), runtime.pool.spec.github.runner_group_id
            )
            self.runners.set_github_id(name, jit.runner.id)
            holder = self.runners.holder(name)
            if holder is None or holder.state != "launching":
                return  # the job ended while GitHub answered: the stop waiting on this launch deregisters it
            if job.queued_at:
                self.launch_wait.labels(runtime.name).observe(
                    max(0.0, (self.clock.now() - job.queued_at).total_seconds())
                )
            handle = await backend.launch(
                answer, runner_name=name, jit_config=jit.encoded_jit_config.reveal(), owner_tag=runtime.name
            )
        except (GitHubError, BackendError) as exc:
            self.launches.labels(runtime.name, answer.backend, "failed").inc()
            retryable = not isinstance(exc, BackendError) or exc.retryable
            await self._launch_failed(runtime, name, str(exc), retryable=retryable)
            return
        self.runners.set_handle(name, handle.id, handle.detail)
        self.launches.labels(runtime.name, answer.backend, "launched").inc()

    async def _launch_failed(self, runtime: PoolRuntime, name: str, reason: str, *, retryable: bool) -> None:
        async with self._lock:
            job = self.runners.holder(name)
            if job is not None:
                await self._apply(runtime, job.key, machine.LaunchFailed(reason, retryable=retryable))

    async def _stop(self, runtime: PoolRuntime, name: str, reason: str) -> None:
        if (launching := self._launching.get(name)) is not None:
            await asyncio.wait([launching])  # a job cancelled mid-launch: stop what the launch made, once made
        row = self.runners.runner(name)
        if row is None or row["stopped_at"]:
            return
        scope = runtime.scope(_repository_of(self.runners, row))
        runner_id = row["github_runner_id"]
        if runner_id is None:  # registered but the answer was not recorded: find it by name
            found = await runtime.github.list_runners(scope, name=name)
            runner_id = found[0].id if found else None
        if runner_id is not None:
            try:
                await runtime.github.delete_runner(scope, runner_id)
            except RunnerBusy:
                log.warning("%s: runner %s is busy with a job; not stopping it (%s)", runtime.name, name, reason)
                return
            except RunnerNotRemovable as exc:
                # Not a job it runs: retrying will not change GitHub's mind, so the compute goes anyway.
                log.error("%s: %s; stopping runner %s's compute anyway", runtime.name, exc, name)
                reason = f"{reason}; GitHub refused to deregister it: {exc.reason}"
        backend = runtime.backends.get(row["backend"])
        if backend is not None and row["handle_id"]:
            await backend.terminate(_handle(row), reason)
        if self.runners.mark_stopped(name, self.clock.now(), reason):
            await self.admit()

    # --- restart, reconciler and timeouts ---------------------------------------------------------
    async def recover(self) -> None:
        """After a restart: launches the crash cut short are made again, under a new runner name (the old
        registration, if GitHub made one, is deregistered; compute it may have started is the janitor's)."""
        async with self._lock:
            for runtime in self.pools.values():
                for job in self.runners.open_jobs(runtime.name):
                    if job.state != "launching" or not job.runner_name:
                        continue
                    row = self.runners.runner(job.runner_name)
                    if row is None or not row["handle_id"]:
                        interrupted = machine.LaunchFailed("the launch was interrupted by a restart")
                        await self._apply(runtime, job.key, interrupted)
        await self.admit()

    async def _every(self, seconds: float, work: Any) -> None:
        while not self._stopping.is_set():
            await self.clock.sleep(seconds)
            try:
                await work()
            except (GitHubError, BackendError) as exc:
                log.warning("runners: %s", exc)
            except Exception:  # one bad round must not stop the loop
                log.exception("runners: %s failed", getattr(work, "__name__", work))

    async def _each_pool(self, work: Callable[[PoolRuntime], Awaitable[None]]) -> None:
        """`work` for every pool; one pool's GitHub or backend failing (a revoked key, a rate limit), or a bug
        in one pool's round, does not keep the pools after it waiting."""
        for runtime in self.pools.values():
            what = getattr(work, "__name__", "work").strip("_")
            try:
                await work(runtime)
            except (GitHubError, BackendError) as exc:
                log.warning("%s: %s: %s", runtime.name, what, exc)
            except Exception:
                log.exception("%s: %s failed", runtime.name, what)

    async def reconcile(self) -> None:
        """Jobs GitHub has queued that we missed, and what became of the jobs we hold."""
        await self._each_pool(self._reconcile_pool)

    async def _reconcile_pool(self, runtime: PoolRuntime) -> None:
        budget = runtime.github.budget
        if budget is not None and _budget_low(budget, self.clock.now()):
            # Listing costs calls per repository and run; launches (a JIT config each) come first.
            log.warning(
                "%s: GitHub API budget low (%d of %d left until %s): reconcile round skipped",
                runtime.name,
                budget.remaining,
                budget.limit,
                f"{budget.reset:%H:%M:%S} UTC" if budget.reset else "the reset",
            )
            return
        gh = runtime.pool.spec.github
        queued = await runtime.github.queued_jobs(owner=gh.owner, repositories=gh.repositories)
        for wf in queued:
            found = (wf.id, wf.run_attempt, wf.repository, tuple(wf.labels))
            if wf.status == "queued":
                await self.offer(self._serving(runtime, wf.repository), machine.Queued(*found))
            elif wf.status == "waiting":  # held for an approval: launching now would only time out
                await self.offer(self._serving(runtime, wf.repository), machine.Waiting(*found))
        seen = {wf.key for wf in queued}
        for job in self.runners.open_jobs(runtime.name):
            if job.key in seen:
                continue
            current = await runtime.github.job(job.repository, job.job_id)
            if current is None:
                continue
            if current.status == "completed":
                await self.apply(runtime, job.key, machine.Completed(current.conclusion, current.runner_name))
            elif current.status == "in_progress":
                await self.apply(runtime, job.key, machine.InProgress(current.runner_name))

    async def janitor(self) -> None:
        """Both directions: compute of ours the store does not hold (an orphan), and GitHub runners of this
        pool that have no compute (a registration whose answer was lost, a crash before the launch). Only
        offline, idle runners are deregistered: a busy runner is never touched. Runners online without a
        job past idleTimeout, and runners used up on a job we never heard of, are replaced or removed."""
        await self._each_pool(self._janitor_pool)

    async def _janitor_pool(self, runtime: PoolRuntime) -> None:
        await self._reap_compute(runtime)
        self._retry_stops(runtime)
        await self._reap_registrations(runtime)

    async def _reap_compute(self, runtime: PoolRuntime) -> None:
        for backend in runtime.backends.values():
            try:
                owned = await backend.list_owned(runtime.name)
            except BackendError as exc:  # one unreachable backend must not keep the others uncleaned
                log.warning("%s: janitor: %s", runtime.name, exc)
                continue
            live = self._live()  # read after listing: a runner is recorded before its compute starts
            for handle in owned:
                name = handle.detail.get(RUNNER_TAG, "")
                if name not in live and await backend.terminate(handle, "orphan: not in the store"):
                    self.orphans.labels(runtime.name, "compute").inc()
                    log.warning("%s: terminated orphaned compute %s (%s)", runtime.name, handle.id, name)

    def _retry_stops(self, runtime: PoolRuntime) -> None:
        """Runners still live whose job is over or moved on: a stop put off (the runner was busy) or cut
        short by a crash."""
        for row in self.runners.live_runners():
            name = row["runner_name"]
            if (row["job_id"], row["run_attempt"]) == UNBOUND:
                continue  # a warm runner waiting for a job
            job = self.runners.job(row["pool"], row["job_id"], row["run_attempt"])
            if row["pool"] == runtime.name and (job is None or job.final or job.runner_name != name):
                self._spawn(self._stop(runtime, name, "its job is over"), f"stop {name}")

    async def _reap_registrations(self, runtime: PoolRuntime) -> None:
        scopes = await runtime.runner_scopes()
        listing_started = self.clock.now()
        registered: set[str] = set()
        for scope in scopes:
            listed = await runtime.github.list_runners(scope)
            registered.update(runner.name for runner in listed)
            live = self._live()
            for runner in listed:
                if _stale(runner, live, runtime.name):
                    try:
                        if await runtime.github.delete_runner(scope, runner.id):
                            self.orphans.labels(runtime.name, "github_runner").inc()
                            log.warning("%s: deregistered runner %s without compute", runtime.name, runner.name)
                    except RunnerBusy:
                        pass  # it took a job after all: leave it
                    except RunnerNotRemovable as exc:
                        log.error("%s: %s", runtime.name, exc)  # the other registrations are still reaped
                elif runner.name in live and runner.status == "online" and not runner.busy:
                    await self._idle(runtime, runner.name)
        # An ephemeral runner leaves GitHub once it has run a job. One of ours gone from the list while its
        # job still waits for it ran a job whose webhooks were all lost: that job is over, ours needs another.
        settled = listing_started - REGISTRATION_GRACE
        for row in self.runners.live_runners():
            name = row["runner_name"]
            if row["pool"] != runtime.name or name in registered or row["github_runner_id"] is None:
                continue
            if datetime.fromisoformat(row["launched_at"]) > settled:
                continue
            if (row["job_id"], row["run_attempt"]) == UNBOUND and name not in self._retiring:
                # A warm runner gone: it ran a job sengu did not hear of (ephemeral), or was removed by hand.
                self.orphans.labels(runtime.name, "used_runner").inc()
                self._retire(runtime, name, "warm runner left GitHub (it ran a job sengu did not hear of)")
                continue
            job = self.runners.job(row["pool"], row["job_id"], row["run_attempt"])
            if job is not None and job.state == "launching" and job.runner_name == name:
                self.orphans.labels(runtime.name, "used_runner").inc()
                why = f"runner {name} left GitHub without running this job (it ran another)"
                await self.apply(runtime, job.key, machine.LaunchFailed(why))

    def _live(self) -> set[str]:
        return {row["runner_name"] for row in self.runners.live_runners()}

    async def _idle(self, runtime: PoolRuntime, name: str) -> None:
        """An online runner without a job: past idleTimeout, its job gets a new runner (this one did not take
        it: its labels no longer fit after a handover) or, with no job waiting, it is removed."""
        since = self.runners.mark_online(name, self.clock.now())
        row = self.runners.runner(name)
        if row is not None and (row["job_id"], row["run_attempt"]) == UNBOUND:
            return  # a warm runner: idle is what it is for
        idle = timedelta(seconds=runtime.pool.spec.limits.idle_timeout)
        if self.clock.now() - since <= idle:
            return
        job = self.runners.job(row["pool"], row["job_id"], row["run_attempt"]) if row else None
        why = f"idle for longer than idleTimeout ({machine.duration_text(idle)})"
        if job is not None and job.state == "launching" and job.runner_name == name:
            self.orphans.labels(runtime.name, "idle_runner").inc()
            await self.apply(runtime, job.key, machine.LaunchFailed(why))
        elif job is None or job.runner_name != name or job.final:
            self.orphans.labels(runtime.name, "idle_runner").inc()
            self._spawn(self._stop(runtime, name, why), f"stop {name}")

    async def prune(self) -> int:
        """Delete deliveries past their retention (the longest of the pools': they share one table), keeping
        those of jobs not over yet and those not processed yet. In batches, so intake is never held up."""
        if not self.pools:
            return 0
        keep = max(p.pool.spec.limits.delivery_retention for p in self.pools.values())
        before = self.clock.now() - timedelta(seconds=keep)
        deleted = 0
        while True:
            batch = self.runners.prune_deliveries(before)
            deleted += batch
            if batch < PRUNE_BATCH:
                break
            await asyncio.sleep(0)
        if deleted:
            log.info(
                "runners: %d deliveries older than %s deleted", deleted, machine.duration_text(timedelta(seconds=keep))
            )
        return deleted

    async def tick(self) -> None:
        """Timeouts, compute that ended without GitHub telling us (a spot interruption, a crash), and
        queued jobs waiting for room. Only jobs a timeout may have caught are touched: a pass over
        thousands of open jobs would hold up intake and launches."""
        await self._each_pool(self._tick_pool)
        await self.admit()

    async def _tick_pool(self, runtime: PoolRuntime) -> None:
        now, limits = self.clock.now(), runtime.limits
        for job in self.runners.due_for_timeout(runtime.name, now - limits.boot_timeout, now - limits.max_job_duration):
            await self.apply(runtime, job.key, machine.Tick())
        self._check_warm(runtime)
        await self._observe(runtime)

    async def _observe(self, runtime: PoolRuntime) -> None:
        """One batched look per backend (ECS and CodeBuild: a call per 100 runners; Kubernetes: a pod list)."""
        by_backend: dict[str, list[tuple[machine.Job, Handle]]] = {}
        for job, row in self.runners.observed(runtime.name):
            by_backend.setdefault(row["backend"], []).append((job, _handle(row)))
        for name, held in by_backend.items():
            backend = runtime.backends.get(name)
            if backend is None:
                continue
            try:
                seen = await backend.observe_many([handle for _, handle in held])
            except BackendError as exc:
                log.warning("%s: cannot observe runners on %s: %s", runtime.name, name, exc)
                continue
            for job, handle in held:
                now = seen.get(handle.id)
                if now is not None and (now.state in ("stopped", "gone") or now.reason == SPOT_INTERRUPTION):
                    spot = now.reason == SPOT_INTERRUPTION
                    on_demand = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity="on-demand")
                    stopped = machine.ComputeStopped(now.reason, spot, isinstance(on_demand, Launch))
                    await self.apply(runtime, job.key, stopped)


def _job_from(about: machine.Queued | None, now: datetime) -> machine.Job:
    assert about is not None  # the caller checked: an unknown job is taken only when GitHub described it
    return machine.Job(about.job_id, about.run_attempt, about.repository, about.labels, queued_at=now)


def _budget_low(budget: RateBudget, now: datetime) -> bool:
    """Under the reserve, and not reset since GitHub said so."""
    under = budget.limit is not None and budget.remaining < budget.limit * BUDGET_RESERVE
    return under and (budget.reset is None or budget.reset > now)


def _budget_of(github: GitHubApp) -> Callable[[], float]:
    def remaining() -> float:
        return float(github.budget.remaining) if github.budget is not None else math.nan

    return remaining


def _open_jobs_of(runners: RunnerStore, pool: str) -> Callable[[], float]:
    return lambda: float(runners.count_open(pool))


def _runners_of(runners: RunnerStore, pool: str, state: str) -> Callable[[], float]:
    return lambda: float(runners.runner_counts(pool)[state])


def _handle(row: dict[str, Any]) -> Handle:
    return Handle(row["backend"], row["kind"], row["handle_id"], json.loads(row["handle_detail"] or "{}"))


def _stale(runner: Any, ours: set[str], pool: str) -> bool:
    return (
        runner.name.startswith(f"{pool}-")
        and runner.name not in ours
        and runner.status == "offline"
        and not runner.busy
    )


def _capacity(job: machine.Job) -> Literal["spot", "on-demand"] | None:
    return "on-demand" if job.capacity_override == "on-demand" else None


def _repository_of(runners: RunnerStore, row: dict[str, Any]) -> str:
    job = runners.job(row["pool"], row["job_id"], row["run_attempt"])
    return job.repository if job else ""


def build_pools(pools: Sequence[RunnerPool], *, home: Path, clock: Clock) -> list[PoolRuntime]:
    """Secrets read and backends made for each pool; a missing secret stops `sengu up` at start."""
    from sengu.runners.backends.local import LocalBackend

    out = []
    for pool in pools:
        gh = pool.spec.github
        key = read_secret(gh.private_key())
        secrets = tuple(read_secret(source).reveal().encode() for source in gh.webhook_secrets())
        backends: dict[str, Backend] = {}
        for b in pool.spec.backends:
            if b.local is not None:
                root = Path(b.local.work_dir) if b.local.work_dir else home / "runners" / pool.name
                backends[b.name] = LocalBackend(b.name, list(b.local.command), root, dict(b.local.env))
            elif b.ecs is not None:
                from sengu.runners.backends.ecs import EcsBackend

                e = b.ecs
                definitions = {k: v for k, v in (("x64", e.task_definition), ("arm64", e.arm64_task_definition)) if v}
                backends[b.name] = EcsBackend(
                    b.name,
                    cluster=e.cluster,
                    task_definitions=definitions,
                    subnets=e.subnets,
                    security_groups=e.security_groups,
                    assign_public_ip=e.assign_public_ip,
                    container=e.container,
                    platform_version=e.platform_version,
                    region=e.region,
                )
            elif b.codebuild is not None:
                from sengu.runners.backends.codebuild import CodeBuildBackend

                c = b.codebuild
                images = {k: v for k, v in (("x64", c.image), ("arm64", c.arm64_image)) if v}
                backends[b.name] = CodeBuildBackend(b.name, project=c.project, images=images or None)
            elif b.kubernetes is not None:
                from sengu.runners.backends.kubernetes import KubeBackend

                k = b.kubernetes
                backends[b.name] = KubeBackend(  # connects on first use: kubeconfig or in-cluster
                    b.name,
                    namespace=k.namespace,
                    image=k.image,
                    arm64_image=k.arm64_image,
                    service_account=k.service_account,
                    service_accounts=k.service_accounts,
                    node_selector=k.node_selector,
                    spot_nodes=k.spot_nodes,
                    roles=pool.spec.roles,
                )
        limits = machine.Limits(
            boot_timeout=timedelta(seconds=pool.spec.limits.boot_timeout),
            max_job_duration=timedelta(seconds=pool.spec.limits.max_job_duration),
        )
        github = GitHubApp(gh.api_url, gh.app_id, gh.installation_id, key, clock, ca_file=gh.ca_file)
        reporter = RejectionReporter(pool.spec.rejections, github, pool_name=pool.name, clock=clock)
        out.append(PoolRuntime(pool, github, secrets, backends, limits, reporter))
    return out


def build_engine(
    pools: Sequence[RunnerPool], *, store: Store, clock: Clock, registry: CollectorRegistry
) -> RunnerEngine:
    if not pools:
        raise UserError("no RunnerPool to run")
    # One reconciler for all pools: it runs as often as the most eager pool asks.
    reconcile_s = float(min(p.spec.limits.reconcile_interval for p in pools))
    return RunnerEngine(
        build_pools(pools, home=store.home, clock=clock),
        store=store,
        clock=clock,
        registry=registry,
        reconcile_s=reconcile_s,
        tick_s=min(10.0, reconcile_s),
    )
