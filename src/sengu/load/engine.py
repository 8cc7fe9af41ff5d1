"""The load generator: HTTP/1.1 keep-alive connections on uvloop, in the open or the closed model.

Why it is built this way (measurements in /work/shared/notes/load-engine.md): a raw ``asyncio.Protocol``
on uvloop with httptools parsing the answers reaches wrk's rate on one core, where aiohttp or Locust reach
a tenth of it; one asyncio Task per request tops out near 19k req/s, so nothing here creates a Task or a
Future per request — everything is a plain callback.

Open model (``LoadConfig.schedule`` set): a ticker wakes about every millisecond and releases every request
whose due time (from the :class:`~sengu.load.schedule.Schedule`) has passed. A released request goes to an
idle connection, or waits in a bounded backlog until a connection is free; when the backlog is full it is
counted as ``overflow`` — never dropped silently. Latency counts from the *due* time, so a stalled server
shows up in the numbers instead of slowing the generator down (coordinated omission). Service time counts
from the write, send lag is write − due.

Closed model (no schedule, ``--rate max``): each connection writes its next request as soon as it has the
answer to the previous one; raw throughput, latency equals service time.

Per request the hot path only appends integers (microseconds) to lists. Every 10 ms they are counted
(``collections.Counter``, in C); once a second the distinct values are queued for the HDR histograms and
recorded a slice per 10 ms: a few thousand ``record_value`` calls a second instead of one per request
(hdrh records in pure Python, ~0.8 µs each), and never one long pause that would delay the ticker.

``achieved_rate`` counts the answers to requests due in the measured part, per second of it: when every
request is answered it equals the offered rate, however short the run and however slow the answers.
Answers that came late (the server slow, or the generator behind and catching up in the drain) still
count here; their lateness is in the latency, measured from the intended start, and in the send lag.

Stopping early (Ctrl-C): the ``stop`` callable given to :func:`measure` is polled every 10 ms; once it
says so, nothing more is released, answers already on their way get a short grace, and what was measured
is returned with ``interrupted`` set and the measured part cut to the time actually run. Requests still
unanswered then are left out (neither answers nor errors: the user stopped them) and said in a warning.

Time is ``time.perf_counter`` rather than :mod:`sengu.core.clock`: measuring microseconds needs the raw
high-resolution clock (uvloop's ``loop.time()`` only moves in whole milliseconds), and the pure part —
when requests are due — is tested on its own in :mod:`sengu.load.schedule`.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast
from urllib.parse import quote, urlsplit

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]
from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from sengu.core.errors import UserError
from sengu.load.result import Endpoint, Latency, Mode, Result, Second
from sengu.load.schedule import Schedule, constant

# Histograms hold microseconds from 1 µs to 60 s at 3 significant figures; slower answers count as 60 s.
HIGHEST_US = 60_000_000
_SIG_FIGS = 3
_TICK_S = 0.001  # the open model's release period: ~1 ms keeps send lag low at 1,000 wake-ups/s
_HOUSEKEEPING_S = 0.01  # timeouts, counting samples, the end of the run
_INF = math.inf
# Histogram values recorded per housekeeping (~0.8 µs each in hdrh): ~0.2 ms every 10 ms, 25,000 a second —
# more than the distinct values a second brings even at full speed; what is left over is recorded at the end.
_FOLD_BUDGET = 250
# After a stop: how long answers already on their way may still come in (the timeout, if shorter).
_STOP_GRACE_S = 1.0

# Generator self-check thresholds (Result.warnings).
_ACHIEVED_SHORTFALL = 0.01  # achieved more than 1% below offered
_SEND_LAG_P99_MS = 10.0
_RELEASE_LATE_P99_MS = 10.0
_CPU_BUSY = 0.9  # share of one core

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Everything printable in ASCII stays as it is (paths from access logs are already percent-encoded);
# only spaces, control characters and non-ASCII get encoded.
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))

Headers = Sequence[tuple[str, str]] | Mapping[str, str]


class Request(NamedTuple):
    """One request of the mix: the endpoint it counts under, and what to send."""

    endpoint: str  # e.g. "GET /n/{id}"
    method: str
    path: str  # path and query, e.g. "/n/42?x=1"
    headers: Headers = ()


RequestLike = Request | tuple[str, str, str, Headers]

ProgressCallback = Callable[["Progress"], None]
Stop = Callable[[], bool]  # polled while running: True ends the run early, keeping what was measured


@dataclass(frozen=True)
class Target:
    """Where the load goes: scheme, host, port, and a path prefix put before every request's path."""

    scheme: str
    host: str
    port: int
    base_path: str  # "" or "/prefix" without a trailing slash

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UserError(f"--target {url!r}: use an http:// or https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise UserError(f"--target {url!r}: the port is not a number from 0 to 65535") from None
        if not parts.hostname:
            raise UserError(f"--target {url!r}: no host")
        if parts.query or parts.fragment:
            raise UserError(f"--target {url!r}: the target takes no query or fragment; put them in the requests")
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, port or default, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.base_path}"


