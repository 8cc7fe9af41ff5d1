"""boto3 plumbing shared by the ECS and CodeBuild backends: one lazily made client, calls off the event loop,
AWS errors turned into `BackendError`.

boto3 is synchronous, so every call runs in a worker thread (`asyncio.to_thread`); boto3 clients are
thread-safe, sessions are not, so each backend makes its one client once, under a lock. boto3 is
imported on first use: it costs a few hundred milliseconds and most commands never touch AWS.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sengu.runners.backends.base import BackendError

T = TypeVar("T")

# Error codes after which trying again later can succeed; anything else is a request or permission problem.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestLimitExceededException",
        "AccountLimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServerException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServerException",
    }
)


class AwsClient:
    """One boto3 client for one service, made on first use. Pass `client` to use your own (tests, Stubber)."""

    def __init__(
        self,
        backend: str,
        service: str,
        *,
        client: Any | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ):
        self._backend = backend
        self._service = service
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # Standard retry mode retries throttling and 5xx with backoff; what is left after it is ours.
                config = Config(
                    retries={"mode": "standard", "max_attempts": 4},
                    connect_timeout=5,
                    read_timeout=30,
                )
                self._client = boto3.session.Session().client(
                    self._service, region_name=self._region, endpoint_url=self._endpoint_url, config=config
                )
            return self._client

    async def call(self, operation: str, /, *, secrets: Sequence[str] = (), **params: Any) -> dict[str, Any]:
        """Call `operation` (the snake_case boto3 method) in a worker thread.

        Failures become `BackendError`; any of `secrets` appearing in an error message is masked, since
        botocore's validation errors can quote the request.
        """

        def run() -> dict[str, Any]:
            result: dict[str, Any] = getattr(self.get(), operation)(**params)
            return result

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:
            raise self.error(operation, exc, secrets) from exc

    async def pages(self, operation: str, /, **params: Any) -> list[dict[str, Any]]:
        """All pages of a paginated operation."""

        def run() -> list[dict[str, Any]]:
            return list(self.get().get_paginator(operation).paginate(**params))

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:
            raise self.error(operation, exc, ()) from exc

    def error(self, operation: str, exc: Exception, secrets: Sequence[str]) -> BackendError:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", "Unknown"))
            message = str(err.get("Message", "")) or str(exc)
            retryable = code in RETRYABLE_CODES
        elif isinstance(exc, ParamValidationError):
            code, message, retryable = "ParamValidationError", str(exc), False
        elif isinstance(exc, BotoCoreError):
            # Connection refused, timeouts, no credentials: the network or the environment, not the request.
            code, message, retryable = type(exc).__name__, str(exc), True
        else:
            raise exc
        for secret in secrets:
            if secret:
                message = message.replace(secret, "***")
        return BackendError(
            self._backend, f"{self._service} {_camel(operation)}: {code}: {message}", retryable=retryable, code=code
        )


def idempotency_token(runner_name: str, limit: int = 64) -> str:
    """A token unique to one runner: its name when it fits the API's limit, else a digest of it."""
    if len(runner_name) <= limit and runner_name.isascii() and runner_name.isprintable() and " " not in runner_name:
        return runner_name
    return hashlib.sha256(runner_name.encode()).hexdigest()[:limit]


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def tag_map(tags: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    """ECS-style `[{key, value}]` tags as a dict."""
    return {str(t.get("key")): str(t.get("value", "")) for t in tags or ()}


def _camel(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))
