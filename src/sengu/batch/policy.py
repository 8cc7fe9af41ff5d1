"""Pure run policy, shared by the engines: retry back-off and what to do about missed times."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

# The Kubernetes Job controller's pod-failure back-off: 10 s, doubled per failure, capped at 6 minutes.
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 360.0
# With lostAttemptPolicy Ignore, lost attempts don't count against backoffLimit (as a podFailurePolicy
# ignoring disruptions), but a crash loop must not retry forever.
MAX_LOST_ATTEMPTS = 3
# After a long outage, record at most this many individual missed times per job.
MAX_MISSED_RECORDED = 100


def backoff_delay(failures: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait before the next attempt after `failures` failed attempts (failures >= 1)."""
    if failures < 1:
        return 0.0
    return float(min(cap, base * 2 ** (failures - 1)))


@dataclass(frozen=True)
class AfterLost:
    """What a run does once an attempt of it was lost: start another attempt after ``delay_s``, or fail."""

    retry: bool
    delay_s: float = 0.0
    reason: str | None = None  # why the run fails, when it does


def after_lost(policy: str, *, attempt: int, failed: int, lost: int, backoff_limit: int) -> AfterLost:
    """The lostAttemptPolicy rule. ``attempt`` is the lost attempt's number, ``failed`` how many attempts of
    the run failed on their own, ``lost`` how many were lost, this one included.

    Count, the default, treats a lost attempt as a failed one: with backoffLimit 0 (the default, because a
    legacy job may not be safe to run twice) nothing starts again for the same scheduled time.
    """
    why = f"lost: the engine stopped while attempt {attempt} ran"
    if policy == "FailJob":
        return AfterLost(False, reason=f"{why} (lostAttemptPolicy FailJob)")
    if policy == "Ignore":
        if lost > MAX_LOST_ATTEMPTS:
            return AfterLost(False, reason=f"{why}; lost {lost} times, more than {MAX_LOST_ATTEMPTS} (engine crashes)")
        return AfterLost(True)
    failures = failed + lost
    if failures <= backoff_limit:
        return AfterLost(True, delay_s=backoff_delay(failures))
    if backoff_limit == 0:
        return AfterLost(
            False, reason=f"{why}; not started again: backoffLimit 0 (lostAttemptPolicy Ignore would retry it)"
        )
    last = "the last lost (the engine stopped while it ran)"
    return AfterLost(False, reason=f"BackoffLimitExceeded: {failures} attempts failed, {last}")


@dataclass(frozen=True)
class CatchUp:
    run: datetime | None  # the one missed time still worth running, if any
    missed: list[datetime]  # the times to record as missed (newest last), at most MAX_MISSED_RECORDED
    missed_total: int  # how many times were missed in all


def catch_up(due: Iterable[datetime], now: datetime, starting_deadline_s: int) -> CatchUp:
    """Kubernetes' rule after downtime: only the latest missed time may run, and only if it is still
    within startingDeadlineSeconds; every other time is missed."""
    times = sorted(due)
    if not times:
        return CatchUp(None, [], 0)
    latest = times[-1]
    runnable = (now - latest).total_seconds() <= starting_deadline_s
    missed = times[:-1] if runnable else times
    return CatchUp(latest if runnable else None, missed[-MAX_MISSED_RECORDED:], len(missed))


def missed_reasons(
    decision: CatchUp, now: datetime, starting_deadline_s: int, zone: tzinfo
) -> list[tuple[datetime, str]]:
    """Why each missed time of a catch-up did not run, in the words a user checks against the clock.

    Only the latest time due after a stop may run (as Kubernetes does), so an earlier time was superseded by
    it, whether it ran or not; only the latest one can have missed its startingDeadlineSeconds.
    """
    latest = decision.run
    if latest is None and decision.missed:
        latest = decision.missed[-1]
    out = []
    for t in decision.missed:
        if t == latest:
            late = (now - t).total_seconds()
            reason = (
                f"the engine was not running: {late:.0f}s late, past startingDeadlineSeconds ({starting_deadline_s}s)"
            )
        else:
            assert latest is not None
            reason = f"superseded by {_when(latest, t, zone)}"
            if decision.run is None:
                reason += ", which was missed too (the engine was not running)"
            else:
                reason += " (after a stop only the latest time due runs)"
        out.append((t, reason))
    return out


def _when(t: datetime, beside: datetime, zone: tzinfo) -> str:
    """HH:MM in the job's zone; the date too when it is not the same day as ``beside``."""
    local, other = t.astimezone(zone), beside.astimezone(zone)
    text = local.strftime("%H:%M:%S" if local.second else "%H:%M")
    return text if local.date() == other.date() else f"{local:%Y-%m-%d} {text}"
