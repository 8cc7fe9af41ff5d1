"""The webhook intake of a real `sengu up` process: size limits, and routing between pools.

GitHub caps webhook payloads at 25 MB, so a larger body is not GitHub's. It must be answered 413 without
the engine holding it: the process's peak resident memory (VmHWM in /proc/PID/status) stays far below
the body sizes sent in total, and nothing reaches the store. One GitHub App installed on two
organisations, served by a pool each, gets each organisation's jobs to its own pool.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fakes.github import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
RSS_LIMIT_KB = 200 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident) and VmRSS (resident now) of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0])
    return fields


def chunked(body: bytes, size: int = MB) -> Iterator[bytes]:
    """`body` sent with Transfer-Encoding: chunked (no length to check before reading)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


class SenguUp:
    """`sengu up FILES --port PORT` as a real process, stopped on leaving."""

    def __init__(self, files: list[Path], home: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/github"
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sengu", "up", *map(str, files), "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, "SENGU_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    def __enter__(self) -> SenguUp:
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "sengu up did not become healthy"
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._log.close()


@pytest.mark.timeout(120)
def test_one_app_on_two_organisations_each_pool_launches_its_own_orgs_jobs(tmp_path: Path) -> None:
    with FakeGitHub(webhook_secret="s3cret", installations={"other-org": 679}) as fake:
        runner = tmp_path / "runner.sh"
        runner.write_text('#!/bin/sh\necho "$SENGU_RUNNER" > "$PWD/started"\nexec sleep 60\n')
        runner.chmod(0o755)
        quiet = "  rejections: {checkRun: false}\n"
        files = [
            fake.write_pool(tmp_path, runner, name="ci", file="ci.yaml", more=quiet),
            fake.write_pool(tmp_path, runner, name="other", owner="other-org", file="other.yaml", more=quiet),
        ]
        labels = ["self-hosted", "sengu", "local"]
        jobs = [fake.queue_job("my-org/app", labels), fake.queue_job("other-org/app", labels)]
        with SenguUp(files, tmp_path / "home", tmp_path / "sengu.log") as sengu, httpx.Client(timeout=10) as client:
            for job in jobs:
                headers, body = fake.webhook_delivery(job, "queued")
                assert client.post(sengu.url, content=body, headers=headers).status_code == 202
            expected = {f"ci-{jobs[0].id}-1-1": "my-org", f"other-{jobs[1].id}-1-1": "other-org"}
            fake.wait_until(lambda gh: {r.name for r in gh.runners} == set(expected), timeout=30)
            assert {r.name: r.scope for r in fake.runners} == expected
            for name in expected:  # each runner process came up with its JIT config
                started = tmp_path / "work" / name / "started"
                deadline = time.monotonic() + 30
                while not started.exists():
                    assert time.monotonic() < deadline, f"runner {name} never started"
                    time.sleep(0.05)


@pytest.mark.timeout(180)
def test_a_delivery_past_the_25_mb_cap_gets_413_and_is_never_held(tmp_path: Path) -> None:
    with FakeGitHub(webhook_secret="s3cret") as fake:
        runner = tmp_path / "runner.sh"
        runner.write_text("#!/bin/sh\nexec sleep 60\n")
        runner.chmod(0o755)
        pool = fake.write_pool(tmp_path, runner, more="  rejections: {checkRun: false}\n")
        home = tmp_path / "home"
        with SenguUp([pool], home, tmp_path / "sengu.log") as sengu, httpx.Client(timeout=60) as client:
            url, pid = sengu.url, sengu.proc.pid
            before = memory_kb(pid)

            big = b"{" + b" " * (30 * MB - 1)
            signed = {
                "X-GitHub-Event": "workflow_job",
                "X-GitHub-Delivery": "d-big",
                "X-Hub-Signature-256": fake.sign(big),
                "Content-Type": "application/json",
            }
            unsigned = {k: v for k, v in signed.items() if k != "X-Hub-Signature-256"}
            answers = [
                client.post(url, content=big, headers=signed),  # Content-Length: 31457280
                client.post(url, content=chunked(big), headers=signed),  # chunked, signed
                client.post(url, content=chunked(big), headers=unsigned),  # chunked, unsigned
                # What once took the process to 880 MB: 400 MB, unsigned, chunked.
                client.post(url, content=(big[:MB] for _ in range(400)), headers=unsigned),
            ]
            after_big = memory_kb(pid)
            assert [a.status_code for a in answers] == [413, 413, 413, 413], [a.text for a in answers]
            assert "25 MB" in answers[0].json()["error"]

            # Bodies under the cap are held until the signature can be checked, at the end: many at once
            # must not add up (ten 20 MB posts with a made-up signature).
            forged = b"{" + b" " * (20 * MB - 1)
            headers = {**signed, "X-Hub-Signature-256": "sha256=" + "0" * 64}
            with ThreadPoolExecutor(10) as senders:
                posts = [senders.submit(client.post, url, content=forged, headers=headers) for _ in range(10)]
                assert [p.result().status_code for p in posts] == [401] * 10
            after = memory_kb(pid)

            # The intake still works, and a body just under the cap is judged by its signature.
            job = fake.queue_job("my-org/app", ["linux"])
            headers, body = fake.webhook_delivery(job, "queued", delivery_id="d-small")
            assert client.post(url, content=body, headers=headers).status_code == 202
            just_under = b"{" + b" " * (25 * MB - 1)
            assert client.post(url, content=just_under, headers=unsigned).status_code == 401
    print(f"sengu up memory (kB) before: {before}, after the 30 MB and 400 MB posts: {after_big}, after ten 20 MB")
    print(f"posts at once: {after}")
    assert after_big["VmHWM"] < RSS_LIMIT_KB and after_big["VmRSS"] < RSS_LIMIT_KB, after_big
    assert after["VmHWM"] < RSS_LIMIT_KB and after["VmRSS"] < RSS_LIMIT_KB, after
    conn = sqlite3.connect(home / "sengu.db")
    try:
        stored = [row[0] for row in conn.execute("SELECT delivery_id FROM runners_deliveries")]
    finally:
        conn.close()
    assert stored == ["d-small"]


@pytest.mark.timeout(400)
def test_a_hundred_large_posts_at_once_stay_within_one_memory_budget(tmp_path: Path) -> None:
    """Bodies being read are held until their end (the signature covers all of it): however many arrive at
    once, what they hold together is bounded. A post that finds the budget taken gets 503 + Retry-After."""
    with FakeGitHub(webhook_secret="s3cret") as fake:
        runner = tmp_path / "runner.sh"
        runner.write_text("#!/bin/sh\nexec sleep 60\n")
        runner.chmod(0o755)
        pool = fake.write_pool(tmp_path, runner, more="  rejections: {checkRun: false}\n")
        with SenguUp([pool], tmp_path / "home", tmp_path / "sengu.log") as sengu:
            url, pid = sengu.url, sengu.proc.pid
            big = b"{" + b" " * (30 * MB - 1)
            forged = {
                "X-GitHub-Event": "workflow_job",
                "X-GitHub-Delivery": "d-forged",
                "X-Hub-Signature-256": "sha256=" + "0" * 64,
                "Content-Type": "application/json",
            }
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            with httpx.Client(timeout=300, limits=limits) as client, ThreadPoolExecutor(100) as senders:
                posts = [senders.submit(client.post, url, content=chunked(big), headers=forged) for _ in range(100)]
                answers = [p.result() for p in posts]
            peak = memory_kb(pid)
            assert {a.status_code for a in answers} <= {413, 503}, {a.status_code for a in answers}
            assert all(a.headers.get("retry-after") == "1" for a in answers if a.status_code == 503)

            # Afterwards the budget is whole again: a real delivery is taken.
            job = fake.queue_job("my-org/app", ["linux"])
            headers, body = fake.webhook_delivery(job, "queued", delivery_id="d-after")
            assert httpx.post(url, content=body, headers=headers, timeout=60).status_code == 202
    print(f"sengu up memory (kB) after 100 chunked 30 MB posts at once: {peak}")
    assert peak["VmHWM"] < RSS_LIMIT_KB, peak


@pytest.mark.timeout(300)
def test_a_valid_delivery_near_the_cap_is_stored_and_processed_within_the_memory_bar(tmp_path: Path) -> None:
    """Held once as it is read (no second copy), parsed once at intake (processing does not read it back)."""
    with FakeGitHub(webhook_secret="s3cret") as fake:
        runner = tmp_path / "runner.sh"
        runner.write_text("#!/bin/sh\nexec sleep 60\n")
        runner.chmod(0o755)
        pool = fake.write_pool(tmp_path, runner, more="  rejections: {checkRun: false}\n")
        with SenguUp([pool], tmp_path / "home", tmp_path / "sengu.log") as sengu:
            job = fake.queue_job("my-org/app", ["self-hosted", "sengu", "local"])
            headers, small = fake.webhook_delivery(job, "queued", delivery_id="d-24mb")
            payload = json.loads(small)
            payload["padding"] = "x" * (24 * MB)  # GitHub adds fields over time: unknown ones are ignored
            body = json.dumps(payload).encode()
            headers["X-Hub-Signature-256"] = fake.sign(body)
            answer = httpx.post(sengu.url, content=body, headers=headers, timeout=120)
            assert answer.status_code == 202, answer.text
            deadline = time.monotonic() + 60
            while not fake.runners:  # processed: the job got its runner
                assert time.monotonic() < deadline, sengu.log_path.read_text()[-2000:]
                time.sleep(0.2)
            peak = memory_kb(sengu.proc.pid)
    print(f"sengu up memory (kB) after a 24 MB delivery stored and processed: {peak}")
    assert peak["VmHWM"] < RSS_LIMIT_KB, peak
