"""Import legacy crontabs (Debian's Vixie cron, crontab(5)) into one CronjobManager document.

Pure: the caller reads the files and writes the document. What this module decides:

- Every bad line of every file is reported (`file:line: message`); with any error there is no document.
- Whether a file has a user field is decided from all its job lines (crontab_format.py) unless the
  caller says; a command is never changed on a guess.
- Jobs are named by naming.py, unique across files (`-2`, `-3`…). They get no priority unless the caller
  gives one, and the migration stage is low: an import is all suspended until someone classifies it.
- Schedules come out as five fields that robfig/cron v3 (Kubernetes) accepts; `@daily` and friends are
  spelled out, because five fields is what every consumer (CronJobs, Sentry monitors) understands.
- What cannot move as it is becomes a warning at its `file:line`: `@reboot`, output written to files,
  host paths, MAILTO, non-root users, jobs without a time zone, and schedules whose days differ
  between Vixie cron and robfig/cron.

Host paths are absolute paths (a whole word, or after '=', ':', ',' or '(' within one) under these
directories, which hold a machine's own users, configuration, state, logs and mounts, and so are not
in a container image: /home, /root, /etc, /tmp, /var/tmp, /var/log, /var/spool, /var/lib, /var/run,
/var/backups, /var/mail, /run, /srv, /mnt, /media. Program directories (/usr, /bin, /opt) are left
out: an image built for the service is expected to carry its programs.
"""

from __future__ import annotations

import re
import shlex
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from typing import Any

import yaml

from sengu.batch import crontab_format, naming
from sengu.batch.schedule import ScheduleError, parse
from sengu.batch.shell import Token, lex
from sengu.batch.spec import MAX_JOB_NAME, PRIORITY_ORDER
from sengu.core.errors import Location, Problem
from sengu.core.names import DNS_LABEL

API_VERSION = "sengu.dev/v1alpha1"
KIND = "CronjobManager"
DEFAULT_SHELL = "/bin/sh"

HOST_PATH_PREFIXES = (
    "/home", "/root", "/etc", "/tmp", "/var/tmp", "/var/log", "/var/spool", "/var/lib", "/var/run",
    "/var/backups", "/var/mail", "/run", "/srv", "/mnt", "/media",
)  # fmt: skip

# Vixie's macros; @reboot has no equivalent and is reported instead.
MACROS = {
    "yearly": "0 0 1 1 *",
    "annually": "0 0 1 1 *",
    "monthly": "0 0 1 * *",
    "weekly": "0 0 * * 0",
    "daily": "0 0 * * *",
    "midnight": "0 0 * * *",
    "hourly": "0 * * * *",
}


@dataclass(frozen=True)
class CrontabSource:
    """One crontab's text. `system`: it has a user field (/etc/crontab, /etc/cron.d/*); None: decide from
    its lines (crontab_format.py)."""

    path: str  # for messages
    text: str
    system: bool | None = None


@dataclass
class ImportResult:
    """The document, or (when `errors` is not empty) the reasons there is none."""

    document: dict[str, Any]
    warnings: list[Problem]
    errors: list[Problem]  # if non-empty, document must not be used
    origins: list[JobOrigin] = field(default_factory=list)  # one per job, in the document's order


@dataclass(frozen=True)
class JobOrigin:
    """Where a job came from: its crontab line, and the user it ran as (None: the crontab's owner)."""

    name: str
    location: Location
    user: str | None

    def comment(self) -> str:
        return f"from {self.location}" + (f", ran as {self.user}" if self.user else "")


def with_origins(yaml_text: str, origins: list[JobOrigin]) -> str:
    """The YAML of an imported document with `# from FILE:LINE, ran as USER` after each job's name.

    Comments, because the spec has no field for them: they are for the person who classifies the jobs.
    Names are unique and in order, so each is found on the first `- name: NAME` line after the previous.
    """
    lines = yaml_text.split("\n")
    at = 0
    for origin in origins:
        while at < len(lines) and _name_on(lines[at]) != origin.name:
            at += 1
        if at == len(lines):
            return yaml_text  # not the layout this was written for: leave the text as it is
        if origin.comment().isprintable():  # a path with a newline or a control byte would break the YAML
            lines[at] += f"  # {origin.comment()}"
        at += 1
    return "\n".join(lines)


