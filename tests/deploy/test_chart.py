"""The operator's Helm chart: lint, render, official schemas, least-privilege RBAC, and the Deployment's contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sengu.core import kschema
from tests.deploy.chart import (
    CHART,
    CUSTOM_KINDS,
    NAMESPACE,
    RELEASE,
    ROOT,
    HelmError,
    Obj,
    only,
    render,
    require_helm,
    run_helm,
    schema_errors,
    select,
)

# What the operator does in the namespaces it watches (issue 3), and nothing more.
WATCH_RULES = {
    ("sengu.dev", "cronjobmanagers"): {"get", "list", "watch", "patch"},
    ("sengu.dev", "cronjobmanagers/status"): {"patch"},
    ("batch", "cronjobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}

NAMESPACED: dict[str, Any] = {"watchNamespaces": ["team-a", "team-b"]}
EVERYTHING: dict[str, Any] = {
    "namespace": {"create": True},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "image": {"repository": "registry.example/sengu", "digest": "sha256:" + "ab" * 32},
    "imagePullSecrets": [{"name": "pull"}],
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/sengu"}},
    "extraArgs": ["--verbose"],
    "extraEnv": [{"name": "TZ", "value": "UTC"}],
    "podAnnotations": {"a": "b"},
    "podLabels": {"team": "platform"},
    "priorityClassName": "system-cluster-critical",
    "nodeSelector": {"kubernetes.io/arch": "arm64"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "sengu-operator"}},
        }
    ],
    "podDisruptionBudget": {"maxUnavailable": "50%"},
}
SCENARIOS: dict[str, dict[str, Any]] = {"default": {}, "namespaced": NAMESPACED, "everything": EVERYTHING}


@pytest.fixture(scope="module")
def helm() -> str:
    return require_helm()


def rules_of(role: Obj) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """A role's rules as (group, resource, verb, resourceNames) tuples: order and grouping do not matter."""
    return {
        (group, resource, verb, tuple(sorted(rule.get("resourceNames") or ())))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def expected(
    rules: dict[tuple[str, str], set[str]], names: tuple[str, ...] = ()
) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {(g, r, v, names) for (g, r), verbs in rules.items() for v in verbs}


def container(objs: list[Obj]) -> Obj:
    (c,) = only(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c  # type: ignore[no-any-return]


def env_of(c: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


# --- lint and schema validation --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(helm: str, scenario: str) -> None:
    out = run_helm(helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, values=SCENARIOS[scenario])
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_is_valid_for_kubernetes(helm: str, scenario: str) -> None:
    objs = render(helm, SCENARIOS[scenario])
    errors = [e for obj in objs if obj["kind"] not in CUSTOM_KINDS for e in schema_errors(obj)]
    assert errors == []
    custom = [obj["kind"] for obj in objs if obj["kind"] in CUSTOM_KINDS]
    # Only the Prometheus Operator's kind is outside the official schemas (checked field by field below).
    assert custom == (["ServiceMonitor"] if scenario == "everything" else [])


def test_schema_check_catches_a_broken_object(helm: str) -> None:
    # Guards the check above: a validator that accepted everything would pass it too.
    deployment = only(render(helm), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    deployment["spec"]["replicas"] = "2"
    errors = schema_errors(deployment)
    assert len(errors) == 2
    assert any("readOnlyRootFs" in e for e in errors)
    assert any("spec.replicas" in e for e in errors)


def test_namespaced_objects_name_their_namespace(helm: str) -> None:
    # So that `helm template … | kubectl apply -f -` lands every object where helm install would.
    for obj in render(helm, EVERYTHING):
        if obj["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert "namespace" not in obj["metadata"], obj["kind"]
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


# --- what is rendered --------------------------------------------------------------------------------------


def test_default_objects(helm: str) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in render(helm))
    assert kinds == [
        ("ClusterRole", RELEASE),
        ("ClusterRoleBinding", RELEASE),
        ("Deployment", RELEASE),
        ("PodDisruptionBudget", RELEASE),
        ("Role", f"{RELEASE}-leader-election"),
        ("RoleBinding", f"{RELEASE}-leader-election"),
        ("Service", f"{RELEASE}-metrics"),
        ("ServiceAccount", RELEASE),
    ]


def test_namespace_is_created_only_when_asked(helm: str) -> None:
    assert select(render(helm), "Namespace") == []
    ns = only(render(helm, {"namespace": {"create": True}}), "Namespace")
    assert ns["metadata"]["name"] == NAMESPACE
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_names_follow_the_release(helm: str) -> None:
    out = run_helm(helm, "template", "prod", str(CHART), "--namespace", "ops")
    names = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(out) if o}
    assert ("Deployment", "prod-sengu-operator") in names
    assert ("ClusterRole", "prod-sengu-operator") in names


# --- RBAC -------------------------------------------------------------------------------------------------


def test_cluster_wide_rbac_is_exactly_the_operators_calls(helm: str) -> None:
    objs = render(helm)
    assert rules_of(only(objs, "ClusterRole")) == expected(WATCH_RULES)
    assert select(objs, "Role", RELEASE) == []
    assert "--namespace" not in container(objs)["command"]


def test_namespaced_rbac_is_one_role_per_watched_namespace(helm: str) -> None:
    objs = render(helm, NAMESPACED)
    assert select(objs, "ClusterRole") == select(objs, "ClusterRoleBinding") == []
    for ns in ("team-a", "team-b"):
        assert rules_of(only(objs, "Role", RELEASE, ns)) == expected(WATCH_RULES)
        binding = only(objs, "RoleBinding", RELEASE, ns)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE}
    assert {o["metadata"]["namespace"] for o in select(objs, "Role")} == {"team-a", "team-b", NAMESPACE}
    command = container(objs)["command"]
    assert command[command.index("--namespace") :] == ["--namespace", "team-a", "--namespace", "team-b"]


@pytest.mark.parametrize("values", [{}, {"leaderElection": {"leaseName": "ops-leader"}}])
def test_leader_election_may_touch_only_its_own_lease(helm: str, values: dict[str, Any]) -> None:
    objs = render(helm, values)
    lease = values.get("leaderElection", {}).get("leaseName", RELEASE)
    assert env_of(container(objs))["SENGU_LEASE_NAME"] == lease
    role = only(objs, "Role", f"{RELEASE}-leader-election", NAMESPACE)
    assert rules_of(role) == {
        ("coordination.k8s.io", "leases", "create", ()),
        ("coordination.k8s.io", "leases", "get", (lease,)),
        ("coordination.k8s.io", "leases", "update", (lease,)),
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_binding_grants_a_rendered_role_to_the_operators_account(helm: str, scenario: str) -> None:
    objs = render(helm, SCENARIOS[scenario])
    account = only(objs, "ServiceAccount")["metadata"]["name"]
    assert only(objs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account
    bindings = select(objs, "RoleBinding") + select(objs, "ClusterRoleBinding")
    assert len(bindings) == (3 if scenario == "namespaced" else 2)
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
        role_ns = binding["metadata"].get("namespace") if binding["roleRef"]["kind"] == "Role" else None
        only(objs, binding["roleRef"]["kind"], binding["roleRef"]["name"], role_ns)


def test_no_rbac_or_account_when_managed_elsewhere(helm: str) -> None:
    objs = render(helm, {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}})
    assert {o["kind"] for o in objs} == {"Deployment", "Service", "PodDisruptionBudget"}
    assert only(objs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


def test_no_wildcards_and_no_secrets_anywhere(helm: str) -> None:
    for scenario in SCENARIOS.values():
        for obj in render(helm, scenario):
            for group, resource, verb, _ in rules_of(obj) if "rules" in obj else ():
                assert "*" not in (group, resource, verb)
                assert resource not in {"secrets", "configmaps"}


# --- the Deployment ---------------------------------------------------------------------------------------


def test_deployment_runs_two_replicas_of_sengu_operator(helm: str) -> None:
    objs = render(helm)
    deployment = only(objs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    c = container(objs)
    assert c["image"] == "sengu:0.1.0"
    assert c["command"] == [
        "sengu",
        "operator",
        "--liveness",
        "http://0.0.0.0:8080/healthz",
        "--metrics-port",
        "9090",
    ]
    env = env_of(c)
    assert env["SENGU_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SENGU_POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_app_version_matches_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in project


def test_probes_hit_healthz_on_the_liveness_port(helm: str) -> None:
    c = container(render(helm))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    liveness_url = c["command"][c["command"].index("--liveness") + 1]
    assert liveness_url.endswith(f":{ports['health']}/healthz")


def test_ports_follow_values(helm: str) -> None:
    c = container(render(helm, {"health": {"port": 8181}, "metrics": {"port": 9191}}))
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"health": 8181, "metrics": 9191}
    assert c["command"][2:6] == ["--liveness", "http://0.0.0.0:8181/healthz", "--metrics-port", "9191"]


def test_pod_meets_the_restricted_pod_security_standard(helm: str) -> None:
    objs = render(helm)
    pod = only(objs, "Deployment")["spec"]["template"]["spec"]
    c = container(objs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # A read-only root filesystem needs somewhere to write: /tmp, and SENGU_HOME inside it.
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert env_of(c)["SENGU_HOME"].startswith("/tmp/")
    assert not any(k in pod for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert all("emptyDir" in v for v in pod["volumes"])


def test_resources_are_requested_and_memory_bounded(helm: str) -> None:
    resources = container(render(helm))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_image_digest_wins_over_tag(helm: str) -> None:
    digest = "sha256:" + "ab" * 32
    c = container(render(helm, {"image": {"repository": "r/sengu", "tag": "9.9", "digest": digest}}))
    assert c["image"] == f"r/sengu@{digest}"


def test_extra_args_and_env_come_after_the_charts_own(helm: str) -> None:
    c = container(render(helm, EVERYTHING))
    assert c["command"][-1] == "--verbose"
    assert c["env"][-1] == {"name": "TZ", "value": "UTC"}


# --- metrics, ServiceMonitor, PodDisruptionBudget --------------------------------------------------------------


def test_metrics_service_targets_the_pods_metrics_port(helm: str) -> None:
    objs = render(helm)
    service = only(objs, "Service")
    pod_labels = only(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]


def test_metrics_off_removes_port_flag_and_service(helm: str) -> None:
    objs = render(helm, {"metrics": {"enabled": False}})
    assert select(objs, "Service") == []
    c = container(objs)
    assert "--metrics-port" not in c["command"]
    assert [p["name"] for p in c["ports"]] == ["health"]


def test_service_monitor_is_off_by_default_and_scrapes_the_metrics_service(helm: str) -> None:
    assert select(render(helm), "ServiceMonitor") == []
    objs = render(helm, EVERYTHING)
    monitor = only(objs, "ServiceMonitor")
    service = only(objs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}


def test_disruption_budget_leaves_one_replica_running(helm: str) -> None:
    objs = render(helm)
    pdb = only(objs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == only(objs, "Deployment")["spec"]["selector"]
    assert select(render(helm, {"podDisruptionBudget": {"enabled": False}}), "PodDisruptionBudget") == []


# --- values.schema.json and template guards ----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": 0}, "replicaCount: Must be greater than or equal to 1"),
        ({"replicas": 3}, "Additional property replicas is not allowed"),
        ({"watchNamespaces": ["Team_A"]}, "watchNamespaces.0: Does not match pattern"),
        ({"watchNamespaces": ["a", "a"]}, "watchNamespaces: array items[0,1] must be unique"),
        ({"image": {"digest": "latest"}}, "image.digest: Does not match pattern"),
        ({"metrics": {"port": 70000}}, "metrics.port: Must be less than or equal to 65535"),
        ({"podDisruptionBudget": {"maxUnavailable": "half"}}, "podDisruptionBudget.maxUnavailable"),
        ({"metrics": {"serviceMonitor": {"interval": "soon"}}}, "metrics.serviceMonitor.interval"),
        ({"metrics": {"port": 8080}}, "health.port and metrics.port must differ"),
        (
            {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}},
            "metrics.serviceMonitor.enabled needs metrics.enabled",
        ),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
    ],
)
def test_bad_values_are_refused_with_a_reason(helm: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError) as info:
        render(helm, values)
    assert message in str(info.value)


# --- the CRD ----------------------------------------------------------------------------------------------

CRD_FILE = CHART / "crds" / "cronjobmanagers.yaml"


REGENERATE = f"sengu crd --kind CronjobManager > {CRD_FILE.relative_to(ROOT)}"


def test_chart_crd_is_what_sengu_crd_prints() -> None:
    # Helm installs crds/ as files; this keeps the file in step with the models it is generated from.
    proc = subprocess.run(
        [sys.executable, "-m", "sengu", "crd", "--kind", "CronjobManager"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert CRD_FILE.is_file(), f"missing {CRD_FILE.relative_to(ROOT)}: run `{REGENERATE}`"
    assert yaml.safe_load(CRD_FILE.read_text()) == yaml.safe_load(proc.stdout), f"stale CRD: run `{REGENERATE}`"


def test_chart_crd_is_valid_and_installed_with_the_chart(helm: str) -> None:
    crd = only(render(helm, include_crds=True), "CustomResourceDefinition")
    assert schema_errors(crd) == []
    assert crd["metadata"]["name"] == "cronjobmanagers.sengu.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "CronjobManager"


def test_example_cronjob_managers_fit_the_charts_crd() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    docs = [d for f in sorted((ROOT / "examples").rglob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    managers = [d for d in docs if d.get("kind") == "CronjobManager"]
    assert managers, "no CronjobManager under examples/"
    for manager in managers:
        assert kschema.validate_custom_resource(manager, crd) == [], manager["metadata"]["name"]


# --- docs -------------------------------------------------------------------------------------------------


def _leaf_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        # Maps of user-chosen keys (labels, annotations, nodeSelector…) are documented as one value.
        if isinstance(value, dict) and value and not path.endswith(("labels", "annotations", "Labels", "Annotations")):
            if path in {"resources", "podSecurityContext", "securityContext"}:
                keys.add(path)
            else:
                keys |= _leaf_keys(value, f"{path}.")
        else:
            keys.add(path)
    return keys


def test_readme_documents_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (Path(ROOT) / "deploy" / "README.md").read_text()
    table = readme.split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Za-z.]+)` \|", table, flags=re.M))
    assert documented == _leaf_keys(values)


def test_schema_describes_exactly_the_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(value: dict[str, Any], node: dict[str, Any], path: str) -> None:
        if "properties" not in node:  # an open map (labels, resources…): its keys are the user's
            return
        assert set(value) == set(node["properties"]) - {"global"}, path or "<root>"
        for key, sub in value.items():
            if isinstance(sub, dict):
                walk(sub, node["properties"][key], f"{path}{key}.")

    walk(values, schema, "")
