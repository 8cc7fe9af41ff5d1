"""`sengu up --port/--host` through the real command: bad values and bind failures are user errors with the
right hint, never an internal error. Nothing here listens beyond loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "batch" / "cronjobs.yaml"


def up(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SENGU_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "sengu", "up", str(SPEC), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_a_port_out_of_range_names_the_option(tmp_path: Path, port: str) -> None:
    line = one_error(up("--port", port, home=tmp_path / "home"))
    assert "--port" in line and port in line and "1-65535" in line, line


@pytest.mark.parametrize("host", ["256.1.1.1", "1.2.3", "127.0.0.1.5", "::g", ""])
def test_a_malformed_address_names_the_host_option(tmp_path: Path, host: str) -> None:
    line = one_error(up("--host", host, home=tmp_path / "home"))
    assert "--host" in line and "--port" not in line, line


def test_an_address_this_machine_does_not_have_asks_for_another_host(tmp_path: Path) -> None:
    # TEST-NET-1 (RFC 5737): valid, never assigned to this machine; binding fails with EADDRNOTAVAIL, no packet sent.
    line = one_error(up("--host", "192.0.2.1", "--port", "0", home=tmp_path / "home"))
    assert "cannot listen on 192.0.2.1" in line and "--host" in line and "--port" not in line, line


def test_a_port_in_use_asks_for_another_port(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_error(up("--port", str(port), home=tmp_path / "home"))
    assert f"cannot listen on 127.0.0.1:{port}" in line and "in use" in line and "--port" in line, line
    assert "--host" not in line


def test_port_0_takes_a_free_port_and_an_ipv6_loopback_works(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    env = dict(os.environ, SENGU_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sengu", "up", str(SPEC), "--host", "::1", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "sengu up exited before it was ready"
            if "health:" in line:
                url = line.split("health:", 1)[1].strip()
        assert url is not None and url.startswith("http://[::1]:") and not url.startswith("http://[::1]:0/")
        assert httpx.get(url, timeout=5).json()["components"]["batch"]["jobs"] == 12
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
