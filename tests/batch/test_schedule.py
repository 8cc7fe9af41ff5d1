"""sengu.batch.schedule against robfig/cron v3, a stepwise port of its Next, and a brute-force reference.

Three independent answers to "when does this schedule fire next?":

1. robfig/cron's own test tables (tests/batch/robfig_vectors.py), transcribed;
2. ``stepwise_next`` below: spec.go's ``SpecSchedule.Next`` line by line, one AddDate/Add at a time,
   with Go's ``time.Date`` written out over zoneinfo. The module under test takes shortcuts through
   stretches of constant UTC offset; it must agree with this everywhere, quirks included;
3. ``brute_force``: every UTC minute converted to wall-clock time and matched field by field, with
   the field sets computed from how the expression was generated, not by the parser.

robfig's Next and the brute force disagree only on local days touched by an "irregular" transition
(see ``irregular``): one that does not move the clock between whole hours (Lord Howe's 30-minute
shift, Chatham's 02:45) or whose gap swallows a local midnight (Sao Paulo before 2019, Santiago,
Havana and Cairo in spring, Tehran before 2022). A repeated midnight (Havana in autumn) is not one.
The equivalence property excludes exactly those windows, and the tests under "Pinned robfig
behaviour" show what robfig, and so sengu, does there.
"""

from __future__ import annotations

import calendar
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sengu.batch import schedule as schedule_module
from sengu.batch.schedule import Schedule, ScheduleError, expand_hash, load_zone, parse
from tests.batch import robfig_vectors as vectors

BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
ZONES = (
    "UTC",
    "Asia/Tokyo",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "America/Santiago",
    "America/Havana",
    "Africa/Cairo",
    "Asia/Tehran",
)
YEARS = (2000, 2031)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 86400


def unix(t: datetime) -> int:
    return (t - EPOCH) // timedelta(seconds=1)


