"""Reloading the spec of a running engine: in place for batch, from now on, nothing running dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sengu.core.clock import FakeClock
from sengu.core.errors import UserError
from tests.batch.enginekit import HEADER, advance, at, eventually, load, rows, running_engine, spec_file


def runs(home: Path, job: str) -> list[dict[str, object]]:
    return rows(home, "SELECT * FROM batch_runs WHERE job = ? ORDER BY id", (job,))


BEFORE = """  jobs:
    - name: steady
      schedule: "*/10 * * * *"
      command: "echo steady-old"
    - name: moved
      schedule: "0 * * * *"
      command: "true"
    - name: leaving
      schedule: "* * * * *"
      command: "sleep 2; echo finished"
"""

AFTER = """  jobs:
    - name: steady
      schedule: "*/10 * * * *"
      command: "echo steady-new"
    - name: moved
      schedule: "*/5 * * * *"
      command: "true"
    - name: joining
      schedule: "* * * * *"
      command: "true"
"""


def test_reload_keeps_due_times_and_running_work(tmp_path: Path) -> None:
    path = spec_file(tmp_path, BEFORE)
    home = tmp_path / "home"
    clock = FakeClock(at("2026-03-01T00:00:59"))
    seen: dict[str, object] = {}

    async def scenario() -> None:
        async with running_engine(path, home, clock) as engine:
            await advance(clock, 1)  # 00:01: `leaving` starts its two-second run
            await eventually(lambda: runs(home, "leaving") and runs(home, "leaving")[0]["attempts"] == 1)
            await advance(clock, 120)  # 00:03:00, `leaving` still running (a real two seconds have not passed)
            before = {k: v.isoformat() for k, v in engine.next_due().items()}
            path.write_text(HEADER + AFTER)
            await engine.reload(load(path))
            seen["before"] = before
            seen["after"] = {k: v.isoformat() for k, v in engine.next_due().items()}
            await eventually(lambda: runs(home, "leaving")[0]["status"] == "succeeded", what="leaving finished")
            await advance(clock, 60)  # 00:04: `joining` runs; `leaving` does not
            await eventually(lambda: runs(home, "joining"), what="joining ran")
            await advance(clock, 6 * 60)  # 00:10: `steady` runs its new command at its kept time
            await eventually(lambda: runs(home, "steady") and runs(home, "steady")[0]["status"] == "succeeded")

    asyncio.run(scenario())
    assert seen["before"] == {
        "t/steady": "2026-03-01T00:10:00+00:00",
        "t/moved": "2026-03-01T01:00:00+00:00",
        "t/leaving": "2026-03-01T00:04:00+00:00",
    }
    assert seen["after"] == {
        "t/steady": "2026-03-01T00:10:00+00:00",  # unchanged schedule: kept
        "t/moved": "2026-03-01T00:05:00+00:00",  # new schedule, from now
        "t/joining": "2026-03-01T00:04:00+00:00",  # added, from now
    }
    leaving = runs(home, "leaving")
    # Its run finished (not killed); no time after the reload was scheduled (00:02 and 00:03 came before).
    assert [(r["scheduled_at"], r["status"]) for r in leaving] == [
        ("2026-03-01T00:01:00.000+00:00", "succeeded"),
        ("2026-03-01T00:02:00.000+00:00", "skipped"),
        ("2026-03-01T00:03:00.000+00:00", "skipped"),
    ]
    (attempt,) = rows(home, "SELECT log_path FROM batch_attempts WHERE run_id = ?", (leaving[0]["id"],))
    assert Path(attempt["log_path"]).read_text() == "finished\n"
    (steady,) = runs(home, "steady")
    (log,) = rows(home, "SELECT log_path FROM batch_attempts WHERE run_id = ?", (steady["id"],))
    assert Path(log["log_path"]).read_text() == "steady-new\n"
    # The two minutes `joining` was not in the spec are not its missed times.
    joining = runs(home, "joining")
    assert joining[0]["scheduled_at"] == "2026-03-01T00:04:00.000+00:00" and joining[0]["status"] == "succeeded"
    assert all(r["status"] != "missed" for r in joining)


def test_a_reload_with_a_missing_secret_changes_nothing(tmp_path: Path) -> None:
    path = spec_file(tmp_path, BEFORE)
    home = tmp_path / "home"
    clock = FakeClock(at("2026-03-01T00:00:30"))

    async def scenario() -> dict[str, str]:
        async with running_engine(path, home, clock) as engine:
            before = {k: v.isoformat() for k, v in engine.next_due().items()}
            path.write_text(
                HEADER
                + """  defaults:
    notifications:
      slack: {webhookUrl: {env: SENGU_TEST_NOT_SET}}
"""
                + AFTER
            )
            with pytest.raises(UserError, match="SENGU_TEST_NOT_SET"):
                await engine.reload(load(path))
            assert {k: v.isoformat() for k, v in engine.next_due().items()} == before
            assert sorted(p.name for p in engine.plans) == ["leaving", "moved", "steady"]
            return before

    assert asyncio.run(scenario())["t/leaving"] == "2026-03-01T00:01:00+00:00"
