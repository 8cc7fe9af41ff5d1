"""`sengu load run --report FILE.html` and `sengu load step --report`: one self-contained HTML file.

No script, no external URL, no CDN: inline CSS and SVG charts drawn here, so the file opens anywhere
(an air-gapped laptop, a CI artifact) and shows the same thing in ten years. Everything that came from
outside — target, endpoint names, warnings — goes through ``html.escape``; the only URL in the file is
the target, as text.

One Result gives a run report: mode, summary, latency distributions, rate / latency / errors per second,
endpoints, statuses, error classes. Several Results (the steps of `sengu load step`) give a step report:
achieved rate and p99 per offered rate with the knee marked, a table of the steps, and each step's own
run report folded underneath.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from sengu.load.numbers import fmt_ms, fmt_num, fmt_pct, fmt_rate
from sengu.load.result import CLOSED_LABEL, OPEN_LABEL, Latency, Result
from sengu.load.step import Knee, Slo, slo_breaches

CLOSED_DETAIL = (
    "Each connection sends its next request when the previous answer arrives, so a slow server slows the "
    "generator down and its stalls are hidden from the latency. Use this mode for raw throughput only."
)
OPEN_DETAIL = (
    "A server stall shows up in the latency (no coordinated omission). Service time counts from the moment a "
    "request was actually written; send lag is the difference — a large send lag means the generator, not "
    "the server, was late."
)
ERROR_CLASS_MEANING = {
    "connect": "could not connect",
    "timeout": "no answer within the timeout",
    "reset": "connection reset or closed before the answer",
    "protocol": "the answer was not valid HTTP",
    "overflow": "dropped before sending: the generator's backlog was full",
}

_BLUE, _GREY, _GREEN, _ORANGE, _RED = "#1f77b4", "#8c8c8c", "#2ca02c", "#ff7f0e", "#d62728"

_CSS = """
:root { --fg: #1b1f24; --muted: #5b6470; --bg: #ffffff; --panel: #f5f7fa; --line: #d9dee5;
        --bad: #c62828; --warn-bg: #fff4d6; --warn-line: #e0b030; --ok: #2e7d32; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e8eb; --muted: #9aa3ad; --bg: #15181c; --panel: #1e2227; --line: #343a42;
          --bad: #ff6b6b; --warn-bg: #3a3117; --warn-line: #a08020; --ok: #66bb6a; }
}
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; padding: 24px; }
main { max-width: 1000px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; word-break: break-all; }
.mode { padding: 10px 14px; border-radius: 6px; background: var(--panel); border-left: 4px solid #1f77b4; }
.mode.closed { border-left-color: var(--warn-line); background: var(--warn-bg); }
.mode strong { display: block; }
.interrupted { padding: 10px 14px; margin: 0 0 10px; border-radius: 6px; background: var(--warn-bg);
               border-left: 4px solid var(--bad); }
.warnings { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 6px;
            padding: 8px 14px 8px 30px; }
.verdict { font-size: 16px; padding: 10px 14px; border-radius: 6px; background: var(--panel); }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }
th { font-weight: 600; background: var(--panel); }
th:first-child, td:first-child, td.text { text-align: left; }
td.name { text-align: left; word-break: break-all; max-width: 320px; }
.bad { color: var(--bad); font-weight: 600; }
.ok { color: var(--ok); font-weight: 600; }
.muted { color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 10px 0; }
.tile { background: var(--panel); border-radius: 6px; padding: 8px 10px; }
.tile .k { color: var(--muted); font-size: 12px; }
.tile .v { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
figure { margin: 10px 0 16px; }
figcaption { font-weight: 600; margin-bottom: 2px; }
svg { width: 100%; height: auto; max-width: 960px; color: var(--fg); }
svg text { font: 11px system-ui, sans-serif; fill: currentColor; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .gridline { stroke: var(--line); stroke-width: 1; }
details { margin: 8px 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
summary { cursor: pointer; font-weight: 600; }
footer { color: var(--muted); margin-top: 32px; font-size: 12px; }
"""


# --- small HTML pieces --------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table from already-escaped cell HTML (cells are built by the callers with _e)."""
    out = [f'<table class="{cls}">' if cls else "<table>", "<thead><tr>"]
    out.extend(f"<th>{h}</th>" for h in head)
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _tile(key: str, value: str, *, bad: bool = False) -> str:
    cls = ' class="v bad"' if bad else ' class="v"'
    return f'<div class="tile"><div class="k">{_e(key)}</div><div{cls}>{_e(value)}</div></div>'


# --- SVG charts ---------------------------------------------------------------------------------------------


@dataclass
class _Series:
    label: str
    color: str
    points: Sequence[tuple[float, float | None]]  # y None: nothing to show there, a gap in the line
    dashed: bool = False
    line: bool = True
    dots: bool = False
    tips: list[str] = field(default_factory=list)  # one tooltip per point, when dots are drawn


@dataclass
class _Marker:
    x: float
    label: str
    color: str


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _linear_ticks(lo: float, hi: float, count: int = 5, *, whole: bool = False) -> tuple[float, float, list[float]]:
    if hi <= lo:
        hi = lo + 1
    step = _nice_step(hi - lo, count)
    if whole:
        step = max(1.0, math.ceil(step))
    start = math.floor(lo / step) * step
    end = math.ceil(hi / step) * step
    ticks = [start + i * step for i in range(round((end - start) / step) + 1)]
    return start, end, ticks


def _log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    low = 10 ** math.floor(math.log10(lo))
    high = 10 ** math.ceil(math.log10(hi))
    if high <= low:
        high = low * 10
    decades = round(math.log10(high / low))
    multipliers = (1, 2, 5) if decades <= 3 else (1,)
    ticks = [low * 10**d * m for d in range(decades + 1) for m in multipliers if low * 10**d * m <= high * (1 + 1e-9)]
    return low, high, ticks


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The stretches of points with a value, split where a value is missing (drawn as gaps, never as 0)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _chart(
    series: Sequence[_Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    markers: Sequence[_Marker] = (),
    hlines: Sequence[tuple[float, str, str]] = (),
    bars: bool = False,
    log_y: bool = False,
    whole_y: bool = False,
    width: int = 900,
    height: int = 260,
) -> str:
    """A line (or bar) chart as inline SVG, axes and legend included; every text passes through _e."""
    left, right, top, bottom = 70, 20, 30, 42
    pw, ph = width - left - right, height - top - bottom
    xs = [x for s in series for x, _ in s.points] + [m.x for m in markers]
    ys = [y for s in series for _, y in s.points if y is not None] + [y for y, _, _ in hlines]
    if not xs:
        return f"<figure><figcaption>{_e(title)}</figcaption><p class='muted'>Nothing measured.</p></figure>"
    x_lo, x_hi = min(xs), max(xs)
    if bars:
        x_hi += 1  # a bar for second t spans [t, t+1)
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    if log_y:
        positive = [y for y in ys if y > 0] or [1.0]
        y_lo, y_hi, y_ticks = _log_ticks(min(positive), max(positive))
    else:
        y_lo, y_hi, y_ticks = _linear_ticks(0.0, max([*ys, 0.0]) or 1.0, whole=whole_y)
    _, _, x_ticks = _linear_ticks(x_lo, x_hi, 8)
    x_ticks = [t for t in x_ticks if x_lo - 1e-9 <= t <= x_hi + 1e-9]

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def sy(y: float) -> float:
        if log_y:
            y = max(y, y_lo)
            frac = (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
        else:
            frac = (y - y_lo) / (y_hi - y_lo)
        return top + ph - frac * ph

    out = [
        f"<figure><figcaption>{_e(title)}</figcaption>",
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
    ]
    for t in y_ticks:
        y = sy(t)
        out.append(f'<line class="gridline" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(fmt_num(t))}</text>')
    for t in x_ticks:
        x = sx(t)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{_e(fmt_num(t))}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">{_e(x_label)}</text>')
    out.append(
        f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + ph / 2:.1f})">{_e(y_label)}</text>'
    )
    for y_value, label, color in hlines:
        y = sy(y_value)
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
            f'stroke-dasharray="6 4" stroke-width="1.5"/>'
        )
        out.append(f'<text x="{left + pw - 4}" y="{y - 4:.1f}" text-anchor="end">{_e(label)}</text>')
    bar_width = pw / (x_hi - x_lo)
    for s in series:
        known = [(x, y) for x, y in s.points if y is not None]
        if bars:
            for x, y in known:
                if y <= 0:
                    continue
                y0, y1 = sy(0 if not log_y else y_lo), sy(y)
                out.append(
                    f'<rect x="{sx(x):.1f}" y="{y1:.1f}" width="{max(bar_width - 0.5, 0.8):.1f}" '
                    f'height="{max(y0 - y1, 0.5):.1f}" fill="{s.color}"><title>{_e(fmt_num(x))} s: '
                    f"{_e(fmt_num(y))} {_e(s.label)}</title></rect>"
                )
            continue
        runs = _runs(s.points)
        if s.line and len(known) > 1:
            dash = ' stroke-dasharray="5 4"' if s.dashed else ""
            for run in runs:
                if len(run) < 2:
                    continue
                path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="1.6"{dash}>'
                    f"<title>{_e(s.label)}</title></polyline>"
                )
        # A point alone between gaps has no line through it: draw it as a dot, or it would not show.
        lone = {run[0] for run in runs if len(run) == 1} if s.line and len(known) > 1 else set()
        if s.dots or len(known) == 1 or lone:
            for i, (x, maybe) in enumerate(s.points):
                if maybe is None or not (s.dots or len(known) == 1 or (x, maybe) in lone):
                    continue
                y = maybe
                tip = s.tips[i] if i < len(s.tips) else f"{fmt_num(x)}: {fmt_num(y)}"
                out.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{s.color}">'
                    f"<title>{_e(tip)}</title></circle>"
                )
    for i, m in enumerate(markers):
        x = sx(m.x)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="{m.color}" '
            f'stroke-dasharray="3 3" stroke-width="1.5"/>'
        )
        # Staggered, so the knee's and the break's labels never overprint when the two are close.
        out.append(f'<text x="{x + 4:.1f}" y="{top + 10 + 14 * i}" fill="{m.color}">{_e(m.label)}</text>')
    lx = left
    for s in series:
        out.append(f'<rect x="{lx}" y="8" width="14" height="4" fill="{s.color}"/>')
        out.append(f'<text x="{lx + 18}" y="14">{_e(s.label)}</text>')
        lx += 30 + 7 * len(s.label)
    out.append("</svg></figure>")
    return "".join(out)


