"""A simplified server-side apply: the fields a manager applies are set; fields it applied before and
now omits are removed, unless another manager applied them too.

What is simplified against the real structured-merge-diff:
- every list is atomic (replaced whole, owned as one field): real SSA merges `listType: map` lists
  (containers by name, conditions by type) element by element, each element with its own owner;
- only managers that *apply* own fields: a PUT, POST or non-apply PATCH takes no ownership, so it never
  causes a conflict and never protects a field from removal by an applier;
- a conflict is a field another applier owns with a different value; `force=true` takes it over.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FieldPath = tuple[str, ...]

# Identity and server-owned metadata are never owned by a manager.
_UNOWNED: frozenset[FieldPath] = frozenset(
    {
        ("apiVersion",),
        ("kind",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("metadata", "uid"),
        ("metadata", "resourceVersion"),
        ("metadata", "generation"),
        ("metadata", "creationTimestamp"),
        ("metadata", "deletionTimestamp"),
        ("metadata", "deletionGracePeriodSeconds"),
        ("metadata", "managedFields"),
        ("metadata", "selfLink"),
        ("metadata", "generateName"),
    }
)


@dataclass(frozen=True)
class Conflict:
    manager: str
    path: FieldPath

    @property
    def field(self) -> str:
        return "." + ".".join(self.path)


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[Conflict]):
        super().__init__(f"Apply failed with {len(conflicts)} conflict(s)")
        self.conflicts = conflicts


def field_paths(config: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    """Every field path in an applied configuration: leaves, and the maps that hold them."""
    paths: set[FieldPath] = set()
    for key, value in config.items():
        path = (*prefix, key)
        if path in _UNOWNED:
            continue
        paths.add(path)
        if isinstance(value, Mapping) and value:
            paths |= field_paths(value, path)
    return paths


def _lookup(obj: Any, path: FieldPath) -> tuple[bool, Any]:
    node = obj
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _merge(live: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = dict(live) if isinstance(live, Mapping) else {}
    for key, value in config.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and value:
            result[key] = _merge(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _delete(obj: dict[str, Any], path: FieldPath) -> None:
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)


def server_side_apply(
    live: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    manager: str,
    owners: Mapping[str, frozenset[FieldPath]],
    force: bool,
) -> tuple[dict[str, Any], dict[str, frozenset[FieldPath]]]:
    """Apply `config` for `manager` over `live`; return the new object and the new ownership of appliers."""
    applied = frozenset(field_paths(config))
    conflicts: list[Conflict] = []
    new_owners = {name: set(paths) for name, paths in owners.items() if name != manager}
    for path in sorted(applied):
        _, new_value = _lookup(config, path)
        if isinstance(new_value, Mapping) and new_value:
            continue  # a map holding fields: its leaves decide
        for other, paths in new_owners.items():
            if path not in paths:
                continue
            has_old, old_value = _lookup(live, path)
            if has_old and old_value != new_value:
                if force:
                    paths.discard(path)
                else:
                    conflicts.append(Conflict(other, path))
    if conflicts:
        raise ApplyConflict(conflicts)

    result = _merge(copy.deepcopy(dict(live)), config)
    others = set().union(*new_owners.values()) if new_owners else set()
    previous = owners.get(manager, frozenset())
    for path in sorted(previous - applied, key=len, reverse=True):  # leaves first, then emptied maps
        if path in others:
            continue
        found, value = _lookup(result, path)
        if found and not (isinstance(value, Mapping) and value):
            _delete(result, path)
    final = {name: frozenset(paths) for name, paths in new_owners.items() if paths}
    if applied:
        final[manager] = applied
    return result, final


def fields_v1(paths: frozenset[FieldPath]) -> dict[str, Any]:
    """The `fieldsV1` form of managedFields: `{"f:spec": {".": {}, "f:schedule": {}}}`."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    _mark_maps(tree)
    return tree


def _mark_maps(node: dict[str, Any]) -> None:
    for child in node.values():
        if isinstance(child, dict) and child:
            child["."] = {}
            _mark_maps({k: v for k, v in child.items() if k != "."})
