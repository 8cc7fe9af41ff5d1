"""Access-log formats: nginx combined, any log_format string, ALB; gzip by magic bytes; auto-detection;
and every line that does not parse says why, instead of failing."""

from __future__ import annotations

import bz2
import gzip
import random
import shutil
from calendar import timegm
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sengu.core.errors import UserError
from sengu.load import logs
from sengu.load.logs import Record, compile_nginx, detect, detect_file, named, open_log, resolve_format

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOM = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_time'
)
COMBINED_LINE = (
    '203.0.113.7 - - [10/Oct/2023:13:55:36 +0900] "GET /n/42?ref=top HTTP/1.1" 200 5120 "https://example.com/" '
    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"\n'
)
# 2023-10-10 13:55:36 at +09:00 is 04:55:36 UTC.
T0 = timegm((2023, 10, 10, 4, 55, 36, 0, 0, 0))


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines(keepends=True)


# --------------------------------------------------------------------------------------------------
# nginx


def test_combined_gives_method_target_status_and_time() -> None:
    assert named("combined").parse(COMBINED_LINE) == Record("GET", "/n/42?ref=top", "200", None, T0, "")


def test_combined_tolerates_fields_appended_after_it() -> None:
    line = COMBINED_LINE.rstrip("\n") + ' "198.51.100.1" 0.012 upstream=10.0.0.2:8080\n'
    assert named("combined").parse(line) == Record("GET", "/n/42?ref=top", "200", None, T0, "")


def test_a_custom_log_format_with_request_time_gives_latency() -> None:
    fmt = resolve_format(f"nginx:{CUSTOM}")
    assert fmt is not None and fmt.logs_latency
    parsed = [fmt.parse(line) for line in lines("timed.log")]
    assert [r.latency_ms if r else None for r in parsed] == [10.0, 20.0, 30.0, 40.0, 1500.0, 2.0, None]
    assert parsed[4] == Record("GET", "/n/46", "503", 1500.0, T0 + 1, "")
    assert parsed[6] is None
    assert fmt.why(lines("timed.log")[6]) == ("$request_time is not a number of seconds", "'slow'")


def test_a_format_pasted_from_nginx_conf_reads_the_same() -> None:
    pasted = (
        "log_format timed escape=default '$remote_addr - $remote_user [$time_local] \"$request\" '\n"
        '    \'$status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time\';'
    )
    line = lines("timed.log")[0]
    assert compile_nginx(pasted).parse(line) == compile_nginx(CUSTOM).parse(line)
    assert compile_nginx("'" + CUSTOM + "'").parse(line) == compile_nginx(CUSTOM).parse(line)


def test_a_format_that_starts_with_a_quoted_field_keeps_its_quotes() -> None:
    fmt = compile_nginx('"$request" $status "$http_user_agent"')
    assert fmt.parse('"GET /a HTTP/1.1" 200 "curl/8"\n') == Record("GET", "/a", "200", None, None, "")


def test_method_uri_args_host_iso_time_and_upstream_times() -> None:
    fmt = compile_nginx("$time_iso8601 $host $request_method $uri $args $status $upstream_response_time")
    rec = fmt.parse("2023-10-10T13:55:36+09:00 Example.COM GET /n/42 page=2&q=x 200 0.010, 0.020 : 0.005\n")
    assert rec == Record("GET", "/n/42?page=2&q=x", "200", 35.0, T0, "example.com")
    assert fmt.parse("2023-10-10T13:55:36+09:00 example.com GET /n/42 - 200 -\n") == Record(
        "GET", "/n/42", "200", None, T0, "example.com"
    )


def test_msec_and_request_uri() -> None:
    fmt = compile_nginx("$msec $request_method $request_uri $status $request_time")
    assert fmt.parse(f"{T0}.123 HEAD /a?b=1 301 0.000\n") == Record("HEAD", "/a?b=1", "301", 0.0, T0, "")


def test_a_format_without_a_method_counts_requests_as_get() -> None:
    fmt = compile_nginx("[$time_local] $request_uri $status")
    assert not fmt.logs_method
    assert fmt.parse("[10/Oct/2023:13:55:36 +0900] /x 200\n") == Record("GET", "/x", "200", None, T0, "")