# --- one run ------------------------------------------------------------------------------------------------


def _mode_banner(result: Result) -> str:
    if result.mode == "closed":
        return f'<div class="mode closed"><strong>{_e(CLOSED_LABEL)}</strong>{_e(CLOSED_DETAIL)}</div>'
    return f'<div class="mode"><strong>{_e(OPEN_LABEL)}</strong>{_e(OPEN_DETAIL)}</div>'


def _summary(result: Result) -> str:
    offered = result.offered_rate
    short = offered is not None and offered > 0 and result.achieved_rate < 0.99 * offered
    tiles = [
        _tile("offered rate", fmt_rate(offered) if offered is not None else "none (closed model)"),
        _tile(
            "achieved rate",
            fmt_rate(result.achieved_rate) + (f" ({fmt_pct(result.achieved_rate / offered)})" if offered else ""),
            bad=short,
        ),
        _tile("requests", fmt_num(result.requests)),
        _tile("errors", fmt_num(result.errors), bad=result.errors > 0),
        _tile("error rate", fmt_pct(result.error_rate), bad=result.errors > 0),
        _tile("p50", fmt_ms(result.latency_ms.ms("p50"))),
        _tile("p99", fmt_ms(result.latency_ms.ms("p99"))),
        _tile("max", fmt_ms(result.latency_ms.ms("max"))),
        _tile("overflow", fmt_num(result.overflow), bad=result.overflow > 0),
        _tile("duration", f"{fmt_num(result.duration_s)} s"),
        _tile("workers × connections", f"{result.workers} × {fmt_num(result.connections)}"),
    ]
    if result.generator_cpu is not None:
        tiles.append(_tile("generator CPU per worker", fmt_pct(result.generator_cpu), bad=result.generator_cpu > 0.9))
    return f'<div class="grid">{"".join(tiles)}</div>'


