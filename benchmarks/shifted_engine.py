"""`sengu up`, with the engine's clock shifted so that a chosen scheduled instant comes a few seconds after start.

Usage: python benchmarks/shifted_engine.py SPEC TARGET_ISO LEAD_S [--warp GAP_S --jumps FILE]

Loads SPEC as `sengu up` does, sets engine time = real time + offset so that TARGET_ISO is LEAD_S seconds of
real time away, then runs the same components and HTTP server as `sengu up` (the OS picks the port) under
SENGU_HOME. When ready it prints one line, `ready {json}` with the port, the offset (engine time - real
time, seconds) and how much of the lead is left. Time then passes at the real rate. SIGTERM drains and stops.
The only difference from `sengu up` is the clock, so lateness measured here is the engine's own.

With --warp, idle time is skipped so that many scheduled minutes fit in a short run: a sleep of the engine
longer than GAP_S moves the clock forward and really sleeps only the last GAP_S seconds, so each due time
is still reached by a real timer after a real sleep, with the previous minute's runs long finished. The
scheduler is the only long sleeper (retry back-off would be too; benchmark jobs do not fail). Each jump is
appended to FILE as a JSON line {"real": wall time, "offset": new offset}, so that a scheduled time can be
converted back to the real instant the engine's clock reached it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import TextIO

from prometheus_client import CollectorRegistry

from sengu import capabilities
from sengu.batch.local import MAX_SLEEP_S
from sengu.core.clock import SystemClock
from sengu.core.server import serve
from sengu.core.store import EngineLock, Store


class ShiftedClock(SystemClock):
    """The wall clock plus an offset: job processes read the real clock, so lateness converts exactly."""

    def __init__(self, offset: float, *, warp_gap: float | None = None, jumps: TextIO | None = None):
        self.offset = offset
        self.warp_gap = warp_gap
        self.jumps = jumps

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)

    async def sleep(self, seconds: float) -> None:
        gap = self.warp_gap
        if gap is None or seconds <= gap:
            await asyncio.sleep(max(0.0, seconds))
            return
        # A full-length scheduler sleep has nothing due at its end (the next time is further): skip it all.
        keep = 0.0 if seconds >= MAX_SLEEP_S else gap
        self.offset += seconds - keep
        if self.jumps is not None:
            self.jumps.write(json.dumps({"real": time.time(), "offset": self.offset}) + "\n")
            self.jumps.flush()
        await asyncio.sleep(keep)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("target", help="an engine time, ISO 8601 with offset")
    parser.add_argument("lead", type=float, help="real seconds from now (after loading) to TARGET")
    parser.add_argument("--warp", type=float, default=None, metavar="GAP_S")
    parser.add_argument("--jumps", default=None, metavar="FILE")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    target = datetime.fromisoformat(args.target)
    loaded = capabilities.load([args.spec])
    store = Store()
    lock = EngineLock(store.home)
    lock.acquire()
    jumps = open(args.jumps, "a") if args.jumps else None  # noqa: SIM115 - open for the whole run
    offset = target.timestamp() - (time.time() + args.lead)
    clock = ShiftedClock(offset, warp_gap=args.warp, jumps=jumps)

    async def run() -> None:
        registry = CollectorRegistry()
        comps = capabilities.components(loaded, store=store, clock=clock, registry=registry)

        def ready(port: int) -> None:
            left = (target - clock.now()).total_seconds()
            info = {"port": port, "offset": offset, "lead_left_s": left}
            print("ready " + json.dumps(info), flush=True)

        await serve(comps, registry, host="127.0.0.1", port=0, drain_timeout=10.0, on_ready=ready)

    try:
        asyncio.run(run())
    finally:
        lock.release()
        store.close()
        if jumps is not None:
            jumps.close()


if __name__ == "__main__":
    main()
