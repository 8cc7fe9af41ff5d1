"""The engine for real use: missed-time reasons, metrics after a restart, retention, job output on stdout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sengu.core.clock import FakeClock
from tests.batch.enginekit import advance, at, eventually, rows, running_engine, spec_file


def runs(home: Path, job: str) -> list[dict[str, object]]:
    return rows(home, "SELECT * FROM batch_runs WHERE job = ? ORDER BY scheduled_at, id", (job,))


EVERY_MINUTE = """  jobs:
    - name: tick
      schedule: "* * * * *"
      command: "true"
"""


def test_a_time_superseded_after_a_short_downtime_says_so(tmp_path: Path) -> None:
    """Down 65 s over two fire times: the older one was not run because the later one ran, not because
    it was past startingDeadlineSeconds."""
    path = spec_file(tmp_path, EVERY_MINUTE)
    home = tmp_path / "home"

    async def scenario() -> None:
        async with running_engine(path, home, FakeClock(at("2026-03-01T00:00:55"))):
            pass
        async with running_engine(path, home, FakeClock(at("2026-03-01T00:02:00.5"))):
            await eventually(lambda: [r for r in runs(home, "tick") if r["status"] == "succeeded"])

    asyncio.run(scenario())
    missed, ran = runs(home, "tick")
    assert ran["scheduled_at"] == "2026-03-01T00:02:00.000+00:00" and ran["status"] == "succeeded"
    assert missed["scheduled_at"] == "2026-03-01T00:01:00.000+00:00" and missed["status"] == "missed"
    assert missed["reason"] == "superseded by 00:02 (after a stop only the latest time due runs)"


def test_times_past_the_starting_deadline_say_which_reason_is_theirs(tmp_path: Path) -> None:
    """Down ten minutes with a 2-minute starting deadline: the latest time was past the deadline; the
    earlier ones were superseded by it."""
    path = spec_file(
        tmp_path,
        """  jobs:
    - name: tick
      schedule: "*/5 * * * *"
      startingDeadlineSeconds: 120
      command: "true"
""",
    )
    home = tmp_path / "home"

    async def scenario() -> None:
        async with running_engine(path, home, FakeClock(at("2026-03-01T00:00:10"))):
            pass
        async with running_engine(path, home, FakeClock(at("2026-03-01T00:13:00"))):
            pass

    asyncio.run(scenario())
    got = [(r["scheduled_at"], r["status"], r["reason"]) for r in runs(home, "tick")]
    assert got == [
        (
            "2026-03-01T00:05:00.000+00:00",
            "missed",
            "superseded by 00:10, which was missed too (the engine was not running)",
        ),
        (
            "2026-03-01T00:10:00.000+00:00",
            "missed",
            "the engine was not running: 180s late, past startingDeadlineSeconds (120s)",
        ),
    ]


def test_metrics_after_a_restart_count_since_the_store_began(tmp_path: Path) -> None:
    """Counters and the last-success time come back from the store, pruned runs included."""
    path = spec_file(
        tmp_path,
        """  jobs:
    - name: ok
      schedule: "* * * * *"
      successfulJobsHistoryLimit: 1
      command: "true"
    - name: bad
      schedule: "* * * * *"
      command: "exit 3"
""",
    )
    home = tmp_path / "home"
    seen: list[dict[str, float | None]] = []

    def sample(registry: CollectorRegistry) -> dict[str, float | None]:
        return {
            "ok succeeded": registry.get_sample_value(
                "sengu_batch_runs_total", {"manager": "t", "job": "ok", "status": "succeeded"}
            ),
            "bad failed": registry.get_sample_value(
                "sengu_batch_runs_total", {"manager": "t", "job": "bad", "status": "failed"}
            ),
            "ok attempts": registry.get_sample_value("sengu_batch_attempts_total", {"manager": "t", "job": "ok"}),
            "ok last success": registry.get_sample_value(
                "sengu_batch_last_success_timestamp_seconds", {"manager": "t", "job": "ok"}
            ),
            "bad last success": registry.get_sample_value(
                "sengu_batch_last_success_timestamp_seconds", {"manager": "t", "job": "bad"}
            ),
        }

    def finished(job: str) -> int:
        return len([r for r in runs(home, job) if r["status"] in ("succeeded", "failed")])

    async def scenario() -> None:
        clock = FakeClock(at("2026-03-01T00:00:59"))
        async with running_engine(path, home, clock):
            await advance(clock, 1)
            await eventually(lambda: finished("ok") == 1 and finished("bad") == 1)
            await advance(clock, 60)
            await eventually(lambda: finished("ok") == 2 and finished("bad") == 2)
        for start in ("2026-03-01T00:02:30", "2026-03-01T00:02:40"):  # the first restart prunes
            registry = CollectorRegistry()
            async with running_engine(path, home, FakeClock(at(start)), registry=registry):
                seen.append(sample(registry))

    asyncio.run(scenario())
    assert len(runs(home, "ok")) == 1 and len(runs(home, "bad")) == 1
    expected = {
        "ok succeeded": 2.0,
        "bad failed": 2.0,
        "ok attempts": 2.0,
        "ok last success": at("2026-03-01T00:02:00").timestamp(),
        "bad last success": None,
    }
    assert seen == [expected, expected]


def test_history_limits_and_ttl_prune_rows_and_logs_but_never_a_running_run(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """  defaults:
    ttlSecondsAfterFinished: 7200
  jobs:
    - name: done
      schedule: "0 1-3 * * *"
      successfulJobsHistoryLimit: 2
      command: "echo done"
    - name: fails
      schedule: "0 1-3 * * *"
      command: "echo failing; exit 1"
    - name: long
      schedule: "0 1-3 * * *"
      command: "sleep 60"
