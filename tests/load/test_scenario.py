"""Logs → LoadScenario → requests: weights, status and latency mixes, the observed rate, sampled values,
the parse report, the YAML written and read back, and the requests the engine cycles through."""

from __future__ import annotations

import gzip
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.core.errors import UserError
from sengu.core.spec import parse_documents
from sengu.load import scenario as scenario_module
from sengu.load.scenario import build_scenario, requests, scenario_name, scenario_yaml, write_scenario
from sengu.load.spec import Endpoint, LoadScenario, load_scenario, read_scenario

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOM = (
    'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_time'
)


def combined_line(path: str, *, t: int = 0, method: str = "GET", status: int = 200, rt: float | None = None) -> str:
    mm, ss = divmod(t, 60)
    hh, mm = divmod(mm, 60)
    line = (
        f'203.0.113.7 - - [10/Oct/2023:{13 + hh:02d}:{mm:02d}:{ss:02d} +0900] "{method} {path} HTTP/1.1" {status} 12 '
        '"-" "Mozilla/5.0 (X11; Linux x86_64)"'
    )
    return line + (f" {rt:.3f}" if rt is not None else "") + "\n"


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


def endpoint(scenario: LoadScenario, name: str) -> Endpoint:
    return next(e for e in scenario.spec.endpoints if e.name == name)


# --------------------------------------------------------------------------------------------------
# Building


def test_combined_log_becomes_weighted_templates_with_counts_and_a_report() -> None:
    scenario, report = build_scenario([FIXTURES / "combined.log"])
    spec = scenario.spec
    assert scenario.name == "combined" and scenario.kind == "LoadScenario"
    counts = {e.name: e.requests for e in spec.endpoints}
    assert counts == {
        "GET /n/{id}": 5,
        "GET /u/{id}/posts/{id2}": 2,
        "GET /search?q={q}&page={page}": 1,
        "GET /search?q={q}": 1,
        "GET /files/{uuid}": 1,
        "GET /": 1,
        "HEAD /static/app.css": 1,
    }
    assert [e.name for e in spec.endpoints][:2] == ["GET /n/{id}", "GET /u/{id}/posts/{id2}"]  # busiest first
    assert sum(e.weight for e in spec.endpoints) == pytest.approx(1.0, abs=1e-5)
    assert endpoint(scenario, "GET /n/{id}").weight == pytest.approx(5 / 12, abs=1e-6)
    assert endpoint(scenario, "GET /n/{id}").statuses == {"200": 2, "304": 1, "404": 1, "500": 1}
    assert spec.statuses == {"200": 9, "304": 1, "404": 1, "500": 1}
    assert spec.latency_ms is None  # combined logs no time taken
    # The rate is of all the traffic, POST and DELETE too: 14 requests over 6 seconds.
    assert spec.rate is not None and spec.rate.series == [2.0, 3.0, 2.0, 2.0, 3.0, 2.0]
    assert (spec.rate.peak, spec.rate.peak_at) == (3.0, "2023-10-10T04:55:37Z")

    (f,) = report.files
    assert (f.lines, f.parsed, f.kept, f.unparseable) == (16, 14, 12, 2)
    assert f.skipped_methods == {"POST": 1, "DELETE": 1}
    assert [n for n, _why in f.examples] == [7, 11]
    assert f.examples[0][1].startswith("the request line is not 'METHOD /path PROTOCOL'")
    assert f.reasons == {
        "the request line is not 'METHOD /path PROTOCOL'": 1,
        "does not match the combined format": 1,
    }
    assert spec.source is not None
    assert (spec.source.requests, spec.source.unparseable) == (12, 2)
    assert spec.source.skipped_methods == {"DELETE": 1, "POST": 1}
    summary = "\n".join(report.summary())
    assert f"{FIXTURES / 'combined.log'}:7: the request line is not" in summary
    assert "not replayed (method not kept; see --include-methods): DELETE 1, POST 1" in summary
    assert "lines/s" in summary


def test_other_methods_only_when_included_and_their_missing_bodies_are_mentioned() -> None:
    scenario, report = build_scenario([FIXTURES / "combined.log"], include_methods=["post", "DELETE"])
    names = {e.name for e in scenario.spec.endpoints}
    assert {"POST /api/comments", "DELETE /u/{id}/posts/{id2}"} <= names
    assert report.skipped_methods == {}
    assert any("replayed without a body" in w for w in report.warnings)
    everything, _ = build_scenario([FIXTURES / "combined.log"], include_methods=["*"])
    assert len(everything.spec.endpoints) == len(scenario.spec.endpoints)
    with pytest.raises(UserError, match="is not an HTTP method"):
        build_scenario([FIXTURES / "combined.log"], include_methods=["GET /"])


