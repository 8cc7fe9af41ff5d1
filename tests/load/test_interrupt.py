"""Ctrl-C in `sengu load run` / `step`: a real process, sent SIGINT mid-run, writes what it measured so far,
marked interrupted, says so and exits 130."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load.running import Running
from tests.load.servers import ServerProcess

SECOND = re.compile(r"^\s+(\d+)s\s+offered")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


def second(n: int) -> object:
    """Matches the live display's plain line of second n (a pipe gets one line per second)."""
    return lambda line: (m := SECOND.match(line)) is not None and int(m.group(1)) >= n


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_in_run_writes_the_partial_json_and_report(tmp_path: Path, server: ServerProcess, workers: str) -> None:
    out, report = tmp_path / "run.json", tmp_path / "run.html"
    with Running(
        "load", "run", "-t", server.url, "--rate", "100", "--duration", "10m", "--workers", workers, "-c", "8",
        "--json", str(out), "--report", str(report),
    ) as run:  # fmt: skip
        run.wait_for(second(1))  # two seconds measured
        run.interrupt()
        code = run.finish()
    assert code == 130, run.stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["planned_s"] == 600
    assert 2 <= doc["duration_s"] < 600
    assert doc["requests"] >= 150 and doc["errors"] == 0  # what was measured, kept; the stop is no error
    assert doc["latency_ms"]["count"] > 0 and doc["offered_rate"] == pytest.approx(100, rel=0.1)
    assert len(doc["timeline"]) >= 2
    assert any(w.startswith("interrupted (Ctrl-C)") for w in doc["warnings"])
    html = report.read_text()
    assert "Interrupted (Ctrl-C)." in html and "of the 600 s" in html
    assert any(line.startswith("INTERRUPTED (Ctrl-C)") for line in run.lines)  # the text summary's banner
    said = run.lines[-1]
    assert said.startswith("interrupted after") and str(out) in said and str(report) in said and "130" in said


def test_ctrl_c_in_step_keeps_the_steps_measured(tmp_path: Path, server: ServerProcess) -> None:
    out, report = tmp_path / "step.json", tmp_path / "step.html"
    with Running(
        "load", "step", "-t", server.url, "--start", "50", "--max-rate", "800", "--factor", "2",
        "--step-duration", "2s", "--warmup", "0s", "--json", str(out), "--report", str(report),
    ) as run:  # fmt: skip
        run.wait_for(lambda line: line.startswith("step 1: 50/s → ok"))
        run.wait_for(second(0))  # step 2 under way
        run.interrupt()
        code = run.finish()
    assert code == 130, run.stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["knee"] == 50
    first, cut = doc["steps"]
    assert first["ok"] is True and first["result"]["interrupted"] is False
    assert cut["rate"] == 100 and cut["ok"] is False and cut["result"]["interrupted"] is True
    assert cut["reasons"] == ["interrupted before the step ended: no verdict"]
    assert "The search stopped after 2 step(s)" in report.read_text()
    assert "INTERRUPTED after 2 step(s)" in run.stdout
    assert run.lines[-1].startswith("interrupted after 2 step(s)")


def test_ctrl_c_in_step_with_json_to_stdout_names_stdout(server: ServerProcess) -> None:
    with Running(
        "load", "step", "-t", server.url, "--start", "50", "--max-rate", "800", "--factor", "2",
        "--step-duration", "2s", "--warmup", "0s", "--json", "-",
    ) as run:  # fmt: skip
        run.wait_for(lambda line: line.startswith("step 1: 50/s → ok"))
        run.interrupt()
        code = run.finish()
    assert code == 130, run.stderr
    doc = json.loads(run.stdout)  # the partial result alone on stdout, the verdict on stderr
    assert doc["interrupted"] is True and doc["knee"] == 50
    said = run.lines[-1]
    assert said.startswith("interrupted after") and "is in stdout" in said, said
