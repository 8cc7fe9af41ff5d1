"""The three patch formats of the Kubernetes API, applied to plain JSON-like objects.

- JSON merge patch (RFC 7386, `application/merge-patch+json`): maps merge, `null` deletes, lists replace.
- JSON patch (RFC 6902, `application/json-patch+json`): add/remove/replace/move/copy/test operations.
  A failed `test` or a missing path raises `PatchConflict`, which the API answers with 422.
- Strategic merge patch (`application/strategic-merge-patch+json`, built-in kinds only): a merge patch
  where some lists merge element-wise by a key (containers by name, conditions by type, ownerReferences
  by uid, finalizers as a set), with the `$patch`, `$deleteFromPrimitiveList/…`, `$retainKeys` and
  `$setElementOrder/…` directives. The merge keys come from a table of the common fields, not from the
  Go struct tags of every kind; a list not in the table is replaced, as for any list without a strategy.

Every function returns a new object and never changes its arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


class PatchError(ValueError):
    """The patch is malformed (400 on a real server)."""


class PatchConflict(ValueError):
    """A JSON patch `test` failed or a path does not exist (422 on a real server)."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(copy.deepcopy(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- JSON patch -------------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must start with '/': {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchConflict(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise PatchConflict(f"array index {index} out of range")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchConflict(f"doc is missing path: {path!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise PatchConflict(f"doc is missing path: {path!r}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchConflict(f"doc is missing path: {path!r}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise PatchConflict(f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchConflict(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchConflict("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchConflict(f"doc is missing path: {path!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False))
    raise PatchConflict(f"doc is missing path: {path!r}")


def _replace(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(parent, last, for_add=False)] = value
    else:
        raise PatchConflict(f"doc is missing path: {path!r}")
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind!r} needs a value: {op!r}")
        match kind:
            case "add":
                result = _add(result, path, copy.deepcopy(op["value"]))
            case "remove":
                result, _ = _remove(result, path)
            case "replace":
                result = _replace(result, path, copy.deepcopy(op["value"]))
            case "move":
                result, value = _remove(result, op["from"])
                result = _add(result, path, value)
            case "copy":
                result = _add(result, path, copy.deepcopy(_get(result, op["from"])))
            case "test":
                if _get(result, path) != op["value"]:
                    raise PatchConflict(
                        f"testing value {path} failed: expected {op['value']!r}, found {_get(result, path)!r}"
                    )
            case _:
                raise PatchError(f"unknown JSON patch operation {kind!r}")
    return result


# ---- strategic merge patch ----------------------------------------------------------------------------

# Lists merged element-wise, by the name of the field that holds them; the value is the merge key,
# or "" for a list of primitives merged as a set (finalizers).
MERGE_KEYS: dict[str, str] = {
    "finalizers": "",
    "ownerReferences": "uid",
    "conditions": "type",
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
}


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":  # container ports merge by containerPort, service ports by port
        sample = next((i for i in items if isinstance(i, Mapping)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive is not None:
        raise PatchError(f"unknown $patch directive {directive!r}")
    result: dict[str, Any] = dict(copy.deepcopy(target)) if isinstance(target, Mapping) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key in ("$retainKeys",) or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    base = list(copy.deepcopy(current)) if isinstance(current, list) else []
    if any(isinstance(i, Mapping) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, Mapping) and "$patch" in i)]
    key = _merge_key(field, patch or base)
    if key is None:
        return [copy.deepcopy(i) for i in patch]
    if key == "":
        return base + [copy.deepcopy(v) for v in patch if v not in base]
    for item in patch:
        if not isinstance(item, Mapping) or key not in item:
            raise PatchError(f"{field}: every element needs the merge key {key!r}: {item!r}")
        position = next((i for i, b in enumerate(base) if isinstance(b, Mapping) and b.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if position is not None:
                base.pop(position)
        elif position is None:
            base.append(copy.deepcopy(dict(item)))
        else:
            base[position] = strategic_merge_patch(base[position], item)
    return base