def test_latency_percentiles_per_endpoint_and_overall_from_request_time() -> None:
    scenario, report = build_scenario([FIXTURES / "timed.log"], CUSTOM)
    n = endpoint(scenario, "GET /n/{id}")
    assert n.latency_ms is not None
    assert (n.latency_ms.count, n.latency_ms.p50, n.latency_ms.p90, n.latency_ms.p99) == (5, 30.0, 1500.0, 1500.0)
    assert endpoint(scenario, "GET /about").latency_ms.max == 2.0  # type: ignore[union-attr]
    overall = scenario.spec.latency_ms
    assert overall is not None and (overall.count, overall.p50, overall.max) == (6, 20.0, 1500.0)
    assert report.unparseable == 1 and report.files[0].examples == [
        (7, "$request_time is not a number of seconds: 'slow'")
    ]


def test_many_latencies_give_nearest_rank_percentiles(tmp_path: Path) -> None:
    # 1..1000 ms in a shuffled order: p50 is 500 ms, p90 900 ms, p99 990 ms.
    order = list(range(1, 1001))
    random.Random(3).shuffle(order)
    log = write(tmp_path, "big.log", [combined_line("/x", t=i % 60, rt=ms / 1000) for i, ms in enumerate(order)])
    scenario, _ = build_scenario([log], CUSTOM)
    lat = scenario.spec.latency_ms
    assert lat is not None and (lat.p50, lat.p90, lat.p99, lat.max) == (500.0, 900.0, 990.0, 1000.0)


def test_alb_log_gives_latency_from_target_time_and_hosts() -> None:
    scenario, report = build_scenario([FIXTURES / "alb.log"])
    assert report.files[0].format == "alb"
    assert {e.name: e.requests for e in scenario.spec.endpoints} == {
        "GET /n/{id}": 2,
        "GET /n/{id}?ref={ref}": 1,
        "GET /": 1,
    }
    n = endpoint(scenario, "GET /n/{id}")
    assert n.statuses == {"200": 1, "502": 1}
    assert n.latency_ms is not None and n.latency_ms.count == 1 and n.latency_ms.p50 == 2.0  # the 502 had no target
    assert scenario.spec.hosts == {"www.example.com": 3, "10.0.2.105:773": 1}
    assert report.unparseable == 1 and report.skipped_methods == {"POST": 1}


def test_auto_detection_says_when_lines_go_on_after_the_format_it_found() -> None:
    _, report = build_scenario([FIXTURES / "timed.log"])
    assert report.files[0].format == "combined"
    (warning,) = report.warnings
    assert "lines go on after the combined format ('0.010')" in warning and "--format nginx:" in warning
    _, report = build_scenario([FIXTURES / "combined.log"])
    assert report.warnings == []


def test_gzipped_and_plain_logs_together(tmp_path: Path) -> None:
    gz = tmp_path / "alb.log.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "alb.log").read_bytes()))
    scenario, report = build_scenario([gz, FIXTURES / "combined.log"])
    assert [(f.format, f.gzipped) for f in report.files] == [("alb", True), ("combined", False)]
    assert endpoint(scenario, "GET /n/{id}").requests == 2 + 5
    assert scenario.spec.source is not None and [f.requests for f in scenario.spec.source.files] == [4, 12]


def test_the_rate_per_second_for_a_short_log_and_its_peak(tmp_path: Path) -> None:
    per_second = [3, 5, 2, 0, 4]
    lines = [combined_line(f"/n/{i}", t=t) for t, n in enumerate(per_second) for i in range(n)]
    scenario, _ = build_scenario([write(tmp_path, "a.log", lines)])
    rate = scenario.spec.rate
    assert rate is not None
    assert (rate.bucket_seconds, rate.series, rate.peak) == (1, [3.0, 5.0, 2.0, 0.0, 4.0], 5.0)
    assert rate.start == "2023-10-10T04:00:00Z" and rate.peak_at == "2023-10-10T04:00:01Z"
    assert rate.mean == pytest.approx(14 / 5)


