from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sengu.core.store import Store
from sengu.runners.machine import Job
from sengu.runners.store import MIGRATIONS, OWNER, RunnerStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_deliveries_are_stored_once_and_survive_a_reopen(tmp_path: Path) -> None:
    runners = RunnerStore(Store(tmp_path))
    assert runners.add_delivery("d-1", "workflow_job", b'{"action":"queued"}', NOW)
    assert not runners.add_delivery("d-1", "workflow_job", b'{"action":"queued"}', NOW)  # redelivery
    assert runners.add_delivery("d-2", "workflow_job", b"{}", NOW)
    runners.mark_processed("d-2", NOW)
    reopened = RunnerStore(Store(tmp_path))
    (pending,) = reopened.pending_deliveries()
    assert pending.delivery_id == "d-1" and reopened.delivery_body("d-1") == b'{"action":"queued"}'


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


def test_a_v2_database_is_migrated_with_its_jobs_and_pending_deliveries(tmp_path: Path) -> None:
    old = Store(tmp_path)
    old.migrate(OWNER, MIGRATIONS[:2])  # as the engine before v3 left it
    old.execute(
        "INSERT INTO runners_jobs (pool, job_id, run_attempt, repository, labels, state, runner_name, attempts,"
        " queued_at) VALUES ('ci', 7, 1, 'my-org/app', '[\"self-hosted\", \"sengu\"]', 'launching', 'ci-7-1-1', 1, ?)",
        (NOW.isoformat(),),
    )
    old.execute(
        "INSERT INTO runners_deliveries (delivery_id, received_at, event, body)"
        " VALUES ('d-1', ?, 'ci/workflow_job', x'7b7d')",
        (NOW.isoformat(),),
    )
    old.close()
    runners = RunnerStore(Store(tmp_path))
    job = runners.job("ci", 7, 1)
    assert job is not None and (job.state, job.runner_name, job.attempts, job.queued_at) == (
        "launching",
        "ci-7-1-1",
        1,
        NOW,
    )
    (pending,) = runners.pending_deliveries()
    assert (pending.event, pending.pools) == ("workflow_job", ("ci",))
    assert runners.delivery_body(pending.delivery_id) == b"{}"
    # Keyed by pool now: another pool may hold the same job (one rejected it, the other launches it).
    runners.save_job("big", replace(job, state="queued", runner_name=None, attempts=0))
    assert runners.job("ci", 7, 1) == job and runners.job("big", 7, 1) is not None
    assert runners.job("other", 7, 1) is None


def test_pruning_keeps_pending_deliveries_and_those_of_open_jobs(tmp_path: Path) -> None:
    runners = RunnerStore(Store(tmp_path))
    for i, state in enumerate(["completed", "waiting", "running", "rejected"], start=1):
        runners.save_job("ci", Job(i, 1, "my-org/app", ("x",), state=state))  # type: ignore[arg-type]
        runners.add_delivery(f"d-{i}", "workflow_job", b"{}", NOW, pools=["ci"], job=(i, 1))
        runners.mark_processed(f"d-{i}", NOW)
    runners.add_delivery("d-pending", "workflow_job", b"{}", NOW, pools=["ci"], job=(1, 1))
    runners.add_delivery("d-new", "workflow_job", b"{}", NOW + timedelta(days=2), pools=["ci"], job=(1, 1))
    runners.mark_processed("d-new", NOW + timedelta(days=2))
    assert runners.prune_deliveries(NOW) == 0  # nothing received before then
    assert runners.prune_deliveries(NOW + timedelta(days=1)) == 2  # d-1 and d-4: their jobs are over
    assert runners.delivery_ids() == ["d-2", "d-3", "d-pending", "d-new"]
