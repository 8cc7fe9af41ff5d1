"""Load from more than one machine: a Kubernetes Indexed Job running `sengu load run` in N pods. Pure: no I/O.

`render_job` returns two objects, applied in order: a ConfigMap holding the scenario file, and a batch/v1 Job
with `completionMode: Indexed` and `completions = parallelism = N`. Each pod runs

    sengu load run --target URL --scenario /scenario/scenario.yaml --rate R/N --duration D \\
        --shard $(SENGU_LOAD_INDEX)/N --parts - [extra args]

so the pods together offer the total rate R, each starting at its own place in the request list (the
index comes from the pod's `batch.kubernetes.io/job-completion-index` annotation, set by Kubernetes).
Every run stops by itself: the worker after D, and the Job at `activeDeadlineSeconds` = D + a margin for
scheduling and image pulls, whatever happens. `backoffLimit: 0`: a failed pod is not retried, because a
retry would add load at a time nobody asked for; the run is then reported as failed rather than quietly
offering less. Pods prefer different nodes (one node's NIC and CPU are what a single generator is short
of), and ask for CPU and memory with requests equal to limits, so a pod is not throttled below what it
was sized for without it showing.

Each pod prints what it measured — counts and HDR histograms, one JSON line (`--parts -`) — to its log;
`sengu load collect` (the coordinator) reads the logs through the API once the pods are done, before
`ttlSecondsAfterFinished` takes them, and merges them exactly (sengu.load.merge). Thresholds
(`--max-p99`, `--max-error-rate`) are the coordinator's to check on the merged result, never a pod's: one
pod exiting non-zero would fail the Job and stop every other pod.

Every object is checked against the official Kubernetes schema of the pinned version, strictly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from sengu.core.errors import Problem, UserError
from sengu.core.names import DNS_LABEL

# How `sengu load run` is called in a pod: kept here, in one place, to follow the CLI if an option is renamed.
RUN_COMMAND = ("load", "run")
OPT_TARGET = "--target"
OPT_SCENARIO = "--scenario"
OPT_RATE = "--rate"
OPT_DURATION = "--duration"
OPT_PARTS = "--parts"  # the pod prints its measurements for the coordinator to merge
OPT_WORKERS = "--workers"  # processes in one pod
OPT_SHARD = "--shard"  # INDEX/COUNT: where this pod starts in the request list; the rate given is its own
PARTS_OUTPUT = "-"  # stdout: the pod's log
# Options render_job sets itself, and ones a pod must not have (see the module's docstring).
RESERVED_OPTIONS = (
    OPT_TARGET,
    OPT_SCENARIO,
    OPT_RATE,
    OPT_DURATION,
    OPT_PARTS,
    "--json",
    OPT_WORKERS,
    OPT_SHARD,
    "--report",
    "--max-p99",
    "--max-error-rate",
)

CONTAINER = "load"
SCENARIO_DIR = "/scenario"
SCENARIO_FILE = "scenario.yaml"
INDEX_ENV = "SENGU_LOAD_INDEX"
PODS_ENV = "SENGU_LOAD_PODS"
LABEL_RUN = "sengu.dev/load-run"
ANNOTATION_RATE = "sengu.dev/load-rate"  # the total rate asked for, so the coordinator need not be told again
ANNOTATION_DURATION = "sengu.dev/load-duration-seconds"
ANNOTATION_TARGET = "sengu.dev/load-target"
_INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

DEFAULT_MARGIN_S = 180  # scheduling, an image pull, the worker's warm-up and its final report
DEFAULT_TTL_S = 24 * 3600  # long enough to read a failed run's pod logs the next morning
DEFAULT_MEMORY = "512Mi"
MAX_NAME = 63
MAX_WORKERS = 100_000  # the API server's limit on completions and parallelism of an Indexed Job
MAX_CONFIGMAP_BYTES = 1024 * 1024 - 16 * 1024  # 1 MiB per object, less room for its metadata

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CPU = re.compile(r"^(\d+(\.\d+)?|\.\d+|\d+m)$")
_MEMORY = re.compile(r"^(\d+(\.\d+)?|\.\d+)(k|M|G|T|Ki|Mi|Gi|Ti)?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def labels(name: str) -> dict[str, str]:
    """The labels of every object of run `name` (the ConfigMap, the Job and its pods)."""
    return {
        "app.kubernetes.io/name": "sengu-load",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "load-worker",
        "app.kubernetes.io/managed-by": "sengu",
        LABEL_RUN: name,
    }


def selector(name: str) -> str:
    """The label selector of run `name`'s pods (and of everything else it made): for listing and cleaning up."""
    return f"{LABEL_RUN}={name}"


