"""The load engine against a real HTTP server in a subprocess, over loopback.

Counts are exact where the open model makes them so (a schedule releases a known number of requests and
every one ends as an answer or a counted error). The only timing assertion is the coordinated-omission
one the issue asks for: a 1 s server freeze must show in the latency.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sengu.core.errors import UserError
from sengu.load import workers
from sengu.load.engine import LoadConfig, Progress, Request, Target, encode_request, run
from sengu.load.result import ERROR_CLASSES, Result
from sengu.load.schedule import constant, steps
from tests.load.servers import ServerProcess, free_port, self_signed

GET = Request("root", "GET", "/")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


def served(server: ServerProcess) -> int:
    with urllib.request.urlopen(server.url + "/count", timeout=5) as answer:
        return int(answer.read())


def assert_adds_up(result: Result) -> None:
    """Every request is an answer (a status) or an error of a known class; the breakdowns agree."""
    assert set(result.error_classes) <= set(ERROR_CLASSES)
    assert result.requests == sum(result.statuses.values()) + sum(result.error_classes.values())
    server_errors = sum(n for s, n in result.statuses.items() if int(s) >= 500)
    assert result.errors == sum(result.error_classes.values()) + server_errors
    assert result.requests == sum(e.requests for e in result.endpoints)
    assert result.errors == sum(e.errors for e in result.endpoints)
    assert result.latency_ms.count == sum(result.statuses.values())
    assert result.overflow == result.error_classes.get("overflow", 0)
    assert sum(s.completed for s in result.timeline) == result.requests
    assert sum(s.offered for s in result.timeline) == result.requests  # every request offered ends somewhere
    assert sum(s.errors for s in result.timeline) == result.errors


def test_open_model_sends_exactly_what_the_schedule_offers(server: ServerProcess) -> None:
    before = served(server)
    seconds: list[Progress] = []
    result = run(LoadConfig(server.url, [GET], schedule=steps([100, 300], step_s=1), timeout_s=5), seconds.append)
    assert served(server) - before == 400
    assert result.mode == "open"
    assert result.offered_rate == 200
    assert result.requests == 400
    assert result.statuses == {"200": 400}
    assert result.errors == 0 and result.error_classes == {}
    assert [s.offered for s in result.timeline[:2]] == [100, 300]
    assert result.latency_ms.count == result.service_ms.count == result.send_lag_ms.count == 400
    assert 0 < result.latency_ms.p50 <= result.latency_ms.p99 <= result.latency_ms.max
    assert result.endpoints[0].name == "root" and result.endpoints[0].statuses == {"200": 400}
    assert result.connections == 64 and result.workers == 1
    assert result.generator_cpu is not None and result.started_at is not None
    assert [p.second.t for p in seconds][:2] == [0, 1]
    assert seconds[-1].requests == 400 and seconds[-1].offered == 400
    assert_adds_up(result)
    assert Result.from_json(result.to_json()) == result


def test_warm_up_requests_are_sent_but_not_counted(server: ServerProcess) -> None:
    before = served(server)
    result = run(LoadConfig(server.url, [GET], schedule=constant(200, 1), warmup_s=0.5))
    assert served(server) - before == 300
    assert result.requests == 200
    assert result.duration_s == 1
    assert_adds_up(result)


def test_closed_model_sends_as_fast_as_answers_come(server: ServerProcess) -> None:
    before = served(server)
    result = run(LoadConfig(server.url, [GET], duration_s=0.5, connections=4))
    assert result.mode == "closed"
    assert result.offered_rate is None
    assert result.requests > 100
    assert served(server) - before == result.requests  # none lost, none invented
    assert result.latency_ms == result.service_ms  # no schedule: latency is service time
    assert result.send_lag_ms.count == 0
    assert result.connections == 4
    assert_adds_up(result)


def test_statuses_and_errors_per_endpoint(server: ServerProcess) -> None:
    mix = [
        Request("ok", "GET", "/status/200"),
        Request("missing", "GET", "/status/404"),
        Request("broken", "GET", "/status/503"),
        Request("ok", "GET", "/status/200?again=1"),
    ]
    result = run(LoadConfig(server.url, mix, schedule=constant(200, 1)))
    assert result.statuses == {"200": 100, "404": 50, "503": 50}
    assert result.errors == 50  # a 404 is an answer; a 5xx counts as an error
    by_name = {e.name: e for e in result.endpoints}
    assert [e.name for e in result.endpoints] == ["ok", "missing", "broken"]
    assert by_name["ok"].requests == 100 and by_name["ok"].errors == 0
    assert by_name["missing"].statuses == {"404": 50} and by_name["missing"].errors == 0
    assert by_name["broken"].statuses == {"503": 50} and by_name["broken"].errors == 50
    assert by_name["broken"].latency_ms.count == 50
    assert_adds_up(result)


def test_head_answers_have_no_body_and_the_connection_goes_on(server: ServerProcess) -> None:
    # One connection for everything: if a HEAD answer were read as waiting for its Content-Length of body,
    # the GET after it would never complete.
    mix = [Request("head", "HEAD", "/"), GET, Request("chunked", "GET", "/chunked"), Request("head", "HEAD", "/")]
    result = run(LoadConfig(server.url, mix, schedule=constant(100, 1), connections=1, timeout_s=2))
    assert result.statuses == {"200": 100}
    assert result.error_classes == {}
    assert {e.name: e.requests for e in result.endpoints} == {"head": 50, "root": 25, "chunked": 25}


def test_connection_close_answers_are_followed_by_a_new_connection(server: ServerProcess) -> None:
    by_name = server.url.replace("127.0.0.1", "localhost")  # looked up once, whichever address answers
    result = run(LoadConfig(by_name, [Request("close", "GET", "/close")], schedule=constant(100, 0.5)))
    assert result.statuses == {"200": 50}
    assert result.error_classes == {}


def test_connection_refused_counts_connect_errors() -> None:
    result = run(LoadConfig(f"http://127.0.0.1:{free_port()}", [GET], schedule=constant(100, 0.5), timeout_s=1))
    assert result.requests == 50
    assert result.error_classes == {"connect": 50}
    assert result.errors == 50 and result.statuses == {}
    assert result.achieved_rate == 0
    assert any("below the offered" in w for w in result.warnings)
    assert_adds_up(result)


def test_a_server_that_never_answers_gives_timeouts(server: ServerProcess) -> None:
    result = run(LoadConfig(server.url, [Request("hang", "GET", "/hang")], schedule=constant(20, 0.5), timeout_s=0.3))
    assert result.requests == 10
    assert result.error_classes == {"timeout": 10}
    assert result.latency_ms.count == 0
    assert_adds_up(result)


def test_a_full_backlog_counts_overflow_instead_of_dropping_silently(server: ServerProcess) -> None:
    # One connection to a server taking 200 ms an answer can carry ~2 of the 20 requests due in 0.4 s;
    # with room for 2 waiting, the rest overflow.
    slow = Request("slow", "GET", "/slow/200")
    result = run(LoadConfig(server.url, [slow], schedule=constant(50, 0.4), connections=1, max_backlog=2, timeout_s=3))
    assert result.requests == 20
    assert result.overflow > 0
    assert result.error_classes == {"overflow": result.overflow}
    assert result.statuses == {"200": 20 - result.overflow}
    assert any("backlog was full" in w for w in result.warnings)
    assert_adds_up(result)


def test_a_frozen_server_shows_in_the_latency_not_in_a_slower_generator() -> None:
    """Coordinated omission: freeze the server for 1 s during a 2,000 req/s run; p99 must show it (>= 500 ms)."""
    with ServerProcess() as frozen:
        thaw: list[threading.Timer] = []

        def freeze_once(progress: Progress) -> None:
            if progress.second.t == 0:  # one second in: stop the server for one second
                frozen.freeze()
                timer = threading.Timer(1.0, frozen.thaw)
                timer.start()
                thaw.append(timer)

        try:
            result = run(LoadConfig(frozen.url, [GET], schedule=constant(2000, 4), timeout_s=5), freeze_once)
        finally:
            for timer in thaw:
                timer.cancel()
            frozen.thaw()
    assert thaw, "the freeze never happened"
    assert result.requests == 8000
    assert result.error_classes == {}
    assert result.latency_ms.p99 >= 500
    # Requests due during the freeze were written late: that wait is send lag, not service time.
    assert result.send_lag_ms.p99 >= 500
    assert_adds_up(result)


def test_https_with_and_without_verifying_the_certificate(tmp_path: Path) -> None:
    with ServerProcess(tls=self_signed(str(tmp_path))) as tls:
        insecure = run(
            LoadConfig(tls.url, [GET, Request("head", "HEAD", "/")], schedule=constant(50, 0.5), insecure=True)
        )
        verified = run(LoadConfig(tls.url, [GET], schedule=constant(50, 0.5)))
    assert insecure.statuses == {"200": 25}
    assert insecure.target.startswith("https://")
    assert insecure.error_classes == {}
    # A certificate nobody vouches for: every request fails to connect, and is counted as such.
    assert verified.error_classes == {"connect": 25}


def test_a_failing_progress_callback_ends_the_run_with_its_error(server: ServerProcess) -> None:
    def fail(progress: Progress) -> None:
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        run(LoadConfig(server.url, [GET], schedule=constant(50, 2)), fail)


def test_workers_split_the_rate_and_merge_exactly(server: ServerProcess) -> None:
    before = served(server)
    seen: list[Progress] = []
    mix = [GET, Request("missing", "GET", "/status/404")]
    result = workers.run(LoadConfig(server.url, mix, schedule=constant(400, 1), connections=8), 2, seen.append)
    assert served(server) - before == 400
    assert result.workers == 2 and result.connections == 8
    assert result.requests == 400
    assert result.offered_rate == 400
    assert result.statuses == {"200": 200, "404": 200}
    assert result.timeline[0].offered == 400
    assert seen and seen[0].second.offered == 400
    assert not any("workers failed" in w for w in result.warnings)
    assert_adds_up(result)


def test_a_crashed_worker_is_reported() -> None:
    with ServerProcess() as proc:
        killed: list[int] = []

        def kill_one(progress: Progress) -> None:
            for child in multiprocessing.active_children():
                if child.name.endswith("-1") and not killed and child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

        result = workers.run(LoadConfig(proc.url, [GET], schedule=constant(200, 2), connections=4), 2, kill_one)
    assert killed
    assert result.workers == 1
    assert any("1 of 2 workers failed" in w and "exited with code -9" in w for w in result.warnings)
    assert any("below the offered" in w for w in result.warnings)  # the lost half is missing, and it says so


def test_a_failing_progress_callback_stops_the_workers(server: ServerProcess) -> None:
    def fail(progress: Progress) -> None:
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        workers.run(LoadConfig(server.url, [GET], schedule=constant(100, 5), connections=2), 2, fail)
    assert not [c for c in multiprocessing.active_children() if c.name.startswith("sengu-load-worker")]


def test_every_worker_failing_on_a_user_error_raises_it() -> None:
    with pytest.raises(UserError, match=r"http:// or https://"):
        workers.run(LoadConfig("ftp://127.0.0.1:1", [GET], schedule=constant(10, 1)), 2)


def test_requests_are_encoded_once_with_host_and_extra_headers() -> None:
    target = Target.parse("http://127.0.0.1:8080/api/")
    data = encode_request("GET", "/n/1?x=a b", {"Accept": "text/html", "X-Env": "scenario"}, [("x-env", "cli")], target)
    assert data == (
        b"GET /api/n/1?x=a%20b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: sengu-load\r\n"
        b"Accept: text/html\r\nx-env: cli\r\n\r\n"
    )
    assert Target.parse("https://example.test").host_header == "example.test"
    assert Target.parse("https://example.test").port == 443


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (LoadConfig("ftp://127.0.0.1", [GET], schedule=constant(1, 1)), "http"),
        (LoadConfig("http://127.0.0.1:99999", [GET], schedule=constant(1, 1)), "port"),
        (LoadConfig("http://127.0.0.1", [], schedule=constant(1, 1)), "no requests"),
        (LoadConfig("http://127.0.0.1", [GET]), "needs a positive --duration"),
        (LoadConfig("http://127.0.0.1", [GET], duration_s=1, connections=0), "--connections"),
        (LoadConfig("http://127.0.0.1", [Request("x", "GET", "n/1")], duration_s=1), "must start with /"),
        (LoadConfig("http://127.0.0.1", [Request("x", "G T", "/")], duration_s=1), "not an HTTP method"),
        (LoadConfig("http://127.0.0.1", [GET], duration_s=1, headers=[("X", "a\r\nB: c")]), "one line"),
    ],
)
def test_user_mistakes_are_user_errors(config: LoadConfig, message: str) -> None:
    with pytest.raises(UserError, match=message):
        run(config)