def _name_on(line: str) -> str | None:
    """The job name a `- name: NAME` line holds, read as YAML: `true` or `1e3` are written quoted."""
    text = line.strip()
    if not text.startswith("- name: "):
        return None
    value = yaml.safe_load(text[len("- name: ") :])
    return value if isinstance(value, str) else None


def import_crontabs(
    sources: list[CrontabSource],
    *,
    name: str = "imported",
    image: str | None = None,
    priority: str | None = None,
) -> ImportResult:
    """Turn crontabs into one CronjobManager document named `name`.

    Without `priority` the jobs are unclassified (the spec reads that as `high`) and the migration stage
    is `low`, so every imported job is suspended until someone decides which jobs move first: an import
    must never start copies of production jobs next to the old host.
    """
    importer = _Importer()
    for index, source in enumerate(sources):
        importer.read(index, source)
    return importer.result(sources, name, image, priority)


def capped(problems: list[Problem], limit: int = 20, *, what: str = "errors") -> list[Problem]:
    """At most `limit` problems per file, then one line that counts the rest of that file's."""
    shown: list[Problem] = []
    per_file: dict[str | None, int] = {}
    for problem in problems:
        file = problem.location.file if problem.location else None
        per_file[file] = per_file.get(file, 0) + 1
        if per_file[file] <= limit:
            shown.append(problem)
    for file, count in per_file.items():
        if count > limit:
            where = f" in {file}" if file else ""
            shown.append(Problem(f"... and {count - limit} more {what}{where}"))
    return shown


# --- time fields -------------------------------------------------------------------------------


class _LineError(Exception):
    """Why one line cannot be imported; becomes a Problem at that line."""


@dataclass(frozen=True)
class _FieldSpec:
    label: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = {n: i for i, n in enumerate(_MONTHS, start=1)}
_DAY_NAMES = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day-of-month", 1, 31),
    _FieldSpec("month", 1, 12, _MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 7, _DAY_NAMES),  # Vixie: 0 and 7 are both Sunday
)
_DIGITS = re.compile(r"[0-9]+")


def _small_int(text: str) -> int | None:
    """The value of a run of ASCII digits, capped so a huge one never reaches int()'s length limit."""
    if not _DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 6 else 10**6


@dataclass(frozen=True)
class _Element:
    text: str
    values: frozenset[int]
    star: bool
    end: int  # the range's last value as written, which robfig also checks


def _number(token: str, spec: _FieldSpec) -> int:
    value = _small_int(token)
    if value is not None:
        if not spec.low <= value <= spec.high:
            raise _LineError(f"{token} is out of range {spec.low}-{spec.high}")
        return value
    if spec.names and token.lower() in spec.names:
        return spec.names[token.lower()]
    if spec.names:
        kind = "month" if spec.names is _MONTH_NAMES else "day"
        sample = "jan" if kind == "month" else "mon"
        raise _LineError(f"{token!r} is neither a number nor a {kind} name (three letters, e.g. {sample})")
    raise _LineError(f"{token!r} is not a number")


def _element(text: str, spec: _FieldSpec) -> _Element:
    base, slash, step_text = text.partition("/")
    if base == "*":
        start, end, star = spec.low, spec.high, True
    else:
        star = False
        first, dash, last = base.partition("-")
        if not first:
            raise _LineError("not a value, a range or '*'")
        start = _number(first, spec)
        end = _number(last, spec) if dash else start
        if not dash and slash:
            # Vixie rejects N/step; robfig would read it as N-max/step, so say what to write.
            raise _LineError(f"a step needs a range or '*' before it (e.g. {first}-{spec.high}/{step_text})")
        if start > end:
            hint = ""
            if spec.names is _DAY_NAMES and end == 0:
                hint = f"; Sunday is also 7, e.g. {first}-7"
            raise _LineError(f"the range runs backwards ({start} > {end}){hint}")
    step = 1
    if slash:
        parsed_step = _small_int(step_text)
        if parsed_step is None:
            raise _LineError(f"step {step_text!r} is not a number")
        size = spec.high - spec.low + 1
        if not 1 <= parsed_step <= size:
            raise _LineError(f"step {step_text} must be between 1 and {size}")
        step = parsed_step
    return _Element(text, frozenset(range(start, end + 1, step)), star, end)


