"""Leader election with a coordination.k8s.io/v1 Lease: one active operator replica at a time.

The holder renews the lease every `renew_s`; another replica takes it over only after `duration_s` without
a renewal. Writes use the lease's resourceVersion (optimistic concurrency), so two replicas racing for an
expired lease cannot both win.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.kube import Cluster, KubeError, object_path

log = logging.getLogger("sengu.leader")


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class LeaseElector:
    cluster: Cluster
    name: str
    namespace: str
    identity: str
    duration_s: int = 15
    renew_s: float = 5.0
    clock: Clock = SYSTEM_CLOCK

    def _body(self, now: datetime, acquired: datetime, transitions: int, rv: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if rv is not None:
            meta["resourceVersion"] = rv
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration_s,
                "acquireTime": _micro(acquired),
                "renewTime": _micro(now),
                "leaseTransitions": transitions,
            },
        }

    def try_acquire(self) -> bool:
        """One attempt to take or renew the lease. True when we hold it afterwards."""
        now = self.clock.now()
        lease = self.cluster.get("coordination.k8s.io/v1", "Lease", self.name, self.namespace)
        try:
            if lease is None:
                self.cluster.create(self._body(now, now, 0, None))
                return True
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity")
            renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
            duration = int(spec.get("leaseDurationSeconds") or self.duration_s)
            expired = renewed is None or now - renewed > timedelta(seconds=duration)
            if holder not in (None, "", self.identity) and not expired:
                return False
            ours = holder == self.identity
            acquired = _parse(spec.get("acquireTime")) if ours else now
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
            body = self._body(now, acquired or now, transitions, lease["metadata"].get("resourceVersion"))
            self.cluster.request("PUT", object_path(body), body=body)
            return True
        except KubeError as exc:
            if exc.status == 409:  # someone else wrote it first
                return False
            raise

    async def acquire(self) -> None:
        """Wait until we are the leader."""
        announced = False
        while True:
            if await asyncio.to_thread(self.try_acquire):
                log.info("leader election: %s holds lease %s/%s", self.identity, self.namespace, self.name)
                return
            if not announced:
                log.info("leader election: another replica is active; standing by")
                announced = True
            await self.clock.sleep(self.renew_s)

    async def keep(self) -> None:
        """Renew until we lose the lease; returns when leadership is lost (the caller must stop working)."""
        last_ok = self.clock.monotonic()
        while True:
            await self.clock.sleep(self.renew_s)
            try:
                held = await asyncio.to_thread(self.try_acquire)
            except KubeError as exc:
                log.warning("leader election: cannot renew the lease: %s", exc)
                held = self.clock.monotonic() - last_ok < self.duration_s
            if not held:
                log.error("leader election: lost lease %s/%s", self.namespace, self.name)
                return
            last_ok = self.clock.monotonic()
