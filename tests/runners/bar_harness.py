"""The runners bar, driven from outside: a real `sengu up` process, a fake GitHub, and GitHub's bad habits.

"1,000 queued jobs, 10% of deliveries duplicated and 5% dropped, the sengu process SIGKILLed and restarted
midway — it ends with exactly one runner per job and none left over."

The driver plays GitHub and the runners. It queues jobs in the FakeGitHub and delivers their webhooks to
`sengu up` at a steady pace; every delivery (queued, in_progress, completed) is, by a seeded draw of its
own, dropped, sent twice with the same X-GitHub-Delivery (at once or seconds later), or sent once. A
delivery that finds sengu down is lost too: GitHub does not redeliver by itself. Each runner process sengu
starts writes a `started` file; the driver then connects it to the fake, which hands it the oldest queued
job its labels cover — as GitHub does, not necessarily the job it was made for — runs that job for a
moment and completes it. Midway the sengu process is SIGKILLed and, after a pause, started again on the
same home and port.

`run_bar` returns an `Outcome`; `Outcome.problems()` lists every way the end state misses the bar and
`Outcome.evidence()` gathers, for those, what the fake, the driver, the engine's store and sengu's logs
say.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from tests.fakes.github import FakeGitHub, FakeJob

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("self-hosted", "sengu", "local")
REPOSITORIES = ("my-org/app", "my-org/api", "my-org/web")
POOL = "ci"
SENDERS = 8  # deliveries in flight at once
ACTIONS = ("queued", "in_progress", "completed")

Plan = Literal["drop", "once", "twice-now", "twice-later"]


@dataclass(frozen=True)
class BarConfig:
    jobs: int = 1000
    queue_rate: float = 25.0  # jobs queued (and their `queued` delivered) per second
    duplicate: float = 0.10
    drop: float = 0.05
    kill_after: int = 400  # SIGKILL sengu right after this many jobs are queued
    downtime_s: float = 2.0  # from the kill to starting sengu again (its start-up adds to the outage)
    later_s: tuple[float, float] = (0.3, 3.0)  # a late duplicate comes this long after the first send
    job_s: tuple[float, float] = (0.05, 0.5)  # how long a job runs on its runner
    max_runners: int = 50
    reconcile_interval: str = "1s"
    boot_timeout: str | None = None  # the pool's default (10 min) unless set
    deadline_s: float = 150.0  # for every job to complete on GitHub, from the first job queued
    stall_s: float = 30.0  # ... unless nothing moves this long once all are queued: no job ends, no runner comes up
    settle_s: float = 30.0  # then for the engine to have nothing left alive
    seed: int = 20250611
    # Requests an hour the fake allows the installation. GitHub's 5,000 cannot pay for reconcileInterval 1s
    # (every round lists queued and in-progress runs per repository, and the runners: 3,600 rounds an hour);
    # the bar is about deliveries and crashes, so the budget is lifted here and the requests are reported.
    api_budget: int | None = 1_000_000


@dataclass
class Tally:
    events: int = 0  # deliveries GitHub meant to make: one per job and action
    posts: int = 0  # POSTs made, duplicates included
    duplicated: int = 0  # events sent twice with one delivery id
    dropped: int = 0  # events never sent
    refused: int = 0  # POSTs that found sengu down (connection refused or reset): lost as well
    timed_out: int = 0  # POSTs sengu did not answer within the timeout: lost as well, as on GitHub
    bad_answers: list[str] = field(default_factory=list)  # anything but 202 from a live sengu
    answer_s: float = 0.0  # time spent waiting for answers, and the longest wait
    slowest_s: float = 0.0


@dataclass
class RunnerSeen:
    """A runner process sengu started, as the driver saw it come up."""

    name: str
    pid: int
    work: Path
    seen_at: float
    jobs: list[int] = field(default_factory=list)
    took_at: float | None = None
    fate: str = "waiting"  # waiting, took a job, deregistered before a job, process gone before a job


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_alive(pid: int) -> bool:
    """Running, that is: a zombie has exited and waits only for its parent (often a lazy init) to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] not in ("Z", "X")


