"""Bar: 10,000 jobs spread by `H` start with p99 lateness under 100 ms.

A real engine process (benchmarks/shifted_engine.py: `sengu up` with a shifted clock) loads 10,000 jobs and
runs them for many scheduled minutes. Idle time between minutes is skipped (--warp): each due time is still
reached by a real timer after a real sleep, so a run of a few minutes of real time covers hundreds of due
(job, time) pairs. Each job's process writes its own wall-clock start and $SENGU_SCHEDULED_AT to a file named
after $SENGU_JOB; lateness is that start minus the real instant the engine's clock reached the scheduled time.

Two spreads, because `H` spreads over minutes and a minute boundary starts all of its jobs at once:
- daily:  `H H * * *`: 10,000 jobs over 1,440 minutes, about 7 per minute;
- hourly: `H * * * *`: 10,000 jobs over 60 minutes, about 167 per minute.
Anchor, same run: a bare Python loop starting the same number of commands as the largest minute (the floor
for starting processes on this machine, no scheduler at all).

Usage: python benchmarks/bench_spread.py [--scenario daily|hourly|both] [--jobs 10000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import benchkit as kit

TARGET = "2026-11-27T03:00:00+00:00"
BAR_P99_S = 0.100


@dataclass(frozen=True)
class Scenario:
    name: str
    schedule: str
    minutes: int  # scheduled minutes in the window, from TARGET
    gap_s: float  # real seconds the engine sleeps before each due minute (warp)


SCENARIOS = {
    "daily": Scenario("daily", "H H * * *", minutes=50, gap_s=1.0),
    "hourly": Scenario("hourly", "H * * * *", minutes=3, gap_s=3.0),
}


def expected_times(spec: Path, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """Every (job, scheduled time) in [start, end], from sengu's own resolution of the spec."""
    from sengu import capabilities

    (manager,) = capabilities.load([spec]).of("CronjobManager")
    before = start - timedelta(seconds=1)
    return [(p.name, t) for p in manager.jobs for s in p.schedules for t in s.times_between(before, end)]


