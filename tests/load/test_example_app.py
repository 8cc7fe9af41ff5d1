"""The example site and its sample log (examples/load/): the app runs as a user starts it, and the sample
log's URLs answer the way the log says they did, so a scenario built from it replays cleanly."""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "load"
SAMPLE = EXAMPLE / "access.log.gz"

# nginx `combined` followed by $request_time: the log_format README.md documents. nginx escapes '"' and '\'.
_Q = r'"((?:[^"\\]|\\.)*)"'
LINE = re.compile(rf"^(\S+) - (\S+) \[([^\]]+)\] {_Q} (\d{{3}}) (\d+) {_Q} {_Q} (\d+\.\d{{3}})$")
REQUEST = re.compile(r"^([A-Z]+) (/\S*) HTTP/[0-9.]+$")


@dataclass(frozen=True)
class Entry:
    method: str
    target: str
    status: int
    time_local: str
    agent: str


def parse(lines: list[str]) -> tuple[list[Entry], list[str]]:
    """(entries with a well-formed request, every other line)."""
    entries, bad = [], []
    for line in lines:
        m = LINE.match(line)
        request = REQUEST.match(m.group(4)) if m else None
        if m is None or request is None:
            bad.append(line)
            continue
        entries.append(Entry(request.group(1), request.group(2), int(m.group(5)), m.group(3), m.group(8)))
    return entries, bad


def sample_lines() -> list[str]:
    return gzip.decompress(SAMPLE.read_bytes()).decode("ascii").splitlines()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    url: str
    access_log: Path
    process: subprocess.Popen[str]


def start(tmp: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "app.py"), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the example app exited with {process.returncode}: {output}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    stop(process)
    raise AssertionError("the example app did not answer /healthz within 60 s")


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # Two workers: the multi-process path (uvicorn re-imports the app; both append to one access log).
    tmp = tmp_path_factory.mktemp("site")
    log = tmp / "access.log"
    process, url = start(tmp, "--workers", "2", "--access-log", str(log), "--db", str(tmp / "site.db"))
    yield Site(url, log, process)
    stop(process)


def test_pages_answer(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        home = client.get("/")
        assert home.status_code == 200 and "<h1>Latest</h1>" in home.text
        assert '<a href="/articles/3000">' in home.text  # the newest article leads

        first = client.get("/articles/1")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
        api = client.get("/api/articles/1").json()
        assert api["id"] == 1 and api["title"] in first.text and api["tags"]
        assert f'href="/users/{api["author"]}"' in first.text

        assert client.get("/articles/3001").status_code == 404
        assert client.get("/articles/abc").status_code == 404
        assert client.get("/api/articles/3001").json() == {"error": "no article 3001"}

        page = client.get("/api/articles", params={"page": 2}).json()
        assert [item["id"] for item in page["items"]] == list(range(2980, 2960, -1))
        assert client.get("/api/articles", params={"page": 151}).json()["items"] == []
        assert client.get("/api/articles", params={"page": "0"}).status_code == 400

        author = client.get(f"/api/users/{api['author']}").json()
        assert author["articles"] >= 1
        assert client.get(f"/users/{api['author']}").status_code == 200
        assert client.get("/users/taro-yamada").status_code == 404
        assert client.get(f"/tags/{api['tags'][0]}").status_code == 200
        assert client.get("/tags/golang").status_code == 404

        found = client.get("/search", params={"q": "kintsugi"})
        assert found.status_code == 200 and "<mark>kintsugi</mark>" in found.text
        nothing = client.get("/search", params={"q": "桜"})
        assert nothing.status_code == 200 and "0 results" in nothing.text
        assert client.get("/archive").text.count('<a href="/articles/') == 3000

        css = client.get("/static/app.css", params={"v": "3"})
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert client.get("/static/app.css", headers={"if-none-match": css.headers["etag"]}).status_code == 304

        posted = client.post("/api/articles/7/comments", json={"author": "tester", "body": "a fine read"})
        assert posted.status_code == 201, posted.text
        assert "a fine read" in client.get("/articles/7").text  # written once, read by either worker
        assert client.post("/api/articles/7/comments", json={}).status_code == 400
        assert client.post("/api/articles/9999/comments", json={"body": "x"}).status_code == 404


def test_sample_log_is_realistic() -> None:
    lines = sample_lines()
    entries, bad = parse(lines)
    assert 19_000 <= len(lines) <= 21_000
    assert SAMPLE.stat().st_size < 300_000
    assert 5 <= len(bad) <= 30, bad  # a few lines no parser should accept, not more
    assert entries[0].time_local.startswith("14/Mar/2025:09:00:") and entries[-1].time_local.startswith(
        "14/Mar/2025:09:09:"
    )
    methods = Counter(e.method for e in entries)
    assert methods["POST"] > 0 and methods["GET"] > 0.99 * len(entries)
    statuses = Counter(e.status for e in entries)
    assert statuses[200] > 0.85 * len(entries) and statuses[404] > 50
    kinds = Counter(re.sub(r"^/(api/)?([a-z]*).*", r"\1\2", e.target) for e in entries)
    assert kinds["articles"] == max(kinds.values())  # mostly article pages
    for kind in ("users", "api/articles", "search", "static", "tags"):
        assert kinds[kind] > 100, kind


def test_sample_log_replays_against_the_app(site: Site) -> None:
    """200 of the sample's requests, sent to the app: each answers as logged (a 304 was a revalidation the
    replay does not make, so 200; a POST is left out, as `sengu load scenario` leaves it out by default)."""
    entries, _ = parse(sample_lines())
    replayable = [e for e in entries if e.method in ("GET", "HEAD")]
    chosen = random.Random(5).sample(replayable, 200)
    mismatches = []
    with httpx.Client(base_url=site.url, timeout=30) as client:
        for entry in chosen:
            got = client.request(entry.method, entry.target).status_code
            expected = 200 if entry.status == 304 else entry.status
            if got != expected:
                mismatches.append(f"{entry.method} {entry.target}: logged {entry.status}, got {got}")
    assert mismatches == []
    assert {e.status for e in chosen} >= {200, 404}


def test_the_apps_own_access_log_parses_as_the_sample_does(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=30, headers={"user-agent": 'probe "quoted"'}) as client:
        client.get("/articles/12", params={"from": "log-test"})
        client.get("/no/such/page", params={"from": "log-test"})
    entries, bad = parse(site.access_log.read_text().splitlines())
    assert bad == []
    mine = {(e.target, e.status) for e in entries if "from=log-test" in e.target}
    assert mine == {("/articles/12?from=log-test", 200), ("/no/such/page?from=log-test", 404)}
    assert r"probe \x22quoted\x22" in {e.agent for e in entries}


def test_the_sample_is_what_the_script_makes(tmp_path: Path) -> None:
    out = tmp_path / "access.log"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "make_sample_log.py"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="ascii").splitlines() == sample_lines()


def test_sigterm_stops_the_app_and_removes_its_database(tmp_path: Path) -> None:
    process, url = start(tmp_path)
    assert httpx.get(f"{url}/articles/1").status_code == 200
    assert stop(process) == 128 + signal.SIGTERM
    output = process.stdout.read() if process.stdout else ""
    found = re.search(r"into (\S+) in", output)
    assert found, output
    assert not Path(found.group(1)).exists()
