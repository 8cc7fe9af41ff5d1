"""pytest fixtures for code that talks to Kubernetes.

`kube` gives a `KubeTarget`: a configured `kubernetes.client.ApiClient`, the kubeconfig file it came from
(also exported as KUBECONFIG for code that loads the default kubeconfig), and a namespace of its own.
By default the target is a fresh in-process emulator (tests/kube/emulator.py) on an ephemeral port.
With `SENGU_E2E_CLUSTER=1` it is the cluster of the current kubeconfig context instead, with a new
namespace `sengu-e2e-<random>` deleted afterwards; tests that need the emulator's helpers (they play the
cluster's controllers, read the request log) take the `emulator` fixture, which skips there.

Other test folders use them with `from tests.kube.fixtures import emulator, kube  # noqa: F401`
in their conftest.py.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.kube.emulator import KubeEmulator, running_emulator

E2E_ENV = "SENGU_E2E_CLUSTER"
EMULATOR_NAMESPACE = "sengu-test"


def e2e_cluster_requested() -> bool:
    return os.environ.get(E2E_ENV) == "1"


@dataclass
class KubeTarget:
    api: kubernetes.client.ApiClient
    kubeconfig: Path
    namespace: str
    emulator: KubeEmulator | None

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """Send a raw request with the client's transport and credentials; return the status and parsed body.

        The official client (37+) checks request bodies against its models before sending them, so a test
        of what the *server* refuses (422 causes, unknown fields) goes through here."""
        serialized = self.api.param_serialize(
            method, path, body=body, header_params={"Content-Type": content_type}, auth_settings=["BearerToken"]
        )
        response = self.api.call_api(*serialized)
        response.read()
        return response.status, (json.loads(response.data) if response.data else None)

    def require_emulator(self) -> KubeEmulator:
        if self.emulator is None:
            pytest.skip(f"needs the emulator's helpers; {E2E_ENV}=1 runs against a real cluster")
        return self.emulator


def _point_default_kubeconfig_at(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(path))
    # The client reads KUBECONFIG once, when first imported; later loads use this module constant.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.setattr(kubernetes.config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))  # load_config()
    # Code under test may load it into the process-wide default; do not let that outlive the test.
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", kubernetes.client.Configuration._default)


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeTarget]:
    if e2e_cluster_requested():
        yield from _real_cluster()
        return
    with running_emulator(namespaces=("default", "kube-system", "kube-public", EMULATOR_NAMESPACE)) as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=EMULATOR_NAMESPACE)
        _point_default_kubeconfig_at(kubeconfig, monkeypatch)
        api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield KubeTarget(api=api, kubeconfig=kubeconfig, namespace=EMULATOR_NAMESPACE, emulator=emulator)
        finally:
            api.close()
        errors = list(emulator.internal_errors)
    assert not errors, f"the emulator failed on a request: {errors!r}"


def _real_cluster() -> Iterator[KubeTarget]:
    location = os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]
    kubeconfig = Path(location).expanduser()
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    core = kubernetes.client.CoreV1Api(api)
    namespace = f"sengu-e2e-{secrets.token_hex(4)}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        yield KubeTarget(api=api, kubeconfig=kubeconfig, namespace=namespace, emulator=None)
    finally:
        core.delete_namespace(namespace, propagation_policy="Background")
        api.close()


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> KubeEmulator:
    """The emulator behind `kube` (for its helpers and request log); skips on a real cluster."""
    if e2e_cluster_requested():
        pytest.skip(f"needs the emulator's helpers; {E2E_ENV}=1 runs against a real cluster")
    target: KubeTarget = request.getfixturevalue("kube")
    return target.require_emulator()