def _latency_table(result: Result) -> str:
    def row(name: str, latency: Latency, note: str) -> list[str]:
        return [
            f'<td class="text">{_e(name)} <span class="muted">{_e(note)}</span></td>',
            _e(fmt_num(latency.count)),
            _e(fmt_ms(latency.ms("mean"))),
            _e(fmt_ms(latency.ms("p50"))),
            _e(fmt_ms(latency.ms("p90"))),
            _e(fmt_ms(latency.ms("p99"))),
            _e(fmt_ms(latency.ms("p999"))),
            _e(fmt_ms(latency.ms("max"))),
        ]

    if result.mode == "closed":
        rows = [row("latency", result.latency_ms, "(= service time: no schedule)")]
    else:
        rows = [
            row("latency", result.latency_ms, "from intended start"),
            row("service time", result.service_ms, "from actual send"),
            row("send lag", result.send_lag_ms, "generator lateness"),
        ]
    return _table(["", "count", "mean", "p50", "p90", "p99", "p99.9", "max"], rows)


def _timeline_charts(result: Result) -> str:
    timeline = sorted(result.timeline, key=lambda s: s.t)
    if not timeline:
        return "<p class='muted'>No per-second timeline in this result.</p>"
    sent = "sent" if result.mode == "closed" else "offered (due)"
    rate = _chart(
        [
            _Series(sent, _GREY, [(s.t, s.offered) for s in timeline], dashed=True),
            _Series("achieved (answered)", _BLUE, [(s.t, s.answered) for s in timeline]),
        ],
        title="Rate per second: offered vs achieved",
        x_label="seconds",
        y_label="requests/s",
    )
    p50s = [s.p50_ms for s in timeline if s.p50_ms]
    peak = max((s.max_ms for s in timeline if s.max_ms is not None), default=0.0)
    # A one-second stall dwarfs a 2 ms median on a linear axis: switch to log when the spread is that wide.
    log_y = bool(p50s) and peak > 20 * statistics.median(p50s)
    latency = _chart(
        [
            _Series("p50", _GREEN, [(s.t, s.p50_ms) for s in timeline]),
            _Series("p99", _ORANGE, [(s.t, s.p99_ms) for s in timeline]),
            _Series("max", _RED, [(s.t, s.max_ms) for s in timeline]),
        ],
        title="Latency per second" + (" (log scale)" if log_y else ""),
        x_label="seconds",
        y_label="ms",
        log_y=log_y,
    )
    errors = _chart(
        [_Series("errors", _RED, [(s.t, s.errors) for s in timeline])],
        title="Errors per second",
        x_label="seconds",
        y_label="errors",
        bars=True,
        whole_y=True,
    )
    return rate + latency + errors


