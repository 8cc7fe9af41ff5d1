"""Does a crontab have a user field? Decided from all of its job lines, never from its path.

Pure. System crontabs (/etc/crontab, /etc/cron.d/*) have a user between the schedule and the command; user
crontabs (`crontab -e`) do not. A file copied off its host keeps nothing of its path, and a fixed list of
account names cannot know the host's accounts, so each job line is read for what the word after its
schedule can be:

- the command (the line reads "user format"): the word cannot be a user name (a path, `$HOME/…`, quotes)
  or is a script (`backup.sh`, or a dotted word not followed by a command), nothing follows it, it is
  a shell word (`if`, `[`, `echo`…) or a well-known program (`php`, `curl`…), or an option follows it
  (`backup --full`);
- a user (the line reads "system format"): it is `root`, or it is a plausible user name followed by what
  starts a command: a program's path (`/usr/bin/…`, `…/cron.php`), a shell word, an assignment
  (`dir=$(…)`), a well-known program;
- either: a plausible user name followed by another plain word (`deploy rotate-logs`) or by a path that
  may be a program's argument (`backup /srv/data`, `ansible-playbook /etc/site.yml`), a program that is
  also a common account (`git /usr/local/bin/sync`), or a dotted name followed by a command
  (`john.doe /usr/bin/report`).

A file is in system format when some line reads so and none reads as user format, and the other way round.
A file with lines of both kinds, or with only lines that read either way, cannot be decided: the caller
stops with a located error that names `--system` and `--user`. A command is never changed on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sengu.core.errors import Location, Problem

# POSIX-ish account names, as useradd accepts them (Debian's own accounts include upper case:
# Debian-exim). A dot is allowed (john.doe) but makes a name weak evidence: `backup.sh` is a script.
USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}\$?")
_SCRIPT = re.compile(r".+\.(?:sh|bash|py|pl|rb|php|js|cgi|awk)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_FIRST_WORD = re.compile(r"[ \t]*([^ \t]*)[ \t]*(.*)", re.DOTALL)

# Shell keywords and builtins: no account is named so, and a command often starts with one.
SHELL_WORDS = frozenset({
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "select",
    "function", "time", "!", "{", "}", "(", "[", "[[", "test", "cd", "echo", "printf", "exec", "command",
    "export", "set", "unset", "source", ".", ":", "true", "false", "eval", "umask", "ulimit", "sleep",
    "read", "wait", "trap", "exit", "return", "builtin", "type", "hash", "kill", "nohup",
})  # fmt: skip

# Programs often run from cron by their bare name. Names that are also common accounts (backup, list,
# news, proxy, sync, games, man) are left out on purpose: they decide nothing. `mail` is in: as the word
# after a schedule it is far more often `mail -s …` than the account.
PROGRAMS = frozenset({
    "sh", "bash", "dash", "zsh", "ksh", "python", "python2", "python3", "perl", "php", "ruby", "node",
    "nodejs", "java", "env", "nice", "ionice", "timeout", "flock", "sudo", "su", "run-parts", "chronic",
    "cronic", "setsid", "xargs", "curl", "wget", "rsync", "scp", "ssh", "find", "tar", "gzip", "gunzip",
    "bzip2", "xz", "zstd", "rm", "cp", "mv", "ln", "mkdir", "touch", "chmod", "chown", "cat", "grep",
    "sed", "awk", "tee", "head", "tail", "sort", "uniq", "wc", "cut", "date", "expr", "logger", "du",
    "df", "mysql", "mysqldump", "mysqlcheck", "psql", "pg_dump", "pg_dumpall", "vacuumdb", "redis-cli",
    "mongodump", "sqlite3", "docker", "kubectl", "git", "make", "npm", "npx", "yarn", "bundle", "rake",
    "rails", "composer", "drush", "wp", "certbot", "systemctl", "service", "invoke-rc.d", "logrotate",
    "updatedb", "ntpdate", "apt", "apt-get", "aptitude", "fstrim", "mail", "mailx", "sendmail",
})  # fmt: skip

# Programs in PROGRAMS that are also accounts on many hosts (Gitea and GitLab run as `git`; Debian has `mail`
# and `mysql`): the word alone decides nothing.
ACCOUNTS_TOO = frozenset({"git", "docker", "mail", "mysql", "sendmail"})
# Folders programs are kept in: a path through one of them names a program.
_PROGRAM_DIRS = frozenset({"bin", "sbin", "libexec", "cron", "scripts", "script"})
_PROGRAM_TREES = ("/usr/lib/", "/usr/local/lib/", "/lib/", "/usr/share/", "/usr/local/share/")  # not /var/lib

Reading = Literal["user", "system", "either"]


@dataclass(frozen=True)
class Entry:
    """A job line: its number and the text after its schedule (`root cd / && …`)."""

    line: int
    after_schedule: str


@dataclass(frozen=True)
class LineReading:
    line: int
    word: str  # the word after the schedule
    rest: str  # what follows it
    reading: Reading
    why: str  # for messages: why the line reads so


@dataclass(frozen=True)
class Format:
    """The verdict for one file: `system` is None when it cannot be decided, and `problem` says why."""

    system: bool | None
    problem: Problem | None = None


def read_line(entry: Entry) -> LineReading:
    """What the word after one line's schedule can be."""
    match = _FIRST_WORD.match(entry.after_schedule)
    assert match is not None  # the pattern matches any text
    word, rest = match.group(1), match.group(2).rstrip(" \t")

    def reads(reading: Reading, why: str) -> LineReading:
        return LineReading(entry.line, word, rest, reading, why)

    if not rest:
        return reads("user", f"{word!r} is the whole command (nothing follows it)")
    if not USER_NAME.fullmatch(word):
        return reads("user", f"{word!r} cannot be a user name")
    if word in SHELL_WORDS:
        return reads("user", f"{word!r} is a shell word")
    if word in PROGRAMS and word not in ACCOUNTS_TOO:
        return reads("user", f"{word!r} is a program")
    first = rest.split()[0]
    if first.startswith("-"):
        return reads("user", f"an option follows {word!r}")
    if "." in word:
        if _SCRIPT.fullmatch(word) or not _starts_a_command(first):
            return reads("user", f"{word!r} is a script")
        return reads("either", "")
    if word == "root":
        return reads("system", "'root' is the user")
    if _starts_a_command(first) and (not first.startswith("/") or _runnable_path(first)):
        return reads("system", f"{word!r} is followed by a command")
    return reads("either", "")


