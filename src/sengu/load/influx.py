"""`sengu load run --influx URL`: a run's result as InfluxDB line protocol, and the write that sends it.

The points, all in one measurement (``sengu_load`` by default), told apart by the ``point`` tag:

- ``point=second``: one per second of the run — ``offered``, ``completed``, ``errors`` (integers) and
  ``p50_ms``, ``p99_ms``, ``max_ms`` (left out when nothing was answered that second); timestamped at the start
  of that second.
- ``point=summary``: the whole run — rates, counts, the three latency distributions (``latency_*``,
  ``service_*``, ``send_lag_*``; only ``*_count`` when nothing was answered), ``status_<code>`` and
  ``error_<class>`` counts, ``interrupted=true`` when Ctrl-C stopped the run early; at the run's start.
- ``point=endpoint`` (tag ``endpoint``): per endpoint of the scenario; at the run's start.

Every point carries the tags ``mode`` (open/closed — a closed-model latency is never mistaken for an
open-model one in a dashboard) and ``target``, plus the caller's tags. The write goes to InfluxDB 2/3
(``/api/v2/write``, token auth) or InfluxDB 1 (``/write?db=``), chosen from the URL and options.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from sengu.core.errors import Failure, UserError
from sengu.load.result import Latency, Result

# Escapes per element, from the line protocol reference. Backslashes are escaped too: the reference reads
# two contiguous backslashes as one, and an unescaped trailing one would swallow the next separator.
# Newlines cannot appear in a line at all, so they are written as the two characters \n.
_MEASUREMENT = str.maketrans({"\\": "\\\\", ",": "\\,", " ": "\\ ", "\n": "\\n"})
_KEY = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n"})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})

FieldValue = int | float | str | bool
BATCH = 5000  # lines per request: InfluxDB's recommended batch size


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT)


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    return text.translate(_KEY)


def field_value(value: FieldValue) -> str | None:
    """One field value in line protocol; None for a float line protocol cannot hold (NaN, infinity)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return '"' + value.translate(_STRING) + '"'


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], timestamp_ns: int) -> str:
    """One point. Tags are sorted (InfluxDB's advice) and empty tag values left out (the protocol forbids them)."""
    head = escape_measurement(measurement)
    for key in sorted(tags):
        if tags[key] != "":
            head += f",{escape_key(key)}={escape_key(tags[key])}"
    rendered = [(escape_key(k), field_value(v)) for k, v in fields.items()]
    body = ",".join(f"{k}={v}" for k, v in rendered if v is not None)
    if not body:
        raise ValueError("a point needs at least one field")
    return f"{head} {body} {timestamp_ns}"


def _check_name(name: str, what: str) -> None:
    if not name:
        raise UserError(f"an InfluxDB {what} cannot be empty")
    if name.startswith("_"):
        raise UserError(f"InfluxDB reserves names starting with '_': {what} {name!r}")
    if what == "tag key" and name == "time":
        raise UserError("InfluxDB reserves 'time': choose another tag key")


def start_ns(result: Result) -> int:
    """The run's start in Unix nanoseconds: ``started_at`` (naive means UTC), else now minus its duration."""
    if result.started_at is None:
        return time.time_ns() - int(result.duration_s * 1e9)
    try:
        when = datetime.fromisoformat(result.started_at)
    except ValueError as e:
        raise UserError(f"the result's started_at {result.started_at!r} is not an ISO 8601 time") from e
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Through a timedelta, in integers: a float of seconds since 1970 has no nanoseconds left to give.
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1_000


def _latency_fields(prefix: str, latency: Latency) -> dict[str, FieldValue]:
    if not latency.measured:  # nothing answered: no latency, and a field left out is InfluxDB's null
        return {f"{prefix}_count": 0}
    return {
        f"{prefix}_count": latency.count,
        f"{prefix}_mean_ms": float(latency.mean),
        f"{prefix}_p50_ms": float(latency.p50),
        f"{prefix}_p90_ms": float(latency.p90),
        f"{prefix}_p99_ms": float(latency.p99),
        f"{prefix}_p999_ms": float(latency.p999),
        f"{prefix}_max_ms": float(latency.max),
    }


