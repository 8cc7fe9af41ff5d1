"""Debian's nginx (installed by tools/install-debs.sh) for the tests: a temporary prefix and config, a free
loopback port, the access logs the test asks for, stopped on exit."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.load.servers import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
START_S = 30.0

CONF = """worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log {home}/error.log;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
{http}
    server {{
        listen 127.0.0.1:{port};
{logs}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


class Nginx:
    """``with Nginx({"access.log": "combined", "uri.log": "uri"}, http="log_format uri '$uri';") as web: …``.

    ``logs`` maps a file name in ``home`` to the log_format it is written with; ``http`` adds directives
    (log_format …) to the http block. ``lines(name)`` reads a log back (nginx writes each line as it goes).
    """

    def __init__(self, logs: dict[str, str], *, http: str = "") -> None:
        if NGINX is None:
            raise RuntimeError("nginx is not installed (tools/install-debs.sh installs nginx-light)")
        self.home = Path(tempfile.mkdtemp(prefix="sengu-nginx-"))
        self.port = free_port()
        access = "\n".join(f"        access_log {self.home / name} {fmt};" for name, fmt in logs.items())
        conf = self.home / "nginx.conf"
        conf.write_text(CONF.format(home=self.home, port=self.port, http=http, logs=access))
        self.out = open(self.home / "nginx.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.home), "-e", str(self.home / "error.log"), "-c", str(conf)],
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its worker is killed with it
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + START_S
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {self._tail()}")
            time.sleep(0.05)  # polling a process we do not control: there is no clock to inject here

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _tail(self) -> str:
        path = self.home / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def send(self, request_line: bytes, headers: bytes = b"") -> bytes:
        """One raw HTTP/1.1 request (bytes as given, so a test can send what a browser would not); the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request_line + b"\r\nHost: localhost\r\nConnection: close\r\n" + headers + b"\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    def lines(self, name: str) -> list[str]:
        path = self.home / name
        return path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.out.close()

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
