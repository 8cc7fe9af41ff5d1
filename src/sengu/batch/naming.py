"""Job names for imported crontab lines: from a short comment above the line, else from the program it runs.

Pure. A name is a slug (lowercase ASCII letters, digits, '-') that `fit` keeps within the CronJob limit;
the importer makes names unique. What "the program it runs" means for a cron command:

- shell keywords (`if … then … fi`, `for`, `while`, `{ … }`, `!`) are syntax, not programs;
- guards and housekeeping (`test`, `[ … ]`, `command -v`, `pgrep`, `cd`, `echo`, `sleep`…) name a job only when
  nothing else is there;
- wrappers (`nice`, `ionice`, `timeout N`, `flock LOCK`, `env A=b`, `sudo -u U`, `chronic`…) and
  environment assignments run the program after them;
- interpreters (`sh -c`, `bash`, `perl -w`, `python3 -u`, `php -d x=y`) run the script after their options;
  inline code (`perl -e`, `python3 -c`) names a job only when nothing else is there;
- `run-parts DIR` runs a directory: the job is named after the directory (`/etc/cron.daily` → `cron-daily`);
- a script with a generic name inside a package's own directory keeps the package as a prefix
  (`/usr/share/awstats/tools/update.sh` → `awstats-update`).

Up to two short arguments follow the program (`artisan schedule:run` → `artisan-schedule-run`, `backup --full`
→ `backup-full`), up to its first short option.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from sengu.batch.shell import lex, simple_commands
from sengu.batch.spec import MAX_JOB_NAME

HASH_LENGTH = 8
MAX_COMMENT_WORDS = 6  # longer comments are prose about the job, not its name

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Programs that run another program: (options that take a value, positional arguments before it).
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "--class", "--classdata"}), 0),
    "nohup": (frozenset(), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "flock": (frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}), 1),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
    "sudo": (frozenset({"-u", "-g", "--user", "--group"}), 0),
    "chronic": (frozenset(), 0),
    "exec": (frozenset(), 0),
    "time": (frozenset(), 0),
    "command": (frozenset(), 0),
    "setsid": (frozenset(), 0),
    "run-one": (frozenset(), 0),
    "npx": (frozenset(), 0),
    "nocache": (frozenset(), 0),
    "cronic": (frozenset(), 0),
}
# Programs whose `-c CMD` runs a shell command: (options that take a value).
_COMMAND_OPTION: dict[str, frozenset[str]] = {
    "su": frozenset({"-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w"}),
    "flock": frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}),
}
_RUNNERS = frozenset({("bundle", "exec"), ("poetry", "run"), ("pipenv", "run"), ("uv", "run")})
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
# Interpreters and their options that take a value (the value is not the script).
_INTERPRETERS: dict[str, frozenset[str]] = {
    **{shell: frozenset({"-o", "+o", "-O", "+O"}) for shell in SHELLS},
    "python": frozenset({"-W", "-X", "-Q"}),
    "python2": frozenset({"-W", "-X", "-Q"}),
    "python3": frozenset({"-W", "-X"}),
    "php": frozenset({"-d", "-c", "-z"}),
    "ruby": frozenset({"-I", "-r", "-C", "-E"}),
    "perl": frozenset({"-I", "-M", "-m"}),
    "node": frozenset({"-r", "--require"}),
    "nodejs": frozenset({"-r", "--require"}),
}
_INLINE_CODE = frozenset({"-c", "-e", "-r", "-E"})
# Words that start a compound command: the program, if any, comes after them.
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac", "!", "{", "}"})
# Compound commands whose first simple command holds no program (a loop variable, a case subject).
_HEADERS = frozenset({"for", "case", "select", "function"})
_NOISE = frozenset({"cd", "test", "[", "[[", "true", "false", ":", "sleep", "export", "set", "umask",
                    "source", ".", "ulimit", "echo", "printf", "exit", "return", "wait", "read", "shift",
                    "trap", "local", "unset", "pgrep", "pidof"})  # fmt: skip
_SCRIPT_SUFFIXES = (".sh", ".bash", ".py", ".rb", ".pl", ".php", ".js")
# A package's own directories: the component after them names the package.
_PACKAGE_HOMES = re.compile(r"/(?:usr/(?:local/)?(?:share|lib|libexec)|opt|etc)/(?:[^/]*-linux-[^/]*/)?([^/]+)/")
_NOT_PACKAGES = frozenset({"bin", "sbin", "lib", "libexec", "share", "local", "scripts", "tools", "site", "cron"})
_RUN_PARTS_VALUES = frozenset({"-a", "--arg", "-u", "--umask", "--regex"})
_HEADER_COMMENT = re.compile(r"m\s+h\s+dom\s+mon\s+dow\b", re.IGNORECASE)
_ENV_LINE = re.compile(r"""[ \t]*(?:"[^"]*"|'[^']*'|[^ \t="']+)[ \t]*=""")
_FIELD_LIKE = re.compile(r"[0-9*/,\-A-Za-z]+")
_MACROS = frozenset({"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})

# How good a candidate is, best first.
_PROGRAM, _INLINE, _GUARD = 0, 1, 2


def slug(text: str) -> str:
    """Lowercase ASCII letters and digits joined by single '-' (accents dropped, everything else a '-')."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def fit(base: str, suffix: str = "") -> str:
    """`base + suffix` within the limit; a cut base ends in '-' + a hash of all of it."""
    if len(base) + len(suffix) <= MAX_JOB_NAME:
        return base + suffix
    digest = hashlib.sha256(base.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    keep = MAX_JOB_NAME - len(suffix) - HASH_LENGTH - 1
    return f"{base[:keep].rstrip('-')}-{digest}{suffix}"


def comment_name(comment: str | None, *, block_lines: int = 1) -> str:
    """The name a comment right above a job gives it, or '' when the comment is not a name.

    Only a comment of one line and a few words reads as a name: a paragraph above a job explains it
    (Debian's cron.d files end their explanations right above the line).
    """
    if not comment or block_lines != 1 or len(comment.split()) > MAX_COMMENT_WORDS:
        return ""
    if _HEADER_COMMENT.match(comment) or _ENV_LINE.match(comment) or _looks_like_entry(comment):
        return ""
    return slug(comment)


def command_name(command: str) -> str:
    """The name of the program a cron command runs, with up to two short arguments; '' if none."""
    return _best(command, depth=0)[2]


def program(word: str) -> str:
    """A program's name from the word that runs it: its last path part without a script suffix."""
    base = word.rstrip("/").rsplit("/", 1)[-1]
    for suffix in _SCRIPT_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


def _looks_like_entry(text: str) -> bool:
    words = text.split()
    if words and words[0] in _MACROS:
        return True
    return (
        len(words) >= 6
        and all(_FIELD_LIKE.fullmatch(w) for w in words[:5])
        and all(re.search(r"[0-9*]", w) for w in words[:2])
    )


def _best(command: str, depth: int) -> tuple[int, str, str]:
    """(rank, program, name) of the best simple command in `command`."""
    candidates = [c for words in simple_commands(lex(command)) if (c := _candidate(words, depth))[2]]
    if not candidates:
        return _GUARD, "", ""
    best = min(c[0] for c in candidates)
    return next(c for c in candidates if c[0] == best)


def _shell_option_command(words: list[str], i: int) -> str | None:
    """The command string of `-c CMD` (also '-lc', '--command') at words[i], if that is what it is."""
    opt = words[i]
    takes_command = opt == "--command" or (opt.startswith("-") and not opt.startswith("--") and "c" in opt[1:])
    return words[i + 1] if takes_command and i + 1 < len(words) else None


def _candidate(words: list[str], depth: int) -> tuple[int, str, str]:
    """(rank, program, name) for one simple command."""
    i = 0
    while i < len(words) and words[i] in _KEYWORDS:
        i += 1
    if i < len(words) and words[i] in _HEADERS:
        return _GUARD, "", ""
    while i < len(words) and _ASSIGNMENT.match(words[i]):
        i += 1
    while i < len(words):
        name = program(words[i])
        if name == "command" and i + 1 < len(words) and words[i + 1] in ("-v", "-V"):
            return _GUARD, name, slug(name)  # `command -v X`: a check that X exists
        if name in _COMMAND_OPTION:
            inner = _command_option(words, i + 1, _COMMAND_OPTION[name])
            if inner is not None and depth < 2:
                return _best(inner, depth + 1)
        if name in _WRAPPERS:
            with_value, positionals = _WRAPPERS[name]
            i += 1
            while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i]) or positionals):
                if not words[i].startswith("-") and not _ASSIGNMENT.match(words[i]):
                    positionals -= 1
                i += 2 if words[i] in with_value else 1
            continue
        if (name, words[i + 1] if i + 1 < len(words) else "") in _RUNNERS:
            i += 2
            continue
        break
    if i >= len(words):
        return _GUARD, "", ""
    word, args = words[i], words[i + 1 :]
    name = program(word)
    if name == "run-parts":
        return _PROGRAM, name, _run_parts(args)
    if name in _INTERPRETERS:
        with_value = _INTERPRETERS[name]
        j = 0
        while j < len(args) and args[j].startswith(("-", "+")) and args[j] not in ("-", "--"):
            inner = _shell_option_command(args, j) if name in SHELLS else None
            if inner is not None:
                if depth < 2:
                    return _best(inner, depth + 1)
                return _INLINE, name, slug(name)
            if args[j] in _INLINE_CODE:
                return _INLINE, name, slug(name)  # inline code: the interpreter is all there is to name
            if args[j] == "-m" and name.startswith("python"):
                break
            j += 2 if args[j] in with_value else 1
        if j < len(args) and args[j] == "-m":
            word, args = args[j + 1] if j + 1 < len(args) else name, args[j + 2 :]
            name = word
        elif j < len(args):
            j += 1 if args[j] == "--" else 0
            if j < len(args):
                word, args = args[j], args[j + 1 :]
                name = program(word)
    parts = [name]
    for arg in args:
        if len(parts) == 3:
            break
        if arg.startswith("--"):
            arg = arg[2:].partition("=")[0]
        elif arg.startswith("-"):
            break  # what follows a short option is mostly its value (`-n 10`, `-type f`), not a subcommand
        if not arg or len(arg) > 24 or re.search(r"[/$`=\s]", arg) or not slug(arg) or slug(arg).isdigit():
            continue
        parts.append(arg)
    rank = _GUARD if name in _NOISE else _PROGRAM
    return rank, name, _with_package(word, slug("-".join(parts)))


def _command_option(words: list[str], start: int, values: frozenset[str]) -> str | None:
    """The CMD of `su [options] USER -c CMD` or `flock [options] LOCK -c CMD`: options up to one positional."""
    positionals = 0
    j = start
    while j < len(words):
        inner = _shell_option_command(words, j)
        if inner is not None:
            return inner
        if not words[j].startswith("-"):
            positionals += 1
            if positionals > 1:
                return None
        j += 2 if words[j] in values else 1
    return None


def _run_parts(args: list[str]) -> str:
    """`run-parts [options] DIR`: named after the directory it runs (`/etc/cron.daily` → `cron-daily`)."""
    directory = ""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _RUN_PARTS_VALUES:
            skip = True
        elif not arg.startswith("-"):
            directory = arg
    return slug(program(directory) if "/" in directory else directory) or "run-parts"


def _with_package(word: str, name: str) -> str:
    """`name` with the package whose own directory holds the program in front, unless it already says it."""
    match = _PACKAGE_HOMES.match(word)
    if match is None or not name:
        return name
    package = match.group(1)
    if package in _NOT_PACKAGES or "." in package or not slug(package):
        return name
    prefix = slug(package)
    return name if f"-{prefix}-" in f"-{name}-" else f"{prefix}-{name}"