def format_rate(rate: float) -> str:
    """A rate for the command line: exact for whole numbers, 10 significant digits otherwise."""
    return format(rate, ".10g")


def format_duration(seconds: float) -> str:
    return f"{format(seconds, '.10g')}s"


def pod_rate(rate: float, workers: int) -> float:
    """Each pod's share of the total rate."""
    return rate / workers


def render_job(
    *,
    name: str,
    namespace: str,
    image: str,
    workers: int,
    target: str,
    rate: float | Literal["max"],
    duration_s: float,
    scenario: str | None,
    scenario_configmap: str | None = None,
    processes_per_pod: int = 1,
    cpu: str | None = None,
    memory: str = DEFAULT_MEMORY,
    extra_args: Sequence[str] = (),
    command: Sequence[str] = ("sengu",),
    deadline_margin_s: int = DEFAULT_MARGIN_S,
    ttl_seconds_after_finished: int = DEFAULT_TTL_S,
    node_selector: Mapping[str, str] | None = None,
    k8s_version: str | None = None,
) -> list[dict[str, Any]]:
    """The ConfigMap (when there is a scenario) and the Indexed Job of one distributed load run.

    name: the Job's name, also the run's label; a DNS label short enough that NAME-INDEX (a pod's hostname)
        still is one. namespace: where both objects go. image: one with `sengu` installed.
    workers: the number of pods (completions = parallelism). rate: requests/s for all pods together (each
        offers rate/workers), or "max" for the closed model in every pod. duration_s: the measured length.
    scenario: the scenario file's text (`sengu load scenario` output), or None to load the target URL
        itself. scenario_configmap: its ConfigMap's name (default NAME-scenario).
    processes_per_pod: `--workers` inside each pod, one per core; cpu defaults to that many cores.
    cpu, memory: each pod's requests, equal to its limits. extra_args: more `sengu load run` options
        (--connections, --timeout, --header, --ramp…), never ones the Job sets or thresholds.
    command: how the image starts sengu. deadline_margin_s: added to duration_s for the Job's
        activeDeadlineSeconds. ttl_seconds_after_finished: when Kubernetes deletes the Job and its pods.
    k8s_version: the Kubernetes minor to validate against (default: sengu.core.kschema.DEFAULT_VERSION).

    Raises UserError naming every bad input at once, or every schema error of the rendered objects.
    """
    from sengu.core import kschema

    version = k8s_version or kschema.DEFAULT_VERSION
    if cpu is None:  # a core per process; a bad process count is reported once, as itself
        cpu = str(processes_per_pod) if isinstance(processes_per_pod, int) and processes_per_pod >= 1 else "1"
    configmap = scenario_configmap or f"{name}-scenario"
    problems = _check(
        name=name,
        namespace=namespace,
        image=image,
        workers=workers,
        target=target,
        rate=rate,
        duration_s=duration_s,
        scenario=scenario,
        configmap=configmap,
        processes_per_pod=processes_per_pod,
        cpu=cpu,
        memory=memory,
        extra_args=extra_args,
        command=command,
        deadline_margin_s=deadline_margin_s,
        ttl_seconds_after_finished=ttl_seconds_after_finished,
        node_selector=node_selector or {},
    )
    if problems:
        raise UserError([Problem(p) for p in problems])

    common = labels(name)
    pod_rate_arg = "max" if rate == "max" else format_rate(pod_rate(rate, workers))
    args = [*RUN_COMMAND, OPT_TARGET, target]
    if scenario is not None:
        args += [OPT_SCENARIO, f"{SCENARIO_DIR}/{SCENARIO_FILE}"]
    args += [OPT_RATE, pod_rate_arg, OPT_DURATION, format_duration(duration_s)]
    if processes_per_pod != 1:
        args += [OPT_WORKERS, str(processes_per_pod)]
    # Kubernetes expands $(VAR) in args from the container's env: each pod gets its own index.
    args += [OPT_SHARD, f"$({INDEX_ENV})/{workers}", OPT_PARTS, PARTS_OUTPUT, *extra_args]

    size = {"cpu": cpu, "memory": memory}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": list(command),
        "args": args,
        "env": [
            {"name": INDEX_ENV, "valueFrom": {"fieldRef": {"fieldPath": _INDEX_FIELD}}},
            {"name": PODS_ENV, "value": str(workers)},
            {"name": "PYTHONUNBUFFERED", "value": "1"},  # the log is the result channel: no output held back
        ],
        "resources": {"requests": dict(size), "limits": dict(size)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if scenario is not None:
        container["volumeMounts"] = [{"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": True}]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,  # a load worker has no business with the Kubernetes API
        "terminationGracePeriodSeconds": 30,  # on the deadline, time to print what was measured
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {LABEL_RUN: name}},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        "containers": [container],
    }
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    if scenario is not None:
        pod_spec["volumes"] = [{"name": "scenario", "configMap": {"name": configmap}}]

    annotations = {
        ANNOTATION_RATE: "max" if rate == "max" else format_rate(rate),
        ANNOTATION_DURATION: format(duration_s, ".10g"),
        ANNOTATION_TARGET: target,
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(common), "annotations": annotations},
        "spec": {
            "completionMode": "Indexed",
            "completions": workers,
            "parallelism": workers,
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s(duration_s, deadline_margin_s),
            "ttlSecondsAfterFinished": ttl_seconds_after_finished,
            "template": {"metadata": {"labels": dict(common)}, "spec": pod_spec},
        },
    }
    objects: list[dict[str, Any]] = []
    if scenario is not None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": configmap, "namespace": namespace, "labels": dict(common)},
                "data": {SCENARIO_FILE: scenario},
            }
        )
    objects.append(job)

    schema_problems = [
        Problem(f"{obj['kind']} {obj['metadata']['name']!r} fails the Kubernetes {version} schema at {err}")
        for obj in objects
        for err in kschema.validate(obj, version)
    ]
    if schema_problems:
        raise UserError(schema_problems)
    return objects