def lines(result: Result, *, measurement: str = "sengu_load", tags: Mapping[str, str] | None = None) -> list[str]:
    """The result as line protocol: a point per second, one per endpoint and a summary (see the module doc).

    ``tags`` are added to every point (e.g. ``{"run": "pr-123", "env": "staging"}``) and override the
    defaults ``mode`` and ``target``. Raises UserError for names InfluxDB reserves.
    """
    _check_name(measurement, "measurement")
    for key in tags or {}:
        _check_name(key, "tag key")
    common = {"mode": result.mode, "target": result.target} | dict(tags or {})
    t0 = start_ns(result)
    out: list[str] = []
    for second in result.timeline:
        out.append(
            line(
                measurement,
                common | {"point": "second"},
                {
                    "offered": second.offered,
                    "completed": second.completed,
                    "answered": second.answered,
                    "errors": second.errors,
                }
                # A second with no answer has no latency: the fields are left out, not written as 0.
                | {
                    name: float(value)
                    for name, value in (
                        ("p50_ms", second.p50_ms),
                        ("p99_ms", second.p99_ms),
                        ("max_ms", second.max_ms),
                    )
                    if value is not None
                },
                t0 + second.t * 1_000_000_000,
            )
        )
    for endpoint in result.endpoints:
        fields: dict[str, FieldValue] = {
            "requests": endpoint.requests,
            "errors": endpoint.errors,
            "error_rate": endpoint.errors / endpoint.requests if endpoint.requests else 0.0,
        }
        fields |= _latency_fields("latency", endpoint.latency_ms)
        fields |= {f"status_{code}": n for code, n in sorted(endpoint.statuses.items())}
        out.append(line(measurement, common | {"point": "endpoint", "endpoint": endpoint.name}, fields, t0))
    summary: dict[str, FieldValue] = {
        "duration_s": float(result.duration_s),
        "achieved_rate": float(result.achieved_rate),
        "requests": result.requests,
        "errors": result.errors,
        "error_rate": float(result.error_rate),
        "overflow": result.overflow,
        "workers": result.workers,
        "connections": result.connections,
    }
    if result.offered_rate is not None:
        summary["offered_rate"] = float(result.offered_rate)
    if result.generator_cpu is not None:
        summary["generator_cpu"] = float(result.generator_cpu)
    summary |= _latency_fields("latency", result.latency_ms)
    summary |= _latency_fields("service", result.service_ms)
    summary |= _latency_fields("send_lag", result.send_lag_ms)
    summary |= {f"status_{code}": n for code, n in sorted(result.statuses.items())}
    summary |= {f"error_{kind}": n for kind, n in sorted(result.error_classes.items())}
    if result.interrupted:  # stopped by Ctrl-C: a dashboard should not read the short run as a full one
        summary["interrupted"] = True
    if result.warnings:
        summary["warnings"] = "; ".join(result.warnings)
    out.append(line(measurement, common | {"point": "summary"}, summary, t0))
    return out


# --- the write --------------------------------------------------------------------------------------------


def endpoint(
    url: str, *, org: str | None = None, bucket: str | None = None, db: str | None = None
) -> tuple[str, dict[str, str], int]:
    """Where to POST: (URL without query, query parameters, API version 1 or 2).

    A URL ending in ``/api/v2/write`` or ``/write`` says the version itself (its query parameters are
    kept, the options override them); a bare server URL takes it from the options — ``bucket`` means
    InfluxDB 2/3, ``db`` InfluxDB 1.
    """
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise UserError(f"--influx {url!r} is not a URL: {e}") from e
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UserError(f"--influx {url!r} must be an http:// or https:// URL of the InfluxDB server")
    params = dict(parsed.params)
    path = parsed.path.rstrip("/")
    if path.endswith("/api/v2/write"):
        version = 2
    elif path.endswith("/write"):
        version = 1
    elif bucket or "bucket" in params:
        version, path = 2, path + "/api/v2/write"
    elif db or "db" in params:
        version, path = 1, path + "/write"
    else:
        raise UserError(
            f"--influx {url}: say where to write — a bucket for InfluxDB 2/3 (--influx-bucket, with "
            "--influx-org and --influx-token-env) or a database for InfluxDB 1 (--influx-db)"
        )
    if version == 2:
        if bucket:
            params["bucket"] = bucket
        if org:
            params["org"] = org
        if not params.get("bucket"):
            raise UserError(f"--influx {url}: InfluxDB 2/3 needs a bucket (--influx-bucket)")
        params["precision"] = "ns"
    else:
        if db:
            params["db"] = db
        if not params.get("db"):
            raise UserError(f"--influx {url}: InfluxDB 1 needs a database (--influx-db)")
        # InfluxDB 1 reads timestamps as nanoseconds unless told otherwise, so no precision is sent.
    base = str(parsed.copy_with(path=path, query=None, fragment=None))
    return base, params, version


