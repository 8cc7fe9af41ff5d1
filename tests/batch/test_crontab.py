"""Importing Vixie-cron crontabs into a CronjobManager document."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sengu.batch.crontab import (
    CrontabSource,
    ImportResult,
    _vixie_stdin,
    capped,
    import_crontabs,
    with_origins,
)
from sengu.batch.spec import CronjobManager
from sengu.core.errors import Location, Problem

FIXTURES = Path(__file__).parent / "crontabs"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
JOB_KEYS = {"name", "schedule", "command", "priority", "timeZone", "env"}


def one(text: str, *, system: bool = False, path: str = "crontab", **kwargs: Any) -> ImportResult:
    return import_crontabs([CrontabSource(path, text, system)], **kwargs)


def jobs(text: str, **kwargs: Any) -> list[dict[str, Any]]:
    result = one(text, **kwargs)
    assert result.errors == [], [str(e) for e in result.errors]
    return list(result.document["spec"]["jobs"])


def job(line: str, **kwargs: Any) -> dict[str, Any]:
    (only,) = jobs(line, **kwargs)
    return only


def lines(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- whole files ----------------------------------------------------------------------------------

NO_MAIL = (
    "cron mailed job output, but no mail is sent on Kubernetes; set spec.defaults.notifications "
    "(Slack or Sentry) to hear about failures"
)
TO_LOGS = (
    "on Kubernetes a job's output is kept only from stdout and stderr (its logs); drop the redirection "
    "or mount a volume"
)
MOUNT = "they must be in the image or mounted into the pod"
REBOOT = (
    "@reboot runs when a machine starts; there is no such time on Kubernetes, so this job is not imported "
    "(run it as a Deployment or an init step)"
)
AS_USER = "(first here): on Kubernetes a job runs as its image's user; check file permissions or set a securityContext"
NO_ZONE = (
    "no CRON_TZ or TZ before this job: cron ran it (and any later job of this file without one) in the "
    "host's local time; Kubernetes uses UTC unless spec.defaults.timeZone says otherwise"
)


def test_user_crontab_becomes_the_expected_document() -> None:
    result = one(
        fixture("deploy.crontab"), path="deploy.crontab", name="legacy-cron", image="registry.example.com/app:1"
    )

    assert result.errors == []
    assert result.document == yaml.safe_load(fixture("deploy.expected.yaml"))
    CronjobManager.model_validate(result.document)  # the spec model accepts what the importer writes


def test_user_crontab_warnings_name_file_and_line() -> None:
    result = one(fixture("deploy.crontab"), path="deploy.crontab")

    assert lines(result.warnings) == [
        f"deploy.crontab:5: MAILTO=ops@example.com: {NO_MAIL}",
        f"deploy.crontab:9: output goes to /var/log/backup.log: {TO_LOGS}",
        f"deploy.crontab:12: uses host paths /tmp/cache: {MOUNT}",
        "deploy.crontab:16: day-of-month '*/2' and day-of-week '1': Vixie cron treats a field that starts "
        "with '*' as unrestricted and ran this job only on days matching both fields, but Kubernetes "
        "(robfig/cron) counts '*' with a step other than 1 as restricted and runs it on days matching "
        "either field; check the schedule",
        f"deploy.crontab:18: {REBOOT}",
        f"deploy.crontab:20: uses host paths /home/deploy/app: {MOUNT}",
    ]


def test_system_crontab_becomes_the_expected_document_with_user_warnings() -> None:
    path = "/etc/cron.d/app-maintenance"
    result = import_crontabs(
        [CrontabSource(path, fixture("etc/cron.d/app-maintenance"), system=True)],
        name="legacy-cron",
        image="registry.example.com/app:1",
    )

    assert result.errors == []
    assert result.document == yaml.safe_load(fixture("app-maintenance.expected.yaml"))
    CronjobManager.model_validate(result.document)
    assert lines(result.warnings) == [
        f"{path}:7: uses host paths /etc/logrotate.d/app: {MOUNT}",
        f"{path}:8: 2 job(s) ran as user 'www-data' {AS_USER}",
        f"{path}:10: uses host paths /srv/uploads: {MOUNT}",
        f"{path}:11: output goes to /var/log/postgresql/vacuum.log: {TO_LOGS}",
        f"{path}:11: 1 job(s) ran as user 'postgres' {AS_USER}",
        f"{path}:12: {REBOOT}",
    ]


def test_two_files_share_names_defaults_and_keep_each_zone() -> None:
    result = import_crontabs(
        [
            CrontabSource("deploy.crontab", fixture("deploy.crontab"), system=False),
            CrontabSource("/etc/cron.d/app-maintenance", fixture("etc/cron.d/app-maintenance"), system=True),
            CrontabSource("again.crontab", "CRON_TZ=UTC\n# Rotate application logs\n0 1 * * * true\n", False),
        ]
    )

    assert result.errors == []
    spec = result.document["spec"]
    names = [j["name"] for j in spec["jobs"]]
    assert len(names) == len(set(names)) == 16
    assert names[-1] == "rotate-application-logs-2"
    # Zones differ between the files, so each job carries its own and no default is set.
    assert "timeZone" not in spec.get("defaults", {})
    assert {j["name"]: j.get("timeZone") for j in spec["jobs"]}["rotate-application-logs"] == "Asia/Tokyo"
    assert spec["jobs"][-1]["timeZone"] == "UTC"
    CronjobManager.model_validate(result.document)


def test_every_bad_line_of_every_file_is_reported_and_there_is_no_document() -> None:
    result = import_crontabs(
        [
            CrontabSource("broken-user.crontab", fixture("broken-user.crontab"), system=False),
            CrontabSource("/etc/cron.d/broken", fixture("broken-system"), system=True),
        ]
    )

    assert result.document == {}
    assert all(isinstance(e, Problem) and isinstance(e.location, Location) for e in result.errors)
    assert lines(result.errors) == [
        "broken-user.crontab:2: minute field '61': 61 is out of range 0-59",
        "broken-user.crontab:3: hour field '25': 25 is out of range 0-23",
        "broken-user.crontab:5: minute field '*/0': step 0 must be between 1 and 60; "
        "day-of-month field '0': 0 is out of range 1-31; month field '13': 13 is out of range 1-12",
        "broken-user.crontab:6: day-of-week field '8': 8 is out of range 0-7",
        "broken-user.crontab:7: unknown schedule '@fortnightly': use five time fields or one of @yearly, "
        "@annually, @monthly, @weekly, @daily, @midnight, @hourly, @reboot",
        "broken-user.crontab:8: expected five time fields and then a command, or an environment setting NAME=value",
        "broken-user.crontab:9: minute field '5/10': a step needs a range or '*' before it (e.g. 5-59/10)",
        "broken-user.crontab:10: day-of-week field 'fri-sun': the range runs backwards (5 > 0); Sunday is "
        "also 7, e.g. fri-7",
        "broken-user.crontab:11: value '\"/bin/bash' has no closing \"",
        "/etc/cron.d/broken:1: CRON_TZ='Mars/Olympus_Mons' is not an IANA time zone name (Kubernetes needs "
        "one, e.g. Asia/Tokyo)",
        "/etc/cron.d/broken:2: expected a user and then a command after the schedule, got only 'root'",
        "/etc/cron.d/broken:3: day-of-week field 'foo': 'foo' is neither a number nor a day name (three "
        "letters, e.g. mon)",
        "/etc/cron.d/broken:4: expected five time fields and then a user and a command, or an environment "
        "setting NAME=value",
    ]


def test_a_file_without_jobs_is_an_error_when_nothing_else_has_jobs() -> None:
    result = one('# nothing here\nMAILTO=""\n@reboot /bin/true\n', path="empty.crontab")
    assert lines(result.errors) == ["no jobs to import (empty.crontab)"]
    assert "empty.crontab: no jobs to import in this file" in lines(result.warnings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Legacy Cron"}, "name 'Legacy Cron' is not a valid Kubernetes name"),
        ({"priority": "urgent"}, "priority 'urgent' is not one of low, middle, high"),
    ],
)
def test_bad_options_are_errors(kwargs: dict[str, str], message: str) -> None:
    result = import_crontabs([CrontabSource("c", "0 0 * * * true\n", False)], **kwargs)
    assert result.document == {}
    assert any(str(e).startswith(message) for e in result.errors)


def test_a_priority_given_goes_on_every_job() -> None:
    result = one("0 0 * * * a\n0 1 * * * b\n", priority="middle")
    assert [j["priority"] for j in result.document["spec"]["jobs"]] == ["middle", "middle"]


def test_imported_jobs_are_unclassified_and_all_suspended() -> None:
    """Imports start safe: no priority (the spec reads it as high) and stage low, so nothing runs."""
    from sengu.batch.resolve import load_manager
    from sengu.core.spec import parse_documents

    result = one(fixture("deploy.crontab"), path="deploy.crontab")
    assert all("priority" not in j for j in result.document["spec"]["jobs"])
    assert result.document["spec"]["migration"] == {"stage": "low"}
    (doc,) = parse_documents(yaml.safe_dump(result.document), "<imported>")
    manager = load_manager(doc)
    assert manager.jobs and all(p.suspended for p in manager.jobs)
    assert {p.suspend_reason for p in manager.jobs} == {"priority high is above migration stage low"}
    assert result.document["spec"]["migration"] == {"stage": "low"}


# --- schedules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "schedule"),
    [
        ("* * * * *", "* * * * *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * 5-7", "0 0 * * 0,5-6"),
        ("0 0 * * 1-7/2", "0 0 * * 0-1,3,5"),
        ("0 0 * * 0-7", "0 0 * * 0-6"),
        ("0 0 * * 0-7/2", "0 0 * * 0,2,4,6"),  # 7 is not matched, but robfig rejects it in a range
        ("0 0 * * 6-7/2", "0 0 * * 6"),
        ("0 0 * * mon-7", "0 0 * * 0-6"),
        ("0 0 * * 1,7", "0 0 * * 1,0"),
        ("0 0 * * */2", "0 0 * * */2"),
        ("0 0 * * Mon,WED,fri", "0 0 * * Mon,WED,fri"),
        ("0 0 1 Jan-MAR,oct *", "0 0 1 Jan-MAR,oct *"),
        ("*/5 9-17/2 1,15 */3 1-5", "*/5 9-17/2 1,15 */3 1-5"),
        ("00 05 01 01 *", "00 05 01 01 *"),
        ("*/60 * * * *", "*/60 * * * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_schedules_come_out_as_five_fields_robfig_accepts(fields: str, schedule: str) -> None:
    assert job(f"{fields}\t/usr/bin/true\n")["schedule"] == schedule
    assert robfig_valid(schedule)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("* 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("* * 32 * *", "day-of-month field '32': 32 is out of range 1-31"),
        ("* * * 0 *", "month field '0': 0 is out of range 1-12"),
        ("* * * foo *", "month field 'foo': 'foo' is neither a number nor a month name (three letters, e.g. jan)"),
        ("* * * * monday", "day-of-week field 'monday': 'monday' is neither a number nor a day name"),
        ("mon * * * *", "minute field 'mon': 'mon' is not a number"),
        ("1,,2 * * * *", "minute field '1,,2': empty list item"),
        ("5-1 * * * *", "minute field '5-1': the range runs backwards (5 > 1)"),
        ("1,5-1 * * * *", "minute field '1,5-1': '5-1': the range runs backwards (5 > 1)"),
        ("*/61 * * * *", "minute field '*/61': step 61 must be between 1 and 60"),
        ("*/x * * * *", "minute field '*/x': step 'x' is not a number"),
        ("1-2-3 * * * *", "minute field '1-2-3': '2-3' is not a number"),
        ("-1 * * * *", "minute field '-1': not a value, a range or '*'"),
        ("*-5 * * * *", "minute field '*-5': '*' is not a number"),
        ("? * * * *", "minute field '?': '?' is not a number"),
        ("99999999999999999999999 * * * *", "minute field '99999999999999999999999': 99999999999999999999999 is out"),
        ("@Daily", "unknown schedule '@Daily'"),
        ("* * * *", "expected five time fields and then a command"),
    ],
)
def test_bad_schedules_are_errors_at_their_line(fields: str, message: str) -> None:
    result = one(f"# first\n{fields} /usr/bin/true\n", path="x.cron")
    assert len(result.errors) == 1
    assert str(result.errors[0]).startswith(f"x.cron:2: {message}")


@pytest.mark.parametrize(
    ("dom", "dow", "differs"),
    [
        ("*/2", "1", True),  # Vixie: odd days that are Mondays; robfig: odd days or Mondays
        ("*/2", "*/3", True),  # both start with '*': Vixie ANDs, robfig ORs
        ("1,*", "mon", True),  # Vixie ORs (first char '1'), robfig sees '*' and ANDs
        ("*", "1", False),
        ("*/1", "mon", False),
        ("1-15", "mon", False),
        ("*/2", "*", False),
        ("1", "*/2", True),
        ("*/2", "0-7", True),
    ],
)
def test_day_rule_difference_is_a_warning(dom: str, dow: str, differs: bool) -> None:
    result = one(f"CRON_TZ=UTC\n0 0 {dom} * {dow} /usr/bin/true\n")
    assert result.errors == []
    day_warnings = [w for w in result.warnings if "day-of-month" in w.message]
    assert len(day_warnings) == int(differs)
    if differs:
        assert str(day_warnings[0]).startswith(f"crontab:2: day-of-month {dom!r} and day-of-week {dow!r}: Vixie")
        assert "robfig/cron" in day_warnings[0].message


# --- environment lines ----------------------------------------------------------------------------


def test_env_lines_apply_to_the_jobs_after_them() -> None:
    text = "A=1\n0 0 * * * first\n  B = two words  \nC='  padded '\nD=\"\"\n0 1 * * * second\nA=3\n0 2 * * * third\n"
    spec = one(text).document["spec"]
    envs = [j.get("env", {}) | spec.get("defaults", {}).get("env", {}) for j in spec["jobs"]]
    assert envs == [
        {"A": "1"},
        {"A": "1", "B": "two words", "C": "  padded ", "D": ""},
        {"A": "3", "B": "two words", "C": "  padded ", "D": ""},
    ]
    # Only what every job shares goes to defaults.
    assert spec.get("defaults", {}) == {}


def test_common_env_moves_to_defaults_and_the_rest_stays_on_the_job() -> None:
    spec = one("PATH=/usr/bin:/bin\n0 0 * * * a\nX=1\n0 1 * * * b\n").document["spec"]
    assert spec["defaults"] == {"env": {"PATH": "/usr/bin:/bin"}}
    assert "env" not in spec["jobs"][0]
    assert spec["jobs"][1]["env"] == {"X": "1"}


def test_cron_tz_and_tz_set_the_zone_and_cron_tz_wins() -> None:
    text = "TZ=:Europe/Paris\n0 0 * * * a\nCRON_TZ=Asia/Tokyo\n0 1 * * * b\nCRON_TZ=\n0 2 * * * c\n"
    spec = one(text).document["spec"]
    assert [j.get("timeZone") for j in spec["jobs"]] == ["Europe/Paris", "Asia/Tokyo", "Europe/Paris"]
    # TZ is also the job's environment, as it was under cron; CRON_TZ only sets the schedule's zone.
    assert spec["defaults"]["env"] == {"TZ": ":Europe/Paris"}


def test_one_zone_for_all_jobs_becomes_the_default() -> None:
    spec = one("CRON_TZ=Asia/Tokyo\n0 0 * * * a\n0 1 * * * b\n").document["spec"]
    assert spec["defaults"] == {"timeZone": "Asia/Tokyo"}
    assert all("timeZone" not in j for j in spec["jobs"])


def test_jobs_without_a_zone_get_one_warning_per_file() -> None:
    result = one("0 0 * * * a\n0 1 * * * b\nCRON_TZ=UTC\n0 2 * * * c\n", path="f")
    assert [str(w) for w in result.warnings if "CRON_TZ" in w.message] == [f"f:1: {NO_ZONE}"]
    assert [j.get("timeZone") for j in result.document["spec"]["jobs"]] == [None, None, "UTC"]


def test_mailto_warns_unless_empty_and_never_reaches_env() -> None:
    result = one('MAILTO=""\n0 0 * * * a\nMAILTO = root@example.com\n0 1 * * * b\n', path="m")
    assert [str(w) for w in result.warnings if "MAILTO" in w.message] == [f"m:3: MAILTO=root@example.com: {NO_MAIL}"]
    assert "MAILTO" not in yaml.safe_dump(result.document)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("TZ=JST-9", "TZ='JST-9' is not an IANA time zone name"),
        ("1X=2", "'1X' is not a valid environment variable name for Kubernetes"),
        ("SHELL=", "SHELL is empty"),
        ("A='x' y", "unexpected text after the quoted value: 'y'"),
        ('A="x', "value '\"x' has no closing \""),
    ],
)
def test_bad_env_lines_are_errors(line: str, message: str) -> None:
    result = one(f"{line}\n0 0 * * * true\n", path="e")
    assert len(result.errors) == 1
    assert str(result.errors[0]).startswith(f"e:1: {message}")


def test_shell_other_than_sh_makes_an_argv() -> None:
    result = one("0 0 * * * echo a\nSHELL=/bin/bash\n0 1 * * * echo b\nSHELL=/bin/sh\n0 2 * * * echo c\n")
    commands = [j["command"] for j in result.document["spec"]["jobs"]]
    assert commands == ["echo a", ["/bin/bash", "-c", "echo b"], "echo c"]


# --- commands and % -------------------------------------------------------------------------------


def run(command: str | list[str]) -> str:
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=10, check=True)
    return done.stdout


@pytest.mark.parametrize(
    ("command", "stdout"),
    [
        # The first % ends the command; the rest is stdin, further % are newlines, and a newline ends it.
        ("cat%hello", "hello\n"),
        ("cat%line one%line two", "line one\nline two\n"),
        ("cat%ends with newline%", "ends with newline\n"),
        ("cat%%%", "\n\n"),
        # \% is a literal % in the command and in stdin.
        ("printf '\\%s\\n' \"50\\% x\"", "50% x\n"),
        ("cat%100\\% sure", "100% sure\n"),
        # Other backslashes stay as they are.
        ("cat%a\\b", "a\\b\n"),
        # Quotes, $, backticks and globs in stdin are data, not shell.
        ('cat%it\'s "$HOME" `id` *', 'it\'s "$HOME" `id` *\n'),
        # The whole command gets stdin, not only its first part.
        ('read a; read b; echo "$b-$a"%x%y', "y-x\n"),
        ("cat # a comment%data", "data\n"),
        ("cat &%data", ""),  # run in the background: stdin is not the data (as under cron)
        ("cat <<EOF%data", ""),  # a here-document replaces stdin, as under cron
        ("echo no stdin", "no stdin\n"),
        ("echo trailing%", "trailing\n"),
    ],
)
def test_percent_feeds_stdin_like_cron(command: str, stdout: str) -> None:
    assert run(job(f"* * * * * {command}")["command"]) == stdout


def test_escaped_percent_without_stdin_is_a_literal_percent() -> None:
    assert job("* * * * * date +\\%Y-\\%m")["command"] == "date +%Y-%m"


def test_percent_with_bash_and_with_a_non_posix_shell() -> None:
    bash = shutil.which("bash")
    assert bash is not None
    argv = job(f'SHELL={bash}\n* * * * * cat <<< "$(cat)" %here\'string')["command"]
    assert argv[:2] == [bash, "-c"]
    assert run(argv) == "here'string\n"
    # python is no POSIX shell: /bin/sh feeds stdin and passes the command to it.
    code = "import sys; sys.stdout.write(sys.stdin.read().upper())"
    command = job(f"SHELL={sys.executable}\n* * * * * {code}%hello%world")["command"]
    assert isinstance(command, str)
    assert run(command) == "HELLO\nWORLD\n"
    assert job(f"SHELL={sys.executable}\n* * * * * print(6 * 7)")["command"] == [sys.executable, "-c", "print(6 * 7)"]
    assert run([sys.executable, "-c", "print(6 * 7)"]) == "42\n"


STDIN_CHARS = st.one_of(
    st.sampled_from(list("abc %%%'\"$`!;&|(){}*?~#\t=<>-\\")),
    st.characters(codec="utf-8", min_codepoint=32, max_codepoint=0x3000, exclude_characters="\x7f"),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.text(STDIN_CHARS, max_size=40))
def test_stdin_survives_shell_quoting(data: str) -> None:
    command = job(f"* * * * * cat%{data}")["command"]
    if "\\" in data:
        expected = _vixie_stdin(data) or ""
    else:
        # Without backslashes cron's rule is plain: % is a newline and a final newline is added.
        expected = data.replace("%", "\n")
        if expected and not expected.endswith("\n"):
            expected += "\n"
    assert run(command) == expected


@pytest.mark.parametrize(
    ("data", "stdin"),
    [
        ("a\\%b", "a%b\n"),
        ("a\\\\%b", "a\\%b\n"),  # Vixie's loop: the second backslash is written, then % stays literal
        ("a\\", "a\\\n"),
        ("a%\\", "a\n\\"),
        ("", None),
    ],
)
def test_vixie_stdin_quirks(data: str, stdin: str | None) -> None:
    assert _vixie_stdin(data) == stdin


@pytest.mark.parametrize(
    ("command", "messages"),
    [
        ("run >> /var/log/run.log 2>&1", ["output goes to /var/log/run.log"]),
        ("run > out.txt", ["output goes to out.txt"]),
        ("run 2>/srv/err.log >/dev/null", ["output goes to /srv/err.log"]),
        ("run &> /data/all.log", ["output goes to /data/all.log"]),
        ("run >&2", []),
        ("run >/dev/null 2>&1", []),
        ("run 1>&- 2>/dev/stderr", []),
        ("echo '>' not a redirect", []),
        ('echo "a > b"', []),
        ("run --config=/etc/app.yaml", ["uses host paths /etc/app.yaml"]),
        ("PATH=/home/u/bin:/usr/bin run", ["uses host paths /home/u/bin"]),
        ("run < /var/lib/app/input", ["uses host paths /var/lib/app/input"]),
        ("cd /root && ./x", ["uses host paths /root"]),
        ("run $(cat /etc/secret)", ["uses host paths /etc/secret"]),
        ("run /etcetera /usr/local/bin/x /opt/app /var/www", []),
        ("run > /tmp/out /tmp/in", ["output goes to /tmp/out", "uses host paths /tmp/in"]),
    ],
)
def test_command_warnings(command: str, messages: list[str]) -> None:
    result = one(f"CRON_TZ=UTC\n0 0 * * * {command}\n")
    assert result.errors == []
    assert [w.message.split(":")[0] for w in result.warnings] == messages


def test_system_users_warn_once_per_user_and_root_never() -> None:
    text = "CRON_TZ=UTC\n0 0 * * * root a\n0 1 * * * app b\n@daily app c\n0 3 * * * web d\n"
    result = one(text, system=True, path="/etc/crontab")
    assert lines(result.warnings) == [
        f"/etc/crontab:3: 2 job(s) ran as user 'app' {AS_USER}",
        f"/etc/crontab:5: 1 job(s) ran as user 'web' {AS_USER}",
    ]
    assert [j["command"] for j in result.document["spec"]["jobs"]] == ["a", "b", "c", "d"]


def test_cron_d_file_that_debian_cron_skipped_is_flagged() -> None:
    result = one("CRON_TZ=UTC\n0 0 * * * root a\n", system=True, path="/etc/cron.d/app.dpkg-old")
    assert any(str(w).startswith("/etc/cron.d/app.dpkg-old: Debian's cron ignores") for w in result.warnings)


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("# Nightly DB backup!\n0 0 * * * x", "nightly-db-backup"),
        ("# m h  dom mon dow   command\n0 0 * * * /usr/local/bin/backup.sh --full", "backup-full"),
        ("# 0 5 * * * old-job\n0 0 * * * rotate", "rotate"),
        ("# MAILTO=x\n0 0 * * * rotate", "rotate"),
        ("# 毎晩のバックアップ\n0 0 * * * /opt/bin/nightly.py", "nightly"),
        ("# Café crème\n0 0 * * * x", "cafe-creme"),
        ("# not immediately before\n\n0 0 * * * rotate", "rotate"),
        ("0 0 * * * php /var/www/artisan schedule:run >> /dev/null 2>&1", "artisan-schedule-run"),
        ("0 0 * * * cd /srv/app && bundle exec rake jobs:cleanup", "rake-jobs-cleanup"),
        ("0 0 * * * /usr/bin/flock -n /tmp/x.lock /usr/local/bin/sync.sh", "sync"),
        ("0 0 * * * flock /tmp/x.lock -c 'nice -n 10 ionice -c3 python3 -u /app/report.py daily'", "report-daily"),
        ("0 0 * * * bash -lc 'cd /app && ./bin/rails runner Cleanup.run'", "rails-runner-cleanup-run"),
        ("0 0 * * * sudo -u www-data timeout 300 env FOO=1 /usr/bin/php /x/cron.php", "cron"),
        ("0 0 * * * python3 -m app.tasks purge", "app-tasks-purge"),
        ("0 0 * * * perl -e 'print 1'", "perl"),
        ("0 0 * * * test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily", "cron-daily"),
        ('0 0 * * * mysql -e "SELECT 1" --batch app', "mysql"),
        ("0 0 * * * ./RunThis_Now 12 --dry-run", "runthis-now-dry-run"),
        ("0 0 * * * $HOME/bin/x.sh", "x"),
        ("0 0 * * * >/dev/null", "job"),
        ("0 0 * * * 日本語", "job"),
    ],
)
def test_job_names(text: str, name: str) -> None:
    assert job(text + "\n")["name"] == name


def test_long_names_are_cut_with_a_stable_hash() -> None:
    long_a = "synchronise-the-product-catalogue-with-the-warehouse-management-system-every-night"
    long_b = "synchronise-the-product-catalogue-with-the-warehouse-management-system-every-hour"
    text = f"0 0 * * * /opt/sync/{long_a}\n0 1 * * * /opt/sync/{long_b}\n0 2 * * * /opt/sync/{long_a}\n"
    names = [j["name"] for j in jobs(text)]

    slug_a = f"sync-{long_a}"  # the package directory in /opt comes first
    digest = hashlib.sha256(slug_a.encode()).hexdigest()[:8]
    assert names[0] == f"{slug_a[:43]}-{digest}"
    assert len(names[0]) == 52
    assert names[1] != names[0] and names[1].startswith(slug_a[:43]) and len(names[1]) == 52
    assert names[2] != names[0] and names[2].endswith("-2") and len(names[2]) <= 52
    assert all(NAME.match(n) for n in names)
    # Stable: the same input gives the same names.
    assert names == [j["name"] for j in jobs(text)]


def test_a_cut_never_leaves_a_dash_before_the_hash() -> None:
    # 42 letters then '-': a plain cut at 43 would end in '-', then '--hash'.
    comment = "a" * 42 + " " + "b" * 20
    (only,) = jobs(f"# {comment}\n0 0 * * * x\n")
    assert NAME.match(only["name"]) and "--" not in only["name"] and len(only["name"]) <= 52


def test_collisions_get_numbered_suffixes_across_files() -> None:
    result = import_crontabs(
        [
            CrontabSource("a", "# backup\n0 0 * * * a\n# backup\n0 1 * * * b\n# backup 2\n0 2 * * * c\n", False),
            CrontabSource("b", "# Backup\n0 3 * * * d\n", False),
        ]
    )
    assert [j["name"] for j in result.document["spec"]["jobs"]] == ["backup", "backup-2", "backup-2-2", "backup-3"]


# --- format detection (the table tests are in test_crontab_format.py) ----------------------------


def test_undecided_format_is_read_from_the_lines_of_each_file() -> None:
    result = import_crontabs(
        [
            CrontabSource("copied/app-maintenance", fixture("etc/cron.d/app-maintenance")),
            CrontabSource("copied/deploy", fixture("deploy.crontab")),
        ]
    )
    assert result.errors == [], lines(result.errors)
    commands = [j["command"] for j in result.document["spec"]["jobs"]]
    assert commands[0] == "/usr/sbin/logrotate /etc/logrotate.d/app"
    assert "/usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1" in commands


def test_an_undecidable_file_is_a_located_error_naming_the_options() -> None:
    result = import_crontabs([CrontabSource("tab", "# c\n0 0 * * * deploy rotate\n")])
    assert result.document == {}
    (error,) = result.errors
    assert error.location == Location("tab", 2)
    assert "--system" in error.message and "--user" in error.message


def test_a_forced_user_field_that_cannot_be_a_user_is_an_error_not_a_changed_command() -> None:
    result = one("0 0 * * * /usr/bin/backup --full\n", system=True, path="tab")
    assert lines(result.errors) == [
        "tab:1: '/usr/bin/backup' cannot be a user name, but this file is read with a user field after the "
        "schedule (as in /etc/crontab); if it is a user crontab, give --user"
    ]


def test_the_written_yaml_says_where_each_job_came_from_and_as_whom() -> None:
    result = import_crontabs(
        [
            CrontabSource("/etc/cron.d/app", "0 0 * * * www-data /usr/bin/a\n0 1 * * * root /usr/bin/b\n"),
            CrontabSource("odd\npath", "0 2 * * * /usr/bin/c\n"),
            CrontabSource("tab", "# a\n0 3 * * * /usr/bin/a\n"),
        ]
    )
    plain = yaml.safe_dump(result.document, sort_keys=False)
    text = with_origins(plain, result.origins)
    assert yaml.safe_load(text) == result.document
    assert [line.strip() for line in text.splitlines() if "- name:" in line] == [
        "- name: a  # from /etc/cron.d/app:1, ran as www-data",
        "- name: b  # from /etc/cron.d/app:2, ran as root",
        "- name: c",  # a path with a newline is left out rather than break the YAML
        "- name: a-2  # from tab:2",
    ]


def test_errors_are_capped_per_file_with_a_count_of_the_rest() -> None:
    problems = [Problem(f"bad {i}", Location("a", i)) for i in range(1, 31)] + [Problem("bad", Location("b", 1))]
    shown = lines(capped(problems))
    assert shown[:20] == [f"a:{i}: bad {i}" for i in range(1, 21)]
    assert shown[20:] == ["b:1: bad", "... and 10 more errors in a"]
    assert lines(capped(problems[:20])) == lines(problems[:20])


# --- never raises ---------------------------------------------------------------------------------

_ROBFIG_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
_ROBFIG_NAMES = [
    {},
    {},
    {},
    {
        m: i
        for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
    },
    {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
]


def robfig_valid(schedule: str) -> bool:
    """An independent reading of robfig/cron v3's standard parser (5 fields, no seconds)."""
    fields = schedule.split(" ")
    if len(fields) != 5:
        return False
    for text, (low, high), names in zip(fields, _ROBFIG_RANGES, _ROBFIG_NAMES, strict=True):
        for item in text.split(","):
            parts = item.split("/")
            if len(parts) > 2 or (len(parts) == 2 and not (parts[1].isdigit() and int(parts[1]) > 0)):
                return False
            if parts[0] in ("*", "?"):
                continue
            bounds = parts[0].split("-")
            if len(bounds) > 2:
                return False
            values = []
            for b in bounds:
                value = names.get(b.lower()) if not b.isdigit() else int(b)
                if value is None or not low <= value <= high:
                    return False
                values.append(value)
            if values[0] > values[-1]:
                return False
    return True


FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 70).map(str),
    st.tuples(st.integers(0, 70), st.integers(0, 70)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.tuples(st.sampled_from(["*", "1-31", "0-7", "5"]), st.integers(0, 70)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.sampled_from(["mon", "SUN", "fri-sun", "jan", "Dec", "jan-jun/2", "mon-fri", "7", "5-7", "?", "L", ""]),
)
FIELDS = st.lists(FIELD, min_size=1, max_size=3).map(",".join)
COMMAND = st.one_of(
    st.sampled_from(
        [
            "/usr/bin/true",
            "backup.sh --full >> /var/log/b.log 2>&1",
            "cat%a%b",
            "echo '%' \\% \"x",
            "cd /home/x && make",
            "",
            "bash -c 'a",
        ]
    ),
    st.text(max_size=30),
)
LINE = st.one_of(
    st.tuples(st.lists(FIELDS, min_size=4, max_size=6).map(" ".join), COMMAND).map(" ".join),
    st.tuples(
        st.lists(FIELDS, min_size=5, max_size=5).map(" ".join), st.sampled_from(["root", "app", ""]), COMMAND
    ).map(" ".join),
    st.tuples(st.sampled_from(["@daily", "@reboot", "@hourly", "@weekly", "@foo", "@"]), COMMAND).map(" ".join),
    st.tuples(
        st.sampled_from(["PATH", "SHELL", "CRON_TZ", "TZ", "MAILTO", "A B", "1X", "HOME", "'Q'", '"']),
        st.sampled_from(["=", " = ", "="]),
        st.sampled_from(["", "/bin/bash", "Asia/Tokyo", "UTC", "'x'", '"y', "Nope/Zone", "a@b.c", "/bin/sh"]),
    ).map("".join),
    st.text(max_size=12).map(lambda t: "# " + t),
    st.sampled_from(["", "   ", "\t", "# Nightly job", "# " + "very long name " * 6]),
    st.text(max_size=40),
)
SOURCE = st.builds(
    CrontabSource,
    path=st.sampled_from(["a.cron", "/etc/cron.d/b", "c"]),
    text=st.one_of(st.text(max_size=200), st.lists(LINE, max_size=20).map("\n".join)),
    system=st.sampled_from([True, False, None]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(SOURCE, min_size=1, max_size=3))
def test_any_input_gives_a_valid_document_or_located_errors(sources: list[CrontabSource]) -> None:
    result = import_crontabs(sources)

    paths = {s.path for s in sources}
    longest = max(len(s.text.split("\n")) for s in sources)
    for problem in [*result.errors, *result.warnings]:
        assert isinstance(problem, Problem)
        if problem.location is not None:
            assert problem.location.file in paths
            assert problem.location.line is None or 1 <= problem.location.line <= longest
    if result.errors:
        assert result.document == {}
        return
    spec = result.document["spec"]
    names = [j["name"] for j in spec["jobs"]]
    assert names and len(names) == len(set(names))
    for item in spec["jobs"]:
        assert set(item) <= JOB_KEYS
        assert len(item["name"]) <= 52 and NAME.match(item["name"]), item["name"]
        assert robfig_valid(item["schedule"]), item["schedule"]
        command = item["command"]
        assert (isinstance(command, str) and command.strip()) or (
            isinstance(command, list) and len(command) == 3 and command[1] == "-c"
        )
    CronjobManager.model_validate(result.document)


def robfig_values(text: str, field: int) -> set[int]:
    """The values robfig/cron v3 matches for one field (the input is known to be valid)."""
    (low, high), names = _ROBFIG_RANGES[field], _ROBFIG_NAMES[field]
    values: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        else:
            bounds = [int(b) if b.isdigit() else names[b.lower()] for b in base.split("-")]
            start, end = bounds[0], bounds[-1]
            if step and len(bounds) == 1:
                end = high
        values.update(range(start, end + 1, int(step or 1)))
    return values


VIXIE_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@st.composite
def vixie_field(draw: st.DrawFn, field: int) -> tuple[str, set[int]]:
    """A valid Vixie field and the values Vixie cron matches for it."""
    low, high = VIXIE_RANGES[field]
    # Days of month picked one by one stay <= 28 so every generated line can run (a date that never
    # exists is not imported: it has its own test).
    top = 28 if field == 2 else high

    def spell(value: int) -> str:
        if field == 3 and draw(st.booleans()):
            name = MONTH_NAMES[value - 1]
        elif field == 4 and value < 7 and draw(st.booleans()):
            name = DAY_NAMES[value]
        else:
            return str(value)
        return draw(st.sampled_from([name, name.upper(), name.title()]))

    items: list[str] = []
    values: set[int] = set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["star", "one", "range"]))
        step = draw(st.one_of(st.none(), st.integers(1, high - low + 1)))
        suffix = f"/{step}" if step else ""
        if kind == "star":
            items.append("*" + suffix)
            values.update(range(low, high + 1, step or 1))
        elif kind == "one":
            value = draw(st.integers(low, top))
            items.append(spell(value))
            values.add(value)
        else:
            a = draw(st.integers(low, top))
            b = draw(st.integers(a, top))
            items.append(f"{spell(a)}-{spell(b)}{suffix}")
            values.update(range(a, b + 1, step or 1))
    return ",".join(items), values


SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00\n\r"), max_size=30)


@st.composite
def valid_crontab(draw: st.DrawFn) -> tuple[str, bool, list[list[set[int]]]]:
    """A crontab that cron accepts, and the values each job's schedule matches."""
    system = draw(st.booleans())
    out: list[str] = []
    expected: list[list[set[int]]] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["job", "job", "job", "macro", "env", "comment", "blank"]))
        user = draw(st.sampled_from(["root", "app"])) + " " if system else ""
        command = "run " + draw(SAFE_TEXT)
        if kind == "job":
            fields = [draw(vixie_field(i)) for i in range(5)]
            out.append(" ".join(f for f, _ in fields) + f" {user}{command}")
            expected.append([v if i < 4 else {0 if d == 7 else d for d in v} for i, (_, v) in enumerate(fields)])
        elif kind == "macro":
            macro = draw(st.sampled_from(["@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@reboot"]))
            out.append(f"{macro} {user}{command}")
            if macro != "@reboot":
                expected.append([])  # the five-field spelling is checked by the table test
        elif kind == "env":
            name = draw(st.sampled_from(["PATH", "HOME", "APP_ENV", "SHELL", "CRON_TZ", "TZ", "MAILTO"]))
            value = {
                "SHELL": draw(st.sampled_from(["/bin/sh", "/bin/bash"])),
                "CRON_TZ": draw(st.sampled_from(["UTC", "Asia/Tokyo", ""])),
                "TZ": draw(st.sampled_from(["Europe/Paris", ":UTC"])),
            }.get(name, "v" + draw(SAFE_TEXT))
            out.append(f"{name}{draw(st.sampled_from(['=', ' = ']))}{value}")
        elif kind == "comment":
            out.append("#" + draw(SAFE_TEXT))
        else:
            out.append(draw(st.sampled_from(["", "  ", "\t"])))
    return "\n".join(out), system, expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crontabs=st.lists(valid_crontab(), min_size=1, max_size=3))