def deadline_s(duration_s: float, margin_s: int = DEFAULT_MARGIN_S) -> int:
    """The Job's activeDeadlineSeconds: the run's length, rounded up, plus the margin."""
    return math.ceil(duration_s) + margin_s


def _check(
    *,
    name: str,
    namespace: str,
    image: str,
    workers: int,
    target: str,
    rate: float | str,
    duration_s: float,
    scenario: str | None,
    configmap: str,
    processes_per_pod: int,
    cpu: str,
    memory: str,
    extra_args: Sequence[str],
    command: Sequence[str],
    deadline_margin_s: int,
    ttl_seconds_after_finished: int,
    node_selector: Mapping[str, str],
) -> list[str]:
    """Every problem with the inputs, each a sentence naming the input."""
    problems: list[str] = []
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        problems.append(f"workers (the number of pods) must be a whole number of at least 1, not {workers!r}")
        workers = 1
    elif workers > MAX_WORKERS:
        problems.append(
            f"workers (the number of pods) must be at most {MAX_WORKERS:,} for an Indexed Job, not {workers}"
        )
        workers = MAX_WORKERS
    index_digits = len(str(workers - 1))
    longest = MAX_NAME - 1 - index_digits
    if not DNS_LABEL.match(name):
        problems.append(
            f"name {name!r} is not a DNS label: lowercase letters, digits and '-', starting and ending "
            "with a letter or digit"
        )
    elif len(name) > longest:
        problems.append(
            f"name {name!r} is {len(name)} characters; with {workers} pods it may have at most {longest}, "
            f"so that NAME-INDEX, each pod's hostname, fits in {MAX_NAME}"
        )
    if not DNS_LABEL.match(namespace) or len(namespace) > MAX_NAME:
        problems.append(f"namespace {namespace!r} is not a DNS label of at most {MAX_NAME} characters")
    if not image or any(c.isspace() for c in image):
        problems.append(f"image {image!r} must be a non-empty image reference without spaces")
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"target {target!r} must be an http:// or https:// URL with a host")
    if rate != "max" and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0
    ):
        problems.append(f"rate must be a positive number of requests per second (for all pods) or 'max', not {rate!r}")
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float) or not 0 < duration_s < math.inf:
        problems.append(f"duration must be a positive number of seconds, not {duration_s!r}")
    if scenario is not None:
        size = len(scenario.encode("utf-8"))
        if not scenario.strip():
            problems.append("the scenario is empty")
        elif size > MAX_CONFIGMAP_BYTES:
            problems.append(
                f"the scenario is {size:,} bytes; a ConfigMap holds at most about 1 MiB: build a smaller "
                "scenario (fewer endpoints or sampled values)"
            )
        if len(configmap) > 253 or not _DNS_SUBDOMAIN.match(configmap):
            problems.append(f"scenario ConfigMap name {configmap!r} is not a DNS subdomain of at most 253 characters")
    if not isinstance(processes_per_pod, int) or isinstance(processes_per_pod, bool) or processes_per_pod < 1:
        problems.append(f"processes per pod must be a whole number of at least 1, not {processes_per_pod!r}")
    if not _CPU.match(cpu) or not _positive(cpu.rstrip("m")):
        problems.append(f"cpu {cpu!r} must be a positive Kubernetes CPU quantity such as 1, 1.5 or 500m")
    if not _MEMORY.match(memory) or not _positive(re.sub(r"[A-Za-z]+$", "", memory)):
        problems.append(f"memory {memory!r} must be a positive Kubernetes memory quantity such as 512Mi or 2Gi")
    for arg in extra_args:
        option = arg.split("=", 1)[0]
        if option in RESERVED_OPTIONS:
            problems.append(f"extra argument {arg!r}: {_why_reserved(option)}")
    if not command or any(not c for c in command):
        problems.append("command must name how the image runs sengu, e.g. ['sengu'] or ['python', '-m', 'sengu']")
    if not isinstance(deadline_margin_s, int) or deadline_margin_s < 0:
        problems.append(f"the deadline margin must be a whole number of seconds, 0 or more, not {deadline_margin_s!r}")
    if not isinstance(ttl_seconds_after_finished, int) or ttl_seconds_after_finished < 0:
        problems.append(
            f"ttlSecondsAfterFinished must be a whole number of seconds, 0 or more, not {ttl_seconds_after_finished!r}"
        )
    for key, value in node_selector.items():
        if not _LABEL_KEY.match(key) or len(key.rsplit("/", 1)[-1]) > MAX_NAME:
            problems.append(f"node selector key {key!r} is not a Kubernetes label key")
        if not _LABEL_VALUE.match(value) or len(value) > MAX_NAME:
            problems.append(f"node selector value {value!r} (for {key!r}) is not a Kubernetes label value")
    return problems


def _positive(number: str) -> bool:
    try:
        return float(number) > 0
    except ValueError:
        return False


def _why_reserved(option: str) -> str:
    if option in ("--max-p99", "--max-error-rate"):
        return "thresholds are checked on the merged result, not in a pod (one pod failing would stop them all)"
    if option == "--report":
        return "the report is written from the merged result, not in a pod"
    return f"{option} is set by the Job itself"


# --- printing ----------------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the scenario file) as literal blocks, so the manifest reads like the file."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """Manifests as one multi-document YAML stream, fields in Kubernetes' usual order (for kubectl apply -f -)."""
    return yaml.dump_all([dict(o) for o in objects], Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)