def robfig_time(text: str) -> datetime:
    """robfig's test times: '2012-03-11T00:00:00-0500', or 'Mon Jul 9 14:45 2012' (UTC here)."""
    if text[0].isdigit():
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    for layout in ("%a %b %d %H:%M %Y", "%a %b %d %H:%M:%S %Y"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise ValueError(text)


# --------------------------------------------------------------------------------------------------
# Reference 1: robfig/cron's own tables


@pytest.mark.parametrize(("start", "zone", "expression", "expected"), vectors.NEXT)
def test_robfig_next_vectors(start: str, zone: str, expression: str, expected: str | None) -> None:
    if expected is None:
        # robfig parses these and Next returns the zero time. The port does the same; parse refuses
        # them, since Kubernetes would accept them and never create a Job.
        fields = schedule_module._compile(expression)
        u = unix(robfig_time(start)) + 1
        assert schedule_module._next(fields, schedule_module._offsets(load_zone(zone)), u) is None
        with pytest.raises(ScheduleError, match="the schedule would never run"):
            parse(expression, zone)
        return
    got = parse(expression, zone).next_after(robfig_time(start))
    assert got is not None
    assert unix(got) == unix(robfig_time(expected)), got.isoformat()
    assert got.tzinfo is load_zone(zone)


@pytest.mark.parametrize(("when", "expression", "fires"), vectors.ACTIVATION)
def test_robfig_activation_vectors(when: str, expression: str, fires: bool) -> None:
    t = robfig_time(when)
    got = parse(expression).next_after(t - timedelta(seconds=1))
    assert (got == t) is fires


@pytest.mark.parametrize(("index", "text", "values", "star"), vectors.FIELD_BITS)
def test_robfig_field_bits(index: int, text: str, values: set[int], star: bool) -> None:
    bits, got_star = schedule_module._parse_field(text, index)
    assert {v for v in range(64) if bits >> v & 1} == values
    assert got_star is star


@pytest.mark.parametrize("expression", vectors.ROBFIG_ERRORS)
def test_robfig_rejects_what_robfig_rejects(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse(expression)


def test_macros_are_robfigs_descriptors() -> None:
    start = datetime(2012, 7, 9, 15, 4, tzinfo=UTC)  # a Monday
    expected = {
        "@yearly": datetime(2013, 1, 1, tzinfo=UTC),
        "@annually": datetime(2013, 1, 1, tzinfo=UTC),
        "@monthly": datetime(2012, 8, 1, tzinfo=UTC),
        "@weekly": datetime(2012, 7, 15, tzinfo=UTC),
        "@daily": datetime(2012, 7, 10, tzinfo=UTC),
        "@midnight": datetime(2012, 7, 10, tzinfo=UTC),
        "@hourly": datetime(2012, 7, 9, 16, tzinfo=UTC),
    }
    assert {m: parse(m).next_after(start) for m in expected} == expected


def test_go_date_resolves_missing_and_repeated_times_like_go() -> None:
    """Go's time.Date: west of UTC a skipped time moves back and a repeated time takes the first
    occurrence; east of UTC a skipped time moves forward and a repeated time takes the second."""
    cases = [
        ("America/New_York", (2012, 3, 11, 2, 30), "2012-03-11T06:30:00+00:00"),  # 01:30 EST
        ("America/New_York", (2012, 11, 4, 1, 30), "2012-11-04T05:30:00+00:00"),  # 01:30 EDT
        ("Europe/Berlin", (2012, 3, 25, 2, 30), "2012-03-25T01:30:00+00:00"),  # 03:30 CEST
        ("Europe/Berlin", (2012, 10, 28, 2, 30), "2012-10-28T01:30:00+00:00"),  # 02:30 CET
        ("Europe/London", (2012, 3, 25, 1, 30), "2012-03-25T01:30:00+00:00"),  # 02:30 BST
        ("America/Sao_Paulo", (2018, 11, 4, 0, 0), "2018-11-04T02:00:00+00:00"),  # 23:00 the day before
    ]
    for zone, (y, mo, d, h, mi), expected in cases:
        want = unix(datetime.fromisoformat(expected))
        assert go_date(ZoneInfo(zone), y, mo, d, h, mi, 0) == want
        cursor = schedule_module._Cursor(schedule_module._offsets(load_zone(zone)), 0)
        cursor.set_date(y, mo, d, h, mi, 0)
        assert cursor.u == want


# --------------------------------------------------------------------------------------------------
# Reference 2: spec.go's Next, one step at a time


def go_offset(zone: ZoneInfo, u: int) -> int:
    offset = datetime.fromtimestamp(u, zone).utcoffset()
    assert offset is not None
    return offset // timedelta(seconds=1)


def go_date(zone: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    """Go's time.Date. It looks the offset up at the wall time read as UTC, and again at the instant
    that gives when that lies outside the first offset's period; inside it the second look-up returns
    the same offset, so always looking up again is the same rule."""
    y += (mo - 1) // 12
    mo = (mo - 1) % 12 + 1
    wall = calendar.timegm((y, mo, 1, 0, 0, 0)) + (d - 1) * DAY + h * 3600 + mi * 60 + s
    offset = go_offset(zone, wall)
    if offset != 0:
        offset = go_offset(zone, wall - offset)
    return wall - offset


def stepwise_next(schedule: Schedule, t: datetime) -> datetime | None:
    f, zone = schedule._fields, schedule.zone

    def wall(u: int) -> datetime:
        return datetime.fromtimestamp(u, zone)

    def day_matches(w: datetime) -> bool:
        dom = bool(f.dom >> w.day & 1)
        dow = bool(f.dow >> ((w.weekday() + 1) % 7) & 1)
        return dom and dow if f.both_days else dom or dow

    u = unix(t) + 1
    w = wall(u)
    year_limit = w.year + 5
    added = False
    while True:  # WRAP
        w = wall(u)
        if w.year > year_limit:
            return None
        wrap = False
        while not f.month >> w.month & 1:
            if not added:
                added = True
                u = go_date(zone, w.year, w.month, 1, 0, 0, 0)
                w = wall(u)
            u = go_date(zone, w.year, w.month + 1, w.day, w.hour, w.minute, w.second)
            w = wall(u)
            if w.month == 1:
                wrap = True
                break
        if wrap:
            continue
        while not day_matches(w):
            if not added:
                added = True
                u = go_date(zone, w.year, w.month, w.day, 0, 0, 0)
                w = wall(u)
            u = go_date(zone, w.year, w.month, w.day + 1, w.hour, w.minute, w.second)
            w = wall(u)
            if w.hour != 0:
                u += (24 - w.hour) * 3600 if w.hour > 12 else -w.hour * 3600
                w = wall(u)
            if w.day == 1:
                wrap = True
                break
        if wrap:
            continue
        while not f.hour >> w.hour & 1:
            if not added:
                added = True
                u = go_date(zone, w.year, w.month, w.day, w.hour, 0, 0)
            u += 3600
            w = wall(u)
            if w.hour == 0:
                wrap = True
                break
        if wrap:
            continue
        while not f.minute >> w.minute & 1:
            if not added:
                added = True
                u -= u % 60
            u += 60
            w = wall(u)
            if w.minute == 0:
                wrap = True
                break
        if wrap:
            continue
        while w.second != 0:
            added = True
            u += 1
            w = wall(u)
            if w.second == 0:
                wrap = True
                break
        if wrap:
            continue
        return w


# --------------------------------------------------------------------------------------------------
# Reference 3: brute force over UTC minutes


@dataclass(frozen=True)
class RefField:
    text: str
    values: frozenset[int]
    star: bool  # robfig's star bit: some item is an unstepped (or /1) '*' or '?'


@dataclass(frozen=True)
class RefSpec:
    fields: tuple[RefField, ...]

    @property
    def text(self) -> str:
        return " ".join(f.text for f in self.fields)


def brute_force(spec: RefSpec, zone: ZoneInfo, start: datetime, end: datetime) -> list[int]:
    """Every UTC minute in (start, end] whose wall-clock time matches, as Unix seconds."""
    minute, hour, dom, month, dow = spec.fields
    both = dom.star or dow.star
    out = []
    u = unix(start) // 60 * 60 + 60
    last = unix(end)
    while u <= last:
        w = datetime.fromtimestamp(u, zone)
        if w.minute in minute.values and w.hour in hour.values and w.month in month.values:
            d, wd = w.day in dom.values, (w.weekday() + 1) % 7 in dow.values
            if (d and wd) if both else (d or wd):
                out.append(u)
        u += 60
    return out


@cache
def transitions(name: str) -> tuple[tuple[int, int, int], ...]:
    """(instant, offset before, offset after) for each change of UTC offset in YEARS."""
    zone = ZoneInfo(name)
    u, end = unix(datetime(YEARS[0], 1, 1, tzinfo=UTC)), unix(datetime(YEARS[1], 1, 1, tzinfo=UTC))
    out = []
    off = go_offset(zone, u)
    while u < end:
        v = u + 6 * 3600
        off_v = go_offset(zone, v)
        if off_v != off:
            lo, hi = u, v
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if go_offset(zone, mid) == off else (lo, mid)
            out.append((hi, off, off_v))
        u, off = v, off_v
    return tuple(out)


def irregular(transition: tuple[int, int, int]) -> bool:
    """A transition robfig's Next does not walk through the way wall-clock matching would."""
    u, before, after = transition
    wall_before, wall_after = u + before, u + after
    if wall_before % 3600 or wall_after % 3600:
        return True  # the clock does not jump between whole hours
    first_midnight = (wall_before + DAY - 1) // DAY * DAY
    return wall_after > wall_before and first_midnight < wall_after  # the gap swallows a midnight


def near_irregular(name: str, start: datetime, end: datetime) -> bool:
    return any(unix(start) - DAY <= t[0] <= unix(end) + DAY and irregular(t) for t in transitions(name))


# --------------------------------------------------------------------------------------------------
# Strategies


def render(index: int, v: int, draw: st.DrawFn) -> str:
    names = MONTHS if index == 3 else DAYS if index == 4 else None
    if names is None or not draw(st.booleans()):
        return str(v)
    name = names[v - 1] if index == 3 else names[v]
    return draw(st.sampled_from([name, name.upper(), name.capitalize()]))


@st.composite
def ref_item(draw: st.DrawFn, index: int) -> tuple[str, set[int], bool]:
    lo, hi = BOUNDS[index]
    kind = draw(st.sampled_from(["value", "range", "range/step", "start/step", "star/step"]))
    if kind == "value":
        v = draw(st.integers(lo, hi))
        return render(index, v, draw), {v}, False
    if kind == "star/step":
        step = draw(st.integers(1, 12))
        return f"{draw(st.sampled_from('*?'))}/{step}", set(range(lo, hi + 1, step)), step == 1
    a = draw(st.integers(lo, hi))
    if kind == "start/step":
        step = draw(st.integers(1, hi - lo + 2))
        return f"{render(index, a, draw)}/{step}", set(range(a, hi + 1, step)), False
    b = draw(st.integers(a, hi))
    text = f"{render(index, a, draw)}-{render(index, b, draw)}"
    if kind == "range":
        return text, set(range(a, b + 1)), False
    step = draw(st.integers(1, hi - lo + 2))
    return f"{text}/{step}", set(range(a, b + 1, step)), False


STAR_PERCENT = (10, 30, 60, 70, 60)


@st.composite
def ref_field(draw: st.DrawFn, index: int) -> RefField:
    lo, hi = BOUNDS[index]
    if draw(st.integers(0, 99)) < STAR_PERCENT[index]:
        return RefField(draw(st.sampled_from("*?")), frozenset(range(lo, hi + 1)), True)
    items = draw(st.lists(ref_item(index), min_size=1, max_size=3))
    values: set[int] = set().union(*(v for _, v, _ in items))
    return RefField(",".join(t for t, _, _ in items), frozenset(values), any(s for _, _, s in items))


ref_specs = st.tuples(*(ref_field(i) for i in range(5))).map(RefSpec)


@st.composite
def start_instants(draw: st.DrawFn, name: str, regular_only: bool) -> datetime:
    """Instants within three days of a change of UTC offset, or anywhere in YEARS."""
    nearby = [t[0] for t in transitions(name) if not (regular_only and irregular(t))]
    lo, hi = unix(datetime(YEARS[0], 1, 1, tzinfo=UTC)), unix(datetime(YEARS[1] - 1, 1, 1, tzinfo=UTC))
    near_a_transition = bool(nearby) and draw(st.booleans())
    anchor = draw(st.sampled_from(nearby)) if near_a_transition else draw(st.integers(lo, hi))
    u = anchor + draw(st.integers(-3 * DAY, 3 * DAY))
    micro = draw(st.sampled_from([0, 0, 1, 500_000, 999_999]))
    return datetime.fromtimestamp(u, UTC).replace(microsecond=micro)


def parse_or_reject(spec: RefSpec, zone: str) -> Schedule:
    try:
        return parse(spec.text, zone)
    except ScheduleError as exc:
        assert "the schedule would never run" in str(exc)  # the only generated text sengu refuses
        assume(False)
        raise


WINDOW = timedelta(hours=36)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_next_matches_brute_force_away_from_irregular_transitions(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(ZONES), label="zone")
    spec = data.draw(ref_specs, label="spec")
    start = data.draw(start_instants(name, regular_only=True), label="start")
    end = start + WINDOW
    assume(not near_irregular(name, start, end))
    schedule = parse_or_reject(spec, name)
    got = [unix(t) for t in schedule.times_between(start, end)]
    assert got == brute_force(spec, ZoneInfo(name), start, end)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_next_equals_stepwise_port_everywhere(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(ZONES), label="zone")
    spec = data.draw(ref_specs, label="spec")
    t = data.draw(start_instants(name, regular_only=False), label="start")
    schedule = parse_or_reject(spec, name)
    for _ in range(4):
        want = stepwise_next(schedule, t)
        # The one deliberate divergence: never a time before the start (see test_never_goes_back_in_time).
        while want is not None and unix(want) <= unix(t):
            want = stepwise_next(schedule, want)
        got = schedule.next_after(t)
        assert (None if got is None else unix(got)) == (None if want is None else unix(want))
        if got is None:
            break
        assert unix(got) > unix(t)
        assert got.tzinfo is schedule.zone
        t = got


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_parser_bits_match_the_generated_sets(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, 4), label="field")
    field = data.draw(ref_field(index), label="text")
    bits, star = schedule_module._parse_field(field.text, index)
    assert {v for v in range(64) if bits >> v & 1} == field.values
    assert star is field.star


# --------------------------------------------------------------------------------------------------
# Pinned robfig behaviour where it departs from wall-clock matching (and one where it does not)


def fire_times(expression: str, zone: str, start: str, count: int = 3) -> list[str]:
    return [t.isoformat() for t in parse(expression, zone).times(datetime.fromisoformat(start), count)]


def test_spring_forward_skips_the_missing_hour_and_fall_back_runs_twice() -> None:
    assert fire_times("30 2 * * *", "America/New_York", "2024-03-09T12:00:00-05:00", 2) == [
        "2024-03-11T02:30:00-04:00",
        "2024-03-12T02:30:00-04:00",
    ]
    assert fire_times("30 1 * * *", "America/New_York", "2024-11-02T12:00:00-04:00") == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T01:30:00-05:00",
        "2024-11-04T01:30:00-05:00",
    ]
    assert fire_times("30 1 * * *", "Europe/London", "2024-10-26T12:00:00+01:00") == [
        "2024-10-27T01:30:00+01:00",
        "2024-10-27T01:30:00+00:00",
        "2024-10-28T01:30:00+00:00",
    ]


def test_lord_howe_half_hour_shift_skips_whole_hours_for_the_rest_of_the_day() -> None:
    # 2024-10-06 02:00 +10:30 became 02:30 +11:00. Stepping +1h from 01:00 lands on 02:30, 03:30 ...
    # so "0 5" meets hour 5 at 05:30, misses minute 0 and moves on: 05:00 +11:00 existed but
    # Kubernetes does not run it.
    assert fire_times("0 5 * * *", "Australia/Lord_Howe", "2024-10-05T05:00:00+10:30", 2) == [
        "2024-10-07T05:00:00+11:00",
        "2024-10-08T05:00:00+11:00",
    ]
    # Asked after the shift, the hour loop starts from a whole hour and finds it.
    assert fire_times("0 5 * * *", "Australia/Lord_Howe", "2024-10-06T04:10:00+11:00", 1) == [
        "2024-10-06T05:00:00+11:00"
    ]
    # Falling back (2024-04-07 02:00 +11:00 became 01:30 +10:30) misaligns the same way.
    assert fire_times("0 3 * * *", "Australia/Lord_Howe", "2024-04-06T03:00:00+11:00", 1) == [
        "2024-04-08T03:00:00+10:30"
    ]


def test_chatham_quarter_hour_transition_skips_the_partial_hour() -> None:
    # 2024-09-29 02:45 +12:45 became 03:45 +13:45; 03:50 existed, but the hour loop jumps 02 -> 04.
    assert fire_times("50 3 * * *", "Pacific/Chatham", "2024-09-28T03:50:00+12:45", 1) == ["2024-09-30T03:50:00+13:45"]


def test_day_without_midnight_lets_the_hour_loop_run_on_the_wrong_day() -> None:
    # Santiago 2023-09-03 00:00 -04:00 became 01:00 -03:00. The hour loop only re-checks the day
    # when the hour wraps to 0, which that Sunday never shows: a Saturday job runs on Sunday.
    assert fire_times("0 1 * * 6", "America/Santiago", "2023-09-02T01:00:00-04:00") == [
        "2023-09-03T01:00:00-03:00",
        "2023-09-09T01:00:00-03:00",
        "2023-09-16T01:00:00-03:00",
    ]
    assert fire_times("30 1 * * sat", "America/Sao_Paulo", "2018-11-03T01:30:00-03:00", 2) == [
        "2018-11-04T01:30:00-02:00",
        "2018-11-10T01:30:00-02:00",
    ]


def test_day_without_midnight_east_of_utc_is_skipped_by_the_day_loop() -> None:
    # Cairo 2027-04-30 00:00 +02:00 becomes 01:00 +03:00. Go's time.Date moves the missing midnight
    # forward to 01:00, robfig's fix-up steps back an hour to 23:00 the day before, and the next
    # AddDate lands on 23:00 of the 30th and is pushed to May 1st: the 30th is never examined.
    assert fire_times("0 10 30 * *", "Africa/Cairo", "2027-04-29T10:00:00+02:00", 1) == ["2027-05-30T10:00:00+03:00"]
    # Without a day restriction the day loop is not used and the 30th runs.
    assert fire_times("0 10 * * *", "Africa/Cairo", "2027-04-29T10:00:00+02:00", 1) == ["2027-04-30T10:00:00+03:00"]


def test_repeated_midnight_runs_twice_like_any_repeated_hour() -> None:
    assert fire_times("0 0 * * *", "America/Havana", "2024-11-02T12:00:00-04:00") == [
        "2024-11-03T00:00:00-04:00",
        "2024-11-03T00:00:00-05:00",
        "2024-11-04T00:00:00-05:00",
    ]


@pytest.mark.parametrize(
    ("expression", "zone", "start"),
    [
        ("0 5 * * *", "Australia/Lord_Howe", "2024-10-05T05:00:00+10:30"),
        ("0 3 * * *", "Australia/Lord_Howe", "2024-04-06T03:00:00+11:00"),
        ("50 3 * * *", "Pacific/Chatham", "2024-09-28T03:50:00+12:45"),
        ("0 1 * * 6", "America/Santiago", "2023-09-02T01:00:00-04:00"),
        ("0 10 30 * *", "Africa/Cairo", "2027-04-29T10:00:00+02:00"),
    ],
)
def test_pinned_departures_are_robfigs_and_real(expression: str, zone: str, start: str) -> None:
    schedule = parse(expression, zone)
    t = datetime.fromisoformat(start)
    got = schedule.next_after(t)
    want = stepwise_next(schedule, t)
    assert got is not None and want is not None and unix(got) == unix(want)
    spec = RefSpec(
        tuple(
            RefField(text, frozenset(v for v in range(64) if bits >> v & 1), star)
            for i, text in enumerate(expression.split())
            for bits, star in [schedule_module._parse_field(text, i)]
        )
    )
    assert brute_force(spec, ZoneInfo(zone), t, got)[:1] != [unix(got)]  # wall-clock matching differs
    assert near_irregular(zone, t, got)


def test_five_year_limit_returns_none() -> None:
    leap_day = parse("0 0 29 2 *")
    # 2100 is not a leap year: from March 2096 the next 29 February is 2104, past robfig's 5 years.
    assert leap_day.next_after(datetime(2096, 3, 1, tzinfo=UTC)) is None
    assert leap_day.next_after(datetime(2098, 3, 1, tzinfo=UTC)) is None  # searches up to 2103
    assert leap_day.next_after(datetime(2099, 3, 1, tzinfo=UTC)) == datetime(2104, 2, 29, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# H


def test_hash_is_a_fixed_value_for_a_fixed_seed() -> None:
    assert expand_hash("H * * * *", "job-1") == "49 * * * *"
    assert expand_hash("H H * * *", "nightly-report") == "14 1 * * *"
    assert expand_hash("H H H H H", "job-1") == "49 11 8 6 6"
    assert parse("H H * * *", seed="nightly-report").expression == "14 1 * * *"


def test_hash_is_stable_across_processes() -> None:
    seeds = ["job-1", "nightly-report", "billing-sync", "ジョブ"]
    code = (
        "import sys; from sengu.batch.schedule import expand_hash; "
        "print('|'.join(expand_hash('H H H H H', s) for s in sys.argv[1:]))"
    )
    outputs = set()
    for hash_seed in ("0", "1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", code, *seeds],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PYTHONUTF8": "1", "PATH": "/usr/bin:/bin"},
        )
        outputs.add(result.stdout.strip())
    assert outputs == {"|".join(expand_hash("H H H H H", s) for s in seeds)}


def test_hash_spreads_250_jobs_over_the_hour() -> None:
    minutes = Counter(int(expand_hash("H * * * *", f"job-{i}").split()[0]) for i in range(250))
    assert len(minutes) >= 55  # 250 names into 60 slots: about 59 expected
    assert max(minutes.values()) <= 12  # about 4 each


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("H * * * *", 0, 59),
        ("* H * * *", 0, 23),
        ("* * H * *", 1, 28),
        ("* * * H *", 1, 12),
        ("* * * * H", 0, 6),
        ("H(10-20) * * * *", 10, 20),
        ("* * H(25-31) * *", 25, 31),
        ("* * * H(jun-aug) *", 6, 8),
        ("* * * * H(mon-fri)", 1, 5),
    ],
)
def test_hash_stays_in_its_range(field: str, low: int, high: int) -> None:
    index = next(i for i, text in enumerate(field.split()) if text.startswith("H"))
    seen = {int(expand_hash(field, f"job-{i}").split()[index]) for i in range(1000)}
    assert min(seen) >= low and max(seen) <= high
    assert len(seen) == high - low + 1  # and reaches every value in it


