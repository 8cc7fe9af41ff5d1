"""Cron schedules that fire exactly when the Kubernetes CronJob controller would.

The controller parses ``spec.schedule`` with robfig/cron v3 ``ParseStandard`` (after prefixing
``TZ=<spec.timeZone>``) and asks ``SpecSchedule.Next`` for fire times. The embedded engine must agree
with it to the second, so this module is a port of that code rather than a fresh cron implementation:

- the parser accepts what robfig accepts, minus a few forms robfig silently misreads (``*-5``,
  empty list items, ``+5``) and schedules that can never run; those are rejected with a message;
- ``next_after`` walks local wall-clock time the way ``Next`` does, including its daylight-saving
  quirks, and resolves nonexistent or repeated local times with Go's ``time.Date`` rule;
- ``H`` (Jenkins-style hashing) is expanded before anything else, so Kubernetes receives plain cron.

See docs/schedules.md for the semantics as users see them.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Schedule", "ScheduleError", "expand_hash", "load_zone", "parse"]


class ScheduleError(ValueError):
    """A schedule or time zone the user wrote is not valid. The message is one line, without a location."""


FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {name: i + 1 for i, name in enumerate(_MONTH_NAMES)},
    {name: i for i, name in enumerate(_DAY_NAMES)},
)
_NAME_HINT = ("", "", "", " or a month name (jan-dec)", " or a day name (sun-sat)")
_MONTH_TITLES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# robfig's descriptors, as (minute, hour, day-of-month, month, day-of-week) fields. Its '@weekly'
# sets day-of-week to Sunday and leaves day-of-month as '*', which is what these strings say too.
MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_DIGITS = re.compile(r"[0-9]+")
# Kubernetes' own check on spec.timeZone (apis/batch/validation), applied to each '/'-separated part.
_ZONE_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")
_H_ITEM = re.compile(r"H(?:\(([^()]*)\))?(?:/(.*))?")

_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Searches stop before years Python's datetime cannot hold (robfig searches five years ahead).
_LAST_YEAR = 9990


# --------------------------------------------------------------------------------------------------
# Time zones


@lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, validated as Kubernetes validates ``spec.timeZone``."""
    if not name:
        raise ScheduleError("time zone is empty; use an IANA name such as 'Europe/London' or 'UTC'")
    if name.lower() in ("local", "localtime"):
        raise ScheduleError(f"time zone {name!r} depends on the machine; use an IANA name such as 'Europe/London'")
    for part in name.split("/"):
        if part in (".", "..") or part.startswith("-") or not _ZONE_PART.fullmatch(part):
            raise ScheduleError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


class _Offsets:
    """The UTC offsets of one zone as stretches of constant offset, found lazily.

    Go's ``time.Date`` and its local-time arithmetic need "the offset at instant u" and, for the fast
    paths in ``_next``, "an interval around u with the same offset". zoneinfo only answers the first,
    so each chunk of about a year is sampled every few hours and each change bisected to the second.
    A pair of changes that cancel within one sampling step would be missed; tzdb has none since 1970.
    """

    _CHUNK_BITS = 25  # 2**25 s is about 388 days
    _STEP = 3 * 3600

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._chunks: dict[int, tuple[list[int], list[int]]] = {}

    def _probe(self, u: int) -> int:
        offset = datetime.fromtimestamp(u, self._zone).utcoffset()
        assert offset is not None
        return offset // _SECOND

    def _chunk(self, c: int) -> tuple[list[int], list[int]]:
        found = self._chunks.get(c)
        if found is not None:
            return found
        probe = self._probe
        start, end = c << self._CHUNK_BITS, (c + 1) << self._CHUNK_BITS
        starts, offsets = [start], [probe(start)]
        a, off_a = start, offsets[0]
        while a < end - 1:
            b = min(a + self._STEP, end - 1)
            off_b = probe(b)
            while off_b != off_a:
                lo, hi = a, b
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if probe(mid) == off_a:
                        lo = mid
                    else:
                        hi = mid
                a, off_a = hi, probe(hi)
                starts.append(a)
                offsets.append(off_a)
            a, off_a = b, off_b
        self._chunks[c] = (starts, offsets)
        return starts, offsets

    def lookup(self, u: int) -> tuple[int, int, int]:
        """(offset, lo, hi): the offset at ``u``, constant on [lo, hi) which contains ``u``."""
        c = u >> self._CHUNK_BITS
        starts, offsets = self._chunk(c)
        i = bisect_right(starts, u) - 1
        hi = starts[i + 1] if i + 1 < len(starts) else (c + 1) << self._CHUNK_BITS
        return offsets[i], starts[i], hi

    def offset(self, u: int) -> int:
        c = u >> self._CHUNK_BITS
        starts, offsets = self._chunk(c)
        return offsets[bisect_right(starts, u) - 1]


