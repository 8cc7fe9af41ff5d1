"""`sengu load collect`: the coordinator of a distributed run reads every pod's measurements from its log and
merges them, against the Kubernetes API emulator (the pods' logs are real `--parts` output of real runs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sengu.core.kube import Cluster
from sengu.load import kube as load_kube
from tests.kube import fixtures
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import KubeTarget
from tests.load.servers import ServerProcess
from tests.load.test_cli import sengu

kube = fixtures.kube  # tests/load has no conftest of its own: the fixtures come in by name
emulator = fixtures.emulator


@pytest.fixture(scope="module")
def logs() -> Iterator[list[str]]:
    """What two pods of one run print: each its share of 100 requests/s for a second, as `--parts -`."""
    with ServerProcess() as server:
        out = []
        for i in range(2):
            ran = sengu(
                "load", "run", "-t", server.url, "--rate", "50", "--duration", "1s", "--shard", f"{i}/2",
                "--parts", "-",
            )  # fmt: skip
            assert ran.returncode == 0, ran.stderr
            out.append(f"sengu load: open model …\n{ran.stdout}")
        yield out


def test_collect_merges_the_pods_of_a_run_once_they_are_done(
    tmp_path: Path, kube: KubeTarget, emulator: KubeEmulator, logs: list[str]
) -> None:
    ns = kube.namespace
    cluster = Cluster.connect(kubeconfig=str(kube.kubeconfig))
    for obj in load_kube.render_job(
        name="spike", namespace=ns, image="ghcr.io/me/sengu:1", workers=2, target="http://web", rate=100,
        duration_s=1, scenario=None,
    ):  # fmt: skip
        cluster.create(obj)
    for i, log in enumerate(logs):
        emulator.create_pod_for_job(ns, "spike", name=f"spike-{i}-x")
        emulator.set_pod_running(ns, f"spike-{i}-x")
        emulator.append_log(ns, f"spike-{i}-x", log)
    emulator.create_pod_for_job(ns, "spike", name="spike-2-x")  # a pod that dies without printing
    emulator.set_pod_running(ns, "spike-2-x")
    emulator.append_log(ns, "spike-2-x", "Killed\n")

    early = sengu("load", "collect", "spike", "-n", ns, "--kubeconfig", str(kube.kubeconfig))
    assert early.returncode == 2 and "3 of 3 pods have not finished" in early.stderr

    for i in range(2):
        emulator.set_pod_terminated(ns, f"spike-{i}-x", exit_code=0)
    emulator.set_pod_terminated(ns, "spike-2-x", exit_code=137, reason="OOMKilled")
    out = tmp_path / "all.json"
    done = sengu("load", "collect", "spike", "-n", ns, "--kubeconfig", str(kube.kubeconfig), "--json", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["workers"] == 2 and result["offered_rate"] == 100  # the two pods' shares together
    assert 90 <= result["requests"] <= 110 and result["latency_ms"]["count"] == result["requests"]
    assert any("spike-2-x" in w and "printed no measurements" in w for w in result["warnings"])

    nothing = sengu("load", "collect", "other", "-n", ns, "--kubeconfig", str(kube.kubeconfig))
    assert nothing.returncode == 2 and "no pods of load run 'other'" in nothing.stderr
