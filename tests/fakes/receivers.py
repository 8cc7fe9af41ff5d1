"""Small real HTTP servers on 127.0.0.1 that stand in for Slack and Sentry in tests.

Each runs a `ThreadingHTTPServer` on an ephemeral port in a background thread, records every request,
and can be scripted to fail. They check requests the way the real services document them, and are
stricter where that catches our bugs (the Sentry fake refuses a check-in with an unknown field,
where Relay would drop it silently).

    with SlackReceiver() as slack:
        notifier = SlackNotifier(Secret(slack.url))
        ...
        assert slack.messages == [{"text": "batch nightly failed"}]

    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn))
        ...
        assert [c["status"] for c in sentry.check_ins] == ["in_progress", "ok"]

`fail_next(2, 429, retry_after=1)` makes the next two requests answer 429; `wait_for(n)` blocks (on a
condition, not a sleep loop) until n requests were accepted, for code that notifies from a task.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import LoopbackHTTPServer, LoopbackServer


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `delay_s` holds the answer back, to let a client time out."""

    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake saw it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int
    json: Any  # the body parsed as JSON, or None when it is not JSON


@dataclass(frozen=True)
class _Incoming:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackHTTPServer

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_DELETE = do_POST

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        incoming = _Incoming(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        receiver = self.server.owner
        reply = receiver._receive(incoming)
        if reply.delay_s and receiver._stopping.wait(reply.delay_s):
            return  # shutting down: drop the connection without answering
        data = reply.body.encode("utf-8")
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timed out) before the answer: that is what some tests want

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Receiver(LoopbackServer):
    """The script and records both fakes share."""

    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._accepted: list[Any] = []
        self._stopping = threading.Event()

    def _before_stop(self) -> None:
        self._stopping.set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # scripting

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, whatever they contain."""
        with self._cond:
            self._script.extend(replies)

    def fail_next(
        self,
        count: int,
        status: int = 500,
        body: str = "",
        *,
        retry_after: float | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Make the next `count` requests answer `status` (with ``Retry-After`` when given)."""
        headers = {} if retry_after is None else {"Retry-After": _number(retry_after)}
        self.script(*[Reply(status, body, headers, delay_s) for _ in range(count)])

    # records

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, accepted or not."""
        with self._cond:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Block until `count` requests were accepted; return the accepted payloads."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._accepted) >= count, timeout=timeout):
                raise AssertionError(
                    f"{type(self).__name__}: expected {count} accepted requests within {timeout} s, "
                    f"got {len(self._accepted)} of {len(self._requests)} received"
                )
            return list(self._accepted)

    # serving (called on server threads)

    def _receive(self, incoming: _Incoming) -> Reply:
        with self._cond:
            scripted = self._script.popleft() if self._script else None
        accepted: list[Any] = []
        reply = scripted if scripted is not None else self._answer(incoming, accepted)
        try:
            parsed = json.loads(incoming.body) if incoming.body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(
            incoming.method, incoming.path, incoming.query, incoming.headers, incoming.body,
            reply.status, parsed,
        )  # fmt: skip
        with self._cond:
            self._requests.append(record)
            self._accepted.extend(accepted)
            self._cond.notify_all()
        return reply

    def _answer(self, incoming: _Incoming, accepted: list[Any]) -> Reply:
        raise NotImplementedError


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------------------------------
# Slack


class SlackReceiver(_Receiver):
    """A Slack incoming webhook: POST JSON {text, blocks} to `url`, get ``200 ok``.

    Answers as Slack does: 404 ``no_service`` for any other path, 400 ``invalid_payload`` for a body
    that is not a JSON object, 400 ``no_text`` without text or blocks, 400 ``invalid_blocks`` when a
    block has no type.
    """

    def __init__(self) -> None:
        super().__init__()
        self.token = secrets.token_urlsafe(18)
        self.path = f"/services/T0SENGU00/B0SENGU00/{self.token}"

    @property
    def url(self) -> str:
        """The webhook URL — the secret a notifier is given."""
        return self.base_url + self.path

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The payloads Slack would have posted, in order."""
        with self._cond:
            return list(self._accepted)

    @property
    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.messages]

    def _answer(self, incoming: _Incoming, accepted: list[Any]) -> Reply:
        if incoming.path != self.path:
            return Reply(404, "no_service")
        if incoming.method != "POST":
            return Reply(405, "invalid_method")
        content_type = incoming.headers.get("content-type", "")
        try:
            if content_type.startswith("application/x-www-form-urlencoded"):
                payload = json.loads(parse_qs(incoming.body.decode("utf-8"))["payload"][0])
            else:
                payload = json.loads(incoming.body)
        except (ValueError, KeyError, UnicodeDecodeError):
            return Reply(400, "invalid_payload")
        if not isinstance(payload, dict):
            return Reply(400, "invalid_payload")
        text, blocks = payload.get("text"), payload.get("blocks")
        if not (isinstance(text, str) and text.strip()) and not blocks:
            return Reply(400, "no_text")
        if blocks is not None and not (
            isinstance(blocks, list) and all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)
        ):
            return Reply(400, "invalid_blocks")
        accepted.append(payload)
        return Reply(200, "ok", content_type="text/html")


