"""Commands that only read state (`sengu batch list/history/logs`, `sengu runners list`) never create it: a
mistyped --home or SENGU_HOME is reported, with exit 2, instead of answered from a new empty database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SPEC = """apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata: {name: t}
spec:
  migration: {stage: low}
  jobs:
    - {name: hello, schedule: '0 0 * * *', priority: low, command: 'echo hi'}
"""

READERS = [
    ("runners", "list"),
    ("batch", "history"),
    ("batch", "logs", "hello"),
    ("batch", "list", "{spec}"),
]


def sengu(*args: str, env_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SENGU_HOME"}
    if env_home is not None:
        env["SENGU_HOME"] = str(env_home)
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("how", ["--home", "SENGU_HOME"])
def test_a_home_without_state_is_reported_and_not_created(tmp_path: Path, command: tuple[str, ...], how: str) -> None:
    spec = tmp_path / "jobs.yaml"
    spec.write_text(SPEC)
    typo = tmp_path / "hom"
    args = [a.replace("{spec}", str(spec)) for a in command]
    result = sengu(*args, "--home", str(typo)) if how == "--home" else sengu(*args, env_home=typo)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() == (
        f"error: no sengu state at {typo} (no such directory): nothing has run with this home; "
        "check --home or SENGU_HOME"
    )
    assert result.stdout == ""
    assert not typo.exists()


def test_an_empty_directory_is_no_state_and_stays_empty(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = sengu("runners", "list", "--home", str(home))
    assert result.returncode == 2
    assert f"no sengu state at {home} (no sengu.db in it)" in result.stderr
    assert list(home.iterdir()) == []


def test_state_of_another_capability_is_not_extended(tmp_path: Path) -> None:
    """A home where only batch ran has no runners state: said so, and no runners tables are added."""
    spec = tmp_path / "jobs.yaml"
    spec.write_text(SPEC)
    home = tmp_path / "home"
    ran = sengu("batch", "run", str(spec), "hello", env_home=home)
    assert ran.returncode == 0, ran.stderr
    result = sengu("runners", "list", "-o", "json", env_home=home)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: no runners state in {home / 'sengu.db'}: nothing of runners has run with this home yet; "
        "check --home or SENGU_HOME"
    )
    import sqlite3

    with sqlite3.connect(home / "sengu.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not any(t.startswith("runners_") for t in tables)
    # and the state that is there still reads
    history = sengu("batch", "history", "-o", "json", env_home=home)
    assert history.returncode == 0 and json.loads(history.stdout)[0]["job"] == "hello"
    logs = sengu("batch", "logs", "hello", env_home=home)
    assert logs.returncode == 0 and logs.stdout == "hi\n"


def test_batch_list_without_any_home_still_lists_the_spec(tmp_path: Path) -> None:
    """With no home named at all, the default one may not exist yet: the jobs are listed, with no last runs,
    and nothing is created."""
    spec = tmp_path / "jobs.yaml"
    spec.write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k != "SENGU_HOME"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    result = subprocess.run(
        [sys.executable, "-m", "sengu", "batch", "list", str(spec), "-o", "json"],
        capture_output=True, text=True, env=env, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["job"] == "hello" and row["lastStatus"] is None
    assert not (tmp_path / "state").exists()
