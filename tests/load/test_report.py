"""The HTML report (parsed back with html.parser) and the live display (the report's terminal cousin)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import Any

from rich.console import Console

from sengu.load.live import CLOSED_LABEL as LIVE_CLOSED_LABEL
from sengu.load.live import LiveDisplay, sparkline
from sengu.load.report import CLOSED_LABEL, render_html
from sengu.load.result import Endpoint, Latency, Result, Second
from sengu.load.step import Slo, find_knee

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quoted" \'single\''
VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "col", "area", "base", "embed", "param", "track"}


def sample(**changes: Any) -> Result:
    latency = Latency(count=12_345, mean=3.1, p50=2.25, p90=4.5, p99=812.3, p999=990.0, max=1_234.7)
    base = Result(
        mode="open",
        target="http://127.0.0.1:8080/app",
        duration_s=30.0,
        offered_rate=500.0,
        achieved_rate=411.5,
        requests=12_345,
        errors=37,
        latency_ms=latency,
        service_ms=Latency(count=12_345, mean=1.9, p50=1.75, p90=2.5, p99=7.25, p999=9.0, max=11.0),
        send_lag_ms=Latency(count=12_345, mean=0.2, p50=0.05, p90=0.1, p99=0.35, p999=2.0, max=3.5),
        statuses={"200": 12_000, "404": 300, "503": 8},
        error_classes={"timeout": 29, "connect": 0},
        overflow=17,
        endpoints=[
            Endpoint("GET /n/{id}", 10_000, 30, {"200": 9_700, "404": 300}, latency),
            Endpoint(HOSTILE, 2_345, 7, {"200": 2_300, "503": 8}, latency),
        ],
        timeline=[
            Second(
                t,
                500,
                480 if t != 5 else 12,
                1 if t in (5, 6) else 0,
                2.0,
                9.5 if t != 5 else 990.0,
                30.0 + t,
                answered=(480 if t != 5 else 12) - (1 if t in (5, 6) else 0),
            )
            for t in range(30)
        ],
        warnings=["the generator was the bottleneck: send lag p99 0.35 ms", HOSTILE],
        workers=2,
        connections=64,
        generator_cpu=0.42,
        started_at="2024-05-01T12:00:00+00:00",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@dataclass
class Page(HTMLParser):
    """Everything the report's structure tests look at, collected while parsing."""

    tags: list[str] = field(default_factory=list)
    attrs: list[tuple[str, str | None]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def parse(page: str) -> Page:
    parsed = Page()
    parsed.feed(page)
    parsed.close()
    assert parsed.errors == [], parsed.errors[:5]
    assert parsed.stack == [], parsed.stack
    return parsed


def no_urls_but_the_target(page: str, targets: list[str]) -> None:
    parsed = parse(page)
    for target in targets:
        page = page.replace(escape(target), "")
    assert re.findall(r"https?://", page, re.IGNORECASE) == []
    # Nothing is fetched: no script, stylesheet link, image or external reference of any kind.
    assert {"script", "img", "link", "iframe", "object", "embed", "use", "image"}.isdisjoint(parsed.tags)
    assert not [name for name, _ in parsed.attrs if name in ("src", "href", "xlink:href", "action", "srcset")]
    assert "@import" not in page and "url(" not in page


def test_a_run_report_is_one_self_contained_well_formed_page() -> None:
    result = sample()
    page = render_html([result], title="Checkout <load> test")
    assert page.startswith("<!DOCTYPE html>")
    parsed = parse(page)
    no_urls_but_the_target(page, [result.target])
    assert parsed.tags.count("html") == 1
    assert {"script", "img", "link", "iframe", "object"}.isdisjoint(parsed.tags)
    assert parsed.tags.count("svg") == 3  # rate, latency, errors per second
    assert parsed.tags.count("table") == 4  # latency, endpoints, statuses, error classes
    assert "polyline" in parsed.tags and "rect" in parsed.tags
    text = parsed.all_text
    assert "Checkout <load> test" in text  # the title, escaped and read back
    assert result.target in text


def test_the_numbers_are_in_the_report() -> None:
    text = parse(render_html([sample()], title="t")).all_text
    for number in ("12,345", "500/s", "412/s", "82.3%", "37", "0.3%", "812 ms", "1,235 ms", "2.25 ms", "0.35 ms", "17"):
        assert number in text, number
    # Statuses and error classes with their shares.
    assert "12,000" in text and "503" in text and "timeout" in text and "no answer within the timeout" in text
    # The endpoint table: requests and share.
    assert "10,000" in text and "81%" in text


def test_hostile_text_is_escaped() -> None:
    page = render_html([sample(target='http://127.0.0.1:1/"><script>x</script>')], title=HOSTILE)
    parsed = parse(page)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attrs)
    assert "<script>" not in page
    text = parsed.all_text
    assert text.count(HOSTILE) >= 3  # title, endpoint row, warning
    assert '"><script>x</script>' in text


