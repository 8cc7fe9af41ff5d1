"""Slack and Sentry notifications against real local HTTP servers (tests/fakes/receivers.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sengu.core.clock import FakeClock
from sengu.core.errors import UserError
from sengu.core.notify import (
    RETRY_AFTER_CAP_S,
    MonitorConfig,
    NotifyError,
    Secret,
    SecretSource,
    SentryCrons,
    SlackNotifier,
    is_sentry_slug,
    new_check_in_id,
    read_secret,
    sentry_slug,
)
from tests.fakes import Reply, SentryReceiver, SlackReceiver
from tests.fakes.receivers import parse_envelope

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Sleeps:
    """Stands in for asyncio.sleep: records the waits, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def error_text(exc: BaseException) -> str:
    """Everything an exception would show in a log: str, repr, and its chained causes."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# Secrets


def test_secret_never_prints_its_value() -> None:
    secret = Secret("hunter2-xyz")
    assert repr(secret) == str(secret) == f"{secret}" == "***"
    assert "hunter2" not in repr([secret, {"k": secret}])
    assert "hunter2" not in repr(SecretSource(env="X")) + repr(
        SlackNotifier(Secret("https://h.example/s/T/B/hunter2-xyz"))
    )
    assert secret.reveal() == "hunter2-xyz"


def test_read_secret_from_file_strips_the_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "slack"
    path.write_text("https://hooks.slack.com/services/T1/B2/abc\n")
    assert read_secret(SecretSource(file=str(path))).reveal() == "https://hooks.slack.com/services/T1/B2/abc"


def test_read_secret_from_env() -> None:
    secret = read_secret(SecretSource(env="SENTRY_DSN"), environ={"SENTRY_DSN": " https://k@h/1 "})
    assert secret.reveal() == "https://k@h/1"


def test_read_secret_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENGU_TEST_SECRET", "s3cr3t-value")
    assert read_secret(SecretSource(env="SENGU_TEST_SECRET")).reveal() == "s3cr3t-value"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("blank", "is empty"),
        ("directory", "is a directory"),
        ("binary", "is not UTF-8"),
    ],
)
def test_read_secret_file_errors_name_the_file(tmp_path: Path, setup: str, expected: str) -> None:
    path = tmp_path / "secret"
    if setup == "empty":
        path.write_text("")
    elif setup == "blank":
        path.write_text("  \n\n")
    elif setup == "directory":
        path.mkdir()
    elif setup == "binary":
        path.write_bytes(b"\xff\xfesecret-bytes")
    with pytest.raises(UserError) as info:
        read_secret(SecretSource(file=str(path)))
    assert str(path) in str(info.value)
    assert expected in str(info.value)
    assert "secret-bytes" not in error_text(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("environ", "expected"), [({}, "is not set"), ({"HOOK": "  "}, "is empty")])
def test_read_secret_env_errors_name_the_variable(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(UserError, match=f"environment variable HOOK {expected}"):
        read_secret(SecretSource(env="HOOK"), environ=environ)


@pytest.mark.parametrize("source", [SecretSource(), SecretSource(file="/x", env="Y")])
def test_read_secret_needs_exactly_one_source(source: SecretSource) -> None:
    with pytest.raises(UserError, match="exactly one source"):
        read_secret(source, environ={"Y": "v"})


# --------------------------------------------------------------------------------------------------
# Slack


def test_slack_posts_text_and_blocks() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*nightly* failed"}}]
    with SlackReceiver() as slack:
        run(SlackNotifier(Secret(slack.url)).send("batch nightly failed — 日次", blocks=blocks))
        assert slack.messages == [{"text": "batch nightly failed — 日次", "blocks": blocks}]
        (request,) = slack.requests
        assert request.method == "POST"
        assert request.headers["content-type"].startswith("application/json")


def test_slack_text_only_sends_no_blocks_key() -> None:
    with SlackReceiver() as slack:
        run(SlackNotifier(Secret(slack.url)).send("hello"))
        assert slack.messages == [{"text": "hello"}]


def test_slack_waits_retry_after_on_429_then_delivers() -> None:
    sleeps = Sleeps()
    with SlackReceiver() as slack:
        slack.fail_next(2, 429, "rate_limited", retry_after=1)
        run(SlackNotifier(Secret(slack.url), sleep=sleeps).send("hello"))
        assert sleeps.waits == [1.0, 1.0]
        assert [r.status for r in slack.requests] == [429, 429, 200]
        assert slack.texts == ["hello"]


def test_slack_retry_after_as_http_date_uses_the_clock() -> None:
    sleeps = Sleeps()
    clock = FakeClock()  # 2026-01-01T00:00:00Z
    with SlackReceiver() as slack:
        slack.script(Reply(429, "rate_limited", {"Retry-After": "Thu, 01 Jan 2026 00:00:07 GMT"}))
        run(SlackNotifier(Secret(slack.url), sleep=sleeps, clock=clock).send("hello"))
        assert sleeps.waits == [7.0]


def test_slack_backs_off_on_5xx_then_delivers() -> None:
    sleeps = Sleeps()
    with SlackReceiver() as slack:
        slack.fail_next(2, 500, "rollup_error")
        run(SlackNotifier(Secret(slack.url), sleep=sleeps).send("hello"))
        assert sleeps.waits == [1.0, 2.0]
        assert slack.texts == ["hello"]


def test_slack_gives_up_without_leaking_the_url() -> None:
    sleeps = Sleeps()
    with SlackReceiver() as slack:
        # A server that echoes the request path in its error must not leak it through us.
        slack.fail_next(3, 503, f"upstream failed for {slack.path}")
        with pytest.raises(NotifyError) as info:
            run(SlackNotifier(Secret(slack.url), sleep=sleeps, max_attempts=3).send("hello"))
        assert len(slack.requests) == 3
        assert sleeps.waits == [1.0, 2.0]
    text = error_text(info.value)
    assert "failed 3 times" in text and "HTTP 503" in text and "127.0.0.1" in text
    assert slack.token not in text and "B0SENGU00" not in text
    assert "***" in text
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("status", "body", "hint"),
    [
        (404, "no_service", "revoked"),
        (410, "channel_is_archived", "archived"),
        (400, "invalid_payload", "bug in sengu"),
        (403, "action_prohibited", "admin"),
    ],
)
def test_slack_client_errors_are_not_retried(status: int, body: str, hint: str) -> None:
    sleeps = Sleeps()
    with SlackReceiver() as slack:
        slack.fail_next(1, status, body)
        with pytest.raises(NotifyError) as info:
            run(SlackNotifier(Secret(slack.url), sleep=sleeps).send("hello"))
        assert len(slack.requests) == 1 and sleeps.waits == []
    assert info.value.status == status
    assert body in str(info.value) and hint in str(info.value)
    assert slack.token not in error_text(info.value)


def test_slack_wrong_webhook_answers_no_service() -> None:
    with SlackReceiver() as slack:
        wrong = slack.url.replace(slack.token, "not-the-token-at-all")
        with pytest.raises(NotifyError, match="no_service") as info:
            run(SlackNotifier(Secret(wrong), sleep=Sleeps()).send("hello"))
        assert slack.messages == []
    assert "not-the-token-at-all" not in error_text(info.value)


def test_slack_retry_after_beyond_the_cap_drops_the_message_and_holds_back() -> None:
    sleeps = Sleeps()
    clock = FakeClock()
    with SlackReceiver() as slack:
        slack.fail_next(1, 429, "rate_limited", retry_after=RETRY_AFTER_CAP_S + 30)
        notifier = SlackNotifier(Secret(slack.url), sleep=sleeps, clock=clock)
        with pytest.raises(NotifyError, match="asks for 60 s") as info:
            run(notifier.send("hello"))
        assert info.value.retry_after_s == 60.0
        # Within the window nothing is sent at all; after it, messages flow again.
        with pytest.raises(NotifyError, match="rate limiting us for"):
            run(notifier.send("again"))
        assert len(slack.requests) == 1
        clock.advance(61)
        run(notifier.send("later"))
        assert sleeps.waits == []
        assert slack.texts == ["later"]


def test_slack_connection_refused_is_retried_then_reported() -> None:
    sleeps = Sleeps()
    with SlackReceiver() as slack:
        url, token = slack.url, slack.token
    # The receiver is stopped: its port refuses connections.
    with pytest.raises(NotifyError, match="ConnectError") as info:
        run(SlackNotifier(Secret(url), sleep=sleeps, max_attempts=2).send("hello"))
    assert sleeps.waits == [1.0]
    assert token not in error_text(info.value)


def test_slack_timeout_is_retried() -> None:
    sleeps = Sleeps()
    with SlackReceiver() as slack:
        slack.script(Reply(200, "ok", delay_s=2.0))
        run(SlackNotifier(Secret(slack.url), sleep=sleeps, timeout=0.2).send("hello"))
        assert sleeps.waits == [1.0]
        assert [r.status for r in slack.requests] == [200, 200]  # the first answer came too late
        assert slack.texts == ["hello"]


def test_slack_logs_never_show_the_webhook(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SlackReceiver() as slack:
        slack.fail_next(1, 429, "rate_limited", retry_after=1)
        run(SlackNotifier(Secret(slack.url), sleep=Sleeps()).send("hello"))
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # httpx did log the request …
    assert "retrying in 1.0 s" in caplog.text
    assert slack.token not in caplog.text  # … with the secret part masked
    assert slack.path not in caplog.text


def test_slack_uses_a_given_client_and_leaves_it_open() -> None:
    async def go(url: str) -> bool:
        async with httpx.AsyncClient() as client:
            notifier = SlackNotifier(Secret(url), client=client)
            await notifier.send("one")
            await notifier.send("two")
            return client.is_closed

    with SlackReceiver() as slack:
        assert run(go(slack.url)) is False
        assert slack.wait_for(2) == [{"text": "one"}, {"text": "two"}]


def test_slack_rejects_bad_arguments_before_sending() -> None:
    with pytest.raises(UserError, match="webhook URL"):
        SlackNotifier(Secret("hooks.slack.com/services/T/B/x"))
    with pytest.raises(ValueError, match="max_attempts"):
        SlackNotifier(Secret("https://hooks.slack.com/services/T/B/x"), max_attempts=0)
    with pytest.raises(ValueError, match="text or blocks"):
        run(SlackNotifier(Secret("https://hooks.slack.com/services/T/B/x")).send("  "))


# --------------------------------------------------------------------------------------------------
# Sentry


def test_sentry_check_in_is_an_envelope_as_documented() -> None:
    clock = FakeClock()
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn), environment="production", clock=clock)
        check_in_id = run(crons.check_in("nightly-report", "in_progress"))
        (request,) = sentry.requests
    assert re.fullmatch(r"[0-9a-f]{32}", check_in_id)
    assert request.path == "/api/4242/envelope/" and request.query == {}
    assert request.headers["content-type"] == "application/x-sentry-envelope"
    auth = request.headers["x-sentry-auth"]
    assert auth.startswith("Sentry ") and "sentry_version=7" in auth
    assert f"sentry_key={sentry.public_key}" in auth and "sentry_client=sengu/" in auth
    # The raw bytes: header line, item header line, payload line, each ending in a newline.
    header_line, item_line, payload_line, rest = request.body.split(b"\n")
    assert rest == b""
    header, item = json.loads(header_line), json.loads(item_line)
    assert header["sent_at"] == "2026-01-01T00:00:00.000000Z"
    assert header["sdk"]["name"] == "sengu"
    assert sentry.public_key not in header_line.decode()
    assert item == {"type": "check_in", "length": len(payload_line)}
    assert json.loads(payload_line) == {
        "check_in_id": check_in_id,
        "monitor_slug": "nightly-report",
        "status": "in_progress",
        "environment": "production",
    }


def test_sentry_pairs_in_progress_and_ok_by_check_in_id() -> None:
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn))

        async def one_run() -> str:
            check_in_id = await crons.check_in("nightly", "in_progress")
            assert await crons.check_in("nightly", "ok", check_in_id=check_in_id, duration_s=12.34567) == check_in_id
            return check_in_id

        first, second = run(one_run()), run(one_run())
        assert first != second
        assert sentry.runs() == {first: ["in_progress", "ok"], second: ["in_progress", "ok"]}
        ok = sentry.check_ins[1]
        assert ok["duration"] == 12.346 and "duration" not in sentry.check_ins[0]
        assert "environment" not in ok


def test_sentry_check_in_id_made_beforehand_survives_a_failed_start() -> None:
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn), sleep=Sleeps(), max_attempts=1)
        check_in_id = new_check_in_id()
        sentry.fail_next(1, 500)
        with pytest.raises(NotifyError):
            run(crons.check_in("nightly", "in_progress", check_in_id=check_in_id))
        run(crons.check_in("nightly", "error", check_in_id=check_in_id, duration_s=3))
        assert sentry.runs() == {check_in_id: ["error"]}


def test_sentry_accepts_a_dashed_uuid_and_sends_it_as_hex() -> None:
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn))
        dashed = "83a7c03e-d0a0-4e1b-97e2-e3b18d38f244"
        assert run(crons.check_in("nightly", "ok", check_in_id=dashed)) == dashed.replace("-", "")
        assert sentry.check_ins[0]["check_in_id"] == "83a7c03ed0a04e1b97e2e3b18d38f244"


def test_sentry_monitor_config_upserts_the_monitor() -> None:
    config = MonitorConfig(
        schedule="*/5  * * * *",
        timezone="Asia/Tokyo",
        checkin_margin_min=5,
        max_runtime_min=30,
        failure_issue_threshold=2,
        recovery_threshold=1,
    )
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn))
        run(crons.check_in("nightly", "in_progress", monitor_config=config))
        run(crons.check_in("hourly", "ok", monitor_config=MonitorConfig("0 * * * *", "UTC")))
        assert sentry.monitors == {
            "nightly": {
                "schedule": {"type": "crontab", "value": "*/5 * * * *"},
                "timezone": "Asia/Tokyo",
                "checkin_margin": 5,
                "max_runtime": 30,
                "failure_issue_threshold": 2,
                "recovery_threshold": 1,
            },
            "hourly": {"schedule": {"type": "crontab", "value": "0 * * * *"}, "timezone": "UTC"},
        }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schedule": " "},
        {"timezone": ""},
        {"max_runtime_min": 0},
        {"checkin_margin_min": -1},
        {"failure_issue_threshold": True},
        {"recovery_threshold": 1.5},
    ],
)
def test_monitor_config_rejects_values_sentry_would_not(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MonitorConfig(**{"schedule": "0 * * * *", "timezone": "UTC", **kwargs})


def test_sentry_honours_rate_limit_headers_then_delivers() -> None:
    sleeps = Sleeps()
    with SentryReceiver() as sentry:
        sentry.fail_next(1, 429, retry_after=2)
        run(SentryCrons(Secret(sentry.dsn), sleep=sleeps).check_in("nightly", "ok"))
        assert sleeps.waits == [2.0]
        assert [c["status"] for c in sentry.check_ins] == ["ok"]


def test_sentry_rate_limit_for_other_categories_does_not_apply() -> None:
    sleeps = Sleeps()
    with SentryReceiver() as sentry:
        sentry.script(Reply(429, "{}", {"X-Sentry-Rate-Limits": "600:transaction;error:key"}))
        run(SentryCrons(Secret(sentry.dsn), sleep=sleeps).check_in("nightly", "ok"))
        assert sleeps.waits == [1.0]  # plain backoff, not the 600 s meant for transactions


def test_sentry_wrong_key_is_refused_without_leaking_the_dsn() -> None:
    with SentryReceiver() as sentry:
        wrong_dsn = sentry.dsn.replace(sentry.public_key, "0123456789abcdef0123456789abcdef")
        with pytest.raises(NotifyError) as info:
            run(SentryCrons(Secret(wrong_dsn), sleep=Sleeps()).check_in("nightly", "ok"))
        assert len(sentry.requests) == 1 and sentry.check_ins == []
    text = error_text(info.value)
    assert info.value.status == 401 and "invalid api key" in text and "check the DSN" in text
    assert "0123456789abcdef0123456789abcdef" not in text and wrong_dsn not in text


def test_sentry_gives_up_without_leaking_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sleeps = Sleeps()
    with SentryReceiver() as sentry:
        sentry.fail_next(2, 502, json.dumps({"detail": f"bad gateway for {sentry.public_key}"}))
        with pytest.raises(NotifyError) as info:
            run(SentryCrons(Secret(sentry.dsn), sleep=sleeps, max_attempts=2).check_in("nightly", "ok"))
    text = error_text(info.value)
    assert "failed 2 times" in text and "HTTP 502" in text and "project 4242" in text
    assert sentry.public_key not in text and sentry.public_key not in caplog.text
    assert sleeps.waits == [1.0]


def test_sentry_refuses_a_seventh_check_in_a_minute_per_monitor() -> None:
    clock = FakeClock()
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn), clock=clock)

        async def burst() -> None:
            for _ in range(6):
                await crons.check_in("busy", "ok")
                clock.advance(5)
            with pytest.raises(NotifyError, match="at most 6 check-ins a minute"):
                await crons.check_in("busy", "ok")
            await crons.check_in("other", "ok")  # the limit is per monitor
            clock.advance(30)  # the first check-in is now a minute old
            await crons.check_in("busy", "ok")

        run(burst())
        assert len(sentry.check_ins) == 8


@pytest.mark.parametrize(
    "dsn",
    [
        "not a dsn",
        "https://o0.ingest.sentry.io/42",
        "https://key@/42",
        "ftp://key@host/42",
        "https://key@host/",
    ],
)
def test_sentry_bad_dsn_is_a_user_error_without_the_value(dsn: str) -> None:
    with pytest.raises(UserError, match="PUBLIC_KEY@HOST/PROJECT_ID") as info:
        SentryCrons(Secret(dsn))
    assert dsn not in str(info.value)


def test_sentry_dsn_with_a_path_prefix() -> None:
    with SentryReceiver() as sentry:
        dsn = sentry.dsn.replace(f"/{sentry.project_id}", f"/sentry/{sentry.project_id}")
        with pytest.raises(NotifyError, match="HTTP 404"):
            run(SentryCrons(Secret(dsn)).check_in("nightly", "ok"))
        assert sentry.requests[0].path == "/sentry/api/4242/envelope/"


def test_sentry_rejects_bad_arguments_before_sending() -> None:
    with SentryReceiver() as sentry:
        crons = SentryCrons(Secret(sentry.dsn))
        with pytest.raises(ValueError, match="sentry_slug"):
            run(crons.check_in("Nightly Report", "ok"))
        with pytest.raises(ValueError, match="not on in_progress"):
            run(crons.check_in("nightly", "in_progress", duration_s=1.0))
        with pytest.raises(ValueError):
            run(crons.check_in("nightly", "ok", check_in_id="not-a-uuid"))
        with pytest.raises(ValueError, match="status"):
            run(crons.check_in("nightly", "missed"))  # type: ignore[arg-type]
        assert sentry.requests == []
    with pytest.raises(UserError, match="1 to 64"):
        SentryCrons(Secret("https://k@h/1"), environment="e" * 65)


# --------------------------------------------------------------------------------------------------
# Slugs


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("nightly-report", "nightly-report"),
        ("Nightly Report", "nightly-report"),
        ("batch/nightly.report", "batch-nightly-report"),
        ("a--b__c", "a-b__c"),
        ("-edge_", "edge"),
    ],
)
def test_sentry_slug_keeps_readable_names(name: str, slug: str) -> None:
    assert sentry_slug(name) == slug


def test_sentry_slug_hashes_what_it_cuts_or_drops() -> None:
    long_a, long_b = "x" * 60 + "-a", "x" * 60 + "-b"
    assert len(sentry_slug(long_a)) == 50 and sentry_slug(long_a) != sentry_slug(long_b)
    assert sentry_slug(long_a) == sentry_slug(long_a)  # stable
    assert sentry_slug("日次集計") != sentry_slug("週次集計")
    assert sentry_slug("日次集計").startswith("job-")
    assert sentry_slug("集計-daily").startswith("daily-") and sentry_slug("集計-daily") != sentry_slug("報告-daily")
    assert sentry_slug("12345").startswith("12345-")
    assert sentry_slug("a" * 50) == "a" * 50


@pytest.mark.parametrize("slug", ["", "UPPER", "a b", "-a", "a-", "_a", "a--b", "123", "a" * 51, "é"])
def test_is_sentry_slug_rejects(slug: str) -> None:
    assert not is_sentry_slug(slug)


@given(st.text(max_size=120))
def test_sentry_slug_is_always_valid_and_stable(name: str) -> None:
    slug = sentry_slug(name)
    assert is_sentry_slug(slug)
    assert sentry_slug(name) == slug


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=51, max_size=80))
def test_sentry_slug_distinguishes_long_names(suffix_free: str) -> None:
    assert sentry_slug(suffix_free + "1") != sentry_slug(suffix_free + "2")


# --------------------------------------------------------------------------------------------------
# The fakes hold the line: they refuse what the real services would


def test_sentry_fake_parses_envelopes_strictly() -> None:
    payload = b'{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"m","status":"ok"}'
    good = b'{}\n{"type":"check_in","length":%d}\n%s\n' % (len(payload), payload)
    header, items = parse_envelope(good)
    assert header == {} and items == [({"type": "check_in", "length": len(payload)}, payload)]
    assert parse_envelope(b'{}\n{"type":"check_in"}\n' + payload)[1][0][1] == payload  # no length: to EOL
    with SentryReceiver() as sentry:
        url = f"{sentry.base_url}/api/{sentry.project_id}/envelope/"
        auth = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={sentry.public_key}"}
        bad_bodies = {
            b'{}\n{"type":"check_in","length":5}\n' + payload: "longer than its length",
            b'{}\n{"length":3}\nabc\n': "no type",
            b"[]\n": "not a JSON object",
            b'{}\n{"type":"check_in"}\n{"check_in_id":"x","monitor_slug":"m","status":"done"}\n': "status",
            b'{}\n{"type":"check_in"}\n' + payload[:-1] + b',"duration_s":1}\n': "unknown field duration_s",
        }
        with httpx.Client() as client:
            for body, problem in bad_bodies.items():
                response = client.post(url, content=body, headers=auth)
                assert response.status_code == 400 and problem in response.json()["detail"], body
            assert client.post(url, content=good).status_code == 401  # no key
            assert client.post(url + f"?sentry_key={sentry.public_key}", content=good).status_code == 200
        assert sentry.check_ins == [json.loads(payload)]


def test_slack_fake_refuses_what_slack_would() -> None:
    with SlackReceiver() as slack, httpx.Client() as client:
        assert client.post(slack.url, content=b"not json").text == "invalid_payload"
        assert client.post(slack.url, json={"text": ""}).text == "no_text"
        assert client.post(slack.url, json={"text": "t", "blocks": [{}]}).text == "invalid_blocks"
        assert client.post(slack.base_url + "/services/T/B/other", json={"text": "t"}).status_code == 404
        form = client.post(slack.url, data={"payload": json.dumps({"text": "from a form"})})
        assert form.text == "ok"
        assert slack.texts == ["from a form"]
        assert [r.status for r in slack.requests] == [400, 400, 400, 404, 200]
