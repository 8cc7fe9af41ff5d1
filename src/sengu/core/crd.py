"""A pydantic resource model -> its CustomResourceDefinition, with a structural openAPIV3Schema.

The models are the single source of a kind's fields; this turns their JSON schema into what the API server
accepts. Kubernetes requires a *structural* schema (apiextensions.k8s.io/v1): every node typed, no $ref,
no type inside anyOf/oneOf (except the int-or-string pattern), properties and additionalProperties never
together, metadata unconstrained. So: $refs are inlined, `X | None` becomes `nullable: true`, `dict[str, X]`
becomes additionalProperties, a union of several types that Kubernetes cannot type becomes
x-kubernetes-preserve-unknown-fields (the operator's own validation, the same models, still checks it),
titles and defaults are dropped (defaults stay the models' business: the API server would otherwise write
them into users' objects). `structural_problems` checks the result against Kubernetes' rules, and
`definition` refuses to return a schema that breaks one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

CRD_API_VERSION = "apiextensions.k8s.io/v1"

# Formats the API server knows; anything else (pydantic's "uri", "duration"...) is dropped rather than
# half-meaning something else (Kubernetes' duration is Go's "1h", not ISO 8601's "PT1H").
_FORMATS = frozenset({"date-time", "date", "byte", "int32", "int64", "float", "double", "password", "uuid"})
_KEEP = (
    "description",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
)
_SCALARS = frozenset({"string", "integer", "number", "boolean"})


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`."""

    name: str
    type: Literal["integer", "number", "string", "boolean", "date"]
    json_path: str
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class CustomResource:
    """What a capability declares for each of its kinds: the model and how Kubernetes names it."""

    model: type[BaseModel]
    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    scope: Literal["Namespaced", "Cluster"] = "Namespaced"
    printer_columns: tuple[PrinterColumn, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


def definition(resource: CustomResource) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind. Raises ValueError if the schema is not structural (a bug)."""
    schema = openapi_schema(resource.model)
    problems = structural_problems(schema)
    if problems:
        raise ValueError(f"{resource.kind}: the generated schema is not structural: " + "; ".join(problems))
    version: dict[str, Any] = {
        "name": resource.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if "status" in schema.get("properties", {}):
        version["subresources"] = {"status": {}}
    if resource.printer_columns:
        version["additionalPrinterColumns"] = [_column(c) for c in resource.printer_columns]
    names: dict[str, Any] = {
        "kind": resource.kind,
        "listKind": f"{resource.kind}List",
        "plural": resource.plural,
        "singular": resource.kind.lower(),
    }
    if resource.short_names:
        names["shortNames"] = list(resource.short_names)
    if resource.categories:
        names["categories"] = list(resource.categories)
    return {
        "apiVersion": CRD_API_VERSION,
        "kind": "CustomResourceDefinition",
        "metadata": {"name": resource.name},
        "spec": {"group": resource.group, "names": names, "scope": resource.scope, "versions": [version]},
    }


def _column(c: PrinterColumn) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "type": c.type, "jsonPath": c.json_path}
    if c.description:
        out["description"] = c.description
    if c.priority:
        out["priority"] = c.priority
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural openAPIV3Schema of a resource model (apiVersion, kind, metadata, spec[, status])."""
    source = model.model_json_schema(by_alias=True, mode="validation")
    defs: Mapping[str, Any] = source.get("$defs", {})
    props: dict[str, Any] = {}
    for name, node in source.get("properties", {}).items():
        if name in ("apiVersion", "kind"):
            props[name] = {"type": "string"}
        elif name == "metadata":
            # The API server owns metadata's schema; a CRD may only restrict name and generateName.
            props[name] = {"type": "object"}
        else:
            props[name] = structural(node, defs)
    out: dict[str, Any] = {"type": "object"}
    if source.get("description"):
        out["description"] = source["description"]
    out["properties"] = props
    required = [r for r in source.get("required", []) if r not in ("apiVersion", "kind", "metadata")]
    if required:
        out["required"] = required
    return out


def structural(node: Mapping[str, Any], defs: Mapping[str, Any], within: tuple[str, ...] = ()) -> dict[str, Any]:
    """One JSON-schema node (pydantic's dialect, $refs into `defs`) as a structural OpenAPI v3 node.

    `within` is the chain of $refs being inlined: a model that contains itself cannot be inlined.
    """
    note = node.get("description")
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        if name in within:
            raise ValueError(f"{name} contains itself: a CRD schema cannot express recursive models")
        out = structural(defs[name], defs, (*within, name))
        return _described(out, note)
    for junctor in ("allOf", "anyOf", "oneOf"):
        if junctor in node:
            if junctor == "allOf" and len(node[junctor]) != 1:
                raise ValueError("allOf with several schemas cannot be made structural")
            return _described(_union(node[junctor], defs, within), note)
    kind = node.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        rest = [t for t in kind if t != "null"]
        if len(rest) == 1:
            out = structural({**node, "type": rest[0]}, defs, within)
        else:
            out = _union([{**node, "type": t} for t in rest], defs, within)
        if nullable:
            _make_nullable(out)
        return out
    out = {}
    if kind is None and "const" in node:
        kind = _json_type(node["const"])
    if kind == "object":
        out["type"] = "object"
        props = node.get("properties")
        extra = node.get("additionalProperties")
        if props:
            out["properties"] = {k: structural(v, defs, within) for k, v in props.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
            if isinstance(extra, Mapping) or extra is True:
                # Typed extras next to properties cannot be said structurally: keep what comes.
                out["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(extra, Mapping) and extra:
            out["additionalProperties"] = structural(extra, defs, within)
        elif extra is not False:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["type"] = "array"
        items = node.get("items")
        out["items"] = structural(items, defs, within) if isinstance(items, Mapping) and items else _any()
    elif kind in _SCALARS:
        out["type"] = kind
    elif kind is None:
        out = _any()
    else:
        raise ValueError(f"cannot express type {kind!r} in a CRD schema")
    for key in _KEEP:
        if key in node:
            # a copy: the same $defs entry inlined twice must not share lists (YAML would print anchors)
            out[key] = copy.deepcopy(node[key])
    if "const" in node:
        out["enum"] = [node["const"]]
    if node.get("format") in _FORMATS:
        out["format"] = node["format"]
    # JSON Schema 2020-12's numeric exclusive bounds are OpenAPI 3.0's boolean flags on minimum/maximum.
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            out[flag] = node[bound]
            out[bound] = True
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = copy.deepcopy(value)
    return _described(out, note)


def _union(branches: list[Mapping[str, Any]], defs: Mapping[str, Any], within: tuple[str, ...]) -> dict[str, Any]:
    nullable = any(b.get("type") == "null" and len(b) == 1 for b in branches)
    rest = [b for b in branches if not (b.get("type") == "null" and len(b) == 1)]
    if len(rest) == 1:
        out = structural(rest[0], defs, within)
    else:
        converted = [structural(b, defs, within) for b in rest]
        kinds = {c.get("type") for c in converted}
        if kinds == {"integer", "string"} and all(set(c) == {"type"} for c in converted):
            out = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
        else:
            # e.g. str | list[str], or str | int | float | bool: structural schemas have no such type.
            out = _any()
    if nullable:
        _make_nullable(out)
    return out


def _make_nullable(out: dict[str, Any]) -> None:
    # Not null in an enum: kube-openapi checks enum even for null and skips null entries, so a null enum
    # field is refused whatever the schema says; listing null would only risk the CRD itself.
    out["nullable"] = True


def _described(out: dict[str, Any], note: str | None) -> dict[str, Any]:
    if note:
        # description first reads better in `kubectl explain` and in review
        return {"description": note, **{k: v for k, v in out.items() if k != "description"}}
    return out


def _any() -> dict[str, Any]:
    return {"x-kubernetes-preserve-unknown-fields": True}


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}")
    return ref[len(prefix) :]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise ValueError(f"unsupported constant {value!r}")


# --- Kubernetes' structural-schema rules ------------------------------------------------------------------
# From apiextensions-apiserver's schema validation (ValidateStructural and the CRD OpenAPI checks), as far as
# they can be checked without the server. The official CRD JSON schema catches unknown keywords.
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_NOT_IN_JUNCTORS = (
    "type",
    "additionalProperties",
    "default",
    "title",
    "description",
    "nullable",
    "externalDocs",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
)
_UNSUPPORTED = ("$ref", "id", "$id", "additionalItems", "patternProperties", "definitions", "$defs", "dependencies")
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})


