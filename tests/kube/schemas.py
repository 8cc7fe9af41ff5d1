"""Schema checks the emulator runs on every write: the official strict JSON schemas for built-in kinds
(bundled by kubernetes-validate), a CRD's openAPIV3Schema for custom resources, and the structural-schema
rules a CRD must follow. Each check returns every problem at once as `Cause`s, the shape the API server
lists in the `details.causes` of a 422 Status.

Custom resources are checked strictly: a field the CRD does not declare is an error (a real server
prunes it silently by default, or refuses it with `fieldValidation=Strict`, as kubectl does).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

DEFAULT_K8S_VERSION = "1.32"


@dataclass(frozen=True)
class Cause:
    """One entry of a Status's `details.causes`."""

    reason: str  # FieldValueInvalid, FieldValueRequired, FieldValueNotSupported, FieldValueTypeInvalid…
    message: str
    field: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _field(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _causes(errors: Iterable[jsonschema.ValidationError]) -> list[Cause]:
    causes: list[Cause] = []
    for error in sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = set((error.schema.get("properties") or {}) if isinstance(error.schema, Mapping) else {})
            for key in sorted(set(error.instance) - allowed):
                causes.append(
                    Cause("FieldValueInvalid", f'unknown field "{_field([*path, key])}"', _field([*path, key]))
                )
        elif error.validator == "required":
            missing = re.match(r"'([^']+)' is a required property", error.message)
            name = missing.group(1) if missing else "?"
            causes.append(Cause("FieldValueRequired", "Required value", _field([*path, name])))
        elif error.validator == "enum":
            supported = ", ".join(json.dumps(v) for v in error.validator_value if v is not None)
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    f"Unsupported value: {json.dumps(error.instance)}: supported values: {supported}",
                    _field(path),
                )
            )
        elif error.validator == "type":
            causes.append(
                Cause(
                    "FieldValueTypeInvalid",
                    f"Invalid value: {json.dumps(error.instance)[:80]}: must be of type {error.validator_value}",
                    _field(path),
                )
            )
        else:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(error.instance)[:80]}: {error.message}",
                    _field(path),
                )
            )
    return causes


# ---- built-in kinds --------------------------------------------------------------------------------


