"""Durations as people write them in specs and on command lines: 90, 90s, 10m, 1h30m, 2d, 1.5s, 500ms."""

from __future__ import annotations

import math
import re

from sengu.core.errors import UserError

_WHOLE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HINT = "use e.g. 90s, 10m, 6h, 1h30m or a number of seconds"


def parse_duration(value: object) -> int:
    """Whole seconds from `90`, `"90s"`, `"10m"`, `"6h"`, `"1h30m"` or `"2d"`. Raises ValueError otherwise
    (spec fields: pydantic turns it into a located error)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {_HINT}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    elif isinstance(value, str) and (m := _WHOLE.match(value.strip())) and any(m.groups()):
        d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    else:
        raise ValueError(f"{value!r} is not a duration: {_HINT}")
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be longer than zero")
    return seconds


def parse_seconds(text: str, *, what: str, zero: bool = False) -> float:
    """Seconds, fractions allowed (`1.5s`, `500ms`, `1m30s`, `90`), for command-line options named `what`.
    Raises UserError; zero is refused unless `zero`."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise UserError(f"{what} {text!r} is not a duration: {_HINT}") from None
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        raise UserError(f"{what} {text!r}: give a duration longer than zero")
    return seconds
