"""Line protocol (escaping vectors from InfluxDB's reference) and the write, to a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sengu.core.errors import Failure, UserError
from sengu.load.influx import endpoint, escape_key, escape_measurement, field_value, line, lines, start_ns, write
from sengu.load.result import Endpoint, Latency, Result, Second
from tests.fakes.server import LoopbackServer

# 2024-05-01T12:00:00Z in Unix nanoseconds.
T0 = 1_714_564_800_000_000_000


def sample(**changes: Any) -> Result:
    latency = Latency(count=3_000, mean=2.5, p50=2.0, p90=3.5, p99=9.25, p999=20.0, max=31.0)
    base = Result(
        mode="open",
        target="http://127.0.0.1:8080/",
        duration_s=3.0,
        offered_rate=1_000.0,
        achieved_rate=999.5,
        requests=3_000,
        errors=4,
        latency_ms=latency,
        service_ms=latency,
        send_lag_ms=Latency(count=3_000, p50=0.1, p99=0.4, max=2.0),
        statuses={"200": 2_990, "503": 3},
        error_classes={"timeout": 1},
        overflow=0,
        endpoints=[Endpoint("GET /n/{id}, hot=yes", 3_000, 4, {"200": 2_990}, latency)],
        timeline=[Second(t, 1_000, 1_000, t, 2.0, 9.0 + t, 30.0, answered=1_000) for t in range(3)],
        workers=1,
        connections=16,
        started_at="2024-05-01T12:00:00Z",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


# --- a parser written from the reference, to read back what we write ------------------------------------


def _split(text: str, separators: str, *, strings: bool = False) -> list[str]:
    """Split on unescaped separators, keeping escapes for the next level. With ``strings``, a double quote
    right after an unescaped ``=`` opens a string value, whose separators do not count."""
    parts, current, quoted, after_equals, i = [], "", False, False, 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            after_equals = False
            continue
        if strings and c == '"' and (quoted or after_equals):
            quoted = not quoted
        after_equals = c == "=" and not quoted
        if c in separators and not quoted:
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out += "\n" if nxt == "n" else nxt
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def parse(point: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    head, rest = _split(point, " ")[0], point[len(_split(point, " ")[0]) + 1 :]
    fields_text, ts = _split(rest, " ", strings=True)
    measurement, *tag_parts = _split(head, ",")
    tags: dict[str, str] = {}
    for t in tag_parts:
        key, value = _split(t, "=")
        tags[_unescape(key)] = _unescape(value)
    fields: dict[str, Any] = {}
    for f in _split(fields_text, ",", strings=True):
        key, value = _split(f, "=", strings=True)
        if value.startswith('"'):
            fields[_unescape(key)] = _unescape(value[1:-1])
        elif value.endswith("i"):
            fields[_unescape(key)] = int(value[:-1])
        else:
            fields[_unescape(key)] = float(value)
    return _unescape(measurement), tags, fields, int(ts)


# --- line protocol ----------------------------------------------------------------------------------------


def test_escaping_vectors_from_the_reference() -> None:
    # Measurement: commas and spaces (an equals sign needs none).
    assert escape_measurement("my Measurement") == r"my\ Measurement"
    assert escape_measurement("my,Measurement") == r"my\,Measurement"
    assert escape_measurement("a=b") == "a=b"
    # Tag keys, tag values, field keys: commas, equals signs, spaces.
    assert escape_key("tag Key1") == r"tag\ Key1"
    assert escape_key("tag,Key=1") == r"tag\,Key\=1"
    # String field values: double quotes and backslashes, inside double quotes.
    assert field_value('"string" within a string') == r'"\"string\" within a string"'
    assert field_value("C:\\path") == r'"C:\\path"'
    assert field_value("Launch 🚀") == '"Launch 🚀"'
    # The reference reads two contiguous backslashes as one.
    assert escape_measurement("my\\Measurement") == r"my\\Measurement"
    # No newline may reach a line.
    assert "\n" not in escape_key("a\nb") + field_value("a\nb")  # type: ignore[operator]


def test_the_reference_example_line() -> None:
    assert (
        line("myMeasurement", {"tag2": "value2", "tag1": "value1"}, {"fieldKey": "fieldValue"}, 1556813561098000000)
        == 'myMeasurement,tag1=value1,tag2=value2 fieldKey="fieldValue" 1556813561098000000'
    )
    assert (
        line(r"my Measurement", {"tag Key1": "tag Value1"}, {"fieldKey": 100}, 1)
        == r"my\ Measurement,tag\ Key1=tag\ Value1 fieldKey=100i 1"
    )


def test_field_types_and_what_line_protocol_cannot_hold() -> None:
    assert (field_value(3), field_value(2.5), field_value(True), field_value(1e-05)) == ("3i", "2.5", "true", "1e-05")
    assert field_value(float("nan")) is None
    assert field_value(float("inf")) is None
    # An empty tag value is left out (the protocol forbids it); a NaN field too.
    assert line("m", {"a": "", "b": "x"}, {"f": 1.0, "g": float("nan")}, 5) == "m,b=x f=1.0 5"
    with pytest.raises(ValueError, match="at least one field"):
        line("m", {}, {"g": float("nan")}, 5)


@given(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30).filter(
        lambda s: s not in ("endpoint", "n")  # the other keys of the point
    )
)
def test_any_name_reads_back_as_written(name: str) -> None:
    point = line(name, {"endpoint": name, name: "v"}, {name: name, "n": 1}, 7)
    measurement, tags, fields, ts = parse(point)
    assert (measurement, tags["endpoint"], tags[name], fields[name], ts) == (name, name, "v", name, 7)


def test_a_result_becomes_seconds_endpoints_and_a_summary() -> None:
    out = lines(sample(), tags={"run": "pr 12", "env": "ci"})
    assert len(out) == 3 + 1 + 1
    assert out[0] == (
        r"sengu_load,env=ci,mode=open,point=second,run=pr\ 12,target=http://127.0.0.1:8080/ "
        f"offered=1000i,completed=1000i,answered=1000i,errors=0i,p50_ms=2.0,p99_ms=9.0,max_ms=30.0 {T0}"
    )
    points = [parse(p) for p in out]
    assert [p[3] for p in points] == [T0, T0 + 1_000_000_000, T0 + 2_000_000_000, T0, T0]
    _, endpoint_tags, endpoint_fields, _ = points[3]
    assert endpoint_tags["point"] == "endpoint"
    assert endpoint_tags["endpoint"] == "GET /n/{id}, hot=yes"
    assert endpoint_fields["requests"] == 3_000
    assert endpoint_fields["status_200"] == 2_990
    _, summary_tags, summary, _ = points[4]
    assert summary_tags == {
        "env": "ci",
        "mode": "open",
        "point": "summary",
        "run": "pr 12",
        "target": "http://127.0.0.1:8080/",
    }
    assert summary["offered_rate"] == 1_000.0
    assert summary["achieved_rate"] == 999.5
    assert summary["requests"] == 3_000
    assert summary["latency_p99_ms"] == 9.25
    assert summary["send_lag_p99_ms"] == 0.4
    assert summary["status_503"] == 3
    assert summary["error_timeout"] == 1
    assert summary["error_rate"] == pytest.approx(4 / 3_000)


def test_closed_model_and_warnings() -> None:
    out = lines(
        sample(mode="closed", offered_rate=None, warnings=['generator at 100% CPU, "slow"']), measurement="load x"
    )
    _, tags, summary, _ = parse(out[-1])
    assert tags["mode"] == "closed"
    assert "offered_rate" not in summary
    assert summary["warnings"] == 'generator at 100% CPU, "slow"'
    assert out[-1].startswith(r"load\ x,")


def test_start_time() -> None:
    assert start_ns(sample()) == T0
    assert start_ns(sample(started_at="2024-05-01T14:00:00.000123+02:00")) == T0 + 123_000
    assert start_ns(sample(started_at="2024-05-01T12:00:00")) == T0  # naive is UTC
    with pytest.raises(UserError, match="ISO 8601"):
        start_ns(sample(started_at="yesterday"))
    # Without a start, the run is placed to end now: the seconds still get distinct timestamps.
    out = [parse(p)[3] for p in lines(sample(started_at=None))[:3]]
    assert out[1] - out[0] == out[2] - out[1] == 1_000_000_000


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"measurement": "_internal"}, "reserves names starting with '_'"),
        ({"measurement": ""}, "cannot be empty"),
        ({"tags": {"_x": "1"}}, "reserves"),
        ({"tags": {"time": "1"}}, "reserves 'time'"),
    ],
)
def test_reserved_names_are_user_errors(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(UserError, match=words):
        lines(sample(), **kwargs)


# --- the write, to a real server ---------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str


class Handler(BaseHTTPRequestHandler):
    server: Any

    def do_POST(self) -> None:
        owner: FakeInflux = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        parts = urlsplit(self.path)
        with owner.lock:
            owner.received.append(
                Received(
                    "POST", parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body
                )
            )
        status, payload = owner.answer
        self.send_response(status)
        if payload:
            data = payload.encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class FakeInflux(LoopbackServer):
    """Records writes and answers what the test sets (204, no body, like InfluxDB, by default)."""

    answer: tuple[int, str] = (204, "")
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    handler = Handler

    def __post_init__(self) -> None:
        super().__init__()


def test_v2_write_sends_token_org_bucket_and_the_lines() -> None:
    out = lines(sample(), tags={"run": "1"})
    with FakeInflux() as influx:
        url = f"http://127.0.0.1:{influx.port}"
        written = asyncio.run(write(url, out, token="s3cret", org="team", bucket="load"))
    assert written == len(out)
    [got] = influx.received
    assert got.path == "/api/v2/write"
    assert got.query == {"org": ["team"], "bucket": ["load"], "precision": ["ns"]}
    assert got.headers["authorization"] == "Token s3cret"
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.body == "\n".join(out)


def test_v1_write_goes_to_write_with_db_and_keeps_url_parameters() -> None:
    with FakeInflux() as influx:
        asyncio.run(write(f"http://127.0.0.1:{influx.port}/write?db=old&rp=week", ["m f=1i 1"], db="load"))
        asyncio.run(write(f"http://127.0.0.1:{influx.port}/influx/", ["m f=2i 2"], db="load"))
    first, second = influx.received
    assert (first.path, first.query) == ("/write", {"db": ["load"], "rp": ["week"]})
    assert "authorization" not in first.headers
    assert (second.path, second.query, second.body) == ("/influx/write", {"db": ["load"]}, "m f=2i 2")


def test_large_writes_go_in_batches_of_5000() -> None:
    out = [f"m f={i}i {i}" for i in range(12_001)]
    with FakeInflux() as influx:
        assert asyncio.run(write(f"http://127.0.0.1:{influx.port}/api/v2/write?bucket=b", out)) == 12_001
    assert [len(r.body.split("\n")) for r in influx.received] == [5_000, 5_000, 2_001]
    assert "\n".join(r.body for r in influx.received) == "\n".join(out)


def test_nothing_to_write_sends_nothing() -> None:
    with FakeInflux() as influx:
        assert asyncio.run(write(f"http://127.0.0.1:{influx.port}", [], bucket="b")) == 0
    assert influx.received == []


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            (400, json.dumps({"code": "invalid", "message": "unable to parse 'm f=': missing field value"})),
            "400 Bad Request: unable to parse 'm f=': missing field value",
        ),
        (
            (401, json.dumps({"code": "unauthorized", "message": "unauthorized access"})),
            "401 Unauthorized: unauthorized access (check the token",
        ),
        (
            (404, json.dumps({"error": 'database not found: "load"'})),
            '404 Not Found: database not found: "load" (check the bucket',
        ),
        ((500, "internal trouble"), "500 Internal Server Error: internal trouble"),
    ],
)
def test_a_refused_write_is_a_failure_with_the_servers_message(answer: tuple[int, str], words: str) -> None:
    with FakeInflux(answer=answer) as influx:
        url = f"http://127.0.0.1:{influx.port}"
        with pytest.raises(Failure) as caught:
            asyncio.run(write(url, ["m f=1i 1"], token="s3cret", org="team", bucket="load"))
    message = str(caught.value)
    assert words in message
    assert message.startswith(f"InfluxDB at {url}/api/v2/write refused the write")
    assert "s3cret" not in message


def test_an_unreachable_server_is_a_failure_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Bound and closed: nothing listens there now.
    with pytest.raises(Failure, match=f"could not write to InfluxDB at http://127.0.0.1:{port}/write") as caught:
        asyncio.run(write(f"http://user:pw@127.0.0.1:{port}/write?db=x&p=pw", ["m f=1i 1"]))
    assert "pw" not in str(caught.value)


def test_where_to_write() -> None:
    assert endpoint("http://h:8086", bucket="b", org="o") == (
        "http://h:8086/api/v2/write",
        {"bucket": "b", "org": "o", "precision": "ns"},
        2,
    )
    assert endpoint("http://h:8086/api/v2/write?bucket=b", org="o")[2] == 2
    assert endpoint("http://h:8086?db=x") == ("http://h:8086/write", {"db": "x"}, 1)
    with pytest.raises(UserError, match="say where to write"):
        endpoint("http://h:8086")
    with pytest.raises(UserError, match="needs a bucket"):
        endpoint("http://h:8086/api/v2/write", org="o")
    with pytest.raises(UserError, match="needs a database"):
        endpoint("http://h:8086/write")
    with pytest.raises(UserError, match="http:// or https://"):
        endpoint("ftp://h/write", db="x")
