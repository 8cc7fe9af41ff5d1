"""Validation against the official Kubernetes schemas: strict, every error with its path, and the compiled
validators agreeing error for error with jsonschema (the reference) on valid and broken objects."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sengu.core import kschema
from sengu.core.errors import UserError
from sengu.core.kschema import SchemaError

CRON_JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "shop-report", "namespace": "batch", "labels": {"app.kubernetes.io/name": "report"}},
    "spec": {
        "schedule": "30 2 * * *",
        "timeZone": "Asia/Tokyo",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 300,
        "suspend": False,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 2,
                "podFailurePolicy": {
                    "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
                },
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": {"kubernetes.io/arch": "arm64"},
                        "tolerations": [{"key": "spot", "operator": "Exists", "tolerationSeconds": 30}],
                        "containers": [
                            {
                                "name": "main",
                                "image": "app:1",
                                "command": ["/bin/sh", "-c", "report"],
                                "env": [
                                    {"name": "A", "value": "1"},
                                    {"name": "RUN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                ],
                                "resources": {"requests": {"cpu": "250m", "memory": 268435456}},
                            }
                        ],
                    }
                },
            }
        },
    },
}
CONTAINER = ("spec", "jobTemplate", "spec", "template", "spec", "containers", 0)


def at(obj: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    for part in path:
        obj = obj[part]  # type: ignore[index]
    return obj


def errors(obj: dict[str, Any], **kw: Any) -> list[str]:
    return sorted(str(e) for e in kschema.validate(obj, **kw))


def both(obj: dict[str, Any], version: str = kschema.DEFAULT_VERSION) -> tuple[list[str], list[str]]:
    ours = sorted(str(e) for e in kschema.validate(obj, version, engine="compiled"))
    reference = sorted(str(e) for e in kschema.validate(obj, version, engine="jsonschema"))
    return ours, reference


def test_versions_are_the_bundled_ones() -> None:
    versions = kschema.bundled_versions()
    assert kschema.DEFAULT_VERSION in versions and "1.25" in versions
    assert kschema.resolve_version("v1.32") == kschema.resolve_version("1.32.7") == "1.32"
    with pytest.raises(UserError, match=r"available: 1\.25 to"):
        kschema.resolve_version("1.10")
    with pytest.raises(UserError, match=r"MAJOR\.MINOR"):
        kschema.resolve_version("latest")


def test_a_valid_object_has_no_error_in_every_bundled_version() -> None:
    for version in kschema.bundled_versions():
        assert kschema.validate(CRON_JOB, version) == [], version


def test_every_error_is_reported_with_its_path() -> None:
    obj = copy.deepcopy(CRON_JOB)
    container = at(obj, CONTAINER)
    container["imagePullPolice"] = "Always"  # misspelt: strict schemas know every field
    container["env"][0]["value"] = 1  # env values are strings
    del container["name"]
    obj["spec"]["concurrencyPolicy"] = None  # nullable: fine
    obj["spec"]["suspend"] = "no"
    obj["kind"] = "Cronjob"
    assert errors(obj) == sorted(
        [
            "kind: 'Cronjob' is not one of ['CronJob']",
            "spec.suspend: 'no' is not of type 'boolean', 'null'",
            "spec.jobTemplate.spec.template.spec.containers[0]: Additional properties are not allowed "
            "('imagePullPolice' was unexpected)",
            "spec.jobTemplate.spec.template.spec.containers[0]: 'name' is a required property",
            "spec.jobTemplate.spec.template.spec.containers[0].env[0].value: 1 is not of type 'string', 'null'",
        ]
    )


def test_strict_is_what_makes_unknown_fields_errors() -> None:
    obj = copy.deepcopy(CRON_JOB)
    obj["spec"]["schedul"] = "* * * * *"
    assert errors(obj) == ["spec: Additional properties are not allowed ('schedul' was unexpected)"]
    assert errors(obj, strict=False) == []


def test_quantities_and_int_or_string_use_one_of() -> None:
    obj = copy.deepcopy(CRON_JOB)
    requests = at(obj, (*CONTAINER, "resources", "requests"))
    requests["cpu"] = 0.5  # a number is a valid quantity
    assert errors(obj) == []
    requests["cpu"] = None  # null matches both branches of the official oneOf: jsonschema says so too
    requests["memory"] = ["1Gi"]
    ours, reference = both(obj)
    assert ours == reference
    assert [e.split(":")[0] for e in ours] == [
        "spec.jobTemplate.spec.template.spec.containers[0].resources.requests.cpu",
        "spec.jobTemplate.spec.template.spec.containers[0].resources.requests.memory",
    ]


def test_a_kind_without_schema_is_an_error_not_a_pass() -> None:
    cr = {"apiVersion": "sengu.dev/v1alpha1", "kind": "CronjobManager", "metadata": {"name": "x"}, "spec": {}}
    assert errors(cr) == ["(object): no schema for CronjobManager (sengu.dev/v1alpha1) in Kubernetes 1.32"]
    assert errors({"kind": "Pod"}) == ["(object): apiVersion and kind are required strings"]


def test_json_paths_quote_keys_that_are_not_identifiers() -> None:
    assert kschema.json_path(["metadata", "labels", "app.kubernetes.io/name"]) == (
        "metadata.labels['app.kubernetes.io/name']"
    )
    assert kschema.json_path(["spec", "containers", 0, "env", 2]) == "spec.containers[0].env[2]"
    assert kschema.json_path([]) == ""
    assert str(SchemaError("", "bad")) == "(object): bad"


def test_validators_are_compiled_once_per_kind_and_version() -> None:
    kschema.validate(CRON_JOB)
    before = kschema._validator.cache_info()
    for _ in range(3):
        kschema.validate(CRON_JOB)
    after = kschema._validator.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3


def test_unknown_keywords_fall_back_to_the_reference_implementation() -> None:
    compiler = kschema._Compiler({"$defs": {}})
    with pytest.raises(kschema._Unsupported, match="minimum"):
        compiler.compile({"type": "integer", "minimum": 1})
    with pytest.raises(kschema._Unsupported, match=r"\$ref"):
        compiler.compile({"$ref": "#/$defs/Nowhere"})


# --- the compiled validators against jsonschema, on many broken objects -----------------------------------
OBJECTS: list[dict[str, Any]] = [
    CRON_JOB,
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"a": "b"}},
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {"spec": {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"port": "http"}}}]}},
        },
    },
    {  # recursive schema (JSONSchemaProps)
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                        }
                    },
                }
            ],
        },
    },
]

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-2, 2, allow_nan=False)
    | st.sampled_from([0.0, 1.0, 2.5, "", "x", "Never", "CronJob", "TCP", "25%"]),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["name", "x", "spec"]), inner, max_size=2)
    ),
    max_leaves=4,
)


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(paths(v, (*prefix, i)))
    return out


@st.composite
def broken(draw: st.DrawFn) -> dict[str, Any]:
    """A valid object with one to three random changes: a value replaced, a key removed or added."""
    obj = copy.deepcopy(draw(st.sampled_from(OBJECTS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in paths(obj) if p]))
        parent = at(obj, path[:-1])
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "nme", "image", "status"]))] = draw(JSON_VALUES)
    return obj


EDGE_VALUES = [1.0, 2.5, -1, 0, True, False, None, "1", "", [], {}, ["a"], {"a": 1}]
TYPED_FIELDS: list[tuple[int, tuple[str | int, ...]]] = [
    (0, ("spec", "startingDeadlineSeconds")),  # integer or null
    (0, ("spec", "suspend")),  # boolean or null
    (0, ("spec", "schedule")),  # string
    (0, ("spec", "jobTemplate", "spec", "template", "spec", "tolerations", 0, "tolerationSeconds")),
    (0, (*CONTAINER, "resources", "requests", "cpu")),  # quantity: oneOf string, number
    (0, ("spec", "jobTemplate", "spec", "template", "spec", "nodeSelector")),  # map of strings
    (0, ("metadata", "labels", "app.kubernetes.io/name")),
    (0, (*CONTAINER, "command")),  # array of strings
    (0, (*CONTAINER, "command", 0)),  # an item of it
    (0, (*CONTAINER, "name")),  # a plain string property
    (2, ("spec", "strategy", "rollingUpdate", "maxUnavailable")),  # IntOrString: oneOf string, integer
    (3, ("spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties")),  # recursive
]


@pytest.mark.parametrize(("index", "path"), TYPED_FIELDS)
def test_type_edge_cases_agree_with_jsonschema(index: int, path: tuple[str | int, ...]) -> None:
    for value in EDGE_VALUES:
        obj = copy.deepcopy(OBJECTS[index])
        at(obj, path[:-1])[path[-1]] = value
        ours, reference = both(obj)
        assert ours == reference, (path, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken())
def test_compiled_validators_agree_with_jsonschema(obj: dict[str, Any]) -> None:
    ours, reference = both(obj)
    assert ours == reference, json.dumps(obj)[:2000]


def test_the_broken_objects_do_break() -> None:
    # The property above would pass trivially if every mutation left the objects valid.
    found = []

    @settings(max_examples=100, deadline=None, database=None)
    @given(broken())
    def collect(obj: dict[str, Any]) -> None:
        found.append(bool(kschema.validate(obj)))

    collect()
    assert sum(found) > len(found) // 3