@dataclass(frozen=True)
class LoadConfig:
    """Everything one run needs. Plain data, so worker processes receive it as it is."""

    target: str  # http://host:port[/prefix] or https://…
    requests: Sequence[RequestLike]  # cycled through in order; the mix's weights are the caller's to sample
    schedule: Schedule | None = None  # the open model's rates; None is the closed model (--rate max)
    duration_s: float | None = None  # the closed model's length; the open model runs for schedule.duration
    connections: int = 64  # at most this many, opened as needed (open model) or all at once (closed)
    timeout_s: float = 10.0  # per request, from the moment it was written; also connect and drain limits
    headers: Sequence[tuple[str, str]] = ()  # --header: added to every request, winning over the request's own
    warmup_s: float = 0.0  # run this long before measuring (open model: at the schedule's first rate)
    max_backlog: int | None = None  # released requests waiting for a connection; None: 10 s of the peak rate
    insecure: bool = False  # https without certificate verification
    phase: float = 0.0  # where this worker's requests fall between one process's (see Schedule.times)

    @property
    def mode(self) -> Mode:
        return "closed" if self.schedule is None else "open"

    @property
    def measured_s(self) -> float:
        if self.schedule is not None:
            return self.schedule.duration
        return self.duration_s or 0.0

    @property
    def backlog_limit(self) -> int:
        if self.max_backlog is not None:
            return self.max_backlog
        peak = self.schedule.peak_rate if self.schedule is not None else 0.0
        # 10 s of the peak, within bounds: a backlog longer than that only measures how long it is.
        return min(1_000_000, max(1_000, math.ceil(10 * peak)))

    @property
    def warmup_rate(self) -> float:
        """The open model's warm-up rate: where the schedule starts, or where its first ramp goes if from 0."""
        if self.schedule is None:
            return 0.0
        first = self.schedule.segments[0]
        return first.start_rate or first.end_rate

    def validate(self) -> None:
        problems = []
        if not self.requests:
            problems.append("there are no requests to send")
        if self.schedule is None:
            if self.duration_s is None or self.duration_s <= 0:
                problems.append("the closed model (--rate max) needs a positive --duration")
        elif self.duration_s is not None and abs(self.duration_s - self.schedule.duration) > 1e-6:
            problems.append("give the open model's length by its schedule, not by duration_s")
        if self.connections < 1:
            problems.append(f"--connections must be at least 1, not {self.connections}")
        if not self.timeout_s > 0:
            problems.append(f"--timeout must be positive, not {self.timeout_s}")
        if self.warmup_s < 0:
            problems.append(f"the warm-up must not be negative, not {self.warmup_s}")
        if self.max_backlog is not None and self.max_backlog < 0:
            problems.append(f"the backlog limit must not be negative, not {self.max_backlog}")
        if problems:
            raise UserError("; ".join(problems))

    def share(self, index: int, count: int) -> LoadConfig:
        """Worker ``index`` of ``count``: 1/count of the rate, of the connections and of the backlog.

        Each worker starts at a different place in the request list so that together they send the mix
        in about the order one process would, rather than the same request ``count`` times at once.
        """
        connections = self.connections // count + (1 if index < self.connections % count else 0)
        offset = len(self.requests) * index // count
        rotated = list(self.requests[offset:]) + list(self.requests[:offset])
        return replace(
            self,
            requests=rotated,
            schedule=self.schedule.scaled(1 / count) if self.schedule is not None else None,
            phase=index / count,
            connections=max(1, connections),
            max_backlog=max(1, math.ceil(self.backlog_limit / count)),
        )


@dataclass(frozen=True)
class Progress:
    """Handed to the progress callback once a second: the second just ended and the totals so far."""

    second: Second
    duration_s: float  # the measured part's planned length
    offered: int  # totals since the measured part began
    requests: int
    errors: int
    overflow: int
    in_flight: int  # at this moment
    backlog: int
    send_lag_p99_ms: float = 0.0  # of the requests written in the second just ended (open model)


@dataclass
class SecondData:
    """One second as a process measured it; ``hist`` (encoded) lets workers' seconds merge exactly."""

    t: int
    offered: int
    completed: int
    errors: int
    p50_us: int | None  # None: no sample this second (no latency, rather than 0)
    p99_us: int | None
    max_us: int | None
    hist: bytes | None = None
    answered: int = 0  # HTTP answers (completed counts failures too)


@dataclass
class Measurements:
    """What one process measured, with its histograms encoded: picklable, mergeable into a Result."""

    mode: Mode
    target: str
    duration_s: float
    offered: int  # requests due in the measured part (open model) or written (closed model)
    offered_rate: float | None
    answered_in_window: int  # answers to requests due within the measured part (the achieved rate's count)
    endpoints: list[str]
    statuses: list[dict[int, int]]  # per endpoint
    error_classes: list[dict[str, int]]  # per endpoint
    overflow: int
    latency: list[bytes]  # per endpoint, encoded HDR histograms of microseconds
    service: bytes
    send_lag: bytes
    seconds: list[SecondData]
    cpu_s: float
    wall_s: float
    connections: int
    started_at: str
    backlog_limit: int
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False  # stopped early: duration_s is the part measured, planned_s what was asked
    planned_s: float | None = None
    cut: int = 0  # when interrupted: requests unanswered at the stop, not counted


# A request ready to go: its bytes, its endpoint's index, whether it is HEAD (the answer has no body).
_Prepared = tuple[bytes, int, bool]


def _new_hist() -> Any:
    return HdrHistogram(1, HIGHEST_US, _SIG_FIGS)


