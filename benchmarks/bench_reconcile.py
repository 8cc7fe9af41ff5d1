"""Bar: reconciling a 250-job CronjobManager from scratch against the API emulator takes under 5 s, and an
unchanged re-reconcile makes zero write requests.

Anchor (same run, same emulator): server-side applying the same 250 rendered CronJobs with a plain loop —
the API cost alone, without the operator's render, diff and status work.

Usage: python benchmarks/bench_reconcile.py [--jobs 250] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.benchkit import machine  # noqa: E402
from tests.kube.emulator import running_emulator  # noqa: E402

from sengu.batch.operator import BatchOperator, desired_state  # noqa: E402
from sengu.batch.spec import RESOURCE  # noqa: E402
from sengu.core.crd import definition  # noqa: E402
from sengu.core.kube import Cluster  # noqa: E402


def manager(namespace: str, jobs: int) -> dict[str, Any]:
    return {
        "apiVersion": "sengu.dev/v1alpha1",
        "kind": "CronjobManager",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {
            "defaults": {"image": "registry.example.com/shop:1.2.3", "timeZone": "Asia/Tokyo", "backoffLimit": 1},
            "jobs": [
                {"name": f"job-{i}", "schedule": "H * * * *", "command": f"bin/job-{i}", "priority": "low"}
                for i in range(jobs)
            ],
        },
    }


def one_round(jobs: int) -> dict[str, float | int]:
    with running_emulator(namespaces=("default", "bench")) as emulator, tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster.connect(kubeconfig=str(emulator.write_kubeconfig(Path(tmp) / "kubeconfig", "bench")))
        cluster.apply(definition(RESOURCE))
        body = cluster.apply(manager("bench", jobs))
        operator = BatchOperator(cluster)
        t0 = time.perf_counter()
        result = operator.reconcile(body)
        scratch = time.perf_counter() - t0
        assert result.error is None and len(result.applied) == jobs, result
        emulator.reset_log()
        body = cluster.get("sengu.dev/v1alpha1", "CronjobManager", "shop", "bench") or body
        t0 = time.perf_counter()
        operator.reconcile(body)
        unchanged = time.perf_counter() - t0
        writes = len(emulator.writes())
        # Anchor: the same objects applied in a plain loop into a fresh namespace of the same emulator.
        _, objects = desired_state(body)
        for obj in objects:
            obj["metadata"]["namespace"] = "default"
        t0 = time.perf_counter()
        for obj in objects:
            cluster.apply(obj)
        anchor = time.perf_counter() - t0
    return {"scratch_s": scratch, "unchanged_s": unchanged, "writes_unchanged": writes, "anchor_apply_s": anchor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.jobs) for _ in range(args.rounds)]
    scratch = statistics.median(float(r["scratch_s"]) for r in rounds)
    unchanged = statistics.median(float(r["unchanged_s"]) for r in rounds)
    anchor = statistics.median(float(r["anchor_apply_s"]) for r in rounds)
    writes = max(int(r["writes_unchanged"]) for r in rounds)
    met = scratch < 5.0 and writes == 0
    print(
        f"reconcile {args.jobs} jobs from scratch: median {scratch:.2f} s (bar < 5 s: {'MET' if met else 'NOT MET'}); "
        f"unchanged re-reconcile {unchanged:.3f} s with {writes} write request(s); "
        f"anchor plain SSA loop of the same CronJobs {anchor:.2f} s; ratio {scratch / anchor:.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "reconcile",
                "bar": f"reconcile {args.jobs} jobs from scratch < 5 s; 0 writes unchanged",
                "met": met,
                "value": scratch,
                "unit": "s",
                "unchanged_s": unchanged,
                "writes_unchanged": writes,
                "anchor": "server-side apply loop of the same CronJobs",
                "anchor_s": anchor,
                "ratio_to_anchor": scratch / anchor,
                "rounds": rounds,
                "machine": machine(),
                "summary": f"{scratch:.2f} s from scratch, {writes} writes unchanged, {scratch / anchor:.2f}x SSA loop",
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