def test_valid_crontabs_import_every_job_with_the_same_days_and_times(
    crontabs: list[tuple[str, bool, list[list[set[int]]]]],
) -> None:
    sources = [CrontabSource(f"f{i}", text, system) for i, (text, system, _) in enumerate(crontabs)]
    expected = [e for _, _, per_file in crontabs for e in per_file]
    result = import_crontabs(sources)

    if not expected:
        assert lines(result.errors) == [f"no jobs to import ({', '.join(s.path for s in sources)})"]
        return
    assert result.errors == []
    spec = result.document["spec"]
    assert len(spec["jobs"]) == len(expected)
    names = [j["name"] for j in spec["jobs"]]
    assert len(names) == len(set(names))
    for item, sets in zip(spec["jobs"], expected, strict=True):
        assert len(item["name"]) <= 52 and NAME.match(item["name"]), item["name"]
        assert robfig_valid(item["schedule"]), item["schedule"]
        if sets:
            fields = item["schedule"].split(" ")
            assert [robfig_values(f, i) for i, f in enumerate(fields)] == sets, item["schedule"]
    CronjobManager.model_validate(result.document)


def test_a_date_that_never_exists_is_not_imported() -> None:
    result = import_crontabs([CrontabSource("tab", "0 0 30 2 * never\n0 0 * * * daily\n", False)])
    assert result.errors == []
    assert [j["name"] for j in result.document["spec"]["jobs"]] == ["daily"]
    assert any(
        w.location == Location("tab", 1) and "never" in w.message and "not imported" in w.message
        for w in result.warnings
    ), lines(result.warnings)


def test_origins_follow_names_that_yaml_writes_quoted() -> None:
    # `true`, `1e3` and `null` are names the naming rules can give (`/usr/bin/true`), and YAML quotes them.
    result = one("15 * * * * root /usr/bin/true\n0 3 * * * root /opt/bin/null\n", system=True, path="/etc/cron.d/x")
    text = with_origins(yaml.safe_dump(result.document, sort_keys=False), result.origins)
    assert yaml.safe_load(text) == result.document
    assert [line.strip() for line in text.splitlines() if "- name:" in line] == [
        "- name: 'true'  # from /etc/cron.d/x:1, ran as root",
        "- name: 'null'  # from /etc/cron.d/x:2, ran as root",
    ]
