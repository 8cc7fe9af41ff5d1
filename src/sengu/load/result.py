"""What a load run measured: the one result every part of `sengu load` reads and writes.

The engine fills it, `--json` writes it, the HTML report, the InfluxDB export, the live display and the
knee search read it. Latencies are milliseconds. In the open model (`mode == "open"`) `latency_ms`
counts from each request's *intended* start, so a server stall shows up in it rather than slowing the
generator down (coordinated omission); `service_ms` counts from the moment the request was actually
written, and `send_lag_ms` is the difference — large send lag means the generator, not the server, was
late. In the closed model (`--rate max`) there is no schedule: `offered_rate` is None and `latency_ms`
equals `service_ms`.

Latency is measured on answers only (a refused connection has no latency): a distribution with
``count == 0`` measured nothing, is written as ``null`` in JSON and shown as "-", never as 0 ms.
A run stopped early by Ctrl-C is kept, with ``interrupted`` set and ``duration_s`` the part measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["open", "closed"]

# How each model is named wherever a result is shown (terminal, live display, report).
OPEN_LABEL = "open model: latency counted from each request's intended start"
CLOSED_LABEL = "closed model (--rate max): latency is not measured from a schedule"

# Error classes: a request that got no HTTP answer. An HTTP status, however bad, is a status, not one of these.
ERROR_CLASSES = ("connect", "timeout", "reset", "protocol", "overflow")


@dataclass(frozen=True)
class Latency:
    """Percentiles of one latency distribution, in milliseconds.

    ``count == 0`` means nothing was measured: the zeros are placeholders, never shown or written as
    latencies (``to_json`` gives None, displays "-").
    """

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0

    @property
    def measured(self) -> bool:
        return self.count > 0

    def ms(self, name: str) -> float | None:
        """One statistic (``p50``, ``p99``, ``max`` …), or None when nothing was measured."""
        return float(getattr(self, name)) if self.measured else None

    def to_json(self) -> dict[str, Any] | None:
        return asdict(self) if self.measured else None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Latency:
        if data is None:
            return cls()
        return cls(**{k: data[k] for k in ("count", "mean", "p50", "p90", "p99", "p999", "max") if k in data})


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the scenario (e.g. ``GET /n/{id}``) and how it fared."""

    name: str
    requests: int
    errors: int  # no HTTP answer (see ERROR_CLASSES) plus answers with status >= 500
    statuses: dict[str, int]  # "200": 1234, …
    latency_ms: Latency

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        return cls(
            name=data["name"],
            requests=data["requests"],
            errors=data["errors"],
            statuses=dict(data["statuses"]),
            latency_ms=Latency.from_json(data["latency_ms"]),
        )


@dataclass(frozen=True)
class Second:
    """One second of the run (t counts from the start of the measured part)."""

    t: int
    offered: int  # requests due in this second (open model); sent (closed model)
    completed: int  # answers and errors recorded in this second
    errors: int
    p50_ms: float | None  # None when nothing was answered in this second: no latency, not 0 ms
    p99_ms: float | None
    max_ms: float | None
    answered: int = 0  # HTTP answers recorded in this second, whatever the status: the achieved rate

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Second:
        keys = ("t", "offered", "completed", "errors", "p50_ms", "p99_ms", "max_ms", "answered")
        return cls(**{k: data[k] for k in keys if k in data})


@dataclass
class Result:
    """The outcome of one `sengu load run` (all workers merged)."""

    mode: Mode
    target: str
    duration_s: float  # measured part, warm-up excluded
    offered_rate: float | None  # requests/s asked for (open model); None in the closed model
    achieved_rate: float  # requests completed per second
    requests: int  # completed: answered or failed
    errors: int  # no HTTP answer, or status >= 500
    latency_ms: Latency
    service_ms: Latency
    send_lag_ms: Latency
    statuses: dict[str, int] = field(default_factory=dict)
    error_classes: dict[str, int] = field(default_factory=dict)  # keys from ERROR_CLASSES
    overflow: int = 0  # due requests dropped because the bounded backlog was full (counted, never silent)
    endpoints: list[Endpoint] = field(default_factory=list)
    timeline: list[Second] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. the generator was the bottleneck
    workers: int = 1
    connections: int = 0
    generator_cpu: float | None = None  # share of one core the generator used, per worker on average
    started_at: str | None = None  # ISO 8601, UTC
    interrupted: bool = False  # stopped early (Ctrl-C): duration_s is the part measured
    planned_s: float | None = None  # when interrupted: the duration asked for

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer, whatever its status."""
        return sum(self.statuses.values())

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self) | {"error_rate": self.error_rate}
        for key in ("latency_ms", "service_ms", "send_lag_ms"):
            doc[key] = getattr(self, key).to_json()
        for data, endpoint in zip(doc["endpoints"], self.endpoints, strict=True):
            data["latency_ms"] = endpoint.latency_ms.to_json()
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        return cls(
            mode=data["mode"],
            target=data["target"],
            duration_s=data["duration_s"],
            offered_rate=data.get("offered_rate"),
            achieved_rate=data["achieved_rate"],
            requests=data["requests"],
            errors=data["errors"],
            latency_ms=Latency.from_json(data["latency_ms"]),
            service_ms=Latency.from_json(data["service_ms"]),
            send_lag_ms=Latency.from_json(data["send_lag_ms"]),
            statuses=dict(data.get("statuses", {})),
            error_classes=dict(data.get("error_classes", {})),
            overflow=data.get("overflow", 0),
            endpoints=[Endpoint.from_json(e) for e in data.get("endpoints", [])],
            timeline=[Second.from_json(s) for s in data.get("timeline", [])],
            warnings=list(data.get("warnings", [])),
            workers=data.get("workers", 1),
            connections=data.get("connections", 0),
            generator_cpu=data.get("generator_cpu"),
            started_at=data.get("started_at"),
            interrupted=bool(data.get("interrupted", False)),
            planned_s=data.get("planned_s"),
        )