def test_the_rate_per_minute_for_an_hour(tmp_path: Path) -> None:
    # One request a second for the first minute, then one every 10 seconds: per minute, 60 then 6.
    times = list(range(60)) + list(range(60, 3600, 10))
    scenario, _ = build_scenario([write(tmp_path, "hour.log", [combined_line("/", t=t) for t in times])])
    rate = scenario.spec.rate
    assert rate is not None and rate.bucket_seconds == 10
    times = list(range(60)) + list(range(60, 6 * 3600, 10))
    scenario, _ = build_scenario([write(tmp_path, "day.log", [combined_line("/", t=t) for t in times])])
    rate = scenario.spec.rate
    assert rate is not None and rate.bucket_seconds == 60 and len(rate.series) == 360
    assert rate.series[:2] == [1.0, 0.1] and rate.peak == 1.0
    assert scenario.spec.source is not None and scenario.spec.source.end == "2023-10-10T09:59:50Z"


def test_the_rate_series_stays_short_whatever_the_span(tmp_path: Path) -> None:
    old = combined_line("/").replace("10/Oct/2023", "10/Oct/2013")
    scenario, _ = build_scenario([write(tmp_path, "decade.log", [old, combined_line("/")])])
    rate = scenario.spec.rate
    assert rate is not None and len(rate.series) <= 1440 and rate.bucket_seconds % 86400 == 0
    assert sum(rate.series) * rate.bucket_seconds == pytest.approx(2, rel=1e-5)


# --------------------------------------------------------------------------------------------------
# Sampling


def numbered_log(tmp_path: Path, n: int) -> Path:
    return write(tmp_path, "n.log", [combined_line(f"/u/{i}/posts/{i * 7}", t=i % 3600) for i in range(n)])


def test_samples_are_bounded_rows_of_real_requests_and_deterministic(tmp_path: Path) -> None:
    log = numbered_log(tmp_path, 5000)
    a, _ = build_scenario([log], samples=50, seed=1)
    b, _ = build_scenario([log], samples=50, seed=1)
    c, _ = build_scenario([log], samples=50, seed=2)
    ep = a.spec.endpoints[0]
    ids, posts = ep.samples["id"], ep.samples["id2"]
    assert len(ids) == len(posts) == 50
    assert all(int(p) == int(i) * 7 for i, p in zip(ids, posts, strict=True))  # pairs that existed
    assert b.spec.endpoints[0].samples == ep.samples
    assert c.spec.endpoints[0].samples != ep.samples


