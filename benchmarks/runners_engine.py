"""The processes of the runners benchmarks, and the open-loop load generator that drives them.

Three process modes, each started by a benchmark and stopped with SIGTERM:

    runners_engine.py github DIR --jobs N   a FakeGitHub (tests/fakes/github.py) with N jobs queued; writes
                                            DIR/pool.yaml, the app key, the webhook secret and one signed
                                            `workflow_job` `queued` delivery per job (DIR/deliveries.jsonl)
    runners_engine.py engine POOL LAUNCHES  `sengu up POOL`, with every backend of every pool replaced by one
                                            that only records when `launch` is called (LAUNCHES, JSON lines)
    runners_engine.py floor [--pool POOL --launches LAUNCHES]
                                            the same HTTP stack (sengu.core.server.serve) with a
                                            /webhooks/github route that reads the body and answers 202: no
                                            signature check, no store. With --pool it then asks GitHub for a
                                            JIT config and records the launch, as directly as can be done.

Each prints `ready {json}` once it serves. Every process is its own: the load generator never shares an event
loop (or a GIL) with the engine it measures, nor with the fake GitHub the engine calls.

The load generator (`fire`) is open-loop: request i is due at start + i/rate whatever happened to the ones
before it, on a pool of keep-alive connections (a new one is opened when all are busy). Latency counts from
the due time, not from when the request was written, so a slow answer cannot hide the requests queued behind
it (coordinated omission); how late the generator itself was is reported as `lag`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchkit as kit

LABELS = ("self-hosted", "sengu", "local")
POOL = "ci"
FLOOR_POOL = "floor"


# === process side ======================================================================================
class Recorder:
    """Appends `{"runner": name, "t": wall time}` per launch, flushed at once, so the benchmark can watch
    launches arrive (a write of a few dozen bytes: microseconds, against a bar of 100 ms)."""

    def __init__(self, path: Path):
        self.file = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    def record(self, runner_name: str) -> None:
        self.file.write(json.dumps({"runner": runner_name, "t": time.time()}) + "\n")

    def github(self, runner_name: str, seconds: float) -> None:
        self.file.write(json.dumps({"runner": runner_name, "github_s": seconds}) + "\n")


def time_jitconfig(github: Any, recorder: Recorder) -> None:
    """Record how long each generate-jitconfig call took, as the caller saw it: the fake GitHub's answer
    plus any wait of this process's event loop while it was pending. Subtracted from a launch's latency it
    gives a lower bound of the engine's own share."""
    inner = github.generate_jitconfig

    async def timed(scope: str, name: str, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await inner(scope, name, *args, **kwargs)
        finally:
            recorder.github(name, time.perf_counter() - t0)

    github.generate_jitconfig = timed


class RecordingBackend:
    """A Backend whose launch only records the call and answers at once: backend time is excluded."""

    def __init__(self, name: str, kind: str, recorder: Recorder):
        self._name = name
        self._kind = kind
        self.recorder = recorder

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return self._kind

    async def launch(self, launch: Any, *, runner_name: str, jit_config: str, owner_tag: str) -> Any:
        from sengu.runners.backends.base import POOL_TAG, RUNNER_TAG, Handle

        self.recorder.record(runner_name)
        return Handle(self._name, self._kind, runner_name, {POOL_TAG: owner_tag, RUNNER_TAG: runner_name})

    async def observe(self, handle: Any) -> Any:
        from sengu.runners.backends.base import Observation

        return Observation("running")

    async def observe_many(self, handles: Any) -> Any:
        return {h.id: await self.observe(h) for h in handles}

    async def terminate(self, handle: Any, reason: str) -> bool:
        return True

    async def list_owned(self, owner_tag: str) -> list[Any]:
        return []


def _ready(info: dict[str, Any]) -> None:
    print("ready " + json.dumps(info), flush=True)


def run_engine(pool: Path, launches: Path) -> None:
    """What `sengu up POOL` does (sengu/cli.py), with the backends swapped after the engine is built."""
    import logging

    from prometheus_client import CollectorRegistry

    from sengu import capabilities
    from sengu.core.clock import SYSTEM_CLOCK
    from sengu.core.server import serve
    from sengu.core.store import EngineLock, Store
    from sengu.runners.local import RunnerEngine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loaded = capabilities.load([pool])
    store = Store()
    lock = EngineLock(store.home)
    lock.acquire()
    recorder = Recorder(launches)

    async def main() -> None:
        registry = CollectorRegistry()
        comps = capabilities.components(loaded, store=store, clock=SYSTEM_CLOCK, registry=registry)
        swapped = 0
        for comp in comps:
            if isinstance(comp, RunnerEngine):
                for runtime in comp.pools.values():
                    time_jitconfig(runtime.github, recorder)
                    for name, backend in list(runtime.backends.items()):
                        runtime.backends[name] = RecordingBackend(name, backend.kind, recorder)
                        swapped += 1
        if not swapped:
            raise SystemExit("no runner backend to replace: is POOL a RunnerPool with a local backend?")
        await serve(
            comps,
            registry,
            host="127.0.0.1",
            port=0,
            drain_timeout=5.0,
            on_ready=lambda port: _ready({"port": port, "pid": os.getpid(), "backends": swapped}),
        )

    try:
        asyncio.run(main())
    finally:
        lock.release()
        store.close()


def run_floor(pool: Path | None, launches: Path | None) -> None:
    from prometheus_client import CollectorRegistry
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import BaseRoute, Route

    from sengu import capabilities
    from sengu.core.clock import SYSTEM_CLOCK
    from sengu.core.server import serve
    from sengu.runners.local import PoolRuntime, build_pools

    runtime: PoolRuntime | None = None
    recorder: Recorder | None = None
    if pool is not None and launches is not None:
        (runtime,) = build_pools(capabilities.load([pool]).of("RunnerPool"), home=Path.cwd(), clock=SYSTEM_CLOCK)
        recorder = Recorder(launches)
        time_jitconfig(runtime.github, recorder)
    tasks: set[asyncio.Task[None]] = set()

    async def launch(body: bytes) -> None:
        assert runtime is not None and recorder is not None
        payload = json.loads(body)
        job = payload["workflow_job"]
        name = f"{FLOOR_POOL}-{job['id']}-{job['run_attempt']}-1"
        scope = runtime.scope(payload["repository"]["full_name"])
        await runtime.github.generate_jitconfig(scope, name, job["labels"], runtime.pool.spec.github.runner_group_id)
        recorder.record(name)

    async def webhook(request: Request) -> Response:
        body = await request.body()
        if runtime is not None:
            task = asyncio.create_task(launch(body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return JSONResponse({"stored": True, "duplicate": False}, status_code=202)

    class Floor:
        name = "floor"

        async def start(self) -> None:
            pass

        async def stop(self, drain_timeout: float) -> None:
            for task in list(tasks):
                task.cancel()
            if runtime is not None:
                await runtime.github.aclose()

        def routes(self) -> Sequence[BaseRoute]:
            return [Route("/webhooks/github", webhook, methods=["POST"])]

        def health(self) -> dict[str, Any]:
            return {"ok": True}

    async def main() -> None:
        await serve(
            [Floor()],
            CollectorRegistry(),
            host="127.0.0.1",
            port=0,
            drain_timeout=5.0,
            on_ready=lambda port: _ready({"port": port, "pid": os.getpid()}),
        )

    asyncio.run(main())


def run_github(out: Path, jobs: int) -> None:
    import threading

    from tests.fakes.github import FakeGitHub

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeGitHub() as fake:
        # An installation gets 5,000-15,000 requests an hour; 200 jobs/s spend that in under 75 s. The limit
        # is lifted so that the engine, not GitHub's budget, is what gets measured.
        fake.set_budget(10**9, limit=10**9)
        # The command is never run: the engine's backends are replaced. A local backend is the one kind
        # `sengu up` builds without a cloud account. Runners here never finish, so a cap on live runners
        # would hold jobs back by design: it is lifted to measure the engine's own path.
        fake.write_pool(out, "/bin/false", name=POOL, more=f"  limits: {{maxRunners: {jobs + 100}}}\n")
        with open(out / "deliveries.jsonl", "w") as f:
            for _ in range(jobs):
                job = fake.queue_job(f"{fake.owner}/app", LABELS)
                headers, body = fake.webhook_delivery(job, "queued")
                f.write(
                    json.dumps({"job": job.id, "attempt": job.run_attempt, "headers": headers, "body": body.decode()})
                )
                f.write("\n")
        _ready({"port": fake.port, "pid": os.getpid(), "jobs": jobs})
        while not stop.wait(0.5):
            pass
        jit = len(fake.requests_to("POST", r".*/generate-jitconfig"))
        print("stats " + json.dumps({"runners": len(fake.runners), "jitconfig_requests": jit}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    gh = sub.add_parser("github")
    gh.add_argument("dir", type=Path)
    gh.add_argument("--jobs", type=int, required=True)
    en = sub.add_parser("engine")
    en.add_argument("pool", type=Path)
    en.add_argument("launches", type=Path)
    fl = sub.add_parser("floor")
    fl.add_argument("--pool", type=Path, default=None)
    fl.add_argument("--launches", type=Path, default=None)
    args = parser.parse_args()
    if args.mode == "github":
        run_github(args.dir, args.jobs)
    elif args.mode == "engine":
        run_engine(args.pool, args.launches)
    else:
        run_floor(args.pool, args.launches)


# === benchmark side ====================================================================================
@dataclass(frozen=True)
class Delivery:
    job: int
    attempt: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Sent:
    """One request: due (wall clock, the latency's start), its answer's status and latency from due."""

    job: tuple[int, int]
    due_wall: float
    lag_s: float  # written this long after it was due
    status: int | None = None
    latency_s: float | None = None
    error: str | None = None


@dataclass
class LoadResult:
    rate: float
    sent: list[Sent]
    connections_opened: int
    warmup: int  # the first `warmup` requests are not counted in the latencies

    @property
    def measured(self) -> list[Sent]:
        return self.sent[self.warmup :]

    def latencies(self) -> list[float]:
        return sorted(s.latency_s for s in self.measured if s.latency_s is not None and s.status == 202)

    def failures(self) -> list[Sent]:
        return [s for s in self.sent if s.status != 202]

    def summary(self) -> dict[str, Any]:
        lags = sorted(s.lag_s for s in self.measured)
        out = stats(self.latencies())
        ok = [s for s in self.measured if s.latency_s is not None and s.status == 202]
        out.update(
            per_second_p99_s=per_second_p99([(s.due_wall, s.latency_s or 0.0) for s in ok]),
            sent=len(self.measured),
            warmup=self.warmup,
            rate_per_s=self.rate,
            failed=len(self.failures()),
            statuses=_count(str(s.status) for s in self.sent),
            connections_opened=self.connections_opened,
            lag_p99_s=kit.percentile(lags, 99),
            lag_max_s=lags[-1] if lags else None,
        )
        return out


def per_second_p99(points: Sequence[tuple[float, float]]) -> list[float | None]:
    """p99 of each second of the load, from (due wall time, latency) pairs: shows when a stall happened."""
    if not points:
        return []
    t0 = min(t for t, _ in points)
    buckets: dict[int, list[float]] = {}
    for t, v in points:
        buckets.setdefault(int(t - t0), []).append(v)
    return [kit.percentile(sorted(buckets.get(i, [])), 99) for i in range(max(buckets) + 1)]


def fmt_seconds(p99s: Sequence[float | None]) -> str:
    return " ".join("-" if v is None else f"{v * 1000:.0f}" for v in p99s) + " (ms)"


def stats(values: Sequence[float]) -> dict[str, Any]:
    v = sorted(values)
    return {
        "count": len(v),
        "p50_s": kit.percentile(v, 50),
        "p95_s": kit.percentile(v, 95),
        "p99_s": kit.percentile(v, 99),
        "max_s": v[-1] if v else None,
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def read_deliveries(path: Path) -> list[Delivery]:
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        out.append(Delivery(d["job"], d["attempt"], d["headers"], d["body"].encode()))
    return out


def _request(port: int, d: Delivery) -> bytes:
    lines = ["POST /webhooks/github HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in d.headers.items() if k.lower() != "content-length"]
    lines.append(f"Content-Length: {len(d.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + d.body


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _exchange(conn: Conn, request: bytes) -> tuple[int, bool]:
    """Write one request, read its whole answer: (status, whether the connection stays usable)."""
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            keep = False
    await reader.readexactly(length)
    return status, keep


async def _fire(port: int, deliveries: Sequence[Delivery], rate: float, warmup: int, connections: int) -> LoadResult:
    requests = [_request(port, d) for d in deliveries]  # built before the clock starts
    idle: deque[Conn] = deque()
    opened = 0

    async def connect() -> Conn:
        nonlocal opened
        opened += 1
        return await asyncio.open_connection("127.0.0.1", port)

    for _ in range(connections):
        idle.append(await connect())
    preopened = opened

    async def send(i: int, s: Sent) -> None:
        for attempt in range(2):
            conn = idle.popleft() if idle else await connect()
            try:
                s.status, keep = await _exchange(conn, requests[i])
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                conn[1].close()
                if attempt == 0:  # the server had closed an idle keep-alive connection: once more, anew
                    continue
                s.error = repr(exc)
                return
            s.latency_s = time.monotonic() - due[i]
            if keep:
                idle.append(conn)
            else:
                conn[1].close()
            return

    to_wall = time.time() - time.monotonic()
    start = time.monotonic() + 0.05
    due = [start + i / rate for i in range(len(requests))]
    sent: list[Sent] = []
    tasks = []
    for i, d in enumerate(deliveries):
        delay = due[i] - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        s = Sent((d.job, d.attempt), due[i] + to_wall, time.monotonic() - due[i])
        sent.append(s)
        tasks.append(asyncio.create_task(send(i, s)))
    await asyncio.gather(*tasks)
    while idle:
        idle.popleft()[1].close()
    return LoadResult(rate, sent, opened - preopened, warmup)


def fire(port: int, deliveries: Sequence[Delivery], rate: float, *, warmup: int, connections: int = 32) -> LoadResult:
    return asyncio.run(_fire(port, deliveries, rate, warmup, connections))


# --- processes and launches -----------------------------------------------------------------------------
def env(home: Path) -> dict[str, str]:
    e = kit.bench_env(home)
    e["PYTHONPATH"] = os.pathsep.join([str(kit.ROOT), e["PYTHONPATH"]])  # tests.fakes, for the fake GitHub
    return e


def start(
    mode: Sequence[str], wd: Path, log_name: str, home: Path | None = None
) -> tuple[kit.EngineProcess, dict[str, Any]]:
    argv = [kit.PYTHON, str(Path(__file__).resolve()), *mode]
    proc = kit.start_engine(argv, env=env(home or wd / "home"), log=wd / log_name, ready_marker="ready ")
    return proc, json.loads(proc.ready_line.removeprefix("ready "))


@dataclass
class FakeGitHubProcess:
    proc: kit.EngineProcess
    pool: Path  # a RunnerPool file pointing at it
    deliveries: list[Delivery]
    stats: dict[str, Any] | None = None  # filled when it has stopped


@contextmanager
def fake_github(wd: Path, name: str, jobs: int) -> Iterator[FakeGitHubProcess]:
    """A fake GitHub of its own for one run: the fake's cost per call grows with the runners it holds, so
    runs compared with each other each start from an empty one."""
    where = wd / f"github-{name}"
    where.mkdir()
    proc, _ = start(["github", str(where), "--jobs", str(jobs)], wd, f"github-{name}.log")
    fake = FakeGitHubProcess(proc, where / "pool.yaml", read_deliveries(where / "deliveries.jsonl"))
    try:
        yield fake
    finally:
        proc.stop()
        fake.stats = github_stats(proc)


def github_stats(gh: kit.EngineProcess) -> dict[str, Any] | None:
    for line in gh.log.read_text(errors="replace").splitlines():
        if line.startswith("stats "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("stats "))
            return parsed
    return None


_RUNNER = re.compile(r"^(?P<pool>.+)-(?P<job>\d+)-(?P<attempt>\d+)-(?P<n>\d+)$")


def read_launches(path: Path) -> dict[tuple[int, int], list[float]]:
    """{(job id, run attempt): [launch wall times]}: one per launch; more than one is a relaunch."""
    out: dict[tuple[int, int], list[float]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if not line.endswith("}"):
            continue  # being written
        rec = json.loads(line)
        m = _RUNNER.match(rec["runner"])
        if m and "t" in rec:
            out.setdefault((int(m["job"]), int(m["attempt"])), []).append(float(rec["t"]))
    return out


def read_github_times(path: Path) -> dict[tuple[int, int], float]:
    """{(job id, run attempt): seconds in generate-jitconfig} for the first launch of each job."""
    out: dict[tuple[int, int], float] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        rec = json.loads(line) if line.endswith("}") else {}
        m = _RUNNER.match(rec.get("runner", ""))
        if m and "github_s" in rec and m["n"] == "1":
            out[(int(m["job"]), int(m["attempt"]))] = float(rec["github_s"])
    return out


def wait_launches(path: Path, want: int, *, settle_s: float, cap_s: float) -> float:
    """Wait until `want` jobs have launched, or none launched for settle_s, or cap_s passed. Returns the wait."""
    t0 = time.monotonic()
    last_n, last_change = -1, t0
    while True:
        n = len(read_launches(path))
        now = time.monotonic()
        if n != last_n:
            last_n, last_change = n, now
        if n >= want or now - last_change > settle_s or now - t0 > cap_s:
            return now - t0
        time.sleep(0.1)


@dataclass
class LaunchResult:
    values: list[float] = field(default_factory=list)  # first launch - due, per measured job
    due: list[float] = field(default_factory=list)  # the due wall time of each value
    github: list[float] = field(default_factory=list)  # time in generate-jitconfig, for jobs where known
    without_github: list[float] = field(default_factory=list)  # value - github, for the same jobs
    missing: list[tuple[int, int]] = field(default_factory=list)
    relaunched: int = 0
    unexpected: int = 0

    def summary(self) -> dict[str, Any]:
        out = stats(self.values)
        out.update(missing=len(self.missing), relaunched=self.relaunched, unexpected=self.unexpected)
        out["per_second_p99_s"] = per_second_p99(list(zip(self.due, self.values, strict=True)))
        out["github_call"] = stats(self.github)
        out["without_github_call"] = stats(self.without_github)
        return out


def launch_latency(
    load: LoadResult, launches: dict[tuple[int, int], list[float]], github: dict[tuple[int, int], float]
) -> LaunchResult:
    result = LaunchResult()
    for i, s in enumerate(load.sent):  # warm-up jobs too must launch; only measured ones count in latency
        times = launches.get(s.job)
        if not times:
            result.missing.append(s.job)
        elif i >= load.warmup:
            result.values.append(min(times) - s.due_wall)
            result.due.append(s.due_wall)
            if s.job in github:
                result.github.append(github[s.job])
                result.without_github.append(min(times) - s.due_wall - github[s.job])
    result.relaunched = sum(1 for times in launches.values() if len(times) > 1)
    result.unexpected = len(set(launches) - {s.job for s in load.sent})
    return result


def store_view(home: Path) -> dict[str, Any] | None:
    """What the engine stored: deliveries (pending, failed) and job states. None if the schema moved on."""
    try:
        conn = sqlite3.connect(home / "sengu.db")
        try:
            total, pending, errors = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(processed_at IS NULL), 0), COALESCE(SUM(error IS NOT NULL), 0)"
                " FROM runners_deliveries"
            ).fetchone()
            states = dict(conn.execute("SELECT state, COUNT(*) FROM runners_jobs GROUP BY state").fetchall())
            error = conn.execute("SELECT error FROM runners_deliveries WHERE error IS NOT NULL LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"unreadable": str(exc)}
    return {
        "deliveries": total,
        "pending": pending,
        "errors": errors,
        "first_error": error[0] if error else None,
        "job_states": states,
    }


def log_problems(log: Path, limit: int = 3) -> tuple[int, list[str]]:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if " WARNING " in ln or " ERROR " in ln]
    return len(lines), lines[:limit]


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


if __name__ == "__main__":
    main()
