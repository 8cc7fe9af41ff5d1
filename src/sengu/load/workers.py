"""More than one core: N worker processes, each running the engine at 1/N of the rate, merged into one Result.

Each worker is a fresh interpreter (``spawn``: no state inherited from the parent, the same on every OS)
with its own uvloop, so they share no GIL. They all wait on one start event so their schedules begin
together. Each sends back its HDR histograms encoded (hdrh's compressed format) with its counts, and the
parent merges them exactly — percentiles of the whole, not an average of percentiles. Every second each
worker also sends its progress, which the parent combines for the live display.

Ctrl-C: the workers ignore SIGINT themselves (a terminal sends it to the whole process group); the parent,
told by its ``stop`` callable, sets one stop event they all poll, so each ends early and still reports
what it measured.

A worker that dies or fails is reported in the Result's warnings (or raised, when none is left), never
left out silently.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from sengu.core.errors import Failure, UserError
from sengu.load.engine import (
    LoadConfig,
    Measurements,
    Progress,
    ProgressCallback,
    Stop,
    build_result,
    measure,
    prepare,
)
from sengu.load.result import Result, Second

# How long workers get to start (a fresh interpreter importing the engine) and, after the run's own
# length (warm-up, duration, drain), to report.
_START_TIMEOUT_S = 60.0
_REPORT_GRACE_S = 30.0


@dataclass(frozen=True)
class _Failed:
    """A worker's exception, as text (exceptions do not always pickle); user errors are raised again as such."""

    user_error: bool
    message: str
    detail: str


def _worker(index: int, count: int, config: LoadConfig, out: Connection, start: Event, stop: Event) -> None:
    """A worker process's entry point: prepare, wait for the start, run, report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (see the module doc)
    try:
        share = config.share(index, count)
        prepare(share)  # encode and validate before the start, so a bad config fails fast
        out.send(("ready", None))
        if not start.wait(_START_TIMEOUT_S):
            return
        measurements = measure(share, lambda p: out.send(("progress", p)), keep_seconds=True, stop=stop.is_set)
        out.send(("result", measurements))
    except BaseException as exc:
        out.send(("failed", _Failed(isinstance(exc, UserError), str(exc), traceback.format_exc())))
    finally:
        out.close()


class _ProgressMerger:
    """Combines the workers' seconds for the live display (the final Result merges exactly instead)."""

    def __init__(self, callback: ProgressCallback, workers: int) -> None:
        self.callback = callback
        self.workers = workers
        self.pending: dict[int, dict[int, Progress]] = {}
        self.latest: dict[int, Progress] = {}

    def add(self, index: int, progress: Progress, alive: int) -> None:
        self.latest[index] = progress
        seconds = self.pending.setdefault(progress.second.t, {})
        seconds[index] = progress
        if len(seconds) >= alive:
            del self.pending[progress.second.t]
            self._emit(list(seconds.values()))

    def _emit(self, parts: list[Progress]) -> None:
        second = Second(
            t=parts[0].second.t,
            offered=sum(p.second.offered for p in parts),
            completed=sum(p.second.completed for p in parts),
            errors=sum(p.second.errors for p in parts),
            # Percentiles do not add up; the worst worker's is an upper bound, good enough to watch.
            p50_ms=_worst(p.second.p50_ms for p in parts),
            p99_ms=_worst(p.second.p99_ms for p in parts),
            max_ms=_worst(p.second.max_ms for p in parts),
            answered=sum(p.second.answered for p in parts),
        )
        totals = list(self.latest.values())
        self.callback(
            Progress(
                second=second,
                duration_s=parts[0].duration_s,
                offered=sum(p.offered for p in totals),
                requests=sum(p.requests for p in totals),
                errors=sum(p.errors for p in totals),
                overflow=sum(p.overflow for p in totals),
                in_flight=sum(p.in_flight for p in totals),
                backlog=sum(p.backlog for p in totals),
                send_lag_p99_ms=max(p.send_lag_p99_ms for p in totals),  # the worst worker, like the p99 shown
            )
        )


def _worst(values: Iterable[float | None]) -> float | None:
    """The largest of the workers' values; None when no worker had an answer that second."""
    return max((v for v in values if v is not None), default=None)


def run(
    config: LoadConfig, workers: int = 1, progress: ProgressCallback | None = None, stop: Stop | None = None
) -> Result:
    """Run the load in ``workers`` processes (one per core is the point) and merge what they measured.

    ``workers == 1`` runs in this process. ``progress`` is called in this process about once a second.
    ``stop`` is polled in this process; True ends the run early, with what was measured so far.
    Raises UserError for a bad config, Failure when every worker failed.
    """
    parts, warnings = run_parts(config, workers, progress, stop)
    offered = config.schedule.mean_rate if config.schedule is not None else None
    return build_result(parts, warnings, offered_rate=offered)


