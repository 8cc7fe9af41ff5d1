"""Bar: from a queued webhook to the backend's launch call, p99 under 100 ms (backend time excluded).

`sengu up` with a RunnerPool in its own process (benchmarks/runners_engine.py) whose backends only record the
wall-clock instant `launch` is called and answer at once. A FakeGitHub in a third process has a distinct
job queued for every delivery and answers the engine's generate-jitconfig calls. The load is open-loop:
signed `workflow_job` `queued` deliveries at `--rate` a second for `--seconds` (after `--warmup` seconds
not counted). Per job: launch call minus the instant its delivery was due to be sent. Every job must be
launched; missing ones are reported and fail the bar. The path measured is the whole of the engine's:
HTTP intake, signature, SQLite commit, the processor waking, the state machine and its saves, label
resolution, GitHub's JIT config over loopback, the runner's row, then `launch`.

Anchor, in the same run, same load: the same HTTP stack with a route that answers 202 at once and then
asks a fake GitHub (a fresh one, like the engine's) for a JIT config through sengu's GitHub client and
records the launch — no signature, no store, no state machine: what this machine needs to get from a
webhook to a launch at all. The time each generate-jitconfig call took is recorded too, and reported
subtracted (GitHub here is a loopback fake; the real one answers in its own time).

The engine's ticker runs every 10 s over every open job, and here no job ever finishes, so a run of 10 s
or more includes one tick over about 2,000 open jobs; shorter runs miss it.

Usage: python benchmarks/bench_runners_launch.py [--rate 200] [--seconds 10] [--warmup 1] [--wait 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import benchkit as kit
import runners_engine as rk

BAR_P99_S = 0.100


def run(engine: bool, wd: Path, name: str, per_run: int, args: Any, warm: int) -> dict[str, Any]:
    launches = wd / f"{name}-launches.jsonl"
    with rk.fake_github(wd, name, per_run) as gh:
        if engine:
            mode = ["engine", str(gh.pool), str(launches)]
        else:
            mode = ["floor", "--pool", str(gh.pool), "--launches", str(launches)]
        out = measure(mode, wd, name, gh.deliveries, launches, args, warm)
    out["github"] = gh.stats
    return out


def measure(
    mode: list[str], wd: Path, name: str, deliveries: list[rk.Delivery], launches: Path, args: Any, warm: int
) -> dict[str, Any]:
    proc, info = rk.start(mode, wd, f"{name}.log", home=wd / f"home-{name}")
    try:
        cpu0 = kit.cpu_seconds(proc.pid)
        load = rk.fire(info["port"], deliveries, args.rate, warmup=warm, connections=args.connections)
        waited = rk.wait_launches(launches, len(deliveries), settle_s=5.0, cap_s=args.wait)
        cpu = kit.cpu_seconds(proc.pid) - cpu0
    finally:
        rc = proc.stop()
    result = rk.launch_latency(load, rk.read_launches(launches), rk.read_github_times(launches))
    problems, first = rk.log_problems(proc.log)
    return {
        "load": load,
        "launch": result,
        "waited_s": waited,
        "cpu_share": cpu / (len(deliveries) / args.rate),
        "exit": rc,
        "store": rk.store_view(wd / f"home-{name}") if name == "sengu" else None,
        "log_problems": problems,
        "first_problem": first[0] if first else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds of load")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections opened beforehand")
    parser.add_argument("--wait", type=float, default=30.0, help="longest wait for launches after the load")
    args = parser.parse_args()

    warm = round(args.rate * args.warmup)
    per_run = warm + round(args.rate * args.seconds)
    with kit.workdir("runners-launch") as wd:
        base = run(False, wd, "floor", per_run, args, warm)
        ours = run(True, wd, "sengu", per_run, args, warm)
    github = {"floor": base["github"], "sengu": ours["github"]}

    s, b = ours["launch"].summary(), base["launch"].summary()
    si, bi = ours["load"].summary(), base["load"].summary()
    p99 = s["p99_s"]
    missing = ours["launch"].missing
    met = p99 is not None and p99 < BAR_P99_S and not missing and not ours["load"].failures()
    r = rk.ratio(p99, b["p99_s"])
    print(
        f"runners launch: {si['sent']} queued deliveries at {args.rate:.0f}/s ({warm} warm-up not counted),"
        f" webhook -> launch call: p50 {rk.ms(s['p50_s'])}, p95 {rk.ms(s['p95_s'])}, p99 {rk.ms(p99)},"
        f" max {rk.ms(s['max_s'])} (bar p99 < {BAR_P99_S * 1000:.0f} ms: {'MET' if met else 'NOT MET'})"
    )
    sent_all = len(ours["load"].sent)
    print(
        f"  launched {sent_all - len(missing)} of {sent_all} jobs (warm-up included)"
        + (f"  <-- {len(missing)} MISSING, e.g. job {missing[0]}" if missing else "")
        + f"; relaunched {s['relaunched']}, unexpected {s['unexpected']};"
        f" waited {ours['waited_s']:.1f} s after the load"
    )
    print(
        f"  webhook answers meanwhile: p50 {rk.ms(si['p50_s'])}, p99 {rk.ms(si['p99_s'])}, {si['statuses']};"
        f" engine CPU {ours['cpu_share']:.0%} of a core; exit {ours['exit']}"
    )
    print(
        f"  store {ours['store']}; {ours['log_problems']} warning/error log lines"
        + (f": {ours['first_problem']}" if ours["first_problem"] else "")
    )
    print(
        f"  anchor bare route + JIT config, no store (same run): p50 {rk.ms(b['p50_s'])}, p95 {rk.ms(b['p95_s'])},"
        f" p99 {rk.ms(b['p99_s'])}, max {rk.ms(b['max_s'])}, missing {b['missing']},"
        f" CPU {base['cpu_share']:.0%} of a core; sengu/floor p99 ratio {rk.fmt_ratio(r)}"
    )
    sg, sw, bg = s["github_call"], s["without_github_call"], b["github_call"]
    print(
        f"  of which generate-jitconfig (fake GitHub, as the caller saw it): p50 {rk.ms(sg['p50_s'])},"
        f" p99 {rk.ms(sg['p99_s'])} (floor run: p50 {rk.ms(bg['p50_s'])}, p99 {rk.ms(bg['p99_s'])});"
        f" launch minus it: p50 {rk.ms(sw['p50_s'])}, p99 {rk.ms(sw['p99_s'])}, max {rk.ms(sw['max_s'])}"
    )
    print(f"  launch p99 by second of load: sengu {rk.fmt_seconds(s['per_second_p99_s'])}")
    print(f"                                floor {rk.fmt_seconds(b['per_second_p99_s'])}")
    print(f"  answer p99 by second of load: sengu {rk.fmt_seconds(si['per_second_p99_s'])}")
    print(
        f"  load generator: lag p99 {rk.ms(si['lag_p99_s'])} (floor run {rk.ms(bi['lag_p99_s'])}); fake GitHub {github}"
    )
    kit.emit(
        {
            "bench": "runners_launch",
            "bar": f"queued webhook -> backend launch call p99 < {BAR_P99_S * 1000:.0f} ms at {args.rate:.0f}/s",
            "met": met,
            "value": p99,
            "unit": "s",
            "launch": s,
            "intake": si,
            "missing": [list(m) for m in missing[:20]],
            "engine_cpu_share": ours["cpu_share"],
            "engine_store": ours["store"],
            "engine_log_problems": ours["log_problems"],
            "anchor": {"bare_route_jitconfig": b, "bare_route_intake": bi, "cpu_share": base["cpu_share"]},
            "ratio_to_floor": r,
            "summary": f"p50 {rk.ms(s['p50_s'])}, p99 {rk.ms(p99)}, {len(missing)} missing;"
            f" {rk.fmt_ratio(r)} floor p99 ({rk.ms(b['p99_s'])})",
            "github": github,
        }
    )


if __name__ == "__main__":
    main()