def processes_under(root: Path) -> dict[int, str]:
    """Live processes (pid → working directory) of this user working under `root`: every runner sengu
    started there, whether or not it got as far as writing `started`, and whichever sengu started it."""
    found: dict[int, str] = {}
    prefix = str(root.resolve()) + os.sep
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:  # gone, a zombie, or another user's
            continue
        if cwd.startswith(prefix) and process_alive(int(entry)):
            found[int(entry)] = cwd
    return found


def kill_processes_under(root: Path) -> int:
    """SIGKILL the process group of every live process working under `root` (runners lead their own)."""
    killed = 0
    for pid in processes_under(root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            pgid = os.getpgid(pid)
            if pgid > 1 and pgid != os.getpgrp():
                os.killpg(pgid, signal.SIGKILL)
                killed += 1
    return killed


def write_pool(tmp_path: Path, fake: FakeGitHub, config: BarConfig) -> Path:
    runner = tmp_path / "runner.sh"
    # A stand-in for actions/runner: it shows it came up (atomically, the driver polls for it), then waits
    # like a runner whose job GitHub has not handed over. It never leaves by itself: sengu must end it.
    runner.write_text(
        '#!/bin/sh\necho "$SENGU_RUNNER $$" > "$PWD/started.tmp" && mv "$PWD/started.tmp" "$PWD/started"\n'
        "exec sleep 600\n"
    )
    runner.chmod(0o755)
    boot = f", bootTimeout: {config.boot_timeout}" if config.boot_timeout else ""
    limits = f"  limits: {{maxRunners: {config.max_runners}, reconcileInterval: {config.reconcile_interval}{boot}}}\n"
    return fake.write_pool(tmp_path, runner, name=POOL, more=limits)


class Sengu:
    """`sengu up POOL --port PORT` as a real process, started again on the same home and port after a kill."""

    def __init__(self, pool: Path, home: Path, port: int, log_dir: Path):
        self.pool, self.home, self.port, self.log_dir = pool, home, port, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/github"

    def start(self) -> None:
        log = self.log_dir / f"sengu-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sengu", "up", str(self.pool), "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, "SENGU_HOME": str(self.home)},
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            code = self.exited()
            if code is not None:
                raise AssertionError(f"sengu up exited with {code} while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"sengu up not healthy within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        out = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            out.append(f"--- {log.name} (last {min(lines, len(text))} of {len(text)} lines)")
            out.extend(text[-lines:])
        return "\n".join(out)

    def log_lines_with(self, needles: list[str], limit: int = 40) -> list[str]:
        hits = []
        for log in self.logs:
            if not log.exists():
                continue
            for line in log.read_text(errors="replace").splitlines():
                if any(n in line for n in needles):
                    hits.append(f"{log.name}: {line}")
                    if len(hits) >= limit:
                        return hits
        return hits


class Driver:
    """GitHub and the runners, in one loop on the test's thread: queue, deliver, connect, run, complete."""

    def __init__(self, fake: FakeGitHub, sengu: Sengu, work: Path, config: BarConfig):
        self.fake, self.sengu, self.work, self.config = fake, sengu, work, config
        # GitHub sends deliveries in parallel; one at a time, a slow answer would hold back the whole pace.
        self.client = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=SENDERS))
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="github-delivery")
        self._in_flight: set[Future[None]] = set()
        self._tally_lock = threading.Lock()
        self.sent: dict[tuple[int, str], list[str]] = {}  # (job id, action) → what became of each send, in time
        self.tally = Tally()
        self.jobs: list[FakeJob] = []
        self.index: dict[int, int] = {}  # job id → its position in the queue (the seed's key)
        self.unclaimed: set[int] = set()  # queued on GitHub and not yet handed to a runner
        self.taken: dict[int, list[str]] = {}  # job id → runners GitHub handed it to
        self.completed: set[int] = set()
        self.runners: dict[str, RunnerSeen] = {}
        self.waiting: list[str] = []  # runners up and online without a job
        self.killed_mid_job: list[tuple[int, str]] = []
        self.peak_processes = 0
        self.kill_at: float | None = None
        self.restart_at: float | None = None
        self.healthy_again_at: float | None = None
        self._next_probe = 0.0
        self.t0 = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._next_sample = 0.0
        self._progress = (0, 0)
        self._progress_at = 0.0
        self.stalled_at: float | None = None

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> bool:
        """Drive until every job has completed on GitHub and nothing is left to send; False at the deadline."""
        self.t0 = time.monotonic()
        queued = 0
        while True:
            now = self.elapsed()
            while queued < self.config.jobs and queued / self.config.queue_rate <= now:
                self._queue(queued)
                queued += 1
                if queued == self.config.kill_after:
                    self.sengu.kill()
                    self.kill_at = self.elapsed()
            self._restart_if_due()
            self._fire_timers()
            self._discover_runners()
            self._hand_out_jobs()
            self._sample_processes()
            self._in_flight = {f for f in self._in_flight if not f.done()}
            if (
                queued == self.config.jobs
                and len(self.completed) == self.config.jobs
                and not self._timers
                and not self._in_flight
            ):
                return True
            if now > self.config.deadline_s:
                return False
            progress = (len(self.completed), len(self.runners))
            if progress != self._progress:
                self._progress, self._progress_at = progress, now
            elif queued == self.config.jobs and now - self._progress_at > self.config.stall_s:
                self.stalled_at = now
                return False
            time.sleep(0.01)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def close(self) -> None:
        self._senders.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def _after(self, delay: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, self._seq, action))

    def _fire_timers(self) -> None:
        while self._timers and self._timers[0][0] <= time.monotonic():
            _, _, action = heapq.heappop(self._timers)
            action()

    def _restart_if_due(self) -> None:
        if self.kill_at is None:
            return
        if self.restart_at is None and self.elapsed() >= self.kill_at + self.config.downtime_s:
            self.sengu.start()
            self.restart_at = self.elapsed()
        elif self.restart_at is not None and self.healthy_again_at is None and self.elapsed() >= self._next_probe:
            self._next_probe = self.elapsed() + 0.2
            if self.sengu.healthy():
                self.healthy_again_at = self.elapsed()
            elif (code := self.sengu.exited()) is not None:
                raise AssertionError(f"restarted sengu up exited with {code}:\n{self.sengu.log_tail()}")

    # --- GitHub: jobs and deliveries --------------------------------------------------------------
    def _queue(self, i: int) -> None:
        job = self.fake.queue_job(REPOSITORIES[i % len(REPOSITORIES)], LABELS, name=f"build-{i}")
        self.jobs.append(job)
        self.index[job.id] = i
        self.unclaimed.add(job.id)
        self._deliver(job.id, "queued")

    def _plan(self, job_id: int, action: str) -> tuple[Plan, float, str]:
        # One draw per (job, action), keyed by the job's queue position: the same seed gives every delivery
        # the same fate whatever order the runners come up in.
        rng = random.Random(f"{self.config.seed}/{self.index[job_id]}/{action}")
        delivery_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        draw = rng.random()
        later = rng.uniform(*self.config.later_s)
        if draw < self.config.drop:
            return "drop", 0.0, delivery_id
        if draw < self.config.drop + self.config.duplicate:
            return ("twice-now" if rng.random() < 0.5 else "twice-later"), later, delivery_id
        return "once", 0.0, delivery_id

    def _deliver(self, job_id: int, action: str) -> None:
        self.tally.events += 1
        plan, later, delivery_id = self._plan(job_id, action)
        key = (job_id, action)
        if plan == "drop":
            self.tally.dropped += 1
            self.sent[key] = ["dropped"]
            return
        self.sent[key] = []
        headers, body = self.fake.webhook_delivery(job_id, action, delivery_id=delivery_id)
        self._send(key, headers, body)
        if plan == "twice-now":
            self.tally.duplicated += 1
            self._send(key, headers, body)
        elif plan == "twice-later":
            self.tally.duplicated += 1
            self._after(later, lambda: self._send(key, headers, body))

    def _send(self, key: tuple[int, str], headers: dict[str, str], body: bytes) -> None:
        self._in_flight.add(self._senders.submit(self._post, key, headers, body))

    def _post(self, key: tuple[int, str], headers: dict[str, str], body: bytes) -> None:
        began = time.monotonic()
        answer: httpx.Response | None = None
        lost: Literal["refused", "timed out"] | None = None
        try:
            answer = self.client.post(self.sengu.url, content=body, headers=headers)
        except httpx.TimeoutException:
            lost = "timed out"
        except httpx.TransportError:
            lost = "refused"
        took = time.monotonic() - began
        with self._tally_lock:
            t = self.tally
            t.posts += 1
            t.answer_s += took
            t.slowest_s = max(t.slowest_s, took)
            status = lost or (str(answer.status_code) if answer is not None else "?")
            self.sent[key].append(f"{status} at {began - self.t0:.1f} s")
            if lost == "timed out":
                t.timed_out += 1
            elif lost == "refused":
                t.refused += 1
            elif answer is not None and answer.status_code != 202:
                t.bad_answers.append(f"{headers['X-GitHub-Delivery']}: {answer.status_code} {answer.text[:200]}")

    # --- runners ----------------------------------------------------------------------------------
    def _discover_runners(self) -> None:
        try:
            names = os.listdir(self.work)
        except FileNotFoundError:
            return
        for name in names:
            if name in self.runners:
                continue
            try:
                line = (self.work / name / "started").read_text().split()
            except (FileNotFoundError, NotADirectoryError):
                continue
            runner = RunnerSeen(line[0], int(line[1]), self.work / name, self.elapsed())
            self.runners[name] = runner
            # It comes online: the fake hands it the oldest queued job it can run, if there is one.
            self._connect(runner)

    def _hand_out_jobs(self) -> None:
        for name in list(self.waiting):
            if not self.unclaimed:
                return
            self._connect(self.runners[name])

    def _connect(self, runner: RunnerSeen) -> None:
        if runner.name in self.waiting:
            self.waiting.remove(runner.name)
        if not process_alive(runner.pid):
            runner.fate = "process gone before a job"
            return
        if self.fake.runner(runner.name) is None:
            runner.fate = "deregistered before a job"
            return
        job = self.fake.runner_connected(runner.name)
        if job is None:
            self.waiting.append(runner.name)
            return
        runner.fate = "took a job"
        runner.took_at = self.elapsed()
        runner.jobs.append(job.id)
        self.taken.setdefault(job.id, []).append(runner.name)
        self.unclaimed.discard(job.id)
        self._deliver(job.id, "in_progress")
        self._after(random.Random(f"{self.config.seed}/{job.id}/run").uniform(*self.config.job_s),
                    lambda: self._complete(job.id, runner))  # fmt: skip

    def _complete(self, job_id: int, runner: RunnerSeen) -> None:
        alive = process_alive(runner.pid)
        if not alive:
            self.killed_mid_job.append((job_id, runner.name))
        # Ending the job deregisters its (ephemeral) runner on GitHub; the process is sengu's to end.
        self.fake.complete_job(job_id, "success" if alive else "failure")
        self.completed.add(job_id)
        self._deliver(job_id, "completed")

    def _sample_processes(self) -> None:
        if self.elapsed() < self._next_sample:
            return
        self._next_sample = self.elapsed() + 0.5
        self.peak_processes = max(self.peak_processes, len(processes_under(self.work)))