def test_hash_step_starts_at_an_offset_below_the_step() -> None:
    starts = set()
    for i in range(300):
        text = expand_hash("H/15 * * * *", f"job-{i}").split()[0]
        start, rest = text.split("-")
        assert rest == "59/15"
        starts.add(int(start))
        minutes = parse(f"{text} * * * *")._fields.minute
        assert [m for m in range(60) if minutes >> m & 1] == list(range(int(start), 60, 15))
    assert starts == set(range(15))
    for i in range(300):
        start, rest = expand_hash("H(0-29)/10 * * * *", f"job-{i}").split()[0].split("-")
        assert int(start) < 10 and rest == "29/10"
    assert {expand_hash("* * H/7 * *", f"job-{i}").split()[2] for i in range(300)} == {f"{d}-28/7" for d in range(1, 8)}


def test_hash_items_in_one_field_share_the_hash() -> None:
    first, second = expand_hash("H(0-29),H(30-59) * * * *", "job-1").split()[0].split(",")
    assert int(second) - int(first) == 30


def test_hash_table_in_the_docs_is_what_expand_hash_gives() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "schedules.md").read_text()
    table = doc.split("## H: spreading jobs out", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| `([^`]+)`", table, flags=re.M)
    assert len(rows) == 5
    for written, name, becomes in rows:
        assert expand_hash(written, name) == becomes


def test_hash_leaves_other_expressions_alone() -> None:
    for text in ("0 * * * *", "  */5  *  * * *", "@hourly", "@daily"):
        assert expand_hash(text, "job-1") is text
    assert parse("@hourly", seed="job-1").expression == "@hourly"


def test_hash_expanded_schedule_is_a_plain_schedule() -> None:
    schedule = parse("H H(9-17) * * 1-5", "Asia/Tokyo", seed="report")
    assert "H" not in schedule.expression
    assert schedule == parse(schedule.expression, "Asia/Tokyo")


# --------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "schedule is empty"),
        ("   ", "schedule is empty"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        (
            "0 * * * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week), found 6 (seconds are not supported)",
        ),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 7", "day-of-week field: 7 is out of range 0-6 (Sunday is 0)"),
        ("* * * * 1-7", "day-of-week field: 7 is out of range 0-6 (Sunday is 0)"),
        ("* * * foo *", "month field: 'foo' is not a number or a month name (jan-dec)"),
        ("* * * * monday", "day-of-week field: 'monday' is not a number or a day name (sun-sat)"),
        ("* * * * jan", "day-of-week field: 'jan' is not a number or a day name (sun-sat)"),
        ("x * * * *", "minute field: 'x' is not a number"),
        ("+5 * * * *", "minute field: '+5' is not a number"),
        ("59-2 * * * *", "minute field: range '59-2' runs backwards (59 > 2)"),
        ("*/0 * * * *", "minute field: step in '*/0' must be at least 1"),
        ("*/ * * * *", "minute field: '*/' is missing the step after '/'"),
        ("*/-12 * * * *", "minute field: step '-12' in '*/-12' is not a number"),
        ("*/5/5 * * * *", "minute field: too many '/' in '*/5/5'"),
        ("5--5 * * * *", "minute field: too many '-' in '5--5'"),
        ("*-5 * * * *", "minute field: '*-5' is not valid: '*' cannot start a range"),
        ("1,,2 * * * *", "minute field: empty item in list '1,,2'"),
        ("5- * * * *", "minute field: '5-' is missing a value"),
        ("0 0 31 2,4 *", "day-of-month field: day 31 never occurs in February, April; the schedule would never run"),
        ("0 0 30,31 feb *", "day-of-month field: days 30,31 never occur in February; the schedule would never run"),
        (
            "@every 5m",
            "@every is not supported; write a cron expression instead, for example 'H/15 * * * *' for every 15 minutes",
        ),
        (
            "@reboot",
            "unknown macro '@reboot'; use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly",
        ),
        (
            "@DAILY",
            "unknown macro '@DAILY'; use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly",
        ),
        (
            "TZ=UTC * * * * *",
            "a 'TZ=' or 'CRON_TZ=' prefix is not allowed in the schedule; set the time zone in timeZone",
        ),
        (
            "CRON_TZ=Asia/Tokyo 0 9 * * *",
            "a 'TZ=' or 'CRON_TZ=' prefix is not allowed in the schedule; set the time zone in timeZone",
        ),
        ("H * * * *", "H needs a job name to hash"),
    ],
)
def test_error_messages(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse(expression)
    assert str(caught.value) == message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("H(5) * * * *", "minute field: 'H(5)' is not valid; write the range inside H( ) as a-b"),
        ("HX * * * *", "minute field: 'HX' is not valid; H forms are H, H(a-b), H/n and H(a-b)/n"),
        ("H(50-70) * * * *", "minute field: 70 is out of range 0-59"),
        ("* H(20-10) * * *", "hour field: range 'H(20-10)' runs backwards (20 > 10)"),
        ("H/0 * * * *", "minute field: step in 'H/0' must be at least 1"),
        ("H/61 * * * *", "minute field: step 61 in 'H/61' is longer than the range 0-59"),
        ("* * H/29 * *", "day-of-month field: step 29 in 'H/29' is longer than the range 1-28"),
        ("* * * * H(mon-xyz)", "day-of-week field: 'xyz' is not a number or a day name (sun-sat)"),
        ("H * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
    ],
)
def test_hash_error_messages(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse(expression, seed="job-1")
    assert str(caught.value) == message


def test_schedule_refuses_unexpanded_hash() -> None:
    with pytest.raises(ScheduleError, match="H needs a job name to hash"):
        Schedule("H * * * *", load_zone("UTC"))
    with pytest.raises(ScheduleError, match="H needs a job name to hash"):
        expand_hash("H * * * *", "")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("America", "unknown time zone 'America'"),
        ("../../etc/passwd", "unknown time zone '../../etc/passwd'"),
        ("america/new_york", "unknown time zone 'america/new_york'"),
        ("", "time zone is empty; use an IANA name such as 'Europe/London' or 'UTC'"),
        ("Local", "time zone 'Local' depends on the machine; use an IANA name such as 'Europe/London'"),
    ],
)
def test_load_zone_errors(name: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        load_zone(name)
    assert str(caught.value) == message
    with pytest.raises(ScheduleError):
        parse("0 * * * *", name)


# --------------------------------------------------------------------------------------------------
# API


def test_zones_are_cached_and_accepted_by_name_or_object() -> None:
    assert load_zone("Europe/London") is load_zone("Europe/London")
    assert load_zone("UTC").key == "UTC"
    assert parse("0 9 * * *", "Asia/Tokyo") == parse("0 9 * * *", ZoneInfo("Asia/Tokyo"))
    assert hash(parse("0 9 * * *", "Asia/Tokyo")) == hash(parse("0 9 * * *", "Asia/Tokyo"))
    assert parse("0 9 * * *", "Asia/Tokyo") != parse("0 9 * * *", "UTC")


def test_next_after_is_strictly_after_and_in_the_schedule_zone() -> None:
    schedule = parse("0 9 * * *", "Asia/Tokyo")
    fire = datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert schedule.next_after(fire - timedelta(microseconds=1)) == fire
    assert schedule.next_after(fire) == fire + timedelta(days=1)
    got = schedule.next_after(fire.astimezone(UTC))
    assert got is not None and got.tzinfo is schedule.zone and got.hour == 9
    with pytest.raises(ValueError, match="aware"):
        schedule.next_after(datetime(2026, 1, 5))


def test_times_and_times_between() -> None:
    schedule = parse("*/20 * * * *")
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    expected = [start + timedelta(minutes=20 * i) for i in range(1, 5)]
    assert schedule.times(start, 4) == expected
    assert schedule.times(start, 0) == []
    assert list(schedule.times_between(start, start + timedelta(minutes=60))) == expected[:3]
    assert list(schedule.times_between(start, start + timedelta(minutes=59))) == expected[:2]
    assert list(schedule.times_between(start, start)) == []
    # A weekday rescues an impossible day of month when both day fields are restricted.
    assert parse("0 0 30 2 mon").times(datetime(2026, 1, 1, tzinfo=UTC), 1) == [datetime(2026, 2, 2, tzinfo=UTC)]
    # The end is an instant even in the schedule's own zone, where Python compares wall times.
    havana = parse("0 0 * * *", "America/Havana")
    first, second = havana.times(datetime(2024, 11, 2, 12, tzinfo=UTC), 2)
    assert second.fold == 1 and second.replace(fold=0) == first
    assert list(havana.times_between(first - timedelta(hours=1), second)) == [first, second]
    assert list(havana.times_between(first - timedelta(hours=1), first)) == [first]
    assert parse("0 0 29 2 *").times(datetime(2096, 3, 1, tzinfo=UTC), 3) == []


def test_expression_keeps_what_kubernetes_receives() -> None:
    assert parse("  0 9 * * MON-FRI ").expression == "0 9 * * MON-FRI"
    assert parse("@weekly").expression == "@weekly"


def test_never_goes_back_in_time() -> None:
    """robfig gives 03:00 CHDT (13:15Z) for `* 3 * * *` from Chatham's 2000-03-19 fall-back at 14:00Z: before
    the start. We keep stepping robfig forward from there; its first time after the start is 03:45 CHST
    (15:00Z): like robfig around Chatham's other 45-minute changes, the repeated 03:00–03:44 is not fired."""
    schedule = parse("* 3 * * *", "Pacific/Chatham")
    start = datetime(2000, 3, 18, 14, 0, tzinfo=UTC)
    robfig = stepwise_next(schedule, start)
    assert robfig is not None and unix(robfig) < unix(start)
    got = schedule.next_after(start)
    assert got is not None and got.astimezone(UTC) == datetime(2000, 3, 18, 15, 0, tzinfo=UTC)
    assert all(unix(t) > unix(start) for t in schedule.times(start, 50))
