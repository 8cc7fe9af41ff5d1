"""The engine's stop of a runner when GitHub answers its DELETE 422: a busy runner is left and tried again; a
validation failure is reported, and the runner's compute is stopped anyway (asking again would not help)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.runners.test_engine import LABELS, alive, deliver, serving


async def launched(engine: object, url: str, fake: FakeGitHub) -> tuple[str, int]:
    """A job queued and its runner launched: the runner's name and process id."""
    from sengu.runners.local import RunnerEngine

    assert isinstance(engine, RunnerEngine)
    job = fake.queue_job("my-org/app", LABELS)
    await deliver(url, fake, job, "queued")
    await engine.process_pending()
    stored = engine.runners.job(job.id, job.run_attempt)
    assert stored is not None and stored.runner_name is not None
    name = stored.runner_name
    await engine.settle()
    row = engine.runners.runner(name)
    assert row is not None and row["handle_id"]
    return name, int(row["handle_id"])


def test_a_refused_removal_stops_the_compute_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                name, pid = await launched(engine, url, fake)
                fake.refuse_removal(name, "Validation Failed", ["runner is managed by an enterprise policy"])
                with caplog.at_level(logging.ERROR, logger="sengu.runners"):
                    await engine._stop(engine.pools["ci"], name, "test stop")
                row = engine.runners.runner(name)
                assert row is not None and row["stopped_at"] is not None
                assert row["stop_reason"] == (
                    "test stop; GitHub refused to deregister it: Validation Failed "
                    "(runner is managed by an enterprise policy)"
                )
                assert not alive(pid)
                assert any("asking again will not help" in r.getMessage() for r in caplog.records)
                assert fake.runner(name) is not None  # still registered: that is GitHub's to say
                deletes = fake.requests_to("DELETE", r"/orgs/my-org/actions/runners/\d+")
                assert [d.status for d in deletes] == [422]

    asyncio.run(scenario())


def test_a_busy_runner_is_left_running_and_tried_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(webhook_secret="s3cret") as fake:
            async with serving(tmp_path, fake) as (engine, url):
                name, pid = await launched(engine, url, fake)
                taken = fake.runner_connected(name)  # it took its job: GitHub will not remove it now
                assert taken is not None
                await engine._stop(engine.pools["ci"], name, "test stop")
                row = engine.runners.runner(name)
                assert row is not None and row["stopped_at"] is None and alive(pid)
                fake.complete_job(taken.id)  # the job ends and the ephemeral runner leaves GitHub
                await engine._stop(engine.pools["ci"], name, "test stop")
                row = engine.runners.runner(name)
                assert row is not None and row["stopped_at"] is not None and row["stop_reason"] == "test stop"
                assert not alive(pid)

    asyncio.run(scenario())