def _endpoints_table(result: Result) -> str:
    if not result.endpoints:
        return "<p class='muted'>No per-endpoint breakdown in this result.</p>"
    total = sum(e.requests for e in result.endpoints) or 1
    rows = []
    for e in sorted(result.endpoints, key=lambda e: -e.requests):
        rate = e.errors / e.requests if e.requests else 0.0
        statuses = " · ".join(f"{code}: {fmt_num(n)}" for code, n in sorted(e.statuses.items()))
        rows.append(
            [
                f'<td class="name">{_e(e.name)}</td>',
                _e(fmt_num(e.requests)),
                _e(fmt_pct(e.requests / total)),
                f'<td class="bad">{_e(fmt_num(e.errors))}</td>' if e.errors else "0",
                _e(fmt_pct(rate)),
                _e(fmt_ms(e.latency_ms.ms("p50"))),
                _e(fmt_ms(e.latency_ms.ms("p90"))),
                _e(fmt_ms(e.latency_ms.ms("p99"))),
                _e(fmt_ms(e.latency_ms.ms("max"))),
                f'<td class="text">{_e(statuses)}</td>',
            ]
        )
    return _table(
        ["endpoint", "requests", "share", "errors", "error rate", "p50", "p90", "p99", "max", "statuses"], rows
    )