def test_the_closed_model_is_labelled() -> None:
    result = sample(mode="closed", offered_rate=None, overflow=0, warnings=[])
    text = parse(render_html([result], title="max")).all_text
    assert CLOSED_LABEL in text
    assert "closed model (--rate max): latency is not measured from a schedule" in text
    assert "none (closed model)" in text
    assert "send lag" not in text.replace("send lag p99", "")  # no send lag row without a schedule
    open_text = parse(render_html([sample()], title="open")).all_text
    assert CLOSED_LABEL not in open_text
    assert "intended start" in open_text


def test_a_result_without_timeline_or_endpoints_still_renders() -> None:
    bare = sample(timeline=[], endpoints=[], statuses={}, error_classes={}, warnings=[], requests=0, errors=0)
    text = parse(render_html([bare], title="empty")).all_text
    assert "No per-second timeline" in text
    assert "No per-endpoint breakdown" in text


def test_a_wide_latency_spread_is_drawn_on_a_log_scale() -> None:
    assert "Latency per second (log scale)" in parse(render_html([sample()], title="t")).all_text
    calm = sample(timeline=[Second(t, 500, 500, 0, 2.0, 4.0, 6.0, answered=500) for t in range(10)])
    assert "Latency per second (log scale)" not in parse(render_html([calm], title="t")).all_text


def step_result(rate: float) -> Result:
    capacity = 4_500.0
    held = rate < capacity
    p99 = 5.0 / (1 - rate / capacity) if held else 1_000 + 10 * (rate - capacity)
    return sample(
        offered_rate=rate,
        achieved_rate=rate if held else capacity,
        requests=int(rate * 30),
        errors=0,
        overflow=0,
        warnings=[],
        latency_ms=Latency(
            count=int(rate * 30), mean=p99 / 3, p50=p99 / 4, p90=p99 / 2, p99=p99, p999=p99, max=p99 * 2
        ),
        endpoints=[Endpoint(HOSTILE, int(rate * 30), 0, {"200": int(rate * 30)}, Latency())],
    )


def test_a_step_report_marks_the_knee() -> None:
    def run(rate: float) -> Result:
        return step_result(rate)

    knee = find_knee(run, start=1_000, step=1_000, max_rate=8_000, slo=Slo(max_p99_ms=200), refine=1)
    assert (knee.rate, knee.broke_at) == (4_000, 4_500)
    results = [s.result for s in knee.steps]
    page = render_html(results, title="step", knee=knee)
    parsed = parse(page)
    no_urls_but_the_target(page, [results[0].target])
    text = parsed.all_text
    assert "Knee:" in text and "4,000/s" in text and "4,500/s" in text
    assert "knee 4,000/s" in text and "broke 4,500/s" in text  # the markers on the charts
    assert "SLO p99 200 ms" in text
    assert "p99 ≤ 200 ms" in text
    assert parsed.tags.count("details") == len(knee.steps) == 6
    # Step charts (2) plus each step's three per-second charts.
    assert parsed.tags.count("svg") == 2 + 3 * 6
    assert "p99 1,000 ms > 200 ms" in text
    # The steps table is sorted by rate, the refinement step (4,500, run last) in its place, the knee marked.
    rows = re.findall(r"([\d,]+)/s(?: \(knee\))? [\d,]+/s [\d,]+ 0%", text)
    assert rows == ["1,000", "2,000", "3,000", "4,000", "4,500", "5,000"]
    assert "4,000/s (knee)" in text


