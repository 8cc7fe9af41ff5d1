"""Label and field selectors, parsed and matched the way the API server does for list and watch.

Label selectors follow `k8s.io/apimachinery/pkg/labels`: comma-separated requirements, each one of
`key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
`key>1`, `key<1`. Field selectors take `path=value`, `path==value` and `path!=value`, and only for
the fields the API server indexes for that resource: anything else is a 400, as on a real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DNS_PREFIX = r"(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?"
_KEY = _DNS_PREFIX + r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"\s*({_KEY})\s*")
_NOT_EXISTS = re.compile(rf"\s*!\s*({_KEY})\s*")
_SET = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")
_COMPARE = re.compile(rf"\s*({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})\s*")
_VALUE_ONLY = re.compile(rf"\s*({_VALUE})\s*")


class SelectorError(ValueError):
    """A selector the API server would refuse with 400 Bad Request."""


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case ">" | "<":
                if not present or value is None:
                    return False
                try:
                    number = int(value)
                except ValueError:
                    return False
                limit = int(self.values[0])
                return number > limit if self.operator == ">" else number < limit
        raise AssertionError(self.operator)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `( )`: the values of a set requirement are comma-separated."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in selector {text!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise SelectorError(f"unbalanced '(' in selector {text!r}")
    parts.append("".join(current))
    return parts


def parse_label_selector(text: str) -> tuple[LabelRequirement, ...]:
    """Parse a labelSelector query parameter; an empty selector selects everything."""
    if not text.strip():
        return ()
    requirements: list[LabelRequirement] = []
    for part in _split_top_level(text):
        if m := _SET.fullmatch(part):
            if not m.group(3).strip():
                raise SelectorError(f"for 'in', 'notin' operators, values set can't be empty: {part.strip()!r}")
            values = []
            for raw in m.group(3).split(","):
                vm = _VALUE_ONLY.fullmatch(raw)
                if vm is None:
                    raise SelectorError(f"invalid label value {raw.strip()!r} in {text!r}")
                values.append(vm.group(1))
            requirements.append(LabelRequirement(m.group(1), m.group(2), tuple(values)))
        elif m := _NOT_EXISTS.fullmatch(part):
            requirements.append(LabelRequirement(m.group(1), "!"))
        elif m := _COMPARE.fullmatch(part):
            operator = "=" if m.group(2) == "==" else m.group(2)
            if operator in (">", "<") and not re.fullmatch(r"-?\d+", m.group(3)):
                raise SelectorError(f"for '{operator}' the value must be an integer: {part.strip()!r}")
            requirements.append(LabelRequirement(m.group(1), operator, (m.group(3),)))
        elif m := _EXISTS.fullmatch(part):
            requirements.append(LabelRequirement(m.group(1), "exists"))
        else:
            raise SelectorError(f"unable to parse requirement {part.strip()!r} in label selector {text!r}")
    return tuple(requirements)


def match_labels(requirements: tuple[LabelRequirement, ...], obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


# The API server indexes only these fields per kind (field label conversion funcs in each API group);
# every kind supports metadata.name and metadata.namespace.
SUPPORTED_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    ("", "Event"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    ("events.k8s.io", "Event"): frozenset(
        {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "type"}
    ),
    ("", "Namespace"): frozenset({"status.phase"}),
    ("", "Secret"): frozenset({"type"}),
    ("", "Node"): frozenset({"spec.unschedulable"}),
    ("batch", "Job"): frozenset({"status.successful"}),
}


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    operator: str  # = or !=
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = _field_value(obj, self.path)
        return (actual == self.value) if self.operator == "=" else (actual != self.value)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    if path == "status.successful":  # Job's selectable field is the succeeded count
        path = "status.succeeded"
    if path == "source":  # core Event: source.component
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str, *, group: str, kind: str) -> tuple[FieldRequirement, ...]:
    if not text.strip():
        return ()
    allowed = {"metadata.name", "metadata.namespace"} | SUPPORTED_FIELDS.get((group, kind), frozenset())
    requirements: list[FieldRequirement] = []
    for part in re.split(r"(?<!\\),", text):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)(.*)", part)
        if m is None:
            raise SelectorError(f"invalid selector: {part!r}; can't understand it")
        path, op, value = m.group(1), m.group(2), _unescape(m.group(3).strip())
        if path not in allowed:
            raise SelectorError(f'field label not supported: "{path}"')
        requirements.append(FieldRequirement(path, "!=" if op == "!=" else "=", value))
    return tuple(requirements)


def match_fields(requirements: tuple[FieldRequirement, ...], obj: Mapping[str, Any]) -> bool:
    return all(r.matches(obj) for r in requirements)
