"""The runners component end to end on this machine: a fake GitHub, real HTTP intake, real runner processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from sengu import capabilities
from sengu.core.clock import SYSTEM_CLOCK
from sengu.core.server import HttpServer, bind, build_app
from sengu.core.store import Store
from sengu.runners import machine
from sengu.runners.labels import Launch, resolve_labels
from sengu.runners.local import RunnerEngine, build_engine
from tests.fakes.github import FakeGitHub
from tests.kube import fixtures
from tests.kube.fixtures import KubeTarget

kube = fixtures.kube  # tests/runners has no conftest of its own: the fixture comes in by name

LABELS = ["self-hosted", "sengu", "local"]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def pool_file(tmp_path: Path, fake: FakeGitHub, extra: str = "", namespace: str = "ci-runners") -> Path:
    runner = tmp_path / "runner.sh"
    # A stand-in for actions/runner: shows it got its JIT config, then waits for its job like a real one.
    runner.write_text('#!/bin/sh\necho "$SENGU_RUNNER $2" > "$PWD/started"\nexec sleep 60\n')
    runner.chmod(0o755)
    more = (
        f"    - {{name: k8s, kubernetes: {{namespace: {namespace}, image: ghcr.io/actions/actions-runner:latest}}}}\n"
        f"  rejections: {{checkRun: false}}\n{extra}"
    )
    return fake.write_pool(tmp_path, runner, more=more)


@asynccontextmanager
async def serving(
    tmp_path: Path,
    fake: FakeGitHub,
    extra: str = "",
    registry: CollectorRegistry | None = None,
    namespace: str = "ci-runners",
) -> AsyncIterator[tuple[RunnerEngine, str]]:
    pools = capabilities.load([pool_file(tmp_path, fake, extra, namespace)]).of("RunnerPool")
    store = Store(tmp_path / "home")
    engine = build_engine(pools, store=store, clock=SYSTEM_CLOCK, registry=registry or CollectorRegistry())
    server = HttpServer(build_app([engine], CollectorRegistry()), bind("127.0.0.1", 0))
    await server.start()
    try:
        yield engine, f"http://127.0.0.1:{server.port}/webhooks/github"
    finally:
        for row in engine.runners.live_runners():  # leave no process behind whatever happened
            runtime = engine.pools["ci"]
            await engine._stop(runtime, row["runner_name"], "test over")
        await server.stop()
        for runtime in engine.pools.values():
            await runtime.github.aclose()
        store.close()


async def deliver(url: str, fake: FakeGitHub, job: Any, action: str, **kw: Any) -> httpx.Response:
    headers, body = fake.webhook_delivery(job, action, **kw)
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=body, headers=headers)


def test_webhook_to_runner_to_cleanup(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                first = await deliver(url, fake, job, "queued", delivery_id="d-1")
                again = await deliver(url, fake, job, "queued", delivery_id="d-1")
                assert first.status_code == 202 and first.json() == {"stored": True, "duplicate": False}
                assert again.json() == {"stored": True, "duplicate": True}
                forged_headers, body = fake.webhook_delivery(job, "queued", secret="wrong", delivery_id="d-x")
                async with httpx.AsyncClient() as client:
                    forged = await client.post(url, content=body, headers=forged_headers)
                assert forged.status_code == 401
                assert [d.delivery_id for d in engine.runners.pending_deliveries()] == ["d-1"]

                await engine.process_pending()
                stored = engine.runners.job(job.id, job.run_attempt)
                assert stored is not None and stored.state == "launching"
                name = stored.runner_name
                assert name == f"ci-{job.id}-{job.run_attempt}-1"
                started = tmp_path / "work" / str(name) / "started"
                for _ in range(100):
                    if started.exists():
                        break
                    await asyncio.sleep(0.05)
                runner_line = started.read_text().split()
                assert runner_line[0] == name and len(runner_line) == 2  # got its JIT config
                registered = fake.runner(str(name))
                assert registered is not None and {"sengu", "local"} <= set(registered.labels)

                fake.runner_connected(str(name))
                await deliver(url, fake, fake.job(job.id), "in_progress")
                await engine.process_pending()
                running = engine.runners.job(job.id, job.run_attempt)
                assert running is not None and running.state == "running"

                fake.complete_job(job.id)
                await deliver(url, fake, job.id, "completed")
                await engine.process_pending()
                await engine.settle()
                done = engine.runners.job(job.id, job.run_attempt)
                assert done is not None and done.state == "completed"
                assert engine.runners.live_runners() == []
                stopped = engine.runners.runner(str(name))
                assert stopped is not None and stopped["stop_reason"] == "job completed"
                assert not alive(int(stopped["handle_id"]))  # the runner process is gone

    asyncio.run(scenario())


def test_lost_webhook_and_cancel_before_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, _url):
                lost = fake.queue_job("my-org/app", LABELS)  # its webhook never arrives
                other = fake.queue_job("my-org/app", ["ubuntu-latest"])  # not ours
                await engine.reconcile()
                found = engine.runners.job(lost.id, lost.run_attempt)
                assert found is not None and found.state == "launching"
                assert engine.runners.job(other.id, other.run_attempt) is None

                fake.cancel_job(lost.id)  # cancelled before any runner took it (its launch may be in flight)
                await engine.reconcile()
                await engine.settle()
                cancelled = engine.runners.job(lost.id, lost.run_attempt)
                assert cancelled is not None and cancelled.state == "cancelled"
                assert engine.runners.live_runners() == []

    asyncio.run(scenario())


def test_rejected_jobs_are_counted_not_launched(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", [*LABELS, "gpu-1"])
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                stored = engine.runners.job(job.id, job.run_attempt)
                assert stored is not None and stored.state == "rejected" and "gpu-1" in (stored.reason or "")
                assert engine.runners.live_runners() == []
                assert json.dumps(engine.runners.jobs()[0]["state"]) == '"rejected"'
        listed = subprocess.run(
            [sys.executable, "-m", "sengu", "runners", "list", "-o", "json"],
            capture_output=True,
            text=True,
            env={**os.environ, "SENGU_HOME": str(tmp_path / "home")},
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert row["state"] == "rejected" and row["labels"] == [*LABELS, "gpu-1"] and row["pool"] == "ci"

    asyncio.run(scenario())


def test_janitor_deregisters_runners_without_compute_but_never_busy_or_foreign_ones(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.settle()
                launched = engine.runners.job(job.id, job.run_attempt)
                assert launched is not None and launched.runner_name
                fake.register_runner("my-org", "ci-999-1-1", ["sengu"])  # its answer was lost: no compute
                fake.register_runner("my-org", "ci-998-1-1", ["sengu"], status="online", busy=True)
                fake.register_runner("my-org", "someone-elses", ["linux"])
                await engine.janitor()
                names = {r.name for r in fake.runners}
                assert names == {launched.runner_name, "ci-998-1-1", "someone-elses"}

    asyncio.run(scenario())


def test_a_job_for_the_kubernetes_backend_gets_a_pod(tmp_path: Path, kube: KubeTarget) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, namespace=kube.namespace) as (engine, url):
                job = fake.queue_job("my-org/app", ["self-hosted", "sengu", "k8s", "arm64", "cpu-1"])
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                name = await launched(engine, job)
                pods = kube.request("GET", f"/api/v1/namespaces/{kube.namespace}/pods")[1]["items"]
                (pod,) = [p for p in pods if p["metadata"]["name"] == name]
                assert pod["spec"]["nodeSelector"]["kubernetes.io/arch"] == "arm64"
                assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1000m"
                assert fake.runner(name) is not None  # registered with GitHub, its JIT config in the pod's secret

                fake.cancel_job(job.id)
                await deliver(url, fake, fake.job(job.id), "completed")
                await engine.process_pending()
                await engine.settle()
                gone = kube.request("GET", f"/api/v1/namespaces/{kube.namespace}/pods/{name}")
                assert gone[0] == 404 or gone[1]["metadata"].get("deletionTimestamp")
                assert engine.runners.live_runners() == [] and fake.runner(name) is None

    asyncio.run(scenario())


def test_an_unreachable_backend_fails_the_job_not_the_engine(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", ["self-hosted", "sengu", "k8s"])
                await deliver(url, fake, job, "queued")
                assert await engine.process_pending() == 1
                await engine.settle()
                failed = engine.runners.job(job.id, job.run_attempt)
                assert failed is not None and failed.state == "failed"
                assert "cannot connect to the cluster" in (failed.reason or "")
                await engine.settle()
                assert fake.runners == [] and engine.runners.live_runners() == []  # its registration is undone

    asyncio.run(scenario())


async def launched(engine: RunnerEngine, job: Any) -> str:
    await engine.settle()
    stored = engine.runners.job(job.id, job.run_attempt)
    assert stored is not None and stored.state == "launching" and stored.runner_name, stored
    return stored.runner_name


def test_max_runners_queues_jobs_until_a_runner_stops(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, "  limits: {maxRunners: 1}\n") as (engine, url):
                first, second = fake.queue_job("my-org/app", LABELS), fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, first, "queued")
                await deliver(url, fake, second, "queued")
                await engine.process_pending()
                name = await launched(engine, first)
                waiting = engine.runners.job(second.id, second.run_attempt)
                assert waiting is not None and waiting.state == "queued" and waiting.runner_name is None
                await engine.tick()  # room is checked again, and there is none
                assert len(fake.runners) == 1

                fake.runner_connected(name)
                fake.complete_job(first.id)
                await deliver(url, fake, first.id, "completed")
                await engine.process_pending()
                await engine.settle()  # the stop frees the slot, and the waiting job is admitted
                assert await launched(engine, second) == f"ci-{second.id}-1-1"

    asyncio.run(scenario())


def test_a_job_run_on_another_jobs_runner_leaves_no_job_without_a_runner(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                a, b = fake.queue_job("my-org/app", LABELS), fake.queue_job("my-org/app", LABELS)
                for job in (a, b):
                    await deliver(url, fake, job, "queued")
                await engine.process_pending()
                ra, rb = await launched(engine, a), await launched(engine, b)
                fake.start_job(b.id, ra)  # GitHub hands B to A's runner, as it may
                await deliver(url, fake, fake.job(b.id), "in_progress")
                await engine.process_pending()
                await engine.settle()
                took = engine.runners.job(b.id, b.run_attempt)
                gave = engine.runners.job(a.id, a.run_attempt)
                assert took is not None and took.state == "running" and took.runner_name == ra
                assert gave is not None and gave.state == "launching" and gave.runner_name == rb
                row = engine.runners.runner(rb)
                assert row is not None and (row["job_id"], row["stopped_at"]) == (a.id, None)
                assert fake.runner_connected(rb) is not None and fake.job(a.id).runner_name == rb

    asyncio.run(scenario())


def test_idle_runner_is_replaced_and_a_restart_relaunches_an_interrupted_launch(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, "  limits: {idleTimeout: 1s}\n") as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                first = await launched(engine, job)
                fake.set_job_status(job.id, "waiting")  # so the runner comes online and takes nothing
                assert fake.runner_connected(first) is None
                fake.set_job_status(job.id, "queued")
                await engine.janitor()  # first seen online: idle from now
                assert engine.runners.job(job.id, 1).runner_name == first  # type: ignore[union-attr]
                await asyncio.sleep(1.2)
                await engine.janitor()
                second = await launched(engine, job)
                assert second == f"ci-{job.id}-1-2" and fake.runner(first) is None
                row = engine.runners.runner(first)
                assert row is not None and "idle" in row["stop_reason"] and not alive(int(row["handle_id"]))

                # A crash between deciding and launching leaves a launching job without a runner record.
                other = fake.queue_job("my-org/app", LABELS)
                engine.runners.save_job(
                    "ci",
                    machine.Job(other.id, 1, "my-org/app", tuple(LABELS), "launching", runner_name="ci-x", attempts=1),
                )
                await engine.recover()
                assert await launched(engine, other) == f"ci-{other.id}-1-2"

    asyncio.run(scenario())


def test_orphaned_runner_processes_are_found_and_killed(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, _url):
                backend = engine.pools["ci"].backends["local"]
                launch = resolve_labels(engine.pools["ci"].pool.spec, LABELS, "my-org/app")
                assert isinstance(launch, Launch)
                # Started by an engine that died before recording it: only the work directory's mark says so.
                handle = await backend.launch(launch, runner_name="ci-77-1-1", jit_config="x", owner_tag="ci")
                assert [h.id for h in await backend.list_owned("ci")] == [handle.id]
                assert await backend.list_owned("other-pool") == []
                await engine.janitor()
                assert not alive(int(handle.id)) and await backend.list_owned("ci") == []

    asyncio.run(scenario())


def test_latency_metrics_and_api_budget(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry = CollectorRegistry()
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, registry=registry) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                name = await launched(engine, job)
                fake.runner_connected(name)
                await deliver(url, fake, fake.job(job.id), "in_progress")
                await engine.process_pending()
                assert registry.get_sample_value("sengu_runners_queued_to_launch_seconds_count") == 1
                assert registry.get_sample_value("sengu_runners_queued_to_running_seconds_count") == 1
                assert (
                    registry.get_sample_value(
                        "sengu_runners_launches_total", {"backend": "local", "outcome": "launched"}
                    )
                    == 1
                )
                budget = registry.get_sample_value("sengu_runners_github_budget_remaining", {"pool": "ci"})
                assert budget is not None and 0 < budget < 5000  # from GitHub's x-ratelimit-remaining

    asyncio.run(scenario())


def test_ticker_replaces_a_runner_past_its_boot_timeout_and_notices_compute_that_died(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, "  limits: {bootTimeout: 1s}\n") as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                first = await launched(engine, job)
                await engine.tick()
                assert await launched(engine, job) == first  # not due yet
                await asyncio.sleep(1.2)
                await engine.tick()
                second = await launched(engine, job)
                assert second == f"ci-{job.id}-1-2"
                old = engine.runners.runner(first)
                assert old is not None and "boot timeout" in old["stop_reason"] and not alive(int(old["handle_id"]))

                fake.runner_connected(second)
                await deliver(url, fake, fake.job(job.id), "in_progress")
                await engine.process_pending()
                row = engine.runners.runner(second)
                assert row is not None
                os.killpg(int(row["handle_id"]), 9)  # the runner's machine vanished
                for _ in range(100):  # until the backend has seen the exit
                    await engine.tick()
                    await engine.settle()
                    if engine.runners.job(job.id, job.run_attempt).state != "running":  # type: ignore[union-attr]
                        break
                    await asyncio.sleep(0.02)
                failed = engine.runners.job(job.id, job.run_attempt)
                assert failed is not None and failed.state == "failed" and "compute stopped" in (failed.reason or "")
                assert [r["runner_name"] for r in engine.runners.live_runners()] == [second]  # GitHub: still busy
                fake.complete_job(job.id, "failure")  # GitHub gives up on the vanished runner
                await engine.janitor()  # and the stop put off is made
                await engine.settle()
                assert engine.runners.live_runners() == [] and fake.runner(second) is None

    asyncio.run(scenario())


def test_reconciling_pauses_when_the_api_budget_runs_low_and_launches_still_go(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                fake.set_budget(300)  # of 5,000: under the 10% kept for launches
                first = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, first, "queued")
                await engine.process_pending()
                await launched(engine, first)  # the launch learns the budget from GitHub's answer
                lost = fake.queue_job("my-org/app", LABELS)  # its webhook never arrives
                listed = len(fake.requests_to("GET", "/actions/runs"))
                await engine.reconcile()
                assert len(fake.requests_to("GET", "/actions/runs")) == listed  # no listing spent
                assert engine.runners.job(lost.id, lost.run_attempt) is None
                fake.set_budget(4000)
                await engine.janitor()  # any answer from GitHub tells the budget again
                await engine.reconcile()
                await launched(engine, lost)

    asyncio.run(scenario())
