"""Bar: the engine idles under 1% CPU with 10,000 jobs loaded.

A real `sengu up` process (python -m sengu up --port 0, SENGU_HOME in a temp dir) loads 10,000 jobs that are
not due during the measurement (`H H 1 1 *`: once a year, on January 1st). After it is ready and has settled,
its CPU time (utime + stime from /proc/PID/stat) is read before and after SECONDS of wall time.

Anchor, same run and same machine: the same `sengu up` with one such job, measured over the same seconds at
the same time. The ratio shows what 10,000 jobs cost at rest beyond the process itself (the HTTP server, the
asyncio loop).

Usage: python benchmarks/bench_idle.py [--jobs 10000] [--seconds 40]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import benchkit as kit

SCHEDULE = "H H 1 1 *"
BAR_PERCENT = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=40.0, help="wall time measured (at least 30)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after ready before measuring")
    args = parser.parse_args()

    with kit.workdir("idle") as wd:
        engines: dict[str, kit.EngineProcess] = {}
        try:
            for label, n in (("many", args.jobs), ("one", 1)):
                spec = wd / f"{label}.yaml"
                spec.write_text(kit.jobs_spec([SCHEDULE] * n, "true"))
                argv = [kit.PYTHON, "-m", "sengu", "up", str(spec), "--port", "0"]
                engines[label] = kit.start_engine(
                    argv, env=kit.bench_env(wd / f"home-{label}"), log=wd / f"{label}.log", ready_marker="sengu up:"
                )
            time.sleep(args.settle)
            before = {k: kit.cpu_seconds(e.pid) for k, e in engines.items()}
            t0 = time.monotonic()
            time.sleep(args.seconds)
            wall = time.monotonic() - t0
            after = {k: kit.cpu_seconds(e.pid) for k, e in engines.items()}
            rss = {k: kit.rss_mib(e.pid) for k, e in engines.items()}
        finally:
            codes = {k: e.stop() for k, e in engines.items()}

    used = {k: after[k] - before[k] for k in after}
    pct = {k: 100 * used[k] / wall for k in used}
    met = pct["many"] < BAR_PERCENT
    ratio = pct["many"] / pct["one"] if pct["one"] > 0 else None
    many, one = engines["many"], engines["one"]
    print(
        f"idle: {args.jobs} jobs loaded, {used['many']:.2f} s CPU in {wall:.1f} s = {pct['many']:.3f}% of one core"
        f" (bar < {BAR_PERCENT:.0f}%: {'MET' if met else 'NOT MET'}); RSS {rss['many']:.0f} MiB;"
        f" ready {many.ready_after_s:.1f} s after start"
    )
    ratio_text = "n/a (anchor used no measurable CPU)" if ratio is None else f"{ratio:.2f}"
    print(
        f"  anchor `sengu up` with 1 job (same run): {used['one']:.2f} s CPU = {pct['one']:.3f}%;"
        f" RSS {rss['one']:.0f} MiB; ready {one.ready_after_s:.1f} s after start; ratio {ratio_text};"
        f" exit codes {codes}"
    )
    result: dict[str, Any] = {
        "bench": "idle",
        "bar": f"CPU < {BAR_PERCENT}% with {args.jobs} jobs loaded and idle",
        "met": met,
        "value": pct["many"],
        "unit": "% of one core",
        "cpu_s": used["many"],
        "wall_s": wall,
        "rss_mib": rss["many"],
        "ready_after_s": many.ready_after_s,
        "anchor": {
            "one_job_cpu_percent": pct["one"],
            "one_job_rss_mib": rss["one"],
            "one_job_ready_after_s": one.ready_after_s,
        },
        "ratio_to_anchor": ratio,
        "summary": f"{pct['many']:.3f}% of one core over {wall:.0f} s; 1-job engine {pct['one']:.3f}%",
        "jobs": args.jobs,
    }
    kit.emit(result)


if __name__ == "__main__":
    main()
