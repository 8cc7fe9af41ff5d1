"""Run every batch benchmark, one process each, and print a summary of bars, values and anchors.

Usage: python benchmarks/run_all.py [--only load,idle,...] [--json FILE] [--strict]

Each benchmark prints its own lines and, last, a JSON line; this collects those. Exit status: 1 if a
benchmark crashed (or, with --strict, missed its bar), else 0 — a missed bar is a finding to record in
docs/benchmarks.md, not a failed build. Takes about 4 minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
BENCHES = {
    "load": "bench_load.py",
    "idle": "bench_idle.py",
    "same_minute": "bench_same_minute.py",
    "spread": "bench_spread.py",
    "render": "bench_render.py",
    "render_command": "bench_render_command.py",
    "reconcile": "bench_reconcile.py",
    "runners_intake": "bench_runners_intake.py",
    "runners_launch": "bench_runners_launch.py",
    "load_engine": "bench_load_engine.py",
}
TIMEOUT_S = 300


def run(name: str) -> dict[str, Any]:
    print(f"== {name}", flush=True)
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH_DIR / BENCHES[name])],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"bench": name, "error": f"timed out after {TIMEOUT_S}s"}
    lines = done.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(line)
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr)
        return {"bench": name, "error": f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["elapsed_s"] = time.monotonic() - t0
    return result


def describe(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"{result['bench']:<12} ERROR {result['error']}"]
    verdict = "MET" if result["met"] else "NOT MET"
    return [
        f"{result['bench']:<12} {verdict:<8} bar: {result['bar']}  ({result['elapsed_s']:.0f}s)",
        f"{'':<12} {result['summary']}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--json", type=Path, default=None, help="also write all results to FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar is not met")
    args = parser.parse_args()

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results = [run(n) for n in names]
    print("\n== summary")
    for result in results:
        print("\n".join(describe(result)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    crashed = any("error" in r for r in results)
    missed = any(not r.get("met", False) for r in results)
    sys.exit(1 if crashed or (args.strict and missed) else 0)


if __name__ == "__main__":
    main()
