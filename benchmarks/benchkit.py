"""Shared pieces of the batch benchmarks: specs on disk, engine processes, job start records, result lines.

Every benchmark prints one human line per measurement and, last, one JSON line that `run_all.py` reads.
Nothing here is a test: numbers depend on the machine, so they are recorded in docs/benchmarks.md with
the date and the machine, next to an anchor measured the same way.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = sys.executable

HEADER = "apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: bench}\nspec:\n"

# The job command of the lateness benchmarks. sh execs date, so the process that writes the time is the
# job's own process (no extra fork); %s.%N is its wall-clock start, the rest is the engine's scheduled time.
RECORD_COMMAND = 'exec date "+%s.%N $SENGU_SCHEDULED_AT" >> "$BENCH_OUT/$SENGU_JOB"'


# --- specs ----------------------------------------------------------------------------------------------
def jobs_spec(schedules: Sequence[str], command: str, *, env: dict[str, str] | None = None) -> str:
    """A CronjobManager with one job per schedule, named job-00000, job-00001, …"""
    lines = [HEADER.rstrip("\n")]
    if env:
        lines.append("  defaults:")
        lines.append("    env:")
        lines.extend(f"      {k}: {json.dumps(v)}" for k, v in env.items())
    lines.append("  jobs:")
    quoted = json.dumps(command)
    for i, schedule in enumerate(schedules):
        lines.append(f"    - name: {job_name(i)}\n      schedule: {json.dumps(schedule)}\n      command: {quoted}")
    return "\n".join(lines) + "\n"


def job_name(i: int) -> str:
    return f"job-{i:05d}"


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory for specs, SENGU_HOME and job records; kept if BENCH_KEEP=1."""
    path = Path(tempfile.mkdtemp(prefix=f"sengu-bench-{prefix}-"))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"(kept {path})", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- processes ------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    # fields[0] is stat field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class EngineProcess:
    """An engine running in its own process; its stdout and stderr go to `log`."""

    proc: subprocess.Popen[bytes]
    log: Path
    ready_line: str
    started: float  # time.monotonic() when the process was started
    ready_after_s: float  # seconds from process start to the ready line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_engine(
    argv: Sequence[str], *, env: dict[str, str], log: Path, ready_marker: str, timeout: float = 60.0
) -> EngineProcess:
    """Start argv and wait until a line starting with ready_marker appears in its output.

    Output goes to a file, never a pipe: a pipe nobody reads would block the engine when it fills.
    """
    out = open(log, "wb")  # noqa: SIM115 - the child holds it; closed below once the child has it
    t0 = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    out.close()
    deadline = t0 + timeout
    while True:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(ready_marker):
                return EngineProcess(proc, log, line, t0, time.monotonic() - t0)
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode} before it was ready:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"engine not ready after {timeout:.0f}s:\n{log.read_text()}")
        time.sleep(0.02)


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SENGU_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


# --- job start records ----------------------------------------------------------------------------------
@dataclass
class Lateness:
    """Process start minus scheduled time, in real seconds, for every expected (job, scheduled time)."""

    values: list[float] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # expected but never started
    unexpected: int = 0  # started but not expected (should stay 0)

    def summary(self) -> dict[str, Any]:
        v = sorted(self.values)
        return {
            "count": len(v),
            "missing": len(self.missing),
            "unexpected": self.unexpected,
            "min_s": v[0] if v else None,
            "p50_s": percentile(v, 50),
            "p90_s": percentile(v, 90),
            "p99_s": percentile(v, 99),
            "max_s": v[-1] if v else None,
        }


def read_records(out_dir: Path) -> dict[str, list[tuple[float, str]]]:
    """{job: [(real start epoch, scheduled ISO)]} from the files RECORD_COMMAND writes."""
    records: dict[str, list[tuple[float, str]]] = {}
    for path in out_dir.iterdir():
        for line in path.read_text().splitlines():
            started, _, scheduled = line.partition(" ")
            records.setdefault(path.name, []).append((float(started), scheduled.strip()))
    return records


def lateness(
    records: dict[str, list[tuple[float, str]]],
    expected: Iterable[tuple[str, datetime]],
    to_real: Callable[[float], float],
) -> Lateness:
    """Match records to expected (job, scheduled time). to_real maps a scheduled engine time (epoch seconds)
    to the real instant the engine's clock reached it. Records after the last expected time are ignored."""
    by_key: dict[tuple[str, float], float] = {}
    for job, items in records.items():
        for start, scheduled in items:
            by_key[(job, round(datetime.fromisoformat(scheduled).timestamp(), 3))] = start
    result = Lateness()
    expected = list(expected)
    last = max((when.timestamp() for _, when in expected), default=math.inf)
    seen = 0
    for job, when in expected:
        started = by_key.get((job, round(when.timestamp(), 3)))
        if started is None:
            result.missing.append((job, when.isoformat()))
            continue
        seen += 1
        result.values.append(started - to_real(when.timestamp()))
    result.unexpected = sum(1 for _, at in by_key if at <= last + 1e-3) - seen
    return result


def require_starts(late: Lateness, engine_log: Path) -> None:
    """Stop with the engine's output when no job started at all: there is nothing to measure."""
    if not late.values:
        tail = "\n".join(engine_log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"no job process started; the engine's last output:\n{tail}")


def fixed_offset(offset: float) -> Callable[[float], float]:
    """to_real for an engine whose time is real time + offset."""
    return lambda scheduled: scheduled - offset


