"""Access-log formats: nginx (`combined`, `common`, or any `log_format` string) and AWS ALB access logs.

A format is one compiled regular expression whose groups are always, in this order: method, target, args,
status, latency, time, host — a field the format does not log is an empty group that matches nothing, so
the reading loop takes `m.group(*indices)` from every line without asking which format it is (one regex
call and one tuple per line). Latency and time stay the raw strings of the log and are converted once per
distinct value (`latency_ms`, `epoch`), not once per line.

A line that does not match is not an error: `why` says what is wrong with it (the request line, the
status, the time, or the shape of the whole line) for the parse report. nginx escapes `"` in logged
variables as `\\x22`, so a quoted field ends at the next `"` — except in a JSON log format
(`escape=json`, or a format that is a JSON object), where a value is read as a JSON string: `\\"` inside
does not end it.

What nginx logged is not what the client sent: it writes a non-ASCII or unsafe byte of `$request` as
`\\xHH` (and with `escape=json`, `\\"`, `\\\\`, `\\u00HH`). `unescape` turns a target back into what was
sent — `/blog/caf\\xC3\\xA9` → `/blog/café` — once per distinct target, before templating, so the replay
reaches the path nginx saw (the engine percent-encodes non-ASCII as a browser would; nginx decodes it to
the same `$uri`). Bytes that are not UTF-8, and control characters, stay percent-encoded (`%E9`).
"""

from __future__ import annotations

import calendar
import codecs
import functools
import io
import itertools
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NamedTuple

from sengu.core.errors import Location, UserError

GROUPS = ("m", "t", "a", "s", "l", "ts", "h")

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'


# Lines read to recognise a file's format, and how many failures in a row with nothing parsed
# before a file is declared not a log (so a 2 GB binary is not read to the end to say so).
DETECT_LINES = 100
GIVE_UP_AFTER = 1000
EXAMPLES = 5

_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_MAX_EPOCH = 253402300800
_QUOTED_PIECES = re.compile(r"(?:\s*'[^']*')+\s*")
_NUM = r"\d+(?:\.\d+)?"
_METHOD = r"[A-Za-z][A-Za-z_-]*"

# Strict value patterns of the variables whose shape we know (what a line must have to be a record);
# any other variable is whatever lies before the next literal character of the format.
_TYPED: dict[str, tuple[str, str]] = {
    "status": (r"\d{3}", "a 3-digit status"),
    "request_method": (_METHOD, "an HTTP method"),
    "request_time": (rf"{_NUM}|-", "a number of seconds"),
    "upstream_response_time": (rf"(?:{_NUM}|-)(?:(?:, | : )(?:{_NUM}|-))*", "a number of seconds"),
    "time_local": (r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}", "a time like 10/Oct/2000:13:55:36 -0700"),
    "time_iso8601": (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)?", "an ISO 8601 time"),
    "msec": (r"\d+\.\d+", "seconds since the epoch"),
}


class Record(NamedTuple):
    """One request as logged. `target` is path and query as sent; latency and time are None if not logged."""

    method: str
    target: str
    status: str
    latency_ms: float | None
    time: int | None  # seconds since the epoch (UTC)
    host: str