def _schema_root() -> Path:
    return Path(str(resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")))


def schema_file_stem(api_version: str, kind: str) -> str:
    """kubernetes-validate's file naming: `batch/v1` CronJob -> `cronjob-batch-v1`, `v1` Pod -> `pod-v1`."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}"


@functools.cache
def _registry(version: str) -> tuple[Path, Registry]:
    directory = _schema_root() / f"v{version}.0-local-strict"
    if not directory.is_dir():
        raise ValueError(f"kubernetes-validate has no strict schemas for Kubernetes {version}")
    definitions = json.loads((directory / "_definitions.json").read_text())
    return directory, Resource.from_contents(definitions) @ Registry()


@functools.cache
def _builtin_validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    directory, registry = _registry(version)
    path = directory / f"{schema_file_stem(api_version, kind)}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=Resource.from_contents(schema) @ registry)


def has_builtin_schema(obj_api_version: str, kind: str, version: str = DEFAULT_K8S_VERSION) -> bool:
    return _builtin_validator(version, obj_api_version, kind) is not None


def validate_builtin(obj: Mapping[str, Any], version: str = DEFAULT_K8S_VERSION) -> list[Cause]:
    validator = _builtin_validator(version, str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        raise LookupError(f"no official schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes {version}")
    return _causes(validator.iter_errors(obj))


# ---- custom resources ------------------------------------------------------------------------------

_DROPPED = {"description", "example", "externalDocs", "format", "default", "nullable", "title"}


def _to_jsonschema(node: Mapping[str, Any], *, in_junctor: bool = False) -> dict[str, Any]:
    """Turn a CRD schema node into plain JSON Schema (draft 4) with the Kubernetes extensions honoured."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _to_jsonschema(sub, in_junctor=in_junctor) for name, sub in value.items()}
        elif key in ("items", "not") and isinstance(value, Mapping):
            out[key] = _to_jsonschema(value, in_junctor=in_junctor or key == "not")
        elif key == "additionalProperties" and isinstance(value, Mapping):
            out[key] = _to_jsonschema(value, in_junctor=in_junctor)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_to_jsonschema(sub, in_junctor=True) for sub in value]
        elif key.startswith("x-kubernetes-") or key in _DROPPED:
            continue
        else:
            out[key] = value
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = node.get("x-kubernetes-embedded-resource") is True
    if embedded:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        out["required"] = sorted({*out.get("required", []), "apiVersion", "kind"})
    if node.get("type") == "object" and not in_junctor and not preserve and "additionalProperties" not in node:
        out["additionalProperties"] = False  # strict: undeclared fields are errors
        out.setdefault("properties", {})
    if node.get("x-kubernetes-int-or-string") is True:
        out.pop("type", None)
        out.setdefault("allOf", []).append({"anyOf": [{"type": "integer"}, {"type": "string"}]})
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


CustomValidator = Callable[[Mapping[str, Any]], list[Cause]]


def custom_resource_validator(open_api_v3_schema: Mapping[str, Any]) -> CustomValidator:
    """A validator for objects of one CRD version; apiVersion, kind and metadata are the server's."""
    schema = _to_jsonschema(open_api_v3_schema)
    properties = dict(schema.get("properties", {}))
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    properties["metadata"] = {"type": "object"}
    schema["properties"] = properties
    validator = jsonschema.Draft4Validator(schema)

    def validate(obj: Mapping[str, Any]) -> list[Cause]:
        return _causes(validator.iter_errors(obj))

    return validate


def apply_defaults(schema: Mapping[str, Any], value: Any) -> None:
    """Fill in the `default`s of a structural schema, in place, as the API server does for custom resources."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name, sub in properties.items():
            if name not in value and isinstance(sub, Mapping) and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value and isinstance(sub, Mapping):
                apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name, item in value.items():
                if name not in properties:
                    apply_defaults(extra, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            apply_defaults(schema["items"], item)


# ---- structural schema rules of CRDs ---------------------------------------------------------------

_FORBIDDEN = (
    "$ref",
    "definitions",
    "dependencies",
    "id",
    "$schema",
    "patternProperties",
    "additionalItems",
    "readOnly",
    "writeOnly",
    "discriminator",
    "xml",
)
_NOT_IN_JUNCTORS = ("description", "type", "default", "additionalProperties", "nullable")


def structural_problems(schema: Any, field: str) -> list[Cause]:
    """The rules of a structural schema that apiextensions-apiserver enforces on CRD v1."""
    problems: list[Cause] = []
    if not isinstance(schema, Mapping):
        return [Cause("FieldValueRequired", "Required value: a schema is required", field)]
    if schema.get("type") != "object":
        problems.append(Cause("FieldValueInvalid", 'Invalid value: must be "object" at the root', f"{field}.type"))
    _structural(schema, field, problems, in_junctor=False)
    return problems


def _int_or_string_pattern(node: Mapping[str, Any]) -> bool:
    """x-kubernetes-int-or-string with exactly anyOf [{type: integer}, {type: string}]: the one typed junctor
    Kubernetes allows in a structural schema."""
    branches = node.get("anyOf")
    return (
        node.get("x-kubernetes-int-or-string") is True
        and isinstance(branches, list)
        and len(branches) == 2
        and sorted(str(b.get("type")) for b in branches if isinstance(b, Mapping) and set(b) == {"type"})
        == ["integer", "string"]
    )


def _structural(node: Mapping[str, Any], field: str, problems: list[Cause], *, in_junctor: bool) -> None:
    for key in _FORBIDDEN:
        if key in node:
            problems.append(Cause("FieldValueForbidden", "Forbidden: must not be used", f"{field}.{key}"))
    if node.get("uniqueItems") is True:
        problems.append(
            Cause("FieldValueForbidden", "Forbidden: uniqueItems cannot be set to true", f"{field}.uniqueItems")
        )
    if node.get("additionalProperties") is False:
        problems.append(
            Cause(
                "FieldValueForbidden",
                "Forbidden: additionalProperties cannot be set to false",
                f"{field}.additionalProperties",
            )
        )
    if "properties" in node and "additionalProperties" in node:
        problems.append(
            Cause(
                "FieldValueForbidden",
                "Forbidden: additionalProperties and properties are mutual exclusive",
                f"{field}.additionalProperties",
            )
        )
    if in_junctor:
        for key in _NOT_IN_JUNCTORS:
            if key in node and not node.get("x-kubernetes-int-or-string"):
                problems.append(
                    Cause("FieldValueForbidden", "Forbidden: must be empty to be structural", f"{field}.{key}")
                )
    children: list[tuple[str, Any]] = []
    for name, sub in (node.get("properties") or {}).items():
        children.append((f"{field}.properties[{name}]", sub))
    if isinstance(node.get("items"), Mapping):
        children.append((f"{field}.items", node["items"]))
    if isinstance(node.get("additionalProperties"), Mapping):
        children.append((f"{field}.additionalProperties", node["additionalProperties"]))
    for child_field, child in children:
        if not isinstance(child, Mapping):
            problems.append(Cause("FieldValueInvalid", "Invalid value: must be a schema object", child_field))
            continue
        untyped_ok = (
            child.get("x-kubernetes-int-or-string") is True or child.get("x-kubernetes-preserve-unknown-fields") is True
        )
        if not in_junctor and not child.get("type") and not untyped_ok:
            problems.append(
                Cause(
                    "FieldValueRequired",
                    "Required value: must not be empty for specified fields",
                    f"{child_field}.type",
                )
            )
        _structural(child, child_field, problems, in_junctor=in_junctor)
    for junctor in ("allOf", "anyOf", "oneOf"):
        if junctor == "anyOf" and _int_or_string_pattern(node):
            continue  # allowed as is (apiextensions-apiserver: isIntOrStringAnyOfPattern)
        for index, sub in enumerate(node.get(junctor) or []):
            if isinstance(sub, Mapping):
                _structural(sub, f"{field}.{junctor}[{index}]", problems, in_junctor=True)
    if isinstance(node.get("not"), Mapping):
        _structural(node["not"], f"{field}.not", problems, in_junctor=True)