@dataclass
class Outcome:
    config: BarConfig
    finished: bool  # every job completed on GitHub before the deadline
    settled: bool  # then the engine had no live runner before settle_s
    drive_s: float
    settle_s: float
    driver: Driver
    fake_jobs: list[FakeJob]
    fake_runners: list[str]
    live_in_store: list[dict[str, Any]]
    listed: list[dict[str, Any]]
    listing_error: str | None
    processes: dict[int, str]
    jitconfigs: int
    sengu: Sengu
    fake: FakeGitHub

    def summary(self) -> str:
        t, d, c = self.driver.tally, self.driver, self.config
        fates = Counter(r.fate for r in d.runners.values())
        down = (
            f"SIGKILL at {d.kill_at:.1f} s (planned {c.kill_after / c.queue_rate:.1f} s), restarted at "
            f"{d.restart_at:.1f} s, healthy again at {d.healthy_again_at:.1f} s"
            if d.kill_at is not None and d.restart_at is not None and d.healthy_again_at is not None
            else f"SIGKILL at {d.kill_at}, restart at {d.restart_at}, healthy again at {d.healthy_again_at}"
        )
        api = self.api_requests()
        limited = sum(1 for r in self.fake.requests if r.status in (403, 429) and "rate limit" in str(r.answer))
        busiest = ", ".join(f"{n} {what}" for what, n in api.most_common(6))
        return "\n".join(
            [
                f"runners bar: {len(self.fake_jobs)} jobs, {'all' if self.finished else 'NOT all'} completed on GitHub "
                f"in {self.drive_s:.1f} s; engine {'settled' if self.settled else 'NOT settled'} "
                f"{self.settle_s:.1f} s later",
                f"  {down}",
                f"  deliveries: {t.events} events, {t.posts} POSTs, {t.duplicated} duplicated, {t.dropped} dropped; "
                f"lost while sengu was down or stuck: {t.refused} refused, {t.timed_out} timed out; "
                f"{len(t.bad_answers)} answered other than 202; answers took {t.answer_s:.1f} s in all, "
                f"slowest {t.slowest_s * 1000:.0f} ms",
                f"  runners: {self.jitconfigs} created (generate-jitconfig) for {len(self.fake_jobs)} jobs; "
                f"{len(d.runners)} came up: " + ", ".join(f"{n} {f}" for f, n in sorted(fates.items())),
                f"  jobs run on a runner made for another job: {self._swapped()}; "
                f"peak runner processes alive: {d.peak_processes} (maxRunners {c.max_runners})",
                f"  GitHub API: {sum(api.values())} requests from sengu, {limited} refused for the rate limit; "
                f"busiest: {busiest}",
            ]
        )

    def api_requests(self) -> Counter[str]:
        """sengu's requests to the fake by endpoint, ids folded ("GET /repos/R/actions/runs/N/jobs")."""
        out: Counter[str] = Counter()
        for r in self.fake.requests:
            path = re.sub(r"/repos/[^/]+/[^/]+/", "/repos/R/", r.path)
            out[f"{r.method} {re.sub(r'/[0-9]+', '/N', path)}"] += 1
        return out

    def _swapped(self) -> int:
        swapped = 0
        for job_id, names in self.driver.taken.items():
            if names and not names[0].startswith(f"{POOL}-{job_id}-"):
                swapped += 1
        return swapped

    def problems(self) -> list[str]:
        out: list[str] = []
        d = self.driver
        if d.stalled_at is not None:
            out.append(
                f"stalled: no job completed and no runner came up from {d._progress_at:.1f} s to {d.stalled_at:.1f} s"
            )
        elif not self.finished:
            out.append(f"not every job completed on GitHub within {self.config.deadline_s:.0f} s")
        stuck = [j for j in self.fake_jobs if j.status != "completed"]
        if stuck:
            out.append(f"{len(stuck)} job(s) never completed on GitHub, e.g. {[j.id for j in stuck[:10]]}")
        twice = {job: names for job, names in d.taken.items() if len(names) != 1}
        if twice:
            out.append(f"{len(twice)} job(s) handed to more than one runner: {dict(list(twice.items())[:10])}")
        greedy = {r.name: r.jobs for r in d.runners.values() if len(r.jobs) > 1}
        if greedy:
            out.append(f"{len(greedy)} runner(s) ran more than one job: {dict(list(greedy.items())[:10])}")
        failed = [j.id for j in self.fake_jobs if j.status == "completed" and j.conclusion != "success"]
        if failed:
            out.append(f"{len(failed)} job(s) did not succeed, e.g. {failed[:10]}")
        if d.killed_mid_job:
            out.append(f"{len(d.killed_mid_job)} runner(s) killed while running a job: {d.killed_mid_job[:10]}")
        mismatched = [
            j.id for j in self.fake_jobs if j.id in d.taken and j.runner_name != d.taken[j.id][-1]
        ]  # fmt: skip
        if mismatched:
            out.append(
                f"{len(mismatched)} job(s) ended on another runner than the one that took them: {mismatched[:10]}"
            )
        if self.fake_runners:
            out.append(f"{len(self.fake_runners)} runner(s) still registered on GitHub: {self.fake_runners[:10]}")
        if self.live_in_store:
            names = [r["runner_name"] for r in self.live_in_store]
            out.append(f"{len(names)} runner(s) not stopped in the store: {names[:10]}")
        if self.processes:
            shown = [f"{pid} in {Path(cwd).name}" for pid, cwd in list(self.processes.items())[:10]]
            out.append(f"{len(self.processes)} runner process(es) still alive: {shown}")
        if d.tally.bad_answers:
            out.append(f"{len(d.tally.bad_answers)} deliveries not answered 202: {d.tally.bad_answers[:5]}")
        if d.peak_processes > self.config.max_runners:
            out.append(f"{d.peak_processes} runner processes alive at once, over maxRunners {self.config.max_runners}")
        if self.listing_error is not None:
            out.append(f"`sengu runners list -o json` failed: {self.listing_error}")
        else:
            rows = {(r["job_id"], r["run_attempt"]): r for r in self.listed}
            unseen = [j.id for j in self.fake_jobs if (j.id, j.run_attempt) not in rows]
            if unseen:
                out.append(f"{len(unseen)} job(s) missing from `sengu runners list`, e.g. {unseen[:10]}")
            states = Counter(r["state"] for r in self.listed if r["state"] != "completed")
            if states:
                odd = [r["job_id"] for r in self.listed if r["state"] != "completed"][:10]
                out.append(f"`sengu runners list` shows jobs not completed: {dict(states)}, e.g. {odd}")
            running = [r["runner_name"] for r in self.listed if r["runner_name"] and not r["stopped_at"]]
            if running:
                out.append(f"`sengu runners list` shows {len(running)} runner(s) not stopped, e.g. {running[:10]}")
        return out

    def evidence(self, per_kind: int = 3) -> str:
        """For a few jobs and runners of each kind of problem: what GitHub, the driver, the engine's store and
        sengu's log say about them, following a stuck job to the runner it waits on and what that runner ran."""
        d = self.driver
        store_jobs = {r["job_id"]: r for r in _rows(self.sengu.home, "SELECT * FROM runners_jobs")}
        store_runners = {r["runner_name"]: r for r in _rows(self.sengu.home, "SELECT * FROM runners_runners")}
        fake_jobs = {j.id: j for j in self.fake_jobs}
        listed = {r["job_id"] for r in self.listed}

        def job_line(job_id: int, indent: str) -> str:
            fake = fake_jobs.get(job_id)
            github = (
                "unknown" if fake is None else fake.status + (f" on {fake.runner_name}" if fake.runner_name else "")
            )
            deliveries = "; ".join(f"{a}: {', '.join(d.sent.get((job_id, a), ['not due']))}" for a in ACTIONS)
            return (
                f"{indent}job {job_id} (queued #{d.index.get(job_id)}): GitHub {github}; GitHub handed it to "
                f"{d.taken.get(job_id)}\n{indent}  engine: {_short(store_jobs.get(job_id))}\n"
                f"{indent}  deliveries: {deliveries}"
            )

        def runner_line(name: str, indent: str) -> str:
            seen = d.runners.get(name)
            lines = [
                f"{indent}runner {name}: {_seen(seen)}; registered on GitHub: {self.fake.runner(name) is not None}",
                f"{indent}  engine: {_short(store_runners.get(name))}",
            ]
            lines += [job_line(ran, indent + "  ran ") for ran in (seen.jobs if seen else [])]
            return "\n".join(lines)

        def log_lines(needles: list[str]) -> list[str]:
            return ["  log: " + line for line in self.sengu.log_lines_with(needles, 12)]

        blocks: list[str] = []
        shown: set[str] = set()
        for job in [j for j in self.fake_jobs if j.status != "completed"][:per_kind]:
            lines = ["stuck " + job_line(job.id, "")]
            waits_on = (store_jobs.get(job.id) or {}).get("runner_name")
            if waits_on:
                lines.append(runner_line(waits_on, "  waits on "))
                shown.add(waits_on)
            lines += log_lines([f"job {job.id}", *([waits_on] if waits_on else [])])
            blocks.append("\n".join(lines))
        for job_id in [j.id for j in self.fake_jobs if j.id not in listed][:per_kind]:
            lines = ["unknown to the engine: " + job_line(job_id, "")]
            lines += [runner_line(name, "  ran on ") for name in d.taken.get(job_id, [])]
            blocks.append("\n".join(lines))
        leftovers = [r["runner_name"] for r in self.live_in_store][:per_kind]
        leftovers += [Path(cwd).name for cwd in list(self.processes.values())[:per_kind]]
        leftovers += self.fake_runners[:per_kind]
        for name in dict.fromkeys(n for n in leftovers if n not in shown):
            blocks.append("\n".join(["left over " + runner_line(name, ""), *log_lines([name])]))
        return "\n\n".join(blocks)