@pytest.mark.parametrize("text", ["$remote_addr $status $body_bytes_sent", "no variables at all"])
def test_a_format_that_logs_no_request_is_refused(text: str) -> None:
    with pytest.raises(UserError) as info:
        compile_nginx(text)
    assert "$request" in str(info.value) or "no $variables" in str(info.value)


_FORMAT_PIECES = [*"$ {}[]\"'-_:/\\()*+?.^|\n", "a", "é", "$request", "$status", "$uri", "$msec", "$args"]


@given(st.lists(st.sampled_from(_FORMAT_PIECES), max_size=12).map("".join))
def test_any_format_string_compiles_or_is_a_user_error(text: str) -> None:
    try:
        fmt = compile_nginx(text)
    except UserError:
        return
    fmt.parse("GET / HTTP/1.1 200")
    fmt.why("x")


def test_unknown_formats_are_refused_with_the_choices() -> None:
    with pytest.raises(UserError, match="use auto, combined, common, alb or nginx:"):
        resolve_format("apache")
    with pytest.raises(UserError, match="needs the log_format string"):
        resolve_format("nginx:")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            '192.0.2.1 - - [10/Oct/2023:13:55:38 +0900] "\\x16\\x03\\x01" 400 157 "-" "-"',
            "the request line is not 'METHOD /path PROTOCOL'",
        ),
        ('192.0.2.1 - - [10/Oct/2023:13:55:38 +0900] "-" 400 0 "-" "-"', "the request line is not"),
        ('192.0.2.1 - - [yesterday] "GET / HTTP/1.1" 200 0 "-" "-"', "$time_local is not a time like"),
        ('192.0.2.1 - - [10/Oct/2023:13:55:38 +0900] "GET / HTTP/1.1" OK 0 "-" "-"', "$status is not a 3-digit"),
        ("hello", "does not match the combined format"),
    ],
)
def test_why_a_line_does_not_parse(line: str, reason: str) -> None:
    fmt = named("combined")
    assert fmt.parse(line) is None
    assert fmt.why(line)[0].startswith(reason)


# --------------------------------------------------------------------------------------------------
# ALB


def test_alb_lines_from_the_aws_documentation() -> None:
    fmt = named("alb")
    recs = [fmt.parse(line) for line in lines("alb.log")]
    t = timegm((2018, 7, 2, 22, 23, 0, 0, 0, 0))
    assert recs[0] == Record("GET", "/", "200", 1.0, t, "www.example.com:80")
    # A quoted request with spaces, a query, an https URL, a user agent with spaces after it.
    assert recs[1] == Record("GET", "/n/42?ref=home", "200", 48.0, t, "www.example.com:443")
    assert recs[2] == Record("GET", "/n/43", "200", 2.0, t + 1, "10.0.2.105:773")
    # No target answered: the time is -1, so no latency; the status is the load balancer's.
    assert recs[3] == Record("GET", "/n/44", "502", None, t + 1, "www.example.com:443")
    assert recs[4] is None  # a request the load balancer could not parse
    assert fmt.why(lines("alb.log")[4])[0] == "the request is not 'METHOD scheme://host/path PROTOCOL'"
    assert recs[5] == Record("POST", "/api/orders", "200", 120.0, t + 2, "www.example.com:443")


def test_alb_latency_keeps_a_tenth_of_a_millisecond() -> None:
    line = lines("alb.log")[0].replace(" 0.000 0.001 0.000 ", " 0.000 0.001234 0.000 ")
    rec = named("alb").parse(line)
    assert rec is not None and rec.latency_ms == 1.2


# --------------------------------------------------------------------------------------------------
# Conversions


@pytest.mark.parametrize(
    ("raw", "ms"),
    [("0.123", 123.0), ("2", 2000.0), ("-", None), ("", None), ("-1", None), ("0.010, 0.020", 30.0), ("x", None)],
)
def test_latency_in_milliseconds(raw: str, ms: float | None) -> None:
    assert logs.latency_ms(raw) == ms


@pytest.mark.parametrize(
    ("raw", "epoch"),
    [
        ("10/Oct/2023:13:55:36 +0900", T0),
        ("10/Oct/2023:04:55:36 +0000", T0),
        ("09/Oct/2023:23:55:36 -0500", T0),
        ("2023-10-10T13:55:36+09:00", T0),
        ("2023-10-10T04:55:36", T0),  # ALB, cut to the second: UTC
        (str(T0), T0),
        ("10/Foo/2023:13:55:36 +0900", None),
        ("31/Feb/2023:13:55:36 +0900", None),
        ("99999999999999999999", None),
        ("", None),
    ],
)
def test_times_of_every_format(raw: str, epoch: int | None) -> None:
    assert logs.epoch(raw) == epoch


