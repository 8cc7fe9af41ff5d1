"""Helpers for engine tests: specs on disk, a started engine on a fake clock, waiting for store state."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sengu import capabilities
from sengu.batch.local import BatchEngine, build_engine
from sengu.batch.resolve import Manager
from sengu.core.clock import FakeClock
from sengu.core.store import Store

HEADER = "apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: t}\nspec:\n"


def spec_file(tmp_path: Path, body: str, name: str = "jobs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def load(path: Path) -> list[Manager]:
    managers: list[Manager] = capabilities.load([path]).of("CronjobManager")
    return managers


@asynccontextmanager
async def running_engine(
    path: Path,
    home: Path,
    clock: FakeClock,
    *,
    drain_timeout: float = 5.0,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[BatchEngine]:
    store = Store(home)
    engine = build_engine(load(path), store=store, clock=clock, registry=registry or CollectorRegistry())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop(drain_timeout)
        store.close()


def rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read the store from a separate connection, as the CLI would."""
    conn = sqlite3.connect(home / "sengu.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll (real time) until check() is truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        await asyncio.sleep(0.02)


async def advance(clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    for _ in range(5):
        await asyncio.sleep(0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
