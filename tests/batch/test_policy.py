from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sengu.batch.policy import MAX_MISSED_RECORDED, backoff_delay, catch_up

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_doubles_from_ten_seconds_and_caps_at_six_minutes() -> None:
    assert [backoff_delay(n) for n in range(0, 8)] == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 360.0]


def test_catch_up_runs_latest_within_deadline() -> None:
    due = [T0 + timedelta(minutes=m) for m in range(5)]
    decision = catch_up(due, now=due[-1] + timedelta(seconds=30), starting_deadline_s=60)
    assert decision.run == due[-1]
    assert decision.missed == due[:-1] and decision.missed_total == 4


def test_catch_up_past_deadline_runs_nothing() -> None:
    due = [T0, T0 + timedelta(minutes=1)]
    decision = catch_up(due, now=due[-1] + timedelta(seconds=61), starting_deadline_s=60)
    assert decision.run is None and decision.missed == due and decision.missed_total == 2


def test_catch_up_records_at_most_the_newest_hundred() -> None:
    due = [T0 + timedelta(minutes=m) for m in range(1000)]
    decision = catch_up(reversed(due), now=due[-1], starting_deadline_s=0)
    assert decision.run == due[-1]
    assert decision.missed == due[-1 - MAX_MISSED_RECORDED : -1] and decision.missed_total == 999


def test_catch_up_nothing_due() -> None:
    decision = catch_up([], now=T0, starting_deadline_s=10)
    assert decision.run is None and decision.missed == [] and decision.missed_total == 0