def structural_problems(schema: Mapping[str, Any]) -> list[str]:
    """Every way `schema` (an openAPIV3Schema) breaks Kubernetes' structural-schema rules, as 'path: problem'."""
    problems: list[str] = []
    _check(schema, "", "root", problems)
    return problems


def _check(node: Mapping[str, Any], path: str, level: str, problems: list[str]) -> None:
    here = path or "(root)"
    if not isinstance(node, Mapping):
        problems.append(f"{here}: a schema must be an object")
        return
    for key in _UNSUPPORTED:
        if key in node:
            problems.append(f"{here}: {key} is not supported")
    kind = node.get("type")
    int_or_string = bool(node.get("x-kubernetes-int-or-string"))
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if kind is not None and kind not in _TYPES:
        problems.append(f"{here}: type {kind!r} is not one of {sorted(_TYPES)} (use nullable for null)")
    if kind is None and not int_or_string and preserve is not True:
        where = {"root": "at the root", "item": "for array items", "field": "for object fields"}[level]
        problems.append(f"{here}: type must not be empty {where}")
    if level == "root" and kind not in (None, "object"):
        problems.append(f"{here}: type must be object at the root")
    if preserve is False:
        problems.append(f"{here}: x-kubernetes-preserve-unknown-fields must be true or undefined")
    if int_or_string and preserve:
        problems.append(f"{here}: x-kubernetes-preserve-unknown-fields must be false with x-kubernetes-int-or-string")
    if node.get("uniqueItems") is True:
        problems.append(f"{here}: uniqueItems cannot be true (quadratic to check)")
    if kind == "array" and "items" not in node:
        problems.append(f"{here}: items must be specified for an array")
    items = node.get("items")
    if isinstance(items, list):
        problems.append(f"{here}: items must be a schema, not a list")
    elif items is not None:
        _check(items, f"{path}.items", "item", problems)
    props = node.get("properties") or {}
    extra = node.get("additionalProperties")
    if extra is not None:
        if isinstance(extra, bool):
            problems.append(
                f"{here}: additionalProperties must be a schema (false is forbidden; true: use "
                "x-kubernetes-preserve-unknown-fields)"
            )
        else:
            _check(extra, f"{path}.additionalProperties", "field", problems)
        if props:
            problems.append(f"{here}: additionalProperties and properties are mutually exclusive")
        if level == "root":
            problems.append(f"{here}: additionalProperties must not be used at the root")
    for name, sub in props.items():
        if level == "root" and name in ("apiVersion", "kind") and sub.get("type") != "string":
            problems.append(f"{path}.properties.{name}: type must be string")
        if level == "root" and name == "metadata":
            _check_metadata(sub, f"{path}.properties.metadata", problems)
            continue
        _check(sub, f"{path}.properties.{name}", "field", problems)
    int_or_string_pattern = node.get("anyOf") == [{"type": "integer"}, {"type": "string"}]
    for junctor in _JUNCTORS:
        if junctor not in node:
            continue
        subs = [node[junctor]] if junctor == "not" else list(node[junctor])
        if junctor == "anyOf" and int_or_string_pattern:
            continue
        for i, sub in enumerate(subs):
            _check_nested(sub, node, f"{path}.{junctor}[{i}]", problems)


