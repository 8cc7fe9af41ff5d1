"""CronjobManager -> Kubernetes CronJobs: every field where it belongs, valid names, every problem located,
every object valid against the official schemas, and golden files that change only on purpose.

Golden files: tests/batch/golden/*.yaml, rendered from tests/batch/golden/inputs/. After an intended change:
    SENGU_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/batch/test_render.py
then review the diff of tests/batch/golden/ like code.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.batch import render
from sengu.batch.render import (
    DEFAULT_TTL_SECONDS_AFTER_FINISHED,
    cronjob_name,
    cronjob_names,
    custom_resource,
    render_document,
    render_manager,
    schema_problems,
    to_yaml,
)
from sengu.batch.resolve import load_manager, resolve
from sengu.batch.spec import RESOURCE, CronjobManager
from sengu.core import kschema
from sengu.core.crd import definition
from sengu.core.errors import UserError
from sengu.core.spec import Document, parse_documents, read_documents, validate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
INPUTS = GOLDEN / "inputs"
UPDATE = os.environ.get("SENGU_UPDATE_GOLDEN") == "1"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
JOB_NAME_LABEL = "metadata.labels['batch.kubernetes.io/job-name']"
VERSIONS = sorted({kschema.DEFAULT_VERSION, "1.32", kschema.bundled_versions()[-1]})


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: create it with SENGU_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), f"golden/{name}", "rendered"
            )
        )
        pytest.fail(
            f"the output differs from tests/batch/golden/{name}; if the change is intended, regenerate with "
            f"SENGU_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/batch/test_render.py and review it:\n"
            + diff[:6000]
        )


def doc_of(text: str, path: str = "jobs.yaml") -> Document:
    (doc,) = parse_documents(text, path)
    return doc


def sengu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sengu", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def every_document() -> list[tuple[str, Document]]:
    docs = []
    for path in [
        *sorted(ROOT.glob("examples/batch/*.yaml")),
        *sorted(ROOT.glob("tests/batch/crontabs/*.expected.yaml")),
        *sorted(INPUTS.glob("*.yaml")),
    ]:
        docs.extend((str(path.relative_to(ROOT)), d) for d in read_documents(path))
    return docs


# --- golden files -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["rich", "names"])
def test_golden_rendering(name: str) -> None:
    (doc,) = read_documents(INPUTS / f"{name}.yaml")
    check_golden(f"{name}.cronjobs.yaml", to_yaml(render_document(doc)))


def test_cli_prints_the_golden_rendering() -> None:
    out = sengu("batch", "render", str(INPUTS / "rich.yaml"))
    assert out.returncode == 0, out.stderr
    check_golden("rich.cronjobs.yaml", out.stdout)
    as_json = sengu("batch", "render", str(INPUTS / "rich.yaml"), "-o", "json", "-n", "elsewhere")
    listed = json.loads(as_json.stdout)
    assert listed["apiVersion"] == "v1" and listed["kind"] == "List"
    expected = list(yaml.safe_load_all(out.stdout))
    for obj in expected:
        obj["metadata"]["namespace"] = "elsewhere"
    assert listed["items"] == expected


def test_sengu_crd_golden() -> None:
    out = sengu("crd")
    assert out.returncode == 0, out.stderr
    check_golden("crd.yaml", out.stdout)


def test_golden_tests_fail_when_the_output_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "UPDATE", False)
    (doc,) = read_documents(INPUTS / "rich.yaml")
    changed = to_yaml(render_document(doc)).replace("ttlSecondsAfterFinished: 86400", "ttlSecondsAfterFinished: 1")
    with pytest.raises(pytest.fail.Exception, match=r"SENGU_UPDATE_GOLDEN=1[\s\S]*-      ttlSecondsAfterFinished"):
        check_golden("rich.cronjobs.yaml", changed)


# --- every example and fixture is valid on Kubernetes ------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_passes_the_official_schemas_strictly(version: str) -> None:
    count = 0
    for where, doc in every_document():
        model = validate(doc, CronjobManager)
        manager = resolve(model, doc)
        objects = render_manager(manager, model=model, doc=doc)
        assert len(objects) == sum(len(p.schedules) for p in manager.jobs), where
        for obj in objects:
            assert kschema.validate(obj, version, strict=True) == [], (where, obj["metadata"]["name"])
        assert schema_problems(objects, manager, version=version) == []
        count += len(objects)
    assert count > 30


def test_rendering_is_pure_and_shares_nothing() -> None:
    (doc,) = read_documents(INPUTS / "rich.yaml")
    first, second = render_document(doc), render_document(doc)
    assert first == second
    first[0]["metadata"]["labels"]["x"] = "y"
    assert "x" not in first[0]["spec"]["jobTemplate"]["metadata"]["labels"]
    assert "&id" not in to_yaml(second) and "*id" not in to_yaml(second)


# --- what a job becomes ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rich() -> dict[str, dict[str, Any]]:
    (doc,) = read_documents(INPUTS / "rich.yaml")
    return {o["metadata"]["name"]: o for o in render_document(doc)}


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any]) -> dict[str, Any]:
    (c,) = pod(obj)["containers"]
    return dict(c)


def test_one_cronjob_per_job_and_schedule(rich: dict[str, dict[str, Any]]) -> None:
    assert list(rich) == [
        "shop-refresh-ranking",
        "shop-nightly-backup",
        "shop-send-digest-0",
        "shop-send-digest-1",
        "shop-paused-report",
    ]
    assert rich["shop-send-digest-0"]["spec"]["schedule"] == "0 9 * * mon-fri"
    assert rich["shop-send-digest-1"]["spec"]["schedule"] == "0 10 * * sat,sun"
    assert {o["metadata"]["namespace"] for o in rich.values()} == {"batch"}


def test_labels_on_the_cronjob_its_job_and_its_pod(rich: dict[str, dict[str, Any]]) -> None:
    want = {
        "app.kubernetes.io/name": "send-digest",
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/managed-by": "sengu",
        "app.kubernetes.io/component": "batch",
        "sengu.dev/manager": "shop",
        "sengu.dev/job": "send-digest",
        "sengu.dev/priority": "middle",
    }
    obj = rich["shop-send-digest-1"]
    assert obj["metadata"]["labels"] == want
    assert obj["spec"]["jobTemplate"]["metadata"]["labels"] == want
    assert obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] == want


def test_schedule_zone_deadlines_and_history(rich: dict[str, dict[str, Any]]) -> None:
    (doc,) = read_documents(INPUTS / "rich.yaml")
    plan = load_manager(doc).job("refresh-ranking")
    spec = rich["shop-refresh-ranking"]["spec"]
    assert "H" not in spec["schedule"] and spec["schedule"] == plan.expressions[0]  # as the engine fires it
    assert spec["timeZone"] == "Asia/Tokyo"
    assert (spec["concurrencyPolicy"], spec["startingDeadlineSeconds"]) == ("Forbid", 120)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (2, 3)
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 1 and "activeDeadlineSeconds" not in job
    assert job["ttlSecondsAfterFinished"] == 86400
    digest = rich["shop-send-digest-0"]["spec"]
    assert (digest["timeZone"], digest["concurrencyPolicy"]) == ("America/New_York", "Replace")
    assert digest["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 3600
    backup = rich["shop-nightly-backup"]["spec"]["jobTemplate"]["spec"]
    assert backup["activeDeadlineSeconds"] == 3600
    paused = rich["shop-paused-report"]["spec"]
    assert (paused["startingDeadlineSeconds"], paused["successfulJobsHistoryLimit"]) == (0, 0)
    assert paused["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_pod_failures_from_disruptions_follow_the_lost_attempt_policy(rich: dict[str, dict[str, Any]]) -> None:
    for obj in rich.values():
        job = obj["spec"]["jobTemplate"]["spec"]
        assert job["podFailurePolicy"] == {
            "rules": [{"action": "Count", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
        }
        assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_suspension_follows_the_stage_and_suspend(rich: dict[str, dict[str, Any]]) -> None:
    suspended = {n: o["spec"]["suspend"] for n, o in rich.items()}
    assert suspended == {
        "shop-refresh-ranking": False,
        "shop-nightly-backup": True,  # high, above stage middle
        "shop-send-digest-0": False,
        "shop-send-digest-1": False,
        "shop-paused-report": True,  # suspend: true
    }
    why = rich["shop-nightly-backup"]["metadata"]["annotations"][render.ANNOTATION_SUSPENDED]
    assert why == "priority high is above migration stage middle"
    assert rich["shop-paused-report"]["metadata"]["annotations"][render.ANNOTATION_SUSPENDED] == "suspend: true"
    assert "annotations" not in rich["shop-refresh-ranking"]["metadata"]


def test_container_command_env_and_directory(rich: dict[str, dict[str, Any]]) -> None:
    ranking = container(rich["shop-refresh-ranking"])
    assert ranking["name"] == render.CONTAINER
    assert ranking["image"] == "registry.example.com/shop/batch:2026.11.27"
    assert ranking["command"] == ["/bin/sh", "-c", "bin/rails runner Ranking.refresh"]
    assert ranking["workingDir"] == "/srv/shop"
    assert ranking["env"] == [
        {"name": "RAILS_ENV", "value": "production"},
        {"name": "RATIO", "value": "0.5"},
        {"name": "VERBOSE", "value": "false"},
        {"name": "WORKERS", "value": "4"},
        {"name": "SENGU_MANAGER", "value": "shop"},
        {"name": "SENGU_JOB", "value": "refresh-ranking"},
        {"name": "SENGU_RUN_ID", "valueFrom": {"fieldRef": {"fieldPath": JOB_NAME_LABEL}}},
    ]
    assert container(rich["shop-nightly-backup"])["command"] == ["/usr/local/bin/backup", "--full"]
    digest = container(rich["shop-send-digest-0"])
    assert digest["image"] == "registry.example.com/shop/mailer:7" and digest["workingDir"] == "/srv/shop/current"
    env = {e["name"]: e.get("value") for e in digest["env"]}
    assert env["DIGEST_BATCH"] == "500" and env["SENGU_JOB"] == "send-digest"  # ours wins, as on the engine
    assert [e["name"] for e in digest["env"]].count("SENGU_JOB") == 1


def test_resources_priority_class_and_placement(rich: dict[str, dict[str, Any]]) -> None:
    assert container(rich["shop-refresh-ranking"])["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert container(rich["shop-nightly-backup"])["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2500m", "memory": "4Gi"},  # 2.5, as the API server writes it back
    }
    classes = {n: pod(o).get("priorityClassName") for n, o in rich.items()}
    assert classes == {
        "shop-refresh-ranking": "batch-low",
        "shop-nightly-backup": "batch-critical",
        "shop-send-digest-0": None,  # no class named for middle
        "shop-send-digest-1": None,
        "shop-paused-report": "batch-low",
    }
    ranking = pod(rich["shop-refresh-ranking"])
    assert ranking["nodeSelector"] == {
        "karpenter.sh/capacity-type": "spot",
        "kubernetes.io/arch": "arm64",
        "workload": "batch",
    }
    assert ranking["tolerations"] == [
        {"key": "workload", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    ]
    assert ranking["serviceAccountName"] == "shop-batch"
    assert pod(rich["shop-send-digest-0"])["serviceAccountName"] == "mailer"
    backup = pod(rich["shop-nightly-backup"])  # a job's placement replaces the default one
    assert backup["nodeSelector"] == {"karpenter.sh/capacity-type": "on-demand", "kubernetes.io/arch": "amd64"}
    assert "tolerations" not in backup
    paused = pod(rich["shop-paused-report"])
    assert "nodeSelector" not in paused
    assert paused["tolerations"][0]["tolerationSeconds"] == 300


def test_minimal_job_gets_every_default() -> None:
    text = "apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: m}\nspec:\n"
    text += "  jobs: [{name: j, schedule: '@daily', command: x, image: i}]\n"
    (obj,) = render_document(doc_of(text))
    spec = obj["spec"]
    assert "namespace" not in obj["metadata"]
    assert (spec["timeZone"], spec["concurrencyPolicy"], spec["startingDeadlineSeconds"]) == ("UTC", "Forbid", 300)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"], spec["suspend"]) == (3, 1, False)
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["ttlSecondsAfterFinished"] == DEFAULT_TTL_SECONDS_AFTER_FINISHED
    assert set(pod(obj)) == {"restartPolicy", "containers"}
    assert set(container(obj)) == {"name", "image", "command", "env"}
    assert render_document(doc_of(text), namespace="ns")[0]["metadata"]["namespace"] == "ns"


# Kubernetes' own expectations (apimachinery quantity_test.go: TestQuantityParseEmit, the alternates of
# TestQuantityString, the rounding cases of TestQuantityParse), plus numbers as YAML gives them.
CANONICAL = {
    "1Ki": "1Ki", "1024Mi": "1Gi", "1000M": "1G", ".001Ki": "1024m", ".000001Ki": "1024u", ".000000001Ki": "1024n",
    ".000000000001Ki": "2n", "307200Ki": "300Mi", "1025024Mi": "1001Gi", "1024Gi": "1Ti", "5000m": "5",
    "0.5": "500m", "0.001T": "1G", "1000u": "1m", "1.08": "1080m", "1080000000n": "1080m", ".001e12": "1e9",
    "0.001e0": "1e-3", "1000e-12": "1e-9", "00": "0", "3.001n": "4n", "1.1E-9": "2e-9", "0.00000012345": "124n",
    "100.035Ki": "102435840m", "0.5Mi": "512Ki", "1.5Gi": "1536Mi", "1025": "1025", "1e3": "1e3", "1.2e3": "1200",
    "8.1k": "8100", "-1Gi": "-1Gi", "-0.5": "-500m", "0Gi": "0", "1.": "1", "1.G": "1G", "12E": "12E",
    2.5: "2500m", 1: "1", 0.25: "250m", "bogus": "bogus",
}  # fmt: skip


@pytest.mark.parametrize(("given", "canonical"), CANONICAL.items())
def test_quantities_are_written_as_the_api_server_writes_them(given: str | float, canonical: str) -> None:
    assert render.canonical_quantity(given) == canonical
    if canonical != "bogus":
        assert render.canonical_quantity(canonical) == canonical  # a fixed point


# --- names ---------------------------------------------------------------------------------------------------
def test_names_short_several_schedules_and_cut() -> None:
    assert cronjob_name("shop", "report") == "shop-report"
    assert cronjob_name("shop", "report", 1) == "shop-report-1"
    long = cronjob_name("payments-reconciliation.eu-west-1", "settle-card-transactions")
    assert len(long) == 52 and NAME.match(long) and long.startswith("payments-reconciliation.eu-west-1-settle")
    assert long == cronjob_name("payments-reconciliation.eu-west-1", "settle-card-transactions")  # stable
    assert long != cronjob_name("payments-reconciliation.eu-west-1", "settle-card-transactions", 0)


def test_names_that_would_meet_take_the_hashed_form() -> None:
    (doc,) = read_documents(INPUTS / "names.yaml")
    names = cronjob_names(load_manager(doc))
    assert len(set(names.values())) == len(names) == 6
    assert names[("a", 1)] == "payments-reconciliation.eu-west-1-a-1"  # met nobody: unchanged
    assert names[("a", 0)] != names[("a-0", 0)]
    assert names[("a", 0)].startswith("payments-reconciliation.eu-west-1-a-0-")
    assert all(len(n) <= 52 and NAME.match(n) for n in names.values())


LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")


@settings(max_examples=300, deadline=None)
@given(
    manager=st.lists(LABEL, min_size=1, max_size=4).map(".".join),
    job=st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?\Z"),
    index=st.none() | st.integers(0, 20),
    other=st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?\Z"),
)
def test_names_are_valid_short_and_distinct(manager: str, job: str, index: int | None, other: str) -> None:
    name = cronjob_name(manager, job, index)
    assert len(name) <= 52 and NAME.match(name), name
    if len(f"{manager}-{job}") + (0 if index is None else 3) <= 52:
        assert name.startswith(f"{manager}-{job}")
    if other != job:
        assert cronjob_name(manager, other, index) != name


# --- problems --------------------------------------------------------------------------------------------
BROKEN = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata:
  name: shop
spec:
  defaults:
    workingDir: app
  jobs:
    - name: no-image
      schedule: "@daily"
      command: x
    - name: relative
      schedule: "@daily"
      command: x
      image: i
      workingDir: ./bin
    - name: fine
      schedule: "@daily"
      command: x
      image: i
      workingDir: /srv
"""


