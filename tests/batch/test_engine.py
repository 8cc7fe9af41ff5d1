"""The embedded engine with real subprocesses and a fake clock for the schedule."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sengu.core.clock import FakeClock
from tests.batch.enginekit import advance, at, eventually, rows, running_engine, spec_file
from tests.fakes.receivers import SentryReceiver, SlackReceiver


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a PID 1 that may never reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def runs(home: Path, job: str) -> list[dict[str, object]]:
    return rows(home, "SELECT * FROM batch_runs WHERE job = ? ORDER BY id", (job,))


def attempts(home: Path, run_id: object) -> list[dict[str, object]]:
    return rows(home, "SELECT * FROM batch_attempts WHERE run_id = ? ORDER BY attempt", (run_id,))


def test_fires_on_schedule_and_records_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    path = spec_file(
        tmp_path,
        f"""  defaults:
    env: {{GREETING: hello}}
  jobs:
    - name: hello
      schedule: "* * * * *"
      workingDir: {tmp_path}
      command: 'echo "$GREETING $SENGU_SCHEDULED_AT $(pwd)" | tee -a {out}'
""",
    )
    home = tmp_path / "home"
    clock = FakeClock(at("2026-03-01T00:00:30"))

    async def scenario() -> None:
        async with running_engine(path, home, clock):
            await advance(clock, 29)
            assert runs(home, "hello") == []
            await advance(clock, 1)
            await eventually(lambda: [r for r in runs(home, "hello") if r["status"] == "succeeded"], what="success")
            await advance(clock, 60)
            await eventually(lambda: len([r for r in runs(home, "hello") if r["status"] == "succeeded"]) == 2)

    asyncio.run(scenario())
    lines = out.read_text().splitlines()
    assert lines == [
        f"hello 2026-03-01T00:01:00.000+00:00 {tmp_path}",
        f"hello 2026-03-01T00:02:00.000+00:00 {tmp_path}",
    ]
    first = runs(home, "hello")[0]
    assert first["scheduled_at"] == "2026-03-01T00:01:00.000+00:00" and first["trigger"] == "schedule"
    (attempt,) = attempts(home, first["id"])
    assert attempt["exit_code"] == 0 and attempt["status"] == "succeeded"
    assert Path(str(attempt["log_path"])).read_text().startswith("hello 2026-03-01T00:01:00")


def test_retries_with_backoff_then_fails(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """  jobs:
    - name: flaky
      schedule: "* * * * *"
      backoffLimit: 2
      command: 'echo "try $SENGU_ATTEMPT"; exit 7'
""",
    )
    home = tmp_path / "home"
    clock = FakeClock(at("2026-03-01T00:00:59"))

    async def scenario() -> None:
        async with running_engine(path, home, clock):
            await advance(clock, 1)
            await eventually(lambda: runs(home, "flaky") and runs(home, "flaky")[0]["status"] == "retrying")
            run = runs(home, "flaky")[0]
            assert run["next_attempt_at"] == "2026-03-01T00:01:10.000+00:00"  # 10 s back-off
            await advance(clock, 9)
            assert len(attempts(home, run["id"])) == 1
            await advance(clock, 1)
            await eventually(lambda: runs(home, "flaky")[0]["next_attempt_at"] == "2026-03-01T00:01:30.000+00:00")
            await advance(clock, 20)  # then 20 s
            await eventually(lambda: runs(home, "flaky")[0]["status"] == "failed")

    asyncio.run(scenario())
    run = runs(home, "flaky")[0]
    assert run["attempts"] == 3 and run["exit_code"] == 7
    assert str(run["reason"]).startswith("BackoffLimitExceeded: 3 attempts failed, the last with exit code 7")
    assert [a["exit_code"] for a in attempts(home, run["id"])] == [7, 7, 7]
    assert Path(str(attempts(home, run["id"])[2]["log_path"])).read_text() == "try 3\n"


def test_deadline_kills_grandchildren(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    path = spec_file(
        tmp_path,
        f"""  jobs:
    - name: slow
      schedule: "* * * * *"
      activeDeadlineSeconds: 1
      backoffLimit: 3
      command: 'sleep 100 & echo $! > {pidfile}; wait'
""",
    )
    home = tmp_path / "home"
    clock = FakeClock(at("2026-03-01T00:00:59"))

    async def scenario() -> None:
        async with running_engine(path, home, clock):
            await advance(clock, 1)
            await eventually(lambda: pidfile.exists() and pidfile.read_text().strip(), what="grandchild")
            # The deadline is real time for the process; the run's stored deadline is on the engine clock.
            await eventually(lambda: runs(home, "slow")[0]["status"] == "failed", timeout=15)

    asyncio.run(scenario())
    run = runs(home, "slow")[0]
    assert str(run["reason"]).startswith("DeadlineExceeded")
    assert run["attempts"] == 1  # no retry after the whole-run deadline
    grandchild = int(pidfile.read_text())
    assert not alive(grandchild), f"grandchild {grandchild} survived the deadline"


def test_forbid_skips_and_replace_kills(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """  jobs:
    - name: forbid
      schedule: "* * * * *"
      concurrencyPolicy: Forbid
      command: sleep 30
    - name: replace
      schedule: "* * * * *"
      concurrencyPolicy: Replace
      command: sleep 30
    - name: allow
      schedule: "* * * * *"
      concurrencyPolicy: Allow
      command: sleep 30
