"""A small HTTP/1.1 server for the load engine's tests, run in a subprocess so a test can freeze it (SIGSTOP).

The path chooses the behaviour, so one server serves every case:

- ``/status/NNN``: answers with that status;
- ``/slow/MS``: answers after MS milliseconds;
- ``/hang``: never answers;
- ``/close``: answers with ``Connection: close`` and closes;
- ``/chunked``: a chunked body;
- ``/count``: how many requests it has answered (not counting these), as the body;
- anything else: 200 with a 5-byte body. HEAD gets the same headers and no body.

Run it as a script (``python servers.py [CERT KEY]``, https with a certificate and key): it prints its port on
the first line of stdout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from types import TracebackType
from typing import cast

BODY = b"hello"
REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


class _Handler(asyncio.Protocol):
    served = 0

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False  # answer in order: a slow answer holds back the next request of the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        while not self.busy and b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
            self._answer(method, path)

    def _answer(self, method: str, path: str) -> None:
        assert self.transport is not None
        path = path.split("?", 1)[0]
        parts = path.split("/")
        if path == "/hang":
            self.busy = True  # nothing more on this connection, ever
            return
        if parts[1:2] == ["slow"]:
            self.busy = True
            asyncio.get_running_loop().call_later(int(parts[2]) / 1000, self._after_slow, method)
            return
        if path == "/count":
            self._write(method, 200, str(_Handler.served).encode())
            return
        _Handler.served += 1
        if parts[1:2] == ["status"]:
            self._write(method, int(parts[2]), BODY)
        elif path == "/close":
            self._write(method, 200, BODY, close=True)
        elif path == "/chunked":
            chunks = b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
            self.transport.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        else:
            self._write(method, 200, BODY)

    def _after_slow(self, method: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        _Handler.served += 1
        self._write(method, 200, BODY)
        self.busy = False
        self._next()

    def _write(self, method: str, status: int, body: bytes, close: bool = False) -> None:
        assert self.transport is not None
        reason = REASONS.get(status, "Other")
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nContent-Type: text/plain\r\n"
        if close:
            head += "Connection: close\r\n"
        self.transport.write(head.encode() + b"\r\n" + (b"" if method == "HEAD" else body))
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(tls: tuple[str, str] | None) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    server = await asyncio.get_running_loop().create_server(_Handler, sock=sock, backlog=1024, ssl=context)
    print(sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class ServerProcess:
    """The server above in a subprocess: ``url``, ``pid``, ``freeze()``/``thaw()``, stopped on exit.

    ``tls`` is (certificate file, key file) to serve https.
    """

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *(tls or ())],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the test server did not start (printed {line!r})")
        self.port = int(line)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)  # a frozen process would not die of SIGTERM until thawed
            self.proc.kill()
        self.proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def self_signed(directory: str) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself, and its key, written to ``directory``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def free_port() -> int:
    """A port nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    factory: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop  # several times faster than the default loop: the server should not be the bottleneck

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve((sys.argv[1], sys.argv[2]) if len(sys.argv) == 3 else None))


if __name__ == "__main__":
    main()
