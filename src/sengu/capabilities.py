"""The composition root: which capability handles which kind. Adding a capability adds a line here.

Capabilities are imported only when a document of their kind is loaded, so light commands stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sengu.core.errors import Problem, UserError

# kind -> (module, loader of one document, builder of its embedded-engine component; "" for none yet)
KINDS: dict[str, tuple[str, str, str]] = {
    "CronjobManager": ("sengu.batch", "resolve:load_manager", "local:build_engine"),
    "RunnerPool": ("sengu.runners", "spec:load_pool", "local:build_engine"),
}


# kind -> its CustomResource (model, group, names, printer columns), for `sengu crd` and the operator
RESOURCES: dict[str, str] = {
    "CronjobManager": "sengu.batch.spec:RESOURCE",
}

# The kopf handlers of each capability, registered by `sengu operator` in one registry.
OPERATORS: tuple[str, ...] = ("sengu.batch.operator:register",)


def operator_registers() -> list[Any]:
    out = []
    for ref in OPERATORS:
        module, name = ref.split(":")
        out.append(getattr(importlib.import_module(module), name))
    return out


def custom_resources(kinds: Sequence[str] | None = None) -> list[Any]:
    """The CustomResource declarations (sengu.core.crd) of the given kinds, or of every kind."""
    wanted = list(RESOURCES) if not kinds else list(kinds)
    unknown = [k for k in wanted if k not in RESOURCES]
    if unknown:
        raise UserError(f"unknown kind(s) {', '.join(map(repr, unknown))}; known kinds: {', '.join(sorted(RESOURCES))}")
    out = []
    for kind in wanted:
        module, name = RESOURCES[kind].split(":")
        out.append(getattr(importlib.import_module(module), name))
    return out


def _attr(package: str, ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(f"{package}.{module}"), name)


@dataclass
class Loaded:
    """Every resource of the given files, by kind, in file order."""

    by_kind: dict[str, list[Any]]

    def of(self, kind: str) -> list[Any]:
        return self.by_kind.get(kind, [])


def load(paths: Sequence[str | Path], *, only: str | None = None) -> Loaded:
    """Load and validate every document of every file; all problems at once as one UserError."""
    import gc

    # Loading builds many long-lived objects and no cycles; the cycle collector would rescan them again
    # and again (a third of the time for 10,000 jobs, see docs/benchmarks.md).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(paths, only)
    finally:
        if was_enabled:
            gc.enable()


def _load(paths: Sequence[str | Path], only: str | None) -> Loaded:
    from sengu.core.spec import as_resource, collect, read_documents

    problems: list[Problem] = []
    by_kind: dict[str, list[Any]] = {}
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        for doc in collect(problems, read_documents, path) or []:
            res = collect(problems, as_resource, doc, KINDS)
            if res is None:
                continue
            if only is not None and res.kind != only:
                problems.append(doc.problem(("kind",), f"expected kind {only!r} here, got {res.kind!r}"))
                continue
            first = seen.setdefault((res.kind, res.name), str(doc.locate(("metadata", "name"))))
            if first != str(doc.locate(("metadata", "name"))):
                message = f"{res.kind} {res.name!r} is also defined at {first}"
                problems.append(doc.problem(("metadata", "name"), message))
                continue
            package, loader, _ = KINDS[res.kind]
            obj = collect(problems, _attr(package, loader), doc)
            if obj is not None:
                by_kind.setdefault(res.kind, []).append(obj)
    if problems:
        raise UserError(problems)
    return Loaded(by_kind)


def components(loaded: Loaded, **context: Any) -> list[Any]:
    """One embedded-engine component per kind present, built with the shared context (store, clock…)."""
    return [component(kind, objs, **context) for kind, objs in loaded.by_kind.items()]


def component(kind: str, objs: Sequence[Any], **context: Any) -> Any:
    """The embedded-engine component of one kind (`sengu up` builds them one by one, and again on a reload)."""
    package, _, builder = KINDS[kind]
    return _attr(package, builder)(objs, **context)
