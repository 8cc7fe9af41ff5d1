"""CustomResourceDefinitions from pydantic models: structural schemas the API server accepts, that accept every
document the models accept and refuse what they refuse where a structural schema can say it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from sengu.batch.resolve import load_manager
from sengu.batch.spec import RESOURCE
from sengu.core import kschema
from sengu.core.crd import CustomResource, PrinterColumn, definition, openapi_schema, structural_problems
from sengu.core.spec import parse_documents

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [
        *ROOT.glob("examples/batch/*.yaml"),
        *ROOT.glob("tests/batch/crontabs/*.expected.yaml"),
        *ROOT.glob("tests/batch/golden/inputs/*.yaml"),
    ]
)


# --- a small model exercising every conversion ------------------------------------------------------------
class Inner(BaseModel):
    """An inner object."""

    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=1, le=9, description="How big.")


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=10, pattern="^[a-z]+$")
    mode: Literal["a", "b"] = "a"
    maybe: Literal["a", "b"] | None = None
    fixed: Literal["x"] = "x"
    inner: Inner | None = Field(default=None, description="Said on the field.")
    inners: list[Inner] = Field(default_factory=list, min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    port: int | str = 80
    command: str | list[str] = "true"
    anything: dict[str, Any] = Field(default_factory=dict)
    ratio: float = Field(default=1.0, gt=0)
    free: Any = None


class ThingStatus(BaseModel):
    ready: bool = False


class ThingResource(BaseModel):
    """A thing."""

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: dict[str, Any]
    spec: Thing
    status: ThingStatus | None = None


THING = CustomResource(
    model=ThingResource,
    group="example.com",
    version="v1",
    kind="Thing",
    plural="things",
    short_names=("th",),
    printer_columns=(PrinterColumn("Ready", "boolean", ".status.ready", "Ready or not."),),
)


def test_conversion_of_every_json_schema_form() -> None:
    schema = openapi_schema(ThingResource)
    assert schema["description"] == "A thing."
    props = schema["properties"]
    assert props["apiVersion"] == {"type": "string"} and props["kind"] == {"type": "string"}
    assert props["metadata"] == {"type": "object"}  # only the API server says what metadata holds
    assert schema["required"] == ["spec"]
    spec = props["spec"]
    assert spec["required"] == ["name"]
    assert kschema.validate(definition(THING)) == []
    p = spec["properties"]
    assert p["name"] == {"type": "string", "maxLength": 10, "pattern": "^[a-z]+$"}
    assert p["mode"] == {"type": "string", "enum": ["a", "b"]}
    assert p["fixed"] == {"type": "string", "enum": ["x"]}
    # no null in the enum: the API server refuses null for an enum field whatever the enum lists
    assert p["maybe"] == {"type": "string", "enum": ["a", "b"], "nullable": True}
    # $ref inlined; the field's description wins over the model's; None -> nullable
    assert p["inner"] == {
        "description": "Said on the field.",
        "type": "object",
        "properties": {"size": {"description": "How big.", "type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["size"],
        "nullable": True,
    }
    assert p["inners"]["type"] == "array" and p["inners"]["minItems"] == 1
    assert p["inners"]["items"]["description"] == "An inner object."
    assert p["tags"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert p["port"] == {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert p["command"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert p["anything"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert p["ratio"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert p["free"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert "default" not in str(schema) and "title" not in str(schema)


def test_definition_has_names_status_subresource_and_columns() -> None:
    crd = definition(THING)
    assert crd["metadata"]["name"] == "things.example.com"
    assert crd["spec"]["names"] == {
        "kind": "Thing",
        "listKind": "ThingList",
        "plural": "things",
        "singular": "thing",
        "shortNames": ["th"],
    }
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"] == [
        {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready", "description": "Ready or not."}
    ]
    assert kschema.validate(crd) == []

    class NoStatus(BaseModel):
        spec: Inner

    plain = definition(CustomResource(model=NoStatus, group="example.com", version="v1", kind="N", plural="ns"))
    assert "subresources" not in plain["spec"]["versions"][0]


def test_recursive_and_non_structural_models_are_refused() -> None:
    class Node(BaseModel):
        children: list[Node] = Field(default_factory=list)

    class Tree(BaseModel):
        spec: Node

    with pytest.raises(ValueError, match="contains itself"):
        openapi_schema(Tree)

    class Odd(BaseModel):
        model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": False})
        a: int = 0

    class OddResource(BaseModel):
        spec: Odd

    with pytest.raises(ValueError, match="not structural"):
        definition(CustomResource(model=OddResource, group="example.com", version="v1", kind="Odd", plural="odds"))


# --- Kubernetes' structural rules ------------------------------------------------------------------------
def root(**spec: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {"type": "object", **spec}}}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (root(properties={"a": {"description": "no type"}}), "type must not be empty for object fields"),
        (root(properties={"a": {"type": "array", "items": {}}}), "type must not be empty for array items"),
        ({"properties": {}}, "type must not be empty at the root"),
        ({"type": "string"}, "type must be object at the root"),
        (root(properties={"a": {"$ref": "#/x"}}), "$ref is not supported"),
        (root(properties={"a": {"type": "null"}}), "use nullable for null"),
        (root(properties={"a": {"type": "array"}}), "items must be specified"),
        (root(properties={"a": {"type": "array", "items": [{"type": "string"}]}}), "items must be a schema"),
        (root(properties={"a": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}), "uniqueItems"),
        (root(properties={"a": {"type": "string"}}, additionalProperties={"type": "string"}), "mutually exclusive"),
        (root(additionalProperties=False), "false is forbidden"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "not be used at the root"),
        (root(**{"x-kubernetes-preserve-unknown-fields": False}), "must be true or undefined"),
        (
            root(properties={"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}),
            "type must not be used inside a logical junctor",
        ),
        (
            root(properties={"a": {"type": "string", "anyOf": [{"description": "x"}]}}),
            "description must not be used inside",
        ),
        (root(properties={"a": {"type": "object", "oneOf": [{"properties": {"b": {}}}]}}), "outside the junctor"),
        ({"type": "object", "properties": {"kind": {"type": "integer"}}}, "type must be string"),
        (
            {"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {}}}}},
            "other than name and generateName",
        ),
        ({"type": "object", "properties": {"metadata": {"type": "object", "description": "x"}}}, "other than name"),
    ],
)
def test_each_structural_rule_is_checked(schema: dict[str, Any], problem: str) -> None:
    found = structural_problems(schema)
    assert any(problem in p for p in found), found


def test_structural_patterns_kubernetes_allows() -> None:
    ok = root(
        properties={
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "any": {"x-kubernetes-preserve-unknown-fields": True},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "n": {"type": "integer", "nullable": True, "anyOf": [{"minimum": 1}, {"maximum": -1}]},
        }
    )
    ok["properties"]["metadata"] = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 9}}}
    assert structural_problems(ok) == []


# --- the CronjobManager definition ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return definition(RESOURCE)


@pytest.mark.parametrize("version", [kschema.DEFAULT_VERSION, kschema.bundled_versions()[-1]])
def test_the_crd_passes_the_official_crd_schema(crd: dict[str, Any], version: str) -> None:
    assert kschema.validate(crd, version) == []
    assert kschema.validate(crd, version, engine="jsonschema") == []
    assert structural_problems(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]) == []


def test_the_crd_names_and_columns(crd: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "cronjobmanagers.sengu.dev"
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == ("CronjobManager", "cronjobmanagers", ["cjm"])
    assert crd["spec"]["scope"] == "Namespaced"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Jobs", "Active", "Stage", "Age"]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    job_status = status["properties"]["jobs"]["additionalProperties"]["properties"]
    assert set(job_status) == {
        "cronJobs",
        "suspended",
        "lastScheduleTime",
        "lastSuccessfulTime",
        "lastFailure",
        "active",
        "missed",
    }
    assert set(job_status["lastFailure"]["properties"]) == {"time", "reason", "message", "jobName", "exitCode"}
    assert status["x-kubernetes-preserve-unknown-fields"] is True  # kopf keeps its own fields there


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_and_fixture_passes_the_crd_schema(crd: dict[str, Any], path: Path) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        assert kschema.validate_custom_resource(doc, crd) == []


def test_the_crd_accepts_what_the_models_accept(crd: dict[str, Any]) -> None:
    text = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata: {name: t, namespace: ns, labels: {a: b}}
spec:
  defaults: {image: null, backoffLimit: null, env: {A: 1, B: true, C: 0.5, D: x}, resources: {limits: {cpu: 1}}}
  jobs:
    - {name: a, schedule: "H * * * *", command: [echo, hi], placement: {tolerations: [{key: k, tolerationSeconds: 9}]}}
    - {name: b, schedules: ["@daily"], command: "echo", timeZone: null, onFailure: {recovery: {command: [x]}}}
status:
  jobCount: 2
  jobs: {a: {lastFailure: {time: "2026-11-27T01:02:03Z", reason: OOMKilled}, active: 1}}
  kopf: {progress: {}}
"""
    (doc,) = parse_documents(text, "t.yaml")
    load_manager(doc)  # the models accept it
    assert kschema.validate_custom_resource(doc.data, crd) == []


