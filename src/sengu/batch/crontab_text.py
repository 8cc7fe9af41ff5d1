"""A crontab file's bytes as text: binary input refused in one line, undecodable bytes located, never replaced.

Pure. Cron reads bytes and passes them to the shell unchanged, so a job's command must come out exactly as
the file holds it: a byte that does not decode is an error at FILE:LINE:COL that names `--encoding`, and a
file that is not text at all (an archive, a compressed log, random bytes) is one line, not one error per
line of garbage.
"""

from __future__ import annotations

import codecs

from sengu.core.errors import Location, Problem, UserError

MAX_BYTES = 16 * 1024 * 1024  # far beyond any crontab; past it the file is something else
_SAMPLE = 8192
_CONTROL = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x20)) | {0x7F}
_SIGNATURES = (
    (b"\x1f\x8b", "gzip-compressed; decompress it first, e.g. zcat FILE > crontab"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first, e.g. xzcat FILE > crontab"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; decompress it first, e.g. zstdcat FILE > crontab"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"%PDF-", "a PDF document"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def too_big(path: str, size: int) -> Problem | None:
    """A file larger than any crontab, before it is read."""
    if size <= MAX_BYTES:
        return None
    return Problem(f"not a crontab: {size / 1024 / 1024:.0f} MiB, and a crontab is text of a few KiB", Location(path))


def decode(path: str, data: bytes, encoding: str | None = None) -> str:
    """The text of a crontab, or UserError: one problem for the file (binary) or its first bad byte.

    `encoding` None is UTF-8, with or without a byte-order mark.
    """
    codec = _codec(encoding)
    wide = codec.name.startswith(("utf-16", "utf-32"))
    if encoding is None and data.startswith(_UTF16_BOMS):
        raise UserError(
            Problem("UTF-16 text (it starts with a UTF-16 byte-order mark); give --encoding utf-16", Location(path))
        )
    why = binary(data, wide=wide)
    if why is not None:
        raise UserError(Problem(f"not a crontab: binary data ({why})", Location(path)))
    if codec.name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode(codec.name)
    except UnicodeDecodeError as exc:
        raise UserError(_undecodable(path, data, codec.name, exc, given=encoding is not None)) from None


def binary(data: bytes, *, wide: bool = False) -> str | None:
    """Why `data` is not text (a known file signature, a NUL byte, mostly control bytes), or None."""
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            return what
    if data.startswith(b"BZh") and data[3:4].isdigit():
        return "bzip2-compressed; decompress it first, e.g. bzcat FILE > crontab"
    if wide:
        return None  # UTF-16 and UTF-32 text is full of NUL bytes
    sample = data[:_SAMPLE]
    nul = sample.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte at offset {nul}"
    controls = sum(1 for byte in sample if byte in _CONTROL)
    if sample and controls * 10 > len(sample):
        return f"{controls} control bytes in the first {len(sample)}"
    return None


def _codec(encoding: str | None) -> codecs.CodecInfo:
    try:
        return codecs.lookup(encoding or "utf-8")
    except LookupError:
        raise UserError(f"--encoding: unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, euc-jp)") from None


def _undecodable(path: str, data: bytes, codec: str, exc: UnicodeDecodeError, *, given: bool) -> Problem:
    start = exc.start
    before = data[:start].decode(codec, errors="replace")  # counted in characters, whatever the codec
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    bad = data[start : max(exc.end, start + 1)]
    shown = " ".join(f"0x{b:02X}" for b in bad[:4])
    what = "byte" if len(bad) == 1 else "bytes"
    more = _more_bad_lines(data, codec, line)
    rest = f" ({more} more lines like it)" if more else ""
    hint = (
        f"it is not {codec} text: give the file's encoding with --encoding"
        if given
        else "the file is not UTF-8: give its encoding with --encoding, e.g. --encoding latin-1"
    )
    return Problem(f"{what} {shown} cannot be decoded; {hint}{rest}", Location(path, line, column))


def _more_bad_lines(data: bytes, codec: str, first: int) -> int:
    """How many lines after `first` hold undecodable bytes; 0 when the encoding's lines are not split at b'\\n'."""
    if "\n".encode(codec, errors="ignore") != b"\n":
        return 0
    count = 0
    for raw in data.split(b"\n")[first:]:
        try:
            raw.decode(codec)
        except UnicodeDecodeError:
            count += 1
    return count