def test_the_reservoir_draws_from_the_whole_log_not_its_start(tmp_path: Path) -> None:
    scenario, _ = build_scenario([numbered_log(tmp_path, 5000)], samples=100)
    ids = sorted(int(i) for i in scenario.spec.endpoints[0].samples["id"])
    assert len(ids) == 100
    quarters = Counter(i * 4 // 5000 for i in ids)
    # Uniform over 5,000: each quarter expects 25 of the 100; Algorithm L done wrong keeps the first 100.
    assert all(10 <= quarters[q] <= 40 for q in range(4)), quarters


def test_few_requests_keep_them_all_in_order(tmp_path: Path) -> None:
    scenario, _ = build_scenario([numbered_log(tmp_path, 30)], samples=100)
    assert scenario.spec.endpoints[0].samples["id"] == [str(i) for i in range(30)]


# --------------------------------------------------------------------------------------------------
# Words that are values

NAMES = [f"{a}-{b}" for a in ("aoi", "rin", "mei", "sota", "yui") for b in ("abe", "ito", "sato", "kato", "ueno")]


def test_many_words_at_one_place_become_a_slug_sampled_by_popularity(tmp_path: Path) -> None:
    lines = [combined_line("/users/rin-abe", status=200, rt=0.010)] * 100
    lines += [combined_line(f"/users/{n}", status=404, rt=0.002) for n in NAMES if n != "rin-abe"]
    scenario, report = build_scenario([write(tmp_path, "u.log", lines)], CUSTOM)
    (ep,) = scenario.spec.endpoints
    assert (ep.name, ep.requests, ep.statuses) == ("GET /users/{slug}", 124, {"200": 100, "404": 24})
    assert ep.latency_ms is not None and (ep.latency_ms.p50, ep.latency_ms.max) == (10.0, 10.0)
    assert set(ep.samples["slug"]) <= {"rin-abe", *NAMES}
    assert ep.samples["slug"].count("rin-abe") >= 60  # 100 of 124 requests
    assert report.merged == ["GET /users/{slug}: 25 paths with a word there merged"]


def test_fewer_words_stay_routes_and_the_first_segment_always_does(tmp_path: Path) -> None:
    lines = [combined_line(f"/tags/{n}") for n in NAMES[:19]] + [combined_line(f"/{n}") for n in NAMES]
    scenario, report = build_scenario([write(tmp_path, "t.log", lines)])
    assert len(scenario.spec.endpoints) == 19 + 25 and report.merged == []


def test_words_at_two_places_merge_in_turn_and_keep_real_pairs(tmp_path: Path) -> None:
    lines = [combined_line(f"/users/{u}/posts/{u}-post-{j}") for u in NAMES[:21] for j in range(21)]
    scenario, report = build_scenario([write(tmp_path, "p.log", lines)])
    (ep,) = scenario.spec.endpoints
    assert ep.path == "/users/{slug2}/posts/{slug}" and ep.requests == 21 * 21
    assert len(report.merged) == 22
    users, posts = ep.samples["slug2"], ep.samples["slug"]
    assert len(users) == 100 and all(p.startswith(f"{u}-post-") for u, p in zip(users, posts, strict=True))


def test_words_are_merged_while_reading_so_a_long_tail_stays_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenario_module, "COMPACT_AT", 30)
    monkeypatch.setattr(scenario_module, "MAX_TEMPLATES", 40)
    users = [f"{n}-{i}" for i in range(8) for n in NAMES]  # 200 names
    lines = [combined_line(f"/users/{u}", t=i) for i, u in enumerate(users)] + [combined_line("/about")] * 5
    scenario, report = build_scenario([write(tmp_path, "tail.log", lines)], samples=300)
    assert {e.name: e.requests for e in scenario.spec.endpoints} == {"GET /users/{slug}": 200, "GET /about": 5}
    assert report.dropped_requests == 0 and report.merged[0].startswith("GET /users/{slug}: ")
    slugs = scenario.spec.endpoints[0].samples["slug"]
    assert set(slugs) == set(users)  # the names after the merge were routed into it, with their values


def test_templates_past_the_limit_are_counted_as_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario_module, "COMPACT_AT", 5)
    monkeypatch.setattr(scenario_module, "MAX_TEMPLATES", 5)
    lines = [combined_line(f"/{n}") for n in NAMES[:8]]  # first segments: never merged
    scenario, report = build_scenario([write(tmp_path, "top.log", lines)])
    assert len(scenario.spec.endpoints) == 5
    assert (report.dropped_endpoints, report.dropped_requests) == (1, 3)
    assert any("more than 5 distinct templates: 3 requests" in w for w in report.warnings)
    assert scenario.spec.source is not None and scenario.spec.source.requests == 8


# --------------------------------------------------------------------------------------------------
# What is refused, what is reported


def test_a_file_that_is_not_a_log_is_a_user_error_naming_it(tmp_path: Path) -> None:
    notes = write(tmp_path, "notes.txt", ["dear diary\n", "today I parsed logs\n"])
    with pytest.raises(UserError) as info:
        build_scenario([notes], "combined")
    assert str(info.value).startswith(f"{notes}: no line parses as combined (2 tried; line 1: does not match")
    with pytest.raises(UserError, match=f"^{notes}:1: not an access log"):
        build_scenario([notes])


def test_a_large_file_that_is_not_a_log_is_given_up_on_early(tmp_path: Path) -> None:
    junk = write(tmp_path, "junk.log", ["nope\n"] * 5000)
    with pytest.raises(UserError, match="1000 tried"):
        build_scenario([junk], "combined")


def test_a_log_with_only_other_methods_says_how_to_keep_them(tmp_path: Path) -> None:
    log = write(tmp_path, "posts.log", [combined_line("/api", method="POST")] * 3)
    with pytest.raises(UserError, match=r"no GET or HEAD requests in the logs \(found POST 3\).*--include-methods"):
        build_scenario([log])