@given(st.text(max_size=40))
def test_conversions_never_raise(raw: str) -> None:
    ms = logs.latency_ms(raw)
    t = logs.epoch(raw)
    assert ms is None or ms >= 0
    assert t is None or t >= 0


_FORMATS = [named("combined"), named("common"), named("alb"), compile_nginx(CUSTOM)]
_log_like = st.one_of(
    st.text(max_size=200),
    st.sampled_from(lines("combined.log") + lines("alb.log") + lines("timed.log")).flatmap(
        # Real lines with a slice cut out or replaced: near misses reach the strict patterns' edges.
        lambda line: st.tuples(
            st.integers(0, len(line)), st.integers(0, 20), st.text(alphabet=' "[]-/:0123456789GET', max_size=5)
        ).map(lambda t: line[: t[0]] + t[2] + line[t[0] + t[1] :])
    ),
)


@given(_log_like)
def test_the_parser_never_raises_on_arbitrary_lines(line: str) -> None:
    for fmt in _FORMATS:
        rec = fmt.parse(line)
        if rec is None:
            reason, _detail = fmt.why(line)
            assert reason
        else:
            assert rec.method and rec.status
    detect([line])


# --------------------------------------------------------------------------------------------------
# Files: detection, gzip, not-a-log


def test_auto_detects_each_format_from_the_first_lines(tmp_path: Path) -> None:
    common = tmp_path / "common.log"
    common.write_text('127.0.0.1 - - [10/Oct/2023:13:55:36 +0900] "GET / HTTP/1.1" 200 3\n' * 3)
    assert detect_file(FIXTURES / "combined.log").name == "combined"  # type: ignore[union-attr]
    assert detect_file(FIXTURES / "alb.log").name == "alb"  # type: ignore[union-attr]
    assert detect_file(common).name == "common"  # type: ignore[union-attr]
    (tmp_path / "empty.log").write_text("\n\n")
    assert detect_file(tmp_path / "empty.log") is None


def test_auto_detection_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    other = tmp_path / "app.log"
    other.write_text("2023-10-10 13:55:36,123 INFO started\n2023-10-10 13:55:37,001 INFO ready\n")
    with pytest.raises(UserError) as info:
        detect_file(other)
    message = str(info.value)
    assert message.startswith(f"{other}:1: not an access log") and "--format nginx:" in message


def test_gzip_is_recognised_by_its_magic_bytes_not_its_name(tmp_path: Path) -> None:
    hidden = tmp_path / "access.log"  # gzipped, named like a plain log
    hidden.write_bytes(gzip.compress((FIXTURES / "alb.log").read_bytes()))
    plain = tmp_path / "access.log.gz"  # plain, named like gzip
    shutil.copy(FIXTURES / "alb.log", plain)
    with open_log(hidden) as (got, gz):
        assert gz and [line.rstrip("\n") for line in got] == (FIXTURES / "alb.log").read_text().splitlines()
    with open_log(plain) as (got, gz):
        assert not gz and len(list(got)) == 6
    assert detect_file(hidden).name == "alb"  # type: ignore[union-attr]


def test_concatenated_gzip_members_read_as_one_file(tmp_path: Path) -> None:
    data = (FIXTURES / "combined.log").read_bytes()
    path = tmp_path / "rotated.gz"
    path.write_bytes(gzip.compress(data[:700]) + gzip.compress(data[700:]))
    with open_log(path) as (got, _gz):
        assert "\n".join(got) + "\n" == data.decode()


def test_a_gzip_larger_than_one_read_splits_into_the_same_lines(tmp_path: Path) -> None:
    # Lines of varied length so that many cross the boundary between two reads.
    rng = random.Random(5)
    original = [f"{i} " + "".join(rng.choices("abcdef0123456789 ", k=rng.randint(0, 300))) for i in range(5000)]
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(("\n".join(original) + "\n").encode()))
    assert path.stat().st_size > 4 * logs._CHUNK
    with open_log(path) as (got, _gz):
        assert list(got) == original