def _short(row: dict[str, Any] | None) -> str:
    if row is None:
        return "none"
    return json.dumps({k: v for k, v in row.items() if v is not None and k not in ("labels", "handle_detail")})


def _seen(runner: RunnerSeen | None) -> str:
    if runner is None:
        return "never came up"
    took = f" at {runner.took_at:.1f} s" if runner.took_at is not None else ""
    return f"pid {runner.pid}, came up at {runner.seen_at:.1f} s, {runner.fate}{took}"


def _rows(home: Path, sql: str) -> list[dict[str, Any]]:
    """Read the store from a connection of our own, as `sengu runners list` does."""
    db = home / "sengu.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql).fetchall()]
    except sqlite3.OperationalError:  # no runners tables: the engine never got as far as its migrations
        return []
    finally:
        conn.close()


def live_runners(home: Path) -> list[dict[str, Any]]:
    return _rows(home, "SELECT * FROM runners_runners WHERE stopped_at IS NULL")


def sengu_list(home: Path) -> tuple[list[dict[str, Any]], str | None]:
    listed = subprocess.run(
        [sys.executable, "-m", "sengu", "runners", "list", "-o", "json", "--limit", "100000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SENGU_HOME": str(home)},
        timeout=60,
        check=False,
    )
    if listed.returncode != 0:
        return [], f"exit {listed.returncode}: {listed.stderr.strip()[-500:]}"
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    return rows, None


