"""GitHub webhooks for runners: the signature check, and `workflow_job` payloads as typed events.

Pure: bytes in, a verdict or an event out. The HTTP route that receives deliveries lives with the engine.

Signature (https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries): GitHub sends
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>``. It must
be checked over the bytes as received, before any parsing, and compared in constant time so the answer
time does not reveal how many leading characters matched.

Size: GitHub caps payloads at 25 MB and does not deliver larger ones, so anything bigger is not GitHub's;
the intake refuses it (413) without holding more than MAX_PAYLOAD bytes.

Payload (https://docs.github.com/webhooks/webhook-events-and-payloads#workflow_job): ``action`` is one of
queued, waiting, in_progress, completed; ``workflow_job`` carries id, run_id, run_attempt, labels (the
job's runs-on), status, conclusion and the runner fields, which are null while the job is queued; a job
cancelled before any runner took it arrives as ``completed`` with conclusion ``cancelled`` and no runner.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import parse_qs

__all__ = [
    "ACTIONS",
    "MAX_DELIVERY_ID",
    "MAX_ID",
    "MAX_PAYLOAD",
    "SIGNATURE_HEADER",
    "MalformedWebhook",
    "WorkflowJobAction",
    "WorkflowJobEvent",
    "parse_workflow_job",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
# https://docs.github.com/webhooks/webhook-events-and-payloads#payload-cap: "Payloads are capped at 25 MB".
MAX_PAYLOAD = 25 * 1024 * 1024
MAX_ID = 2**63 - 1
# GitHub's X-GitHub-Delivery is a UUID (36 characters); room for other senders' ids, not for megabytes.
MAX_DELIVERY_ID = 200

WorkflowJobAction = Literal["queued", "waiting", "in_progress", "completed"]
ACTIONS: frozenset[str] = frozenset({"queued", "waiting", "in_progress", "completed"})


def sign(secret: bytes, body: bytes | bytearray) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for `body` under `secret`."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes | bytearray, header: str | None) -> bool:
    """True when `header` is GitHub's signature of the raw `body` under `secret`.

    False for a missing or malformed header and for an empty secret (an unset secret must not make every
    delivery look authentic). The comparison takes the same time wherever the first difference is.
    """
    if not secret or header is None:
        return False
    header = header.strip()
    if not header.startswith(_PREFIX):
        return False
    try:
        # compare_digest needs ASCII for str; comparing bytes sidesteps non-ASCII headers entirely.
        given = header.encode("ascii").lower()
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given)


class MalformedWebhook(ValueError):
    """A delivery that claims to be a workflow_job event but does not have the documented shape.

    The intake answers 400, logs and counts it, and stores nothing; GitHub does not redeliver, so the
    reconciler covers the job.
    """


@dataclass(frozen=True)
class WorkflowJobEvent:
    """One ``workflow_job`` delivery, reduced to what runner scheduling needs."""

    action: WorkflowJobAction
    job_id: int
    run_id: int
    run_attempt: int
    name: str | None
    labels: tuple[str, ...]
    repository: str  # owner/name
    status: str  # queued, waiting, in_progress, completed (GitHub may add others)
    conclusion: str | None
    runner_id: int | None  # None while queued
    runner_name: str | None
    runner_group_id: int | None
    workflow_name: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    installation_id: int | None

    @property
    def key(self) -> tuple[int, int]:
        """What identifies the job to run: GitHub re-runs a job under the same id with a new attempt."""
        return (self.job_id, self.run_attempt)

    @property
    def held(self) -> bool:
        """GitHub holds the job for an environment's approval: no runner can take it yet. A job with an
        environment is announced as action ``queued`` with status ``waiting``, then ``waiting``; only a
        later ``queued`` with status ``queued`` (after the approval) makes it runnable
        (@octokit/webhooks-examples 7.6.1, workflow_job examples of lineville/elastic-machines-testing)."""
        return self.action == "waiting" or self.status == "waiting"


def parse_workflow_job(body: bytes | bytearray, event: str | None = None) -> WorkflowJobEvent | None:
    """The workflow_job event in `body`, or None when the delivery is something else.

    `event` is the ``X-GitHub-Event`` header when known: any other event gives None without parsing.
    Without it, a JSON object that has no ``workflow_job`` key is another event (None). An action sengu
    does not know (GitHub adds some over time) also gives None. Raises MalformedWebhook when the body is
    not a JSON object, or a workflow_job payload lacks a field or has one of the wrong type.
    """
    if event is not None and event != "workflow_job":
        return None
    payload = _load(body)
    if "workflow_job" not in payload:
        if event == "workflow_job":
            raise MalformedWebhook("a workflow_job event without a workflow_job object")
        return None
    action = payload.get("action")
    if not isinstance(action, str):
        raise MalformedWebhook("action must be a string")
    if action not in ACTIONS:
        return None
    job = payload["workflow_job"]
    if not isinstance(job, dict):
        raise MalformedWebhook("workflow_job must be an object")
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        raise MalformedWebhook("repository must be an object")
    full_name = repository.get("full_name")
    if not isinstance(full_name, str) or full_name.count("/") != 1 or "" in full_name.split("/"):
        raise MalformedWebhook("repository.full_name must be owner/name")
    installation = payload.get("installation")
    installation_id = _opt_int(installation.get("id"), "installation.id") if isinstance(installation, dict) else None
    labels = job.get("labels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise MalformedWebhook("workflow_job.labels must be a list of strings")
    status = job.get("status")
    if not isinstance(status, str) or not status:
        raise MalformedWebhook("workflow_job.status must be a string")
    run_attempt = _int(job.get("run_attempt", 1), "workflow_job.run_attempt")
    if run_attempt < 1:
        raise MalformedWebhook("workflow_job.run_attempt must be at least 1")
    runner_id = _opt_int(job.get("runner_id"), "workflow_job.runner_id")
    runner_name = _str(job.get("runner_name"), "workflow_job.runner_name")
    return WorkflowJobEvent(
        action=cast(WorkflowJobAction, action),
        job_id=_int(job.get("id"), "workflow_job.id"),
        run_id=_int(job.get("run_id"), "workflow_job.run_id"),
        run_attempt=run_attempt,
        name=_str(job.get("name"), "workflow_job.name"),
        labels=tuple(labels),
        repository=full_name,
        status=status,
        conclusion=_str(job.get("conclusion"), "workflow_job.conclusion"),
        # Jobs cancelled before a runner took them have been seen with runner_id 0 and runner_name "":
        # both mean "no runner", as null does.
        runner_id=runner_id or None,
        runner_name=runner_name or None,
        runner_group_id=_opt_int(job.get("runner_group_id"), "workflow_job.runner_group_id") or None,
        workflow_name=_str(job.get("workflow_name"), "workflow_job.workflow_name"),
        created_at=_time(job.get("created_at"), "workflow_job.created_at"),
        started_at=_time(job.get("started_at"), "workflow_job.started_at"),
        completed_at=_time(job.get("completed_at"), "workflow_job.completed_at"),
        installation_id=installation_id,
    )


def _load(body: bytes | bytearray) -> dict[str, Any]:
    # Repository and organization webhooks may be set to form encoding: the JSON is in `payload=`.
    if body[:8] == b"payload=":
        try:
            values = parse_qs(body.decode("utf-8"), strict_parsing=True).get("payload", [])
        except (UnicodeDecodeError, ValueError):
            raise MalformedWebhook("a form-encoded body that cannot be decoded") from None
        if len(values) != 1:
            raise MalformedWebhook("a form-encoded body needs exactly one payload field")
        body = values[0].encode("utf-8")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedWebhook("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedWebhook("the body is not a JSON object")
    return payload


def _int(value: Any, what: str) -> int:
    # run_id is documented as a number: accept 5.0, never True or 5.5.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedWebhook(f"{what} must be a non-negative integer")
    if value > MAX_ID:  # SQLite's integers are signed 64-bit: a larger one is no id GitHub sends
        raise MalformedWebhook(f"{what} must be at most {MAX_ID}")
    return value


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedWebhook(f"{what} must be a string or null")


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedWebhook(f"{what} must be an ISO 8601 time or null")
    try:
        # Python 3.11 reads "Z" and fractional seconds (GitHub sends both forms).
        when = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedWebhook(f"{what} must be an ISO 8601 time, not {value[:40]!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
