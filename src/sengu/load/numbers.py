"""Numbers for people: how rates, latencies and shares read in the terminal, the live display, the report
and the capacity plan, the same everywhere."""

from __future__ import annotations

import math


def fmt_num(value: float) -> str:
    """A number for people: thousands separators, and only as many decimals as its size deserves."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 0.01:
        text = f"{value:.2f}"
    else:
        return f"{value:.2g}"
    return text.rstrip("0").rstrip(".")


def fmt_ms(value: float | None) -> str:
    """Milliseconds; None (nothing measured, e.g. no answers) reads "-", never 0 ms."""
    return "-" if value is None else f"{fmt_num(value)} ms"


def fmt_rate(value: float) -> str:
    return f"{fmt_num(value)}/s"


def fmt_pct(fraction: float) -> str:
    """0.032 → "3.2%"; small but non-zero shares keep two significant digits so they never read as 0%."""
    percent = fraction * 100
    if percent == 0:
        return "0%"
    if abs(percent) < 0.01:
        return f"{percent:.2g}%"
    text = f"{percent:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def fmt_seconds(seconds: float) -> str:
    """A length of time for people: 45 s, 2 min 55 s, 1 h 5 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{fmt_num(round(seconds, 1))} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
