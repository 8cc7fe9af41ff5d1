"""`sengu batch import` on crontabs nobody here wrote: Debian bookworm's cron.d files, copied off the host.

The files are in tests/batch/crontabs/debian (README.md there says which package and version each comes
from). Each is copied to a path that says nothing about its format, as a user copies files off a host,
and imported by the real command. What is checked is read from the file itself, independently of the
importer: the user field and the command of every job line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
DEBIAN = HERE / "crontabs" / "debian"
SYSTEM_FILES = sorted((DEBIAN / "system").iterdir())
USER_FILES = [
    *sorted((DEBIAN / "user").iterdir()),
    *sorted(p for p in (HERE / "crontabs" / "user").iterdir() if p.suffix == ".crontab"),
]
ROOT = HERE.parents[1]
ENV_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*=")


def sengu(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@dataclass(frozen=True)
class Line:
    number: int
    user: str | None
    command: str
    reboot: bool


def job_lines(text: str, *, system: bool) -> list[Line]:
    """Every job line, split as crontab(5) says: schedule, the user (system crontabs), the command."""
    out = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or ENV_LINE.match(line):
            continue
        width = 1 if line.startswith("@") else 5
        parts = line.split(None, width + (1 if system else 0))
        user = parts[width] if system else None
        # Only `\%` (a literal %) appears in these files' commands; cron turns it into %.
        out.append(Line(number, user, parts[-1].replace("\\%", "%"), parts[0] == "@reboot"))
    return out


def imported(source: Path, tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    document, stderr, _ = imported_text(source, tmp_path, *args)
    return document, stderr


def imported_text(source: Path, tmp_path: Path, *args: str) -> tuple[dict[str, Any], str, str]:
    copy = tmp_path / "x" / source.name  # e.g. /tmp/…/x/munin: nothing in the path tells the format
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, copy)
    out = tmp_path / "jobs.yaml"
    result = sengu("batch", "import", copy, "-o", out, *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    text = out.read_text()
    return yaml.safe_load(text), result.stderr.replace(str(copy), source.name), text.replace(str(copy), source.name)


def test_the_fixtures_are_there() -> None:
    assert len(SYSTEM_FILES) >= 20 and len(USER_FILES) >= 4


@pytest.mark.parametrize("source", SYSTEM_FILES, ids=[p.name for p in SYSTEM_FILES])
def test_a_cron_d_file_copied_anywhere_imports_with_no_user_in_any_command(source: Path, tmp_path: Path) -> None:
    lines = job_lines(source.read_text(), system=True)
    document, stderr, text = imported_text(source, tmp_path)

    jobs = document["spec"]["jobs"]
    expected = [line for line in lines if not line.reboot]
    assert [job["command"] for job in jobs] == [line.command for line in expected]
    for job, line in zip(jobs, expected, strict=True):
        assert line.user is not None and not job["command"].startswith(line.user + " ")
        assert job["name"].split("-")[0] not in ("if", "root", "test", "www", "perl"), job["name"]
        # The spec has no field for the user: the file says it beside each job, with the line it came from.
        assert f"- name: {job['name']}  # from {source.name}:{line.number}, ran as {line.user}\n" in text
    # The user each job ran as is said, at the first line of each account other than root.
    for user in {line.user for line in expected} - {"root"}:
        first = next(line.number for line in expected if line.user == user)
        assert f"warning: {source.name}:{first}: " in stderr and f"ran as user {user!r}" in stderr, stderr


@pytest.mark.parametrize("source", USER_FILES, ids=[p.name for p in USER_FILES])
def test_a_user_crontab_stays_in_user_format(source: Path, tmp_path: Path) -> None:
    lines = [line for line in job_lines(source.read_text(), system=False) if not line.reboot]
    document, stderr = imported(source, tmp_path)

    commands = [job["command"] for job in document["spec"]["jobs"]]
    assert len(commands) == len(lines)
    for command, line in zip(commands, lines, strict=True):
        if "%" in line.command:  # cron feeds what follows % to stdin: the program still comes first
            assert line.command.split("%")[0].strip() in command
        else:
            assert command == line.command
    assert "ran as user" not in stderr


def test_all_of_them_at_once_give_one_valid_spec_with_unique_program_names(tmp_path: Path) -> None:
    copies = tmp_path / "host"
    copies.mkdir()
    for source in SYSTEM_FILES:
        shutil.copyfile(source, copies / source.name)
    out = tmp_path / "all.yaml"
    result = sengu("batch", "import", *sorted(copies.iterdir()), "-o", out, "--name", "debian")
    assert result.returncode == 0, result.stderr
    names = [job["name"] for job in yaml.safe_load(out.read_text())["spec"]["jobs"]]
    assert len(names) == len(set(names)) and len(names) >= 30
    assert not [n for n in names if re.fullmatch(r"(if|perl|update|root|www-data|munin)(-\d+)?", n)], names
    assert {"munin-cron", "certbot", "php-sessionclean", "cron-daily", "sa-exim-greylistclean"} <= set(names)
    validated = sengu("batch", "validate", out)
    assert validated.returncode == 0, validated.stderr
    assert f"{len(names)} jobs, 0 active, {len(names)} suspended" in validated.stdout


def test_a_file_that_could_be_either_stops_with_its_line_and_the_options(tmp_path: Path) -> None:
    tab = tmp_path / "tab"
    tab.write_text("MAILTO=root\n\n15 3 * * * deploy rotate-logs\n")
    result = sengu("batch", "import", tab, "-o", tmp_path / "out.yaml")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {tab}:3: cannot tell whether 'deploy' is the user")
    assert "--system" in line and "--user" in line
    assert not (tmp_path / "out.yaml").exists()

    as_user, _ = imported(tab, tmp_path, "--user")
    assert [j["command"] for j in as_user["spec"]["jobs"]] == ["deploy rotate-logs"]
    as_system, stderr = imported(tab, tmp_path, "--system")
    assert [j["command"] for j in as_system["spec"]["jobs"]] == ["rotate-logs"]
    assert "ran as user 'deploy'" in stderr


def test_a_system_file_with_a_line_missing_its_user_is_not_guessed(tmp_path: Path) -> None:
    tab = tmp_path / "broken"
    tab.write_text("17 * * * * root cd / && run-parts --report /etc/cron.hourly\n25 6 * * * /usr/local/bin/nightly\n")
    result = sengu("batch", "import", tab)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {tab}:2: cannot tell whether this file has a user field")
    assert "line 1 reads as user 'root'" in line and "--system" in line and "--user" in line
