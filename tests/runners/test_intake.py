"""The webhook intake of a real `sengu up` process: bodies past GitHub's 25 MB cap are refused unread.

GitHub caps webhook payloads at 25 MB, so a larger body is not GitHub's. It must be answered 413 without
the engine holding it: the process's peak resident memory (VmHWM in /proc/PID/status) stays far below
the body sizes sent in total, and nothing reaches the store.
"""

from __future__ import annotations

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


@pytest.mark.timeout(180)
def test_a_delivery_past_the_25_mb_cap_gets_413_and_is_never_held(tmp_path: Path) -> None:
    with FakeGitHub(webhook_secret="s3cret") as fake:
        runner = tmp_path / "runner.sh"
        runner.write_text("#!/bin/sh\nexec sleep 60\n")
        runner.chmod(0o755)
        pool = fake.write_pool(tmp_path, runner, more="  rejections: {checkRun: false}\n")
        home, port = tmp_path / "home", free_port()
        log = (tmp_path / "sengu.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sengu", "up", str(pool), "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "SENGU_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}/webhooks/github"
        try:
            with httpx.Client(timeout=60) as client:
                deadline = time.monotonic() + 60
                while True:
                    assert proc.poll() is None, (tmp_path / "sengu.log").read_text()
                    try:
                        if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "sengu up did not become healthy"
                    time.sleep(0.1)
                before = memory_kb(proc.pid)

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
                after = memory_kb(proc.pid)
                assert [a.status_code for a in answers] == [413, 413, 413, 413], [a.text for a in answers]
                assert "25 MB" in answers[0].json()["error"]

                # Bodies under the cap are held until the signature can be checked, at the end: many at once
                # must not add up (ten 20 MB posts with a made-up signature).
                forged = b"{" + b" " * (20 * MB - 1)
                headers = {**signed, "X-Hub-Signature-256": "sha256=" + "0" * 64}
                with ThreadPoolExecutor(10) as pool:
                    posts = [pool.submit(client.post, url, content=forged, headers=headers) for _ in range(10)]
                    assert [p.result().status_code for p in posts] == [401] * 10
                after = memory_kb(proc.pid)

                # The intake still works, and a body just under the cap is judged by its signature.
                job = fake.queue_job("my-org/app", ["linux"])
                headers, body = fake.webhook_delivery(job, "queued", delivery_id="d-small")
                assert client.post(url, content=body, headers=headers).status_code == 202
                just_under = b"{" + b" " * (25 * MB - 1)
                assert client.post(url, content=just_under, headers=unsigned).status_code == 401
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
    print(f"sengu up memory before: {before}, after 30 MB and 400 MB posts, and ten 20 MB ones at once: {after}")
    assert after["VmHWM"] < RSS_LIMIT_KB and after["VmRSS"] < RSS_LIMIT_KB, after
    conn = sqlite3.connect(home / "sengu.db")
    try:
        stored = [row[0] for row in conn.execute("SELECT delivery_id FROM runners_deliveries")]
    finally:
        conn.close()
    assert stored == ["d-small"]
