"""Validate Kubernetes objects against the official JSON schemas, strictly, reporting every error with its path.

The schemas are the ones kubernetes-validate bundles (one directory per Kubernetes minor version, normal and
strict: strict has `additionalProperties: false` everywhere, so a misspelt field is an error, as with
`kubectl apply --validate=strict`). kubernetes-validate's own API re-reads the 1.3 MB definitions file on
every call (5–50 ms a manifest here) and stops at the first error; `jsonschema` over the same files reports
every error but takes ~0.8 ms per CronJob. Rendering 10,000 jobs has to fit in 2 s, so this module compiles the
schemas itself, once per version and kind, into plain Python closures (~20x faster than jsonschema, see
docs/benchmarks.md). That is safe because the official schemas use only seven keywords ($ref, type,
properties, additionalProperties, required, items, enum, plus two oneOf) — anything else makes the compiler
refuse, and the kind falls back to jsonschema. Tests check both engines agree, error for error.

Custom resources are not in those schemas: `validate_custom_resource` checks one against its CRD's
openAPIV3Schema (with jsonschema, converted from OpenAPI v3 the way the API server reads it).

Nothing here is imported by `sengu --help`; jsonschema is imported only where it is used.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sengu.core.errors import UserError

# The oldest Kubernetes minor we render for: an object valid against it (strictly) is valid on the newer
# ones too, since fields are added, not removed. `sengu batch render --k8s-version` picks another.
DEFAULT_VERSION = "1.32"

Engine = Literal["compiled", "jsonschema"]
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SchemaError:
    """One way an object fails its schema: where (a path into the object) and what."""

    path: str  # e.g. spec.jobTemplate.spec.template.spec.containers[0].image; "" is the object itself
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(object)'}: {self.message}"


def json_path(parts: Iterable[str | int]) -> str:
    """spec.containers[0].env, with map keys that are not identifiers quoted: labels['app.kubernetes.io/name']."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