""",
    )
    home = tmp_path / "home"
    logs = home / "logs" / "t"
    after_limits: dict[str, Any] = {}

    def kept() -> dict[str, list[tuple[str, object]]]:
        return {
            job: [(str(r["scheduled_at"])[11:16], r["status"]) for r in runs(home, job)]
            for job in ("done", "fails", "long")
        }

    def log_files() -> set[str]:
        return {f"{p.parent.name}/{p.name}" for p in logs.glob("*/*.log")}

    def finished(job: str, hour: int) -> bool:
        """The run of that hour has ended (the periodic prune may have taken earlier ones already)."""
        return any(
            r["scheduled_at"] == f"2026-03-01T0{hour}:00:00.000+00:00" and r["status"] not in ("running", "retrying")
            for r in runs(home, job)
        )

    async def scenario() -> None:
        clock = FakeClock(at("2026-03-01T00:59:59"))
        async with running_engine(path, home, clock, drain_timeout=0.5):
            for hour in (1, 2, 3):
                await advance(clock, 1 if hour == 1 else 3600)
                await eventually(lambda h=hour: finished("done", h) and finished("fails", h), what=f"hour {hour}")
            await advance(clock, 600)  # the next periodic prune
            await eventually(lambda: len(runs(home, "done")) == 2 and len(runs(home, "fails")) == 1, what="pruned")
            after_limits.update(kept())
            after_limits["logs"] = sorted(log_files())
            after_limits["attempt logs"] = sorted(
                str(Path(r["log_path"]).relative_to(logs)) for r in rows(home, "SELECT log_path FROM batch_attempts")
            )
            await advance(clock, 3 * 3600)  # past the TTL of everything finished
            await eventually(lambda: len(runs(home, "done")) == 0, what="TTL")
            after_limits["after ttl"] = kept()["long"] + sorted(log_files())

    asyncio.run(scenario())
    assert after_limits["done"] == [("02:00", "succeeded"), ("03:00", "succeeded")]
    assert after_limits["fails"] == [("03:00", "failed")]
    assert after_limits["long"] == [("01:00", "running"), ("02:00", "skipped"), ("03:00", "skipped")]
    ids = {r["job"]: r["id"] for r in rows(home, "SELECT job, MIN(id) AS id FROM batch_runs GROUP BY job")}
    assert ids.keys() == {"long"}
    # Log files went with their rows: the four kept attempts' files are all that is left.
    assert after_limits["logs"] == after_limits["attempt logs"] and len(after_limits["logs"]) == 4
    # The TTL took every finished run; the running one (stopped only when the test ended) stayed.
    assert after_limits["after ttl"][0] == ("01:00", "running")
    assert after_limits["after ttl"][1:] == [f"long/run-{ids['long']}-attempt-1.log"]


def test_job_output_of_each_attempt_goes_to_the_jobs_logger_with_its_prefix(tmp_path: Path) -> None:
    import logging

    path = spec_file(
        tmp_path,
        """  jobs:
    - name: flaky
      schedule: "* * * * *"
      backoffLimit: 1
      command: 'echo "try $SENGU_ATTEMPT"; [ "$SENGU_ATTEMPT" = 2 ]'
""",
    )
    home = tmp_path / "home"
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    jobs = logging.getLogger("sengu.jobs")
    handler = Collect()
    jobs.addHandler(handler)
    jobs.setLevel(logging.INFO)

    async def scenario() -> None:
        clock = FakeClock(at("2026-03-01T00:00:59"))
        async with running_engine(path, home, clock):
            await advance(clock, 1)
            await eventually(lambda: runs(home, "flaky") and runs(home, "flaky")[0]["status"] == "retrying")
            await advance(clock, 10)  # the back-off
            await eventually(lambda: runs(home, "flaky")[0]["status"] == "succeeded")

    try:
        asyncio.run(scenario())
    finally:
        jobs.removeHandler(handler)
        jobs.setLevel(logging.NOTSET)
    run = runs(home, "flaky")[0]["id"]
    assert "\n".join(records).splitlines() == [f"[flaky #{run}] try 1", f"[flaky #{run} attempt 2] try 2"]
