"""Telling people about jobs: Slack incoming webhooks, and Sentry Crons check-ins.

Both are best-effort side channels. A caller awaits them inside its own task and logs `NotifyError`;
nothing here may stall or crash the job handling around it, so every failure (HTTP status, timeout,
refused connection, rate limit) ends as one `NotifyError` after a bounded number of attempts, and
the worst case is `max_attempts * (timeout + RETRY_AFTER_CAP_S)` seconds.

Secrets (the webhook URL, the DSN) come from files or environment variables (`read_secret`), live
in `Secret` objects that print as ``***``, and are scrubbed from every message this module makes:
NotifyError text, log records, and httpx's own request log (which prints the full URL at INFO, and
for a Slack webhook the URL *is* the secret).

Slack — incoming webhooks (https://api.slack.com/messaging/webhooks): ``POST`` a JSON object with
``text`` (the notification fallback) and optionally ``blocks``; success is ``200 ok``. Errors come as
short bodies (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks):
400 ``invalid_payload``/``no_text``, 403 ``action_prohibited``/``invalid_token``, 404
``no_service``/``channel_not_found``, 410 ``channel_is_archived``, 500 ``rollup_error``, and 429 with
``Retry-After`` (https://api.slack.com/docs/rate-limits, about one message a second per webhook).

Sentry Crons — we send ``check_in`` items in envelopes to ``POST {base}/api/{project_id}/envelope/``
(https://develop.sentry.dev/sdk/telemetry/check-ins/ ,
https://develop.sentry.dev/sdk/foundations/transport/envelopes/ ,
https://develop.sentry.dev/sdk/foundations/transport/authentication/), not to the HTTP check-in
endpoint ``{base}/api/{project_id}/cron/{slug}/{public_key}/``
(https://docs.sentry.io/product/crons/getting-started/http/). Why the envelope:

- the check-in id is generated here (``check_in_id``, 32 hex digits), so the ``in_progress`` and the
  ``ok``/``error`` of one run pair exactly even when runs of one job overlap, and a caller can make
  the id before the first request (`new_check_in_id`) so the pair survives a failed first send;
- ``duration``, ``environment`` and ``monitor_config`` (which creates or updates the monitor: schedule,
  timezone, margins, thresholds) travel in one JSON body, as every Sentry SDK sends them;
- the public key goes in the ``X-Sentry-Auth`` header, never in the URL, so it is not in proxy
  access logs or in httpx's request log.

Sentry monitor slugs are at most 50 characters (Relay silently cuts longer ones, which would merge
two jobs into one monitor), so `sentry_slug` makes a valid slug with a stable hash suffix when it has
to cut. Sentry accepts at most six check-ins a minute per monitor; more are refused here, locally,
before they cost a request. 429 answers are honoured through ``Retry-After`` and
``X-Sentry-Rate-Limits`` (category ``monitor``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import unicodedata
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from sengu import __version__
from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Failure, UserError

__all__ = [
    "CHECK_INS_PER_MINUTE",
    "RETRY_AFTER_CAP_S",
    "SLUG_MAX_LENGTH",
    "CheckInStatus",
    "MonitorConfig",
    "NotifyError",
    "Secret",
    "SecretSource",
    "SentryCrons",
    "SlackNotifier",
    "is_sentry_slug",
    "new_check_in_id",
    "read_secret",
    "sentry_slug",
]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
CheckInStatus = Literal["in_progress", "ok", "error"]

RETRY_AFTER_CAP_S = 30.0
"""The longest we wait before a retry; a server asking for more gets the message dropped instead."""
BACKOFF_BASE_S = 1.0
SLUG_MAX_LENGTH = 50
CHECK_INS_PER_MINUTE = 6
ENVIRONMENT_MAX_LENGTH = 64  # Relay rejects check-ins with a longer environment name
_BODY_EXCERPT = 200
_MASK = "***"
_STATUSES: frozenset[str] = frozenset({"in_progress", "ok", "error"})


# --------------------------------------------------------------------------------------------------
# Secrets


@dataclass(frozen=True)
class Secret:
    """A secret string that never prints itself: `repr`, `str` and f-strings all give ``***``."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """The value, for the one place that must send it. Never log or format the result."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    def __str__(self) -> str:
        return _MASK