def _parse_field(text: str, spec: _FieldSpec) -> list[_Element]:
    items = text.split(",")
    if any(not item for item in items):
        raise _LineError("empty list item")
    elements: list[_Element] = []
    for item in items:
        try:
            elements.append(_element(item, spec))
        except _LineError as exc:
            if len(items) == 1:
                raise
            raise _LineError(f"{item!r}: {exc}") from None
    return elements


def _compress(values: set[int]) -> str:
    """1,2,3,5 -> '1-3,5'."""
    ordered = sorted(values)
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


def _robfig_day_of_week(elements: list[_Element]) -> str:
    """robfig allows 0-6 only: items that name 7 (Vixie's other Sunday) are rewritten with 0."""
    out: list[str] = []
    for e in elements:
        # '*' and '*/n' mean the same day set in both systems (7 only ever duplicates 0).
        if e.star or e.end != 7:
            out.append(e.text)
        else:
            out.append(_compress({0 if v == 7 else v for v in e.values}))
    return ",".join(out)


def _robfig_star(expression: str) -> bool:
    """Whether robfig/cron counts a day field as unrestricted: an item '*', '?' or '*/1'."""
    for item in expression.split(","):
        base, slash, step = item.partition("/")
        if base in ("*", "?") and (not slash or (_small_int(step) or 0) == 1):
            return True
    return False


def _day_rule_warning(dom: str, dow: str, dom_out: str, dow_out: str) -> str | None:
    vixie_both = dom.startswith("*") or dow.startswith("*")
    robfig_both = _robfig_star(dom_out) or _robfig_star(dow_out)
    if vixie_both == robfig_both:
        return None
    if vixie_both:
        return (
            f"day-of-month {dom!r} and day-of-week {dow!r}: Vixie cron treats a field that starts with '*' "
            "as unrestricted and ran this job only on days matching both fields, but Kubernetes "
            "(robfig/cron) counts '*' with a step other than 1 as restricted and runs it on days matching "
            "either field; check the schedule"
        )
    return (
        f"day-of-month {dom!r} and day-of-week {dow!r}: Vixie cron ran this job on days matching either "
        "field (neither starts with '*'), but Kubernetes (robfig/cron) sees a '*' item and runs it only on "
        "days matching both; check the schedule"
    )


@dataclass(frozen=True)
class _Schedule:
    expression: str
    day_warning: str | None


def _never_runs(expression: str) -> str | None:
    """Why a translated schedule can never fire (e.g. 30 February), or None. The importer's own field
    checks have passed, so the only ScheduleError left is a date that does not exist."""
    try:
        parse(expression)
    except ScheduleError as exc:
        return str(exc)
    return None


def _schedule(fields: list[str]) -> tuple[_Schedule | None, list[str]]:
    parsed: list[list[_Element]] = []
    problems: list[str] = []
    for text, spec in zip(fields, _FIELDS, strict=True):
        try:
            parsed.append(_parse_field(text, spec))
        except _LineError as exc:
            problems.append(f"{spec.label} field {text!r}: {exc}")
    if problems:
        return None, problems
    dow_out = _robfig_day_of_week(parsed[4])
    out = [*fields[:4], dow_out]
    return _Schedule(" ".join(out), _day_rule_warning(fields[2], fields[4], fields[2], dow_out)), []


# --- environment lines ---------------------------------------------------------------------------

# Vixie's load_env: a name (maybe quoted) that stops at blanks or '=', blanks, '=', then the value.
_ENV_LINE = re.compile(r"""[ \t]*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^ \t="']+))[ \t]*=[ \t]*(?P<value>.*)""")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")  # what Kubernetes accepts as an env var name


