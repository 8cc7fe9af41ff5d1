"""Rate schedules: when each request of the open model is due (pure, no clock)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.load.schedule import Schedule, Segment, constant, ramp, steps


def test_constant_releases_rate_times_duration_evenly_spaced_from_zero() -> None:
    schedule = constant(10, 1.5)
    times = list(schedule.times())
    assert len(times) == schedule.total == 15
    assert times[0] == 0.0
    assert times == pytest.approx([i / 10 for i in range(15)])
    assert schedule.mean_rate == schedule.peak_rate == 10
    assert schedule.duration == 1.5


def test_a_fractional_count_carries_across_the_run_instead_of_being_lost_per_second() -> None:
    # 2.5/s for 2 s is 5 requests, 0.4 s apart: not 2 per second.
    assert list(constant(2.5, 2).times()) == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    # Float products (2000 * 0.3 = 600.0000000000001) must not add a request due exactly at the end.
    assert len(list(constant(2000, 0.3).times())) == 600


def test_count_until_counts_the_requests_due_at_or_before_t() -> None:
    schedule = constant(10, 1)
    assert schedule.count_until(-0.1) == 0
    assert schedule.count_until(0) == 1  # the first is due at the start
    assert schedule.count_until(0.05) == 1
    assert schedule.count_until(0.1) == 2
    assert schedule.count_until(0.95) == 10
    assert schedule.count_until(5) == 10


def test_a_ramp_rises_linearly_then_holds() -> None:
    schedule = ramp(100, ramp_s=1, duration=3)
    assert schedule.describe() == "0→100/s over 1s, 100/s for 2s"
    times = list(schedule.times())
    assert len(times) == schedule.total == 50 + 200
    assert times == sorted(times)
    assert sum(1 for t in times if t < 0.5) == math.ceil(0.5 * 50 * 0.5)  # the integral of the rate up to 0.5 s
    assert sum(1 for t in times if 1 <= t < 2) == 100
    assert schedule.rate_at(0.25) == pytest.approx(25)
    assert schedule.rate_at(2) == 100
    assert schedule.rate_at(3) == 0


def test_a_ramp_down_and_a_ramp_from_a_nonzero_rate() -> None:
    down = Schedule((Segment(100, 0, 1),))
    times = list(down.times())
    assert len(times) == 50
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == sorted(gaps)  # slower and slower
    up = ramp(300, ramp_s=2, duration=2, start_rate=100)
    assert up.total == 400
    assert up.segments == (Segment(100, 300, 2),)


def test_steps_hold_each_rate_for_its_step() -> None:
    schedule = steps([100, 0, 300], step_s=1)
    times = list(schedule.times())
    assert [sum(1 for t in times if s <= t < s + 1) for s in range(3)] == [100, 0, 300]
    assert schedule.peak_rate == 300
    assert schedule.mean_rate == pytest.approx(400 / 3)


def test_scaled_is_one_workers_share() -> None:
    half = steps([100, 300], step_s=1).scaled(0.5)
    assert half.total == 200
    assert half.duration == 2


def test_invalid_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        constant(10, 0)
    with pytest.raises(ValueError, match="rate"):
        constant(-1, 1)
    with pytest.raises(ValueError, match="longer than the run"):
        ramp(10, ramp_s=5, duration=2)
    with pytest.raises(ValueError):
        steps([], step_s=1)
    with pytest.raises(ValueError):
        Schedule(())


segments = st.lists(
    st.builds(
        Segment,
        start_rate=st.floats(0, 5000),
        end_rate=st.floats(0, 5000),
        seconds=st.floats(0.01, 3),
    ),
    min_size=1,
    max_size=4,
)


@given(segments)
def test_any_schedule_releases_its_total_in_order_within_its_duration(segs: list[Segment]) -> None:
    schedule = Schedule(tuple(segs))
    times = list(schedule.times())
    assert len(times) == schedule.total
    assert times == sorted(times)
    assert all(0 <= t <= schedule.duration for t in times)
    # Request k is due when the cumulative count N(t) reaches k.
    for k in range(0, len(times), max(1, len(times) // 50)):
        assert schedule.cumulative(times[k]) == pytest.approx(k, rel=1e-6, abs=1e-6)


small_segments = st.lists(
    st.builds(Segment, start_rate=st.floats(0, 500), end_rate=st.floats(0, 500), seconds=st.floats(0.01, 2)),
    min_size=1,
    max_size=3,
)


@settings(deadline=None, max_examples=60)
@given(small_segments, st.integers(2, 5))
def test_workers_with_phases_release_what_one_process_would(segs: list[Segment], workers: int) -> None:
    whole = Schedule(tuple(segs))
    shares = [list(whole.scaled(1 / workers).times(phase=i / workers)) for i in range(workers)]
    merged = sorted(t for share in shares for t in share)
    alone = list(whole.times())
    assert abs(len(merged) - len(alone)) <= 1  # the same count, give or take the last rounding
    for a, b in zip(merged, alone, strict=False):  # and at the same instants, not in bursts of `workers`
        assert a == pytest.approx(b, rel=1e-6, abs=1e-6)


def test_a_phase_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="phase"):
        list(constant(10, 1).times(phase=1.0))