BASE = {
    "apiVersion": "sengu.dev/v1alpha1",
    "kind": "CronjobManager",
    "metadata": {"name": "t"},
    "spec": {"jobs": [{"name": "a", "schedule": "* * * * *", "command": "x"}]},
}


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["spec"]["jobs"][0].update(nme="x"), "spec.jobs[0]", "'nme' was unexpected"),
        (lambda d: d["spec"]["jobs"][0].update(priority="urgent"), "spec.jobs[0].priority", "is not one of"),
        (lambda d: d["spec"]["jobs"][0].update(name="Bad_Name"), "spec.jobs[0].name", "does not match"),
        (lambda d: d["spec"]["jobs"][0].update(name="x" * 53), "spec.jobs[0].name", "is too long"),
        (lambda d: d["spec"]["jobs"][0].pop("command"), "spec.jobs[0]", "'command' is a required property"),
        (lambda d: d["spec"].update(jobs=[]), "spec.jobs", "should be non-empty"),
        (lambda d: d["spec"].pop("jobs"), "spec", "'jobs' is a required property"),
        (lambda d: d["spec"].update(defaults={"backoffLimit": 101}), "spec.defaults.backoffLimit", "maximum"),
        (lambda d: d["spec"].update(defaults={"backoffLimit": -1}), "spec.defaults.backoffLimit", "minimum"),
        (lambda d: d["spec"]["jobs"][0].update(suspend="yes"), "spec.jobs[0].suspend", "is not of type 'boolean'"),
        (lambda d: d["spec"].update(migration={"stage": "all"}), "spec.migration.stage", "is not one of"),
        (lambda d: d.update(extra=1), "", "'extra' was unexpected"),
        (lambda d: d.update(status={"jobs": {"a": {"active": -1}}}), "status.jobs.a.active", "minimum"),
        # as on the API server: null is refused for a field with an enum, even a nullable one
        (lambda d: d["spec"].update(defaults={"concurrencyPolicy": None}), "spec.defaults.concurrencyPolicy", "None"),
    ],
)
def test_invalid_documents_fail_the_crd_schema(crd: dict[str, Any], change: Any, path: str, message: str) -> None:
    doc = copy.deepcopy(BASE)
    assert kschema.validate_custom_resource(doc, crd) == []
    change(doc)
    errors = kschema.validate_custom_resource(doc, crd)
    assert any(e.path == path and message in e.message for e in errors), errors