def encode_request(method: str, path: str, headers: Headers, extra: Sequence[tuple[str, str]], target: Target) -> bytes:
    """The request's bytes, once: a Host header from the target unless given, and ``extra`` winning over ``headers``."""
    if not _TOKEN.fullmatch(method):
        raise UserError(f"request method {method!r} is not an HTTP method")
    if not path.startswith("/"):
        raise UserError(f"request path {path!r} must start with /")
    own = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    overridden = {name.lower() for name, _ in extra}
    merged = [(n, v) for n, v in own if n.lower() not in overridden] + list(extra)
    names = {name.lower() for name, _ in merged}
    lines = [f"{method} {quote(target.base_path + path, safe=_PATH_SAFE)} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {target.host_header}")
    if "user-agent" not in names:
        lines.append("User-Agent: sengu-load")
    for name, value in merged:
        if not _TOKEN.fullmatch(name):
            raise UserError(f"header name {name!r} is not an HTTP token")
        if "\r" in value or "\n" in value:
            raise UserError(f"header {name}: the value must be one line")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise UserError(f"header values must be Latin-1 text ({method} {path})") from None


@dataclass(frozen=True)
class _Plan:
    """A validated config with its requests encoded once, and the TLS context (not picklable: built per process)."""

    config: LoadConfig
    target: Target
    endpoints: list[str]
    requests: list[_Prepared]
    ssl: ssl.SSLContext | None


def prepare(config: LoadConfig) -> _Plan:
    """Validate the config and encode every request; raises UserError for anything the user can fix."""
    config.validate()
    target = Target.parse(config.target)
    endpoints: dict[str, int] = {}
    prepared: list[_Prepared] = []
    for item in config.requests:
        endpoint, method, path, headers = item
        index = endpoints.setdefault(endpoint, len(endpoints))
        data = encode_request(method, path, headers, config.headers, target)
        prepared.append((data, index, method == "HEAD"))
    context: ssl.SSLContext | None = None
    if target.scheme == "https":
        context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        if config.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return _Plan(config, target, list(endpoints), prepared, context)