def test_every_problem_at_once_with_its_location() -> None:
    with pytest.raises(UserError) as info:
        render_document(doc_of(BROKEN, "shop.yaml"))
    assert info.value.lines() == [
        "shop.yaml:7:17: spec.defaults.workingDir 'app' is relative (inherited by 1 job); on Kubernetes it must be "
        "an absolute path in the image (relative to the spec file only means something on this machine), or '.' "
        "for the image's own working directory",
        "shop.yaml:9:13: job 'no-image' has no image: on Kubernetes every job runs in a container; "
        "set spec.defaults.image or the job's image",
        "shop.yaml:16:19: job 'relative': workingDir './bin' is relative; on Kubernetes it must be an absolute "
        "path in the image (relative to the spec file only means something on this machine), or '.' for the "
        "image's own working directory",
    ]


def test_without_the_document_problems_point_at_the_job() -> None:
    doc = doc_of(BROKEN, "shop.yaml")
    model = validate(doc, CronjobManager)
    with pytest.raises(UserError) as info:
        render_manager(resolve(model, doc), model=model)
    assert [str(p.location) for p in info.value.problems] == ["shop.yaml", "shop.yaml:9", "shop.yaml:12"]


def test_a_manager_name_must_fit_in_a_label_value() -> None:
    name = "a" * 64
    text = f"apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {{name: {name}}}\nspec:\n"
    text += "  jobs: [{name: j, schedule: '@daily', command: x, image: i}]\n"
    with pytest.raises(UserError, match="is 64 characters; on Kubernetes it is a label value, at most 63"):
        render_document(doc_of(text))