# --- where the schemas are --------------------------------------------------------------------------------
def schema_root() -> Path:
    """The directory of kubernetes-validate's bundled schemas, found without importing the package."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "validating Kubernetes objects needs the kubernetes-validate package (its bundled official schemas): "
            "pip install kubernetes-validate"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


@functools.cache
def bundled_versions() -> tuple[str, ...]:
    """The Kubernetes minor versions whose schemas are bundled, oldest first: ('1.25', …, '1.37')."""
    found = set()
    for entry in schema_root().iterdir():
        m = re.match(r"^v(\d+)\.(\d+)\.\d+-local$", entry.name)
        if m:
            found.add((int(m.group(1)), int(m.group(2))))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


@functools.lru_cache(maxsize=64)
def resolve_version(version: str) -> str:
    """'1.32', 'v1.32' or '1.32.4' -> '1.32'; a UserError naming the bundled versions if it is not there."""
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.\d+)?$", version.strip())
    known = bundled_versions()
    if not m:
        raise UserError(f"Kubernetes version {version!r} is not MAJOR.MINOR (e.g. {DEFAULT_VERSION})")
    wanted = f"{int(m.group(1))}.{int(m.group(2))}"
    if wanted not in known:
        raise UserError(
            f"no bundled schemas for Kubernetes {wanted}; available: {known[0]} to {known[-1]} "
            "(a newer kubernetes-validate bundles newer versions)"
        )
    return wanted


def _schema_dir(version: str, strict: bool) -> Path:
    return schema_root() / f"v{version}.0-local{'-strict' if strict else ''}"


def _file_name(api_version: str, kind: str) -> str:
    # kubernetes-validate's naming: rbac.authorization.k8s.io/v1 -> rbac-v1; v1 stays v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


# --- the public API ---------------------------------------------------------------------------------------
def validate(
    obj: Mapping[str, Any], version: str = DEFAULT_VERSION, *, strict: bool = True, engine: Engine = "compiled"
) -> list[SchemaError]:
    """Every error of one object against the official schema of its kind; [] when valid.

    A kind without a bundled schema (a custom resource, a typo in kind or apiVersion) is an error, never a
    silent pass. engine="jsonschema" uses the reference implementation (slower; used to cross-check).
    """
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [SchemaError("", "apiVersion and kind are required strings")]
    minor = resolve_version(version)
    check = _validator(minor, strict, api_version, kind, engine)
    if check is None:
        return [SchemaError("", f"no schema for {kind} ({api_version}) in Kubernetes {minor}")]
    raw: list[_Raw] = []
    check(obj, (), raw)
    return [SchemaError(json_path(path), message) for path, message in raw]


def validate_all(
    objs: Iterable[Mapping[str, Any]], version: str = DEFAULT_VERSION, *, strict: bool = True
) -> list[tuple[int, SchemaError]]:
    """Every error of every object, as (index of the object, error)."""
    return [(i, e) for i, obj in enumerate(objs) for e in validate(obj, version, strict=strict)]


@functools.cache
def _validator(version: str, strict: bool, api_version: str, kind: str, engine: Engine) -> Check | None:
    path = _schema_dir(version, strict) / _file_name(api_version, kind)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    if engine == "compiled":
        try:
            return _Compiler(_definitions(version, strict)).compile(schema)
        except _Unsupported:
            pass  # a schema using more than the compiler knows: the reference implementation handles it
    return _reference(schema, version, strict)


@functools.cache
def _definitions(version: str, strict: bool) -> dict[str, Any]:
    defs: dict[str, Any] = json.loads((_schema_dir(version, strict) / "_definitions.json").read_text("utf-8"))
    return defs


def _reference(schema: dict[str, Any], version: str, strict: bool) -> Check:
    import jsonschema
    from referencing import Registry, Resource

    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in (schema, _definitions(version, strict))
    )
    validator = jsonschema.Draft202012Validator(schema, registry=registry)

    def check(value: Any, path: Path_, errors: list[_Raw]) -> None:
        for err in validator.iter_errors(value):
            errors.append(((*path, *err.absolute_path), err.message))

    return check


# --- the compiler -----------------------------------------------------------------------------------------
# A compiled node appends (path, message) pairs; SchemaErrors (and their path strings) are made only for
# what is reported, since oneOf discards the errors of the branches that do not match.
_Raw = tuple[Path_, str]
Check = Callable[[Any, Path_, list[_Raw]], None]


class _Unsupported(Exception):
    pass


# Keywords that never fail validation: documentation, formats (jsonschema ignores them too without a format
# checker) and Kubernetes' merge hints.
_ANNOTATIONS = frozenset({"description", "format", "$schema", "$id", "title", "discriminator", "default"})
_STRUCTURE = frozenset({"properties", "additionalProperties", "required"})
_EMPTY_OBJECT: dict[str, Any] = {}


def _is_integer(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
# Types one isinstance test decides; integer and number need the bool and 1.0 rules of _TYPE_TESTS.
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


class _Compiler:
    """Turns a schema node into a closure with jsonschema's semantics and messages, for the keywords the
    official schemas use. Anything else raises _Unsupported."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._defs: Mapping[str, Any] = definitions.get("$defs", {})
        self._compiled: dict[str, Check] = {}
        self._pending: set[str] = set()
        # Checks that only test a value's Python type, with that type and its label: an object walks these
        # itself, without a call and a path per value (most of an object's values are such leaves).
        self._leaves: dict[Check, tuple[tuple[type, ...], str]] = {}

    def compile(self, node: Mapping[str, Any]) -> Check:
        keys = [k for k in node if k not in _ANNOTATIONS and not k.startswith("x-kubernetes-")]
        unknown = [k for k in keys if k not in _KEYWORDS]
        if unknown:
            raise _Unsupported(", ".join(unknown))
        checks: list[Check] = [_KEYWORDS[k](self, node[k]) for k in keys if k not in _STRUCTURE and k != "type"]
        structure = self._object(node) if any(k in node for k in _STRUCTURE) else None
        if "type" in node:
            ok, label = self._type_test(node["type"])
            if structure is not None and not checks and ok(_EMPTY_OBJECT):
                # The usual object node: one isinstance decides between walking it and reporting its type.
                walk = structure

                def object_or_type(value: Any, path: Path_, errors: list[_Raw]) -> None:
                    if isinstance(value, dict):
                        walk(value, path, errors)
                    elif not ok(value):
                        errors.append((path, f"{value!r} is not of type {label}"))

                return object_or_type

            def typed(value: Any, path: Path_, errors: list[_Raw]) -> None:
                if not ok(value):
                    errors.append((path, f"{value!r} is not of type {label}"))

            names = [node["type"]] if isinstance(node["type"], str) else list(node["type"])
            if structure is None and not checks and all(t in _PY_TYPES for t in names):
                self._leaves[typed] = (tuple(c for t in names for c in _PY_TYPES[t]), label)
                return typed
            checks.insert(0, typed)
        if structure is not None:
            checks.append(structure)
        if not checks:
            return _nothing
        if len(checks) == 1:
            return checks[0]

        def all_of(value: Any, path: Path_, errors: list[_Raw]) -> None:
            for c in checks:
                c(value, path, errors)

        return all_of

    def ref(self, ref: str) -> Check:
        m = re.match(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$", ref)
        if not m or m.group(1) not in self._defs:
            raise _Unsupported(f"$ref {ref}")
        name = m.group(1)
        done = self._compiled.get(name)
        if done is not None:
            return done
        if name in self._pending:
            # A recursive schema (JSONSchemaProps) reaches itself: look it up when it runs.
            return lambda v, p, e: self._compiled[name](v, p, e)
        self._pending.add(name)
        self._compiled[name] = compiled = self.compile(self._defs[name])
        self._pending.discard(name)
        return compiled

    @staticmethod
    def _type_test(types: str | list[str]) -> tuple[Callable[[Any], bool], str]:
        names = [types] if isinstance(types, str) else list(types)
        if any(t not in _TYPE_TESTS for t in names):
            raise _Unsupported(f"type {types}")
        label = ", ".join(repr(t) for t in names)
        if all(t in _PY_TYPES for t in names):
            py = tuple(c for t in names for c in _PY_TYPES[t])
            return (lambda v: isinstance(v, py)), label
        if len(names) == 1:
            return _TYPE_TESTS[names[0]], label
        tests = [_TYPE_TESTS[t] for t in names]
        return (lambda v: any(t(v) for t in tests)), label

    def enum(self, values: list[Any]) -> Check:
        strings = frozenset(v for v in values if isinstance(v, str))
        others = [v for v in values if not isinstance(v, str)]

        def check(value: Any, path: Path_, errors: list[_Raw]) -> None:
            if isinstance(value, str):
                if value in strings:
                    return
            elif any(_equal(value, v) for v in others):
                return
            errors.append((path, f"{value!r} is not one of {values!r}"))

        return check

    def items(self, items: Mapping[str, Any]) -> Check:
        if not isinstance(items, Mapping):
            raise _Unsupported("items as a list")
        item = self.compile(items)
        leaf = self._leaves.get(item)
        if leaf is not None:
            py, label = leaf

            def check_leaves(value: Any, path: Path_, errors: list[_Raw]) -> None:
                if isinstance(value, list):
                    for i, v in enumerate(value):
                        if not isinstance(v, py):
                            errors.append(((*path, i), f"{v!r} is not of type {label}"))

            return check_leaves

        def check(value: Any, path: Path_, errors: list[_Raw]) -> None:
            if isinstance(value, list):
                for i, v in enumerate(value):
                    item(v, (*path, i), errors)

        return check

    def one_of(self, branches: list[Mapping[str, Any]]) -> Check:
        compiled = [self.compile(b) for b in branches]

        def check(value: Any, path: Path_, errors: list[_Raw]) -> None:
            valid = []
            for branch, c in zip(branches, compiled, strict=True):
                errs: list[_Raw] = []
                c(value, path, errs)
                if not errs:
                    valid.append(branch)
            if not valid:
                errors.append((path, f"{value!r} is not valid under any of the given schemas"))
            elif len(valid) > 1:
                # jsonschema lists the later matches first, then the first one.
                reprs = ", ".join(repr(b) for b in [*valid[1:], valid[0]])
                errors.append((path, f"{value!r} is valid under each of {reprs}"))

        return check

    def _object(self, node: Mapping[str, Any]) -> Check:
        props = {k: self.compile(v) for k, v in node.get("properties", {}).items()}
        extra = node.get("additionalProperties", True)
        if isinstance(extra, Mapping):
            extra_check: Check | None = self.compile(extra)
            forbid = False
        elif isinstance(extra, bool):
            extra_check, forbid = None, not extra
        else:
            raise _Unsupported("additionalProperties")
        required = list(node.get("required", ()))
        leaves = {k: self._leaves[c] for k, c in props.items() if c in self._leaves}
        extra_leaf = self._leaves.get(extra_check) if extra_check is not None else None

        def check(value: Any, path: Path_, errors: list[_Raw]) -> None:
            if not isinstance(value, dict):
                return
            unexpected = []
            for key, v in value.items():
                leaf = leaves.get(key)
                if leaf is not None:
                    if not isinstance(v, leaf[0]):
                        errors.append(((*path, key), f"{v!r} is not of type {leaf[1]}"))
                    continue
                c = props.get(key)
                if c is not None:
                    c(v, (*path, key), errors)
                elif extra_leaf is not None:
                    if not isinstance(v, extra_leaf[0]):
                        errors.append(((*path, key), f"{v!r} is not of type {extra_leaf[1]}"))
                elif extra_check is not None:
                    extra_check(v, (*path, key), errors)
                elif forbid:
                    unexpected.append(key)
            if unexpected:
                names = sorted(unexpected, key=str)
                listed = ", ".join(repr(n) for n in names)
                verb = "was" if len(names) == 1 else "were"
                errors.append((path, f"Additional properties are not allowed ({listed} {verb} unexpected)"))
            for r in required:
                if r not in value:
                    errors.append((path, f"{r!r} is a required property"))

        return check


def _nothing(value: Any, path: Path_, errors: list[_Raw]) -> None:
    return None


_KEYWORDS: dict[str, Callable[[_Compiler, Any], Check]] = {
    "$ref": _Compiler.ref,
    "type": lambda c, arg: _nothing,  # compiled with the structure keywords, in compile()
    "enum": _Compiler.enum,
    "items": _Compiler.items,
    "oneOf": _Compiler.one_of,
    "properties": lambda c, arg: _nothing,
    "additionalProperties": lambda c, arg: _nothing,
    "required": lambda c, arg: _nothing,
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


# --- custom resources -------------------------------------------------------------------------------------
def validate_custom_resource(
    obj: Mapping[str, Any], crd: Mapping[str, Any], *, strict: bool = True
) -> list[SchemaError]:
    """Every error of a custom resource against its CustomResourceDefinition's openAPIV3Schema.

    As the API server reads it: `nullable` allows null, x-kubernetes-int-or-string and
    x-kubernetes-preserve-unknown-fields are honoured; strict makes unknown fields errors (the server would
    prune them silently, or refuse them with fieldValidation=Strict, kubectl's default). CEL rules
    (x-kubernetes-validations) are not evaluated here.
    """
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    api_version = obj.get("apiVersion")
    if obj.get("kind") != names.get("kind"):
        return [SchemaError("kind", f"{obj.get('kind')!r} is not this definition's kind {names.get('kind')!r}")]
    for version in spec.get("versions", []):
        if api_version == f"{spec.get('group')}/{version.get('name')}":
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                break
            validator = _cr_validator(json.dumps(schema, sort_keys=True), strict)
            return [SchemaError(json_path(e.absolute_path), e.message) for e in validator.iter_errors(obj)]
    name = crd.get("metadata", {}).get("name")
    return [SchemaError("apiVersion", f"{api_version!r} is not a version with a schema in {name}")]


@functools.lru_cache(maxsize=32)
def _cr_validator(schema_json: str, strict: bool) -> Any:
    import jsonschema

    # OpenAPI v3.0's numeric keywords (boolean exclusiveMinimum) are JSON Schema draft 4's.
    return jsonschema.Draft4Validator(openapi_to_jsonschema(json.loads(schema_json), strict=strict, root=True))


def openapi_to_jsonschema(node: Mapping[str, Any], *, strict: bool = True, root: bool = False) -> dict[str, Any]:
    """A CRD's OpenAPI v3 schema as plain JSON Schema (draft 4) with the API server's semantics."""
    out: dict[str, Any] = {}
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {k: openapi_to_jsonschema(v, strict=strict) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = openapi_to_jsonschema(value, strict=strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [openapi_to_jsonschema(v, strict=strict) for v in value]
        else:
            out[key] = value
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if root:
        # The server checks metadata itself; the schema may only restrict name and generateName.
        out.setdefault("properties", {}).setdefault("metadata", {"type": "object"})
    if strict and not preserve and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out
