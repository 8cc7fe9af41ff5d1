"""Render the operator's Helm chart with a real Helm binary, and check objects against the official schemas."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from sengu.core import kschema

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "sengu-operator"
INSTALLER = ROOT / "tools" / "install-helm.sh"
# The Kubernetes version the project renders for and validates against (`sengu batch render --k8s-version`).
KUBERNETES_VERSION = kschema.DEFAULT_VERSION
RELEASE = "sengu-operator"
NAMESPACE = "sengu-system"

Obj = dict[str, Any]


class HelmError(Exception):
    """helm exited non-zero; the message is its stderr."""


def find_helm() -> str | None:
    """$SENGU_HELM, else the one tools/install-helm.sh puts in .tools/bin, else a helm on PATH."""
    for candidate in (os.environ.get("SENGU_HELM"), str(ROOT / ".tools" / "bin" / "helm"), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_helm() -> str:
    helm = find_helm()
    if helm is None:
        reason = f"no helm binary: run `{INSTALLER.relative_to(ROOT)}` (make helm), or set SENGU_HELM"
        # CI installs helm before the tests; there a missing binary is a broken setup, not a reason to skip.
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return helm


def run_helm(helm: str, *args: str, values: Mapping[str, Any] | None = None) -> str:
    """Run helm with `values` given on stdin as a values file; return stdout or raise HelmError."""
    cmd = [helm, *args]
    if values is not None:
        cmd += ["--values", "-"]
    proc = subprocess.run(
        cmd,
        input=json.dumps(values) if values is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        # helm keeps caches and repository config under these; point them away from the user's home.
        env={**os.environ, "HELM_CACHE_HOME": "/nonexistent", "HELM_CONFIG_HOME": "/nonexistent"},
    )
    if proc.returncode != 0:
        raise HelmError(proc.stderr.strip())
    return proc.stdout


@functools.cache
def _render(helm: str, values_json: str, include_crds: bool) -> tuple[Obj, ...]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", f"{KUBERNETES_VERSION}.0"]
    if include_crds:
        args.append("--include-crds")
    out = run_helm(helm, *args, values=json.loads(values_json))
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def render(helm: str, values: Mapping[str, Any] | None = None, *, include_crds: bool = False) -> list[Obj]:
    """`helm template` of the chart with these values, as objects (a fresh copy each call)."""
    objs = _render(helm, json.dumps(values or {}, sort_keys=True), include_crds)
    return json.loads(json.dumps(objs))  # type: ignore[no-any-return]


def only(objs: list[Obj], kind: str, name: str | None = None, namespace: str | None = None) -> Obj:
    found = select(objs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''} {namespace or ''}, found {len(found)}"
    return found[0]


def select(objs: list[Obj], kind: str, name: str | None = None, namespace: str | None = None) -> list[Obj]:
    return [
        o
        for o in objs
        if o["kind"] == kind
        and (name is None or o["metadata"]["name"] == name)
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]


# --- the official Kubernetes JSON schemas ----------------------------------------------------------------

# Kinds that are not built into Kubernetes, so have no official schema; tests check them field by field.
CUSTOM_KINDS = {"ServiceMonitor"}


def schema_errors(obj: Obj) -> list[str]:
    """Every way `obj` breaks the strict official schema of its kind (a kind without one is an error too)."""
    return [f"{obj['kind']}/{obj['metadata'].get('name')}: {e}" for e in kschema.validate(obj, KUBERNETES_VERSION)]
