"""Block YAML for plain data (dict, list, str, int, float, bool, None), an order of magnitude faster than PyYAML.

`sengu batch render` prints tens of megabytes of manifests: PyYAML's representer and emitter spent 3–5 s on
what this writes in a fraction of that (docs/benchmarks.md). The layout is PyYAML's default block style
(two-space indents, a list under a key at the key's own indent, `---` between documents), so output reads
as before; every string that a YAML reader could take for something else is quoted.

Quoting is conservative, for YAML 1.1 readers (PyYAML, go-yaml v2 behind kubectl) and 1.2 ones alike:
a string is written plain only when it is made of ordinary characters, has no `: ` or ` #`, no leading or
trailing space, and does not look like a null, boolean (including `y`/`n`/`on`/`off`), number (`1e3`,
`0x1`, `1_000`, `.inf`, `12:30`) or date. Otherwise it is single-quoted when every character is printable
and none breaks a line, else double-quoted with escapes (valid JSON-style YAML). Keys are quoted the same
way; keys too long for an implicit key use YAML's explicit `? ` form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["dump", "dump_all", "scalar"]

# Characters that may stand in a plain or single-quoted scalar: printable, not a line break (NEL, U+2028,
# U+2029), not a BOM, not a tab. Compiled on first use: the class takes milliseconds to compile.
_PRINTABLE = "[\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*"


@functools.cache
def _printable_pattern() -> re.Pattern[str]:
    return re.compile(_PRINTABLE)


def _printable(text: str) -> bool:
    if text.isascii():
        return text.isprintable()  # for ASCII: exactly 0x20-0x7e
    return _printable_pattern().fullmatch(text) is not None


_INDICATOR_FIRST = frozenset(" !\"#%&'*,:<=>?@[]`{|}~")  # "-" too, unless it starts "-x"
# What some YAML reader would resolve to another type: YAML 1.1's null/bool/int/float/timestamp (PyYAML,
# go-yaml v2 with y/n), YAML 1.2's core schema (0o17, 1e3). Deliberately wider than any one of them.
_NOT_A_STRING = re.compile(
    r"""(?x)
    (?: ~ | null | Null | NULL
      | y | Y | yes | Yes | YES | n | N | no | No | NO
      | true | True | TRUE | false | False | FALSE | on | On | ON | off | Off | OFF
      | [-+]? (?: [0-9][0-9_]* (?: \.[0-9_]* )? | \.[0-9_]+ ) (?: [eE][-+]?[0-9_]+ )?
      | [-+]? 0 (?: [xX][0-9a-fA-F_]+ | [oO][0-7_]+ | [bB][01_]+ )
      | [-+]? [0-9][0-9_]* (?: :[0-9_]+ )+ (?: \.[0-9_]* )?
      | [-+]? \. (?: inf | Inf | INF ) | \. (?: nan | NaN | NAN )
      | [0-9]{4} - [0-9]{1,2} - [0-9]{1,2} .*
    )\Z"""
)
_NAMED = {'"': '\\"', "\\": "\\\\", "\0": "\\0", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
# YAML readers need not accept an implicit key longer than 1024 characters (PyYAML does not).
_MAX_IMPLICIT_KEY = 1000

_cache: dict[str, str] = {}


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    if _printable(ch):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _string(text: str) -> str:
    printable = _printable(text)
    if (
        printable
        and text
        and (text[0] not in _INDICATOR_FIRST and (text[0] != "-" or text[1:2] not in ("", " ")))
        and text[-1] != " "
        and text[-1] != ":"
        and ": " not in text
        and " #" not in text
        and not text.startswith(("---", "..."))
        and not _NOT_A_STRING.match(text)
    ):
        return text
    if printable:
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(map(_escape, text)) + '"'


def scalar(value: Any) -> str:
    """One scalar as YAML, quoted where needed; a TypeError for anything but str, int, float, bool, None."""
    kind = type(value)
    if kind is str:
        out = _cache.get(value)
        if out is None:
            out = _string(value)
            if len(_cache) < 100_000:  # manifests repeat a few thousand distinct values; bound it anyway
                _cache[value] = out
        return out
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float(value)
    if isinstance(value, str):  # str subclasses (enums): their text
        return scalar(str.__str__(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(float(value))
    raise TypeError(f"cannot write {kind.__name__} as YAML: only dict, list, str, int, float, bool and None")


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)  # 1e+16 is a string to YAML 1.1; 1.0e+16 is a float to both
    return text


_keys: dict[Any, str] = {}


def _key(value: Any) -> str | None:
    """`KEY:` for a key, None for one too long for an implicit key (written with `? ` instead)."""
    text = _keys.get(value) if type(value) is str else None
    if text is None:
        written = scalar(value)
        if len(written) > _MAX_IMPLICIT_KEY:
            return None
        text = written + ":"
        if type(value) is str and len(_keys) < 100_000:
            _keys[value] = text
    return text


def _mapping(data: Mapping[Any, Any], indent: str, out: list[str], first: str) -> None:
    """Write a non-empty mapping whose first line starts with `first` and the others with `indent`."""
    # The hot loop of `sengu batch render`: strings and keys come from caches, lines are one f-string each.
    put = out.append
    strings = _cache
    keys = _keys
    prefix = first
    deeper = indent + "  "
    for k, v in data.items():
        key = keys.get(k)  # only str keys are cached, and no other key equals a str
        if key is None:
            key = _key(k)
            if key is None:
                put(f"{prefix}? {scalar(k)}\n")
                prefix, key = indent, ":"
        kind = type(v)
        if kind is str:
            text = strings.get(v)
            put(f"{prefix}{key} {scalar(v) if text is None else text}\n")
        elif kind is int:
            put(f"{prefix}{key} {v}\n")
        elif kind is bool:
            put(f"{prefix}{key} true\n" if v else f"{prefix}{key} false\n")
        elif kind is dict:
            if v:
                put(f"{prefix}{key}\n")
                _mapping(v, deeper, out, deeper)
            else:
                put(f"{prefix}{key} {{}}\n")
        elif kind is list:
            if v:
                put(f"{prefix}{key}\n")
                _sequence(v, indent, out, indent)
            else:
                put(f"{prefix}{key} []\n")
        elif v is None or kind is float:
            put(f"{prefix}{key} {scalar(v)}\n")
        elif isinstance(v, Mapping):
            if v:
                put(f"{prefix}{key}\n")
                _mapping(dict(v), deeper, out, deeper)
            else:
                put(f"{prefix}{key} {{}}\n")
        elif isinstance(v, (list, tuple)):
            if v:
                put(f"{prefix}{key}\n")
                _sequence(v, indent, out, indent)
            else:
                put(f"{prefix}{key} []\n")
        else:
            put(f"{prefix}{key} {scalar(v)}\n")
        prefix = indent


def _sequence(data: list[Any] | tuple[Any, ...], indent: str, out: list[str], first: str) -> None:
    """Write a non-empty sequence whose first line starts with `first` and the others with `indent`."""
    put = out.append
    strings = _cache
    prefix = first
    deeper = indent + "  "
    for v in data:
        kind = type(v)
        if kind is str:
            text = strings.get(v)
            put(f"{prefix}- {scalar(v) if text is None else text}\n")
        elif kind is dict or kind is list or isinstance(v, (Mapping, list, tuple)):
            if not v:
                put(f"{prefix}- {{}}\n" if isinstance(v, Mapping) else f"{prefix}- []\n")
            elif kind is dict:
                _mapping(v, deeper, out, prefix + "- ")
            elif isinstance(v, Mapping):
                _mapping(dict(v), deeper, out, prefix + "- ")
            else:
                _sequence(v, deeper, out, prefix + "- ")
        else:
            put(f"{prefix}- {scalar(v)}\n")
        prefix = indent


def _document(data: Any, out: list[str]) -> None:
    if isinstance(data, Mapping):
        if data:
            _mapping(data if type(data) is dict else dict(data), "", out, "")
        else:
            out.append("{}\n")
    elif isinstance(data, (list, tuple)):
        if data:
            _sequence(data, "", out, "")
        else:
            out.append("[]\n")
    else:
        out.append(scalar(data) + "\n")


def dump(data: Any) -> str:
    """One YAML document."""
    out: list[str] = []
    _document(data, out)
    return "".join(out)


def dump_all(documents: Iterable[Any]) -> str:
    """A stream of YAML documents separated by `---` (none before the first, as PyYAML writes them)."""
    out: list[str] = []
    for i, data in enumerate(documents):
        if i:
            out.append("---\n")
        _document(data, out)
    return "".join(out)