def run(scenario: Scenario, jobs: int) -> dict[str, Any]:
    target = datetime.fromisoformat(TARGET)
    end = target + timedelta(minutes=scenario.minutes - 1)
    with kit.workdir(f"spread-{scenario.name}") as wd:
        out, home, jumps = wd / "out", wd / "home", wd / "jumps.jsonl"
        out.mkdir()
        spec = wd / "jobs.yaml"
        spec.write_text(kit.jobs_spec([scenario.schedule] * jobs, kit.RECORD_COMMAND, env={"BENCH_OUT": str(out)}))
        expected = expected_times(spec, target, end)
        per_minute = Counter(when for _, when in expected)
        argv = [
            kit.PYTHON,
            str(kit.BENCH_DIR / "shifted_engine.py"),
            str(spec),
            TARGET,
            "8",
            "--warp",
            str(scenario.gap_s),
            "--jumps",
            str(jumps),
        ]
        engine = kit.start_engine(argv, env=kit.bench_env(home), log=wd / "engine.log", ready_marker="ready ")
        info = json.loads(engine.ready_line.removeprefix("ready "))
        try:
            if info["lead_left_s"] < 0.5:
                raise SystemExit(f"the engine was ready only {info['lead_left_s']:.2f}s before {TARGET}")
            t0 = time.monotonic()
            timeout = info["lead_left_s"] + scenario.minutes * (scenario.gap_s + 1.0) + 30
            kit.wait_for_records(out, len(expected), timeout=timeout)
            window_s = time.monotonic() - t0
            cpu_s = kit.cpu_seconds(engine.pid)
            rss = kit.rss_mib(engine.pid)
        finally:
            rc = engine.stop()
        late = kit.lateness(kit.read_records(out), expected, kit.warped_offset(info["offset"], jumps))
        kit.require_starts(late, engine.log)
        view = kit.store_view(home)

        # Lateness by minute: the first start of a minute is the timer's wake-up; the rest queue behind it.
        by_minute: dict[datetime, list[float]] = defaultdict(list)
        convert = kit.warped_offset(info["offset"], jumps)
        for items in kit.read_records(out).values():
            for started, scheduled in items:
                when = datetime.fromisoformat(scheduled)
                if target <= when <= end:
                    by_minute[when].append(started - convert(when.timestamp()))
        first = sorted(min(v) for v in by_minute.values())
        last = sorted(max(v) for v in by_minute.values())

        # As many bursts as the engine had minutes (up to 5), pooled: one burst alone is a noisy anchor.
        biggest = max(per_minute.values())
        names = [kit.job_name(i) for i in range(biggest)]
        bursts = [
            kit.spawn_floor(wd / f"floor-{k}", names, at=time.time() + 0.5, scheduled_iso=TARGET)
            for k in range(min(scenario.minutes, 5))
        ]
        floor = kit.Lateness(
            values=[v for b in bursts for v in b.values], missing=[m for b in bursts for m in b.missing]
        )

    summary = late.summary()
    p99 = summary["p99_s"]
    met = p99 is not None and p99 < BAR_P99_S and not late.missing
    base = floor.summary()
    ratio_floor = None if p99 is None or not base["p99_s"] else p99 / base["p99_s"]
    print(
        f"spread {scenario.name} ({scenario.schedule!r}, {jobs} jobs): {len(expected)} due times in"
        f" {scenario.minutes} minutes (per minute: mean {len(expected) / len(per_minute):.0f}, max {biggest});"
        f" lateness p50 {kit.fmt_ms(summary['p50_s'])}, p99 {kit.fmt_ms(p99)}, max {kit.fmt_ms(summary['max_s'])},"
        f" missing {len(late.missing)} (bar p99 < {BAR_P99_S * 1000:.0f} ms: {'MET' if met else 'NOT MET'})"
    )
    print(
        f"  first start of each minute (timer wake-up): p50 {kit.fmt_ms(kit.percentile(first, 50))},"
        f" max {kit.fmt_ms(first[-1] if first else None)}; last start of each minute: p50"
        f" {kit.fmt_ms(kit.percentile(last, 50))}, max {kit.fmt_ms(last[-1] if last else None)}"
    )
    print(
        f"  engine: ready after {engine.ready_after_s:.1f} s, RSS {rss:.0f} MiB, CPU {cpu_s:.1f} s in total;"
        f" window {window_s:.0f} s real; run statuses {view['statuses']}; exit {rc}"
    )
    print(
        f"  anchor bare Popen loop, {biggest} commands at once, {len(bursts)} times (same run):"
        f" p50 {kit.fmt_ms(base['p50_s'])}, p99 {kit.fmt_ms(base['p99_s'])}; engine/floor p99 ratio {ratio_floor:.2f}"
    )
    return {
        "scenario": scenario.name,
        "schedule": scenario.schedule,
        "jobs": jobs,
        "met": met,
        "value": p99,
        "due_times": len(expected),
        "minutes": scenario.minutes,
        "per_minute_mean": len(expected) / len(per_minute),
        "per_minute_max": biggest,
        "lateness": summary,
        "first_per_minute_p50_s": kit.percentile(first, 50),
        "last_per_minute_p50_s": kit.percentile(last, 50),
        "engine_store": view,
        "engine_ready_after_s": engine.ready_after_s,
        "engine_rss_mib": rss,
        "anchor_spawn_floor": base,
        "ratio_to_floor": ratio_floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "both"], default="both")
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    names = list(SCENARIOS) if args.scenario == "both" else [args.scenario]
    results = [run(SCENARIOS[n], args.jobs) for n in names]
    worst = max(results, key=lambda r: r["value"] or 0)
    kit.emit(
        {
            "bench": "spread",
            "bar": f"p99 lateness < {BAR_P99_S * 1000:.0f} ms for {args.jobs} jobs spread by H",
            "met": all(r["met"] for r in results),
            "value": worst["value"],
            "unit": "s",
            "scenarios": results,
            "anchor": "bare Popen loop (spawn floor), same run",
            "ratio_to_anchor": worst["ratio_to_floor"],
            "summary": "; ".join(
                f"{r['scenario']} ({r['per_minute_mean']:.0f}/min) p99 {kit.fmt_ms(r['value'])}"
                f" {'MET' if r['met'] else 'NOT MET'}, {r['ratio_to_floor']:.2f}x floor"
                for r in results
            ),
        }
    )


if __name__ == "__main__":
    main()