@dataclass(frozen=True)
class LogFormat:
    """A compiled access-log format."""

    name: str
    pattern: re.Pattern[str]
    loose: re.Pattern[str]  # the same shape with every field free: tells which field made a line fail
    checks: tuple[tuple[str, re.Pattern[str], str], ...]  # (loose group, strict pattern, what it should be)
    logged: frozenset[str]  # the GROUPS this format captures; the others are always empty
    escaped: bool = True  # values carry nginx's escapes (\xHH, or JSON's): targets go through `unescape`
    indices: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(self.pattern.groupindex[g] for g in GROUPS))

    @property
    def logs_method(self) -> bool:
        """False when the format logs no method: every request then counts as a GET."""
        return "m" in self.logged

    @property
    def logs_latency(self) -> bool:
        return "l" in self.logged

    @property
    def logs_time(self) -> bool:
        return "ts" in self.logged

    @property
    def logs_host(self) -> bool:
        return "h" in self.logged

    def raw(self, line: str) -> tuple[str, ...] | None:
        """The raw groups (method, target, args, status, latency, time, host) of a line, or None."""
        m = self.pattern.match(line)
        return None if m is None else m.group(*self.indices)

    def parse(self, line: str) -> Record | None:
        """One line as a Record, or None when it is not a request line of this format. Never raises."""
        raw = self.raw(line)
        if raw is None:
            return None
        method, target, args, status, latency, time, host = raw
        if args and args != "-":
            target = f"{target}?{args}"
        if self.escaped:
            target = unescape(target)
        return Record(method or "GET", target or "/", status, latency_ms(latency), epoch(time), host.lower())

    def why(self, line: str) -> tuple[str, str]:
        """(reason, detail) for a line `pattern` does not match: the reason groups the report's counts."""
        text = line.rstrip("\r\n")
        if not text.strip():
            return "blank line", ""
        m = self.loose.match(text)
        if m is None:
            return f"does not match the {self.short_name} format", excerpt(text)
        for group, strict, expected in self.checks:
            value = m.group(group)
            if value is not None and not strict.fullmatch(value):
                return f"{_label(group)} is not {expected}", excerpt(value)
        return f"does not match the {self.short_name} format", excerpt(text)

    @property
    def short_name(self) -> str:
        return "nginx log_format" if self.name.startswith("nginx:") else self.name


def latency_ms(raw: str) -> float | None:
    """Milliseconds from a logged latency in seconds, or None when there is none.

    Every format's latency reads the same way: nginx's `0.123`; nginx's upstream times, one per upstream
    tried (`0.010, 0.020`, ` : ` between internal redirects: the request waited for all of them, so they
    add up); ALB's `-1` when no target answered.
    """
    if not raw or raw == "-":
        return None
    try:
        if "," in raw or ":" in raw:
            parts = [float(p) for p in re.split(r"\s*[,:]\s*", raw) if p and p != "-"]
            if not parts:
                return None
            value = sum(parts)
        else:
            value = float(raw)
    except ValueError:
        return None
    if not 0 <= value < 1e9:  # also false for NaN
        return None
    return round(value * 1000, 3)


def epoch(raw: str) -> int | None:
    """Seconds since the epoch (UTC) from a logged time of any format, or None.

    The shapes tell the formats apart: `10/Oct/2000:13:55:36 -0700` ($time_local), `1700000000`
    ($msec, whole seconds), `2000-10-10T13:55:36+09:00` ($time_iso8601; without an offset, as ALB's
    time is cut to the second, it is UTC).
    """
    if not raw:
        return None
    try:
        if raw.isdigit():
            t = int(raw) if len(raw) <= 12 else -1
        elif len(raw) >= 26 and raw[2] == "/":
            t = _epoch_local(raw)
        elif len(raw) >= 19 and raw[10] == "T":
            d = datetime.fromisoformat(raw)
            t = int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp())
        else:
            return None
    except (ValueError, KeyError, OverflowError, IndexError):
        return None
    # Within what datetime can print back (years 1970–9999).
    return t if 0 <= t < _MAX_EPOCH else None


def _epoch_local(raw: str) -> int:
    # 10/Oct/2000:13:55:36 -0700
    day, mon, year = int(raw[0:2]), _MONTHS[raw[3:6]], int(raw[7:11])
    hh, mm, ss = int(raw[12:14]), int(raw[15:17]), int(raw[18:20])
    datetime(year, mon, day, hh, mm, min(ss, 59))  # raises ValueError for 31/Feb and the like
    sign = -1 if raw[21] == "-" else 1
    offset = sign * (int(raw[22:24]) * 3600 + int(raw[24:26]) * 60)
    return calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0)) - offset


_ESCAPE = re.compile(r'\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|(["\\/bfnrt]))')
_JSON_CHAR = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# What cannot go into a request line as it is: control characters, and bytes that were not UTF-8 (held
# as lone surrogates by surrogateescape).
_UNSENDABLE = re.compile("[\x00-\x1f\x7f\udc80-\udcff]+")