def _env_value(raw: str) -> str:
    value = raw.rstrip(" \t")
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        if end < 0:
            raise _LineError(f"value {value!r} has no closing {quote}")
        if value[end + 1 :].strip(" \t"):
            raise _LineError(f"unexpected text after the quoted value: {value[end + 1 :].strip()!r}")
        return value[1:end]
    return value


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _zone(variable: str, value: str) -> str | None:
    zone = value.removeprefix(":")  # POSIX lets TZ start with ':' before a zone file name
    if not zone:
        return None
    known = _known_zones()
    if (known and zone not in known) or (not known and not re.fullmatch(r"[A-Za-z0-9_+\-/]+", zone)):
        raise _LineError(f"{variable}={value!r} is not an IANA time zone name (Kubernetes needs one, e.g. Asia/Tokyo)")
    return zone


# --- shell commands ----------------------------------------------------------------------------


_OUTPUT_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", ">&"})
_NOT_FILES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})


def _output_targets(tokens: list[Token]) -> Iterator[tuple[int, str]]:
    """(index, target) of each redirection of output to a file."""
    for i, tok in enumerate(tokens[:-1]):
        if tok.kind != "op" or tok.text.lstrip("0123456789") not in _OUTPUT_REDIRECTS:
            continue
        target = tokens[i + 1]
        if target.kind != "word":
            continue
        if tok.text.endswith(">&") and re.fullmatch(r"[0-9]*-?", target.text):
            continue  # 2>&1, >&-: a descriptor, not a file
        yield i + 1, target.text


_HOST_PATH = re.compile(
    r"(?:^|(?<=[=:,\s(]))(/(?:home|root|etc|tmp|var/(?:tmp|log|spool|lib|run|backups|mail)|run|srv|mnt|media)"
    r"(?:/[^\s:,;'\"`)]*)?)(?=$|[\s:,;'\"`)])"
)


def _command_warnings(command: str) -> list[str]:
    tokens = lex(command)
    targets = [(i, t) for i, t in _output_targets(tokens) if t not in _NOT_FILES and not t.startswith("/dev/fd/")]
    messages: list[str] = []
    if targets:
        files = ", ".join(dict.fromkeys(t for _, t in targets))
        messages.append(
            f"output goes to {files}: on Kubernetes a job's output is kept only from stdout and stderr "
            "(its logs); drop the redirection or mount a volume"
        )
    skip = {i for i, _ in targets}
    paths = [
        m.group(1)
        for i, tok in enumerate(tokens)
        if tok.kind == "word" and i not in skip
        for m in _HOST_PATH.finditer(tok.text)
    ]
    if paths:
        messages.append(
            f"uses host paths {', '.join(dict.fromkeys(paths))}: they must be in the image or mounted into the pod"
        )
    return messages


def _vixie_split(command: str) -> tuple[str, str | None]:
    """Vixie's '%' rule: (command, stdin or None). '\\%' is a literal '%' in both parts."""
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            escaped = False
            if ch == "%":
                out[-1] = "%"  # the backslash gives way to the percent sign
                continue
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            return "".join(out), _vixie_stdin(command[i + 1 :])
        out.append(ch)
    return "".join(out), None


def _vixie_stdin(data: str) -> str | None:
    """What cron wrote to the job's stdin: '%' -> newline, '\\%' -> '%', and a final newline."""
    if not data:
        return None
    out: list[str] = []
    escaped = need_newline = False
    for original in data:
        ch = original
        if escaped:
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        escaped = ch == "\\"
        if not escaped:
            out.append(ch)
            need_newline = ch != "\n"
    if escaped:
        out.append("\\")
    if need_newline:
        out.append("\n")
    return "".join(out)


def _printf(data: str) -> str:
    """A POSIX shell command that writes exactly `data` to stdout."""
    if data.endswith("\n"):
        return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in data[:-1].split("\n"))
    return "printf %s " + shlex.quote(data)


