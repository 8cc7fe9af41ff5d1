"""Leader election: one holder at a time, takeover only after the lease expires."""

from __future__ import annotations

from sengu.core.clock import FakeClock
from sengu.core.kube import Cluster
from sengu.core.leader import LeaseElector
from tests.kube.fixtures import KubeTarget


def test_one_holder_and_takeover_after_expiry(kube: KubeTarget) -> None:
    kube.require_emulator()
    cluster = Cluster.connect(kubeconfig=str(kube.kubeconfig))
    clock = FakeClock()
    first = LeaseElector(cluster, "op", kube.namespace, "replica-a", duration_s=15, clock=clock)
    second = LeaseElector(cluster, "op", kube.namespace, "replica-b", duration_s=15, clock=clock)
    assert first.try_acquire()
    assert not second.try_acquire()
    clock.advance(10)
    assert first.try_acquire()  # renewal
    clock.advance(10)
    assert not second.try_acquire()  # renewed 10 s ago: still held
    clock.advance(6)
    assert second.try_acquire()  # 16 s without renewal: expired, taken over
    assert not first.try_acquire()
    lease = cluster.get("coordination.k8s.io/v1", "Lease", "op", kube.namespace)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "replica-b" and lease["spec"]["leaseTransitions"] == 1


def test_stale_write_loses_the_race(kube: KubeTarget) -> None:
    kube.require_emulator()
    cluster = Cluster.connect(kubeconfig=str(kube.kubeconfig))
    clock = FakeClock()
    a = LeaseElector(cluster, "race", kube.namespace, "a", clock=clock)
    assert a.try_acquire()
    clock.advance(60)  # expired: both may try, the resourceVersion decides
    stale = cluster.get("coordination.k8s.io/v1", "Lease", "race", kube.namespace)
    assert stale is not None
    b = LeaseElector(cluster, "race", kube.namespace, "b", clock=clock)
    assert b.try_acquire()
    stale["spec"]["holderIdentity"] = "c"
    from sengu.core.kube import KubeError, object_path

    try:
        cluster.request("PUT", object_path(stale), body=stale)
    except KubeError as exc:
        assert exc.status == 409
    else:
        raise AssertionError("a write with an old resourceVersion must conflict")
