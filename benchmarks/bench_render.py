"""Bar: rendering a 10,000-job CronjobManager into CronJobs and validating every one of them strictly against
the official Kubernetes schemas takes under 2 s.

The spec is bench_load.py's realistic one (a tenth of the jobs with two schedules, so ~11,000 CronJobs) plus
what a cluster needs: an image, resources, placement, PriorityClasses.

Measured in fresh processes, as `sengu batch render` pays it, after the spec is loaded (validated and
resolved, timed apart: bench_load.py's bar): `render_manager` of the whole manager, then
`kschema.validate(obj, "1.32")` of every object, cold (the schema files are read and compiled in the run).
Also reported: loading + rendering + validating together, and the whole `sengu batch render` command.

Anchors, same processes: the same validation with jsonschema's Draft202012Validator, built once over the
same bundled files (what kubernetes-validate does inside, but cached), on a sample of 500 objects; and
kubernetes-validate's convenience API `kubernetes_validate.validate(obj, "1.32", strict=True)` on a sample
of 20. Both are extrapolated to every object; the ratios compare validation alone.

Usage: python benchmarks/bench_render.py [--jobs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import benchkit as kit
from bench_load import realistic_spec

BAR_S = 2.0
VERSION = "1.32"

KUBERNETES_DEFAULTS = """\
  defaults:
    image: registry.example.com/shop/batch:2026.11.27
    resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 512Mi}}
    placement: {arch: arm64, capacityType: spot, tolerations: [{key: batch, operator: Exists}]}
    priorityClassNames: {low: batch-low, high: batch-high}
    serviceAccountName: batch
"""

OURS = """
import gc, json, sys, time
t0 = time.perf_counter()
gc.disable()  # as `sengu batch render` does (and capabilities.load)
from sengu.batch.render import render_manager
from sengu.batch.resolve import resolve
from sengu.batch.spec import CronjobManager
from sengu.core import kschema
from sengu.core.spec import read_documents, validate
(doc,) = read_documents(sys.argv[1])
model = validate(doc, CronjobManager)
manager = resolve(model, doc)
t1 = time.perf_counter()
objects = render_manager(manager, model=model)
t2 = time.perf_counter()
errors = sum(len(kschema.validate(o, sys.argv[2])) for o in objects)
t3 = time.perf_counter()
errors_warm = sum(len(kschema.validate(o, sys.argv[2])) for o in objects)
t4 = time.perf_counter()

import jsonschema, kubernetes_validate
from referencing import Registry, Resource
root = kschema.schema_root() / f"v{sys.argv[2]}.0-local-strict"
schema = json.loads((root / "cronjob-batch-v1.json").read_text())
defs = json.loads((root / "_definitions.json").read_text())
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in (schema, defs))
validator = jsonschema.Draft202012Validator(schema, registry=registry)
sample = objects[:: max(1, len(objects) // 500)][:500]
list(validator.iter_errors(sample[0]))  # let it resolve its references once
t5 = time.perf_counter()
reference_errors = sum(len(list(validator.iter_errors(o))) for o in sample)
t6 = time.perf_counter()
few = objects[:20]
for o in few:
    kubernetes_validate.validate(o, sys.argv[2], strict=True)
t7 = time.perf_counter()
print(json.dumps({
    "objects": len(objects), "errors": errors + errors_warm + reference_errors,
    "load_s": t1 - t0, "render_s": t2 - t1, "validate_cold_s": t3 - t2, "validate_warm_s": t4 - t3,
    "jsonschema_per_object_s": (t6 - t5) / len(sample),
    "kubernetes_validate_per_object_s": (t7 - t6) / len(few),
}))
"""


def fresh(spec: Path) -> dict[str, Any]:
    env = kit.bench_env(Path("/nonexistent-sengu-home"))
    done = subprocess.run(
        [kit.PYTHON, "-c", OURS, str(spec), VERSION], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cli(spec: Path, output: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        [kit.PYTHON, "-m", "sengu", "batch", "render", str(spec), "--k8s-version", VERSION, "-o", output],
        env=kit.bench_env(Path("/nonexistent-sengu-home")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=True,
    )
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per measurement")
    args = parser.parse_args()

    with kit.workdir("render") as wd:
        spec = wd / "jobs.yaml"
        spec.write_text(realistic_spec(args.jobs).replace("  defaults:\n", KUBERNETES_DEFAULTS, 1))
        runs, whole, whole_json = [], [], []
        for _ in range(args.repeat):
            runs.append(fresh(spec))
            whole.append(cli(spec, "yaml"))
            whole_json.append(cli(spec, "json"))

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    objects = runs[0]["objects"]
    if any(r["errors"] for r in runs):
        raise SystemExit("rendered objects failed validation: the benchmark measures valid output only")
    ours = statistics.median(r["render_s"] + r["validate_cold_s"] for r in runs)
    validate_cold = med("validate_cold_s")
    jsonschema_all = med("jsonschema_per_object_s") * objects
    kv_all = med("kubernetes_validate_per_object_s") * objects
    with_load = statistics.median(r["load_s"] + r["render_s"] + r["validate_cold_s"] for r in runs)
    met = ours < BAR_S
    print(
        f"render: {args.jobs} jobs -> {objects} CronJobs: render {med('render_s'):.3f} s + validate (cold) "
        f"{validate_cold:.3f} s = {ours:.3f} s (bar < {BAR_S:.0f} s: {'MET' if met else 'NOT MET'}); "
        f"validate warm {med('validate_warm_s'):.3f} s"
    )
    print(
        f"  with loading the spec: {with_load:.3f} s; whole `sengu batch render` command: "
        f"{statistics.median(whole):.3f} s (-o json: {statistics.median(whole_json):.3f} s)"
    )
    print(
        f"  anchors, validation only: jsonschema cached validator {med('jsonschema_per_object_s') * 1e3:.3f} ms/object"
        f" -> {jsonschema_all:.2f} s ({jsonschema_all / validate_cold:.1f}x ours cold);"
        f" kubernetes_validate.validate {med('kubernetes_validate_per_object_s') * 1e3:.1f} ms/object"
        f" -> {kv_all:.0f} s ({kv_all / validate_cold:.0f}x)"
    )
    kit.emit(
        {
            "bench": "render",
            "bar": f"render + strictly validate {args.jobs} jobs < {BAR_S} s",
            "met": met,
            "value": ours,
            "unit": "s",
            "jobs": args.jobs,
            "objects": objects,
            "runs": runs,
            "render_median_s": med("render_s"),
            "validate_cold_median_s": validate_cold,
            "validate_warm_median_s": med("validate_warm_s"),
            "with_load_median_s": with_load,
            "cli_median_s": statistics.median(whole),
            "cli_json_median_s": statistics.median(whole_json),
            "anchor": "jsonschema Draft202012Validator over the same files, cached (sample of 500, extrapolated)",
            "anchor_jsonschema_s": jsonschema_all,
            "anchor_kubernetes_validate_s": kv_all,
            "ratio_to_anchor": validate_cold / jsonschema_all,
            "summary": (
                f"{ours:.3f} s {'MET' if met else 'NOT MET'} ({objects} CronJobs); validation "
                f"{jsonschema_all / validate_cold:.1f}x faster than cached jsonschema, "
                f"{kv_all / validate_cold:.0f}x than kubernetes_validate.validate"
            ),
        }
    )


if __name__ == "__main__":
    main()
