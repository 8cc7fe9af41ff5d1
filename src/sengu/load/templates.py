"""Request targets → templates: `/u/42/posts/7?page=2` → `/u/{id}/posts/{id2}?page={page}` and its values.

Path segments that are values rather than routes become placeholders named for what they look like:
numbers `{id}`, UUIDs `{uuid}`, hex hashes `{hash}`, long random-looking tokens `{token}` (a file
extension stays literal: `/img/{id}.jpg`). Everything after `?` is data: each parameter keeps its name
and its value becomes a placeholder named after it (`?q={q}`), so one search endpoint is one template
however many words were searched for. Placeholder names are unique within a template (`{id}`, `{id2}`).
Pure functions, no I/O; the scenario builder calls `template` once per distinct target. Words that are
values too (`/users/rin-yamamoto`, `/tags/python`) cannot be told from routes one at a time; the builder
merges them afterwards, when one place of one template holds many different words (scenario.py).
"""

from __future__ import annotations

import functools
import re

KINDS = ("id", "uuid", "hash", "token")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+={0,2}")
_EXTENSION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,4}")
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# A short hex string with digits in it is as often a word with a number ("cafe12") as a hash; from 12
# characters on (short git SHAs, Docker IDs, ObjectIds) it is nearly always an identifier.
_MIN_HEX = 12
# Random tokens (nanoid 21, base64 of 128 bits 22, Stripe-style `cus_…`) are at least this long; slugs
# and words this long are told apart by how often the character class changes (see _random_looking).
_MIN_TOKEN = 16


def _random_looking(seg: str) -> bool:
    """Letters and digits interleaved the way random strings are, not the way slugs and words are.

    `cus_9s6XKzkNRiz8i3` changes class (lower/upper/digit) 10 times; `how-to-cook-2024` once;
    `ThisIsCamelCase` has no digits at all. A random base62 string changes class at ~60% of positions.
    """
    digits = letters = changes = 0
    last = ""
    for c in seg:
        if c.isdigit():
            cls = "d"
            digits += 1
        elif c.isupper():
            cls = "u"
            letters += 1
        elif c.islower():
            cls = "l"
            letters += 1
        else:
            continue
        if last and cls != last:
            changes += 1
        last = cls
    return digits > 0 and letters > 0 and changes >= max(4, len(seg) // 5)


@functools.lru_cache(maxsize=1 << 16)
def segment_kind(seg: str) -> tuple[str, str] | None:
    """(kind, literal suffix) when a path segment is a value, else None.

    >>> segment_kind("42"), segment_kind("42.json"), segment_kind("posts")
    (('id', ''), ('id', '.json'), None)
    """
    if not seg:
        return None
    if seg.isascii() and seg.isdigit():
        return ("id", "")
    n = len(seg)
    if n == 36 and _UUID.fullmatch(seg):
        return ("uuid", "")
    if n >= _MIN_HEX and _HEX.fullmatch(seg) and any(c.isdigit() for c in seg):
        return ("hash", "")
    if n >= _MIN_TOKEN and _TOKEN.fullmatch(seg) and _random_looking(seg):
        return ("token", "")
    base, dot, ext = seg.rpartition(".")
    if dot and base and _EXTENSION.fullmatch(ext):
        inner = segment_kind(base)
        if inner is not None and not inner[1]:
            return (inner[0], "." + ext)
    return None


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base2`, `base3`… when taken."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    taken.add(name)
    return name


@functools.lru_cache(maxsize=4096)
def param_name(key: str) -> str:
    """A placeholder name for a query parameter: `page[size]` → `page_size`, `1x` → `p_1x`."""
    name = _NOT_NAME.sub("_", key.lower()).strip("_")
    if not name:
        return "param"
    return "p_" + name if name[0].isdigit() else name


def _literal(text: str) -> str:
    # Braces would read as placeholders; %7B/%7D mean the same to any server.
    return text.replace("{", "%7B").replace("}", "%7D") if ("{" in text or "}" in text) else text


_ID = ("id", "")


def template(target: str) -> tuple[str, tuple[str, ...]] | None:
    """The template of a request target and the values its placeholders had, in order; None if it is no path.

    An absolute-form target (`http://host/p`, as ALB logs and proxies write it) counts by its path.

    >>> template("/u/42/posts/7?page=2&q=shoes")
    ('/u/{id}/posts/{id2}?page={page}&q={q}', ('42', '7', '2', 'shoes'))
    """
    if not target.startswith("/"):
        scheme = target.find("://")
        if scheme <= 0 or scheme > 8:
            return None
        slash = target.find("/", scheme + 3)
        target = "/" if slash < 0 else target[slash:]
    if "#" in target:
        target = target.partition("#")[0]
    path, _, query = target.partition("?")
    segs = path.split("/")
    taken: set[str] = set()
    values: list[str] = []
    for i, seg in enumerate(segs):
        if not seg:
            continue
        # Numbers first and outside the cache: they are most values, and each is seen rarely.
        kind = _ID if seg.isdigit() and seg.isascii() else segment_kind(seg)
        if kind is None:
            if "{" in seg or "}" in seg:
                segs[i] = _literal(seg)
            continue
        base, suffix = kind
        if base in taken:
            name = unique_name(base, taken)
        else:
            taken.add(base)
            name = base
        if suffix:
            segs[i] = f"{{{name}}}{suffix}"
            values.append(seg[: -len(suffix)])
        else:
            segs[i] = f"{{{name}}}"
            values.append(seg)
    out = "/".join(segs)
    if query:
        params = query.split("&")
        for i, param in enumerate(params):
            key, eq, value = param.partition("=")
            if not eq or not value:
                params[i] = _literal(param)
                continue
            name = unique_name(param_name(key), taken)
            params[i] = f"{_literal(key)}={{{name}}}"
            values.append(value)
        out = f"{out}?{'&'.join(params)}"
    return out, tuple(values)


def placeholders(template_: str) -> list[str]:
    """The placeholder names of a template, in order."""
    return PLACEHOLDER.findall(template_)