@cache
def _offsets(zone: ZoneInfo) -> _Offsets:
    return _Offsets(zone)


# --------------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True, slots=True)
class _Fields:
    """A parsed 5-field schedule as bit sets, plus the tables ``_next`` uses to skip ahead."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int
    # robfig's star bit: day-of-month and day-of-week must BOTH match if either field is an
    # unstepped '*' or '?'; otherwise EITHER may match.
    both_days: bool
    minute_steps: tuple[int, ...]
    hour_steps: tuple[int, ...]
    # For each weekday of the 1st of a month, the days 1-31 that match (bit d for day d).
    month_days: tuple[int, ...]

    def day_matches(self, day: int, weekday: int) -> bool:
        dom = (self.dom >> day) & 1
        dow = (self.dow >> weekday) & 1
        return bool(dom & dow) if self.both_days else bool(dom | dow)


@cache
def _month_days(dom: int, dow: int, both_days: bool) -> tuple[int, ...]:
    out = []
    for first in range(7):
        weekdays = sum(1 << d for d in range(1, 32) if (dow >> ((first + d - 1) % 7)) & 1)
        out.append(dom & weekdays if both_days else dom | weekdays)
    return tuple(out)


@cache
def _steps(mask: int, size: int) -> tuple[int, ...]:
    """For each value v, how many +1 steps until a value in ``mask`` or a wrap to 0."""
    # One backward pass: a step from v lands on v+1, which either stops (in mask, or the wrap) or adds
    # the steps from v+1. Cached: 10,000 jobs share few distinct masks.
    out = [1] * size
    for v in range(size - 2, -1, -1):
        if not (mask >> (v + 1)) & 1:
            out[v] = 1 + out[v + 1]
    return tuple(out)


def _fail(index: int, message: str) -> ScheduleError:
    return ScheduleError(f"{FIELD_NAMES[index]} field: {message}")


def _value(token: str, index: int, item: str) -> int:
    names = _NAMES[index]
    if names and token.lower() in names:
        return names[token.lower()]
    if token == "":
        raise _fail(index, f"{item!r} is missing a value")
    if not _DIGITS.fullmatch(token):
        raise _fail(index, f"{token!r} is not a number{_NAME_HINT[index]}")
    return int(token)


def _check_range(index: int, start: int, end: int, item: str) -> None:
    lo, hi = _BOUNDS[index]
    for v in (start, end):
        if not lo <= v <= hi:
            hint = " (Sunday is 0)" if index == 4 and v == 7 else ""
            raise _fail(index, f"{v} is out of range {lo}-{hi}{hint}")
    if start > end:
        raise _fail(index, f"range {item!r} runs backwards ({start} > {end})")


def _step(token: str, index: int, item: str) -> int:
    if token == "":
        raise _fail(index, f"{item!r} is missing the step after '/'")
    if not _DIGITS.fullmatch(token):
        raise _fail(index, f"step {token!r} in {item!r} is not a number")
    step = int(token)
    if step == 0:
        raise _fail(index, f"step in {item!r} must be at least 1")
    return step


def _parse_field(text: str, index: int) -> tuple[int, bool]:
    """Port of robfig getField/getRange: the field's bits and whether it carries the star bit."""
    lo, hi = _BOUNDS[index]
    bits = 0
    star = False
    for item in text.split(","):
        if not item:
            raise _fail(index, f"empty item in list {text!r}")
        range_and_step = item.split("/")
        if len(range_and_step) > 2:
            raise _fail(index, f"too many '/' in {item!r}")
        ends = range_and_step[0].split("-")
        item_star = ends[0] in ("*", "?")
        if item_star:
            if len(ends) > 1:
                # robfig ignores everything after '*-', so '*-5' would silently mean '*'.
                raise _fail(index, f"{item!r} is not valid: {ends[0]!r} cannot start a range")
            start, end = lo, hi
        else:
            if len(ends) > 2:
                raise _fail(index, f"too many '-' in {item!r}")
            start = _value(ends[0], index, item)
            end = _value(ends[1], index, item) if len(ends) == 2 else start
        step = 1
        if len(range_and_step) == 2:
            step = _step(range_and_step[1], index, item)
            if len(ends) == 1:
                end = hi  # robfig: 'N/step' means 'N-max/step'
            if step > 1:
                item_star = False  # robfig v3: '*/2' is a restriction, '*/1' is still a star
        _check_range(index, start, end, item)
        for v in range(start, end + 1, step):
            bits |= 1 << v
        star |= item_star
    return bits, star