def test_a_truncated_gzip_gives_what_it_holds_then_says_so(tmp_path: Path) -> None:
    data = (FIXTURES / "combined.log").read_bytes() * 50
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(data)[:-200])
    got: list[str] = []
    with pytest.raises(logs.READ_ERRORS), open_log(path) as (it, _gz):
        got.extend(it)
    assert got and all(line in data.decode() for line in got[:-1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bz2.compress(b"x" * 100), "is bzip2-compressed: decompress it first"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "is not a text log"),
    ],
)
def test_files_that_are_no_text_log_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.log"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        detect_file(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_a_missing_file_and_a_directory_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        detect_file(tmp_path / "nope.log")
    with pytest.raises(UserError, match="is a directory"):
        detect_file(tmp_path)


# --------------------------------------------------------------------------------------------------
# What nginx escaped, back to what the client sent


def nginx_escape(raw: bytes) -> str:
    """nginx's default escaping of a logged variable (ngx_http_log_escape): `"`, `\\`, control bytes and bytes
    from 0x7f on become \\xHH."""
    return "".join(f"\\x{b:02X}" if b in b'"\\' or b < 0x20 or b >= 0x7F else chr(b) for b in raw)


def nginx_json_escape(text: str) -> str:
    """nginx's escape=json (ngx_escape_json): `"` and `\\` get a backslash, control characters \\n-style or
    \\u00HH; everything else, UTF-8 included, as it is."""
    short = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", '"': '\\"', "\\": "\\\\"}
    return "".join(short.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text)


@pytest.mark.parametrize(
    ("logged", "sent"),
    [
        ("/blog/caf\\xC3\\xA9", "/blog/café"),  # UTF-8 a client sent raw
        ("/a\\x22b\\x5Cc", '/a"b\\c'),  # a quote and a backslash
        ("/latin1/caf\\xE9", "/latin1/caf%E9"),  # not UTF-8: stays a byte, percent-encoded
        ("/tab\\x09", "/tab%09"),  # a control byte cannot go into a request line as it is
        ('/q?a=\\"b\\"&c=\\\\d', '/q?a="b"&c=\\d'),  # escape=json
        ("/plain/%C3%A9", "/plain/%C3%A9"),  # what a browser sent stays as it was
    ],
)
def test_nginx_escapes_turn_back_into_what_was_sent(logged: str, sent: str) -> None:
    assert logs.unescape(logged) == sent


@given(st.binary(max_size=40).filter(lambda b: b"%" not in b))
def test_any_bytes_nginx_escaped_come_back(raw: bytes) -> None:
    from urllib.parse import unquote_to_bytes

    # What unescape percent-encodes (not UTF-8, control bytes) decodes back to the bytes sent.
    assert unquote_to_bytes(logs.unescape(nginx_escape(raw))) == raw


@given(st.text(max_size=40).filter(lambda t: "%" not in t))
def test_any_text_nginx_json_escaped_comes_back(text: str) -> None:
    from urllib.parse import unquote_to_bytes

    assert unquote_to_bytes(logs.unescape(nginx_json_escape(text))) == text.encode("utf-8", "surrogatepass")


JSON_FORMAT = (
    'log_format j escape=json \'{"time":"$time_iso8601","request":"$request","status":$status,'
    '"rt":"$request_time","ua":"$http_user_agent"}\';'
)


def test_a_json_log_format_reads_values_as_json_strings() -> None:
    fmt = compile_nginx(JSON_FORMAT)
    line = (
        '{"time":"2023-10-10T13:55:36+09:00","request":"GET /blog/café?q=\\"x\\" HTTP/1.1","status":200,'
        '"rt":"0.012","ua":"say \\"hi\\" \\\\ there"}\n'
    )
    assert fmt.parse(line) == Record("GET", '/blog/café?q="x"', "200", 12.0, T0, "")
    # The same string without its escape= (only the JSON object) is read the same way.
    bare = compile_nginx(JSON_FORMAT.split("escape=json ", 1)[1])
    assert bare.parse(line) == fmt.parse(line)


def test_escape_none_keeps_backslashes_and_alb_has_no_escapes() -> None:
    fmt = compile_nginx("log_format raw escape=none '$remote_addr \"$request\" $status';")
    assert fmt.parse('1.2.3.4 "GET /a\\x41 HTTP/1.1" 200') == Record("GET", "/a\\x41", "200", None, None, "")
    assert not named("alb").escaped and named("combined").escaped
    with pytest.raises(UserError, match="escape=html"):
        compile_nginx("log_format x escape=html '$request';")