def test_custom_resource_of_another_kind_or_version(crd: dict[str, Any]) -> None:
    assert "not this definition's kind" in str(kschema.validate_custom_resource({**BASE, "kind": "Other"}, crd))
    other = {**BASE, "apiVersion": "sengu.dev/v2"}
    assert "is not a version with a schema" in str(kschema.validate_custom_resource(other, crd))


def test_openapi_to_jsonschema_reads_nullable_and_extensions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"k": {}}},
        },
    }
    js = kschema.openapi_to_jsonschema(schema, root=True)
    assert js["properties"]["a"]["type"] == ["string", "null"]
    assert js["additionalProperties"] is False
    assert "additionalProperties" not in js["properties"]["free"]
    assert kschema.openapi_to_jsonschema(schema, strict=False, root=True).get("additionalProperties") is None


def test_sengu_crd_prints_them(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "sengu", "crd"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    (doc,) = list(yaml.safe_load_all(out.stdout))
    assert doc == definition(RESOURCE)
    out = subprocess.run(
        [sys.executable, "-m", "sengu", "crd", "-o", "json", "--kind", "CronjobManager"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert json.loads(out.stdout) == {"apiVersion": "v1", "kind": "List", "items": [definition(RESOURCE)]}
    bad = subprocess.run(
        [sys.executable, "-m", "sengu", "crd", "--kind", "Nope"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert bad.returncode == 2 and "unknown kind(s) 'Nope'" in bad.stderr and bad.stdout == ""
