"""A crontab's bytes: undecodable bytes are located errors, binary input is one line, errors are capped."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.batch.crontab_text import binary, decode
from sengu.core.errors import Location, UserError

ROOT = Path(__file__).resolve().parents[2]
LATIN1 = "# Café du matin\nCRON_TZ=Europe/Paris\n0 7 * * * echo 'crème brûlée' > /dev/null\n".encode("latin-1")
ACCESS_LOG = "".join(
    f'203.0.113.{i % 250} - - [08/Dec/2026:01:{i % 60:02d}:00 +0000] "GET /item/{i} HTTP/1.1" 200 {i} "-" "curl/8"\n'
    for i in range(3000)
)


def sengu(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_a_latin1_byte_is_a_located_error_that_names_encoding() -> None:
    with pytest.raises(UserError) as caught:
        decode("tab", LATIN1)
    (problem,) = caught.value.problems
    assert problem.location == Location("tab", 1, 6)  # the é of "Café"
    assert problem.message == (
        "byte 0xE9 cannot be decoded; the file is not UTF-8: give its encoding with --encoding, "
        "e.g. --encoding latin-1 (1 more lines like it)"
    )


def test_the_location_is_counted_in_characters_in_any_encoding() -> None:
    data = "a\nbé\n".encode("utf-16-le") + b"\x00\xd8"  # a lone high surrogate on line 3
    with pytest.raises(UserError) as caught:
        decode("tab", data, "utf-16-le")
    assert caught.value.problems[0].location == Location("tab", 3, 1)


def test_an_explicit_encoding_decodes_exactly() -> None:
    assert decode("tab", LATIN1, "latin-1") == LATIN1.decode("latin-1")
    assert decode("tab", "0 0 * * * x\n".encode("utf-16"), "utf-16") == "0 0 * * * x\n"


def test_a_byte_order_mark_is_not_part_of_the_first_line() -> None:
    assert decode("tab", b"\xef\xbb\xbf0 0 * * * x\n") == "0 0 * * * x\n"
    assert decode("tab", b"\xef\xbb\xbf0 0 * * * x\n", "UTF8") == "0 0 * * * x\n"
    with pytest.raises(UserError, match="give --encoding utf-16"):
        decode("tab", "0 0 * * * x\n".encode("utf-16"))


def test_an_unknown_encoding_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--encoding: unknown encoding 'klingon'"):
        decode("tab", b"", "klingon")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (gzip.compress(b"0 0 * * * x\n"), "gzip-compressed; decompress it first, e.g. zcat FILE > crontab"),
        (b"BZh91AY&SY", "bzip2-compressed; decompress it first, e.g. bzcat FILE > crontab"),
        (b"\x7fELF\x02\x01\x01", "an ELF executable"),
        (b"0 0 * * * x\n\x00\x00", "a NUL byte at offset 12"),
        (bytes(range(1, 9)) * 20, "160 control bytes in the first 160"),
        (b"0 0 * * * x\n", None),
        (b"", None),
    ],
)
def test_binary_data_is_recognised(data: bytes, why: str | None) -> None:
    assert binary(data) == why


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300), encoding=st.sampled_from([None, "latin-1", "utf-8", "ascii", "utf-16"]))
def test_decoding_any_bytes_gives_text_or_one_located_problem(data: bytes, encoding: str | None) -> None:
    try:
        text = decode("f", data, encoding)
    except UserError as exc:
        (problem,) = exc.problems
        assert problem.location is not None and problem.location.file == "f"
    else:
        assert isinstance(text, str) and "\ufffd" not in text.replace(data.decode("utf-8", "ignore"), "")


# --- the command ----------------------------------------------------------------------------------


def test_import_of_a_latin1_crontab_stops_at_the_byte_then_imports_it_with_encoding(tmp_path: Path) -> None:
    tab = tmp_path / "tab"
    tab.write_bytes(LATIN1)
    out = tmp_path / "out.yaml"

    result = sengu("batch", "import", tab, "-o", out)
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.splitlines() == [
        f"error: {tab}:1:6: byte 0xE9 cannot be decoded; the file is not UTF-8: give its encoding with "
        "--encoding, e.g. --encoding latin-1 (1 more lines like it)"
    ]

    result = sengu("batch", "import", tab, "-o", out, "--encoding", "latin-1")
    assert result.returncode == 0, result.stderr
    assert "echo 'crème brûlée' > /dev/null" in out.read_text(encoding="utf-8")


def test_a_5_mb_binary_file_is_one_line(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(random.Random(9).randbytes(5 * 1024 * 1024))
    result = sengu("batch", "import", blob)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {blob}: not a crontab: binary data (")


def test_a_gzipped_access_log_is_one_line_that_says_decompress(tmp_path: Path) -> None:
    log = tmp_path / "access.log.gz"
    log.write_bytes(gzip.compress(ACCESS_LOG.encode()))
    result = sengu("batch", "import", log)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {log}: not a crontab: binary data (gzip-compressed; decompress it first, e.g. zcat FILE > crontab)"
    ]


def test_a_text_file_full_of_bad_lines_shows_20_errors_and_counts_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(ACCESS_LOG)
    tab = tmp_path / "tab"
    tab.write_text("CRON_TZ=UTC\n0 0 * * * ok\n99 * * * * bad\n")
    result = sengu("batch", "import", log, tab)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 22, lines
    assert all(line.startswith(f"error: {log}:") for line in lines[:20])
    assert lines[20].startswith(f"error: {tab}:3: minute field '99'")
    assert lines[21] == f"error: ... and 2980 more errors in {log}"


def test_a_file_larger_than_any_crontab_is_one_line_and_is_not_read(tmp_path: Path) -> None:
    huge = tmp_path / "disk.img"
    with huge.open("wb") as f:
        f.truncate(17 * 1024 * 1024)  # sparse: nothing is written, and nothing should be read
    result = sengu("batch", "import", huge)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {huge}: not a crontab: 17 MiB, and a crontab is text of a few KiB"]
