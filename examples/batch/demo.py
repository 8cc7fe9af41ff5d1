"""`make demo`: the batch migration workflow on this machine, in about two minutes.

1. import the legacy crontab (see the warnings about what cannot move as is): every job comes in suspended,
2. classify: the edited spec gives each job a priority (and retries, deadlines, a recovery command),
3. test-run one job (it fails once and is retried),
4. run the embedded engine: jobs fire each minute, one retries, one runs over its deadline and is killed,
   one fails for good and its recovery command runs,
5. show the history and where to look next.

Set DEMO_SECONDS to change how long the engine runs (default: until 45 s past the next minute).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STATE = ROOT / "demo-state"
SPEC = HERE / "cronjobs.yaml"
ENV = dict(os.environ, SENGU_HOME=str(STATE / "home"))


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def sengu(*args: str, check: bool = False) -> int:
    print(f"$ sengu {' '.join(args)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "sengu", *args], env=ENV, cwd=ROOT)
    if check and code != 0:
        sys.exit(code)
    return code


def free_port(preferred: int = 8080) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise SystemExit("no free port")


def summary() -> str:
    db = STATE / "home" / "sengu.db"
    if not db.exists():
        return "none yet"
    with sqlite3.connect(db) as conn:
        counts = conn.execute("SELECT status, COUNT(*) FROM batch_runs GROUP BY status ORDER BY status").fetchall()
    return ", ".join(f"{n} {status}" for status, n in counts) or "none yet"


def main() -> None:
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir()

    step("1. Import the legacy crontab (warnings say what cannot move as is)")
    imported = STATE / "imported.yaml"
    sengu("batch", "import", str(HERE / "legacy.crontab"), "--name", "demo", "-o", str(imported))
    print("   Nothing imported runs yet: no job has a priority, so every one is suspended.")
    sengu("batch", "validate", str(imported), check=True)

    step("2. Classify: the edited spec gives each job a priority, retries and deadlines")
    print(
        f"   {SPEC.relative_to(ROOT)} is {imported.name} edited: priority low/middle/high per job, "
        "migration.stage middle,\n   backoffLimit, activeDeadlineSeconds, a recovery command."
    )
    sengu("batch", "validate", str(SPEC), check=True)

    step("3. Test-run one job before it moves")
    sengu("batch", "next", str(SPEC), "--count", "2", "--job", "aggregate-access-logs", "--job", "warm-up-cdn")
    print("   (sync-partner-feed fails on its first attempt; backoffLimit retries it after 10 s)")
    sengu("batch", "run", str(SPEC), "sync-partner-feed")

    step("4. Run the embedded engine: the low and middle jobs")
    port = free_port()
    now = time.time()
    default = 60 - now % 60 + 45  # the next minute's jobs, their retries and the deadline kill
    seconds = float(os.environ.get("DEMO_SECONDS", default))
    print(
        f"$ sengu up {SPEC.relative_to(ROOT)} --port {port}    # for {seconds:.0f} s; the next minute starts in "
        f"{60 - now % 60:.0f} s",
        flush=True,
    )
    engine = subprocess.Popen([sys.executable, "-m", "sengu", "up", str(SPEC), "--port", str(port)], env=ENV, cwd=ROOT)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            time.sleep(min(10.0, max(0.0, end - time.monotonic())))
            if engine.poll() is not None:
                sys.exit(f"the engine stopped with exit code {engine.returncode}")
            print(f"   {datetime.now():%H:%M:%S} runs so far: {summary()}", flush=True)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=60)

    step("5. What happened")
    sengu("batch", "history", "--limit", "25")
    sengu("batch", "list", str(SPEC))
    print(
        f"""
Where to look next (state is in {STATE / "home"}):
  SENGU_HOME={STATE / "home"} .venv/bin/sengu batch history import-orders
  SENGU_HOME={STATE / "home"} .venv/bin/sengu batch logs rebuild-search-index
  SENGU_HOME={STATE / "home"} .venv/bin/sengu up {SPEC.relative_to(ROOT)}      # /metrics, /healthz on :8080
  docs/batch.md — the spec, schedules, the engine and the migration workflow"""
    )


if __name__ == "__main__":
    main()
