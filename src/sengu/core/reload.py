"""Reloading the spec files of `sengu up` on SIGHUP or when a file changes, without dropping running work.

Each kind's component is handed the new documents: one that can take them in place (it has ``reload``)
does, keeping its runs and due times; any other is rebuilt and restarted (the new one is built first, so a
problem leaves the old one running). Kinds that appear get a component, kinds that go are stopped. A file
with errors is logged, line by line, and the running spec stays as it was.

Files are polled (size, mtime, then a digest of the content): no dependency, and an editor's save by
rename is seen like any other write. Nothing here knows a capability: kinds are strings.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from starlette.applications import Starlette

from sengu.core.errors import UserError
from sengu.core.server import Component, mount

log = logging.getLogger("sengu.reload")

# Seconds between two looks at the spec files.
POLL_S = 2.0

Build = Callable[[str, Sequence[Any], CollectorRegistry], Component]
Load = Callable[[], Mapping[str, Sequence[Any]]]


@runtime_checkable
class Reloadable(Protocol):
    """A component that takes new documents of its kind in place, or raises UserError and changes nothing."""

    async def reload(self, objs: Sequence[Any]) -> None: ...


@dataclass
class _Entry:
    objs: Sequence[Any]
    component: Component
    registry: CollectorRegistry


class Components:
    """The running components by kind, each with its own metrics registry, all served through one.

    ``live`` is the list the HTTP app reads for /healthz; it holds started components only once serving.
    """

    def __init__(self, build: Build, registry: CollectorRegistry):
        self._build = build
        self._entries: dict[str, _Entry] = {}
        self.live: list[Component] = []
        registry.register(_Registries(lambda: [e.registry for e in self._entries.values()]))

    def build_all(self, by_kind: Mapping[str, Sequence[Any]]) -> list[Component]:
        for kind, objs in by_kind.items():
            registry = CollectorRegistry()
            self._entries[kind] = _Entry(objs, self._build(kind, objs, registry), registry)
        self.live[:] = [e.component for e in self._entries.values()]
        return self.live

    async def apply(self, by_kind: Mapping[str, Sequence[Any]], drain_timeout: float) -> list[str]:
        """Bring the components to the new documents; what changed, one line per kind. UserError: nothing did."""
        rebuilt: dict[str, _Entry] = {}
        for kind, objs in by_kind.items():
            entry = self._entries.get(kind)
            if entry is not None and (entry.objs == objs or isinstance(entry.component, Reloadable)):
                continue
            registry = CollectorRegistry()
            rebuilt[kind] = _Entry(objs, self._build(kind, objs, registry), registry)
        changes: list[str] = []
        for kind, entry in list(self._entries.items()):
            objs = by_kind.get(kind, ())
            if kind in rebuilt or entry.objs == objs:
                continue
            if isinstance(entry.component, Reloadable):
                await entry.component.reload(objs)
                entry.objs = objs
                changes.append(f"{kind}: reloaded in place")
            elif kind not in by_kind:
                await entry.component.stop(drain_timeout)
                del self._entries[kind]
                changes.append(f"{kind}: none left, stopped")
        for kind, new in rebuilt.items():
            old = self._entries.get(kind)
            if old is not None:
                await old.component.stop(drain_timeout)
            await new.component.start()
            self._entries[kind] = new
            changes.append(f"{kind}: {'restarted' if old is not None else 'started'}")
        self.live[:] = [e.component for e in self._entries.values()]
        return changes


class _Registries:
    """A collector that yields every component registry's metrics, whichever components run now."""

    def __init__(self, registries: Callable[[], Iterable[CollectorRegistry]]):
        self._registries = registries

    def collect(self) -> Iterator[Metric]:
        for registry in self._registries():
            yield from registry.collect()


class Reloader:
    """Reloads on request (SIGHUP) and when a watched file's content changes."""

    def __init__(
        self,
        components: Components,
        load: Load,
        files: Sequence[Path],
        *,
        poll_s: float = POLL_S,
    ):
        self.components = components
        self._load = load
        self._files = [Path(f) for f in files]
        self._poll_s = poll_s
        self._requested = asyncio.Event()
        self._closing = asyncio.Event()
        self._seen = {f: _look(f) for f in self._files}
        self.reloads = 0  # attempts, for tests and health

    def request(self) -> None:
        """Reload at the next turn (the SIGHUP handler)."""
        self._requested.set()

    async def run(self, app: Starlette, drain_timeout: float) -> None:
        while not self._closing.is_set():
            waiter = asyncio.ensure_future(self._requested.wait())
            closer = asyncio.ensure_future(self._closing.wait())
            await asyncio.wait({waiter, closer}, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
            for fut in (waiter, closer):
                fut.cancel()
            if self._closing.is_set():
                return
            why = "SIGHUP" if self._requested.is_set() else self._changed()
            self._requested.clear()
            if why:
                await self.reload(app, drain_timeout, why)

    async def close(self) -> None:
        self._closing.set()

    def _changed(self) -> str | None:
        changed = []
        for f in self._files:
            now = _look(f, self._seen[f])
            if now.digest is None:
                continue  # gone for a moment (an editor saving by rename): look again next time
            if now.digest != self._seen[f].digest:
                changed.append(str(f))
            self._seen[f] = now
        return f"{', '.join(changed)} changed" if changed else None

    async def reload(self, app: Starlette, drain_timeout: float, why: str) -> bool:
        self.reloads += 1
        self._seen = {f: _look(f) for f in self._files}
        log.info("reloading the spec (%s)", why)
        try:
            by_kind = self._load()
            changes = await self.components.apply(by_kind, drain_timeout)
        except UserError as exc:
            for line in exc.lines():
                log.error("reload: %s", line)
            log.error("reload: the spec running before is kept")
            return False
        except Exception:  # a bug here must not end the engine, nor later reloads
            log.exception("reload failed; the components running now are kept")
            return False
        finally:
            mount(app, self.components.live)
        log.info("reload: %s", "; ".join(changes) if changes else "nothing changed")
        return True


@dataclass(frozen=True)
class _Look:
    stat: tuple[int, int, int] | None  # inode, size, mtime: a cheap test before reading
    digest: str | None


def _look(path: Path, before: _Look | None = None) -> _Look:
    try:
        st = os.stat(path)
    except OSError:
        return _Look(None, None)  # a file being replaced: its new content is read next time
    stat = (st.st_ino, st.st_size, st.st_mtime_ns)
    if before is not None and before.stat == stat:
        return before
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return _Look(None, None)
    return _Look(stat, digest)
