"""Run the embedded engine in its own process with a shifted clock, so a test can SIGKILL it.

Usage: python -m tests.batch.engine_harness HOME SPEC START_ISO
The engine believes it is START_ISO when it starts; time then passes at the real rate.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from sengu import capabilities
from sengu.batch.local import build_engine
from sengu.core.clock import SystemClock
from sengu.core.store import EngineLock, Store


class ShiftedClock(SystemClock):
    def __init__(self, start: datetime):
        self._base = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._t0)


async def main(home: str, spec: str, start: str) -> None:
    store = Store(home)
    lock = EngineLock(store.home)
    lock.acquire()
    clock = ShiftedClock(datetime.fromisoformat(start))
    engine = build_engine(
        capabilities.load([spec]).of("CronjobManager"), store=store, clock=clock, registry=CollectorRegistry()
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await engine.start()
    print("started", flush=True)
    await stop.wait()
    await engine.stop(drain_timeout=5)
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
