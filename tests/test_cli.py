"""The `sengu` command as a user runs it: a real process, real exit codes, real stdout and stderr."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "batch"


def sengu(*args: str, home: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["SENGU_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
    )


def write(tmp_path: Path, body: str, name: str = "jobs.yaml") -> Path:
    path = tmp_path / name
    path.write_text("apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: t}\nspec:\n" + body)
    return path


def test_help_teaches() -> None:
    result = sengu("batch", "--help")
    assert result.returncode == 0
    for command in ("validate", "import", "next", "list", "run", "history", "logs"):
        assert command in result.stdout
    up = sengu("up", "--help")
    assert "SIGTERM" in up.stdout and "Examples:\n  sengu up " in up.stdout


def test_validate_ok_and_errors(tmp_path: Path) -> None:
    ok = sengu("batch", "validate", str(EXAMPLES / "cronjobs.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert "12 jobs, 10 active, 2 suspended" in ok.stdout
    bad = write(
        tmp_path,
        "  jobs:\n    - {name: a, command: x, schedule: '* * *'}\n    - {name: B, command: x, schedule: '@daily'}\n",
    )
    result = sengu("batch", "validate", str(bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"error: {bad}:6:39: schedule: '* * *': ")
    assert lines[1].startswith(f"error: {bad}:7:14: name: 'B' is not a valid Kubernetes name")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_usage_error_exits_2() -> None:
    result = sengu("batch", "validate")
    assert result.returncode == 2
    assert "Missing argument" in result.stderr


def test_import_example_crontab(tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    result = sengu("batch", "import", str(EXAMPLES / "legacy.crontab"), "--name", "demo", "-o", str(out))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(": ")[1] for w in warnings] == [
        f"{EXAMPLES / 'legacy.crontab'}:4",
        f"{EXAMPLES / 'legacy.crontab'}:22",
        f"{EXAMPLES / 'legacy.crontab'}:31",
    ]
    imported = yaml.safe_load(out.read_text())
    curated = yaml.safe_load((EXAMPLES / "cronjobs.yaml").read_text())
    # The example spec is the imported one, edited: same jobs, same programs.
    assert [j["name"] for j in imported["spec"]["jobs"]] == [j["name"] for j in curated["spec"]["jobs"]]
    for got, want in zip(imported["spec"]["jobs"], curated["spec"]["jobs"], strict=True):
        assert got["command"].split()[0] == want["command"].split()[0]
    assert sengu("batch", "validate", str(out)).returncode == 0


def test_import_errors_write_nothing(tmp_path: Path) -> None:
    tab = tmp_path / "crontab"
    tab.write_text("* * * * * ok\n61 * * * * bad minute\n* * * * * ok2\nnot a cron line\n")
    out = tmp_path / "out.yaml"
    result = sengu("batch", "import", str(tab), "-o", str(out))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and errors[0].startswith(f"error: {tab}:2") and errors[1].startswith(f"error: {tab}:4")
    assert not out.exists()


def test_next_json(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "  jobs:\n"
        "    - {name: nightly, command: x, schedule: '30 1 * * *', timeZone: America/New_York}\n"
        "    - {name: hourly, command: x, schedules: ['0 * * * *', '30 1 * * *'], timeZone: America/New_York}\n",
    )
    # 2026-11-01 is the fall-back day in New York: 01:30 happens twice, and Kubernetes runs both.
    result = sengu("batch", "next", str(spec), "--count", "3", "--from", "2026-11-01T00:00:00-04:00", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "job": "nightly",
            "times": ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"],
        },
        {
            "job": "hourly",
            "times": ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00"],
        },
    ]
    bad = sengu("batch", "next", str(spec), "--from", "yesterday")
    assert bad.returncode == 2 and "--from: 'yesterday' is not an ISO 8601" in bad.stderr


def test_run_history_logs(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "  jobs:\n"
        "    - name: fails\n"
        "      schedule: '0 0 * * *'\n"
        "      priority: high\n"
        "      command: 'echo \"out $SENGU_ATTEMPT\"; echo err >&2; exit 3'\n"
        "  migration: {stage: low}\n",
    )
    home = tmp_path / "home"
    result = sengu("batch", "run", str(spec), "fails", home=home)
    assert result.returncode == 3
    assert result.stdout == "out 1\nerr\n"  # streamed, stdout and stderr of the job together
    assert "suspended: priority high is above migration stage low" in result.stderr
    history = sengu("batch", "history", "fails", "-o", "json", home=home)
    (row,) = json.loads(history.stdout)
    assert {k: row[k] for k in ("job", "attempt", "status", "exit_code", "trigger")} == {
        "job": "fails",
        "attempt": 1,
        "status": "failed",
        "exit_code": 3,
        "trigger": "manual",
    }
    assert set(row) >= {"job", "run_id", "scheduled_at", "started_at", "finished_at", "attempt", "status", "exit_code"}
    logs = sengu("batch", "logs", "fails", home=home)
    assert logs.returncode == 0 and logs.stdout == "out 1\nerr\n"
    missing = sengu("batch", "logs", "nope", home=home)
    assert missing.returncode == 2 and "no logs recorded for nope" in missing.stderr
    unknown = sengu("batch", "run", str(spec), "nope", home=home)
    assert unknown.returncode == 2 and "no job named 'nope'" in unknown.stderr
    table = sengu("batch", "list", str(spec), home=home)
    assert table.returncode == 0 and re.search(r"fails .*suspended .*failed", table.stdout), table.stdout


def test_run_honours_backoff_and_deadline(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "  jobs:\n"
        "    - {name: slow, schedule: '@daily', command: 'sleep 30', activeDeadlineSeconds: 1, backoffLimit: 2}\n",
    )
    started = time.monotonic()
    result = sengu("batch", "run", str(spec), "slow", home=tmp_path / "home")
    assert time.monotonic() - started < 15
    assert result.returncode == 128 + signal.SIGTERM
    assert "DeadlineExceeded" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_serves_health_and_metrics_and_drains_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, SENGU_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sengu", "up", str(EXAMPLES / "cronjobs.yaml"), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json()["components"]["batch"]["jobs"] == 12
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'sengu_batch_jobs{state="active"} 10.0' in metrics
        jobs = httpx.get(f"http://127.0.0.1:{port}/api/batch/jobs", timeout=5).json()
        assert {j["job"] for j in jobs} >= {"heartbeat", "nightly-backup"}
        # A second engine on the same state directory is refused: it would run every job twice.
        second = sengu("up", str(EXAMPLES / "cronjobs.yaml"), "--port", str(free_port()), home=tmp_path / "home")
        assert second.returncode == 2 and "already uses" in second.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = sengu("up", str(EXAMPLES / "cronjobs.yaml"), "--port", str(port), home=tmp_path / "home")
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_run_interrupted_is_cancelled_and_kills_the_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    spec = write(
        tmp_path,
        f"  jobs:\n    - {{name: long, schedule: '@daily', command: 'sleep 60 & echo $! > {pidfile}; wait'}}\n",
    )
    env = dict(os.environ, SENGU_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sengu", "batch", "run", str(spec), "long"],
        cwd=ROOT,
        env=env,
        # As CI may start us: SIGINT ignored by the parent shell. sengu must still stop on it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    child = int(pidfile.read_text())
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"
    (row,) = json.loads(sengu("batch", "history", "-o", "json", home=tmp_path / "home").stdout)
    assert row["status"] == "killed" and row["reason"] == "interrupted (Ctrl-C)"
    run = json.loads(sengu("batch", "list", str(spec), "-o", "json", home=tmp_path / "home").stdout)[0]
    assert run["lastStatus"] == "cancelled"