class _Conn(asyncio.Protocol):
    """One keep-alive connection, one request in flight at a time (no pipelining).

    The parser calls back into this object; completion is noted in a flag and acted on after
    ``feed_data`` returns, so the engine never writes the next request from inside the parser.
    """

    __slots__ = (
        "busy",
        "closing",
        "done",
        "endpoint",
        "engine",
        "head",
        "intended",
        "keep_alive",
        "parser",
        "status",
        "transport",
        "written",
    )

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.transport: asyncio.Transport | None = None
        self.parser = HttpResponseParser(self)
        self.busy = False  # a request is in flight
        self.done = False  # the parser saw the end of the answer
        self.closing = False
        self.keep_alive = True
        self.status = 0
        self.endpoint = 0
        self.head = False
        self.intended = 0.0  # when the request was due (open model) or written (closed model)
        self.written = 0.0

    # asyncio callbacks: an exception escaping one would only be logged by the loop, so a bug ends the run.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        try:
            self.engine.connected(self)
        except Exception as exc:
            self.engine.crash(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.engine.lost(self)
        except Exception as error:
            self.engine.crash(error)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            # Nothing was asked (e.g. a 408 before the server closes an idle connection): not a request's error.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except (HttpParserError, HttpParserUpgrade):
            self.engine.failed(self, "protocol")
            return
        try:
            if self.done:
                self.done = False
                self.engine.answered(self)
        except Exception as exc:
            self.engine.crash(exc)

    # httptools callbacks (it looks them up once, when the parser is made).
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.head and self.status >= 200:
            # An answer to HEAD has headers (Content-Length included) and no body, and httptools cannot be told
            # so: it would wait for a body. The answer ends here, and a fresh parser reads the next one.
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()
            self.parser = HttpResponseParser(self)

    def on_message_complete(self) -> None:
        if self.head or 100 <= self.status < 200:  # HEAD ended at its headers; 1xx are interim answers
            return
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class _Engine:
    """One run in one process: the pool, the ticker, the bookkeeping. Single-threaded, driven by callbacks."""

    def __init__(
        self, plan: _Plan, progress: ProgressCallback | None, keep_seconds: bool, stop: Stop | None = None
    ) -> None:
        config = plan.config
        self.plan = plan
        self.progress = progress
        self.stop = stop
        self.interrupted = False
        self.cut = 0  # requests unanswered when the run was stopped early: not counted
        self.keep_seconds = keep_seconds
        self.open_model = config.schedule is not None
        self.requests = plan.requests
        self.max_connections = config.connections
        self.timeout = config.timeout_s
        self.backlog_limit = config.backlog_limit
        self.duration = config.measured_s

        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.conns: set[_Conn] = set()  # connected
        self.idle: list[_Conn] = []  # connected and free; never non-empty while the backlog is
        self.backlog: deque[tuple[float, _Prepared]] = deque()
        self.connect_tasks: set[asyncio.Task[None]] = set()
        self.n_conns = 0  # connected or connecting
        self.connecting = 0
        self.in_flight = 0
        self.next_request = 0
        self.running = False  # closed model: connections keep sending
        self.draining = False
        self.stopped = False
        self.timer: asyncio.Handle | None = None
        self.family = socket.AF_INET
        self.address = ""  # the target host's address, looked up once

        # Set in run(); perf_counter instants.
        self.t_start = 0.0
        self.t0 = _INF  # start of the measured part: requests due (open) or written (closed) earlier are not counted
        self.t_end = _INF
        self.drain_deadline = _INF
        self.next_due = _INF
        self.due: Iterator[float] = iter(())
        self.next_housekeeping = 0.0

        # Per second, then folded into histograms (see module docstring).
        n = len(plan.endpoints)
        self.lat: list[list[int]] = [[] for _ in range(n)]
        self.svc: list[int] = []
        self.lag: list[int] = []
        self.release_late: list[int] = []
        self.sec = 0
        self.next_second_at = _INF
        # Requests due (open) or written (closed) per second of the measured part, counted by when they were
        # due rather than when the second was closed, so a second's offered count is exact.
        self.offered_by = [0] * (math.ceil(self.duration) + 1)
        self.sec_completed = 0
        self.sec_errors = 0
        self.sec_answered = 0
        # Whole run.
        self.statuses: list[dict[int, int]] = [{} for _ in range(n)]
        self.classes: list[dict[str, int]] = [{} for _ in range(n)]
        self.lat_hists = [_new_hist() for _ in range(n)]
        self.svc_hist = _new_hist()
        self.lag_hist = _new_hist()
        self.release_hist = _new_hist()
        self.lat_counts = [Counter[int]() for _ in range(n)]
        self.svc_counts = Counter[int]()
        self.lag_counts = Counter[int]()
        self.release_counts = Counter[int]()
        self.sec_counts = Counter[int]()  # all endpoints' latencies of the second, for its percentiles
        self.folding: deque[tuple[Any, list[tuple[int, int]], SecondData | None]] = deque()
        self.seconds: list[SecondData] = []
        self.offered = 0
        self.completed = 0
        self.errors = 0
        self.overflow = 0
        self.answered_in_window = 0

    # --- the run -------------------------------------------------------------------------------------------

    async def run(self) -> Measurements:
        config = self.plan.config
        await self._resolve()
        started_at = datetime.now(UTC)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        self.t_start = time.perf_counter()
        self.t0 = self.t_start + config.warmup_s
        self.t_end = self.t0 + self.duration
        self.next_second_at = self.t0 + 1
        self.next_housekeeping = self.t_start + _HOUSEKEEPING_S
        if self.open_model:
            self.due = self._due_times()
            self.next_due = next(self.due, _INF)
        else:
            self.running = True
            self.open_connections(self.max_connections)
        self.timer = self.loop.call_soon(self.tick)
        try:
            await self.finished
        finally:
            self.shutdown()
        cpu_s, wall_s = time.thread_time() - cpu0, time.perf_counter() - wall0
        return self._measurements(started_at, cpu_s, wall_s)

    def _due_times(self) -> Iterator[float]:
        config = self.plan.config
        assert config.schedule is not None
        if config.warmup_s > 0 and config.warmup_rate > 0:
            for t in constant(config.warmup_rate, config.warmup_s).times(config.phase):
                yield self.t_start + t
        for t in config.schedule.times(config.phase):
            yield self.t0 + t

    def tick(self) -> None:
        try:
            now = time.perf_counter()
            if self.next_due <= now:
                self.release(now)
            if now >= self.next_second_at:  # after release: everything due in the ending second is counted
                self.end_seconds(now)
            if now >= self.next_housekeeping:
                self.housekeeping(now)
            if self.stopped:
                return
            if self.open_model and not self.draining:
                # Sleep until the next request is due, but wake at least for housekeeping; libuv timers count
                # whole milliseconds, so asking for less than 1 ms would spin.
                delay = min(max(self.next_due - now, _TICK_S), _HOUSEKEEPING_S)
            else:
                delay = _HOUSEKEEPING_S
            self.timer = self.loop.call_later(delay, self.tick)
        except Exception as exc:
            self.crash(exc)

    def release(self, now: float) -> None:
        """Release every request due by ``now``: to an idle connection, else the backlog, else overflow."""
        due = self.next_due
        t0 = self.t0
        if due >= t0:
            self.release_late.append(int((now - due) * 1e6))
        requests, n = self.requests, len(self.requests)
        i = self.next_request
        idle, backlog, limit = self.idle, self.backlog, self.backlog_limit
        offered_by = self.offered_by
        while due <= now:
            request = requests[i]
            i += 1
            if i == n:
                i = 0
            if due >= t0:
                offered_by[int(due - t0)] += 1
            if idle:
                self.send(idle.pop(), due, request)
            elif len(backlog) < limit:
                backlog.append((due, request))
            else:
                if due >= t0:
                    self.overflow += 1
                self.error(request[1], due, "overflow")
            due = next(self.due, _INF)
        self.next_request = i
        self.next_due = due
        if backlog:
            self.refill()
        if due == _INF:
            self.begin_drain(now)

    def send(self, conn: _Conn, intended: float | None, request: _Prepared) -> None:
        now = time.perf_counter()
        if intended is None:  # closed model: due when written
            intended = now
            if now >= self.t0 and now < self.t_end:
                self.offered_by[int(now - self.t0)] += 1
        elif intended >= self.t0:
            self.lag.append(int((now - intended) * 1e6))
        conn.endpoint = request[1]
        conn.head = request[2]
        conn.intended = intended
        conn.written = now
        conn.status = 0
        conn.busy = True
        self.in_flight += 1
        conn.send(request[0])

    def next_closed_request(self) -> _Prepared:
        request = self.requests[self.next_request]
        self.next_request = (self.next_request + 1) % len(self.requests)
        return request

    # --- outcomes ------------------------------------------------------------------------------------------

    def answered(self, conn: _Conn) -> None:
        now = time.perf_counter()
        conn.busy = False
        self.in_flight -= 1
        intended = conn.intended
        if intended >= self.t0:
            endpoint = conn.endpoint
            self.lat[endpoint].append(int((now - intended) * 1e6))
            self.svc.append(int((now - conn.written) * 1e6))
            status = conn.status
            counts = self.statuses[endpoint]
            counts[status] = counts.get(status, 0) + 1
            self.sec_completed += 1
            self.sec_answered += 1
            if status >= 500:
                self.sec_errors += 1
            if intended < self.t_end:
                self.answered_in_window += 1
        if conn.keep_alive:
            self.free(conn)
        else:
            conn.close()  # lost() opens a replacement if one is needed

    def error(self, endpoint: int, intended: float, kind: str) -> None:
        """A request that got no HTTP answer, of one of result.ERROR_CLASSES."""
        if intended >= self.t0:
            counts = self.classes[endpoint]
            counts[kind] = counts.get(kind, 0) + 1
            self.sec_completed += 1
            self.sec_errors += 1

    def failed(self, conn: _Conn, kind: str) -> None:
        """The request in flight on ``conn`` failed; the connection is no longer usable."""
        if conn.busy:
            conn.busy = False
            self.in_flight -= 1
            self.error(conn.endpoint, conn.intended, kind)
        conn.abort()

    # --- the pool ------------------------------------------------------------------------------------------

    def free(self, conn: _Conn) -> None:
        """``conn`` can take a request."""
        if conn.closing:
            return
        if not self.open_model:
            # The end is checked here too, not only by housekeeping, so no request is written after it.
            if self.running and time.perf_counter() < self.t_end:
                self.send(conn, None, self.next_closed_request())
            else:
                conn.close()
        elif self.backlog:
            intended, request = self.backlog.popleft()
            self.send(conn, intended, request)
        else:
            self.idle.append(conn)

    def open_connections(self, count: int) -> None:
        for _ in range(count):
            self.n_conns += 1
            self.connecting += 1
            task = self.loop.create_task(self._connect())
            self.connect_tasks.add(task)
            task.add_done_callback(self.connect_tasks.discard)

    async def _resolve(self) -> None:
        """Look the host up once: a lookup per connection would cost a thread round trip each time."""
        target = self.plan.target
        try:
            infos = await asyncio.wait_for(
                self.loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise UserError(f"--target {target.url}: cannot resolve {target.host} ({exc})") from None
        candidates = list(dict.fromkeys((family, str(address[0])) for family, _, _, _, address in infos))
        self.family, self.address = candidates[0]
        if len(candidates) > 1:
            # "localhost" is often ::1 then 127.0.0.1 while the server listens on only one: keep the first that
            # accepts a connection (or the first, whose refusals will then be counted).
            for family, address in candidates:
                try:
                    transport, _ = await asyncio.wait_for(
                        self.loop.create_connection(asyncio.Protocol, address, target.port, family=family),
                        self.timeout,
                    )
                except (OSError, TimeoutError):
                    continue
                transport.close()
                self.family, self.address = family, address
                break

    async def _connect(self) -> None:
        target = self.plan.target
        conn = _Conn(self)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: conn,
                    self.address,
                    target.port,
                    family=self.family,
                    ssl=self.plan.ssl,
                    server_hostname=target.host if self.plan.ssl is not None else None,
                ),
                self.timeout,
            )
        except (OSError, TimeoutError):  # refused, unreachable, TLS failure (ssl.SSLError is an OSError), timeout
            if conn.transport is None:
                self.connecting -= 1
                self.n_conns -= 1
                self.connect_failed()
        except Exception as exc:
            self.crash(exc)

    def connected(self, conn: _Conn) -> None:
        self.connecting -= 1
        self.conns.add(conn)
        if self.stopped:
            conn.abort()
        else:
            self.free(conn)

    def connect_failed(self) -> None:
        """Charge a failed connect to the request that was waiting for it, then try again if others wait."""
        if self.stopped:
            return
        if not self.open_model:
            now = time.perf_counter()
            if self.running and now < self.t_end:
                # Counted as offered too: in the closed model "offered" is what the generator tried to send.
                if now >= self.t0:
                    self.offered_by[int(now - self.t0)] += 1
                self.error(self.next_closed_request()[1], now, "connect")
        elif self.backlog:
            intended, request = self.backlog.popleft()
            self.error(request[1], intended, "connect")
        self.refill()

    def lost(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        self.n_conns -= 1
        if conn.busy:
            conn.busy = False
            self.in_flight -= 1
            self.error(conn.endpoint, conn.intended, "reset")
        elif conn in self.idle:
            self.idle.remove(conn)
        self.refill()

    def refill(self) -> None:
        """Open connections for what waits: the backlog (open model), or the fixed pool (closed model)."""
        if self.stopped:
            return
        room = self.max_connections - self.n_conns
        if room <= 0:
            return
        if self.open_model:
            need = len(self.backlog) - self.connecting
            if need > 0:
                self.open_connections(min(need, room))
        elif self.running:
            self.open_connections(room)

    # --- time passing --------------------------------------------------------------------------------------

    def housekeeping(self, now: float) -> None:
        self.next_housekeeping = now + _HOUSEKEEPING_S
        if self.stop is not None and not self.interrupted and self.stop():
            self.interrupt(now)
        self.count_samples()
        self.fold(_FOLD_BUDGET)
        limit = now - self.timeout
        for conn in [c for c in self.conns if c.busy and c.written < limit]:
            self.failed(conn, "timeout")
        if not self.open_model and self.running and now >= self.t_end:
            self.running = False
            self.begin_drain(now)
        if self.draining and ((self.in_flight == 0 and not self.backlog) or now >= self.drain_deadline):
            self.finish()

    def begin_drain(self, now: float) -> None:
        """No more requests are released; those in flight or waiting get up to the timeout to finish."""
        if self.draining:
            return
        self.draining = True
        self.drain_deadline = max(now, self.t_end) + self.timeout
        for conn in self.idle:
            conn.close()
        self.idle.clear()

    def interrupt(self, now: float) -> None:
        """Stop early: release nothing more, give answers on their way a short grace, keep what was measured."""
        self.interrupted = True
        self.duration = round(max(0.0, min(now, self.t_end) - self.t0), 3)
        self.next_due = _INF
        self.due = iter(())
        self.running = False
        self.begin_drain(now)
        self.drain_deadline = min(self.drain_deadline, now + min(self.timeout, _STOP_GRACE_S))

    def finish(self) -> None:
        if self.interrupted:
            # Stopped by the user, not by the server: what is unanswered now is neither an answer nor an error.
            for conn in list(self.conns):
                if conn.busy:
                    conn.busy = False
                    self.in_flight -= 1
                    self.cut += 1
                conn.abort()
            self.cut += len(self.backlog)
            self.backlog.clear()
        for conn in list(self.conns):
            self.failed(conn, "timeout")  # counts only the ones still busy: they outlived the drain
        while self.backlog:
            intended, request = self.backlog.popleft()
            self.error(request[1], intended, "timeout")  # never written: due longer ago than the timeout
        if self.sec_completed or self.lat_pending() or any(self.offered_by[self.sec :]):
            self.end_second()
        self.fold(_INF)
        self.stopped = True
        if not self.finished.done():
            self.finished.set_result(None)

    def crash(self, exc: BaseException) -> None:
        """A bug or a failing progress callback: stop, and let run() raise it."""
        self.stopped = True
        if not self.finished.done():
            self.finished.set_exception(exc)

    def shutdown(self) -> None:
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()
        for task in list(self.connect_tasks):
            task.cancel()
        for conn in list(self.conns):
            conn.abort()

    def fold(self, budget: float) -> None:
        """Record up to ``budget`` queued (value, count) pairs into their histograms (all of them: ``math.inf``)."""
        folding = self.folding
        while folding and budget > 0:
            hist, items, second = folding[0]
            take = items if len(items) <= budget else items[-int(budget) :]
            for value, n in take:
                hist.record_value(value if value < HIGHEST_US else HIGHEST_US, n)
            budget -= len(take)
            if take is items:
                folding.popleft()
                if second is not None:
                    second.hist = hist.encode()
            else:
                del items[-len(take) :]

    def end_seconds(self, now: float) -> None:
        while now >= self.next_second_at:
            self.end_second()

    def lat_pending(self) -> bool:
        return any(self.lat) or bool(self.svc) or bool(self.sec_counts)

    def count_samples(self) -> None:
        """Move the samples gathered since the last call into this second's counters (C-fast, from lists)."""
        for endpoint, samples in enumerate(self.lat):
            if samples:
                self.lat_counts[endpoint].update(samples)
                self.sec_counts.update(samples)
                samples.clear()
        for samples, counts in (
            (self.svc, self.svc_counts),
            (self.lag, self.lag_counts),
            (self.release_late, self.release_counts),
        ):
            if samples:
                counts.update(samples)
                samples.clear()

    def end_second(self) -> None:
        """Record the second's summary, report progress; queue its counted values for the histograms.

        Recording a few thousand distinct values into hdrh takes milliseconds of pure Python, which would hold
        the ticker up once a second and show as send lag; so they queue in ``self.folding`` and go into the
        histograms a slice at a time (see fold). Counting is spread the same way (count_samples).
        """
        self.count_samples()
        lag_p99_us = _percentiles(self.lag_counts)[1]
        for counts, hist in (
            *zip(self.lat_counts, self.lat_hists, strict=True),
            (self.svc_counts, self.svc_hist),
            (self.lag_counts, self.lag_hist),
            (self.release_counts, self.release_hist),
        ):
            if counts:
                self.folding.append((hist, list(counts.items()), None))
                counts.clear()
        second = self.sec_counts
        self.sec_counts = Counter()
        p50, p99, top = _percentiles(second) if second else (None, None, None)
        offered = self.offered_by[self.sec] if self.sec < len(self.offered_by) else 0
        data = SecondData(
            self.sec, offered, self.sec_completed, self.sec_errors, p50, p99, top, answered=self.sec_answered
        )
        self.seconds.append(data)
        if self.keep_seconds:  # a histogram per second, so several workers' seconds merge exactly
            self.folding.append((_new_hist(), list(second.items()), data))
        self.offered += offered
        self.completed += self.sec_completed
        self.errors += self.sec_errors
        self.sec += 1
        self.next_second_at += 1
        self.sec_completed = self.sec_errors = self.sec_answered = 0
        if self.progress is not None:
            self.progress(
                Progress(
                    second=_second(data),
                    duration_s=self.duration,
                    offered=self.offered,
                    requests=self.completed,
                    errors=self.errors,
                    overflow=self.overflow,
                    in_flight=self.in_flight,
                    backlog=len(self.backlog),
                    send_lag_p99_ms=lag_p99_us / 1000,
                )
            )

    def _measurements(self, started_at: datetime, cpu_s: float, wall_s: float) -> Measurements:
        config = self.plan.config
        warnings = []
        if self.open_model and self.release_hist.get_total_count():
            late_p99 = self.release_hist.get_value_at_percentile(99) / 1000
            if late_p99 > _RELEASE_LATE_P99_MS:
                warnings.append(
                    f"the generator released requests late (p99 {late_p99:.0f} ms after they were due): "
                    "it is short of CPU; use more --workers"
                )
        return Measurements(
            mode=config.mode,
            target=self.plan.target.url,
            duration_s=float(self.duration),
            offered=self.offered,
            offered_rate=config.schedule.mean_rate if config.schedule is not None else None,
            answered_in_window=self.answered_in_window,
            endpoints=list(self.plan.endpoints),
            statuses=self.statuses,
            error_classes=self.classes,
            overflow=self.overflow,
            latency=[h.encode() for h in self.lat_hists],
            service=self.svc_hist.encode(),
            send_lag=self.lag_hist.encode(),
            seconds=self.seconds,
            cpu_s=cpu_s,
            wall_s=wall_s,
            connections=config.connections,
            started_at=(started_at + timedelta(seconds=config.warmup_s)).replace(microsecond=0).isoformat(),
            backlog_limit=self.backlog_limit,
            warnings=warnings,
            interrupted=self.interrupted,
            planned_s=float(config.measured_s) if self.interrupted else None,
            cut=self.cut,
        )


def _percentiles(counts: Counter[int]) -> tuple[int, int, int]:
    """p50, p99 and max of a second's samples, exactly (the values are few: whole microseconds)."""
    total = sum(counts.values())
    if not total:
        return 0, 0, 0
    values = sorted(counts)
    p50 = p99 = values[-1]
    want50, want99 = math.ceil(total * 0.5), math.ceil(total * 0.99)
    seen = 0
    found50 = False
    for value in values:
        seen += counts[value]
        if not found50 and seen >= want50:
            p50, found50 = value, True
        if seen >= want99:
            p99 = value
            break
    return p50, p99, values[-1]


def _second(data: SecondData) -> Second:
    return Second(
        t=data.t,
        offered=data.offered,
        completed=data.completed,
        errors=data.errors,
        p50_ms=_ms(data.p50_us),
        p99_ms=_ms(data.p99_us),
        max_ms=_ms(data.max_us),
        answered=data.answered,
    )


def _ms(us: int | None) -> float | None:
    return None if us is None else us / 1000


def _latency(hist: Any) -> Latency:
    count = hist.get_total_count()
    if not count:
        return Latency()
    values = hist.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
    return Latency(
        count=count,
        mean=round(hist.get_mean_value() / 1000, 3),
        p50=values[50.0] / 1000,
        p90=values[90.0] / 1000,
        p99=values[99.0] / 1000,
        p999=values[99.9] / 1000,
        max=hist.get_max_value() / 1000,
    )


def build_result(
    parts: Sequence[Measurements], warnings: Sequence[str] = (), offered_rate: float | None = None
) -> Result:
    """Merge what one or more processes measured into one Result, and check the generator itself.

    ``offered_rate`` overrides the sum of the parts' offered rates (when a worker was lost, the run still
    offered the whole rate); ``warnings`` come first in the Result's.
    """
    if not parts:
        raise ValueError("build_result needs at least one Measurements")
    first = parts[0]
    names: list[str] = []
    for part in parts:
        names.extend(n for n in part.endpoints if n not in names)
    lat = {n: _new_hist() for n in names}
    statuses: dict[str, dict[int, int]] = {n: {} for n in names}
    classes: dict[str, dict[str, int]] = {n: {} for n in names}
    service, send_lag = _new_hist(), _new_hist()
    for part in parts:
        for i, name in enumerate(part.endpoints):
            lat[name].decode_and_add(part.latency[i])
            for status, n in part.statuses[i].items():
                statuses[name][status] = statuses[name].get(status, 0) + n
            for kind, n in part.error_classes[i].items():
                classes[name][kind] = classes[name].get(kind, 0) + n
        service.decode_and_add(part.service)
        send_lag.decode_and_add(part.send_lag)

    endpoints = []
    total_lat = _new_hist()
    all_statuses: dict[str, int] = {}
    all_classes: dict[str, int] = {}
    for name in names:
        total_lat.add(lat[name])
        failed = sum(classes[name].values())
        answered = sum(statuses[name].values())
        server_errors = sum(n for s, n in statuses[name].items() if s >= 500)
        endpoints.append(
            Endpoint(
                name=name,
                requests=answered + failed,
                errors=failed + server_errors,
                statuses={str(s): n for s, n in sorted(statuses[name].items())},
                latency_ms=_latency(lat[name]),
            )
        )
        for status, n in statuses[name].items():
            all_statuses[str(status)] = all_statuses.get(str(status), 0) + n
        for kind, n in classes[name].items():
            all_classes[kind] = all_classes.get(kind, 0) + n

    interrupted = any(p.interrupted for p in parts)
    # Workers stopped early stop a few milliseconds apart: the longest is the run's length.
    duration = max(p.duration_s for p in parts) if interrupted else first.duration_s
    requests = sum(e.requests for e in endpoints)
    errors = sum(e.errors for e in endpoints)
    achieved = sum(p.answered_in_window for p in parts) / duration if duration else 0.0
    if first.mode == "closed":
        offered_rate = None
    elif interrupted:  # a ramp or steps cut short offered its first part only: what was due, per second run
        offered_rate = round(sum(p.offered for p in parts) / duration, 3) if duration else 0.0
    elif offered_rate is None:
        offered_rate = sum(p.offered_rate or 0.0 for p in parts)
    overflow = sum(p.overflow for p in parts)
    cpu = [p.cpu_s / p.wall_s for p in parts if p.wall_s > 0]
    result = Result(
        mode=first.mode,
        target=first.target,
        duration_s=duration,
        offered_rate=offered_rate,
        achieved_rate=round(achieved, 3),
        requests=requests,
        errors=errors,
        latency_ms=_latency(total_lat),
        service_ms=_latency(service),
        send_lag_ms=_latency(send_lag) if first.mode == "open" else Latency(),
        statuses=dict(sorted(all_statuses.items())),
        error_classes=dict(sorted(all_classes.items())),
        overflow=overflow,
        endpoints=endpoints,
        timeline=_timeline(parts),
        workers=len(parts),
        connections=sum(p.connections for p in parts),
        generator_cpu=round(sum(cpu) / len(cpu), 3) if cpu else None,
        started_at=min(p.started_at for p in parts),
        interrupted=interrupted,
        planned_s=max((p.planned_s or 0.0 for p in parts), default=0.0) if interrupted else None,
    )
    if interrupted:
        cut = sum(p.cut for p in parts)
        if duration:
            when = f"after {duration:.1f} s of the {result.planned_s or 0:g} s planned"
        else:
            when = "in the warm-up, before anything was measured"
        warnings = [
            f"interrupted (Ctrl-C) {when}" + (f"; {cut:,} requests unanswered then are not counted" if cut else ""),
            *warnings,
        ]
    result.warnings = [*warnings, *_self_check(result, parts, cpu)]
    return result


def _timeline(parts: Sequence[Measurements]) -> list[Second]:
    if len(parts) == 1:
        return [_second(s) for s in parts[0].seconds]
    by_t: dict[int, list[SecondData]] = {}
    for part in parts:
        for s in part.seconds:
            by_t.setdefault(s.t, []).append(s)
    timeline = []
    for t in sorted(by_t):
        group = by_t[t]
        hist = _new_hist()
        for s in group:
            if s.hist is not None:
                hist.decode_and_add(s.hist)
        count = hist.get_total_count()
        timeline.append(
            Second(
                t=t,
                offered=sum(s.offered for s in group),
                completed=sum(s.completed for s in group),
                errors=sum(s.errors for s in group),
                # A second nobody answered in has no latency: null, never 0 ms.
                p50_ms=hist.get_value_at_percentile(50) / 1000 if count else None,
                p99_ms=hist.get_value_at_percentile(99) / 1000 if count else None,
                max_ms=hist.get_max_value() / 1000 if count else None,
                answered=sum(s.answered for s in group),
            )
        )
    return timeline


def _self_check(result: Result, parts: Sequence[Measurements], cpu: Sequence[float]) -> list[str]:
    """Say when the numbers may describe the generator rather than the server."""
    warnings: list[str] = []
    for i, part in enumerate(parts):
        where = f" (worker {i})" if len(parts) > 1 else ""
        warnings.extend(w + where for w in part.warnings)
    if result.mode == "open" and result.offered_rate:
        shortfall = 1 - result.achieved_rate / result.offered_rate
        if shortfall > _ACHIEVED_SHORTFALL:
            warnings.append(
                f"achieved {result.achieved_rate:,.0f} req/s is {shortfall:.1%} below the offered "
                f"{result.offered_rate:,.0f} req/s (errors: {result.errors:,}, overflow: {result.overflow:,})"
            )
        if result.send_lag_ms.p99 > _SEND_LAG_P99_MS:
            warnings.append(
                f"send lag p99 is {result.send_lag_ms.p99:,.0f} ms: requests waited to be written, because all "
                f"{result.connections} connections were busy (a slow server, or too few --connections) or the "
                "generator was short of CPU"
            )
    if result.overflow:
        limit = sum(p.backlog_limit for p in parts)
        warnings.append(
            f"{result.overflow:,} requests were due while the backlog was full ({limit:,} waiting) and were not "
            "sent; they count as errors of class overflow"
        )
    busiest = max(cpu, default=0.0)
    if busiest >= _CPU_BUSY:
        warnings.append(f"the generator used {busiest:.0%} of a core: it may be the bottleneck; use more --workers")
    return warnings


async def measure_async(
    config: LoadConfig,
    progress: ProgressCallback | None = None,
    *,
    keep_seconds: bool = False,
    stop: Stop | None = None,
) -> Measurements:
    """Run the load on the running event loop (use uvloop for speed) and return what was measured.

    ``keep_seconds`` keeps each second's histogram (encoded) so seconds from several workers merge exactly.
    ``stop`` is polled every 10 ms; when it returns True the run ends early (see the module doc).
    """
    return await _Engine(prepare(config), progress, keep_seconds, stop).run()


def measure(
    config: LoadConfig,
    progress: ProgressCallback | None = None,
    *,
    keep_seconds: bool = False,
    stop: Stop | None = None,
) -> Measurements:
    """Run the load in this process on a new uvloop event loop; blocks until the run ends by itself (or
    ``stop`` says to end it early)."""
    import uvloop

    plan = prepare(config)  # user errors before a loop exists

    async def main() -> Measurements:
        return await _Engine(plan, progress, keep_seconds, stop).run()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def run(config: LoadConfig, progress: ProgressCallback | None = None) -> Result:
    """One process, one core: run the load and return the Result (``workers.run`` for more processes).

    ``progress`` is called about once a second, after each measured second, from the engine's thread;
    an exception it raises ends the run and is raised here.
    """
    return build_result([measure(config, progress)])