def run_parts(
    config: LoadConfig, workers: int = 1, progress: ProgressCallback | None = None, stop: Stop | None = None
) -> tuple[list[Measurements], list[str]]:
    """As `run`, but what each process measured, unmerged (histograms encoded), and the warnings: what a
    pod of a distributed run hands its coordinator, which merges every pod's parts exactly."""
    if workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}")
    if workers == 1:
        return [measure(config, progress, keep_seconds=True, stop=stop)], []
    prepare(config)  # the user's mistakes, once and here, rather than once per worker
    if config.connections < workers:
        raise UserError(f"--connections ({config.connections}) must be at least --workers ({workers})")
    return _Pool(config, workers, progress, stop).run()


class _Pool:
    """The parent's side: one pipe per worker, so a worker killed mid-write garbles only its own, and its
    death shows at once as the end of its pipe."""

    def __init__(self, config: LoadConfig, workers: int, progress: ProgressCallback | None, stop: Stop | None) -> None:
        self.config = config
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.start = self.context.Event()
        self.stop = stop
        self.stopping = self.context.Event()  # set once `stop` says so: every worker polls it
        self.procs: list[BaseProcess] = []
        self.pipes: dict[int, Connection] = {}  # still open
        self.ready: set[int] = set()
        self.results: dict[int, Measurements] = {}
        self.failed: dict[int, _Failed] = {}
        self.crashed: dict[int, str] = {}
        self.merger = _ProgressMerger(progress, workers) if progress is not None else None

    def run(self) -> tuple[list[Measurements], list[str]]:
        try:
            for i in range(self.workers):
                reader, writer = self.context.Pipe(duplex=False)
                proc = self.context.Process(
                    target=_worker,
                    args=(i, self.workers, self.config, writer, self.start, self.stopping),
                    name=f"sengu-load-worker-{i}",
                    daemon=True,  # dies with the parent, whatever happens to it
                )
                proc.start()
                writer.close()  # the child has its copy; ours would keep the pipe from ever reporting EOF
                self.procs.append(proc)
                self.pipes[i] = reader
            self._wait(lambda: len(self.ready) + self._gone() >= self.workers, time.monotonic() + _START_TIMEOUT_S)
            self.start.set()
            length = self.config.warmup_s + self.config.measured_s + self.config.timeout_s
            self._wait(lambda: self._gone() >= self.workers, time.monotonic() + length + _REPORT_GRACE_S)
        except BaseException:  # Ctrl-C, or the progress callback failed: the workers must not run on
            self._stop(kill=True)
            raise
        self._stop(kill=False)
        return self._parts()

    def _gone(self) -> int:
        return len(self.results) + len(self.failed) + len(self.crashed)

    def _wait(self, done: Callable[[], bool], deadline: float) -> None:
        while not done():
            if self.stop is not None and not self.stopping.is_set() and self.stop():
                self.stopping.set()
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                for i in list(self.pipes):
                    self._close(i, "did not report in time and was stopped")
                return
            # Short waits while a stop may come: a signal handler only sets a flag, read here.
            for reader in wait(list(self.pipes.values()), timeout=min(timeout, 1.0 if self.stop is None else 0.1)):
                index = next(i for i, r in self.pipes.items() if r is reader)
                self._receive(index)

    def _receive(self, index: int) -> None:
        reader = self.pipes[index]
        try:
            kind, payload = reader.recv()
        except (EOFError, OSError):  # the worker is gone without a result: it died
            proc = self.procs[index]
            proc.join(timeout=5)
            self._close(index, f"exited with code {proc.exitcode}")
            return
        except Exception as exc:  # a message cut short by the worker's death
            self._close(index, f"sent a broken message ({exc})")
            return
        if kind == "ready":
            self.ready.add(index)
        elif kind == "progress" and self.merger is not None:
            self.merger.add(index, payload, alive=self.workers - len(self.failed) - len(self.crashed))
        elif kind == "result":
            self.results[index] = payload
        elif kind == "failed":
            self.failed[index] = payload

    def _close(self, index: int, reason: str) -> None:
        self.pipes.pop(index).close()
        if index not in self.results and index not in self.failed:
            self.crashed[index] = reason

    def _stop(self, kill: bool) -> None:
        self.start.set()  # a worker still waiting to start should not wait out its timeout
        for proc in self.procs:
            proc.join(timeout=0 if kill else 5)
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for reader in self.pipes.values():
            reader.close()
        self.pipes.clear()

    def _parts(self) -> tuple[list[Measurements], list[str]]:
        user_errors = [f for f in self.failed.values() if f.user_error]
        if user_errors:
            raise UserError(user_errors[0].message)
        problems = [f"worker {i} failed: {f.message}\n{f.detail}" for i, f in sorted(self.failed.items())]
        problems += [f"worker {i} {reason}" for i, reason in sorted(self.crashed.items())]
        if not self.results:
            raise Failure("every load worker failed:\n" + "\n".join(problems))
        parts = [self.results[i] for i in sorted(self.results)]
        warnings = []
        if problems:
            lost = self.workers - len(parts)
            warnings.append(
                f"{lost} of {self.workers} workers failed, so the result covers only {len(parts)} workers' share "
                f"of the load: " + "; ".join(p.splitlines()[0] for p in problems)
            )
        return parts, warnings
