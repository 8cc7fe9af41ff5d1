"""Bar: loading and validating a 10,000-job CronjobManager spec takes under 1 s.

The spec imitates a large imported crontab: a dozen schedule forms (H, steps, ranges, lists, names, macros),
a tenth with two schedules, per-job env, time zones, priorities, list commands, recovery commands, suspended
jobs, deadlines. Every job has a distinct name, so every `H` is hashed anew.

Measured in fresh processes, as `sengu up` and `sengu batch validate` pay it: `sengu.capabilities.load([path])`
after `import sengu.capabilities` (the batch modules are imported by the call itself, as in the CLI). Also
reported: the same call a second time in one process (warm), and the whole `sengu batch validate` command.

Anchor, same run: PyYAML's C loader alone on the same file (`yaml.load(text, CSafeLoader)`, what
`yaml.safe_load` does with libyaml), in fresh processes too: parsing only, no positions, no validation.

Usage: python benchmarks/bench_load.py [--jobs 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import benchkit as kit

BAR_S = 1.0

SCHEDULES = [
    "H H * * *",
    "H/15 * * * *",
    "*/5 * * * *",
    "30 2 * * 1-5",
    "H H(0-6) * * *",
    "0 */2 * * *",
    "H 9-18 * * mon-fri",
    "@daily",
    "15,45 * * * *",
    "H H H * *",
    "0 4 1 jan,apr,jul,oct *",
]

OURS = """
import sys, time
from sengu import capabilities
t = time.perf_counter()
loaded = capabilities.load([sys.argv[1]])
cold = time.perf_counter() - t
t = time.perf_counter()
capabilities.load([sys.argv[1]])
warm = time.perf_counter() - t
jobs = sum(len(m.jobs) for m in loaded.of("CronjobManager"))
print(cold, warm, jobs)
"""

ANCHOR = """
import sys, time, yaml
text = open(sys.argv[1], encoding="utf-8").read()
t = time.perf_counter()
data = yaml.load(text, Loader=yaml.CSafeLoader)
print(time.perf_counter() - t, len(data["spec"]["jobs"]))
"""


def realistic_spec(n: int) -> str:
    out = [
        kit.HEADER.rstrip("\n"),
        "  defaults:",
        "    timeZone: Asia/Tokyo",
        "    env: {APP_ENV: production, LOG_LEVEL: info, RAILS_MAX_THREADS: 4}",
        "    backoffLimit: 1",
        "    activeDeadlineSeconds: 3600",
        "    workingDir: /srv/app",
        "  migration: {stage: high}",
        "  jobs:",
    ]
    for i in range(n):
        name = f"{('report', 'sync', 'cleanup', 'mailer', 'index')[i % 5]}-{i:05d}"
        job = [f"    - name: {name}"]
        if i % 10 == 9:
            job.append(f'      schedules: ["{SCHEDULES[i % len(SCHEDULES)]}", "H 23 * * sun"]')
        else:
            job.append(f'      schedule: "{SCHEDULES[i % len(SCHEDULES)]}"')
        if i % 17 == 0:
            job.append(f'      command: [/usr/bin/env, ruby, bin/task.rb, "--shard={i % 16}"]')
        else:
            job.append(
                f"      command: bundle exec rake batch:{name.split('-')[0]} SHARD={i % 16} >> log/{name}.log 2>&1"
            )
        if i % 7 == 0:
            job.append(f"      env: {{SHARD: {i % 16}, FEATURE_FLAG: 'true'}}")
        if i % 5 == 0:
            job.append(f"      priority: {('low', 'middle', 'high')[i % 3]}")
        if i % 13 == 0:
            job.append(f"      timeZone: {('UTC', 'America/New_York', 'Europe/Berlin')[i % 3]}")
        if i % 11 == 0:
            job.append(f"      concurrencyPolicy: {('Allow', 'Replace')[i % 2]}")
        if i % 19 == 0:
            job.append(f"      onFailure: {{recovery: {{command: bin/recover {name}}}}}")
        if i % 23 == 0:
            job.append("      suspend: true")
        if i % 29 == 0:
            job.append("      startingDeadlineSeconds: 120")
        out.extend(job)
    return "\n".join(out) + "\n"


def fresh(code: str, *args: str) -> list[str]:
    env = kit.bench_env(Path("/nonexistent-sengu-home"))
    done = subprocess.run([kit.PYTHON, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def minimal_spec(n: int) -> str:
    """Name, schedule and command only: the smallest spec of n jobs, same schedule forms."""
    return kit.jobs_spec([SCHEDULES[i % len(SCHEDULES)] for i in range(n)], "bin/task")


def measure(spec: Path, jobs: int, repeat: int, home: Path, *, cli: bool) -> dict[str, Any]:
    cold, warm, anchor, whole = [], [], [], []
    for _ in range(repeat):  # interleaved, so a slow moment of the machine hits both sides
        c, w, n = fresh(OURS, str(spec))
        assert int(n) == jobs, f"loaded {n} jobs"
        cold.append(float(c))
        warm.append(float(w))
        a, n = fresh(ANCHOR, str(spec))
        assert int(n) == jobs
        anchor.append(float(a))
        if cli:
            t = time.perf_counter()
            subprocess.run(
                [kit.PYTHON, "-m", "sengu", "batch", "validate", str(spec)],
                env=kit.bench_env(home),
                capture_output=True,
                check=True,
            )
            whole.append(time.perf_counter() - t)
    ours, base = statistics.median(cold), statistics.median(anchor)
    return {
        "spec_kib": spec.stat().st_size / 1024,
        "cold_median_s": ours,
        "cold_s": cold,
        "warm_median_s": statistics.median(warm),
        "anchor_yaml_csafeloader_median_s": base,
        "anchor_yaml_csafeloader_s": anchor,
        "ratio_to_anchor": ours / base,
        "cli_validate_median_s": statistics.median(whole) if whole else None,
        "met": ours < BAR_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per measurement")
    args = parser.parse_args()

    shapes: dict[str, dict[str, Any]] = {}
    with kit.workdir("load") as wd:
        for shape, make in (("minimal", minimal_spec), ("realistic", realistic_spec)):
            spec = wd / f"{shape}.yaml"
            spec.write_text(make(args.jobs))
            shapes[shape] = measure(spec, args.jobs, args.repeat, wd / "home", cli=shape == "realistic")

    for shape, r in shapes.items():
        print(
            f"load {shape}: {args.jobs} jobs ({r['spec_kib']:.0f} KiB): capabilities.load cold median"
            f" {r['cold_median_s']:.3f} s (min {min(r['cold_s']):.3f}, max {max(r['cold_s']):.3f};"
            f" bar < {BAR_S:.0f} s: {'MET' if r['met'] else 'NOT MET'}); warm {r['warm_median_s']:.3f} s;"
            f" anchor yaml.load CSafeLoader {r['anchor_yaml_csafeloader_median_s']:.3f} s;"
            f" ratio {r['ratio_to_anchor']:.2f}"
        )
    real = shapes["realistic"]
    print(f"  whole `sengu batch validate` command on the realistic spec: median {real['cli_validate_median_s']:.3f} s")
    result: dict[str, Any] = {
        "bench": "load",
        "bar": f"capabilities.load of {args.jobs} jobs < {BAR_S} s (cold, both spec shapes)",
        "met": all(r["met"] for r in shapes.values()),
        "value": max(r["cold_median_s"] for r in shapes.values()),
        "unit": "s",
        "shapes": shapes,
        "anchor": "yaml.load(text, Loader=yaml.CSafeLoader), fresh process, same file",
        "ratio_to_anchor": real["ratio_to_anchor"],
        "summary": "; ".join(
            f"{shape} {r['cold_median_s']:.3f} s {'MET' if r['met'] else 'NOT MET'}, {r['ratio_to_anchor']:.2f}x yaml"
            for shape, r in shapes.items()
        ),
        "jobs": args.jobs,
    }
    kit.emit(result)


if __name__ == "__main__":
    main()