def _feed_stdin(command: str, data: str, shell: str) -> str:
    """A command for `shell` (POSIX) that runs `command` with `data` on its stdin, whatever either holds."""
    feed = _printf(data)
    ops = {t.text for t in lex(command) if t.kind == "op"}
    if command.endswith("\\") or any(op.lstrip("0123456789").startswith("<<") for op in ops):
        # A group would change what a trailing backslash or a here-document reads: nest a shell.
        return f"{feed} | {shlex.quote(shell)} -c {shlex.quote(command)}"
    if "#" in command or command.rstrip(" \t").endswith(("&", ";", "|")):
        # A newline before '}' keeps a trailing comment, '&' or ';' from swallowing or doubling it.
        return f"{feed} | {{ {command}\n}}"
    return f"{feed} | {{ {command}; }}"


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


# --- the import ----------------------------------------------------------------------------------


@dataclass
class _FileState:
    """What env lines have set so far in one file; each job takes a copy."""

    env: dict[str, str] = field(default_factory=dict)
    shell: str = DEFAULT_SHELL
    cron_tz: str | None = None
    tz: str | None = None


@dataclass(frozen=True)
class _Job:
    name: str
    schedule: str
    command: str | list[str]
    zone: str | None
    env: dict[str, str]
    origin: JobOrigin


@dataclass
class _User:
    source: int
    first: Location
    jobs: int = 0


