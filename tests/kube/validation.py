"""The API server's own validation that no JSON schema expresses, for the kinds sengu writes.

Object names, label keys and values, the CronJob name limit (52: the controller appends an 11-char
suffix to make Job names), a Job's restartPolicy (only OnFailure or Never) and podFailurePolicy
(only with restartPolicy Never), and the naming and versions of a CustomResourceDefinition.
Cron syntax, time zones and most cross-field rules are not checked (see the emulator's docstring).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.kube.schemas import Cause

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

# Kinds whose names must be DNS-1123 labels, and the longest name per kind where it is not 253.
_LABEL_NAMED = {("", "Namespace"), ("", "Service")}
_MAX_NAME = {("batch", "CronJob"): 52, ("batch", "Job"): 63}


def _name_problems(name: str, group: str, kind: str, field: str) -> list[Cause]:
    problems: list[Cause] = []
    limit = _MAX_NAME.get((group, kind), 63 if (group, kind) in _LABEL_NAMED else 253)
    pattern = _DNS1123_LABEL if (group, kind) in _LABEL_NAMED else _DNS1123_SUBDOMAIN
    if not pattern.fullmatch(name):
        what = "RFC 1123 label" if pattern is _DNS1123_LABEL else "RFC 1123 subdomain"
        problems.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {name!r}: a lowercase {what} must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character",
                field,
            )
        )
    if len(name) > limit:
        problems.append(
            Cause("FieldValueInvalid", f"Invalid value: {name!r}: must be no more than {limit} characters", field)
        )
    return problems


def _qualified_name_problems(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    problems: list[Cause] = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        problems.append(
            Cause("FieldValueInvalid", f"Invalid value: {key!r}: prefix part must be a DNS-1123 subdomain", field)
        )
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        problems.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {key!r}: name part must consist of alphanumeric characters, '-', '_' or '.', "
                "must start and end with an alphanumeric character, and be at most 63 characters",
                field,
            )
        )
    return problems


def metadata_problems(obj: Mapping[str, Any], group: str, kind: str) -> list[Cause]:
    metadata = obj.get("metadata") or {}
    problems: list[Cause] = []
    name = metadata.get("name")
    if not name:
        problems.append(
            Cause("FieldValueRequired", "Required value: name or generateName is required", "metadata.name")
        )
    else:
        problems += _name_problems(str(name), group, kind, "metadata.name")
    for key, value in (metadata.get("labels") or {}).items():
        field = f"metadata.labels[{key}]"
        problems += _qualified_name_problems(str(key), field)
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            problems.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value!r}: a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                    "(at most 63 characters)",
                    field,
                )
            )
    for key in metadata.get("annotations") or {}:
        problems += _qualified_name_problems(str(key), f"metadata.annotations[{key}]")
    return problems


def _job_spec_problems(spec: Mapping[str, Any], field: str) -> list[Cause]:
    problems: list[Cause] = []
    pod_spec = ((spec.get("template") or {}).get("spec")) or {}
    policy = pod_spec.get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        problems.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{policy or ""}": supported values: "OnFailure", "Never"',
                f"{field}.template.spec.restartPolicy",
            )
        )
    if spec.get("podFailurePolicy") is not None and policy != "Never":
        problems.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: only allowed when spec.template.spec.restartPolicy is Never",
                f"{field}.podFailurePolicy",
            )
        )
    return problems


def kind_problems(obj: Mapping[str, Any], group: str, kind: str) -> list[Cause]:
    spec = obj.get("spec") or {}
    if (group, kind) == ("batch", "Job"):
        return _job_spec_problems(spec, "spec")
    if (group, kind) == ("batch", "CronJob"):
        return _job_spec_problems((spec.get("jobTemplate") or {}).get("spec") or {}, "spec.jobTemplate.spec")
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return _crd_problems(obj)
    return []


def _crd_problems(crd: Mapping[str, Any]) -> list[Cause]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    problems: list[Cause] = []
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if (crd.get("metadata") or {}).get("name") != expected:
        problems.append(
            Cause(
                "FieldValueInvalid",
                f'Invalid value: must be spec.names.plural+"."+spec.group ({expected})',
                "metadata.name",
            )
        )
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        problems.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
                "spec.versions",
            )
        )
    seen: set[str] = set()
    for index, version in enumerate(versions):
        if version.get("name") in seen:
            problems.append(Cause("FieldValueDuplicate", "Duplicate value", f"spec.versions[{index}].name"))
        seen.add(str(version.get("name")))
    for key in ("plural", "kind"):
        if not names.get(key):
            problems.append(Cause("FieldValueRequired", "Required value", f"spec.names.{key}"))
    return problems
