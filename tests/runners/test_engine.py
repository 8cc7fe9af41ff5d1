"""The runners component end to end on this machine: a fake GitHub, real HTTP intake, real runner processes."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from sengu import capabilities
from sengu.core.clock import SYSTEM_CLOCK, Clock, FakeClock
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
DATA = Path(__file__).parent / "data"


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
    files: list[Path] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[tuple[RunnerEngine, str]]:
    """The engine of `files` (default: pool_file's one pool "ci") behind real HTTP intake."""
    pools = capabilities.load(files or [pool_file(tmp_path, fake, extra, namespace)]).of("RunnerPool")
    store = Store(tmp_path / "home")
    engine = build_engine(pools, store=store, clock=clock, registry=registry or CollectorRegistry())
    server = HttpServer(build_app([engine], CollectorRegistry()), bind("127.0.0.1", 0))
    await server.start()
    try:
        yield engine, f"http://127.0.0.1:{server.port}/webhooks/github"
    finally:
        for row in engine.runners.live_runners():  # leave no process behind whatever happened
            await engine._stop(engine.pools[row["pool"]], row["runner_name"], "test over")
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
                stored = engine.runners.job("ci", job.id, job.run_attempt)
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
                running = engine.runners.job("ci", job.id, job.run_attempt)
                assert running is not None and running.state == "running"

                fake.complete_job(job.id)
                await deliver(url, fake, job.id, "completed")
                await engine.process_pending()
                await engine.settle()
                done = engine.runners.job("ci", job.id, job.run_attempt)
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
                found = engine.runners.job("ci", lost.id, lost.run_attempt)
                assert found is not None and found.state == "launching"
                assert engine.runners.job("ci", other.id, other.run_attempt) is None

                fake.cancel_job(lost.id)  # cancelled before any runner took it (its launch may be in flight)
                await engine.reconcile()
                await engine.settle()
                cancelled = engine.runners.job("ci", lost.id, lost.run_attempt)
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
                stored = engine.runners.job("ci", job.id, job.run_attempt)
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
                launched = engine.runners.job("ci", job.id, job.run_attempt)
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
                failed = engine.runners.job("ci", job.id, job.run_attempt)
                assert failed is not None and failed.state == "failed"
                assert "cannot connect to the cluster" in (failed.reason or "")
                await engine.settle()
                assert fake.runners == [] and engine.runners.live_runners() == []  # its registration is undone

    asyncio.run(scenario())


async def launched(engine: RunnerEngine, job: Any) -> str:
    await engine.settle()
    stored = engine.runners.job("ci", job.id, job.run_attempt)
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
                waiting = engine.runners.job("ci", second.id, second.run_attempt)
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
                took = engine.runners.job("ci", b.id, b.run_attempt)
                gave = engine.runners.job("ci", a.id, a.run_attempt)
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
                assert engine.runners.job("ci", job.id, 1).runner_name == first  # type: ignore[union-attr]
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
                assert registry.get_sample_value("sengu_runners_queued_to_launch_seconds_count", {"pool": "ci"}) == 1
                assert registry.get_sample_value("sengu_runners_queued_to_running_seconds_count", {"pool": "ci"}) == 1
                assert (
                    registry.get_sample_value(
                        "sengu_runners_launches_total", {"pool": "ci", "backend": "local", "outcome": "launched"}
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
                    if engine.runners.job("ci", job.id, job.run_attempt).state != "running":  # type: ignore[union-attr]
                        break
                    await asyncio.sleep(0.02)
                failed = engine.runners.job("ci", job.id, job.run_attempt)
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
                assert engine.runners.job("ci", lost.id, lost.run_attempt) is None
                fake.set_budget(4000)
                await engine.janitor()  # any answer from GitHub tells the budget again
                await engine.reconcile()
                await launched(engine, lost)

    asyncio.run(scenario())


# --------------------------------------------------------------------------------------------------
# Routing, approvals, malformed deliveries, secret rotation, retention


def runner_script(tmp_path: Path) -> Path:
    runner = tmp_path / "runner.sh"
    runner.write_text('#!/bin/sh\necho "$SENGU_RUNNER $2" > "$PWD/started"\nexec sleep 60\n')
    runner.chmod(0o755)
    return runner


def state_of(engine: RunnerEngine, pool: str, job_id: int) -> str | None:
    rows = engine.runners.store.query("SELECT state FROM runners_jobs WHERE pool = ? AND job_id = ?", (pool, job_id))
    return str(rows[0][0]) if rows else None


def rejected(engine: RunnerEngine) -> float:
    """Rejections counted, of every pool."""
    return sum(s.value for m in engine.rejections.collect() for s in m.samples if s.name.endswith("_total"))


def stored_deliveries(engine: RunnerEngine) -> int:
    return int(engine.runners.store.query("SELECT COUNT(*) FROM runners_deliveries")[0][0])


def test_one_app_on_two_organisations_each_pool_launches_its_own_orgs_jobs(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret", installations={"other-org": 679}) as fake:
            runner = runner_script(tmp_path)
            quiet = "  rejections: {checkRun: false}\n"
            files = [
                fake.write_pool(tmp_path, runner, name="ci", file="ci.yaml", more=quiet),
                fake.write_pool(tmp_path, runner, name="other", owner="other-org", file="other.yaml", more=quiet),
            ]
            async with serving(tmp_path, fake, files=files) as (engine, url):
                mine, theirs = fake.queue_job("my-org/app", LABELS), fake.queue_job("other-org/app", LABELS)
                assert json.loads(fake.webhook_delivery(theirs, "queued")[1])["installation"]["id"] == 679
                for job in (mine, theirs):
                    assert (await deliver(url, fake, job, "queued")).status_code == 202
                await engine.process_pending()
                await engine.settle()
                lost = fake.queue_job("other-org/web", LABELS)  # its webhook never arrives
                await engine.reconcile()
                await engine.settle()
                by_name = {r.name: r.scope for r in fake.runners}
                assert by_name == {
                    f"ci-{mine.id}-1-1": "my-org",
                    f"other-{theirs.id}-1-1": "other-org",
                    f"other-{lost.id}-1-1": "other-org",
                }
                assert state_of(engine, "ci", theirs.id) is None and state_of(engine, "other", mine.id) is None
                assert rejected(engine) == 0

    asyncio.run(scenario())


def test_a_job_one_pool_rejects_is_launched_by_another_pool_that_serves_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            runner = runner_script(tmp_path)
            small = "  policy: [{repositories: ['my-org/*'], maxCpu: 2}]\n  rejections: {checkRun: false}\n"
            files = [
                fake.write_pool(tmp_path, runner, name="small", file="small.yaml", more=small),
                fake.write_pool(
                    tmp_path, runner, name="big", file="big.yaml", more="  rejections: {checkRun: false}\n"
                ),
            ]
            async with serving(tmp_path, fake, files=files) as (engine, url):
                large = fake.queue_job("my-org/app", [*LABELS, "cpu-4"])  # over small's policy
                modest = fake.queue_job("my-org/app", [*LABELS, "cpu-1"])  # both could run it: one does
                for job in (large, modest):
                    await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.settle()
                # As an engine before jobs were keyed by pool left it: small rejected the job for good.
                lost = fake.queue_job("my-org/app", [*LABELS, "cpu-4"])
                engine.runners.save_job(
                    "small", machine.Job(lost.id, 1, "my-org/app", (*LABELS, "cpu-4"), "rejected", reason="policy")
                )
                await engine.reconcile()
                await engine.settle()
                assert sorted(r.name for r in fake.runners) == sorted(
                    [f"big-{large.id}-1-1", f"small-{modest.id}-1-1", f"big-{lost.id}-1-1"]
                )
                assert state_of(engine, "small", large.id) is None  # no rejection: another pool runs it
                assert rejected(engine) == 0

    asyncio.run(scenario())


def test_a_job_held_for_approval_gets_exactly_one_runner_once_queued(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS, status="waiting")  # an environment needs approval
                assert (await deliver(url, fake, job, "waiting")).status_code == 202
                await engine.process_pending()
                await engine.reconcile()
                await engine.settle()
                assert fake.runners == [] and state_of(engine, "ci", job.id) == "waiting"

                fake.set_job_status(job.id, "queued")  # approved
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.reconcile()
                await engine.tick()
                await engine.settle()
                assert [r.name for r in fake.runners] == [f"ci-{job.id}-1-1"]
                assert state_of(engine, "ci", job.id) == "launching"

    asyncio.run(scenario())


def test_githubs_published_deliveries_of_a_job_with_an_environment_launch_nothing_until_approved(
    tmp_path: Path,
) -> None:
    # GitHub announces such a job as `queued` with status "waiting", then `waiting`; neither may launch.
    examples = json.loads((DATA / "workflow_job_environment.json").read_text())["examples"]
    assert [(e["action"], e["workflow_job"]["status"]) for e in examples] == [
        ("queued", "waiting"),
        ("waiting", "waiting"),
    ]

    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS, status="waiting")
                async with httpx.AsyncClient() as client:
                    for i, example in enumerate(examples):
                        # The published payload, moved into the fake's organisation and installation.
                        payload = copy.deepcopy(example)
                        payload["workflow_job"].update(id=job.id, run_id=job.run_id, labels=LABELS)
                        payload["repository"].update(name="app", full_name="my-org/app")
                        payload["installation"]["id"] = fake.installation_id
                        body = json.dumps(payload).encode()
                        headers = {
                            "X-GitHub-Event": "workflow_job",
                            "X-GitHub-Delivery": f"d-{i}",
                            "X-Hub-Signature-256": fake.sign(body),
                        }
                        assert (await client.post(url, content=body, headers=headers)).status_code == 202
                await engine.process_pending()
                await engine.reconcile()
                await engine.settle()
                assert fake.runners == [] and state_of(engine, "ci", job.id) == "waiting"

                fake.set_job_status(job.id, "queued")  # approved
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.settle()
                assert [r.name for r in fake.runners] == [f"ci-{job.id}-1-1"]

    asyncio.run(scenario())


def test_a_queued_delivery_brings_back_a_job_that_expired_while_it_waited(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                # Launched while it waited for approval (as sengu did before), timed out three times, expired.
                expired = machine.Job(job.id, 1, "my-org/app", tuple(LABELS), "expired", attempts=3, reason="boot")
                engine.runners.save_job("ci", expired)
                await engine.reconcile()  # still queued on GitHub: that alone does not undo the launch limit
                await engine.settle()
                assert fake.runners == []
                await deliver(url, fake, job, "queued")  # the approval: GitHub queues it now
                await engine.process_pending()
                await engine.settle()
                assert [r.name for r in fake.runners] == [f"ci-{job.id}-1-4"]
                assert state_of(engine, "ci", job.id) == "launching"

    asyncio.run(scenario())


def test_a_signed_malformed_delivery_is_refused_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        registry = CollectorRegistry()
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, registry=registry) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                _, good = fake.webhook_delivery(job, "queued")
                wrong_shape = json.loads(good)
                wrong_shape["workflow_job"]["labels"] = "self-hosted"
                async with httpx.AsyncClient() as client:
                    for i, body in enumerate([good[:-7], json.dumps(wrong_shape).encode()]):
                        headers = {
                            "X-GitHub-Event": "workflow_job",
                            "X-GitHub-Delivery": f"d-bad-{i}",
                            "X-Hub-Signature-256": fake.sign(body),
                            "Content-Type": "application/json",
                        }
                        answer = await client.post(url, content=body, headers=headers)
                        assert answer.status_code == 400, answer.text
                        assert "malformed" in answer.json()["error"]
                assert stored_deliveries(engine) == 0
                value = registry.get_sample_value(
                    "sengu_runners_deliveries_total", {"pool": "ci", "result": "malformed"}
                )
                assert value == 2
                assert (
                    registry.get_sample_value("sengu_runners_deliveries_total", {"pool": "ci", "result": "stored"})
                    is None
                )

    with caplog.at_level("WARNING", logger="sengu.runners"):
        asyncio.run(scenario())
    assert sum("d-bad-" in r.getMessage() and "malformed" in r.getMessage() for r in caplog.records) == 2


def test_while_rotating_a_delivery_signed_with_either_secret_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="new-s3cret") as fake:
            path = pool_file(tmp_path, fake)
            text = path.read_text().replace(
                "    owner: my-org", "    webhookSecretPrevious: {env: OLD_HOOK}\n    owner: my-org"
            )
            path.write_text(text)
            monkeypatch.setenv("OLD_HOOK", "old-s3cret")
            async with serving(tmp_path, fake, files=[path]) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                old = await deliver(url, fake, job, "queued", secret="old-s3cret", delivery_id="d-old")
                new = await deliver(url, fake, job, "in_progress", delivery_id="d-new")
                other = await deliver(url, fake, job, "completed", secret="not-ours", delivery_id="d-x")
                assert (old.status_code, new.status_code, other.status_code) == (202, 202, 401)
                assert [d.delivery_id for d in engine.runners.pending_deliveries()] == ["d-old", "d-new"]

    asyncio.run(scenario())


def test_deliveries_past_their_retention_are_deleted_but_an_open_jobs_are_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
        with FakeGitHub(webhook_secret="s3cret", now=clock.now) as fake:
            default = capabilities.load([pool_file(tmp_path, fake)]).of("RunnerPool")[0]
            assert default.spec.limits.delivery_retention == 7 * 86400
            path = pool_file(tmp_path, fake, "  limits: {deliveryRetention: 2d}\n")
            async with serving(tmp_path, fake, files=[path], clock=clock) as (engine, url):
                done, still = fake.queue_job("my-org/app", ["linux"]), fake.queue_job("my-org/app", ["linux"])
                for job, delivery in ((done, "d-done"), (still, "d-open"), (done, "d-pending")):
                    assert (await deliver(url, fake, job, "queued", delivery_id=delivery)).status_code == 202
                for delivery in ("d-done", "d-open"):
                    engine.runners.mark_processed(delivery, clock.now())
                engine.runners.save_job("ci", machine.Job(done.id, 1, "my-org/app", ("linux",), "completed"))
                engine.runners.save_job("ci", machine.Job(still.id, 1, "my-org/app", ("linux",), "running"))
                clock.advance(86400)
                await deliver(url, fake, done, "completed", delivery_id="d-recent")
                engine.runners.mark_processed("d-recent", clock.now())
                clock.advance(1.5 * 86400)
                assert await engine.prune() == 1  # d-done: processed, 2.5 days old, its job over
                assert engine.runners.delivery_ids() == ["d-open", "d-pending", "d-recent"]

                engine.runners.save_job("ci", machine.Job(still.id, 1, "my-org/app", ("linux",), "completed"))
                clock.advance(86400)
                assert await engine.prune() == 2
                assert engine.runners.delivery_ids() == ["d-pending"]  # never processed: kept

    asyncio.run(scenario())


def test_one_pools_failing_round_does_not_stop_the_other_pools_timeouts(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret", installations={"other-org": 679}) as fake:
            runner = runner_script(tmp_path)
            quiet = "  rejections: {checkRun: false}\n"
            files = [
                fake.write_pool(tmp_path, runner, name="broken", owner="other-org", file="broken.yaml", more=quiet),
                fake.write_pool(
                    tmp_path, runner, name="ci", file="ci.yaml", more=quiet + "  limits: {bootTimeout: 1s}\n"
                ),
            ]
            async with serving(tmp_path, fake, files=files) as (engine, url):
                assert list(engine.pools) == ["broken", "ci"]  # the broken pool's round comes first
                # A bug in one pool's round (here: limits no load would let through, so `now - limit` overflows)
                broken = engine.pools["broken"]
                broken.limits = replace(broken.limits, boot_timeout=timedelta(days=999_999_999))
                with pytest.raises(OverflowError):
                    await engine._tick_pool(broken)
                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                assert await launched(engine, job) == f"ci-{job.id}-1-1"
                await asyncio.sleep(1.2)
                await engine.tick()
                assert await launched(engine, job) == f"ci-{job.id}-1-2"  # ci's boot timeout still replaced it

    asyncio.run(scenario())


def test_numbers_past_64_bits_and_an_overlong_delivery_id_are_malformed_not_internal_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry = CollectorRegistry()
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, registry=registry) as (engine, url):
                job = fake.queue_job("my-org/app", LABELS)
                _, good = fake.webhook_delivery(job, "queued")
                bodies = []
                for where, field, value in [
                    ("workflow_job", "id", 2**70),
                    ("workflow_job", "run_attempt", 2**64),
                    ("workflow_job", "run_id", 2**70),
                    ("workflow_job", "runner_id", 2**63),
                    ("installation", "id", 2**70),
                ]:
                    payload = json.loads(good)
                    payload[where][field] = value
                    bodies.append((f"d-{where}-{field}", json.dumps(payload).encode()))
                bodies.append(("d" * 201, good))  # GitHub's delivery ids are UUIDs
                async with httpx.AsyncClient() as client:
                    for delivery, body in bodies:
                        headers = {
                            "X-GitHub-Event": "workflow_job",
                            "X-GitHub-Delivery": delivery,
                            "X-Hub-Signature-256": fake.sign(body),
                            "Content-Type": "application/json",
                        }
                        answer = await client.post(url, content=body, headers=headers)
                        assert answer.status_code == 400, (delivery[:30], answer.status_code, answer.text)
                    assert stored_deliveries(engine) == 0
                    headers, body = fake.webhook_delivery(job, "queued", delivery_id="d" * 200)
                    assert (await client.post(url, content=body, headers=headers)).status_code == 202
                malformed = {"pool": "ci", "result": "malformed"}
                assert registry.get_sample_value("sengu_runners_deliveries_total", malformed) == len(bodies)

    asyncio.run(scenario())


def test_a_delivery_stored_before_a_restart_is_read_back_and_processed_after_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            job = fake.queue_job("my-org/app", LABELS)
            async with serving(tmp_path, fake) as (_, url):
                assert (await deliver(url, fake, job, "queued")).status_code == 202
            assert fake.runners == []  # stored, not processed: the engine stopped first
            async with serving(tmp_path, fake) as (engine, _):
                assert await engine.process_pending() == 1
                assert await launched(engine, job) == f"ci-{job.id}-1-1"

    asyncio.run(scenario())
