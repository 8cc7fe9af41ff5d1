"""The knee search behind `sengu load step`, and the SLO check `sengu load run` thresholds reuse.

The knee is the highest offered rate the target held within the SLO. `find_knee` raises the offered rate
step by step (linearly or geometrically), runs each step through the `run` it is given, stops at the
first step that breaks the SLO and, if asked, bisects between the last good and the first bad rate.
Everything here is pure apart from that `run`, so the search is tested with a synthetic server model.

An SLO breaks on any of: p99 latency over the limit (latency counted from each request's intended
start, so stalls count), error rate over the limit, or the achieved rate falling short of the offered
one (the target — or the generator; a step's warnings say which — could not keep up).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from sengu.core.errors import UserError
from sengu.load.numbers import fmt_ms, fmt_num, fmt_pct, fmt_rate
from sengu.load.result import Result


@dataclass(frozen=True)
class Slo:
    """Limits a run must stay within. None switches a limit off.

    ``max_error_rate`` is a fraction (0.01 is 1 %); ``min_achieved_ratio`` is achieved / offered (open
    model only: a closed-model run has no offered rate to fall short of); with it on, requests dropped
    from the generator's full backlog (overflow) also break the SLO, since the offered load was not sent.
    """

    max_p99_ms: float | None = None
    max_error_rate: float | None = None
    min_achieved_ratio: float | None = 0.99


class Step(NamedTuple):
    """One measured step of the search: the offered rate, what it gave, and whether it held the SLO."""

    rate: float
    result: Result
    ok: bool
    reasons: list[str]


@dataclass(frozen=True)
class Knee:
    """What the search found.

    ``rate`` is the highest offered rate held within the SLO (None when the first step already broke it).
    ``broke_at`` is the lowest rate seen to break it, ``broke_by`` why; both are None/empty when even
    ``max_rate`` held — then ``rate`` is only a lower bound of the knee. ``steps`` are in the order run
    (refinement steps come last, so they are not sorted by rate). When ``interrupted``, the last step may
    be cut short: it has no verdict (``ok`` False, reason INTERRUPTED) and takes no part in the knee.
    """

    rate: float | None
    broke_at: float | None
    broke_by: list[str]
    steps: list[Step]
    slo: Slo = field(default_factory=Slo)
    interrupted: bool = False  # stopped (Ctrl-C) before the search ended: the knee is what was found so far

    @property
    def found(self) -> bool:
        """True when the search saw the SLO break, so ``rate`` is a knee and not just a lower bound."""
        return self.broke_at is not None


INTERRUPTED = "interrupted before the step ended: no verdict"


# --- the SLO check ----------------------------------------------------------------------------------------


def slo_breaches(result: Result, slo: Slo) -> list[str]:
    """Why ``result`` breaks ``slo``, one short reason each (empty: it held).

    Reused by `sengu load run --max-p99/--max-error-rate`: a non-empty list there means a non-zero exit.
    """
    reasons: list[str] = []
    if result.requests == 0:
        # Nothing measured is not a pass: every other check would read zeros as perfect.
        reasons.append("no request completed")
    elif not result.latency_ms.measured:
        # Every request failed before an answer (refused, reset, timed out): no latency to hold a limit to.
        reasons.append(f"no answers: all {fmt_num(result.requests)} requests failed")
    if slo.max_p99_ms is not None and result.latency_ms.measured and result.latency_ms.p99 > slo.max_p99_ms:
        reasons.append(f"p99 {fmt_ms(result.latency_ms.p99)} > {fmt_ms(slo.max_p99_ms)}")
    if slo.max_error_rate is not None and result.error_rate > slo.max_error_rate:
        reasons.append(f"errors {fmt_pct(result.error_rate)} > {fmt_pct(slo.max_error_rate)}")
    if (
        slo.min_achieved_ratio is not None
        and result.offered_rate is not None
        and result.offered_rate > 0
        and result.achieved_rate < slo.min_achieved_ratio * result.offered_rate
    ):
        reasons.append(
            f"achieved {fmt_rate(result.achieved_rate)} < {fmt_pct(slo.min_achieved_ratio)} of "
            f"{fmt_rate(result.offered_rate)}"
        )
    if slo.min_achieved_ratio is not None and result.overflow:
        # Part of "was the offered load delivered": dropped due requests never reach the error count.
        reasons.append(f"{fmt_num(result.overflow)} requests overflowed the generator's backlog")
    return reasons


# --- the search -------------------------------------------------------------------------------------------


def step_rates(*, start: float, max_rate: float, step: float | None = None, factor: float | None = None) -> list[float]:
    """The offered rates of the search, ``start`` up to ``max_rate`` (always included as the last step).

    Exactly one of ``step`` (linear: add it each time) or ``factor`` (geometric: multiply) is given.
    """
    if (step is None) == (factor is None):
        raise UserError("give either a linear step (--step) or a geometric factor (--factor), not both or neither")
    if not (math.isfinite(start) and start > 0):
        raise UserError(f"the start rate must be a positive number, not {start}")
    if not (math.isfinite(max_rate) and max_rate >= start):
        raise UserError(f"the maximum rate ({fmt_rate(max_rate)}) must be at least the start rate ({fmt_rate(start)})")
    if step is not None and not (math.isfinite(step) and step > 0):
        raise UserError(f"the step must be a positive rate, not {step}")
    if factor is not None and not (math.isfinite(factor) and factor > 1):
        raise UserError(f"the factor must be greater than 1, not {factor}")
    rates: list[float] = []
    # Each rate is computed from its index, not by accumulating, so 0.1-sized errors never pile up.
    i = 0
    while True:
        rate = start + i * step if step is not None else start * float(factor or 1) ** i
        if rate > max_rate * (1 + 1e-9):
            break
        rates.append(rate)
        i += 1
    if rates[-1] < max_rate * (1 - 1e-9):
        rates.append(max_rate)
    return rates


def find_knee(
    run: Callable[[float], Result],
    *,
    start: float,
    max_rate: float,
    slo: Slo,
    step: float | None = None,
    factor: float | None = None,
    refine: int = 0,
    on_step: Callable[[Step], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Knee:
    """Raise the offered rate until the SLO breaks; return the knee and what broke it.

    ``run(rate)`` runs one step at that offered rate (open model) and returns its Result. ``refine`` is the
    number of bisection rounds between the last good and the first bad rate (each round is one more
    run and halves the uncertainty). ``on_step`` is told about every step as it finishes (for printing).
    ``stop`` is asked before each step; True, or a step whose result is ``interrupted``, ends the search
    with what it found so far (``Knee.interrupted``).
    """
    if refine < 0:
        raise UserError(f"the number of refinement rounds must be 0 or more, not {refine}")
    rates = step_rates(start=start, max_rate=max_rate, step=step, factor=factor)
    steps: list[Step] = []

    class _Stopped(Exception):
        pass

    def measure(rate: float) -> Step:
        if stop is not None and stop():
            raise _Stopped
        result = run(rate)
        if result.interrupted:  # part of a step says nothing about the SLO
            done = Step(rate=rate, result=result, ok=False, reasons=[INTERRUPTED])
        else:
            reasons = slo_breaches(result, slo)
            done = Step(rate=rate, result=result, ok=not reasons, reasons=reasons)
        steps.append(done)
        if on_step is not None:
            on_step(done)
        if result.interrupted:
            raise _Stopped
        return done

    good: float | None = None
    bad: Step | None = None
    try:
        for rate in rates:
            measured = measure(rate)
            if not measured.ok:
                bad = measured
                break
            good = rate
        # Refining below a first step that already broke would only search for the right start: say so instead.
        if bad is not None and good is not None:
            for _ in range(refine):
                middle = (good + bad.rate) / 2
                measured = measure(middle)
                if measured.ok:
                    good = middle
                else:
                    bad = measured
    except _Stopped:
        return _knee(good, bad, steps, slo, interrupted=True)
    return _knee(good, bad, steps, slo, interrupted=False)


def _knee(good: float | None, bad: Step | None, steps: list[Step], slo: Slo, *, interrupted: bool) -> Knee:
    if bad is None:
        return Knee(rate=good, broke_at=None, broke_by=[], steps=steps, slo=slo, interrupted=interrupted)
    return Knee(rate=good, broke_at=bad.rate, broke_by=list(bad.reasons), steps=steps, slo=slo, interrupted=interrupted)


def verdict(step: Step) -> str:
    """A step's verdict in words: ok, broke: why, or interrupted."""
    if step.ok:
        return "ok"
    if step.reasons == [INTERRUPTED]:
        return INTERRUPTED
    return "broke: " + "; ".join(step.reasons)