def _check_metadata(node: Mapping[str, Any], path: str, problems: list[str]) -> None:
    extra = {k for k in node if k not in ("type", "properties")}
    props = set(node.get("properties") or {})
    if node.get("type") != "object":
        problems.append(f"{path}: type must be object")
    if extra or props - {"name", "generateName"}:
        problems.append(f"{path}: must not specify anything other than name and generateName")


def _check_nested(sub: Mapping[str, Any], outer: Mapping[str, Any], path: str, problems: list[str]) -> None:
    """Inside allOf/anyOf/oneOf/not: value validations only, on fields the outer schema specifies."""
    for key in _NOT_IN_JUNCTORS:
        if key in sub:
            problems.append(f"{path}: {key} must not be used inside a logical junctor")
    outer_props = outer.get("properties") or {}
    for name, fld in (sub.get("properties") or {}).items():
        if name == "metadata":
            problems.append(f"{path}.properties.metadata: must not be specified in a nested context")
        if name not in outer_props:
            problems.append(f"{path}.properties.{name}: must be specified outside the junctor too")
        else:
            _check_nested(fld, outer_props[name], f"{path}.properties.{name}", problems)
    if "items" in sub:
        if "items" not in outer:
            problems.append(f"{path}.items: must be specified outside the junctor too")
        elif isinstance(sub["items"], Mapping):
            _check_nested(sub["items"], outer["items"], f"{path}.items", problems)
    for junctor in _JUNCTORS:
        if junctor in sub:
            nested = [sub[junctor]] if junctor == "not" else list(sub[junctor])
            for i, n in enumerate(nested):
                _check_nested(n, outer, f"{path}.{junctor}[{i}]", problems)