def _check_can_run(f: _Fields) -> None:
    """Refuse a schedule with no day at all, which robfig accepts and Kubernetes never runs."""
    dom, month, dow = f.dom, f.month, f.dow
    if not f.both_days or dow != 0x7F:
        return  # either-day matching, or a weekday restriction with every day of the month allowed
    longest = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    months = [m for m in range(1, 13) if (month >> m) & 1]
    days = [d for d in range(1, 32) if (dom >> d) & 1]
    if any(d <= longest[m] for m in months for d in days):
        return
    day_text = "day " + str(days[0]) if len(days) == 1 else "days " + ",".join(map(str, days))
    verb = "occurs" if len(days) == 1 else "occur"
    raise _fail(
        2,
        f"{day_text} never {verb} in {', '.join(_MONTH_TITLES[m] for m in months)}; the schedule would never run",
    )


def _split_fields(text: str) -> list[str]:
    fields = text.split()
    if len(fields) != 5:
        extra = " (seconds are not supported)" if len(fields) == 6 else ""
        raise ScheduleError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}{extra}"
        )
    return fields


def _check_prefix(text: str) -> None:
    if not text:
        raise ScheduleError("schedule is empty")
    if "TZ=" in text:
        raise ScheduleError(
            "a 'TZ=' or 'CRON_TZ=' prefix is not allowed in the schedule; set the time zone in timeZone"
        )
    if text.startswith("@"):
        if text.startswith("@every"):
            raise ScheduleError(
                "@every is not supported; write a cron expression instead, "
                "for example 'H/15 * * * *' for every 15 minutes"
            )
        if text not in MACROS:
            raise ScheduleError(f"unknown macro {text!r}; use one of {', '.join(MACROS)}")


@lru_cache(maxsize=4096)
def _compile(expression: str) -> _Fields:
    """Parse a validated, H-free expression (``expression`` is already stripped)."""
    _check_prefix(expression)
    fields = _split_fields(MACROS.get(expression, expression))
    for index, text in enumerate(fields):
        if any(item.startswith("H") for item in text.split(",")):
            raise _fail(index, "H needs a job name to hash")
    parsed = [_parse_field(text, index) for index, text in enumerate(fields)]
    (minute, _), (hour, _), (dom, dom_star), (month, _), (dow, dow_star) = parsed
    both_days = dom_star or dow_star
    return _Fields(
        minute=minute,
        hour=hour,
        dom=dom,
        month=month,
        dow=dow,
        both_days=both_days,
        minute_steps=_steps(minute, 60),
        hour_steps=_steps(hour, 24),
        month_days=_month_days(dom, dow, both_days),
    )


