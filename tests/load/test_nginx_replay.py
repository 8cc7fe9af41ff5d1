"""Scenarios from real nginx logs (Debian's nginx-light, logging here on a free loopback port): a request with
a UTF-8 path, logged by nginx with its escapes, becomes a scenario whose replay reaches the same path — read
back from nginx's own `$uri` log — in the default and in the JSON (`escape=json`) log format."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.load.nginx import NGINX, Nginx

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed: `bash tools/install-debs.sh` installs Debian's nginx-light"
)

JSON_FORMAT = (
    'log_format j escape=json \'{"time":"$time_iso8601","request":"$request","status":$status,'
    '"rt":"$request_time","ua":"$http_user_agent"}\';'
)
HTTP = JSON_FORMAT + "\n    log_format uri '$uri';"


def sengu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


@pytest.fixture
def web() -> Iterator[Nginx]:
    with Nginx({"access.log": "combined", "json.log": "j", "uri.log": "uri"}, http=HTTP) as server:
        yield server


def _replay(web: Nginx, scenario: Path) -> None:
    ran = sengu("load", "run", "-t", web.url, "-s", str(scenario), "--rate", "10", "--duration", "1s", "-q")
    assert ran.returncode == 0, ran.stderr


def test_a_utf8_path_from_the_combined_log_replays_to_the_same_path(tmp_path: Path, web: Nginx) -> None:
    # What a client that does not percent-encode sends; nginx logs it as GET /blog/caf\xC3\xA9.
    assert web.send(b"GET /blog/caf\xc3\xa9 HTTP/1.1").startswith(b"HTTP/1.1 200")
    (logged,) = web.lines("access.log")
    assert '"GET /blog/caf\\xC3\\xA9 HTTP/1.1"' in logged  # the material: nginx's own escaping
    (seen,) = web.lines("uri.log")

    scenario = tmp_path / "scenario.yaml"
    made = sengu("load", "scenario", str(web.home / "access.log"), "-o", str(scenario))
    assert made.returncode == 0, made.stderr
    (endpoint,) = yaml.safe_load(scenario.read_text(encoding="utf-8"))["spec"]["endpoints"]
    assert endpoint["path"] == "/blog/café"  # the bytes nginx saw, as text: no backslashes

    _replay(web, scenario)
    replayed = web.lines("uri.log")[1:]
    assert len(replayed) >= 5 and set(replayed) == {seen}  # every replay reached the path nginx saw first
    assert not any("\\x5C" in line for line in web.lines("access.log"))  # no backslash was sent


def test_a_json_log_format_with_escaped_quotes_parses_and_replays(tmp_path: Path, web: Nginx) -> None:
    assert web.send(b"GET /blog/caf\xc3\xa9 HTTP/1.1", b'User-Agent: say "hi" \\ there\r\n').startswith(b"HTTP/1.1 200")
    assert web.send(b"GET /tags/%22quoted%22 HTTP/1.1").startswith(b"HTTP/1.1 200")
    first = web.lines("json.log")
    assert '\\"hi\\"' in first[0]  # escape=json writes the quote as \"
    seen = web.lines("uri.log")

    scenario = tmp_path / "scenario.yaml"
    made = sengu(
        "load", "scenario", str(web.home / "json.log"), "--format", "nginx:" + JSON_FORMAT, "-o", str(scenario)
    )
    assert made.returncode == 0, made.stderr
    assert "2 requests, 2 kept, 0 unparseable" in made.stderr
    paths = {e["path"] for e in yaml.safe_load(scenario.read_text(encoding="utf-8"))["spec"]["endpoints"]}
    assert paths == {"/blog/café", "/tags/%22quoted%22"}

    _replay(web, scenario)
    assert set(web.lines("uri.log")[2:]) == set(seen)  # both paths, as nginx saw them the first time


@pytest.mark.parametrize("escape", ["json", "none"])
def test_a_byte_that_is_not_utf8_in_a_raw_log_replays_as_the_same_byte(tmp_path: Path, escape: str) -> None:
    """With escape=json and escape=none nginx writes a byte >= 0x80 raw: it must replay as that byte
    (percent-encoded), not as U+FFFD."""
    fmt = f"log_format r escape={escape} '$remote_addr \"$request\" $status $request_time';"
    with Nginx({"raw.log": "r", "uri.log": "uri"}, http=fmt + "\n    log_format uri '$uri';") as web:
        assert web.send(b"GET /latin\xe9 HTTP/1.1").startswith(b"HTTP/1.1 200")
        logged = (web.home / "raw.log").read_bytes()
        assert b'"GET /latin\xe9 HTTP/1.1"' in logged  # the material: the raw byte, as nginx wrote it
        (seen,) = web.lines("uri.log")

        scenario = tmp_path / "scenario.yaml"
        made = sengu("load", "scenario", str(web.home / "raw.log"), "--format", "nginx:" + fmt, "-o", str(scenario))
        assert made.returncode == 0, made.stderr
        (endpoint,) = yaml.safe_load(scenario.read_text(encoding="utf-8"))["spec"]["endpoints"]
        assert endpoint["path"] == "/latin%E9"

        _replay(web, scenario)
        replayed = web.lines("uri.log")[1:]
        assert len(replayed) >= 5 and set(replayed) == {seen}  # the same $uri nginx saw first
