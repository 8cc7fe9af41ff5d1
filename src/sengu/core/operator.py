"""Run kopf with every capability's handlers in one registry, behind a Lease so one replica is active.

Capabilities contribute `register(registry, context)` functions (see sengu.capabilities); this module
knows none of them. Import it only inside the `operator` command: kopf is heavy.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import kopf
from prometheus_client import CollectorRegistry, start_http_server

from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Failure
from sengu.core.kube import Cluster
from sengu.core.leader import LeaseElector, default_identity

log = logging.getLogger("sengu.operator")


@dataclass
class OperatorContext:
    """What handlers share: the cluster, the clock, metrics, and background tasks to start with kopf."""

    cluster: Cluster
    clock: Clock = SYSTEM_CLOCK
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    namespaces: Sequence[str] = ()
    background: list[Callable[[], Any]] = field(default_factory=list)


Register = Callable[[kopf.OperatorRegistry, OperatorContext], None]


def build_registry(registers: Sequence[Register], context: OperatorContext) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    cluster = context.cluster

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        cfg = cluster.api.configuration
        if getattr(cfg, "refresh_api_key_hook", None):
            cfg.refresh_api_key_hook(cfg)
        header = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
        token = header.split(" ", 1)[1] if header and header.lower().startswith("bearer ") else header
        return kopf.ConnectionInfo(
            server=cfg.host,
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            token=token,
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
            default_namespace=cluster.namespace,
        )

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # One active replica is the Lease's job, not kopf's peering (which needs its own CRD).
        settings.peering.standalone = True
        # The operator's RBAC does not list namespaces or CRDs: don't scan for them (only noise in the log).
        settings.scanning.disabled = True
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 30

    for register in registers:
        register(registry, context)
    return registry


class HealthServer:
    """/healthz answered from the start, standby included: a replica waiting for the lease is healthy.

    kopf's own liveness endpoint starts only with kopf, i.e. after the lease; a standby replica would
    then fail its probes and be restarted forever.
    """

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host = parts.hostname or "0.0.0.0"
        self.port = parts.port or 8080
        self.path = parts.path or "/healthz"
        self.role = "standby"
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.host, self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            parts = request.decode("latin-1").split()
            ok = len(parts) >= 2 and parts[1].split("?")[0] == self.path
            body = json.dumps({"ok": True, "role": self.role}).encode() if ok else b"not found"
            status = "200 OK" if ok else "404 Not Found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def run(
    registers: Sequence[Register],
    *,
    cluster: Cluster,
    namespaces: Sequence[str] = (),
    liveness: str | None = None,
    metrics_port: int | None = None,
    lease_name: str = "sengu-operator",
    lease_namespace: str | None = None,
    identity: str | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Wait to lead, then run kopf until `stop` is set or leadership is lost (then raise Failure)."""
    context = OperatorContext(cluster=cluster, namespaces=tuple(namespaces))
    registry = build_registry(registers, context)
    health = HealthServer(liveness) if liveness else None
    if health is not None:
        await health.start()
    try:
        if metrics_port is not None:
            start_http_server(metrics_port, registry=context.metrics)
        elector = LeaseElector(
            cluster, lease_name, lease_namespace or cluster.namespace, identity or default_identity()
        )
        await elector.acquire()
        if health is not None:
            health.role = "leader"
        await _lead(registry, context, elector, namespaces, stop or asyncio.Event())
    finally:
        if health is not None:
            await health.stop()


async def _lead(
    registry: kopf.OperatorRegistry,
    context: OperatorContext,
    elector: LeaseElector,
    namespaces: Sequence[str],
    stop: asyncio.Event,
) -> None:
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            stop_flag=stop,
        ),
        name="kopf",
    )
    background = [asyncio.create_task(start()) for start in context.background]
    keeper = asyncio.create_task(elector.keep(), name="lease")
    done, _ = await asyncio.wait({operator, keeper}, return_when=asyncio.FIRST_COMPLETED)
    for task in background:
        task.cancel()
    if keeper in done:
        stop.set()
        await asyncio.wait({operator}, timeout=10)
        operator.cancel()
        raise Failure("lost the leader lease; exiting so a fresh replica can take over")
    keeper.cancel()
    operator.result()