TOLERATION_TYPO = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata: {name: shop}
spec:
  defaults: {image: i}
  jobs:
    - name: ok
      schedule: "@daily"
      command: x
    - name: typo
      schedule: "@daily"
      command: x
      placement:
        tolerations: [{key: spot, operater: Exists}]
"""


def test_schema_errors_are_placed_at_their_job(tmp_path: Path) -> None:
    doc = doc_of(TOLERATION_TYPO, "shop.yaml")
    manager = load_manager(doc)
    problems = schema_problems(render_document(doc), manager, version="1.32")
    assert [str(p) for p in problems] == [
        "shop.yaml:10: job 'typo': CronJob 'shop-typo' fails the Kubernetes 1.32 schema at "
        "spec.jobTemplate.spec.template.spec.tolerations[0]: Additional properties are not allowed "
        "('operater' was unexpected)"
    ]
    path = tmp_path / "shop.yaml"
    path.write_text(TOLERATION_TYPO)
    out = sengu("batch", "render", str(path), "--k8s-version", "1.33")
    assert out.returncode == 2 and out.stdout == ""
    assert "job 'typo': CronJob 'shop-typo' fails the Kubernetes 1.33 schema" in out.stderr
    unchecked = sengu("batch", "render", str(path), "--no-validate")
    assert unchecked.returncode == 0 and "operater: Exists" in unchecked.stdout


def test_cli_errors() -> None:
    version = sengu("batch", "render", str(INPUTS / "rich.yaml"), "--k8s-version", "1.10")
    assert version.returncode == 2 and "no bundled schemas for Kubernetes 1.10" in version.stderr
    output = sengu("batch", "render", str(INPUTS / "rich.yaml"), "-o", "table")
    assert output.returncode == 2 and "--output must be 'yaml' or 'json'" in output.stderr


def test_cli_default_version_is_the_default_version() -> None:
    import inspect

    from sengu.batch.cli import render as command

    assert inspect.signature(command).parameters["k8s_version"].default == kschema.DEFAULT_VERSION


def test_help_imports_no_schema_machinery() -> None:
    code = (
        "import sys, sengu.cli; heavy = ('jsonschema', 'kubernetes_validate', 'referencing', 'kubernetes', "
        "'sengu.core.kschema', 'sengu.core.crd', 'sengu.batch.render'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# --- the custom resource itself ------------------------------------------------------------------------------
def test_custom_resource_is_the_spec_as_written() -> None:
    (doc,) = read_documents(INPUTS / "rich.yaml")
    body = custom_resource(doc)
    assert body["apiVersion"] == "sengu.dev/v1alpha1" and body["kind"] == "CronjobManager"
    assert body["metadata"] == {
        "name": "shop",
        "namespace": "batch",
        "labels": {"team": "web"},
        "annotations": {"owner": "web-team"},
    }
    assert body["spec"]["jobs"][0] == {
        "name": "refresh-ranking",
        "schedule": "H/10 * * * *",  # H stays: the operator expands it, from the job's name
        "command": "bin/rails runner Ranking.refresh",
        "priority": "low",
    }
    assert body["spec"]["defaults"]["env"] == {"RAILS_ENV": "production", "WORKERS": 4, "RATIO": 0.5, "VERBOSE": False}
    assert "status" not in body
    assert kschema.validate_custom_resource(body, definition(RESOURCE)) == []
    assert custom_resource(doc, namespace="other")["metadata"]["namespace"] == "other"
    minimal = custom_resource(doc_of(BROKEN))
    assert minimal["metadata"] == {"name": "shop"} and "migration" not in minimal["spec"]
    # What the cluster hands back (maps with sorted keys, as the API server writes them) renders the same.
    again = doc_of(yaml.safe_dump(body, sort_keys=True))
    assert render_document(again) == render_document(doc)