def _status_tables(result: Result) -> str:
    answered = sum(result.statuses.values())
    status_rows = []
    for code, n in sorted(result.statuses.items()):
        cls = "bad" if code.startswith("5") else ("muted" if code.startswith(("3", "4")) else "")
        cell = f'<td class="text {cls}">{_e(code)}</td>'
        status_rows.append([cell, _e(fmt_num(n)), _e(fmt_pct(n / answered if answered else 0.0))])
    out = "<h3>HTTP statuses</h3>"
    out += _table(["status", "answers", "share"], status_rows) if status_rows else "<p class='muted'>No answers.</p>"
    failed = sum(result.error_classes.values())
    class_rows = [
        [
            f'<td class="text">{_e(kind)}</td>',
            f'<td class="text muted">{_e(ERROR_CLASS_MEANING.get(kind, ""))}</td>',
            f'<td class="bad">{_e(fmt_num(n))}</td>' if n else "0",
            _e(fmt_pct(n / result.requests if result.requests else 0.0)),
        ]
        for kind, n in sorted(result.error_classes.items(), key=lambda kv: -kv[1])
    ]
    out += "<h3>Requests without an HTTP answer</h3>"
    if class_rows and failed:
        out += _table(["class", "meaning", "requests", "of all"], class_rows)
    else:
        out += "<p class='muted'>None: every request got an HTTP answer.</p>"
    return out


def _interrupted_banner(text: str) -> str:
    return f'<div class="interrupted"><strong>Interrupted (Ctrl-C).</strong> {_e(text)}</div>'


def _run_body(result: Result, *, heading: int = 2) -> str:
    h = f"h{heading}"
    parts = [_mode_banner(result)]
    if result.interrupted:
        parts.insert(
            0,
            _interrupted_banner(
                f"Stopped after {fmt_num(round(result.duration_s, 1))} s of the {fmt_num(result.planned_s or 0)} s "
                "planned: a partial result, over the part that ran."
            ),
        )
    if result.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in result.warnings)
        parts.append(f'<{h}>Warnings</{h}><ul class="warnings">{items}</ul>')
    parts.append(f"<{h}>Summary</{h}>")
    parts.append(_summary(result))
    parts.append(_latency_table(result))
    parts.append(f"<{h}>Over time</{h}>")
    parts.append(_timeline_charts(result))
    parts.append(f"<{h}>Endpoints</{h}>")
    parts.append(_endpoints_table(result))
    parts.append(f"<{h}>Statuses and errors</{h}>")
    parts.append(_status_tables(result))
    return "".join(parts)


# --- a step run ---------------------------------------------------------------------------------------------


def _slo_text(slo: Slo) -> str:
    limits = []
    if slo.max_p99_ms is not None:
        limits.append(f"p99 ≤ {fmt_ms(slo.max_p99_ms)}")
    if slo.max_error_rate is not None:
        limits.append(f"errors ≤ {fmt_pct(slo.max_error_rate)}")
    if slo.min_achieved_ratio is not None:
        limits.append(f"achieved ≥ {fmt_pct(slo.min_achieved_ratio)} of offered, no overflow")
    return ", ".join(limits) or "no limits"


