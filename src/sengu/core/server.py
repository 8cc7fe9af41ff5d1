"""The one HTTP server of the embedded engine: /healthz, /metrics and the routes capabilities add."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import re
import socket
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sengu.core.errors import UserError

if TYPE_CHECKING:
    from sengu.core.reload import Reloader


class Component(Protocol):
    """What a capability's embedded engine offers the server."""

    name: str

    async def start(self) -> None: ...

    async def stop(self, drain_timeout: float) -> None: ...

    def routes(self) -> Sequence[BaseRoute]: ...

    def health(self) -> dict[str, Any]: ...


def build_app(components: Sequence[Component], registry: CollectorRegistry) -> Starlette:
    """The app; /healthz reads ``components`` at each request, so a list changed in place is followed."""

    async def healthz(request: Request) -> Response:
        body = {c.name: c.health() for c in components}
        ok = all(h.get("ok", True) for h in body.values())
        return JSONResponse({"ok": ok, "components": body}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])
    app.state.base_routes = list(app.router.routes)
    mount(app, components)
    return app


def mount(app: Starlette, components: Sequence[Component]) -> None:
    """Serve these components' routes (after a reload replaced one, its successor's)."""
    routes: list[BaseRoute] = list(app.state.base_routes)
    for component in components:
        routes.extend(component.routes())
    app.router.routes[:] = routes


class _Server(uvicorn.Server):
    # sengu handles SIGTERM itself (drain the engine first); uvicorn must not re-raise it at exit.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


_IP_LIKE = re.compile(r"^[0-9.]*$|:")


def listen_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """The family and socket address for ``--host``/``--port``, or a UserError naming the option.

    A host is an IP literal (v4 or v6) or a name this machine resolves (``localhost``). Something shaped
    like an address (digits and dots, or a colon) is never looked up as a name: ``256.1.1.1`` is a typo,
    and asking a DNS server about it would only turn a clear error into a slow one. Port 0 takes any free
    port (the one bound is printed).
    """
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port} is not a TCP port: give 1-65535 (or 0 for any free port)")
    if not host:
        raise UserError("--host is empty: give an address of this machine (127.0.0.1, 0.0.0.0, ::1) or its name")
    if _IP_LIKE.search(host):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise UserError(
                f"--host {host!r} is not an IP address (IPv4 like 127.0.0.1 or 0.0.0.0, IPv6 like ::1 or ::)"
            ) from None
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return family, ((str(ip), port, 0, 0) if ip.version == 6 else (str(ip), port))
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise UserError(f"--host {host!r} does not resolve on this machine ({reason}): give an IP address") from None
    family, _, _, _, address = infos[0]
    return family, address


def bind(host: str, port: int) -> socket.socket:
    """Bind before starting anything, so a busy port is a clear error and not a half-started engine."""
    family, address = listen_address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise UserError(f"cannot listen on {where}: {_bind_hint(exc, host, port)}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _bind_hint(exc: OSError, host: str, port: int) -> str:
    """What went wrong, and which option to change."""
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use by another process (choose another --port, or 0 for any free port)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine (choose another --host: 127.0.0.1 for this machine only, "
            "0.0.0.0 for every interface)"
        )
    if exc.errno == errno.EACCES and 0 < port < 1024:
        return "ports below 1024 need privileges (choose another --port, e.g. 8080)"
    if exc.errno == errno.EAFNOSUPPORT:
        return f"this machine has no {'IPv6' if ':' in host else 'IPv4'} (choose another --host)"
    return f"{exc.strerror or exc} (check --host and --port)"


class HttpServer:
    def __init__(self, app: Starlette, sock: socket.socket):
        self.sock = sock
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task:
            await self.task


OnReady = Callable[[int], None]


async def serve(
    components: Sequence[Component],
    registry: CollectorRegistry,
    *,
    host: str,
    port: int,
    drain_timeout: float,
    on_ready: OnReady | None = None,
    stop: asyncio.Event | None = None,
    reloader: Reloader | None = None,
) -> None:
    """Start every component and the HTTP server; on SIGTERM/SIGINT (or `stop`), drain and return.

    With a reloader, SIGHUP and changed spec files reload; ``components`` must then be its live list.
    """
    import signal

    sock = bind(host, port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if reloader is not None:
        # From the start: SIGHUP's default is to end the process. A request made now waits for the loop.
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
    app = build_app(components, registry)
    http = HttpServer(app, sock)
    started: list[Component] = []
    reloading: asyncio.Task[None] | None = None
    try:
        for component in components:
            await component.start()
            started.append(component)
        await http.start()
        if reloader is not None:
            reloading = asyncio.create_task(reloader.run(app, drain_timeout), name="reloader")
        if on_ready:
            on_ready(http.port)
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if reloader is not None:
            loop.remove_signal_handler(signal.SIGHUP)
        if reloader is not None and reloading is not None:
            await reloader.close()
            await reloading  # a reload under way finishes: what it started is in the live list
            started = list(components)
        for component in reversed(started):
            await component.stop(drain_timeout)
        await http.stop()
        sock.close()
