"""`sengu up` as a user runs it: SIGHUP and edited files reload the spec; nothing running is dropped."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from sengu.batch.runs import RunStore
from sengu.core.store import Store
from tests.test_cli import ROOT, free_port, write


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}; last {value!r}"
        time.sleep(0.1)


@contextmanager
def engine(spec: Path, home: Path, tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    out, err = open(tmp_path / "stdout", "wb"), open(tmp_path / "stderr", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "sengu", "up", str(spec), "--port", str(port), *args],
        cwd=ROOT,
        env=dict(os.environ, SENGU_HOME=str(home)),
        stdout=out,
        stderr=err,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, (tmp_path / "stderr").read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy, "sengu up to serve")
        yield proc, url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "stderr").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        err.close()


def jobs(url: str) -> dict[str, dict[str, Any]]:
    return {j["job"]: j for j in httpx.get(f"{url}/api/batch/jobs", timeout=5).json()}


def due_a_moment_ago(home: Path, manager: str, job: str) -> str:
    """A daily schedule whose time was the last whole minute, with the job's cursor before it: `sengu up`
    catches that time up at once (as after a short stop) and the job is not due again for a day."""
    t = datetime.now(UTC).replace(second=0, microsecond=0)
    store = Store(home)
    RunStore(store).set_cursor(manager, job, t - timedelta(seconds=30))
    store.close()
    return f"{t.minute} {t.hour} * * *"


def store_rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "sengu.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


BEFORE = """  jobs:
    - {name: steady, schedule: "0 0 1 1 *", command: "true"}
    - {name: moved, schedule: "0 0 1 1 *", command: "true"}
    - {name: leaving, schedule: "LEAVING", command: "sleep 3; echo finished"}
"""
AFTER = """  jobs:
    - {name: steady, schedule: "0 0 1 1 *", command: "true"}
    - {name: moved, schedule: "0 0 1 2 *", command: "true"}
    - {name: joining, schedule: "0 0 1 3 *", command: "true"}
"""


def test_sighup_and_edited_files_reload_without_dropping_work(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = write(tmp_path, BEFORE.replace("LEAVING", due_a_moment_ago(home, "t", "leaving")))
    with engine(spec, home, tmp_path) as (proc, url):
        wait_for(lambda: jobs(url)["leaving"]["running"], "leaving to run")
        before = jobs(url)
        write(tmp_path, AFTER)
        proc.send_signal(signal.SIGHUP)
        after = wait_for(lambda: j if "joining" in (j := jobs(url)) else None, "the reload")
        assert set(after) == {"steady", "moved", "joining"}
        assert after["steady"]["next"] == before["steady"]["next"]
        assert after["moved"]["next"] != before["moved"]["next"] and "-02-01T00:00:00" in after["moved"]["next"]
        assert "-03-01T00:00:00" in after["joining"]["next"]
        # The removed job's run was not dropped: it finished, and wrote its last line.
        ran = "SELECT * FROM batch_runs WHERE job = 'leaving' AND attempts > 0"
        leaving = wait_for(lambda: [r for r in store_rows(home, ran) if r["finished_at"]], "leaving to finish")
        assert [r["status"] for r in leaving] == ["succeeded"]
        (log,) = store_rows(
            home, "SELECT log_path FROM batch_attempts a JOIN batch_runs r ON r.id = a.run_id WHERE r.job = 'leaving'"
        )
        assert Path(log["log_path"]).read_text() == "finished\n"

        # A broken edit, no signal: noticed, logged with its place, and the running spec kept.
        write(tmp_path, AFTER.replace('"0 0 1 3 *"', '"0 0 31 2 *"'))
        errors = wait_for(
            lambda: [line for line in (tmp_path / "stderr").read_text().splitlines() if "jobs.yaml:" in line],
            "the reload error",
        )
        assert "never" in errors[0] or "31" in errors[0], errors
        assert "the spec running before is kept" in (tmp_path / "stderr").read_text()
        assert jobs(url) == after
        assert proc.poll() is None

        # Fixed, no signal: reloaded.
        write(tmp_path, AFTER + '    - {name: late, schedule: "0 0 1 4 *", command: "true"}\n')
        wait_for(lambda: "late" in jobs(url), "the fixed file to load")
    stderr = (tmp_path / "stderr").read_text()
    assert "Traceback" not in stderr
    assert "reloading the spec (SIGHUP)" in stderr and "jobs.yaml changed)" in stderr


def test_a_changed_runner_pool_is_restarted_and_serves_its_new_secret(tmp_path: Path) -> None:
    """RunnerPool has no in-place reload: its component is rebuilt, then the old one stopped and the new one
    started; the webhook route then checks the new secret. The batch component beside it is untouched."""
    from tests.fakes.github import FakeGitHub

    jobs_file = write(tmp_path, BEFORE.replace("LEAVING", "0 0 1 1 *"))
    with FakeGitHub() as fake:
        pool = fake.write_pool(tmp_path, "/bin/true")
        first_secret = str(fake.webhook_secret)

        def post(secret: str) -> int:
            headers, body = fake.ping_delivery(secret=secret)
            return httpx.post(f"{url}/webhooks/github", headers=headers, content=body, timeout=5).status_code

        with engine(pool, tmp_path / "home", tmp_path, str(jobs_file)) as (proc, url):
            before = jobs(url)
            assert post(first_secret) < 300
            (tmp_path / "rotated-secret").write_text("rotated")
            pool.write_text(
                pool.read_text().replace(str(tmp_path / "webhook-secret"), str(tmp_path / "rotated-secret"))
            )
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "RunnerPool: restarted" in (tmp_path / "stderr").read_text(), "the pool to restart")
            assert post(first_secret) == 401
            assert post("rotated") < 300
            health = httpx.get(f"{url}/healthz", timeout=5).json()
            assert health["ok"] and set(health["components"]) == {"runners", "batch"}, health
            assert jobs(url) == before
            assert "sengu_runners_deliveries_total" in httpx.get(f"{url}/metrics", timeout=5).text
    stderr = (tmp_path / "stderr").read_text()
    assert "CronjobManager" not in stderr.split("reloading the spec (SIGHUP)")[1], stderr
