"""Bar: the runners webhook answers in p99 under 20 ms at 200 deliveries/s.

`sengu up` with a RunnerPool (benchmarks/runners_engine.py: its backends only record launches) in its own
process takes `workflow_job` `queued` deliveries on POST /webhooks/github, each signed with
X-Hub-Signature-256 as GitHub signs it and each for a distinct job queued first in a FakeGitHub (own process,
which the engine calls for JIT configs). Every 202 means the signature was checked and the delivery committed
to SQLite. The load is open-loop, `--rate` a second for `--seconds` after `--warmup` seconds that are not
counted; latency runs from the instant a request was due to the end of its answer. The engine's processor
launches runners from the same deliveries meanwhile, as it would in production.

Anchor, in the same run, same load, same client: the same HTTP stack (sengu.core.server.serve, uvicorn +
starlette) with a /webhooks/github route that reads the body and answers 202, without checking or storing:
the floor of this machine and this stack. sengu's p99 is reported as a ratio of it.

The engine's ticker runs every 10 s over every open job, and here no job ever finishes, so a run of 10 s
or more includes one tick over about 2,000 open jobs; shorter runs miss it.

Usage: python benchmarks/bench_runners_intake.py [--rate 200] [--seconds 10] [--warmup 1]
"""

from __future__ import annotations

import argparse

import benchkit as kit
import runners_engine as rk

BAR_P99_S = 0.020


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds of load")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections opened beforehand")
    args = parser.parse_args()

    warm = round(args.rate * args.warmup)
    per_run = warm + round(args.rate * args.seconds)
    with kit.workdir("runners-intake") as wd:
        home = wd / "home"
        with rk.fake_github(wd, "floor", per_run) as gh:
            floor, floor_info = rk.start(["floor"], wd, "floor.log")
            try:
                cpu0 = kit.cpu_seconds(floor.pid)
                base = rk.fire(floor_info["port"], gh.deliveries, args.rate, warmup=warm, connections=args.connections)
                floor_cpu = kit.cpu_seconds(floor.pid) - cpu0
            finally:
                floor.stop()

        launches = wd / "launches.jsonl"
        with rk.fake_github(wd, "sengu", per_run) as gh:
            engine, info = rk.start(["engine", str(gh.pool), str(launches)], wd, "engine.log", home=home)
            try:
                cpu0 = kit.cpu_seconds(engine.pid)
                ours = rk.fire(info["port"], gh.deliveries, args.rate, warmup=warm, connections=args.connections)
                engine_cpu = kit.cpu_seconds(engine.pid) - cpu0
                launched = len(rk.read_launches(launches))
            finally:
                rc = engine.stop()
            view = rk.store_view(home)
            problems, first_problems = rk.log_problems(engine.log)
        github = gh.stats

    s, b = ours.summary(), base.summary()
    p99 = s["p99_s"]
    answered = sum(1 for x in ours.sent if x.status == 202)
    stored = view.get("deliveries") if view else None
    met = p99 is not None and p99 < BAR_P99_S and not ours.failures() and stored == answered
    load_s = len(ours.sent) / args.rate
    r = rk.ratio(p99, b["p99_s"])
    print(
        f"runners intake: {s['sent']} signed deliveries at {args.rate:.0f}/s ({warm} warm-up not counted):"
        f" p50 {rk.ms(s['p50_s'])}, p95 {rk.ms(s['p95_s'])}, p99 {rk.ms(p99)}, max {rk.ms(s['max_s'])}"
        f" (bar p99 < {BAR_P99_S * 1000:.0f} ms: {'MET' if met else 'NOT MET'})"
    )
    print(
        f"  answers {s['statuses']}; {stored} deliveries in SQLite for {answered} answered 202"
        f"{'' if stored == answered else '  <-- MISMATCH'}; engine CPU {engine_cpu / load_s:.0%} of a core;"
        f" engine exit {rc}"
    )
    if ours.failures():
        print(f"  FAILED requests: {len(ours.failures())}, e.g. {ours.failures()[0]}")
    print(
        f"  meanwhile the processor launched {launched} of {len(ours.sent)} jobs; store {view};"
        f" {problems} warning/error log lines{': ' + first_problems[0] if first_problems else ''}"
    )
    print(
        f"  anchor bare route on the same HTTP stack (same run): p50 {rk.ms(b['p50_s'])}, p95 {rk.ms(b['p95_s'])},"
        f" p99 {rk.ms(b['p99_s'])}, max {rk.ms(b['max_s'])}, CPU {floor_cpu / load_s:.0%} of a core;"
        f" sengu/floor p99 ratio {rk.fmt_ratio(r)}"
    )
    print(f"  p99 by second of load: sengu {rk.fmt_seconds(s['per_second_p99_s'])}")
    print(f"                         floor {rk.fmt_seconds(b['per_second_p99_s'])}")
    print(
        f"  load generator: lag p99 {rk.ms(s['lag_p99_s'])} (floor run {rk.ms(b['lag_p99_s'])}),"
        f" connections opened under load {s['connections_opened']} (floor run {b['connections_opened']})"
    )
    kit.emit(
        {
            "bench": "runners_intake",
            "bar": f"webhook answer p99 < {BAR_P99_S * 1000:.0f} ms at {args.rate:.0f} deliveries/s",
            "met": met,
            "value": p99,
            "unit": "s",
            "intake": s,
            "stored": stored,
            "engine_cpu_share": engine_cpu / load_s,
            "launched_during_load": launched,
            "engine_store": view,
            "engine_log_problems": problems,
            "anchor": {"bare_route": b, "bare_route_cpu_share": floor_cpu / load_s},
            "ratio_to_floor": r,
            "summary": f"p50 {rk.ms(s['p50_s'])}, p99 {rk.ms(p99)}; {rk.fmt_ratio(r)} bare-route p99"
            f" ({rk.ms(b['p99_s'])})",
            "github": github,
        }
    )


if __name__ == "__main__":
    main()