# --------------------------------------------------------------------------------------------------
# Sentry


_HEX32 = re.compile(r"[0-9a-f]{32}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CHECK_IN_KEYS = {
    "check_in_id", "monitor_slug", "status", "duration", "release", "environment", "monitor_config",
    "contexts",
}  # fmt: skip
_MONITOR_CONFIG_KEYS = {
    "schedule", "checkin_margin", "max_runtime", "timezone", "failure_issue_threshold",
    "recovery_threshold", "owner",
}  # fmt: skip
_INTERVAL_UNITS = {"year", "month", "week", "day", "hour", "minute"}


class EnvelopeError(ValueError):
    pass


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Split an envelope into its header and (item header, payload) pairs, strictly.

    Format (https://develop.sentry.dev/sdk/foundations/transport/envelopes/): a JSON header line;
    then items, each a JSON header line with a ``type`` and an optional ``length``, and a payload
    of exactly ``length`` bytes (or up to the next newline when there is no length) followed by a
    newline or the end of the envelope.
    """
    newline = body.find(b"\n")
    header_line = body if newline < 0 else body[:newline]
    pos = len(body) if newline < 0 else newline + 1
    header = _json_object(header_line, "envelope header")
    items: list[tuple[dict[str, Any], bytes]] = []
    while pos < len(body):
        end = body.find(b"\n", pos)
        if end < 0:
            raise EnvelopeError("item header without a payload")
        item_header = _json_object(body[pos:end], f"header of item {len(items) + 1}")
        if not isinstance(item_header.get("type"), str) or not item_header["type"]:
            raise EnvelopeError(f"item {len(items) + 1} has no type")
        pos = end + 1
        length = item_header.get("length")
        if length is not None:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise EnvelopeError(f"item {len(items) + 1} has a bad length {length!r}")
            if pos + length > len(body):
                raise EnvelopeError(f"item {len(items) + 1} is shorter than its length {length}")
            payload = body[pos : pos + length]
            pos += length
            if pos < len(body):
                if body[pos : pos + 1] != b"\n":
                    raise EnvelopeError(f"item {len(items) + 1} is longer than its length {length}")
                pos += 1
        else:
            end = body.find(b"\n", pos)
            end = len(body) if end < 0 else end
            payload = body[pos:end]
            pos = end + 1
        items.append((item_header, payload))
    return header, items


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise EnvelopeError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} is not a JSON object")
    return value


def check_in_problems(check_in: Any) -> list[str]:
    """What is wrong with a check_in payload, per https://develop.sentry.dev/sdk/telemetry/check-ins/."""
    if not isinstance(check_in, dict):
        return ["the check-in is not a JSON object"]
    problems = [f"unknown field {key}" for key in sorted(set(check_in) - _CHECK_IN_KEYS)]
    cid = check_in.get("check_in_id")
    if not isinstance(cid, str) or not (_HEX32.fullmatch(cid) or _UUID.fullmatch(cid)):
        problems.append(f"check_in_id must be a UUID, not {cid!r}")
    slug = check_in.get("monitor_slug")
    if not isinstance(slug, str) or not slug or len(slug) > 50:
        problems.append(f"monitor_slug must be 1 to 50 characters, not {slug!r}")
    if check_in.get("status") not in ("in_progress", "ok", "error"):
        problems.append(f"status must be in_progress, ok or error, not {check_in.get('status')!r}")
    if "duration" in check_in and not _is_number(check_in["duration"], least=0):
        problems.append(f"duration must be a number of seconds, not {check_in['duration']!r}")
    env = check_in.get("environment")
    if env is not None and not (isinstance(env, str) and 0 < len(env) <= 64):
        problems.append(f"environment must be 1 to 64 characters, not {env!r}")
    if "monitor_config" in check_in:
        problems += _monitor_config_problems(check_in["monitor_config"])
    return problems


def _monitor_config_problems(config: Any) -> list[str]:
    if not isinstance(config, dict):
        return ["monitor_config is not an object"]
    problems = [f"unknown monitor_config field {k}" for k in sorted(set(config) - _MONITOR_CONFIG_KEYS)]
    schedule = config.get("schedule")
    if not isinstance(schedule, dict):
        problems.append("monitor_config.schedule is required")
    elif schedule.get("type") == "crontab":
        value = schedule.get("value")
        if not isinstance(value, str) or len(value.split()) != 5:
            problems.append(f"a crontab schedule needs five fields, not {value!r}")
    elif schedule.get("type") == "interval":
        if not _is_number(schedule.get("value"), least=1) or schedule.get("unit") not in _INTERVAL_UNITS:
            problems.append(f"bad interval schedule {schedule!r}")
    else:
        problems.append(f"schedule type must be crontab or interval, not {schedule.get('type')!r}")
    for key in ("checkin_margin", "max_runtime", "failure_issue_threshold", "recovery_threshold"):
        if key in config and not _is_number(config[key], least=0):
            problems.append(f"monitor_config.{key} must be a number, not {config[key]!r}")
    if "timezone" in config and not isinstance(config["timezone"], str):
        problems.append("monitor_config.timezone must be a string")
    return problems


def _is_number(value: Any, *, least: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= least


def _auth_key(incoming: _Incoming) -> str | None:
    header = incoming.headers.get("x-sentry-auth")
    if header is not None:
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "sentry":
            return None
        pairs = dict(p.strip().partition("=")[::2] for p in rest.split(","))
        return pairs.get("sentry_key")
    keys = incoming.query.get("sentry_key")
    return keys[0] if keys else None


class SentryReceiver(_Receiver):
    """Sentry's envelope ingest for one project: ``POST /api/{project_id}/envelope/``.

    Checks the key (``X-Sentry-Auth: Sentry sentry_key=…`` or ``?sentry_key=``) against the DSN's,
    parses the envelope strictly and validates every ``check_in`` item; a problem answers 4xx with a
    JSON ``detail``. Accepted check-ins are in `check_ins`, in arrival order.
    """

    def __init__(self, project_id: str = "4242") -> None:
        super().__init__()
        self.public_key = secrets.token_hex(16)
        self.project_id = project_id
        self._envelopes: list[tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]] = []

    @property
    def dsn(self) -> str:
        """The DSN — the secret a client is given."""
        return f"http://{self.public_key}@127.0.0.1:{self.port}/{self.project_id}"

    @property
    def check_ins(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._accepted)

    @property
    def envelopes(self) -> list[tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]]:
        """Every accepted envelope: its header and its (item header, raw payload) pairs."""
        with self._cond:
            return list(self._envelopes)

    def runs(self) -> dict[str, list[str]]:
        """The statuses sent for each check_in_id, in order: pairs show as [in_progress, ok]."""
        runs: dict[str, list[str]] = {}
        for check_in in self.check_ins:
            runs.setdefault(check_in["check_in_id"].replace("-", ""), []).append(check_in["status"])
        return runs

    @property
    def monitors(self) -> dict[str, dict[str, Any]]:
        """The last monitor_config upserted for each slug."""
        return {c["monitor_slug"]: c["monitor_config"] for c in self.check_ins if "monitor_config" in c}

    def fail_next(
        self,
        count: int,
        status: int = 500,
        body: str = "",
        *,
        retry_after: float | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """As for any receiver; a 429 also carries ``X-Sentry-Rate-Limits`` for category monitor."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = _number(retry_after)
            if status == 429:
                headers["X-Sentry-Rate-Limits"] = f"{_number(retry_after)}:monitor:key"
        body = body or json.dumps({"detail": f"scripted {status}"})
        self.script(*[Reply(status, body, headers, delay_s, "application/json") for _ in range(count)])

    def _answer(self, incoming: _Incoming, accepted: list[Any]) -> Reply:
        def detail(status: int, text: str) -> Reply:
            return Reply(status, json.dumps({"detail": text}), content_type="application/json")

        match = re.fullmatch(r"/api/([^/]+)/envelope/", incoming.path)
        if match is None or incoming.method != "POST":
            return detail(404, "not found")
        key = _auth_key(incoming)
        if key is None:
            return detail(401, "missing authorization information")
        if key != self.public_key:
            return detail(401, "invalid api key")
        if match.group(1) != self.project_id:
            return detail(403, "project id does not match the key")
        try:
            header, items = parse_envelope(incoming.body)
        except EnvelopeError as exc:
            return detail(400, f"invalid envelope: {exc}")
        if "dsn" in header and not str(header["dsn"]).split("://", 1)[-1].startswith(self.public_key):
            return detail(401, "the envelope's dsn does not match the key")
        check_ins: list[dict[str, Any]] = []
        for item_header, payload in items:
            if item_header["type"] != "check_in":
                continue
            try:
                check_in = json.loads(payload)
            except ValueError:
                return detail(400, "invalid check_in: not JSON")
            problems = check_in_problems(check_in)
            if problems:
                return detail(400, "invalid check_in: " + "; ".join(problems))
            check_ins.append(check_in)
        with self._cond:
            self._envelopes.append((header, items))
        accepted.extend(check_ins)
        return Reply(200, json.dumps({"id": header.get("event_id") or secrets.token_hex(16)}),
                     content_type="application/json")  # fmt: skip
