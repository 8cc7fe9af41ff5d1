"""Warm runners end to end: a fake GitHub, real HTTP intake, real runner processes.

A pool with `warm: [{labels, count}]` keeps that many idle runners of those labels up before any job asks;
a job they cover runs on one without a launch, a replacement comes up, maxRunners holds throughout, and
nothing is left once the engine stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sengu.runners.local import RunnerEngine
from tests.fakes.github import FakeGitHub
from tests.runners.test_engine import LABELS, alive, deliver, serving
from tests.runners.test_intake import SenguUp

WARM = "  limits: {{maxRunners: {max}}}\n  warm:\n    - {{labels: [self-hosted, sengu, local], count: 2}}\n"


def idle_warm(engine: RunnerEngine) -> list[str]:
    return [row["runner_name"] for row in engine.runners.idle_warm("ci")]


def live(engine: RunnerEngine) -> list[str]:
    return [row["runner_name"] for row in engine.runners.live_runners()]


async def warmed(engine: RunnerEngine, fake: FakeGitHub) -> list[str]:
    """What `sengu up` does at start (recover, then admit), and the warm runners come online idle."""
    await engine.recover()
    await engine.settle()
    names = idle_warm(engine)
    for name in names:
        assert fake.runner_connected(name) is None  # online, and no job for it yet
    await engine.janitor()
    return names


def runners_list(home: Path, *args: str) -> str:
    """`sengu runners list` as a user runs it, beside the engine."""
    done = subprocess.run(
        [sys.executable, "-m", "sengu", "runners", "list", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def pids(engine: RunnerEngine, names: list[str]) -> list[int]:
    rows = [engine.runners.runner(name) for name in names]
    return [int(row["handle_id"]) for row in rows if row is not None]


def test_a_queued_job_runs_on_a_warm_runner_which_is_replaced_and_nothing_is_left_at_stop(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry = CollectorRegistry()
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, WARM.format(max=3), registry=registry) as (engine, url):
                first = await warmed(engine, fake)
                assert len(first) == 2 and all(alive(pid) for pid in pids(engine, first))
                assert {r.name for r in fake.runners} == set(first) and all(r.scope == "my-org" for r in fake.runners)
                assert registry.get_sample_value("sengu_runners_idle_runners", {"pool": "ci"}) == 2
                assert registry.get_sample_value("sengu_runners_busy_runners", {"pool": "ci"}) == 0
                listed = json.loads(await asyncio.to_thread(runners_list, tmp_path / "home", "-o", "json"))
                assert [(r["state"], r["runner_name"], r["job_id"]) for r in listed] == [
                    ("warm", name, None) for name in first
                ]
                assert listed[0]["labels"] == ["self-hosted", "sengu", "local"]
                table = await asyncio.to_thread(runners_list, tmp_path / "home")
                rows = [line.split() for line in table.splitlines()[1:]]
                assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [("ci", "-", "-", "warm", n) for n in first]

                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.settle()
                bound = engine.runners.job("ci", job.id, 1)
                assert bound is not None and bound.state == "launching" and bound.runner_name in first
                assert fake.runner(f"ci-{job.id}-1-1") is None  # no cold start for it
                assert len(idle_warm(engine)) == 2 and len(live(engine)) == 3  # a replacement, within maxRunners

                fake.start_job(job.id, bound.runner_name)
                await deliver(url, fake, fake.job(job.id), "in_progress")
                await engine.process_pending()
                assert registry.get_sample_value("sengu_runners_busy_runners", {"pool": "ci"}) == 1
                fake.complete_job(job.id)
                await deliver(url, fake, job.id, "completed")
                await engine.process_pending()
                await engine.settle()
                done = engine.runners.job("ci", job.id, 1)
                assert done is not None and done.state == "completed"
                used = engine.runners.runner(bound.runner_name)
                assert used is not None and used["stopped_at"] and not alive(int(used["handle_id"]))
                again = idle_warm(engine)
                assert len(again) == 2 and bound.runner_name not in again
                assert all(alive(pid) for pid in pids(engine, again))
                assert registry.get_sample_value("sengu_runners_job_duration_seconds_count", {"pool": "ci"}) == 1

                await engine.stop(drain_timeout=10)
                assert live(engine) == [] and fake.runners == []
                assert not any(alive(pid) for pid in pids(engine, [*first, *again]))

    asyncio.run(scenario())


def test_a_job_github_hands_to_the_other_warm_runner_leaves_the_bound_one_warm(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, WARM.format(max=3)) as (engine, url):
                first = await warmed(engine, fake)
                job = fake.queue_job("my-org/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.settle()
                bound = engine.runners.job("ci", job.id, 1)
                assert bound is not None and bound.runner_name in first
                (other,) = set(first) - {bound.runner_name}
                fake.start_job(job.id, other)  # GitHub gives it to any idle runner its labels fit
                await deliver(url, fake, fake.job(job.id), "in_progress")
                await engine.process_pending()
                await engine.settle()
                running = engine.runners.job("ci", job.id, 1)
                assert running is not None and running.state == "running" and running.runner_name == other
                warm = idle_warm(engine)
                assert bound.runner_name in warm and len(warm) == 2  # back to waiting, not stopped
                assert len(live(engine)) == 3

                # A job whose queued webhook was lost, run by GitHub on a warm runner: it keeps that runner.
                lost = fake.queue_job("my-org/app", LABELS)
                fake.start_job(lost.id, bound.runner_name)
                await deliver(url, fake, fake.job(lost.id), "in_progress")
                await engine.process_pending()
                await engine.settle()
                took = engine.runners.job("ci", lost.id, 1)
                assert took is not None and took.state == "running" and took.runner_name == bound.runner_name
                assert bound.runner_name not in idle_warm(engine) and len(live(engine)) <= 3

    asyncio.run(scenario())


def test_warm_runners_make_room_for_a_job_they_cannot_run_under_max_runners(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake, WARM.format(max=2)) as (engine, url):
                first = await warmed(engine, fake)
                assert len(first) == 2 and len(live(engine)) == 2
                big = fake.queue_job("my-org/app", [*LABELS, "cpu-1"])  # not among the warm runners' labels
                await deliver(url, fake, big, "queued")
                await engine.process_pending()
                await engine.settle()  # one warm runner stops, and its room goes to the job
                assert len(live(engine)) <= 2
                stored = engine.runners.job("ci", big.id, 1)
                assert stored is not None and stored.state == "launching" and stored.runner_name == f"ci-{big.id}-1-1"
                assert len(idle_warm(engine)) == 1 and len(live(engine)) == 2

                fake.runner_connected(stored.runner_name)
                fake.complete_job(big.id)
                await deliver(url, fake, big.id, "completed")
                await engine.process_pending()
                await engine.settle()
                assert len(idle_warm(engine)) == 2 and len(live(engine)) == 2  # warm again, never above 2

    asyncio.run(scenario())


def test_every_runner_metric_tells_two_pools_apart(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry = CollectorRegistry()
        with FakeGitHub(webhook_secret="s3cret", installations={"other-org": 679}) as fake:
            runner = tmp_path / "runner.sh"
            runner.write_text("#!/bin/sh\nexec sleep 60\n")
            runner.chmod(0o755)
            quiet = "  rejections: {checkRun: false}\n"
            files = [
                fake.write_pool(tmp_path, runner, name="ci", file="ci.yaml", more=quiet),
                fake.write_pool(tmp_path, runner, name="other", owner="other-org", file="other.yaml", more=quiet),
            ]
            async with serving(tmp_path, fake, files=files, registry=registry) as (engine, url):
                mine = fake.queue_job("my-org/app", LABELS)
                theirs = [fake.queue_job("other-org/app", LABELS), fake.queue_job("other-org/web", LABELS)]
                refused = fake.queue_job("other-org/app", [*LABELS, "gpu"])
                for job in (mine, *theirs, refused):
                    await deliver(url, fake, job, "queued")
                assert (await deliver(url, fake, mine, "queued", secret="wrong")).status_code == 401
                await engine.process_pending()
                await engine.settle()
                name = engine.runners.job("ci", mine.id, 1).runner_name  # type: ignore[union-attr]
                fake.start_job(mine.id, str(name))
                await deliver(url, fake, fake.job(mine.id), "in_progress")
                fake.complete_job(mine.id)
                await deliver(url, fake, mine.id, "completed")
                await engine.process_pending()
                await engine.settle()

                def value(metric: str, **labels: str) -> float | None:
                    return registry.get_sample_value(metric, labels)

                stored = "sengu_runners_deliveries_total"
                assert value(stored, pool="ci", result="stored") == 3
                assert value(stored, pool="other", result="stored") == 3
                assert value(stored, pool="", result="bad_signature") == 1
                launched = "sengu_runners_launches_total"
                assert value(launched, pool="ci", backend="local", outcome="launched") == 1
                assert value(launched, pool="other", backend="local", outcome="launched") == 2
                assert value("sengu_runners_rejections_total", pool="other") == 1
                assert value("sengu_runners_rejections_total", pool="ci") == 0
                assert value("sengu_runners_open_jobs", pool="ci") == 0
                assert value("sengu_runners_open_jobs", pool="other") == 2
                assert value("sengu_runners_launching_runners", pool="other") == 2
                assert value("sengu_runners_launching_runners", pool="ci") == 0
                assert value("sengu_runners_queued_to_launch_seconds_count", pool="other") == 2
                assert value("sengu_runners_queued_to_launch_seconds_count", pool="ci") == 1
                assert value("sengu_runners_queued_to_running_seconds_count", pool="ci") == 1
                assert value("sengu_runners_queued_to_running_seconds_count", pool="other") == 0
                assert value("sengu_runners_job_duration_seconds_count", pool="ci") == 1
                assert value("sengu_runners_job_duration_seconds_count", pool="other") == 0

    asyncio.run(scenario())


@pytest.mark.timeout(120)
def test_sengu_up_starts_warm_runners_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    with FakeGitHub(webhook_secret="s3cret") as fake:
        runner = tmp_path / "runner.sh"
        runner.write_text('#!/bin/sh\necho $$ > "$PWD/pid"\nexec sleep 60\n')
        runner.chmod(0o755)
        pool = fake.write_pool(tmp_path, runner, more="  rejections: {checkRun: false}\n" + WARM.format(max=3))
        with SenguUp([pool], tmp_path / "home", tmp_path / "sengu.log"):
            fake.wait_until(lambda gh: len(gh.runners) == 2, timeout=30)
            names = [r.name for r in fake.runners]
            assert all(name.startswith("ci-warm-") for name in names)
            marks = [tmp_path / "work" / name / "pid" for name in names]
            deadline = time.monotonic() + 30
            while not all(mark.exists() and mark.read_text().strip() for mark in marks):
                assert time.monotonic() < deadline, "warm runner processes never started"
                time.sleep(0.05)
            started = [int(mark.read_text()) for mark in marks]
            assert all(alive(pid) for pid in started)
        assert fake.runners == []  # deregistered on the way out
        assert not any(alive(pid) for pid in started)
