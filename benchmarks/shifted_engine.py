"""`sengu up`, with the engine's clock shifted so that a chosen scheduled instant comes a few seconds after start.

Usage: python benchmarks/shifted_engine.py SPEC TARGET_ISO LEAD_S

Loads SPEC as `sengu up` does, sets engine time = real time + offset so that TARGET_ISO is LEAD_S seconds of
real time away, then runs the same components and HTTP server as `sengu up` (the OS picks the port) under
SENGU_HOME. When ready it prints one line, `ready {json}` with the port, the offset (engine time - real
time, seconds) and how much of the lead is left. Time then passes at the real rate. SIGTERM drains and stops.
The only difference from `sengu up` is the clock, so lateness measured here is the engine's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from sengu import capabilities
from sengu.core.clock import SystemClock
from sengu.core.server import serve
from sengu.core.store import EngineLock, Store


class ShiftedClock(SystemClock):
    """The wall clock plus a fixed offset: job processes read the real clock, so lateness converts exactly."""

    def __init__(self, offset: timedelta):
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def main(spec: str, target_iso: str, lead_s: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    target = datetime.fromisoformat(target_iso)
    loaded = capabilities.load([spec])
    store = Store()
    lock = EngineLock(store.home)
    lock.acquire()
    offset = timedelta(seconds=target.timestamp() - (time.time() + float(lead_s)))
    clock = ShiftedClock(offset)

    async def run() -> None:
        registry = CollectorRegistry()
        comps = capabilities.components(loaded, store=store, clock=clock, registry=registry)

        def ready(port: int) -> None:
            left = (target - clock.now()).total_seconds()
            info = {"port": port, "offset": offset.total_seconds(), "lead_left_s": left}
            print("ready " + json.dumps(info), flush=True)

        await serve(comps, registry, host="127.0.0.1", port=0, drain_timeout=10.0, on_ready=ready)

    try:
        asyncio.run(run())
    finally:
        lock.release()
        store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