def test_an_empty_log_among_others_is_a_warning_and_alone_an_error(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.log", [])
    _, report = build_scenario([empty, FIXTURES / "combined.log"])
    assert f"{empty}: empty" in report.warnings
    with pytest.raises(UserError, match="no requests in the logs"):
        build_scenario([empty])


def test_rare_endpoints_beyond_the_limit_are_left_out_and_reported() -> None:
    scenario, report = build_scenario([FIXTURES / "combined.log"], max_endpoints=2)
    assert [e.requests for e in scenario.spec.endpoints] == [5, 2]
    assert sum(e.weight for e in scenario.spec.endpoints) == pytest.approx(1.0)
    assert (report.dropped_endpoints, report.dropped_requests) == (5, 5)
    assert scenario.spec.statuses == {"200": 9, "304": 1, "404": 1, "500": 1}  # the mix is of all requests


def test_targets_that_are_not_paths_are_unparseable(tmp_path: Path) -> None:
    log = write(tmp_path, "a.log", [combined_line("/ok"), combined_line("*", method="GET"), combined_line("/ok")])
    scenario, report = build_scenario([log])
    assert report.files[0].examples == [(2, "the request target is not a path: '*'")]
    assert scenario.spec.endpoints[0].requests == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=8))
def test_arbitrary_lines_after_a_good_one_never_break_the_build(junk: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        text = combined_line("/n/1") + "".join(j.replace("\n", " ").replace("\r", " ") + "\n" for j in junk)
        path = Path(d) / "a.log"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        scenario, report = build_scenario([path], "combined")
        assert report.files[0].lines == 1 + len(junk)
        assert report.files[0].parsed + report.files[0].unparseable <= report.files[0].lines
        assert scenario.spec.endpoints


def test_scenario_names_come_from_the_first_file() -> None:
    assert scenario_name(["/var/log/nginx/access.log.1.gz"]) == "access"
    assert scenario_name(["ALB_2023-10-10.log"]) == "alb-2023-10-10"
    assert scenario_name(["...gz"]) == "scenario"


# --------------------------------------------------------------------------------------------------
# The YAML document


def test_written_yaml_reads_back_as_the_same_scenario(tmp_path: Path) -> None:
    gz = tmp_path / "alb.log.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "alb.log").read_bytes()))
    shutil.copy(FIXTURES / "timed.log", tmp_path / "timed.log")
    for paths, fmt in (([FIXTURES / "combined.log", gz], "auto"), ([tmp_path / "timed.log"], CUSTOM)):
        scenario, _ = build_scenario(paths, fmt, include_methods=["POST"])
        out = tmp_path / "scenario.yaml"
        write_scenario(scenario, out)
        assert read_scenario(out) == scenario


def test_the_yaml_reads_top_down() -> None:
    scenario, _ = build_scenario([FIXTURES / "timed.log"], CUSTOM)
    text = scenario_yaml(scenario)
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(("#", " ", "-"))]
    assert keys == ["apiVersion", "kind", "metadata", "spec"]
    spec_keys = [
        line.strip().split(":")[0] for line in text.splitlines() if line.startswith("  ") and line[2] not in " -"
    ]
    assert spec_keys == ["source", "rate", "statuses", "latencyMs", "endpoints"]
    first = text.index("- name: GET /n/{id}")
    assert text.index("path:", first) < text.index("weight:", first) < text.index("samples:", first)
    assert "labels" not in text and "hosts" not in text  # empty fields are left out


HAND_WRITTEN = """\
apiVersion: sengu.dev/v1alpha1
kind: LoadScenario
metadata: {name: smoke}
spec:
  endpoints:
  - path: /
    weight: 3
  - path: /n/{id}
    samples: {id: [1, 2, 3]}
"""


def test_a_hand_written_scenario_needs_only_paths() -> None:
    (doc,) = parse_documents(HAND_WRITTEN, "smoke.yaml")
    scenario = load_scenario(doc)
    assert [(e.name, e.method, e.weight) for e in scenario.spec.endpoints] == [
        ("GET /", "GET", 3.0),
        ("GET /n/{id}", "GET", 1.0),
    ]
    assert scenario.spec.endpoints[1].samples == {"id": ["1", "2", "3"]}


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("    samples: {id: [1, 2, 3]}\n", "", "smoke.yaml:8:5: samples: no values for placeholder {id} of '/n/{id}'"),
        ("{id: [1, 2, 3]}", "{id: [1], idx: [2]}", "smoke.yaml:9:29: idx: not a placeholder of '/n/{id}'"),
        ("- path: /n/{id}", "- path: n/{id}", "smoke.yaml:8:11: path: 'n/{id}' must start with '/'"),
        ("weight: 3", "method: get", "smoke.yaml:7:13: method: 'get' is not an HTTP method"),
        ("{name: smoke}", "{name: Smoke Test}", "smoke.yaml:3:18: name: 'Smoke Test' is not a valid name"),
        ("weight: 3", "weight: -3", "smoke.yaml:7:13: weight: input should be greater than or equal to 0"),
        ("[1, 2, 3]}\n", "[1, 2, 3]}\n  - path: /\n", "smoke.yaml:10:5: name: 'GET /' is also the name of endpoint 1"),
    ],
)
def test_problems_in_a_scenario_are_reported_at_file_line_col(old: str, new: str, problem: str) -> None:
    text = HAND_WRITTEN.replace(old, new)
    (doc,) = parse_documents(text, "smoke.yaml")
    with pytest.raises(UserError) as info:
        load_scenario(doc)
    (line,) = info.value.lines()
    assert line.startswith(problem), line