def test_a_step_report_needs_only_the_knee() -> None:
    def run(rate: float) -> Result:
        return step_result(rate)

    knee = find_knee(run, start=5_000, step=1_000, max_rate=8_000, slo=Slo(max_p99_ms=200))
    assert knee.rate is None
    text = parse(render_html([], title="step", knee=knee)).all_text
    assert "No knee: the first step, 5,000/s, already broke the SLO" in text


def test_several_results_without_a_knee_are_a_step_report_without_verdicts() -> None:
    text = parse(render_html([step_result(1_000), step_result(2_000)], title="steps")).all_text
    assert "Step search" in text
    assert "Knee:" not in text


# --- the live display ------------------------------------------------------------------------------------


def seconds() -> list[tuple[Second, dict[str, Any]]]:
    out = []
    for t in range(3):
        second = Second(
            t=t, offered=1_000, completed=998 - t, errors=t, p50_ms=1.25, p99_ms=4.5 + t, max_ms=9.0, answered=998 - t
        )
        totals = {"requests": 998 * (t + 1), "errors": sum(range(t + 1)), "send_lag_p99_ms": 0.3, "elapsed_s": t + 1.0}
        out.append((second, totals))
    return out


def test_live_display_prints_plain_lines_when_not_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=80)
    with LiveDisplay(mode="open", target="http://127.0.0.1:8080/[x]", console=console) as live:
        assert not live.interactive
        for second, totals in seconds():
            live.update(second, totals)
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("sengu load: open model") and lines[0].endswith("→ http://127.0.0.1:8080/[x]")
    assert lines[1:] == [
        "   0s  offered 1,000/s  achieved 998/s  p50 1.25 ms  p99 4.5 ms  max 9 ms  errors 0 (total 0, 0%)"
        "  send lag p99 0.3 ms",
        "   1s  offered 1,000/s  achieved 997/s  p50 1.25 ms  p99 5.5 ms  max 9 ms  errors 1 (total 1, 0.05%)"
        "  send lag p99 0.3 ms",
        "   2s  offered 1,000/s  achieved 996/s  p50 1.25 ms  p99 6.5 ms  max 9 ms  errors 2 (total 3, 0.1%)"
        "  send lag p99 0.3 ms",
    ]
    assert "\x1b[" not in buffer.getvalue()  # no escape codes in a log


def test_live_display_plain_closed_model_and_overflow() -> None:
    buffer = io.StringIO()
    with LiveDisplay(mode="closed", console=Console(file=buffer, force_terminal=False, width=80)) as live:
        second, totals = seconds()[0]
        live.update(second, totals | {"overflow": 12, "backlog": 40})
    first, line = buffer.getvalue().splitlines()
    assert first == f"sengu load: {LIVE_CLOSED_LABEL}"
    assert line.startswith("   0s  sent 1,000/s  achieved 998/s")
    assert "send lag" not in line  # no schedule, no lag
    assert line.endswith("backlog 40  overflow 12")


def test_live_display_on_a_terminal_draws_the_panel() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    with LiveDisplay(mode="open", target="http://127.0.0.1:8080/", console=console) as live:
        assert live.interactive
        for second, totals in seconds():
            live.update(second, totals | {"duration_s": 60.0, "offered_rate": 1_000.0, "in_flight": 7, "backlog": 0})
    out = buffer.getvalue()
    assert "achieved 996/s" in out
    assert "p99 6.5 ms" in out
    assert "3s / 60s" in out
    assert "total 3" in out
    assert sparkline([4.5, 5.5, 6.5]) in out
    assert "send lag" in out
    assert "7 in flight" in out and "backlog 0" in out


def test_sparkline() -> None:
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([1, 2, 4, 8]) == "▂▃▅█"
    assert sparkline([]) == ""


def test_live_and_report_do_not_load_rich_live_on_import() -> None:
    code = "import sys, sengu.load.live, sengu.load.report; assert 'rich.live' not in sys.modules, 'rich.live loaded'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