""",
    )
    home = tmp_path / "home"
    clock = FakeClock(at("2026-03-01T00:00:59"))

    async def scenario() -> None:
        async with running_engine(path, home, clock, drain_timeout=0.5):
            await advance(clock, 1)
            await eventually(
                lambda: all(runs(home, j) and runs(home, j)[0]["attempts"] == 1 for j in ("forbid", "replace", "allow"))
            )
            await advance(clock, 60)
            await eventually(
                lambda: (
                    len(runs(home, "forbid")) == 2
                    and len(runs(home, "replace")) == 2
                    and runs(home, "replace")[0]["status"] == "replaced"
                    and runs(home, "replace")[1]["attempts"] == 1
                    and len(runs(home, "allow")) == 2
                    and runs(home, "allow")[1]["attempts"] == 1
                )
            )

    asyncio.run(scenario())
    forbid = runs(home, "forbid")
    assert forbid[1]["status"] == "skipped"
    assert forbid[1]["reason"] == f"run {forbid[0]['id']} still active (concurrencyPolicy Forbid)"
    replace = runs(home, "replace")
    assert replace[0]["reason"] == f"replaced by run {replace[1]['id']} (concurrencyPolicy Replace)"
    (killed,) = attempts(home, replace[0]["id"])
    assert killed["status"] == "killed" and killed["signal"] == 15
    # Both Allow runs ran side by side; stopping the engine cut them short: lost, and with the default
    # lostAttemptPolicy Count and backoffLimit 0 not started again.
    allow = runs(home, "allow")
    assert [r["status"] for r in allow] == ["failed", "failed"]
    assert all(r["reason"].startswith("lost: the engine stopped while attempt 1 ran") for r in allow)


def test_recovery_command_and_notifications(tmp_path: Path) -> None:
    marker = tmp_path / "recovered"
    with SlackReceiver() as slack, SentryReceiver() as sentry:
        os.environ["TEST_SLACK_URL"] = slack.url
        dsn_file = tmp_path / "dsn"
        dsn_file.write_text(sentry.dsn + "\n")
        path = spec_file(
            tmp_path,
            f"""  defaults:
    notifications:
      slack: {{webhookUrl: {{env: TEST_SLACK_URL}}}}
      sentry: {{dsn: {{file: {dsn_file}}}, environment: test}}
  jobs:
    - name: broken
      schedule: "*/5 * * * *"
      command: 'echo "about to fail"; echo "database is gone" >&2; exit 3'
      onFailure:
        recovery:
          command: 'echo "$SENGU_RECOVERY $SENGU_JOB" > {marker}'
""",
        )
        home = tmp_path / "home"
        clock = FakeClock(at("2026-03-01T00:04:59"))

        async def scenario() -> None:
            async with running_engine(path, home, clock):
                await advance(clock, 1)
                await eventually(lambda: marker.exists(), what="recovery command")
                await eventually(lambda: len(slack.messages) >= 1 and len(sentry.check_ins) >= 2)

        asyncio.run(scenario())
        del os.environ["TEST_SLACK_URL"]
    assert marker.read_text() == "1 broken\n"
    broken = runs(home, "broken")
    assert [r["trigger"] for r in broken] == ["schedule", "recovery"]
    assert broken[1]["parent_run"] == broken[0]["id"] and broken[1]["status"] == "succeeded"
    (message,) = slack.messages
    assert "*t/broken* failed" in message["text"] and "exit code 3" in message["text"]
    assert "database is gone" in str(message["blocks"])
    statuses = [c["status"] for c in sentry.check_ins]
    assert statuses == ["in_progress", "error"]
    assert sentry.check_ins[0]["check_in_id"] == sentry.check_ins[1]["check_in_id"]
    config = sentry.check_ins[0]["monitor_config"]
    assert config["schedule"] == {"type": "crontab", "value": "*/5 * * * *"} and config["timezone"] == "UTC"
    assert sentry.check_ins[0]["environment"] == "test"


def test_missing_secret_is_a_user_error(tmp_path: Path) -> None:
    import pytest

    from sengu.core.errors import UserError

    path = spec_file(
        tmp_path,
        """  defaults:
    notifications:
      slack: {webhookUrl: {env: SENGU_TEST_NOT_SET}}
  jobs:
    - {name: a, schedule: "* * * * *", command: "true"}
""",
    )

    async def scenario() -> None:
        async with running_engine(path, tmp_path / "home", FakeClock()):
            pass

    with pytest.raises(UserError) as info:
        asyncio.run(scenario())
    assert info.value.lines() == [
        "t/a: notifications: environment variable SENGU_TEST_NOT_SET is not set; it should hold the secret"
    ]