def warped_offset(initial: float, jumps_file: Path) -> Callable[[float], float]:
    """to_real for an engine run with shifted_engine.py --warp: the offset grows at each logged jump.

    Between jumps engine time runs at the real rate, so the real instant engine time S was reached is
    S - (offset of the stretch in which S fell). A time inside a jump was never reached by a timer: it
    counts from the jump itself (the warp never does this to a due time, by construction).
    """
    stretches = [(-math.inf, initial)]
    if jumps_file.exists():
        for line in jumps_file.read_text().splitlines():
            jump = json.loads(line)
            stretches.append((float(jump["real"]), float(jump["offset"])))

    def to_real(scheduled: float) -> float:
        for i, (start, offset) in enumerate(stretches):
            end = stretches[i + 1][0] if i + 1 < len(stretches) else math.inf
            if scheduled < end + offset:  # reached before this stretch ended
                return max(scheduled - offset, start)
        raise AssertionError("unreachable: the last stretch never ends")

    return to_real


def store_view(home: Path) -> dict[str, Any]:
    """What the engine recorded: run statuses, and attempt start (engine time, before the process
    is spawned) minus scheduled time, for scheduled runs."""
    conn = sqlite3.connect(home / "sengu.db")
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM batch_runs GROUP BY status").fetchall())
        pairs = conn.execute(
            "SELECT r.scheduled_at, a.started_at FROM batch_runs r JOIN batch_attempts a ON a.run_id = r.id"
            " WHERE r.trigger = 'schedule' AND a.attempt = 1"
        ).fetchall()
    finally:
        conn.close()
    late = sorted(
        datetime.fromisoformat(started).timestamp() - datetime.fromisoformat(scheduled).timestamp()
        for scheduled, started in pairs
    )
    return {
        "statuses": statuses,
        "attempt_recorded_p50_s": percentile(late, 50),
        "attempt_recorded_p99_s": percentile(late, 99),
    }


def count_records(out_dir: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in out_dir.iterdir())


def wait_for_records(out_dir: Path, want: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = count_records(out_dir)
        if n >= want or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def spawn_floor(out_dir: Path, jobs: Sequence[str], at: float, scheduled_iso: str) -> Lateness:
    """The same commands started by a bare loop at wall time `at`: the machine's floor for process starts.

    subprocess.Popen with a new session and output to a file, as the engine does, and nothing else:
    no store, no bookkeeping. Lateness is measured exactly as for the engine.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir.parent / f"{out_dir.name}-logs"
    logs.mkdir(exist_ok=True)
    env = dict(os.environ, BENCH_OUT=str(out_dir), SENGU_SCHEDULED_AT=scheduled_iso)
    time.sleep(max(0.0, at - time.time()))
    procs = []
    for job in jobs:
        with open(logs / job, "wb") as log:
            procs.append(
                subprocess.Popen(
                    ["/bin/sh", "-c", RECORD_COMMAND],
                    env={**env, "SENGU_JOB": job},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            )
    for p in procs:
        p.wait()
    when = datetime.fromisoformat(scheduled_iso)
    return lateness(read_records(out_dir), [(j, when) for j in jobs], fixed_offset(when.timestamp() - at))


CRON_BINARY = Path("/usr/sbin/cron")
CRON_FILE = Path("/etc/cron.d/sengu-bench")


def can_run_debian_cron() -> bool:
    """Debian's cron reads only system paths, so running it needs root and no cron daemon already running."""
    return CRON_BINARY.exists() and os.geteuid() == 0 and not Path("/run/crond.pid").exists()


def debian_cron(out_dir: Path, jobs: Sequence[str], *, min_lead_s: float = 8.0) -> Lateness:
    """The same commands run by Debian's cron daemon (`cron -f`) at the next minute boundary of the real clock.

    Writes /etc/cron.d/sengu-bench, starts cron in the foreground, waits for the minute and the runs,
    stops cron and removes the file. Takes up to ~70 s of waiting for the minute.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    boundary = (int(now) // 60 + 1) * 60
    if boundary - now < min_lead_s:
        boundary += 60
    when = datetime.fromtimestamp(boundary).astimezone()
    iso = when.isoformat(timespec="milliseconds")
    # cron gives % a meaning in commands; \% is a literal one.
    command = RECORD_COMMAND.replace("%", "\\%").replace("$SENGU_SCHEDULED_AT", iso)
    setup = f"BENCH_OUT={out_dir}; export BENCH_OUT SENGU_JOB"
    lines = [f"{when.minute} {when.hour} * * * root SENGU_JOB={job}; {setup}; {command}" for job in jobs]
    CRON_FILE.write_text("SHELL=/bin/sh\n" + "\n".join(lines) + "\n")
    CRON_FILE.chmod(0o644)
    cron = subprocess.Popen(
        [str(CRON_BINARY), "-f", "-L", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until = boundary + 30
        while time.time() < wait_until and count_records(out_dir) < len(jobs):
            time.sleep(0.2)
    finally:
        cron.terminate()
        try:
            cron.wait(10)
        except subprocess.TimeoutExpired:
            cron.kill()
            cron.wait()
        CRON_FILE.unlink(missing_ok=True)
        pidfile = Path("/run/crond.pid")
        if pidfile.exists() and pidfile.read_text().strip() == str(cron.pid):
            pidfile.unlink()  # ours, left behind on SIGTERM; it would stop the next run
    return lateness(read_records(out_dir), [(j, when) for j in jobs], fixed_offset(0.0))


# --- results --------------------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": datetime.now().astimezone().date().isoformat(),
        # Other work on the machine skews every number here; recorded so a noisy run can be recognised.
        "loadavg_1m": os.getloadavg()[0],
    }


def fmt_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def emit(result: dict[str, Any]) -> None:
    """The last line of every benchmark: one JSON object (run_all.py reads it)."""
    result.setdefault("machine", machine())
    print(json.dumps(result, sort_keys=True), flush=True)
