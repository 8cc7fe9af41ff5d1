"""SIGKILL the engine and start it again: no scheduled time runs twice, nothing is lost."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.batch.enginekit import rows, spec_file
from tests.batch.test_engine import alive

ROOT = Path(__file__).resolve().parents[2]


def start(home: Path, spec: Path, at: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.batch.engine_harness", str(home), str(spec), at],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "started\n", proc.stderr.read() if proc.stderr else line
    return proc


def wait_until(check: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def runs(home: Path) -> list[dict[str, Any]]:
    return rows(home, "SELECT * FROM batch_runs ORDER BY id")


def test_sigkill_then_restart_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    log = tmp_path / "quick.log"
    spec = spec_file(
        tmp_path,
        f"""  defaults:
    startingDeadlineSeconds: 60
  jobs:
    - name: quick
      schedule: "* * * * *"
      command: 'echo "$SENGU_SCHEDULED_AT $SENGU_ATTEMPT" >> {log}'
    - name: long
      schedule: "* * * * *"
      lostAttemptPolicy: Ignore
      command: 'echo "$SENGU_ATTEMPT" >> {tmp_path}/long.log; exec sleep 30'
""",
    )
    home = tmp_path / "home"
    # The engine starts two seconds before 00:01: both jobs fire at 00:01.
    first = start(home, spec, "2026-01-01T00:00:58+00:00")
    try:
        wait_until(lambda: log.exists() and (tmp_path / "long.log").exists(), what="both jobs started")
        # quick has finished, as the engine recorded it (a run whose end it never recorded would be lost).
        wait_until(
            lambda: [r for r in runs(home) if r["job"] == "quick" and r["status"] == "succeeded"], what="quick done"
        )
        long_attempt = wait_until(
            lambda: rows(
                home,
                "SELECT * FROM batch_attempts a JOIN batch_runs r ON r.id = a.run_id"
                " WHERE r.job = 'long' AND a.pgid IS NOT NULL",
            ),
            what="pgid recorded",
        )[0]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    orphan = long_attempt["pgid"]
    assert alive(orphan), "the long job should outlive the killed engine (own process group)"

    # Restart a little later, still inside minute 00:01: nothing new is due, the lost run resumes.
    second = start(home, spec, "2026-01-01T00:01:10+00:00")
    try:
        wait_until(lambda: (tmp_path / "long.log").read_text().split() == ["1", "2"], what="long resumed")
        assert not alive(orphan), "the orphaned process group must be killed on restart"
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()

    # Restart after five minutes of downtime: 00:02..00:05 are due; only 00:06-60s..00:06 may run.
    third = start(home, spec, "2026-01-01T00:06:20+00:00")
    try:
        wait_until(lambda: len(log.read_text().splitlines()) == 2, what="catch-up run of quick")
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=15) == 0
    finally:
        if third.poll() is None:
            third.kill()

    quick = [r for r in runs(home) if r["job"] == "quick"]
    by_time = {r["scheduled_at"][11:16]: r["status"] for r in quick}
    assert by_time == {
        "00:01": "succeeded",
        "00:02": "missed",
        "00:03": "missed",
        "00:04": "missed",
        "00:05": "missed",
        "00:06": "succeeded",
    }
    assert log.read_text().splitlines() == [
        "2026-01-01T00:01:00.000+00:00 1",
        "2026-01-01T00:06:00.000+00:00 1",
    ]
    long_runs = [r for r in runs(home) if r["job"] == "long"]
    first_long = long_runs[0]
    assert first_long["scheduled_at"].startswith("2026-01-01T00:01:00") and first_long["lost_attempts"] >= 1
    statuses = [
        a["status"]
        for a in rows(home, "SELECT status FROM batch_attempts WHERE run_id = ? ORDER BY attempt", (first_long["id"],))
    ]
    assert statuses[:2] == ["lost", "lost"]
    # One row per scheduled time: the unique index held across three engines.
    keys = [(r["job"], r["scheduled_at"]) for r in runs(home) if r["trigger"] == "schedule"]
    assert len(keys) == len(set(keys))
    for pid_row in rows(home, "SELECT pgid FROM batch_attempts WHERE pgid IS NOT NULL"):
        assert not alive(pid_row["pgid"])


def test_sigterm_lets_running_jobs_finish(tmp_path: Path) -> None:
    done = tmp_path / "done"
    spec = spec_file(
        tmp_path,
        f"""  jobs:
    - name: short
      schedule: "* * * * *"
      command: 'sleep 2; echo finished > {done}'
""",
    )
    home = tmp_path / "home"
    engine = start(home, spec, "2026-01-01T00:00:59+00:00")
    try:
        wait_until(lambda: [r for r in runs(home) if r["status"] == "running"], what="the job running")
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=20) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
    assert done.read_text() == "finished\n"  # drained: the job ran to its end before the engine stopped
    (run,) = runs(home)
    assert run["status"] == "succeeded" and run["attempts"] == 1


def attempt_processes(token: str, attempt: int) -> list[int]:
    """Live processes (zombies excluded) of one attempt, found by a token in their environment.

    The scan covers every process on the machine, so it finds a descendant whatever group or session it is in.
    """
    found = []
    wanted = {f"CRASH_TOKEN={token}".encode(), f"SENGU_ATTEMPT={attempt}".encode()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if wanted <= environ and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_sigkill_after_the_leader_exited_leaves_no_process_and_keeps_the_last_line(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    spec = spec_file(
        tmp_path,
        f"""  jobs:
    - name: detach
      schedule: "* * * * *"
      env: {{CRASH_TOKEN: "{token}"}}
      command: 'echo first; (sleep 222 &); sleep 2; echo last-line'
""",
    )
    home = tmp_path / "home"
    first = start(home, spec, "2026-01-01T00:00:59+00:00")
    try:
        attempt = wait_until(
            lambda: rows(home, "SELECT * FROM batch_attempts WHERE pgid IS NOT NULL AND log_path IS NOT NULL"),
            what="the job started",
        )[0]
        wait_until(lambda: Path(attempt["log_path"]).read_bytes().startswith(b"first\n"), what="first line logged")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The leader finishes on its own (its last line written after the engine died), leaving the detached sleep.
    # Reaped, not only exited: then nothing on this machine has its pid, and only the group number remains.
    wait_until(lambda: not Path(f"/proc/{attempt['pid']}").exists(), what="the leader to exit and be reaped")
    assert attempt_processes(token, 1), "the detached sleep should outlive the killed engine"

    second = start(home, spec, "2026-01-01T00:01:10+00:00")
    try:
        wait_until(lambda: not attempt_processes(token, 1), what="every process of the lost attempt killed")
        # Its log keeper (which wrote the line the job printed after the engine died) is gone too.
        wait_until(lambda: not alive(attempt["log_pid"]), what="the log keeper to exit")
        wait_until(
            lambda: (
                rows(home, "SELECT status FROM batch_attempts WHERE id = ?", (attempt["id"],))[0]["status"] == "lost"
            ),
            what="the attempt recorded lost",
        )
        assert Path(attempt["log_path"]).read_text().splitlines() == ["first", "last-line"]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
