"""The Indexed Job that runs `sengu load run` in many pods: rendered, checked strictly against the official
Kubernetes schemas, the rate split between pods, every run bounded by a deadline, bad input refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from sengu.core import kschema
from sengu.core.errors import UserError
from sengu.load import kube

SCENARIO = """\
apiVersion: sengu.dev/v1alpha1
kind: LoadScenario
metadata:
  name: sample
spec:
  endpoints:
    - name: GET /articles/{id}
      weight: 0.62
"""


def render(**overrides: Any) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "name": "spring-sale",
        "namespace": "load",
        "image": "ghcr.io/example/sengu:0.1.0",
        "workers": 4,
        "target": "http://web.shop.svc.cluster.local:8080",
        "rate": 1000,
        "duration_s": 300,
        "scenario": SCENARIO,
    }
    return kube.render_job(**(args | overrides))


def job_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    jobs = [o for o in objs if o["kind"] == "Job"]
    assert len(jobs) == 1
    return jobs[0]


def container_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = job_of(objs)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def option(args: list[str], name: str) -> str:
    assert args.count(name) == 1, (name, args)
    return args[args.index(name) + 1]


def user_error(**overrides: Any) -> list[str]:
    with pytest.raises(UserError) as caught:
        render(**overrides)
    return caught.value.lines()


# --- a typical render --------------------------------------------------------------------------------------
def test_typical_render_validates_strictly_on_every_bundled_version() -> None:
    objs = render(extra_args=["--connections", "64", "--timeout", "5s"], node_selector={"pool": "load"})
    assert [o["kind"] for o in objs] == ["ConfigMap", "Job"]  # the ConfigMap first: the pods mount it
    for version in (kschema.DEFAULT_VERSION, kschema.bundled_versions()[0], kschema.bundled_versions()[-1]):
        for obj in objs:
            assert kschema.validate(obj, version, strict=True) == [], (version, obj["kind"])
    # The reference implementation agrees with the compiled validator.
    for obj in objs:
        assert kschema.validate(obj, engine="jsonschema") == []


def test_the_job_is_indexed_bounded_and_not_retried() -> None:
    objs = render(workers=6, duration_s=90, deadline_margin_s=60, ttl_seconds_after_finished=600)
    configmap, job = objs
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 6
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 150
    assert spec["ttlSecondsAfterFinished"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False

    # The scenario reaches the pods: the ConfigMap holds the text, mounted where --scenario points.
    assert configmap["metadata"]["name"] == "spring-sale-scenario"
    assert configmap["data"] == {kube.SCENARIO_FILE: SCENARIO}
    assert pod["volumes"] == [{"name": "scenario", "configMap": {"name": "spring-sale-scenario"}}]
    container = container_of(objs)
    mount = container["volumeMounts"][0]
    assert mount["name"] == "scenario" and mount["readOnly"] is True
    assert option(container["args"], "--scenario") == f"{mount['mountPath']}/{kube.SCENARIO_FILE}"

    assert container["command"] == ["sengu"]
    assert container["args"][:2] == ["load", "run"]
    assert option(container["args"], "--target") == "http://web.shop.svc.cluster.local:8080"
    assert option(container["args"], "--duration") == "90s"
    assert option(container["args"], "--parts") == "-"
    assert "--workers" not in container["args"]  # one process per pod unless asked


def test_each_pod_learns_its_index_from_kubernetes() -> None:
    container = container_of(render(workers=5))
    env = {e["name"]: e for e in container["env"]}
    field = env[kube.INDEX_ENV]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert env[kube.PODS_ENV]["value"] == "5"
    # $(VAR) in args is expanded by Kubernetes from the container's env.
    assert option(container["args"], "--shard") == f"$({kube.INDEX_ENV})/5"


def test_pods_prefer_different_nodes_and_are_sized_exactly() -> None:
    objs = render(processes_per_pod=2, memory="1Gi")
    job = job_of(objs)
    template = job["spec"]["template"]
    term = template["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selected = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert selected.items() <= template["metadata"]["labels"].items()  # it selects this run's own pods
    assert kube.selector("spring-sale") == "sengu.dev/load-run=spring-sale"
    assert template["metadata"]["labels"][kube.LABEL_RUN] == "spring-sale"
    container = container_of(objs)
    assert container["resources"]["requests"] == container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert option(container["args"], "--workers") == "2"
    explicit = container_of(render(cpu="1500m", memory="768Mi"))["resources"]
    assert explicit["requests"] == explicit["limits"] == {"cpu": "1500m", "memory": "768Mi"}


# --- the rate split --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "workers", "per_pod"),
    [(1000, 4, "250"), (100, 3, "33.33333333"), (1, 8, "0.125"), (12_345.5, 1, "12345.5"), (10_000, 7, "1428.571429")],
)
def test_the_total_rate_is_split_between_pods(rate: float, workers: int, per_pod: str) -> None:
    objs = render(rate=rate, workers=workers)
    assert option(container_of(objs)["args"], "--rate") == per_pod
    assert math.isclose(float(per_pod) * workers, rate, rel_tol=1e-8)
    assert job_of(objs)["metadata"]["annotations"][kube.ANNOTATION_RATE] == kube.format_rate(rate)


def test_max_rate_runs_every_pod_closed_loop() -> None:
    objs = render(rate="max")
    assert option(container_of(objs)["args"], "--rate") == "max"
    assert job_of(objs)["metadata"]["annotations"][kube.ANNOTATION_RATE] == "max"


# --- deadlines ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("duration", "margin", "deadline", "shown"),
    [(30, 180, 210, "30s"), (30.2, 180, 211, "30.2s"), (600, 0, 600, "600s"), (0.5, 10, 11, "0.5s")],
)
def test_every_run_stops_by_itself(duration: float, margin: int, deadline: int, shown: str) -> None:
    objs = render(duration_s=duration, deadline_margin_s=margin)
    assert job_of(objs)["spec"]["activeDeadlineSeconds"] == deadline
    assert option(container_of(objs)["args"], "--duration") == shown


# --- names ----------------------------------------------------------------------------------------------
def test_name_length_leaves_room_for_the_pod_index() -> None:
    # A pod's hostname is NAME-INDEX, a DNS label of at most 63 characters.
    assert job_of(render(name="a" * 61, workers=10))["metadata"]["name"] == "a" * 61  # a…a-9: 63
    assert "at most 60" in user_error(name="a" * 61, workers=11)[0]  # a…a-10 would be 64
    assert "at most 61" in user_error(name="a" * 62, workers=1)[0]
    assert "at most 59" in user_error(name="a" * 63, workers=1000)[0]  # index 999: three digits
    objs = render(name="b" * 59, workers=1000)
    for obj in objs:  # the labels carry the name: still valid label values
        assert kschema.validate(obj) == []


@pytest.mark.parametrize("name", ["Spring-Sale", "spring_sale", "-sale", "sale-", "", "sale.2025"])
def test_names_must_be_dns_labels(name: str) -> None:
    assert "is not a DNS label" in user_error(name=name)[0]


def test_namespace_and_configmap_names_are_checked() -> None:
    assert "namespace 'Load'" in user_error(namespace="Load")[0]
    assert "namespace 'l" in user_error(namespace="l" * 64)[0]
    assert "ConfigMap name 'Scenario!'" in user_error(scenario_configmap="Scenario!")[0]
    objs = render(scenario_configmap="shared.scenarios")
    assert objs[0]["metadata"]["name"] == "shared.scenarios"
    assert job_of(objs)["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "shared.scenarios"


# --- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"workers": 0}, "workers (the number of pods) must be a whole number of at least 1, not 0"),
        ({"workers": -3}, "at least 1, not -3"),
        ({"workers": 2.5}, "at least 1, not 2.5"),
        ({"workers": 100_001}, "at most 100,000"),
        ({"rate": 0}, "rate must be a positive number"),
        ({"rate": -10}, "not -10"),
        ({"rate": float("nan")}, "not nan"),
        ({"rate": float("inf")}, "not inf"),
        ({"rate": "fast"}, "not 'fast'"),
        ({"duration_s": 0}, "duration must be a positive number of seconds, not 0"),
        ({"duration_s": -1}, "not -1"),
        ({"target": "127.0.0.1:8000"}, "target '127.0.0.1:8000' must be an http:// or https:// URL"),
        ({"target": "ftp://files.example"}, "must be an http:// or https:// URL"),
        ({"image": ""}, "image ''"),
        ({"image": "sengu latest"}, "without spaces"),
        ({"scenario": "  \n"}, "the scenario is empty"),
        ({"scenario": "x" * (1024 * 1024)}, "a ConfigMap holds at most about 1 MiB"),
        ({"processes_per_pod": 0}, "processes per pod"),
        ({"cpu": "0"}, "cpu '0'"),
        ({"cpu": "lots"}, "cpu 'lots'"),
        ({"cpu": "1Gi"}, "cpu '1Gi'"),
        ({"memory": "1x"}, "memory '1x'"),
        ({"memory": "0Mi"}, "memory '0Mi'"),
        ({"extra_args": ["--max-p99", "200ms"]}, "thresholds are checked on the merged result"),
        ({"extra_args": ["--max-error-rate=1%"]}, "thresholds are checked on the merged result"),
        ({"extra_args": ["--json", "/tmp/x.json"]}, "--json is set by the Job itself"),
        ({"extra_args": ["--rate=5"]}, "--rate is set by the Job itself"),
        ({"extra_args": ["--report", "r.html"]}, "the report is written from the merged result"),
        ({"command": []}, "command must name how the image runs sengu"),
        ({"deadline_margin_s": -1}, "deadline margin"),
        ({"ttl_seconds_after_finished": -5}, "ttlSecondsAfterFinished"),
        ({"node_selector": {"pool": "load pool"}}, "node selector value 'load pool'"),
        ({"node_selector": {"bad key!": "x"}}, "node selector key 'bad key!'"),
    ],
)
def test_bad_input_is_a_user_error(overrides: dict[str, Any], words: str) -> None:
    lines = user_error(**overrides)
    assert len(lines) == 1, lines
    assert words in lines[0]


def test_every_problem_is_reported_at_once() -> None:
    lines = user_error(workers=0, rate=0, duration_s=0, target="nowhere", cpu="none")
    assert len(lines) == 5, lines


def test_an_unknown_kubernetes_version_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"no bundled schemas for Kubernetes 1\.2"):
        render(k8s_version="1.2")


# --- without a scenario ---------------------------------------------------------------------------------
def test_without_a_scenario_the_target_itself_is_loaded() -> None:
    objs = render(scenario=None, target="https://shop.example/healthz")
    assert [o["kind"] for o in objs] == ["Job"]
    container = container_of(objs)
    assert "--scenario" not in container["args"] and "volumeMounts" not in container
    assert "volumes" not in objs[0]["spec"]["template"]["spec"]
    assert kschema.validate(objs[0]) == []


# --- printing -------------------------------------------------------------------------------------------
def test_yaml_round_trips_and_shows_the_scenario_as_written() -> None:
    objs = render()
    text = kube.to_yaml(objs)
    assert list(yaml.safe_load_all(text)) == objs
    assert "scenario.yaml: |\n    apiVersion: sengu.dev/v1alpha1\n    kind: LoadScenario\n" in text
    assert text.index("kind: ConfigMap") < text.index("kind: Job")