# --------------------------------------------------------------------------------------------------
# H


def _hash(seed: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _expand_h_item(item: str, index: int, seed: str) -> str:
    match = _H_ITEM.fullmatch(item)
    if match is None:
        raise _fail(index, f"{item!r} is not valid; H forms are H, H(a-b), H/n and H(a-b)/n")
    bounds, step_text = match.groups()
    if bounds is not None:
        ends = bounds.split("-")
        if len(ends) != 2:
            raise _fail(index, f"{item!r} is not valid; write the range inside H( ) as a-b")
        lo, hi = _value(ends[0], index, item), _value(ends[1], index, item)
        _check_range(index, lo, hi, item)
    else:
        lo, hi = _BOUNDS[index]
        if index == 2:
            hi = 28  # every month has days 1-28, so a hashed day runs every month
    h = _hash(seed, index)
    if step_text is None:
        return str(lo + h % (hi - lo + 1))
    step = _step(step_text, index, item)
    if step > hi - lo + 1:
        raise _fail(index, f"step {step} in {item!r} is longer than the range {lo}-{hi}")
    start = lo + h % step
    return str(start) if start == hi else f"{start}-{hi}/{step}"


def expand_hash(expression: str, seed: str) -> str:
    """Replace each ``H`` item with a value hashed from ``seed`` (the job name).

    ``H`` spreads jobs written the same way (``H * * * *``) over the hour instead of all firing at
    minute 0, and keeps each job at the same minute across runs and processes (sha256 of the seed and
    the field's position; never Python's ``hash``). Forms, per field:

    - ``H``: one value in the field's range; in day-of-month the range is 1-28, as in Jenkins, so the
      job runs every month;
    - ``H(a-b)``: one value in a-b;
    - ``H/n`` and ``H(a-b)/n``: every n, starting at a hashed offset below n (also 1-28 for
      day-of-month ``H/n``); n may not exceed the range's length, as in Jenkins.

    Items in one field share the hash, so ``H(0-29),H(30-59)`` runs twice an hour, 30 minutes apart.
    Returns ``expression`` unchanged when it has no ``H``; macros never do.
    """
    text = expression.strip()
    if text.startswith("@"):
        return expression
    fields = text.split()
    if not any(item.startswith("H") for f in fields for item in f.split(",")):
        return expression
    if not seed:
        raise ScheduleError("H needs a job name to hash")
    fields = _split_fields(text)
    out = []
    for index, text_field in enumerate(fields):
        items = [_expand_h_item(item, index, seed) if item.startswith("H") else item for item in text_field.split(",")]
        out.append(",".join(items))
    return " ".join(out)


# --------------------------------------------------------------------------------------------------
# Next


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class _Cursor:
    """A Go ``time.Time`` in one location: a Unix second plus its wall-clock fields."""

    __slots__ = ("d", "h", "hi", "lo", "mi", "mo", "off", "offsets", "s", "u", "wd", "y")

    def __init__(self, offsets: _Offsets, u: int) -> None:
        self.offsets = offsets
        self.lo, self.hi = 1, 0
        self.move(u)

    def move(self, u: int) -> None:
        """Go ``t = t.Add(...)``: an absolute move."""
        self.u = u
        if not self.lo <= u < self.hi:
            self.off, self.lo, self.hi = self.offsets.lookup(u)
        days, seconds = divmod(u + self.off, 86400)
        day = date.fromordinal(days + _EPOCH_ORDINAL)
        self.y, self.mo, self.d = day.year, day.month, day.day
        self.h, rest = divmod(seconds, 3600)
        self.mi, self.s = divmod(rest, 60)
        self.wd = (days + 4) % 7  # 1970-01-01 was a Thursday; Sunday is 0

    def set_date(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> None:
        """Go ``time.Date(y, mo, d, h, mi, s, 0, loc)``, out-of-range fields normalised.

        A local time that does not exist or exists twice is resolved as Go does: take the offset in
        force at the wall time read as UTC, then the offset in force at the instant that gives, and
        use that. West of UTC a skipped time moves back by the gap and a repeated time takes its first
        occurrence; east of UTC a skipped time moves forward and a repeated time takes its second.
        """
        y += (mo - 1) // 12
        mo = (mo - 1) % 12 + 1
        wall = (date(y, mo, 1).toordinal() - _EPOCH_ORDINAL + d - 1) * 86400 + h * 3600 + mi * 60 + s
        first = self.offsets.offset(wall)
        self.move(wall - self.offsets.offset(wall - first))


def _jump(steps: int, c: _Cursor, unit: int) -> int:
    """Seconds to move for ``steps`` absolute steps of ``unit``, or fewer if the offset may change.

    Inside a stretch of constant offset each step adds exactly one to the wall-clock field, so the
    loop's stop is known in advance; a step that leaves the stretch is taken alone.
    """
    room = (c.hi - 1 - c.u) // unit
    return min(steps, max(room, 1)) * unit


def _next(f: _Fields, offsets: _Offsets, u: int) -> int | None:
    """Port of robfig/cron v3 ``SpecSchedule.Next`` for a 5-field schedule (second field ``0``).

    ``u`` is the first candidate second (Go: ``t.Add(1s - t.Nanosecond())``). The loops and their
    order, the ``added`` resets, the ``goto WRAP`` points and the day loop's midnight fix-up follow
    spec.go line by line. Where a loop would step one unit at a time through a stretch of constant UTC
    offset, it jumps straight to the step where the loop would stop; the stepwise port in
    tests/batch/test_schedule.py checks this gives the same answers.
    """
    c = _Cursor(offsets, u)
    year_limit = c.y + 5
    if year_limit > _LAST_YEAR:
        return None
    added = False
    while True:  # WRAP
        if c.y > year_limit:
            return None

        if not (f.month >> c.mo) & 1:
            if not added:
                added = True
                c.set_date(c.y, c.mo, 1, 0, 0, 0)
            while True:
                c.set_date(c.y, c.mo + 1, c.d, c.h, c.mi, c.s)  # t.AddDate(0, 1, 0)
                if c.mo == 1 or (f.month >> c.mo) & 1:
                    break
            if c.mo == 1:
                continue

        wrapped = False
        while not f.day_matches(c.d, c.wd):
            if not added:
                added = True
                c.set_date(c.y, c.mo, c.d, 0, 0, 0)
            if c.h == 0 and _skip_days(f, c):
                pass
            else:
                c.set_date(c.y, c.mo, c.d + 1, c.h, c.mi, c.s)  # t.AddDate(0, 0, 1)
                # robfig's fix-up for days whose midnight does not exist (issue #157).
                if c.h != 0:
                    c.move(c.u + ((24 - c.h) if c.h > 12 else -c.h) * 3600)
            if c.d == 1:
                wrapped = True
                break
        if wrapped:
            continue

        while not (f.hour >> c.h) & 1:
            if not added:
                added = True
                c.set_date(c.y, c.mo, c.d, c.h, 0, 0)
            c.move(c.u + _jump(f.hour_steps[c.h], c, 3600))
            if c.h == 0:
                wrapped = True
                break
        if wrapped:
            continue

        while not (f.minute >> c.mi) & 1:
            if not added:
                added = True
                c.move(c.u - c.u % 60)  # t.Truncate(time.Minute): absolute, like Go
            c.move(c.u + _jump(f.minute_steps[c.mi], c, 60))
            if c.mi == 0:
                wrapped = True
                break
        if wrapped:
            continue

        if c.s != 0:  # the seconds field is '0': step to the next whole minute, then WRAP
            added = True
            while c.s != 0:
                c.move(c.u + _jump(60 - c.s, c, 1))
            continue
        return c.u


def _skip_days(f: _Fields, c: _Cursor) -> bool:
    """Do as many of the day loop's AddDate steps at once as cannot meet a change of UTC offset.

    Step j of the loop asks Go's ``time.Date`` for the wall time ``u + j days + off`` read as UTC and
    then for ``u + j days``; while both stay inside the current stretch the answer is ``u + j days``.
    Returns False when not even one step is safe, and the caller steps the way Go does.
    """
    last = _days_in_month(c.y, c.mo)
    ahead = (f.month_days[(c.wd - c.d + 1) % 7] & ((2 << last) - 1)) >> (c.d + 1)
    k = (ahead & -ahead).bit_length() if ahead else last - c.d + 1  # next match, or the 1st
    if c.u + 86400 + min(0, c.off) < c.lo:
        return False
    room = (c.hi - 1 - max(0, c.off) - c.u) // 86400
    if room < 1:
        return False
    c.move(c.u + min(k, room) * 86400)
    return True


# --------------------------------------------------------------------------------------------------
# Public API


def _unix_seconds(t: datetime) -> int:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"schedules need an aware datetime, got naive {t.isoformat()}")
    return (t - _EPOCH) // _SECOND


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule in a time zone. Build one with ``parse``."""

    expression: str  # as written after H expansion: what Kubernetes receives
    zone: ZoneInfo
    _fields: _Fields = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fields", _runnable(self.expression))

    def next_after(self, t: datetime) -> datetime | None:
        """The first fire time strictly after ``t``, in ``self.zone``; None if none within 5 years."""
        start = _unix_seconds(t) + 1
        offsets = _offsets(self.zone)
        u = _next(self._fields, offsets, start)
        # robfig can step back across a DST change that is not a whole hour (Chatham's 03:45 → 02:45:
        # `* 3 * * *` from the change gives 03:00 of the first pass, before the start). A scheduler must
        # never go back in time, so we keep stepping forward from what it gave until we pass the start.
        # A deliberate divergence, documented in docs/schedules.md.
        steps = 0
        while u is not None and u < start and steps < 100_000:
            u = _next(self._fields, offsets, u + 1)
            steps += 1
        return None if u is None or u < start else datetime.fromtimestamp(u, self.zone)

    def times(self, start: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire times after ``start`` (fewer if the schedule runs out)."""
        out: list[datetime] = []
        t = start
        while len(out) < count:
            nxt = self.next_after(t)
            if nxt is None:
                break
            out.append(nxt)
            t = nxt
        return out

    def times_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Fire times ``t`` with ``start < t <= end``, in order."""
        # Compared as instants: Python compares two datetimes in the same zone by wall time, which
        # puts a repeated hour's second pass before its first.
        last = _unix_seconds(end)
        t = self.next_after(start)
        while t is not None and _unix_seconds(t) <= last:
            yield t
            t = self.next_after(t)


@lru_cache(maxsize=4096)
def _runnable(expression: str) -> _Fields:
    fields = _compile(expression)
    _check_can_run(fields)
    return fields


def parse(expression: str, zone: str | ZoneInfo = "UTC", *, seed: str | None = None) -> Schedule:
    """Parse a 5-field cron expression or macro in ``zone``, expanding ``H`` from ``seed``.

    Raises ScheduleError with a one-line message naming the field at fault.
    """
    if "H" in expression:
        return _parse(expression, zone, seed)
    # Without an H the seed plays no part: jobs written alike (10,000 jobs share a few expressions and
    # zones) share one parse, a Schedule being immutable.
    return _parse_shared(expression, zone)


@lru_cache(maxsize=1024)
def _parse_shared(expression: str, zone: str | ZoneInfo) -> Schedule:
    return _parse(expression, zone, None)


def _parse(expression: str, zone: str | ZoneInfo, seed: str | None) -> Schedule:
    text = expression.strip()
    _check_prefix(text)
    if not text.startswith("@"):
        text = expand_hash(text, seed or "")
    zone_info = zone if isinstance(zone, ZoneInfo) else load_zone(zone)
    return Schedule(text, zone_info)