def _verdict(knee: Knee) -> str:
    if knee.rate is None:
        first = min((s.rate for s in knee.steps), default=0.0)
        text = f"No knee: the first step, {fmt_rate(first)}, already broke the SLO ({'; '.join(knee.broke_by)})."
        return f'<p class="verdict bad">{_e(text)}</p>'
    if knee.broke_at is None:
        text = f"The SLO held up to the highest rate tried, {fmt_rate(knee.rate)}: the knee is above it."
        return f'<p class="verdict">{_e(text)}</p>'
    return (
        f'<p class="verdict">Knee: <strong>{_e(fmt_rate(knee.rate))}</strong> held within the SLO; '
        f'<span class="bad">{_e(fmt_rate(knee.broke_at))}</span> broke it ({_e("; ".join(knee.broke_by))}).</p>'
    )


def _step_section(results: Sequence[Result], knee: Knee | None) -> str:
    # Step outcome per result: from the knee when given (it knows the SLO), else only the measurements.
    verdicts: dict[int, tuple[bool, list[str]]] = {}
    if knee is not None:
        for s in knee.steps:
            verdicts[id(s.result)] = (s.ok, s.reasons)
    for r in results:
        if id(r) not in verdicts and knee is not None:
            reasons = slo_breaches(r, knee.slo)
            verdicts[id(r)] = (not reasons, reasons)
    ordered = sorted(results, key=lambda r: r.offered_rate if r.offered_rate is not None else r.achieved_rate)
    with_rate = [r for r in ordered if r.offered_rate is not None]
    timed = [r for r in with_rate if r.latency_ms.measured]  # a step nobody answered has no latency to plot
    parts = ["<h2>Step search</h2>"]
    if knee is not None and knee.interrupted:
        parts.append(
            _interrupted_banner(
                f"The search stopped after {len(knee.steps)} step(s); the last may be cut short and has no verdict."
            )
        )
    if knee is not None:
        parts.append(_verdict(knee))
        parts.append(f"<p>SLO: {_e(_slo_text(knee.slo))}.</p>")
    markers: list[_Marker] = []
    if knee is not None and knee.rate is not None:
        markers.append(_Marker(knee.rate, f"knee {fmt_rate(knee.rate)}", _GREEN))
    if knee is not None and knee.broke_at is not None:
        markers.append(_Marker(knee.broke_at, f"broke {fmt_rate(knee.broke_at)}", _RED))

    def tip(r: Result, what: str) -> str:
        ok, reasons = verdicts.get(id(r), (True, []))
        return f"offered {fmt_rate(r.offered_rate or 0)}: {what}" + ("" if ok else " — " + "; ".join(reasons))

    if with_rate:
        bad = [r for r in with_rate if not verdicts.get(id(r), (True, []))[0]]
        top = max(r.offered_rate or 0.0 for r in with_rate)
        parts.append(
            _chart(
                [
                    _Series("offered (ideal)", _GREY, [(0.0, 0.0), (top, top)], dashed=True),
                    _Series(
                        "achieved",
                        _BLUE,
                        [(r.offered_rate or 0.0, r.achieved_rate) for r in with_rate],
                        dots=True,
                        tips=[tip(r, f"achieved {fmt_rate(r.achieved_rate)}") for r in with_rate],
                    ),
                    _Series(
                        "broke the SLO",
                        _RED,
                        [(r.offered_rate or 0.0, r.achieved_rate) for r in bad],
                        line=False,
                        dots=True,
                        tips=[tip(r, f"achieved {fmt_rate(r.achieved_rate)}") for r in bad],
                    ),
                ],
                title="Achieved rate per offered rate",
                x_label="offered requests/s",
                y_label="achieved requests/s",
                markers=markers,
            )
        )
        hlines = []
        lows = [r.latency_ms.p50 for r in timed if r.latency_ms.p50 > 0]
        # Past the knee p99 grows by orders of magnitude; a linear axis would flatten every good step.
        log_y = bool(lows) and max(r.latency_ms.p99 for r in timed) > 50 * min(lows)
        if knee is not None and knee.slo.max_p99_ms is not None:
            hlines.append((knee.slo.max_p99_ms, f"SLO p99 {fmt_ms(knee.slo.max_p99_ms)}", _RED))
        parts.append(
            _chart(
                [
                    _Series(
                        "p99",
                        _ORANGE,
                        [(r.offered_rate or 0.0, r.latency_ms.p99) for r in timed],
                        dots=True,
                        tips=[tip(r, f"p99 {fmt_ms(r.latency_ms.ms('p99'))}") for r in timed],
                    ),
                    _Series(
                        "p50",
                        _GREEN,
                        [(r.offered_rate or 0.0, r.latency_ms.p50) for r in timed],
                        dots=True,
                        tips=[tip(r, f"p50 {fmt_ms(r.latency_ms.ms('p50'))}") for r in timed],
                    ),
                ],
                title="Latency per offered rate" + (" (log scale)" if log_y else ""),
                x_label="offered requests/s",
                y_label="ms",
                markers=markers,
                hlines=hlines,
                log_y=log_y,
            )
        )
    rows = []
    for r in ordered:
        ok, reasons = verdicts.get(id(r), (True, []))
        verdict = (
            '<td class="text muted">—</td>'
            if knee is None
            else ('<td class="text ok">ok</td>' if ok else f'<td class="text bad">{_e("; ".join(reasons))}</td>')
        )
        is_knee = knee is not None and knee.rate is not None and r.offered_rate == knee.rate
        offered = fmt_rate(r.offered_rate) if r.offered_rate is not None else "closed"
        rows.append(
            [
                f'<td class="text">{_e(offered)}{" <strong>(knee)</strong>" if is_knee else ""}</td>',
                _e(fmt_rate(r.achieved_rate)),
                _e(fmt_num(r.requests)),
                _e(fmt_pct(r.error_rate)),
                _e(fmt_ms(r.latency_ms.ms("p50"))),
                _e(fmt_ms(r.latency_ms.ms("p99"))),
                _e(fmt_ms(r.latency_ms.ms("max"))),
                _e(fmt_ms(r.send_lag_ms.ms("p99"))),
                _e(fmt_num(r.overflow)),
                verdict,
            ]
        )
    parts.append(
        _table(
            ["offered", "achieved", "requests", "errors", "p50", "p99", "max", "send lag p99", "overflow", "verdict"],
            rows,
        )
    )
    parts.append("<h2>Each step</h2>")
    for r in ordered:
        offered = fmt_rate(r.offered_rate) if r.offered_rate is not None else "closed model"
        ok, reasons = verdicts.get(id(r), (True, []))
        status = "" if knee is None else (" — ok" if ok else " — broke: " + "; ".join(reasons))
        parts.append(
            f"<details><summary>{_e(offered)}: p99 {_e(fmt_ms(r.latency_ms.ms('p99')))}, achieved "
            f"{_e(fmt_rate(r.achieved_rate))}{_e(status)}</summary>{_run_body(r, heading=3)}</details>"
        )
    return "".join(parts)


# --- the page -----------------------------------------------------------------------------------------------


def render_html(results: Sequence[Result], *, title: str, knee: Knee | None = None) -> str:
    """The report as one HTML document (a str to write to FILE.html).

    One Result: a run report. Several (or a knee): a step report, the knee marked. When ``knee`` is
    given and ``results`` is empty, the knee's own steps are used.
    """
    if not results and knee is not None:
        results = [s.result for s in knee.steps]
    if not results:
        raise ValueError("render_html needs at least one Result")
    targets = sorted({r.target for r in results})
    started = min((r.started_at for r in results if r.started_at), default=None)
    subtitle = " · ".join([f"target {t}" for t in targets] + ([f"started {started}"] if started else []))
    step_run = len(results) > 1 or knee is not None
    body = _step_section(results, knee) if step_run else _run_body(results[0])
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body><main><h1>{_e(title)}</h1><p class="sub">{_e(subtitle)}</p>'
        f"{body}"
        f"<footer>Generated by sengu load on {_e(generated)}. Latencies in milliseconds.</footer>"
        "</main></body></html>\n"
    )