def run_bar(tmp_path: Path, fake: FakeGitHub, config: BarConfig) -> Outcome:
    """The whole bar, from an empty home to the settled end state. Everything started here is killed before
    returning, whatever happens."""
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    sengu = Sengu(write_pool(tmp_path, fake, config), home, free_port(), tmp_path)
    driver = Driver(fake, sengu, work, config)
    if config.api_budget is not None:
        fake.set_budget(config.api_budget, limit=config.api_budget)
    try:
        sengu.start()
        sengu.wait_healthy(30)
        finished = driver.run()
        drive_s = driver.elapsed()
        # Settled: nothing alive in the store, on GitHub or on this machine. The reconciler and janitor
        # run every reconcileInterval, so this is quick when the engine does its job.
        settle_until = time.monotonic() + (config.settle_s if finished else min(config.settle_s, 5.0))
        settled = False
        while time.monotonic() < settle_until:
            if not live_runners(home) and not fake.runners and not processes_under(work):
                settled = True
                break
            time.sleep(0.2)
        settle_s = driver.elapsed() - drive_s
        listed, listing_error = sengu_list(home)
        outcome = Outcome(
            config=config,
            finished=finished,
            settled=settled,
            drive_s=drive_s,
            settle_s=settle_s,
            driver=driver,
            fake_jobs=fake.jobs,
            fake_runners=[r.name for r in fake.runners],
            live_in_store=live_runners(home),
            listed=listed,
            listing_error=listing_error,
            processes=processes_under(work),
            jitconfigs=len(
                [
                    r
                    for r in fake.requests_to("POST", r"/orgs/[^/]+/actions/runners/generate-jitconfig")
                    if r.status == 201
                ]
            ),
            sengu=sengu,
            fake=fake,
        )
        return outcome
    finally:
        sengu.kill()
        driver.close()
        kill_processes_under(work)