@dataclass
class _Importer:
    jobs: list[_Job] = field(default_factory=list)
    warnings: list[tuple[int, int, Problem]] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    users: dict[str, _User] = field(default_factory=dict)

    def warn(self, index: int, location: Location, message: str) -> None:
        self.warnings.append((index, location.line or 0, Problem(message, location)))

    def read(self, index: int, source: CrontabSource) -> None:
        system = source.system
        if system is None:
            verdict = crontab_format.decide(source.path, list(_entries(source.text)))
            if verdict.problem is not None:
                self.errors.append(verdict.problem)
                return
            system = bool(verdict.system)
        state = _FileState()
        comment: str | None = None
        comment_lines = 0  # lines of the comment block that ends at `comment`
        unzoned: Location | None = None
        jobs_before, errors_before = len(self.jobs), len(self.errors)
        parts = PurePosixPath(source.path).parts
        if system and "cron.d" in parts[:-1] and not re.fullmatch(r"[A-Za-z0-9_-]+", parts[-1]):
            self.warn(
                index,
                Location(source.path),
                "Debian's cron ignores /etc/cron.d files whose names have characters other than letters, "
                "digits, '_' and '-', so these jobs may never have run; imported anyway",
            )
        for lineno, raw in enumerate(source.text.split("\n"), start=1):
            line = raw.removesuffix("\r").lstrip(" \t\v\f")
            preceding, preceding_lines = comment, comment_lines
            comment = None
            if not line.strip():
                comment_lines = 0
                continue
            if line.startswith("#"):
                comment, comment_lines = line[1:].strip(), (preceding_lines + 1 if preceding is not None else 1)
                continue
            comment_lines = 0
            location = Location(source.path, lineno)
            try:
                if "\x00" in line:
                    raise _LineError("the line contains a NUL character")
                env = _ENV_LINE.fullmatch(line)
                if env:
                    self.setting(index, location, state, env)
                    continue
                job = self.job(index, location, system, state, line, (preceding, preceding_lines))
            except _LineError as exc:
                self.errors.append(Problem(str(exc), location))
                continue
            if job is not None and job.zone is None and unzoned is None:
                unzoned = location
        if unzoned is not None:
            self.warn(
                index,
                unzoned,
                "no CRON_TZ or TZ before this job: cron ran it (and any later job of this file without one) "
                "in the host's local time; Kubernetes uses UTC unless spec.defaults.timeZone says otherwise",
            )
        if len(self.jobs) == jobs_before and errors_before == len(self.errors):
            self.warn(index, Location(source.path), "no jobs to import in this file")

    def setting(self, index: int, location: Location, state: _FileState, env: re.Match[str]) -> None:
        name = next(g for g in (env.group("dq"), env.group("sq"), env.group("bare")) if g is not None)
        value = _env_value(env.group("value"))
        if name == "SHELL":
            if not value:
                raise _LineError("SHELL is empty: give the path of a shell, e.g. /bin/bash")
            state.shell = value
        elif name == "CRON_TZ":
            state.cron_tz = _zone(name, value)
        elif name == "MAILTO":
            if value:
                self.warn(
                    index,
                    location,
                    f"MAILTO={value}: cron mailed job output, but no mail is sent on Kubernetes; "
                    "set spec.defaults.notifications (Slack or Sentry) to hear about failures",
                )
        elif not _ENV_NAME.fullmatch(name):
            raise _LineError(f"{name!r} is not a valid environment variable name for Kubernetes")
        else:
            if name == "TZ":
                state.tz = _zone(name, value)
            state.env[name] = value

    def job(
        self,
        index: int,
        location: Location,
        system: bool,
        state: _FileState,
        line: str,
        comment: tuple[str | None, int],
    ) -> _Job | None:
        if line.startswith("@"):
            macro, _, rest = _split_word(line)
            if macro == "@reboot":
                self.warn(
                    index,
                    location,
                    "@reboot runs when a machine starts; there is no such time on Kubernetes, "
                    "so this job is not imported (run it as a Deployment or an init step)",
                )
                return None
            if macro[1:] not in MACROS:
                known = ", ".join("@" + m for m in [*MACROS, "reboot"])
                raise _LineError(f"unknown schedule {macro!r}: use five time fields or one of {known}")
            schedule = _Schedule(MACROS[macro[1:]], None)
        else:
            fields = re.split(r"[ \t]+", line, maxsplit=5)
            if len(fields) < 6 or not fields[5].strip():
                what = "a user and a command" if system else "a command"
                raise _LineError(f"expected five time fields and then {what}, or an environment setting NAME=value")
            parsed, problems = _schedule(fields[:5])
            if parsed is None:
                raise _LineError("; ".join(problems))
            schedule, rest = parsed, fields[5]
            never = _never_runs(schedule.expression)
            if never:
                self.warn(index, location, f"{never}; cron never ran this line either, so it is not imported")
                return None
        user = "root"  # a user crontab's jobs ran as its owner, which the import cannot know
        if system:
            user, _, rest = _split_word(rest)
            if not rest.strip():
                got = f", got only {user!r}" if user else ""
                raise _LineError(f"expected a user and then a command after the schedule{got}")
            if not crontab_format.USER_NAME.fullmatch(user) or user in crontab_format.SHELL_WORDS:
                raise _LineError(
                    f"{user!r} cannot be a user name, but this file is read with a user field after the "
                    "schedule (as in /etc/crontab); if it is a user crontab, give --user"
                )
        raw_command, stdin = _vixie_split(rest)
        command = raw_command.rstrip(" \t") if not raw_command.rstrip(" \t").endswith("\\") else raw_command
        if not command.strip():
            raise _LineError("the command is empty")
        for message in _command_warnings(command):
            self.warn(index, location, message)
        if schedule.day_warning:
            self.warn(index, location, schedule.day_warning)
        if user != "root":
            self.users.setdefault(user, _User(index, location)).jobs += 1
        shell = state.shell
        if stdin is None:
            script = command
        elif PurePosixPath(shell).name in naming.SHELLS or shell == DEFAULT_SHELL:
            script = _feed_stdin(command, stdin, shell)
        else:
            # printf and { } are POSIX shell: feed from /bin/sh and hand the command to the other shell.
            script = f"{_printf(stdin)} | {shlex.quote(shell)} -c {shlex.quote(command)}"
            shell = DEFAULT_SHELL
        name = self.name(comment, command)
        job = _Job(
            name=name,
            schedule=schedule.expression,
            command=script if shell == DEFAULT_SHELL else [shell, "-c", script],
            zone=state.cron_tz or state.tz,
            env=dict(state.env),
            origin=JobOrigin(name, location, user if system else None),
        )
        self.jobs.append(job)
        return job

    def name(self, comment: tuple[str | None, int], command: str) -> str:
        text, lines = comment
        base = naming.comment_name(text, block_lines=lines) or naming.command_name(command) or "job"
        candidate, n = naming.fit(base), 2
        while candidate in self.names:
            candidate, n = naming.fit(base, f"-{n}"), n + 1
        self.names.add(candidate)
        return candidate

    def result(self, sources: list[CrontabSource], name: str, image: str | None, priority: str | None) -> ImportResult:
        if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            self.errors.append(
                Problem(f"name {name!r} is not a valid Kubernetes name: lowercase letters, digits, '-' and '.'")
            )
        if priority is not None and priority not in PRIORITY_ORDER:
            self.errors.append(Problem(f"priority {priority!r} is not one of {', '.join(PRIORITY_ORDER)}"))
        if not self.jobs and not self.errors:
            files = ", ".join(s.path for s in sources) or "no files given"
            self.errors.append(Problem(f"no jobs to import ({files})"))
        for user, seen in self.users.items():
            self.warn(
                seen.source,
                seen.first,
                f"{seen.jobs} job(s) ran as user {user!r} (first here): on Kubernetes a job runs as its "
                "image's user; check file permissions or set a securityContext",
            )
        warnings = [p for _, _, p in sorted(self.warnings, key=lambda w: (w[0], w[1]))]
        if self.errors:
            return ImportResult({}, warnings, self.errors)
        return ImportResult(self.document(name, image, priority), warnings, [], [j.origin for j in self.jobs])

    def document(self, name: str, image: str | None, priority: str | None) -> dict[str, Any]:
        zones = {job.zone for job in self.jobs}
        shared_zone = zones.pop() if len(zones) == 1 else None
        shared_env = dict(self.jobs[0].env)
        for job in self.jobs[1:]:
            shared_env = {k: v for k, v in shared_env.items() if job.env.get(k) == v}
        defaults: dict[str, Any] = {}
        if image:
            defaults["image"] = image
        if shared_zone:
            defaults["timeZone"] = shared_zone
        if shared_env:
            defaults["env"] = shared_env
        jobs: list[dict[str, Any]] = []
        for job in self.jobs:
            item: dict[str, Any] = {"name": job.name, "schedule": job.schedule, "command": job.command}
            if priority is not None:
                item["priority"] = priority
            if job.zone and not shared_zone:
                item["timeZone"] = job.zone
            env = {k: v for k, v in job.env.items() if k not in shared_env}
            if env:
                item["env"] = env
            jobs.append(item)
        spec: dict[str, Any] = {}
        if defaults:
            spec["defaults"] = defaults
        spec["migration"] = {"stage": "low"}
        spec["jobs"] = jobs
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def _entries(text: str) -> Iterator[crontab_format.Entry]:
    """The job lines of a crontab (a valid schedule, then something), as the format decision reads them."""
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").lstrip(" \t\v\f")
        if not line.strip() or line.startswith("#") or "\x00" in line or _ENV_LINE.fullmatch(line):
            continue
        if line.startswith("@"):
            macro, _, rest = _split_word(line)
            if macro[1:] in MACROS or macro == "@reboot":
                yield crontab_format.Entry(lineno, rest)
            continue
        fields = re.split(r"[ \t]+", line, maxsplit=5)
        if len(fields) == 6 and fields[5].strip() and _schedule(fields[:5])[0] is not None:
            yield crontab_format.Entry(lineno, fields[5])


def _split_word(text: str) -> tuple[str, str, str]:
    """First blank-separated word, the blanks, the rest (Vixie separates with spaces and tabs)."""
    match = re.match(r"([^ \t]*)([ \t]*)(.*)", text, re.DOTALL)
    assert match is not None  # the pattern matches any text
    return match.group(1), match.group(2), match.group(3)


def is_valid_job_name(name: str) -> bool:
    """A DNS-1123 label within the CronJob limit: what every imported job name satisfies."""
    return len(name) <= MAX_JOB_NAME and DNS_LABEL.match(name) is not None