def format_step(step: Step) -> str:
    """One step as a row of the table format_knee prints (and `sengu load step` prints as each step ends)."""
    r = step.result
    return (
        f"{fmt_rate(step.rate):>12}  {fmt_rate(r.achieved_rate):>12}  {fmt_ms(r.latency_ms.ms('p99')):>11}  "
        f"{fmt_pct(r.error_rate):>7}  {verdict(step)}"
    )


STEP_HEADER = f"{'offered':>12}  {'achieved':>12}  {'p99':>11}  {'errors':>7}  verdict"


def format_knee(knee: Knee) -> str:
    """The terminal summary of a search: one line per step, then the verdict."""
    lines = [STEP_HEADER]
    lines.extend(format_step(s) for s in sorted(knee.steps, key=lambda s: s.rate))
    if knee.interrupted:
        lines.append(
            f"INTERRUPTED after {len(knee.steps)} step(s): the search did not finish; what follows is what the "
            "steps measured so far showed."
        )
    if knee.rate is None and knee.broke_at is None:
        lines.append("No step held the SLO before the search was stopped.")
    elif knee.rate is None:
        first = knee.steps[0].rate if knee.steps else 0.0
        lines.append(
            f"No knee: the first step ({fmt_rate(first)}) already broke the SLO ({'; '.join(knee.broke_by)}). "
            "Start lower."
        )
    elif knee.broke_at is None and knee.interrupted:
        lines.append(f"The SLO held up to {fmt_rate(knee.rate)}, the highest rate measured before the stop.")
    elif knee.broke_at is None:
        lines.append(
            f"The SLO held up to the highest rate tried, {fmt_rate(knee.rate)}: the knee is above it. Raise --max-rate."
        )
    else:
        lines.append(
            f"Knee: {fmt_rate(knee.rate)} held within the SLO; {fmt_rate(knee.broke_at)} broke it "
            f"({'; '.join(knee.broke_by)})."
        )
        broke = next((s for s in knee.steps if s.rate == knee.broke_at), None)
        if broke is not None and broke.result.warnings:
            # A step the generator could not drive measures the generator, not the target.
            lines.append("Warnings at that step: " + "; ".join(broke.result.warnings))
    return "\n".join(lines)
