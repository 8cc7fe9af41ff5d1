"""The runners component of `sengu up`: webhook intake, the job processor, and the reconciler.

Intake only verifies and stores (the delivery is committed before GitHub gets its answer), then wakes the
processor, so the answer takes milliseconds. The processor turns deliveries into state-machine events
(runners/machine.py), saves the new state, then carries out the actions; the reconciler feeds the same
events from the GitHub API, so a lost webhook still gets a runner and a job cancelled before it started
releases its runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sengu.core.clock import Clock
from sengu.core.errors import UserError
from sengu.core.notify import read_secret
from sengu.core.store import Store
from sengu.runners import machine
from sengu.runners.backends.base import Backend, BackendError, Handle
from sengu.runners.github import GitHubApp, GitHubError, RunnerBusy
from sengu.runners.labels import Launch, Rejection, resolve_labels
from sengu.runners.spec import RunnerPool
from sengu.runners.store import Delivery, RunnerStore
from sengu.runners.webhook import MalformedWebhook, parse_workflow_job, verify_signature

log = logging.getLogger("sengu.runners")


@dataclass
class PoolRuntime:
    pool: RunnerPool
    github: GitHubApp
    webhook_secret: bytes
    backends: dict[str, Backend]
    limits: machine.Limits

    @property
    def name(self) -> str:
        return self.pool.name

    def scope(self, repository: str) -> str:
        gh = self.pool.spec.github
        return gh.owner if gh.owner is not None else repository


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
    ):
        self.pools = {p.name: p for p in pools}
        self.runners = RunnerStore(store)
        self.clock = clock
        self.reconcile_s = reconcile_s
        self.tick_s = tick_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._launches: dict[str, Launch] = {}
        self._lock = asyncio.Lock()  # one event applied at a time: the machine's steps must not interleave
        self.deliveries = Counter(
            "sengu_runners_deliveries", "Webhook deliveries by result.", ["result"], registry=registry
        )
        self.launches = Counter(
            "sengu_runners_launches",
            "Runner launches by backend and outcome.",
            ["backend", "outcome"],
            registry=registry,
        )
        self.rejections = Counter("sengu_runners_rejections", "Jobs rejected by label resolution.", registry=registry)
        self.orphans = Counter(
            "sengu_runners_orphans_reaped", "Orphans removed by the janitor.", ["what"], registry=registry
        )
        self.open_jobs = Gauge("sengu_runners_open_jobs", "Jobs queued, launching or running.", registry=registry)

    # --- component --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._process_forever(), name="runners-processor"),
            asyncio.create_task(self._every(self.reconcile_s, self.reconcile), name="runners-reconciler"),
            asyncio.create_task(self._every(self.tick_s, self.tick), name="runners-ticker"),
            asyncio.create_task(self._every(self.reconcile_s, self.janitor), name="runners-janitor"),
        ]

    async def stop(self, drain_timeout: float) -> None:
        self._stopping.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runtime in self.pools.values():
            await runtime.github.aclose()

    def routes(self) -> list[BaseRoute]:
        return [Route("/webhooks/github", self.webhook, methods=["POST"])]

    def health(self) -> dict[str, object]:
        alive = all(not t.done() for t in self._tasks) or self._stopping.is_set()
        return {"ok": alive, "pools": sorted(self.pools), "open_jobs": len(self.runners.open_jobs())}

    # --- intake -----------------------------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        runtime = next((p for p in self.pools.values() if verify_signature(p.webhook_secret, body, signature)), None)
        if runtime is None:
            self.deliveries.labels("bad_signature").inc()
            return JSONResponse({"error": "signature does not match"}, status_code=401)
        delivery = request.headers.get("x-github-delivery")
        if not delivery:
            self.deliveries.labels("malformed").inc()
            return JSONResponse({"error": "missing X-GitHub-Delivery"}, status_code=400)
        event = request.headers.get("x-github-event", "")
        new = self.runners.add_delivery(delivery, f"{runtime.name}/{event}", body, self.clock.now())
        self.deliveries.labels("stored" if new else "duplicate").inc()
        self._wake.set()
        return JSONResponse({"stored": True, "duplicate": not new}, status_code=202)

    # --- processing -------------------------------------------------------------------------------
    async def _process_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            await self.process_pending()

    async def process_pending(self) -> int:
        done = 0
        for delivery in self.runners.pending_deliveries():
            error = None
            try:
                await self._handle(delivery)
            except MalformedWebhook as exc:
                error = str(exc)
            except (GitHubError, BackendError) as exc:
                error = str(exc)  # the reconciler and the ticker will try again
            self.runners.mark_processed(delivery.delivery_id, self.clock.now(), error)
            done += 1
        return done

    async def _handle(self, delivery: Delivery) -> None:
        pool_name, _, event = delivery.event.partition("/")
        runtime = self.pools.get(pool_name)
        parsed = parse_workflow_job(delivery.body, event)
        if runtime is None or parsed is None:
            return
        step: machine.Event
        if parsed.action in ("queued", "waiting"):
            step = machine.Queued(parsed.job_id, parsed.run_attempt, parsed.repository, tuple(parsed.labels))
        elif parsed.action == "in_progress":
            step = machine.InProgress(parsed.runner_name)
        else:
            step = machine.Completed(parsed.conclusion, parsed.runner_name)
        await self.apply(runtime, parsed.key, step)

    async def apply(self, runtime: PoolRuntime, key: tuple[int, int], event: machine.Event) -> None:
        async with self._lock:
            await self._apply(runtime, key, event)

    async def _apply(self, runtime: PoolRuntime, key: tuple[int, int], event: machine.Event) -> None:
        job = self.runners.job(*key)
        if job is None:
            if not isinstance(event, machine.Queued):
                return  # not a job we were asked for
            if resolve_labels(runtime.pool.spec, event.labels, event.repository) is None:
                return  # not ours: labels lack self-hosted + sengu
        try:
            result = machine.step(job, event, self.clock.now(), runtime.limits)
        except machine.UnknownJob:
            return
        self.runners.save_job(runtime.name, result.job)
        for action in result.actions:
            await self._do(runtime, result.job, action)

    async def _do(self, runtime: PoolRuntime, job: machine.Job, action: machine.Action) -> None:
        match action:
            case machine.Resolve():
                answer = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity=_capacity(job))
                if isinstance(answer, Launch):
                    name = machine.runner_name(job, runtime.name)
                    self._launches[name] = answer
                    await self._apply(runtime, job.key, machine.Decided(name))
                else:
                    reason = answer.reason if isinstance(answer, Rejection) else "labels are not ours"
                    await self._apply(runtime, job.key, machine.Decided(None, reason))
            case machine.StartRunner(runner_name=name):
                await self._start(runtime, job, name)
            case machine.StopRunner(reason=reason):
                if job.runner_name:
                    await self._stop(runtime, job.runner_name, reason)
            case machine.ReportRejection(reason=reason):
                self.rejections.inc()
                log.warning("%s: job %d of %s rejected: %s", runtime.name, job.job_id, job.repository, reason)

    async def _start(self, runtime: PoolRuntime, job: machine.Job, name: str) -> None:
        launch = self._launches.pop(name, None)
        if launch is None:  # after a restart: resolve again, the answer is the same
            answer = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity=_capacity(job))
            if not isinstance(answer, Launch):
                await self._apply(runtime, job.key, machine.LaunchFailed("labels no longer resolve", retryable=False))
                return
            launch = answer
        backend = runtime.backends.get(launch.backend)
        if backend is None:  # a kind `sengu up` cannot run yet (kubernetes)
            reason = f"backend {launch.backend!r} cannot run runners under `sengu up` yet"
            await self._apply(runtime, job.key, machine.LaunchFailed(reason, retryable=False))
            return
        try:
            jit = await runtime.github.generate_jitconfig(
                runtime.scope(job.repository), name, list(launch.labels), runtime.pool.spec.github.runner_group_id
            )
            self.runners.add_runner(
                runtime.name, name, job, backend.name, backend.kind, self.clock.now(), jit.runner.id
            )
            handle = await backend.launch(
                launch, runner_name=name, jit_config=jit.encoded_jit_config.reveal(), owner_tag=runtime.name
            )
        except (GitHubError, BackendError) as exc:
            self.launches.labels(launch.backend, "failed").inc()
            retryable = not isinstance(exc, BackendError) or exc.retryable
            await self._apply(runtime, job.key, machine.LaunchFailed(str(exc), retryable=retryable))
            return
        self.runners.set_handle(name, handle.id, handle.detail)
        self.launches.labels(launch.backend, "launched").inc()
        await self._apply(runtime, job.key, machine.Launched())

    async def _stop(self, runtime: PoolRuntime, name: str, reason: str) -> None:
        row = self.runners.runner(name)
        if row is None or row["stopped_at"]:
            return
        if row["github_runner_id"]:
            try:
                await runtime.github.delete_runner(
                    runtime.scope(_repository_of(self.runners, row)), row["github_runner_id"]
                )
            except RunnerBusy:
                log.warning("%s: runner %s is busy with a job; not stopping it (%s)", runtime.name, name, reason)
                return
        backend = runtime.backends.get(row["backend"])
        if backend is not None and row["handle_id"]:
            await backend.terminate(_handle(row), reason)
        self.runners.mark_stopped(name, self.clock.now(), reason)

    # --- reconciler and timeouts ------------------------------------------------------------------
    async def _every(self, seconds: float, work: Any) -> None:
        while not self._stopping.is_set():
            await self.clock.sleep(seconds)
            try:
                await work()
            except (GitHubError, BackendError) as exc:
                log.warning("runners: %s", exc)
            except Exception:  # one bad round must not stop the loop
                log.exception("runners: %s failed", getattr(work, "__name__", work))

    async def reconcile(self) -> None:
        """Jobs GitHub has queued that we missed, and what became of the jobs we hold."""
        for runtime in self.pools.values():
            gh = runtime.pool.spec.github
            queued = await runtime.github.queued_jobs(owner=gh.owner, repositories=gh.repositories)
            for wf in queued:
                if wf.status in ("queued", "waiting"):
                    event = machine.Queued(wf.id, wf.run_attempt, wf.repository, tuple(wf.labels))
                    await self.apply(runtime, wf.key, event)
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
        self.open_jobs.set(len(self.runners.open_jobs()))

    async def janitor(self) -> None:
        """Both directions: compute of ours the store does not hold (an orphan), and GitHub runners of this
        pool that have no compute (a registration whose answer was lost, a crash before the launch). Only
        offline, idle runners are deregistered: a busy runner is never touched."""
        live = {row["runner_name"] for row in self.runners.live_runners()}
        for runtime in self.pools.values():
            for backend in runtime.backends.values():
                for handle in await backend.list_owned(runtime.name):
                    name = handle.detail.get("sengu.dev/runner", "")
                    if name not in live and await backend.terminate(handle, "orphan: not in the store"):
                        self.orphans.labels("compute").inc()
                        log.warning("%s: terminated orphaned compute %s (%s)", runtime.name, handle.id, name)
            gh = runtime.pool.spec.github
            scopes = [gh.owner] if gh.owner else list(gh.repositories or [])
            for scope in scopes:
                for runner in await runtime.github.list_runners(scope):
                    if _stale(runner, live, runtime.name):
                        try:
                            if await runtime.github.delete_runner(scope, runner.id):
                                self.orphans.labels("github_runner").inc()
                                log.warning("%s: deregistered runner %s without compute", runtime.name, runner.name)
                        except RunnerBusy:
                            pass  # it took a job after all: leave it

    async def tick(self) -> None:
        """Timeouts, and compute that ended without GitHub telling us (a spot interruption, a crash)."""
        for runtime in self.pools.values():
            for job in self.runners.open_jobs(runtime.name):
                await self._tick_job(runtime, job)

    async def _tick_job(self, runtime: PoolRuntime, job: machine.Job) -> None:
        await self.apply(runtime, job.key, machine.Tick())
        if job.state not in ("launching", "running") or not job.runner_name:
            return
        row = self.runners.runner(job.runner_name)
        backend = runtime.backends.get(row["backend"]) if row else None
        if row is None or backend is None or not row["handle_id"]:
            return
        seen = await backend.observe(_handle(row))
        if seen.state in ("stopped", "gone") or seen.reason == "SpotInterruption":
            spot = seen.reason == "SpotInterruption"
            on_demand = resolve_labels(runtime.pool.spec, job.labels, job.repository, capacity="on-demand")
            await self.apply(runtime, job.key, machine.ComputeStopped(seen.reason, spot, isinstance(on_demand, Launch)))


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
    job = runners.job(row["job_id"], row["run_attempt"])
    return job.repository if job else ""


def build_pools(pools: Sequence[RunnerPool], *, home: Path, clock: Clock) -> list[PoolRuntime]:
    """Secrets read and backends made for each pool; a missing secret stops `sengu up` at start."""
    from sengu.runners.backends.local import LocalBackend

    out = []
    for pool in pools:
        gh = pool.spec.github
        key = read_secret(gh.private_key())
        secret = read_secret(gh.webhook_secret()).reveal().encode()
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
            # kubernetes: not built yet; jobs that resolve to it fail to launch with a clear reason
        limits = machine.Limits(
            boot_timeout=timedelta(seconds=pool.spec.limits.boot_timeout),
            max_job_duration=timedelta(seconds=pool.spec.limits.max_job_duration),
        )
        github = GitHubApp(gh.api_url, gh.app_id, gh.installation_id, key, clock)
        out.append(PoolRuntime(pool, github, secret, backends, limits))
    return out


def build_engine(
    pools: Sequence[RunnerPool], *, store: Store, clock: Clock, registry: CollectorRegistry
) -> RunnerEngine:
    if not pools:
        raise UserError("no RunnerPool to run")
    return RunnerEngine(build_pools(pools, home=store.home, clock=clock), store=store, clock=clock, registry=registry)
