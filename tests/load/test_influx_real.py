"""`sengu load run --influx` against a real InfluxDB 1.x (Debian's influxdb, started here on a free loopback
port with its own config and data): written, then read back through InfluxDB's own HTTP query API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.load.influxd import INFLUXD, InfluxD
from tests.load.running import Running
from tests.load.servers import ServerProcess, free_port
from tests.load.test_cli import sengu

pytestmark = pytest.mark.skipif(
    INFLUXD is None, reason="influxd is not installed: `bash tools/install-debs.sh` installs Debian's influxdb"
)


@pytest.fixture(scope="module")
def influx() -> Iterator[InfluxD]:
    with InfluxD() as db:
        yield db


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


def _db(influx: InfluxD, name: str) -> str:
    influx.query(f'CREATE DATABASE "{name}"')
    return name


def test_a_run_reads_back_from_influxdb_as_it_was_measured(
    tmp_path: Path, influx: InfluxD, server: ServerProcess
) -> None:
    db = _db(influx, "run")
    out = tmp_path / "run.json"
    ran = sengu(
        "load", "run", "-t", server.url, "--rate", "50", "--duration", "2s", "-q", "--json", str(out),
        "--influx", influx.url, "--influx-db", db,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(out.read_text())
    assert f"wrote {len(result['timeline']) + len(result['endpoints']) + 1} points to InfluxDB" in ran.stderr

    (summary,) = influx.rows("SELECT * FROM sengu_load WHERE point = 'summary'", db)
    assert summary["mode"] == "open" and summary["target"] == server.url
    assert summary["requests"] == result["requests"] and summary["errors"] == 0
    assert summary["latency_count"] == result["latency_ms"]["count"]
    assert summary["latency_p99_ms"] == pytest.approx(result["latency_ms"]["p99"])
    assert summary["offered_rate"] == 50 and summary["status_200"] == result["statuses"]["200"]
    assert summary.get("interrupted") is None  # a full run carries no such field
    started = datetime.fromisoformat(result["started_at"])
    assert datetime.fromisoformat(summary["time"].replace("Z", "+00:00")) == started

    seconds = influx.rows("SELECT offered, answered, p99_ms FROM sengu_load WHERE point = 'second'", db)
    assert [s["offered"] for s in seconds] == [s["offered"] for s in result["timeline"]]
    assert [s["answered"] for s in seconds] == [s["answered"] for s in result["timeline"]]
    endpoints = influx.rows("SELECT requests FROM sengu_load WHERE point = 'endpoint' GROUP BY endpoint", db)
    assert {e["endpoint"]: e["requests"] for e in endpoints} == {e["name"]: e["requests"] for e in result["endpoints"]}


def test_no_answers_leave_the_latency_out(influx: InfluxD) -> None:
    db = _db(influx, "down")
    ran = sengu(
        "load", "run", "-t", f"http://127.0.0.1:{free_port()}", "--rate", "20", "--duration", "1s", "-q",
        "--influx", influx.url, "--influx-db", db,
    )  # fmt: skip
    assert ran.returncode == 1 and "wrote" in ran.stderr
    (summary,) = influx.rows("SELECT * FROM sengu_load WHERE point = 'summary'", db)
    assert summary["latency_count"] == 0 and summary.get("latency_p99_ms") is None  # null, not 0 ms
    assert summary["error_connect"] == summary["requests"] > 0


def test_an_interrupted_run_is_written_and_marked(influx: InfluxD, server: ServerProcess) -> None:
    db = _db(influx, "stopped")
    with Running(
        "load", "run", "-t", server.url, "--rate", "50", "--duration", "10m", "--influx", influx.url, "--influx-db", db
    ) as run:
        run.wait_for(lambda line: line.strip().startswith("1s "))
        run.interrupt()
        code = run.finish()
    assert code == 130, run.stderr
    assert "the partial result is in InfluxDB" in run.lines[-1]
    (summary,) = influx.rows("SELECT * FROM sengu_load WHERE point = 'summary'", db)
    assert summary["interrupted"] is True and 2 <= summary["duration_s"] < 600 and summary["requests"] >= 50


def test_a_missing_database_is_said_before_the_run(influx: InfluxD, server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    ran = sengu(
        "load", "run", "-t", server.url, "--rate", "20", "--duration", "30s", "-q", "--json", str(out),
        "--influx", influx.url, "--influx-db", "no_such_db",
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    (said,) = ran.stderr.strip().splitlines()  # one line, at once: no run was measured
    assert f"--influx {influx.url}/write: " in said
    assert 'database not found: "no_such_db"' in said and "--influx-db" in said
    assert not out.exists()


def test_a_closed_influx_port_is_said_before_the_run_in_words(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    port = free_port()
    ran = sengu(
        "load", "run", "-t", server.url, "--rate", "20", "--duration", "30s", "-q", "--json", str(out),
        "--influx", f"http://127.0.0.1:{port}", "--influx-db", "load",
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    (said,) = ran.stderr.strip().splitlines()
    assert f"--influx http://127.0.0.1:{port}/write: cannot connect" in said
    assert "ConnectError" not in said and "Traceback" not in ran.stderr
    assert not out.exists()
