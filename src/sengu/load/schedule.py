"""Rate schedules for the open model: when each request is due.

A schedule is a sequence of segments, each moving the rate linearly from ``start_rate`` to ``end_rate``
over ``seconds`` (a constant rate is a segment whose two rates are equal). The cumulative number of
requests due by time t, N(t), is the integral of the rate; request k (0-based) is due at the instant
N(t) reaches k. Computing due times from the integral, instead of adding 1/rate per request, keeps a
long run from drifting: the count due by any t is exactly ceil(N(t)), whatever the rate does.

Pure: no clock, no I/O. The engine walks :meth:`Schedule.times` against its own clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Cumulative counts are sums of float products (e.g. 2000 * 0.3 = 600.0000000000001); without a tolerance
# a segment could gain a request due exactly at its end, which belongs to the next segment.
_EPS = 1e-9


def _ceil(x: float) -> int:
    return math.ceil(x - _EPS)


@dataclass(frozen=True)
class Segment:
    """The rate moves linearly from ``start_rate`` to ``end_rate`` (requests/s) over ``seconds``."""

    start_rate: float
    end_rate: float
    seconds: float

    def __post_init__(self) -> None:
        if self.seconds <= 0 or not math.isfinite(self.seconds):
            raise ValueError(f"a schedule segment needs a positive, finite duration, not {self.seconds}")
        for rate in (self.start_rate, self.end_rate):
            if rate < 0 or not math.isfinite(rate):
                raise ValueError(f"a rate must be zero or more and finite, not {rate}")

    @property
    def count(self) -> float:
        """Requests due over the whole segment (not rounded)."""
        return (self.start_rate + self.end_rate) / 2 * self.seconds

    def rate_at(self, t: float) -> float:
        return self.start_rate + (self.end_rate - self.start_rate) * t / self.seconds

    def count_until(self, t: float) -> float:
        """Requests due in [0, t] of the segment: the integral of the rate."""
        slope = (self.end_rate - self.start_rate) / self.seconds
        return self.start_rate * t + slope * t * t / 2

    def time_of(self, n: float) -> float:
        """The instant the cumulative count reaches ``n`` (0 <= n <= count): the inverse of count_until."""
        slope = (self.end_rate - self.start_rate) / self.seconds
        if slope == 0:
            return n / self.start_rate
        # Solves r0 t + a t^2 / 2 = n in the form 2n / (r0 + sqrt(r0^2 + 2an)), which is stable for ramps up
        # and down and for r0 = 0 (the textbook (-r0 + sqrt(...)) / a loses digits when a is small).
        disc = max(0.0, self.start_rate * self.start_rate + 2 * slope * n)
        denom = self.start_rate + math.sqrt(disc)
        return 2 * n / denom if denom > 0 else 0.0


@dataclass(frozen=True)
class Schedule:
    """Segments played one after the other. Build one with :func:`constant`, :func:`ramp` or :func:`steps`."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a schedule needs at least one segment")

    @property
    def duration(self) -> float:
        return sum(s.seconds for s in self.segments)

    @property
    def total(self) -> int:
        """How many requests the schedule releases (request k is due when the cumulative count reaches k)."""
        return _ceil(sum(s.count for s in self.segments))

    @property
    def mean_rate(self) -> float:
        return sum(s.count for s in self.segments) / self.duration

    @property
    def peak_rate(self) -> float:
        return max(max(s.start_rate, s.end_rate) for s in self.segments)

    def rate_at(self, t: float) -> float:
        """The offered rate at time t (0 outside the schedule)."""
        if t < 0:
            return 0.0
        for seg in self.segments:
            if t < seg.seconds:
                return seg.rate_at(t)
            t -= seg.seconds
        return 0.0

    def cumulative(self, t: float) -> float:
        """N(t): the integral of the rate from 0 to t (not rounded)."""
        if t <= 0:
            return 0.0
        total = 0.0
        for seg in self.segments:
            if t < seg.seconds:
                return total + seg.count_until(t)
            total += seg.count
            t -= seg.seconds
        return total

    def count_until(self, t: float) -> int:
        """How many requests are due at or before time t (request k is due when N reaches k; the first at 0)."""
        if t < 0:
            return 0
        if t >= self.duration:
            return self.total
        return min(self.total, math.floor(self.cumulative(t) + _EPS) + 1)

    def times(self, phase: float = 0.0) -> Iterator[float]:
        """The due time of every request, in order, in seconds from the start of the schedule.

        Request k is due when the cumulative count reaches k + ``phase`` (0 <= phase < 1). Worker i of N
        runs the schedule scaled by 1/N with phase i/N: together the workers' requests fall where one
        process's would, evenly spaced, instead of N at the same instants.
        """
        if not 0.0 <= phase < 1.0:
            raise ValueError(f"phase must be in [0, 1), not {phase}")
        offset = 0.0
        cumulative = 0.0  # requests due before this segment, not rounded: the fraction carries over
        for seg in self.segments:
            end = cumulative + seg.count
            k = _ceil(cumulative - phase)
            while k < _ceil(end - phase):
                # k may sit a rounding error below this segment's start count: it is due at the start.
                yield offset + min(seg.seconds, seg.time_of(max(0.0, k + phase - cumulative)))
                k += 1
            cumulative = end
            offset += seg.seconds

    def scaled(self, factor: float) -> Schedule:
        """The same shape at ``factor`` times the rate: one worker's share of a schedule."""
        return Schedule(tuple(Segment(s.start_rate * factor, s.end_rate * factor, s.seconds) for s in self.segments))

    def describe(self) -> str:
        """A short human form, e.g. ``0→1000/s over 30s, 1000/s for 270s``."""
        parts = []
        for s in self.segments:
            if s.start_rate == s.end_rate:
                parts.append(f"{s.start_rate:g}/s for {s.seconds:g}s")
            else:
                parts.append(f"{s.start_rate:g}→{s.end_rate:g}/s over {s.seconds:g}s")
        return ", ".join(parts)


def constant(rate: float, duration: float) -> Schedule:
    """``rate`` requests/s for ``duration`` seconds: exactly ``rate * duration`` requests (rounded up)."""
    return Schedule((Segment(rate, rate, duration),))


def ramp(rate: float, ramp_s: float, duration: float, start_rate: float = 0.0) -> Schedule:
    """From ``start_rate`` to ``rate`` over ``ramp_s`` seconds, then ``rate`` until ``duration`` (total) ends.

    ``--rate 1000 --ramp 30s --duration 5m`` is ``ramp(1000, 30, 300)``. A ramp as long as the duration
    has no constant part.
    """
    if ramp_s <= 0:
        return constant(rate, duration)
    if ramp_s > duration:
        raise ValueError(f"the ramp ({ramp_s:g}s) is longer than the run ({duration:g}s)")
    segments = [Segment(start_rate, rate, ramp_s)]
    if duration > ramp_s:
        segments.append(Segment(rate, rate, duration - ramp_s))
    return Schedule(tuple(segments))


def steps(rates: Sequence[float], step_s: float) -> Schedule:
    """Each rate of ``rates`` held for ``step_s`` seconds, one after the other."""
    if not rates:
        raise ValueError("steps need at least one rate")
    return Schedule(tuple(Segment(r, r, step_s) for r in rates))