@dataclass(frozen=True)
class SecretSource:
    """Where a secret is read from: exactly one of a file path or an environment variable name."""

    file: str | None = None
    env: str | None = None


def read_secret(source: SecretSource, *, environ: Mapping[str, str] | None = None) -> Secret:
    """Read a secret, stripped of surrounding whitespace (files usually end with a newline).

    Raises UserError naming the file or variable — never the value — when it is missing or empty.
    """
    if (source.file is None) == (source.env is None):
        raise UserError("a secret needs exactly one source: `file: PATH` or `env: NAME`")
    if source.file is not None:
        return Secret(_read_secret_file(source.file))
    assert source.env is not None
    env = os.environ if environ is None else environ
    raw = env.get(source.env)
    if raw is None:
        raise UserError(f"environment variable {source.env} is not set; it should hold the secret")
    value = raw.strip()
    if not value:
        raise UserError(f"environment variable {source.env} is empty; it should hold the secret")
    return Secret(value)


def _read_secret_file(name: str) -> str:
    path = Path(name).expanduser()
    # `from None` everywhere: a decode error carries the file's bytes in its arguments.
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"secret file {name} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"secret file {name} is a directory, not a file") from None
    except PermissionError:
        raise UserError(f"secret file {name} cannot be read: permission denied") from None
    except UnicodeDecodeError:
        raise UserError(f"secret file {name} is not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"secret file {name} cannot be read: {exc.strerror or type(exc).__name__}") from None
    value = text.strip()
    if not value:
        raise UserError(f"secret file {name} is empty")
    return value


# --------------------------------------------------------------------------------------------------
# Errors and scrubbing


class NotifyError(Failure):
    """A notification was not delivered. The message names the service and host, never the secret."""

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class _Scrubber:
    """Replaces every known sensitive substring (and its URL-quoted forms) with ``***``."""

    def __init__(self, words: Iterable[str]):
        variants: set[str] = set()
        for word in words:
            # Short fragments identify nothing, and masking them would mangle ordinary text.
            if len(word) < 4:
                continue
            variants.update({word, quote(word, safe=""), quote(word, safe="/:@")})
        self.words: tuple[str, ...] = tuple(sorted(variants, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for word in self.words:
            text = text.replace(word, _MASK)
        return text


def _url_secret_parts(url: str) -> list[str]:
    """The parts of a webhook URL that make it secret: path, query and credentials, not the host.

    Masking only these leaves ``https://hooks.slack.com***`` in messages, which still says where.
    """
    parts = urlsplit(url)
    words = [parts.query]
    if len(parts.path) > 1:
        words.append(parts.path)
        words.extend(s for s in parts.path.split("/")[2:] if s)  # after the route ("services")
    if parts.query:
        words.append(f"{parts.path}?{parts.query}")
    if parts.username:
        words.append(parts.username)
    if parts.password:
        words.append(parts.password)
    if not any(len(w) >= 4 for w in words):
        words.append(url)  # nothing secret-looking outside the host: mask it all to be safe
    return words


class _RedactingFilter(logging.Filter):
    """Masks registered secrets in records of the logger it is attached to.

    httpx logs ``HTTP Request: POST <full url>`` at INFO on the ``httpx`` logger. Logging is global
    state already, so the filter is too: one instance, attached once, fed every secret in use.
    """

    def __init__(self) -> None:
        super().__init__()
        self._scrubber = _Scrubber(())
        self._words: set[str] = set()

    def add(self, words: Iterable[str]) -> None:
        new = set(words) - self._words
        if new:
            self._words |= new
            self._scrubber = _Scrubber(self._words)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._scrubber.words:
            return True
        message = record.getMessage()
        scrubbed = self._scrubber(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


_HTTPX_LOG_REDACTOR = _RedactingFilter()
logging.getLogger("httpx").addFilter(_HTTPX_LOG_REDACTOR)


# --------------------------------------------------------------------------------------------------
# Delivery: one POST with the retry, rate-limit and scrubbing policy both services share


def _backoff_s(attempt: int) -> float:
    return float(min(RETRY_AFTER_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


def _parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT else text[: _BODY_EXCERPT - 1] + "…"


class _Poster:
    """POSTs to one endpoint; retries 408/429/5xx and transport errors; raises scrubbed NotifyErrors."""

    def __init__(
        self,
        *,
        label: str,
        url: str,
        scrub: _Scrubber,
        client: httpx.AsyncClient | None,
        timeout: float,
        max_attempts: int,
        sleep: Sleep,
        clock: Clock,
        retry_after: Callable[[httpx.Response, datetime], float | None],
        describe: Callable[[httpx.Response, _Scrubber], str],
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.label = label
        self._url = url
        self._scrub = scrub
        self._client = client
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._retry_after = retry_after
        self._describe = describe
        self._blocked_until = -math.inf

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    def block_for(self, seconds: float) -> None:
        """Send nothing for a while: the server said it would refuse it anyway."""
        self._blocked_until = max(self._blocked_until, self._clock.monotonic() + seconds)

    async def post(self, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        remaining = self._blocked_until - self._clock.monotonic()
        if remaining > 0:
            raise NotifyError(
                f"{self.label} is rate limiting us for {remaining:.0f} s more; notification dropped",
                retry_after_s=remaining,
            )
        if self._client is not None:
            return await self._attempts(self._client, content, headers)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            return await self._attempts(client, content, headers)

    async def _attempts(self, client: httpx.AsyncClient, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        last = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = await client.post(self._url, content=content, headers=dict(headers), timeout=self._timeout)
            except httpx.UnsupportedProtocol:
                raise NotifyError(f"{self.label}: the URL's scheme is not http or https") from None
            except httpx.RequestError as exc:
                last = f"{type(exc).__name__}: {self._scrub(_excerpt(str(exc))) or 'no detail'}"
                delay = _backoff_s(attempt)
            else:
                if response.is_success:
                    return response
                detail = self._describe(response, self._scrub)
                last = f"HTTP {response.status_code}" + (f" {detail}" if detail else "")
                status = response.status_code
                if status not in (408, 429) and status < 500:
                    raise NotifyError(f"{self.label} refused the request: {last}", status=status)
                wait = self._retry_after(response, self._clock.now())
                if wait is not None and wait > RETRY_AFTER_CAP_S:
                    self.block_for(wait)
                    raise NotifyError(
                        f"{self.label} is rate limiting us ({last}) and asks for {wait:.0f} s, more than "
                        f"the {RETRY_AFTER_CAP_S:.0f} s sengu waits; notification dropped",
                        status=status,
                        retry_after_s=wait,
                    )
                delay = wait if wait is not None else _backoff_s(attempt)
            if attempt < self._max_attempts:
                log.warning(
                    "%s failed (%s); retrying in %.1f s (attempt %d of %d)",
                    self.label, last, delay, attempt, self._max_attempts,
                )  # fmt: skip
                await self._sleep(delay)
        raise NotifyError(f"{self.label} failed {self._max_attempts} times; last: {last}")


# --------------------------------------------------------------------------------------------------
# Slack


_SLACK_HINTS = {
    "invalid_payload": "Slack could not parse the message sengu sent; this is a bug in sengu",
    "no_text": "the message had neither text nor blocks; this is a bug in sengu",
    "invalid_blocks": "a Block Kit block in the message is malformed",
    "invalid_blocks_format": "the message's blocks are not a list of block objects",
    "no_service": "the webhook does not exist or was revoked; create a new one and update the secret",
    "invalid_token": "the webhook does not exist or was revoked; create a new one and update the secret",
    "no_team": "the workspace behind the webhook is gone",
    "team_disabled": "the workspace behind the webhook is disabled",
    "channel_not_found": "the webhook's channel was deleted; create a new webhook",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or create a new webhook",
    "action_prohibited": "a workspace admin restricts what this webhook may post",
    "posting_to_general_channel_denied": "only admins may post to the webhook's channel",
    "user_not_found": "the user the webhook posts to does not exist",
}


def _slack_retry_after(response: httpx.Response, now: datetime) -> float | None:
    return _parse_retry_after(response.headers.get("retry-after"), now)


def _slack_describe(response: httpx.Response, scrub: _Scrubber) -> str:
    body = scrub(_excerpt(response.text))
    hint = _SLACK_HINTS.get(body.strip())
    return f"{body} ({hint})" if hint else body


class SlackNotifier:
    """Posts messages to one Slack incoming webhook."""

    def __init__(
        self,
        webhook_url: Secret,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = SYSTEM_CLOCK,
    ):
        url = webhook_url.reveal()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError("the Slack webhook URL must look like https://hooks.slack.com/services/…")
        words = _url_secret_parts(url)
        _HTTPX_LOG_REDACTOR.add(words)
        self._poster = _Poster(
            label=f"Slack webhook at {parts.hostname}",
            url=url,
            scrub=_Scrubber(words),
            client=client,
            timeout=timeout,
            max_attempts=max_attempts,
            sleep=sleep,
            clock=clock,
            retry_after=_slack_retry_after,
            describe=_slack_describe,
        )

    def __repr__(self) -> str:
        return f"<SlackNotifier {self._poster.label}>"

    async def send(self, text: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post one message. `text` is what notifications show when `blocks` are given.

        Raises NotifyError once the message is refused, or after `max_attempts` tries.
        """
        if not text.strip() and not blocks:
            raise ValueError("a Slack message needs text or blocks")
        payload: dict[str, Any] = {"text": text}
        if blocks:
            payload["blocks"] = blocks
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        await self._poster.post(body, {"Content-Type": "application/json; charset=utf-8"})


# --------------------------------------------------------------------------------------------------
# Sentry Crons


_SLUG_RE = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*")


def is_sentry_slug(slug: str) -> bool:
    """True when Sentry keeps `slug` as it is: ``[a-z0-9_-]``, ≤ 50, not all digits, no edge ``-``/``_``.

    Sentry slugifies what it receives (lower case, runs of ``-`` collapsed, ``-``/``_`` stripped from
    the ends) and cuts it at 50; a slug that survives that unchanged names the monitor we think.
    """
    return (
        0 < len(slug) <= SLUG_MAX_LENGTH
        and _SLUG_RE.fullmatch(slug) is not None
        and not slug.startswith("_")
        and not slug.endswith("_")
        and not slug.isdigit()
    )


def sentry_slug(name: str) -> str:
    """A valid Sentry monitor slug for a job name, the same on every run.

    Readable names pass through lower-cased, with other characters turned into ``-``. A hash of the
    name is appended when the slug would otherwise be longer than 50 (cut, so two long names with a
    common prefix stay two monitors), when the name has non-ASCII characters (dropped, so ``日次集計``
    and ``週次集計`` stay distinct), or when nothing usable is left.
    """
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text).strip("-_")
    if name.isascii() and is_sentry_slug(slug):
        return slug
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    base = slug[: SLUG_MAX_LENGTH - len(digest) - 1].rstrip("-_")
    return f"{base}-{digest}" if base else f"job-{digest}"


def new_check_in_id() -> str:
    """A fresh check-in id (32 hex digits). Make it before the run so both check-ins can use it."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class MonitorConfig:
    """What Sentry should expect of a monitor; sent with a check-in, it creates or updates it.

    `schedule` is a five-field crontab line and `timezone` a tz database name; the minutes and
    thresholds are Sentry's `checkin_margin`, `max_runtime`, `failure_issue_threshold` and
    `recovery_threshold`.
    """

    schedule: str
    timezone: str
    checkin_margin_min: int | None = None
    max_runtime_min: int | None = None
    failure_issue_threshold: int | None = None
    recovery_threshold: int | None = None

    def __post_init__(self) -> None:
        if not self.schedule.strip():
            raise ValueError("MonitorConfig.schedule is empty")
        if not self.timezone.strip():
            raise ValueError("MonitorConfig.timezone is empty")
        minimums = {
            "checkin_margin_min": 0,
            "max_runtime_min": 1,
            "failure_issue_threshold": 1,
            "recovery_threshold": 1,
        }
        for name, least in minimums.items():
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise ValueError(f"MonitorConfig.{name} must be an integer ≥ {least}, not {value!r}")

    def to_payload(self) -> dict[str, Any]:
        """The ``monitor_config`` object of a check-in, leaving out what is not set."""
        payload: dict[str, Any] = {
            "schedule": {"type": "crontab", "value": " ".join(self.schedule.split())},
            "timezone": self.timezone,
        }
        optional = {
            "checkin_margin": self.checkin_margin_min,
            "max_runtime": self.max_runtime_min,
            "failure_issue_threshold": self.failure_issue_threshold,
            "recovery_threshold": self.recovery_threshold,
        }
        payload.update({key: value for key, value in optional.items() if value is not None})
        return payload


@dataclass(frozen=True)
class _Dsn:
    scheme: str
    netloc: str  # host[:port], without the key
    path_prefix: str
    project_id: str
    public_key: str
    secret_key: str | None

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path_prefix}/api/{self.project_id}/envelope/"


def _parse_dsn(dsn: Secret) -> _Dsn:
    bad = UserError("the Sentry DSN must look like https://PUBLIC_KEY@HOST/PROJECT_ID")
    try:
        parts = urlsplit(dsn.reveal().strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise bad from None
    netloc = parts.netloc.rpartition("@")[2]
    prefix, _, project_id = parts.path.rstrip("/").rpartition("/")
    if (
        parts.scheme not in ("http", "https")
        or not parts.username
        or not parts.hostname
        or not project_id
        or parts.query
        or parts.fragment
    ):
        raise bad
    return _Dsn(parts.scheme, netloc, prefix, project_id, parts.username, parts.password)


def _sentry_retry_after(response: httpx.Response, now: datetime) -> float | None:
    """The wait for check-ins: ``X-Sentry-Rate-Limits`` for category monitor (or all), else Retry-After.

    The header is ``retry_after:categories:scope[:reason[:namespaces]]`` groups, comma-separated;
    an empty category list means every category.
    """
    header = response.headers.get("x-sentry-rate-limits")
    waits: list[float] = []
    for group in (header or "").split(","):
        fields = group.strip().split(":")
        if not fields[0]:
            continue
        try:
            seconds = float(fields[0])
        except ValueError:
            continue
        categories = fields[1].split(";") if len(fields) > 1 and fields[1] else []
        if math.isfinite(seconds) and (not categories or "monitor" in categories):
            waits.append(max(0.0, seconds))
    if waits:
        return max(waits)
    return _parse_retry_after(response.headers.get("retry-after"), now)


def _sentry_describe(response: httpx.Response, scrub: _Scrubber) -> str:
    text = response.text
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        text = data["detail"]
    detail = scrub(_excerpt(text))
    if response.status_code in (401, 403):
        detail += " (the DSN's key was refused: check the DSN secret and that the key is enabled)"
    elif response.status_code == 413:
        detail += " (the check-in was too large)"
    return detail


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _envelope(header: Mapping[str, Any], items: Iterable[tuple[str, Mapping[str, Any]]]) -> bytes:
    """Serialize an envelope: a header line, then per item a header line and a payload line.

    Each item header carries the payload's exact byte ``length`` so Relay needs no delimiter scan.
    """

    def line(obj: Mapping[str, Any]) -> bytes:
        # Compact JSON never contains a raw newline, which is what delimits the lines.
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    chunks = [line(header)]
    for item_type, payload in items:
        body = line(payload)
        chunks += [line({"type": item_type, "length": len(body)}), body]
    return b"\n".join(chunks) + b"\n"


class SentryCrons:
    """Sends Sentry Crons check-ins for one project (one DSN)."""

    def __init__(
        self,
        dsn: Secret,
        *,
        environment: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self._dsn = _parse_dsn(dsn)
        if environment is not None and not 0 < len(environment) <= ENVIRONMENT_MAX_LENGTH:
            raise UserError(
                f"Sentry environment names are 1 to {ENVIRONMENT_MAX_LENGTH} characters; "
                f"{environment[:20]!r}… has {len(environment)}"
            )
        self._environment = environment
        self._clock = clock
        words = [dsn.reveal(), self._dsn.public_key]
        if self._dsn.secret_key:
            words.append(self._dsn.secret_key)
        _HTTPX_LOG_REDACTOR.add(words)
        self._poster = _Poster(
            label=f"Sentry at {self._dsn.netloc} (project {self._dsn.project_id})",
            url=self._dsn.envelope_url,
            scrub=_Scrubber(words),
            client=client,
            timeout=timeout,
            max_attempts=max_attempts,
            sleep=sleep,
            clock=clock,
            retry_after=_sentry_retry_after,
            describe=_sentry_describe,
        )
        self._recent: dict[str, deque[float]] = {}

    def __repr__(self) -> str:
        return f"<SentryCrons {self._poster.label}>"

    async def check_in(
        self,
        slug: str,
        status: CheckInStatus,
        *,
        check_in_id: str | None = None,
        duration_s: float | None = None,
        monitor_config: MonitorConfig | None = None,
    ) -> str:
        """Send one check-in and return its id.

        A run is ``in_progress`` then ``ok``/``error`` with the same `check_in_id` (make it with
        `new_check_in_id`, or take the one the first call returns); an ``ok``/``error`` without an id
        is a heartbeat. `monitor_config` creates or updates the monitor. Raises NotifyError when the
        check-in was not delivered, ValueError for arguments no Sentry would accept.
        """
        if not is_sentry_slug(slug):
            raise ValueError(f"{slug!r} is not a Sentry monitor slug; make one with sentry_slug()")
        if status not in _STATUSES:
            raise ValueError(f"check-in status must be in_progress, ok or error, not {status!r}")
        check_in_id = uuid.UUID(check_in_id).hex if check_in_id else new_check_in_id()
        payload: dict[str, Any] = {"check_in_id": check_in_id, "monitor_slug": slug, "status": status}
        if duration_s is not None:
            if status == "in_progress":
                raise ValueError("a duration belongs on the ok or error check-in, not on in_progress")
            if not math.isfinite(duration_s) or duration_s < 0:
                raise ValueError(f"duration_s must be a finite number ≥ 0, not {duration_s!r}")
            payload["duration"] = round(duration_s, 3)
        if self._environment is not None:
            payload["environment"] = self._environment
        if monitor_config is not None:
            payload["monitor_config"] = monitor_config.to_payload()
        self._admit(slug)
        header = {"sent_at": _rfc3339(self._clock.now()), "sdk": {"name": "sengu", "version": __version__}}
        body = _envelope(header, [("check_in", payload)])
        client_name = f"sengu/{__version__}"
        auth = f"Sentry sentry_version=7, sentry_client={client_name}, sentry_key={self._dsn.public_key}"
        await self._poster.post(body, {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth})
        return check_in_id

    def _admit(self, slug: str) -> None:
        now = self._clock.monotonic()
        recent = self._recent.setdefault(slug, deque())
        while recent and now - recent[0] >= 60.0:
            recent.popleft()
        if len(recent) >= CHECK_INS_PER_MINUTE:
            raise NotifyError(
                f"check-in for monitor {slug} not sent: Sentry accepts at most "
                f"{CHECK_INS_PER_MINUTE} check-ins a minute per monitor",
                retry_after_s=60.0 - (now - recent[0]),
            )
        recent.append(now)
