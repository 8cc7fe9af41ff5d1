"""`sengu load step` as a user watches it: the estimate first, each step's seconds as they pass, each step's
verdict as soon as the step ends (read from a pipe, so the plain one-line-per-second display)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load.running import Running
from tests.load.servers import ServerProcess

SECOND = re.compile(r"^\s+(\d+)s\s+offered (\S+)")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


def test_step_shows_the_estimate_then_each_step_live_with_its_verdict(tmp_path: Path, server: ServerProcess) -> None:
    with Running(
        "load", "step", "-t", server.url, "--start", "40", "--max-rate", "80", "--step", "40",
        "--step-duration", "2s", "--warmup", "1s", "--json", str(tmp_path / "step.json"),
    ) as run:  # fmt: skip
        first_verdict = run.wait_for(lambda line: line.startswith("step 1: "))
        still_running = run.alive[-1]
        code = run.finish()
    assert code == 0, run.stderr
    lines = run.lines
    # The estimate comes first: 2 steps of 1 s warm-up + 2 s measured.
    assert lines[0].startswith("sengu load step: 2 step(s) from 40/s to 80/s")
    assert "3 s each (1 s warm-up + 2 s measured)" in lines[0] and "about 6 s at most" in lines[0]
    # Then, per step: its heading, its seconds as they are measured, its verdict — in that order.
    shown = [
        ("heading", n) if (n := _heading(line)) else ("second", n) if (n := _second(line)) else ("verdict", line)
        for line in lines[1:]
        if _heading(line) or _second(line) or line.startswith("step ")
    ]
    assert shown == [
        ("heading", 1),
        ("second", "40/s"),
        ("second", "40/s"),
        ("verdict", first_verdict),
        ("heading", 2),
        ("second", "80/s"),
        ("second", "80/s"),
        ("verdict", lines[-1] if lines[-1].startswith("step 2: ") else "missing"),
    ]
    assert first_verdict.startswith("step 1: 40/s → ok (achieved 40/s, p99 ")
    assert still_running  # printed when step 1 ended, not with the summary at the end
    assert "Knee" in run.stdout or "SLO held" in run.stdout  # the table still ends the output


def _heading(line: str) -> int | None:
    m = re.match(r"sengu load: step (\d+): offering", line)
    return int(m.group(1)) if m else None


def _second(line: str) -> str | None:
    m = SECOND.match(line)
    return m.group(2) if m else None


def test_step_with_json_to_stdout_prints_only_the_json_there(server: ServerProcess) -> None:
    with Running(
        "load", "step", "-t", server.url, "--start", "50", "--factor", "2", "--max-rate", "100",
        "--step-duration", "1s", "--warmup", "0s", "--json", "-", "-q",
    ) as run:  # fmt: skip
        code = run.finish()
    assert code == 0, run.stderr
    doc = json.loads(run.stdout)  # nothing but the document on stdout
    assert doc["knee"] in (50, 100) and doc["steps"][0]["rate"] == 50
    assert any("The SLO held up to" in line for line in run.lines)  # the verdict went to stderr instead
