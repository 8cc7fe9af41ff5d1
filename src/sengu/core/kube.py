"""A small Kubernetes client over the official `kubernetes` package: kubeconfig, auth, server-side apply.

We use the official client for what it does well — kubeconfig loading, every auth method (tokens, client
certificates, exec plugins such as `aws eks get-token`), TLS — and speak plain JSON paths over its REST layer,
so objects stay dicts end to end and one code path serves every kind. Import this module only inside commands.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sengu.core.errors import Failure, UserError

log = logging.getLogger("sengu.kube")

FIELD_MANAGER = "sengu"

# kind -> (plural, namespaced). What sengu reads and writes; add a line to reach another kind.
RESOURCES: dict[str, tuple[str, bool]] = {
    "CronjobManager": ("cronjobmanagers", True),
    "CronJob": ("cronjobs", True),
    "Job": ("jobs", True),
    "Pod": ("pods", True),
    "Secret": ("secrets", True),
    "ServiceAccount": ("serviceaccounts", True),
    "Event": ("events", True),
    "Lease": ("leases", True),
    "Namespace": ("namespaces", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
}


class KubeError(Failure):
    """The API server refused or failed a request. `status` is the HTTP status (0: not reached)."""

    def __init__(self, message: str, status: int = 0, body: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    try:
        plural, namespaced = RESOURCES[kind]
    except KeyError:
        raise KubeError(f"sengu does not know the resource of kind {kind!r}") from None
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = base
    if namespaced:
        if namespace is None and name is not None:
            raise KubeError(f"{kind} {name!r} needs a namespace")
        if namespace is not None:
            path += f"/namespaces/{quote(namespace)}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{quote(name)}"
    return path


def object_path(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


@dataclass
class Cluster:
    """One API server, as the kubeconfig (or the in-cluster service account) says."""

    api: Any  # kubernetes.client.ApiClient
    namespace: str = "default"
    timeout: float = 30.0

    @classmethod
    def connect(cls, *, kubeconfig: str | None = None, context: str | None = None) -> Cluster:
        from kubernetes import client, config

        configuration = client.Configuration()
        namespace = "default"
        try:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
            _, active = config.list_kube_config_contexts(config_file=kubeconfig)
            if context:
                contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
                active = next((c for c in contexts if c["name"] == context), active)
            namespace = (active.get("context") or {}).get("namespace") or "default"
        except config.ConfigException as exc:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                raise UserError(
                    f"no Kubernetes cluster configured: {exc} (set KUBECONFIG or use --kubeconfig)"
                ) from None
            try:
                with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                    namespace = f.read().strip() or "default"
            except OSError:
                pass
        return cls(client.ApiClient(configuration), namespace)

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    # --- raw requests -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """One request; the decoded JSON answer (or the raw response when stream=True). Raises KubeError."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # The REST layer serialises dict bodies to JSON for JSON and apply-patch+yaml content types.
        data = body
        method_, url, headers_, body_, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=data,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.rest_client.request(
                method_,
                url,
                headers=headers_,
                body=body_,
                _request_timeout=None if stream else (timeout or self.timeout),
            )
        except Exception as exc:  # urllib3 and TLS errors: the server was not reached
            raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc}") from None
        if stream and 200 <= response.status < 300:
            return response.response
        raw = response.read()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"message": raw.decode("utf-8", "replace")[:500]}
        if not 200 <= response.status < 300:
            message = payload.get("message") if isinstance(payload, dict) else None
            raise KubeError(
                f"{method} {path}: {response.status} {message or response.reason}", response.status, payload
            )
        return payload

    # --- objects ----------------------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.request("GET", resource_path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, *, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else None
        result = self.request("GET", resource_path(api_version, kind, namespace), query=query)
        items: list[dict[str, Any]] = result.get("items", [])
        for item in items:  # list items carry no apiVersion/kind on a real server
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def apply(self, obj: dict[str, Any], *, force: bool = True, subresource: str | None = None) -> dict[str, Any]:
        """Server-side apply: we own the fields we send, nothing else."""
        path = object_path(obj) + (f"/{subresource}" if subresource else "")
        query = {"fieldManager": FIELD_MANAGER}
        if force:
            query["force"] = "true"
        result: dict[str, Any] = self.request(
            "PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml"
        )
        return result

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata", {})
        path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        result: dict[str, Any] = self.request("POST", path, body=obj, query={"fieldManager": FIELD_MANAGER})
        return result

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: dict[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        path = resource_path(api_version, kind, namespace, name) + (f"/{subresource}" if subresource else "")
        result: dict[str, Any] = self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")
        return result

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete with background propagation (the object's dependents go too). False if it was already gone."""
        try:
            self.request(
                "DELETE",
                resource_path(api_version, kind, namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def post_event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str, *, now: datetime, component: str = "sengu"
    ) -> None:
        """A core/v1 Event about `involved` (apiVersion, kind, name, namespace). Best effort: never raises."""
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{involved['name']}.", "namespace": involved["namespace"]},
            "involvedObject": involved,
            "reason": reason[:128],
            "message": message[:1024],
            "type": kind,
            "source": {"component": component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self.create(body)
        except KubeError as exc:
            log.warning("cannot post an event on %s/%s: %s", involved["namespace"], involved["name"], exc)

    def follow_log(self, namespace: str, pod: str, container: str | None = None) -> Iterator[bytes]:
        """The pod's log, streamed until the container ends."""
        query = {"follow": "true"}
        if container:
            query["container"] = container
        path = resource_path("v1", "Pod", namespace, pod) + "/log"
        response = self.request("GET", path, query=query, stream=True)
        try:
            yield from response.stream(4096, decode_content=True)
        finally:
            response.release_conn()