def test_reading_a_file_without_a_scenario_says_so(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("apiVersion: sengu.dev/v1alpha1\nkind: RunnerPool\nmetadata: {name: x}\nspec: {}\n")
    with pytest.raises(UserError, match="no LoadScenario document"):
        read_scenario(path)


# --------------------------------------------------------------------------------------------------
# Requests for the engine


def test_requests_follow_the_weights_and_fill_placeholders_from_real_rows(tmp_path: Path) -> None:
    scenario, _ = build_scenario([FIXTURES / "combined.log"])
    drawn = requests(scenario, seed=7, count=12_000)
    assert drawn == requests(scenario, seed=7, count=12_000)
    assert drawn != requests(scenario, seed=8, count=12_000)
    by_name = Counter(name for name, _m, _p in drawn)
    for ep in scenario.spec.endpoints:
        assert by_name[ep.name] == pytest.approx(12_000 * ep.weight, rel=0.15), ep.name
    paths = {p for name, _m, p in drawn if name == "GET /u/{id}/posts/{id2}"}
    assert paths == {"/u/1001/posts/7", "/u/1002/posts/9"}  # never /u/1001/posts/9: rows stay together
    assert {p for name, _m, p in drawn if name == "GET /n/{id}"} == {f"/n/{i}" for i in (42, 43, 44, 45)}
    assert {m for name, m, _p in drawn if name.startswith("HEAD")} == {"HEAD"}
    assert {p for name, _m, p in drawn if name.startswith("GET /search?q={q}&")} == {"/search?q=shoes&page=2"}


def test_requests_skip_zero_weights_and_encode_hand_written_values() -> None:
    text = HAND_WRITTEN.replace("weight: 3", "weight: 0").replace("[1, 2, 3]", "['a b', 'ü', '%41']")
    (doc,) = parse_documents(text, "smoke.yaml")
    drawn = requests(load_scenario(doc), seed=1, count=300)
    assert {name for name, _m, _p in drawn} == {"GET /n/{id}"}
    assert {p for _n, _m, p in drawn} == {"/n/a%20b", "/n/%C3%BC", "/n/%41"}
    assert requests(load_scenario(doc), seed=1, count=0) == []


def test_samples_of_different_lengths_are_drawn_independently() -> None:
    text = HAND_WRITTEN.replace("/n/{id}", "/n/{id}/{v}").replace("{id: [1, 2, 3]}", "{id: [1, 2], v: [x]}")
    (doc,) = parse_documents(text, "smoke.yaml")
    drawn = {p for _n, _m, p in requests(load_scenario(doc), seed=1, count=200)}
    assert drawn == {"/", "/n/1/x", "/n/2/x"}


def test_nginx_escapes_are_decoded_before_templating_and_replayed_percent_encoded(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    line = '127.0.0.1 - - [08/Dec/2026:01:49:49 +0000] "GET {} HTTP/1.1" 200 3 "-" "-"\n'
    log.write_text(
        line.format("/blog/caf\\xC3\\xA9") + line.format("/blog/caf%C3%A9") + line.format("/n/1/\\x22q\\x22")
    )
    scenario, _ = build_scenario([log])
    paths = {e.path for e in scenario.spec.endpoints}
    assert paths == {"/blog/café", "/blog/caf%C3%A9", '/n/{id}/"q"'}
    drawn = {p for _n, _m, p in requests(scenario, seed=1, count=50)}
    assert drawn == {"/blog/café", "/blog/caf%C3%A9", '/n/1/"q"'}  # the engine percent-encodes é on the wire
