"""Job output on `sengu up`'s stdout, prefixed with job and run, so container logs carry it."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import ROOT, free_port, write
from tests.test_up_reload import due_a_moment_ago, store_rows, wait_for

SPEC = """  jobs:
    - name: talk
      schedule: "DUE"
      command: "echo one; echo two >&2; printf 'caf\\\\351 '; printf 'no newline'"
    - {name: quiet, schedule: "0 0 1 1 *", command: "true"}
"""


def run_engine(tmp_path: Path, *args: str, tty: bool = False) -> tuple[str, str, int]:
    """Start `sengu up` with `talk` due at once (as after a short stop); stop it once the run has ended."""
    home = tmp_path / "home"
    spec = write(tmp_path, SPEC.replace("DUE", due_a_moment_ago(home, "t", "talk")))
    master = None
    if tty:
        master, slave = pty.openpty()
        out: int | object = slave
    else:
        out = open(tmp_path / "stdout", "wb")  # noqa: SIM115
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sengu", "up", str(spec), "--port", str(free_port()), *args],
            cwd=ROOT,
            env=dict(os.environ, SENGU_HOME=str(home)),
            stdout=out,  # type: ignore[arg-type]
            stderr=err,
        )
        try:
            query = "SELECT id FROM batch_runs WHERE job = 'talk' AND status = 'succeeded'"
            (run,) = wait_for(lambda: store_rows(home, query) or proc.poll(), "the run to finish")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if master is not None:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        stdout = b"".join(chunks).decode()
    else:
        out.close()  # type: ignore[attr-defined]
        stdout = (tmp_path / "stdout").read_text()
    return stdout, (tmp_path / "stderr").read_text(), run["id"]


def test_job_output_reaches_stdout_when_it_is_not_a_terminal(tmp_path: Path) -> None:
    stdout, stderr, run = run_engine(tmp_path)
    assert stdout.splitlines() == [f"[talk #{run}] one", f"[talk #{run}] two", f"[talk #{run}] caf\\xe9 no newline"]
    assert "[talk" not in stderr


def test_no_job_output_keeps_stdout_empty(tmp_path: Path) -> None:
    stdout, _, _ = run_engine(tmp_path, "--no-job-output")
    assert stdout == ""


@pytest.mark.parametrize("args", [(), ("--job-output",)])
def test_on_a_terminal_job_output_is_off_unless_asked(tmp_path: Path, args: tuple[str, ...]) -> None:
    stdout, _, run = run_engine(tmp_path, *args, tty=True)
    if args:
        assert f"[talk #{run}] one" in stdout
    else:
        assert "[talk" not in stdout