def _shown(url: str) -> str:
    """The URL as messages may show it: no user:password, no query (a v1 URL can carry ``p=``)."""
    import httpx

    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def _server_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500] or "(no message)"
    if isinstance(data, dict):
        # InfluxDB 2/3 answer {"code": ..., "message": ...}; InfluxDB 1 answers {"error": ...}.
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])[:500]
    return text[:500]


def _unreachable(e: Exception, timeout: float) -> str:
    """Why a request got no answer, in words (not the HTTP library's exception names)."""
    import httpx

    if isinstance(e, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(e, httpx.ConnectError):
        return "cannot connect (nothing listens there, or the host is unreachable)"
    return str(e) or type(e).__name__


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "text/plain; charset=utf-8", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    return headers


async def check(
    url: str,
    *,
    token: str | None = None,
    org: str | None = None,
    bucket: str | None = None,
    db: str | None = None,
    timeout: float = 10.0,
) -> None:
    """Before a run: raise UserError when InfluxDB cannot take the write (unreachable, no such database or
    bucket, a refused token), so a run is never measured only to be lost at the end.

    It writes no point: an empty write, which InfluxDB checks for the database/bucket and the token like
    any other (and answers 204). Other refusals of the empty body itself are left to the real write.
    """
    import httpx

    base, params, version = endpoint(url, org=org, bucket=bucket, db=db)
    shown = _shown(base)
    where = "--influx-bucket and --influx-org" if version == 2 else "--influx-db"
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        try:
            response = await client.post(base, params=params, headers=_headers(token), content=b"")
        except httpx.HTTPError as e:
            raise UserError(f"--influx {shown}: {_unreachable(e, timeout)}") from None
    status = response.status_code
    if status == 404:
        raise UserError(f"--influx {shown}: {_server_message(response.content)} (check {where})")
    if status in (401, 403):
        raise UserError(
            f"--influx {shown}: {status} {response.reason_phrase}: {_server_message(response.content)} "
            "(check the token in --influx-token-env and that it may write there)"
        )


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def write(
    url: str,
    lines: Sequence[str],
    *,
    token: str | None = None,
    org: str | None = None,
    bucket: str | None = None,
    db: str | None = None,
    timeout: float = 10.0,
) -> int:
    """POST ``lines`` to InfluxDB (in batches of 5,000); return how many were written.

    Raises UserError when the URL and options do not say where to write, and Failure with the server's
    own message when InfluxDB refuses (400 bad line, 401 token, 404 bucket…) or cannot be reached.
    The token goes only into the Authorization header, never into a message.
    """
    import httpx

    base, params, _version = endpoint(url, org=org, bucket=bucket, db=db)
    if not lines:
        return 0
    shown = _shown(base)
    headers = _headers(token)
    written = 0
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for batch in _batches(lines, BATCH):
            try:
                response = await client.post(
                    base, params=params, headers=headers, content="\n".join(batch).encode("utf-8")
                )
            except httpx.HTTPError as e:
                raise Failure(f"could not write to InfluxDB at {shown}: {_unreachable(e, timeout)}") from e
            if response.status_code >= 300:
                message = _server_message(response.content)
                hint = ""
                if response.status_code in (401, 403):
                    hint = " (check the token and that it may write to this bucket or database)"
                elif response.status_code == 404:
                    hint = " (check the bucket and org, or the database, exist)"
                raise Failure(
                    f"InfluxDB at {shown} refused the write: {response.status_code} "
                    f"{response.reason_phrase}: {message}{hint}"
                )
            written += len(batch)
    return written
