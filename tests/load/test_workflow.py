"""The workflow of examples/load/README.md, end to end against the example app, and the README's commands
checked against the real options."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load.test_cli import sengu
from tests.load.test_example_app import EXAMPLE, start, stop

README = EXAMPLE / "README.md"


def readme_commands() -> list[list[str]]:
    """Every `sengu load …` command in the README's shell blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.split(" | ")[0].strip()
        if line.startswith("sengu load "):
            commands.append(shlex.split(line.replace('"$FORMAT"', "FORMAT").replace('"${p#pod/}.log"', "x")))
    return commands


def test_the_readme_uses_only_options_that_exist() -> None:
    import typer.main

    from sengu.load.cli import app

    group = typer.main.get_command(app)
    commands = readme_commands()
    assert {c[2] for c in commands} >= {"scenario", "run", "step", "capacity", "render-job", "collect"}
    for words in commands:
        command = group.commands[words[2]]  # type: ignore[attr-defined]
        known = {opt for p in command.params for opt in p.opts}
        used = {w for w in words[3:] if w.startswith("-") and w != "-"}
        assert used <= known, f"`sengu load {words[2]}` in the README: no such option {used - known}"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("app")
    process, url = start(tmp, "--db", str(tmp / "site.db"))
    yield url
    stop(process)


def test_scenario_from_the_sample_replays_against_the_app(tmp_path: Path, app_url: str) -> None:
    fmt = re.search(r"FORMAT='(nginx:[^']+)'", README.read_text())
    assert fmt is not None
    scenario = tmp_path / "scenario.yaml"
    made = sengu("load", "scenario", str(EXAMPLE / "access.log.gz"), "--format", fmt.group(1), "-o", str(scenario))
    assert made.returncode == 0, made.stderr
    assert "POST 31" in made.stderr and "unparseable" in made.stderr  # what was left out is said

    out = tmp_path / "run.json"
    ran = sengu(
        "load", "run", "-t", app_url, "-s", str(scenario), "--rate", "50", "--duration", "2s", "-q",
        "--json", str(out), "--report", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(out.read_text())
    assert result["requests"] >= 90 and result["statuses"].get("200", 0) >= 0.9 * result["requests"]
    assert len(result["endpoints"]) > 3  # the mix, not one URL

    stepped = sengu(
        "load", "step", "-t", app_url, "-s", str(scenario), "--start", "20", "--factor", "2", "--max-rate", "40",
        "--step-duration", "1s", "--warmup", "0s", "--slo-p99", "2000", "--json", str(tmp_path / "step.json"),
    )  # fmt: skip
    assert stepped.returncode == 0, stepped.stderr
    knee = json.loads((tmp_path / "step.json").read_text())["knee"]
    assert knee in (20, 40)
    plan = sengu(
        "load", "capacity", "--knee", str(knee), "--pods", "1", "--pod-cpu", "1", "--pod-memory", "512Mi",
        "--peak", "500",
    )  # fmt: skip
    assert plan.returncode == 0 and "pods" in plan.stdout