def decide(path: str, entries: list[Entry]) -> Format:
    """The format of a file from all its job lines (see the module's docstring)."""
    readings = [read_line(e) for e in entries]
    user = next((r for r in readings if r.reading == "user"), None)
    system = next((r for r in readings if r.reading == "system"), None)
    if user is not None and system is not None:
        message = (
            f"cannot tell whether this file has a user field: on this line {user.why}, so there is none, but "
            f"line {system.line} reads as user {system.word!r} running {_short(system.rest)!r}; "
            "give --system (a user field after the schedule, as in /etc/crontab and /etc/cron.d) "
            "or --user (none, as in `crontab -e`)"
        )
        return Format(None, Problem(message, Location(path, user.line)))
    if system is not None:
        return Format(True)
    if user is not None or not readings:
        return Format(False)
    first = readings[0]
    message = (
        f"cannot tell whether {first.word!r} is the user this job ran as or the program it runs "
        f"({_short(first.word + ' ' + first.rest)!r}), and no line of this file tells; give --system (a user "
        "field after the schedule, as in /etc/crontab and /etc/cron.d) or --user (none, as in `crontab -e`)"
    )
    return Format(None, Problem(message, Location(path, first.line)))


def _runnable_path(path: str) -> bool:
    """A path that names a program (`/usr/bin/x`, `/opt/app/cron.php`), not a program's argument (`/etc/site.yml`,
    `/srv/data`): after a plausible user name, only the first makes the line read as a user and a command."""
    parts = path.split("/")
    return (
        _SCRIPT.fullmatch(parts[-1]) is not None
        or any(part in _PROGRAM_DIRS for part in parts[:-1])
        or path.startswith(_PROGRAM_TREES)
    )


def _starts_a_command(word: str) -> bool:
    return (
        word.startswith(("/", "~/", "./", "../", "$HOME/", "${HOME}/"))
        or word in SHELL_WORDS
        or word in PROGRAMS
        or _ASSIGNMENT.match(word) is not None
    )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
