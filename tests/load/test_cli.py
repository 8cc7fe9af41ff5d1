"""`sengu load …` as a user runs it: real processes, a real server on 127.0.0.1, exit codes and outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.load.servers import ServerProcess

FIXTURES = Path(__file__).parent / "fixtures"


def sengu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


def test_scenario_from_a_log_then_a_run_with_json_and_report(tmp_path: Path, server: ServerProcess) -> None:
    out = tmp_path / "scenario.yaml"
    made = sengu("load", "scenario", str(FIXTURES / "combined.log"), "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert "wrote" in made.stderr and "endpoints" in made.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["kind"] == "LoadScenario" and doc["spec"]["endpoints"]

    result_file, report = tmp_path / "run.json", tmp_path / "report.html"
    ran = sengu(
        "load", "run", "-t", server.url, "-s", str(out), "--rate", "200", "--duration", "2s", "-q",
        "--json", str(result_file), "--report", str(report),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(result_file.read_text())
    assert result["mode"] == "open" and result["offered_rate"] == 200
    assert 350 <= result["requests"] <= 450  # 2 s at 200/s, give or take the edges
    assert set(result["latency_ms"]) >= {"p50", "p90", "p99", "p999", "max"}
    endpoints = {e["name"] for e in result["endpoints"]}
    assert endpoints <= {e["name"] for e in doc["spec"]["endpoints"]}
    assert "achieved" in ran.stderr and "latency" in ran.stderr
    assert report.read_text().lstrip().lower().startswith("<!doctype html")


def test_closed_model_is_labelled_and_thresholds_fail_the_run(server: ServerProcess) -> None:
    closed = sengu("load", "run", "-t", server.url, "--rate", "max", "--duration", "1s", "-c", "4", "--json", "-")
    assert closed.returncode == 0, closed.stderr
    result = json.loads(closed.stdout)
    assert result["mode"] == "closed" and result["offered_rate"] is None and result["requests"] > 0
    assert "closed model" in closed.stderr

    # every request to /status/500 is an error: over a 1% threshold, so the run exits 1 and says why
    failing = sengu(
        "load", "run", "-t", server.url, "--path", "/status/500", "--rate", "100", "--duration", "1s", "-q",
        "--max-error-rate", "1%",
    )  # fmt: skip
    assert failing.returncode == 1
    assert "thresholds broken" in failing.stderr and "errors" in failing.stderr
    held = sengu("load", "run", "-t", server.url, "--rate", "100", "--duration", "1s", "-q", "--max-p99", "5000")
    assert held.returncode == 0, held.stderr


def test_step_finds_the_knee_of_a_slow_endpoint(tmp_path: Path, server: ServerProcess) -> None:
    # /slow/50 on 4 connections holds about 80 requests/s: the SLO breaks on achieved < offered beyond it
    stepped = sengu(
        "load", "step", "-t", server.url, "--path", "/slow/50", "--start", "20", "--factor", "3",
        "--max-rate", "540", "--step-duration", "1s", "--warmup", "0s", "-c", "4", "--timeout", "2s",
        "--json", str(tmp_path / "step.json"),
    )  # fmt: skip
    assert stepped.returncode == 0, stepped.stderr
    doc = json.loads((tmp_path / "step.json").read_text())
    assert doc["knee"] in (20, 60) and doc["broke_at"] in (60, 180)
    assert doc["broke_by"] and "ok" in stepped.stdout and "broke" in stepped.stdout


def test_capacity_and_render_job(tmp_path: Path) -> None:
    plan = sengu(
        "load", "capacity", "--knee", "600", "--pods", "1", "--pod-cpu", "1", "--pod-memory", "512Mi",
        "--peak", "5000", "--headroom", "30%", "--baseline-knee", "2400", "--baseline-instances", "4",
        "--baseline-type", "c5.xlarge", "--baseline-vcpu", "4", "--baseline-memory", "8Gi", "-o", "json",
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["pods"] == 11  # ceil(5000 × 1.3 / 600)
    partial = sengu("load", "capacity", "--knee", "1", "--pods", "1", "--pod-cpu", "1", "--pod-memory", "1Gi",
                    "--peak", "2", "--baseline-knee", "5")  # fmt: skip
    assert partial.returncode == 2 and "a baseline needs all of" in partial.stderr

    scenario = tmp_path / "s.yaml"
    assert sengu("load", "scenario", str(FIXTURES / "combined.log"), "-o", str(scenario)).returncode == 0
    job = sengu(
        "load", "render-job", "--name", "spike", "--image", "ghcr.io/me/sengu:1", "-t", "http://web.shop",
        "--rate", "2000", "--pods", "4", "-s", str(scenario), "--duration", "1m",
    )  # fmt: skip
    assert job.returncode == 0, job.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(job.stdout)]
    assert kinds == ["ConfigMap", "Job"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "fast"], "--rate 'fast' is not a rate"),
        ([], "give --rate"),
        (["--rate", "100", "--duration", "soon"], "--duration 'soon' is not a duration"),
        (["--rate", "max", "--ramp", "5s"], "--ramp needs an offered --rate"),
        (["--rate", "100", "--ramp", "5s"], "longer than the run"),
        (["--rate", "100", "--steps", "10,20"], "leave out --rate"),
        (["--steps", "10,x"], "--steps 'x' is not a rate"),
        (["--rate", "3000000"], "add --workers"),
        (["--rate", "100", "--json", "/nonexistent/dir/r.json"], "--json /nonexistent/dir/r.json: the folder"),
        (["--rate", "100", "--report", "/tmp"], "is a folder"),
        (["--rate", "100", "--header", "no-colon"], "write it as 'Name: value'"),
        (["--rate", "100", "--max-error-rate", "150%"], "--max-error-rate '150%': give a share between 0% and 100%"),
        (["--rate", "100", "--path", "x"], "must start with /"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], message: str) -> None:
    bad = sengu("load", "run", "-t", "http://127.0.0.1:9", "--duration", "1s", *args)
    assert bad.returncode == 2
    assert message in bad.stderr and "Traceback" not in bad.stderr


def test_a_missing_scenario_and_a_bad_target_name_the_place(tmp_path: Path) -> None:
    missing = sengu("load", "run", "-t", "http://127.0.0.1:9", "-s", str(tmp_path / "nope.yaml"), "--rate", "1")
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    target = sengu("load", "run", "-t", "ftp://127.0.0.1", "--rate", "1")
    assert target.returncode == 2 and "--target" in target.stderr


def test_parts_of_several_generators_merge_exactly(tmp_path: Path, server: ServerProcess) -> None:
    logs = []
    for i in range(2):
        log = tmp_path / f"pod-{i}.log"
        ran = sengu(
            "load", "run", "-t", server.url, "--rate", "100", "--duration", "1s", "-q", "--shard", f"{i}/2",
            "--parts", "-", "--json", str(tmp_path / f"pod-{i}.json"),
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        log.write_text(f"some warning before\n{ran.stdout}a line after\n")  # what a pod's log looks like
        logs.append(log)
    singles = [json.loads((tmp_path / f"pod-{i}.json").read_text()) for i in range(2)]
    merged = sengu("load", "merge", *map(str, logs), "--json", str(tmp_path / "all.json"), "--max-p99", "5000")
    assert merged.returncode == 0, merged.stderr
    result = json.loads((tmp_path / "all.json").read_text())
    assert result["requests"] == sum(s["requests"] for s in singles)
    assert result["workers"] == 2 and result["latency_ms"]["count"] == sum(s["latency_ms"]["count"] for s in singles)
    assert result["latency_ms"]["max"] == max(s["latency_ms"]["max"] for s in singles)
    assert min(s["latency_ms"]["p50"] for s in singles) <= result["latency_ms"]["p50"]
    assert result["latency_ms"]["p50"] <= max(s["latency_ms"]["p50"] for s in singles)

    garbage = tmp_path / "garbage.log"
    garbage.write_text("Traceback (most recent call last):\nKilled\n")
    bad = sengu("load", "merge", str(logs[0]), str(garbage))
    assert bad.returncode == 2 and "garbage.log" in bad.stderr and "--parts" in bad.stderr


def test_influx_export_from_the_command_line(server: ServerProcess) -> None:
    from tests.load.test_influx import FakeInflux

    with FakeInflux() as influx:
        ran = subprocess.run(
            [
                sys.executable, "-m", "sengu", "load", "run", "-t", server.url, "--rate", "50", "--duration", "1s",
                "-q", "--influx", f"http://127.0.0.1:{influx.port}", "--influx-bucket", "load",
                "--influx-org", "team", "--influx-token-env", "INFLUX_TOKEN",
            ],
            capture_output=True, text=True, env={**os.environ, "INFLUX_TOKEN": "s3cret"}, timeout=60, check=False,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        checked, got = influx.received  # an empty write before the run checks the target; then the points
    assert checked.body == "" and checked.headers["authorization"] == "Token s3cret"
    assert got.headers["authorization"] == "Token s3cret" and got.query["bucket"] == ["load"]
    assert "sengu_load" in got.body and "s3cret" not in ran.stderr
    unset = sengu("load", "run", "-t", server.url, "--rate", "5", "--duration", "1s", "-q",
                  "--influx", "http://127.0.0.1:9", "--influx-token-env", "NOT_SET_ANYWHERE")  # fmt: skip
    assert unset.returncode == 2 and "NOT_SET_ANYWHERE is not set" in unset.stderr
    nowhere = sengu(
        "load", "run", "-t", server.url, "--rate", "5", "--duration", "30s", "--influx", "http://127.0.0.1:9"
    )
    assert nowhere.returncode == 2 and "--influx-bucket" in nowhere.stderr  # said at once, not after 30 s


def test_a_server_that_is_down_shows_nothing_achieved(tmp_path: Path) -> None:
    from tests.load.servers import free_port

    down = f"http://127.0.0.1:{free_port()}"
    ran = sengu("load", "run", "-t", down, "--rate", "50", "--duration", "1s", "-q", "--timeout", "1s", "--json", "-")
    assert ran.returncode == 1, ran.stderr  # nothing answered is a failure (tests/load/test_no_answers.py)
    result = json.loads(ran.stdout)
    assert result["achieved_rate"] == 0 and result["error_classes"].get("connect", 0) > 0
    assert sum(s["answered"] for s in result["timeline"]) == 0  # what the report and live display plot
    assert sum(s["completed"] for s in result["timeline"]) == result["requests"]


def test_the_live_lines_of_several_workers_add_up(server: ServerProcess) -> None:
    ran = sengu("load", "run", "-t", server.url, "--rate", "200", "--duration", "2s", "--workers", "2", "-c", "4")
    assert ran.returncode == 0, ran.stderr
    seconds = [line for line in ran.stderr.splitlines() if line.strip().startswith(("0s", "1s"))]
    assert len(seconds) == 2
    assert all("offered 200/s" in line and "send lag p99" in line for line in seconds)
    assert any("achieved 200/s" in line for line in seconds)  # both workers' answers, not one's