def unescape(text: str) -> str:
    """A logged value with nginx's escapes turned back into what the client sent.

    `\\xHH` is a byte (nginx's default escaping of `"`, `\\`, control and non-ASCII bytes); `\\"`, `\\\\`,
    `\\uXXXX`… are JSON's (`escape=json`). Each escaping never writes the other's escapes, so one decoder
    reads both. The bytes are read as UTF-8; what is not UTF-8, and control characters, come back
    percent-encoded, so the result is text a request line can carry.
    """
    if "\\" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos : m.start()].encode("utf-8", "surrogateescape")
        byte, code, char = m.groups()
        if byte is not None:
            out.append(int(byte, 16))
        elif code is not None:
            out += chr(int(code, 16)).encode("utf-8", "surrogatepass")
        else:
            out += _JSON_CHAR[char].encode("ascii")
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    decoded = bytes(out).decode("utf-8", "surrogateescape")
    return _UNSENDABLE.sub(_percent, decoded)


def _percent(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogateescape"))


def excerpt(text: str, limit: int = 60) -> str:
    cut = text if len(text) <= limit else text[:limit] + "…"
    return f"'{cut}'" if cut.isprintable() else repr(cut)


def _label(group: str) -> str:
    if group == "request":
        return "the request line"
    if group == "alb_request":
        return "the request"
    if group.startswith("v_"):
        return "$" + group[2:]
    return group.replace("_", " ")


# --------------------------------------------------------------------------------------------------
# nginx log_format → regex


def _clean_format(text: str) -> tuple[str, str]:
    """The format string as the user pasted it, and its escaping (default, json or none): accept
    `log_format main escape=json '…' '…';`, quoted pieces, and `escape=…` before the string."""
    s = text.strip().rstrip(";").strip()
    escape = "default"
    if s.startswith("log_format"):
        words = s.split(None, 2)
        s = words[2] if len(words) == 3 else ""
    while s.startswith("escape=") or s.startswith("if="):
        word, _, s = s.partition(" ")
        s = s.lstrip()
        if word.startswith("escape="):
            escape = word.removeprefix("escape=")
    # Only single quotes: a format may itself start with a double-quoted field ("$request" …).
    if _QUOTED_PIECES.fullmatch(s):
        s = "".join(re.findall(r"'([^']*)'", s))
    return s, escape


# A JSON string's content: anything but `"`, `\` and newlines, or a backslash escape (unrolled: fast).
_JSON_STRING = r'[^"\\\n]*(?:\\.[^"\\\n]*)*'


def _stop(follow: str | None, json: bool = False) -> str:
    """A pattern for a free field: everything up to the next literal character of the format."""
    if follow is None:
        return r"[^\n]*"
    if follow == "":
        return ".*?"
    if json and follow == '"':
        return _JSON_STRING
    return f"[^{re.escape(follow)}\\n]*"


def compile_nginx(text: str, *, name: str | None = None, strict_end: bool = True) -> LogFormat:
    """Compile an nginx `log_format` string. Raises UserError when it logs no request target.

    Understood: $request, $request_method, $request_uri, $uri, $args/$query_string, $status,
    $time_local, $time_iso8601, $msec, $request_time, $upstream_response_time, $host, $http_host.
    Other variables are skipped fields. `strict_end` False lets lines carry fields after the format's
    last one (the named formats: many setups append to `combined`).
    """
    fmt, escape = _clean_format(text)
    if escape not in ("default", "json", "none"):
        raise UserError(f"log format: escape={escape} is not one of nginx's (default, json, none)")
    # A format that is a JSON object is read as JSON even when the escape= was not pasted with it: with
    # nginx's default escaping its values hold no backslash-quote, so reading them as JSON strings is safe.
    json = escape == "json" or (fmt.startswith("{") and fmt.endswith("}"))
    tokens: list[tuple[str, str]] = []  # ("lit", text) or ("var", name)
    pos = 0
    for m in _VAR.finditer(fmt):
        if m.start() > pos:
            tokens.append(("lit", fmt[pos : m.start()]))
        tokens.append(("var", m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(fmt):
        tokens.append(("lit", fmt[pos:]))
    names = [v for kind, v in tokens if kind == "var"]
    label = name or f"nginx:{fmt}"
    if not names:
        raise UserError(f"log format {fmt!r} has no $variables; give the log_format string of your nginx config")

    role: dict[str, str] = {}  # variable → group it fills

    def claim(group: str, *candidates: str) -> str | None:
        for c in candidates:
            if c in names and c not in role:
                role[c] = group
                return c
        return None

    if claim("request", "request"):
        target_via = "request"
    elif claim("t", "request_uri"):
        target_via = "request_uri"
    elif claim("t", "uri", "document_uri"):
        target_via = "uri"
        claim("a", "args", "query_string")
    else:
        raise UserError(
            f"log format {fmt!r} logs no request target: it needs $request, $request_uri or $uri",
        )
    if target_via != "request":
        claim("m", "request_method")
    claim("s", "status")
    claim("l", "request_time", "upstream_response_time")
    claim("ts", "msec", "time_iso8601", "time_local")
    claim("h", "host", "http_host")

    strict: list[str] = []
    loose: list[str] = []
    checks: list[tuple[str, re.Pattern[str], str]] = []
    seen: set[str] = set()
    for i, (kind, value) in enumerate(tokens):
        if kind == "lit":
            strict.append(re.escape(value))
            loose.append(re.escape(value))
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        follow = None if nxt is None else (nxt[1][0] if nxt[0] == "lit" else "")
        free = _stop(follow, json)
        group = role.get(value) if value not in seen else None
        seen.add(value)
        if group == "request":
            if follow == '"' and json:
                req = rf'(?P<m>{_METHOD}) (?P<t>(?:[^ "\\]|\\.)+)(?: {_JSON_STRING})?'
            elif follow == '"':
                req = rf'(?P<m>{_METHOD}) (?P<t>[^ "]+)(?: [^"]*)?'
            else:
                req = rf"(?P<m>{_METHOD}) (?P<t>[^\s{re.escape(follow or ' ')}]+)(?: HTTP/[0-9.]+)?"
            strict.append(req)
            loose.append(f"(?P<request>{free})")
            checks.append(("request", re.compile(req), "'METHOD /path PROTOCOL'"))
            continue
        typed = _TYPED.get(value)
        if group is None:
            strict.append(f"(?:{typed[0]})" if typed else free)
            loose.append(free)
            continue
        if value == "msec":
            strict.append(r"(?P<ts>\d+)\.\d+")
        elif typed:
            strict.append(f"(?P<{group}>{typed[0]})")
        else:
            strict.append(f"(?P<{group}>{free})")
        loose.append(f"(?P<v_{value}>{free})")
        if typed:
            checks.append((f"v_{value}", re.compile(typed[0]), typed[1]))
    captured = set(role.values()) | ({"m", "t"} if "request" in role.values() else set())
    missing = "".join(f"(?P<{g}>)" for g in GROUPS if g not in captured)
    end = r"\r?$" if strict_end else ""
    try:
        pattern, loose_pattern = re.compile(missing + "".join(strict) + end), re.compile("".join(loose) + end)
    except re.error as exc:  # a variable name Python cannot use as a group name, or the like
        raise UserError(f"cannot read log format {fmt!r}: {exc}") from None
    return LogFormat(
        name=label,
        pattern=pattern,
        loose=loose_pattern,
        checks=tuple(checks),
        logged=frozenset(captured & set(GROUPS)),
        escaped=escape != "none",
    )


# --------------------------------------------------------------------------------------------------
# AWS Application Load Balancer
#
# type time elb client:port target:port request_processing_time target_processing_time
# response_processing_time elb_status_code target_status_code received_bytes sent_bytes "request"
# "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" … — the request is
# "METHOD scheme://host:port/path?query PROTOCOL"; a time is -1 when no target answered.

_ALB_TYPE = r"(?:https?|h2|grpcs|wss?)"
_ALB_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
_ALB_REQUEST = rf'(?P<m>{_METHOD}) [A-Za-z0-9+.-]+://(?P<h>[^/ "]*)(?P<t>[^ "]*) [^"]*'


def _alb() -> LogFormat:
    # Times are cut to 0.1 ms by the pattern itself: ALB logs microseconds, and a million distinct values
    # would cost more to count and convert than the percentiles gain.
    strict = (
        rf"(?P<a>)(?P<type>{_ALB_TYPE}) (?P<ts>{_ALB_TIME})\S* \S+ \S+ \S+ -?[\d.]+ "
        rf"(?P<l>-?\d+(?:\.\d{{1,4}})?)\d* -?[\d.]+ "
        rf'(?P<s>\d{{3}}|-) \S+ \S+ \S+ "{_ALB_REQUEST}"'
    )
    loose = (
        r"(?P<type>\S+) (?P<time>\S+) \S+ \S+ \S+ \S+ (?P<target_processing_time>\S+) \S+ "
        r'(?P<status>\S+) \S+ \S+ \S+ "(?P<alb_request>[^"]*)"'
    )
    checks = (
        ("type", re.compile(_ALB_TYPE), "an ALB request type (http, https, h2, grpcs, ws, wss)"),
        ("time", re.compile(_ALB_TIME + r"\.\d+Z"), "an ISO 8601 time"),
        ("target_processing_time", re.compile(r"-?[\d.]+"), "a number of seconds"),
        ("status", re.compile(r"\d{3}|-"), "a 3-digit status"),
        ("alb_request", re.compile(_ALB_REQUEST), "'METHOD scheme://host/path PROTOCOL'"),
    )
    # ALB logs the request as the client sent it, without escapes of its own.
    return LogFormat("alb", re.compile(strict), re.compile(loose), checks, frozenset(GROUPS) - {"a"}, escaped=False)


NAMED = ("combined", "common", "alb")


@functools.cache
def named(name: str) -> LogFormat:
    if name == "alb":
        return _alb()
    if name == "combined":
        return compile_nginx(COMBINED, name="combined", strict_end=False)
    if name == "common":
        return compile_nginx(COMMON, name="common", strict_end=False)
    raise ValueError(name)


def resolve_format(spec: str) -> LogFormat | None:
    """`auto` → None (detect per file); `combined`, `common`, `alb`, or `nginx:<log_format string>`."""
    s = spec.strip()
    if s == "auto":
        return None
    if s in NAMED:
        return named(s)
    if s.startswith("nginx:"):
        body = s[len("nginx:") :].strip()
        if not body:
            raise UserError("--format nginx: needs the log_format string, e.g. nginx:'$remote_addr … $request_time'")
        return named("combined") if body == "combined" else compile_nginx(body)
    raise UserError(f"unknown log format {spec!r}: use auto, combined, common, alb or nginx:'<log_format string>'")


# --------------------------------------------------------------------------------------------------
# Files


_COMPRESSED = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def _open_binary(path: str) -> tuple[IO[bytes], bool]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except FileNotFoundError:
        raise UserError("no such file", Location(path)) from None
    except IsADirectoryError:
        raise UserError("is a directory, expected an access log", Location(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", Location(path)) from None
    magic = raw.peek(8)[:8]
    for sig, what in _COMPRESSED.items():
        if magic.startswith(sig):
            raw.close()
            raise UserError(f"is {what}-compressed: decompress it first (gzip is read as is)", Location(path))
    return raw, magic[:2] == b"\x1f\x8b"


def _percent_bytes(exc: UnicodeError) -> tuple[str, int]:
    """A decode error handler: the bytes that are not UTF-8 become `%HH`, as the client must have sent them."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(f"%{b:02X}" for b in exc.object[exc.start : exc.end]), exc.end


# nginx writes a raw byte >= 0x80 as it is with escape=json and escape=none (only the default escaping turns
# it into \xHH): decoding it as U+FFFD would replay a different path. The handler runs only on bad bytes,
# so valid lines cost nothing extra.
_PERCENT = "sengu.load.percent"
codecs.register_error(_PERCENT, _percent_bytes)

_CHUNK = 1 << 15  # small reads keep the decompressed block in cache: faster than 1 MiB ones here


def _gunzip_blocks(raw: IO[bytes]) -> Iterator[list[str]]:
    """The lines of a gzip stream (several members one after another, as `cat a.gz b.gz` makes), in blocks.

    zlib on 32 KiB reads, split into lines by block: ~15% less time than iterating a GzipFile's lines.
    Lines keep no newline. Raises EOFError when the data ends inside a member (a truncated file).
    """
    d = zlib.decompressobj(wbits=31)
    fed = False  # the current member has begun
    pending: list[bytes] = []
    while block := raw.read(_CHUNK):
        data = d.decompress(block)
        fed = True
        while d.eof:
            rest = d.unused_data
            d = zlib.decompressobj(wbits=31)
            fed = bool(rest)
            if not rest:
                break
            data += d.decompress(rest)
        cut = data.rfind(b"\n")
        if cut < 0:
            pending.append(data)  # joined once a newline comes: a huge line costs linear time, not quadratic
            continue
        block_text = b"".join([*pending, data[:cut]]) if pending else data[:cut]
        pending = [data[cut + 1 :]]
        yield block_text.decode("utf-8", _PERCENT).split("\n")
    rest = b"".join(pending)
    if rest:
        yield [rest.decode("utf-8", _PERCENT)]
    if fed and not d.eof:
        raise EOFError("compressed data ends early")


@contextmanager
def open_log(path: str | Path) -> Iterator[tuple[Iterator[str], bool]]:
    """A log file's lines (gzip recognised by its magic bytes, not its name), and whether it is gzipped.

    Bytes that are not UTF-8 come back percent-encoded (`%E9`) rather than failing the file: a request
    path keeps the byte the client sent, and a stray one elsewhere must not cost the other million lines.
    Lines end at "\n" only.
    """
    binary, gz = _open_binary(str(path))
    try:
        if gz:
            yield itertools.chain.from_iterable(_gunzip_blocks(binary)), True
        else:
            with io.TextIOWrapper(binary, encoding="utf-8", errors=_PERCENT, newline="\n") as text:
                yield iter(text), False
    finally:
        binary.close()


READ_ERRORS = (EOFError, zlib.error, OSError)


def head(path: str | Path, count: int = DETECT_LINES) -> tuple[list[str], bool]:
    """The first `count` non-blank lines, and whether the file is gzipped. Raises UserError for binaries."""
    lines: list[str] = []
    with open_log(path) as (f, gz):
        try:
            for line in f:
                if "\x00" in line:
                    raise UserError("is not a text log (it holds binary data)", Location(str(path)))
                if line.strip():
                    lines.append(line)
                    if len(lines) >= count:
                        break
        except READ_ERRORS as exc:
            if not lines:
                raise UserError(f"cannot read: {read_error(exc)}", Location(str(path))) from None
    return lines, gz


def read_error(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "compressed data ends early (truncated .gz)"
    return str(exc) or type(exc).__name__


def detect(lines: list[str]) -> tuple[LogFormat | None, dict[str, int]]:
    """The named format most of `lines` match (None if none matches any), and how many each matched."""
    scores: dict[str, int] = {}
    best: LogFormat | None = None
    for name in NAMED:
        fmt = named(name)
        scores[name] = sum(1 for line in lines if fmt.pattern.match(line))
        if scores[name] and (best is None or scores[name] > scores[best.name]):
            best = fmt
    return best, scores


def detect_file(path: str | Path) -> LogFormat | None:
    """Recognise a file's format from its first lines (None for an empty file).

    Raises UserError naming the file when no format fits.
    """
    lines, _ = head(path)
    if not lines:
        return None
    fmt, _scores = detect(lines)
    if fmt is None:
        first = lines[0]
        why = ", ".join(f"{n}: {named(n).why(first)[0]}" for n in NAMED)
        raise UserError(
            f"not an access log I recognise (line 1 — {why}); if it is nginx with its own log_format, "
            "give --format nginx:'<the log_format string>'",
            Location(str(path), 1),
        )
    return fmt


def extra_fields(path: str | Path, fmt: LogFormat) -> str | None:
    """What follows `fmt` on the first lines of a file, when something does (`combined` plus appended fields)."""
    lines, _ = head(path, 20)
    for line in lines:
        m = fmt.pattern.match(line)
        if m is not None:
            rest = line[m.end() :].strip()
            if rest:
                return rest
    return None


# --------------------------------------------------------------------------------------------------
# What reading a file found


@dataclass
class FileReport:
    """Counts of one file: every line is blank, parsed, or unparseable (with a reason)."""

    path: str
    format: str = ""
    gzipped: bool = False
    lines: int = 0
    parsed: int = 0
    kept: int = 0
    skipped_methods: dict[str, int] = field(default_factory=dict)
    unparseable: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[int, str]] = field(default_factory=list)  # (line number, why) of the first few
    stopped: str = ""  # why reading stopped before the end (a truncated .gz), if it did

    def fail(self, lineno: int, reason: str, detail: str = "") -> None:
        self.unparseable += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((lineno, f"{reason}: {detail}" if detail else reason))

    def give_up(self) -> bool:
        """Whether this is evidently not a log of its format: many failures and not one line parsed."""
        return self.parsed == 0 and self.unparseable >= GIVE_UP_AFTER

    def not_a_log(self) -> UserError:
        first = self.examples[0] if self.examples else (1, "nothing parsed")
        return UserError(
            f"no line parses as {self.format} ({self.unparseable} tried; line {first[0]}: {first[1]})",
            Location(self.path),
        )


@dataclass
class ParseReport:
    """What `sengu load scenario` read: per file, and the time it took."""

    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    endpoints: int = 0
    dropped_endpoints: int = 0  # rare templates left out of the scenario (max_endpoints)
    dropped_requests: int = 0
    merged: list[str] = field(default_factory=list)  # templates made by merging words that are values
    warnings: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def parsed(self) -> int:
        return sum(f.parsed for f in self.files)

    @property
    def kept(self) -> int:
        return sum(f.kept for f in self.files)

    @property
    def unparseable(self) -> int:
        return sum(f.unparseable for f in self.files)

    @property
    def skipped_methods(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.skipped_methods.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> list[str]:
        """Human-readable lines for the CLI: per file, then what was skipped and why."""
        out: list[str] = []
        for f in self.files:
            gz = ", gzip" if f.gzipped else ""
            out.append(
                f"{f.path} ({f.format}{gz}): {f.lines:,} lines, {f.parsed:,} requests, {f.kept:,} kept, "
                f"{f.unparseable:,} unparseable"
            )
            for lineno, why in f.examples:
                out.append(f"  {f.path}:{lineno}: {why}")
            more = f.unparseable - len(f.examples)
            if more > 0:
                out.append(f"  … {more:,} more: " + ", ".join(f"{r} ({n:,})" for r, n in f.reasons.items()))
            if f.stopped:
                out.append(f"  stopped early: {f.stopped}")
        skipped = self.skipped_methods
        if skipped:
            out.append(
                "not replayed (method not kept; see --include-methods): "
                + ", ".join(f"{m or '-'} {n:,}" for m, n in skipped.items())
            )
        out.extend(self.merged)
        if self.dropped_endpoints:
            out.append(
                f"{self.dropped_endpoints:,} rare endpoints ({self.dropped_requests:,} requests) left out of "
                "the scenario"
            )
        out.extend(self.warnings)
        out.append(f"{self.lines:,} lines in {self.seconds:.2f} s ({self.lines_per_second:,.0f} lines/s)")
        return out
