from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sengu.core.store import Store
from sengu.runners.machine import Job
from sengu.runners.store import RunnerStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_deliveries_are_stored_once_and_survive_a_reopen(tmp_path: Path) -> None:
    runners = RunnerStore(Store(tmp_path))
    assert runners.add_delivery("d-1", "workflow_job", b'{"action":"queued"}', NOW)
    assert not runners.add_delivery("d-1", "workflow_job", b'{"action":"queued"}', NOW)  # redelivery
    assert runners.add_delivery("d-2", "workflow_job", b"{}", NOW)
    runners.mark_processed("d-2", NOW)
    reopened = RunnerStore(Store(tmp_path))
    (pending,) = reopened.pending_deliveries()
    assert pending.delivery_id == "d-1" and pending.body == b'{"action":"queued"}'


def test_jobs_round_trip_and_open_jobs(tmp_path: Path) -> None:
    runners = RunnerStore(Store(tmp_path))
    job = Job(
        7,
        1,
        "my-org/app",
        ("self-hosted", "sengu"),
        state="launching",
        queued_at=NOW,
        launched_at=NOW,
        runner_name="ci-7-1-1",
        attempts=1,
    )
    runners.save_job("ci", job)
    assert runners.job("ci", 7, 1) == job
    runners.save_job("ci", Job(8, 1, "my-org/app", ("x",), state="completed", queued_at=NOW))
    assert [j.job_id for j in runners.open_jobs()] == [7]
    runners.save_job("other", Job(9, 1, "my-org/app", ("x",), state="queued", queued_at=NOW))
    assert [j.job_id for j in runners.open_jobs("ci")] == [7]
    assert [j.job_id for j in runners.open_jobs("other")] == [9]


def test_a_runner_is_stopped_exactly_once(tmp_path: Path) -> None:
    runners = RunnerStore(Store(tmp_path))
    job = Job(7, 1, "my-org/app", ("self-hosted", "sengu"))
    runners.add_runner("ci", "ci-7-1-1", job, "fargate", "ecs", NOW, github_runner_id=42)
    runners.set_handle("ci-7-1-1", "arn:aws:ecs:task/1", {"cluster": "ci"})
    assert [r["runner_name"] for r in runners.live_runners()] == ["ci-7-1-1"]
    assert runners.mark_stopped("ci-7-1-1", NOW, "job completed")
    assert not runners.mark_stopped("ci-7-1-1", NOW, "again")
    assert runners.live_runners() == []
    stored = runners.runner("ci-7-1-1")
    assert (
        stored is not None and stored["stop_reason"] == "job completed" and stored["handle_id"] == "arn:aws:ecs:task/1"
    )
