"""The engine for real use: missed-time reasons, metrics after a restart, retention, job output on stdout."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
