"""A run nobody answered (a closed port) is a failure with no latency, never a pass at 0 ms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.load.servers import free_port


def sengu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def test_a_closed_port_exits_1_with_no_latency(tmp_path: Path) -> None:
    out, report = tmp_path / "run.json", tmp_path / "run.html"
    target = f"http://127.0.0.1:{free_port()}"
    ran = sengu(
        "load", "run", "-t", target, "--rate", "50", "--duration", "1s", "-q",
        "--json", str(out), "--report", str(report),
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "no answers" in ran.stderr
    assert "0 ms" not in ran.stderr  # no latency was measured, so none is shown
    latency_line = next(line for line in ran.stderr.splitlines() if line.strip().startswith("latency"))
    assert "-" in latency_line
    doc = json.loads(out.read_text())  # the outputs are still written: they say what happened
    assert doc["requests"] > 0 and doc["error_classes"] == {"connect": doc["requests"]}
    assert doc["latency_ms"] is None and doc["service_ms"] is None and doc["send_lag_ms"] is None
    assert all(e["latency_ms"] is None for e in doc["endpoints"])
    assert "0 ms" not in report.read_text()


def test_a_latency_threshold_cannot_pass_with_no_answers() -> None:
    target = f"http://127.0.0.1:{free_port()}"
    ran = sengu("load", "run", "-t", target, "--rate", "20", "--duration", "1s", "-q", "--max-p99", "100")
    assert ran.returncode == 1
    assert "thresholds broken: no answers" in ran.stderr


def test_a_step_with_no_answers_breaks_the_slo(tmp_path: Path) -> None:
    target = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "step.json"
    ran = sengu(
        "load", "step", "-t", target, "--start", "20", "--max-rate", "40", "--step", "20",
        "--step-duration", "1s", "--warmup", "0s", "--slo-errors", "100%", "--slo-achieved", "0%", "--json", str(out),
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    doc = json.loads(out.read_text())
    first = doc["steps"][0]
    assert first["ok"] is False and any("no answers" in r for r in first["reasons"])
    assert first["result"]["latency_ms"] is None


def test_seconds_with_no_answers_have_no_latency_anywhere(tmp_path: Path) -> None:
    """The timeline, the InfluxDB points and the report's latency chart show no latency, never 0 ms."""
    from sengu.load.influx import lines
    from sengu.load.result import Result

    out, report = tmp_path / "dead.json", tmp_path / "dead.html"
    target = f"http://127.0.0.1:{free_port()}"
    ran = sengu(
        "load", "run", "-t", target, "--rate", "20", "--duration", "2s", "--timeout", "1s", "-q",
        "--json", str(out), "--report", str(report),
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    doc = json.loads(out.read_text())
    assert len(doc["timeline"]) == 2
    for second in doc["timeline"]:
        assert second["answered"] == 0
        assert second["p50_ms"] is None and second["p99_ms"] is None and second["max_ms"] is None
    points = [p for p in lines(Result.from_json(doc)) if ",point=second" in p.split(" ")[0]]
    assert len(points) == 2
    assert all("_ms=" not in p for p in points) and all("errors=" in p for p in points)
    html = report.read_text()
    chart = html[html.index("Latency per second") :]
    chart = chart[: chart.index("</figure>")]
    assert "<polyline" not in chart and "<circle" not in chart  # gaps: no line along 0
