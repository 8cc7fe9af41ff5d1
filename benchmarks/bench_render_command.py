"""Bar (issue 9, item 11): the whole `sengu batch render` command for 10,000 jobs finishes in under 1 s.

The spec is bench_render.py's (bench_load.py's realistic spec plus image, resources, placement, PriorityClasses:
~11,000 CronJobs, ~30 MB of YAML). Timed: the command as a user runs it, a fresh process each time, YAML to
/dev/null — wall time, and CPU time of the command and its children (the schema check runs in a forked
child while the text is written). Also `--no-validate` and `-o json`.

Anchor, same run: PyYAML printing the same objects as the command printed them before (`yaml.dump_all` with
libyaml's CSafeDumper, aliases off, width 10,000), against core/yamlout.dump_all, in one fresh process; the
two texts must be identical. Ratios: PyYAML's printing alone / our whole command, and PyYAML / yamlout.

Usage: python benchmarks/bench_render_command.py [--jobs 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import benchkit as kit
from bench_load import realistic_spec
from bench_render import KUBERNETES_DEFAULTS, VERSION

BAR_S = 1.0

PRINTERS = """
import gc, json, sys, time
gc.disable()
import yaml
from sengu.batch.render import render_document
from sengu.core import yamlout
from sengu.core.spec import read_documents
(doc,) = read_documents(sys.argv[1])
objects = render_document(doc)
class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    def ignore_aliases(self, data):
        return True
t0 = time.perf_counter()
ours = yamlout.dump_all(objects)
t1 = time.perf_counter()
theirs = yaml.dump_all(objects, Dumper=Dumper, sort_keys=False, width=10_000, allow_unicode=True)
t2 = time.perf_counter()
print(json.dumps({"objects": len(objects), "bytes": len(ours.encode()), "identical": ours == theirs,
                  "yamlout_s": t1 - t0, "pyyaml_s": t2 - t1}))
"""


def command(spec: Path, *extra: str, src: str | None = None) -> tuple[float, float]:
    """(wall, CPU of the command and its children) of one `sengu batch render`, output to /dev/null.

    `src`: the src/ directory of another version of sengu to run instead of this one."""
    env = kit.bench_env(Path("/nonexistent-sengu-home"))
    if src is not None:
        env["PYTHONPATH"] = src
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(
        [kit.PYTHON, "-m", "sengu", "batch", "render", str(spec), "--k8s-version", VERSION, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"sengu batch render failed ({proc.returncode}): {stderr.decode()[:2000]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def printers(spec: Path) -> dict[str, Any]:
    env = kit.bench_env(Path("/nonexistent-sengu-home"))
    done = subprocess.run([kit.PYTHON, "-c", PRINTERS, str(spec)], env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also time the src/ directory of an earlier version, interleaved in the same run "
        "(e.g. `git archive main src | tar -x -C /tmp/before`, then --before /tmp/before/src)",
    )
    args = parser.parse_args()

    with kit.workdir("render-command") as wd:
        spec = wd / "jobs.yaml"
        spec.write_text(realistic_spec(args.jobs).replace("  defaults:\n", KUBERNETES_DEFAULTS, 1))
        whole: list[tuple[float, float]] = []
        unchecked: list[tuple[float, float]] = []
        as_json: list[tuple[float, float]] = []
        prints: list[dict[str, Any]] = []
        earlier: list[tuple[float, float]] = []
        for _ in range(args.repeat):  # interleaved, so the machine's slow spells fall on all of them alike
            whole.append(command(spec))
            if args.before:
                earlier.append(command(spec, src=args.before))
            unchecked.append(command(spec, "--no-validate"))
            as_json.append(command(spec, "-o", "json"))
            prints.append(printers(spec))

    def med(values: list[tuple[float, float]], i: int) -> float:
        return statistics.median(v[i] for v in values)

    if not all(p["identical"] for p in prints):
        raise SystemExit("core/yamlout and PyYAML printed different text: the comparison is void")
    wall, cpu = med(whole, 0), med(whole, 1)
    pyyaml = statistics.median(p["pyyaml_s"] for p in prints)
    ours_print = statistics.median(p["yamlout_s"] for p in prints)
    met = wall < BAR_S
    print(
        f"render command: {args.jobs} jobs -> {prints[0]['objects']} CronJobs, {prints[0]['bytes'] / 1e6:.1f} MB: "
        f"{wall:.3f} s wall, {cpu:.3f} s CPU (bar < {BAR_S:.0f} s: {'MET' if met else 'NOT MET'}); "
        f"--no-validate {med(unchecked, 0):.3f} s; -o json {med(as_json, 0):.3f} s"
    )
    print(
        f"  anchor, same run: PyYAML printing the same objects {pyyaml:.3f} s = {pyyaml / wall:.1f}x our whole "
        f"command; core/yamlout printing them {ours_print:.3f} s ({pyyaml / ours_print:.1f}x faster, same bytes)"
    )
    before = med(earlier, 0) if earlier else None
    if before is not None:
        print(f"  before ({args.before}), same run: {before:.3f} s; now {wall:.3f} s = {before / wall:.2f}x faster")
    kit.emit(
        {
            "bench": "render_command",
            "before_median_s": before,
            "before_over_now": before / wall if before is not None else None,
            "bar": f"whole `sengu batch render` of {args.jobs} jobs < {BAR_S} s",
            "met": met,
            "value": wall,
            "unit": "s",
            "jobs": args.jobs,
            "objects": prints[0]["objects"],
            "bytes": prints[0]["bytes"],
            "wall_median_s": wall,
            "cpu_median_s": cpu,
            "no_validate_median_s": med(unchecked, 0),
            "json_median_s": med(as_json, 0),
            "walls": [w for w, _ in whole],
            "anchor": "PyYAML dump_all (CSafeDumper) of the same objects, same run",
            "anchor_pyyaml_s": pyyaml,
            "yamlout_s": ours_print,
            "ratio_to_anchor": wall / pyyaml,
            "load_average": os.getloadavg()[0],
            "summary": (
                f"{wall:.3f} s {'MET' if met else 'NOT MET'}; PyYAML alone would print for {pyyaml:.2f} s "
                f"({pyyaml / wall:.1f}x the whole command); yamlout {pyyaml / ours_print:.1f}x faster than PyYAML"
            ),
        }
    )


if __name__ == "__main__":
    main()
