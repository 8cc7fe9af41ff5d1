"""Webhook signatures (GitHub's published test vector) and workflow_job payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.runners.webhook import (
    MalformedWebhook,
    WorkflowJobEvent,
    parse_workflow_job,
    sign,
    verify_signature,
)
from tests.fakes.github import FakeGitHub

# https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
VECTOR_SECRET = b"It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


# --------------------------------------------------------------------------------------------------
# Signatures


def test_githubs_published_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    assert verify_signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)


@pytest.mark.parametrize(
    "secret, body, header",
    [
        (b"It's a Secret to Everybody!", VECTOR_BODY, VECTOR_SIGNATURE),  # another secret
        (VECTOR_SECRET, b"Hello, World?", VECTOR_SIGNATURE),  # another body
        (VECTOR_SECRET, VECTOR_BODY + b"\n", VECTOR_SIGNATURE),  # re-serialized bodies differ
        (VECTOR_SECRET, VECTOR_BODY, None),  # no header
        (VECTOR_SECRET, VECTOR_BODY, ""),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE[len("sha256=") :]),  # no algorithm prefix
        (VECTOR_SECRET, VECTOR_BODY, "sha1=" + VECTOR_SIGNATURE[len("sha256=") :]),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE[:-1]),  # truncated
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE + "00"),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE[:-1] + "é"),  # not ASCII
        (b"", VECTOR_BODY, sign(b"", VECTOR_BODY)),  # an empty secret authenticates nothing
    ],
)
def test_anything_else_is_refused(secret: bytes, body: bytes, header: str | None) -> None:
    assert not verify_signature(secret, body, header)


def test_the_hex_digest_is_read_case_insensitively_and_surrounding_space_ignored() -> None:
    assert verify_signature(VECTOR_SECRET, VECTOR_BODY, " sha256=" + VECTOR_SIGNATURE[7:].upper() + " ")


def test_verification_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)
    assert not verify_signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE[:-1] + "0")
    assert len(calls) == 2


@settings(max_examples=300, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512), header=st.text(max_size=80))
def test_only_the_right_signature_verifies(secret: bytes, body: bytes, header: str) -> None:
    right = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert verify_signature(secret, body, right)
    expected = header.strip().startswith("sha256=") and header.strip().lower() == right
    assert verify_signature(secret, body, header) == expected
    assert verify_signature(secret, body, "sha256=" + header) == (("sha256=" + header).strip().lower() == right)


# --------------------------------------------------------------------------------------------------
# Payloads


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def example(action: str = "queued", **job: Any) -> dict[str, Any]:
    """Shaped after GitHub's documented workflow_job example payload (octokit/webhooks payload-examples)."""
    workflow_job = {
        "id": 289782451,
        "run_id": 2202229078,
        "workflow_name": "CI",
        "head_branch": "main",
        "run_url": "https://api.github.com/repos/octo-org/octo-repo/actions/runs/2202229078",
        "run_attempt": 1,
        "node_id": "MDExOldvcmtmbG93UnVuMjg5NzgyNDUx",
        "head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625",
        "url": "https://api.github.com/repos/octo-org/octo-repo/actions/jobs/289782451",
        "html_url": "https://github.com/octo-org/octo-repo/runs/289782451",
        "status": "queued",
        "conclusion": None,
        "created_at": "2021-09-13T02:21:12Z",
        "started_at": "2021-09-13T02:21:13Z",
        "completed_at": None,
        "name": "update",
        "steps": [],
        "check_run_url": "https://api.github.com/repos/octo-org/octo-repo/check-runs/289782451",
        "labels": ["self-hosted", "sengu", "cpu-2"],
        "runner_id": None,
        "runner_name": None,
        "runner_group_id": None,
        "runner_group_name": None,
    }
    workflow_job.update(job)
    return {
        "action": action,
        "workflow_job": workflow_job,
        "repository": {"id": 186853002, "name": "octo-repo", "full_name": "octo-org/octo-repo", "private": True},
        "organization": {"login": "octo-org", "id": 38302899},
        "sender": {"login": "Codertocat", "id": 21031067},
        "installation": {"id": 3456996, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMzQ1Njk5Ng=="},
    }


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")


def test_a_queued_job_parses_into_a_typed_event() -> None:
    event = parse_workflow_job(body_of(example()), "workflow_job")
    assert event == WorkflowJobEvent(
        action="queued",
        job_id=289782451,
        run_id=2202229078,
        run_attempt=1,
        name="update",
        labels=("self-hosted", "sengu", "cpu-2"),
        repository="octo-org/octo-repo",
        status="queued",
        conclusion=None,
        runner_id=None,
        runner_name=None,
        runner_group_id=None,
        workflow_name="CI",
        created_at=datetime(2021, 9, 13, 2, 21, 12, tzinfo=UTC),
        started_at=datetime(2021, 9, 13, 2, 21, 13, tzinfo=UTC),
        completed_at=None,
        installation_id=3456996,
    )
    assert event.key == (289782451, 1)


def test_an_in_progress_job_names_its_runner() -> None:
    payload = example(
        "in_progress", status="in_progress", runner_id=5, runner_name="ci-289782451-1-1", runner_group_id=1,
        run_attempt=2, started_at="2021-09-13T02:22:00.000+00:00",
    )  # fmt: skip
    event = parse_workflow_job(body_of(payload))
    assert event is not None
    assert (event.action, event.runner_id, event.runner_name, event.runner_group_id) == (
        "in_progress", 5, "ci-289782451-1-1", 1,
    )  # fmt: skip
    assert event.key == (289782451, 2)
    assert event.started_at == datetime(2021, 9, 13, 2, 22, tzinfo=UTC)


def test_a_job_cancelled_before_any_runner_took_it_has_no_runner() -> None:
    payload = example(
        "completed", status="completed", conclusion="cancelled", runner_id=0, runner_name="",
        completed_at="2021-09-13T02:30:00Z",
    )  # fmt: skip
    event = parse_workflow_job(body_of(payload))
    assert event is not None
    assert (event.conclusion, event.runner_id, event.runner_name) == ("cancelled", None, None)
    assert event.completed_at == datetime(2021, 9, 13, 2, 30, tzinfo=UTC)


def test_fields_github_leaves_out_of_older_payloads_are_optional() -> None:
    payload = example()
    for key in ("created_at", "workflow_name", "runner_group_id", "run_attempt"):
        del payload["workflow_job"][key]
    del payload["installation"]
    event = parse_workflow_job(body_of(payload))
    assert event is not None
    assert (event.created_at, event.workflow_name, event.installation_id, event.run_attempt) == (None, None, None, 1)


def test_a_float_run_id_is_read_as_the_integer_it_is() -> None:
    # GitHub's schema types run_id as a number.
    event = parse_workflow_job(body_of(example(run_id=2202229078.0)))
    assert event is not None and event.run_id == 2202229078 and isinstance(event.run_id, int)


def test_other_events_and_unknown_actions_are_not_ours() -> None:
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1}
    assert parse_workflow_job(body_of(ping)) is None
    assert parse_workflow_job(body_of(ping), "ping") is None
    assert parse_workflow_job(b"not even json", "check_run") is None  # never parsed
    assert parse_workflow_job(body_of(example("some_future_action"))) is None


def test_a_form_encoded_delivery_is_read_like_json() -> None:
    body = urlencode({"payload": json.dumps(example())}).encode("ascii")
    event = parse_workflow_job(body, "workflow_job")
    assert event is not None and event.job_id == 289782451


def _without(key: str) -> dict[str, Any]:
    payload = example()
    del payload["workflow_job"][key]
    return payload


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"workflow_job"', "not a JSON object"),
        (b"[" * 100_000, "not JSON"),
        (b"payload=%ZZ&payload=2", "form-encoded"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (body_of({"action": "queued", "workflow_job": []}), "workflow_job must be an object"),
        (body_of({**example(), "action": 3}), "action must be a string"),
        (body_of({**example(), "repository": None}), "repository must be an object"),
        (body_of({**example(), "repository": {"full_name": "no-slash"}}), "owner/name"),
        (body_of(_without("id")), "workflow_job.id"),
        (body_of(_without("labels")), "labels"),
        (body_of(_without("status")), "status"),
        (body_of(example(id="289782451")), "workflow_job.id"),
        (body_of(example(id=True)), "workflow_job.id"),
        (body_of(example(run_id=1.5)), "workflow_job.run_id"),
        (body_of(example(run_attempt=0)), "run_attempt must be at least 1"),
        (body_of(example(labels=["self-hosted", 2])), "labels"),
        (body_of(example(runner_id="5")), "runner_id"),
        (body_of(example(runner_name=5)), "runner_name"),
        (body_of(example(conclusion=[])), "conclusion"),
        (body_of(example(created_at="yesterday")), "created_at"),
        (body_of(example(started_at=12)), "started_at"),
        (body_of({**example(), "installation": {"id": "x"}}), "installation.id"),
    ],
)
def test_a_malformed_payload_is_a_typed_error(body: bytes, message: str) -> None:
    with pytest.raises(MalformedWebhook, match=message):
        parse_workflow_job(body)


def test_a_workflow_job_event_without_its_object_is_malformed() -> None:
    with pytest.raises(MalformedWebhook, match="without a workflow_job"):
        parse_workflow_job(body_of({"action": "queued"}), "workflow_job")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_an_event_none_or_a_typed_error(body: bytes) -> None:
    try:
        result = parse_workflow_job(body)
    except MalformedWebhook:
        return
    assert result is None or isinstance(result, WorkflowJobEvent)


JOB_FIELDS = [
    "id", "run_id", "run_attempt", "labels", "status", "conclusion", "runner_id", "runner_name", "runner_group_id",
    "created_at", "started_at", "completed_at", "name", "workflow_name",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    action=st.sampled_from(["queued", "waiting", "in_progress", "completed", "other"]) | st.text(max_size=5),
    field=st.sampled_from(JOB_FIELDS),
    value=json_values,
)
def test_any_value_in_any_field_gives_an_event_none_or_a_typed_error(action: str, field: str, value: Any) -> None:
    payload = example(action, **{field: value})
    try:
        result = parse_workflow_job(body_of(payload), "workflow_job")
    except MalformedWebhook:
        return
    assert result is None or isinstance(result, WorkflowJobEvent)


# --------------------------------------------------------------------------------------------------
# Deliveries made by the fake GitHub, as the intake will receive them


@pytest.mark.parametrize("action", ["queued", "waiting", "in_progress", "completed"])
def test_fake_deliveries_are_signed_and_parse(gh: FakeGitHub, action: str) -> None:
    job = gh.queue_job("my-org/app", ["self-hosted", "sengu", "arm64"])
    if action in ("in_progress", "completed"):
        gh.start_job(job.id, "ci-runner-1")
    headers, body = gh.webhook_delivery(job, action)
    assert headers["X-GitHub-Event"] == "workflow_job"
    assert len(headers["X-GitHub-Delivery"]) == 36
    assert verify_signature(gh.webhook_secret.encode(), body, headers["X-Hub-Signature-256"])
    assert not verify_signature(b"another secret", body, headers["X-Hub-Signature-256"])
    event = parse_workflow_job(body, headers["X-GitHub-Event"])
    assert event is not None
    assert (event.action, event.job_id, event.run_id, event.repository) == (action, job.id, job.run_id, "my-org/app")
    assert event.labels == ("self-hosted", "sengu", "arm64")
    assert event.installation_id == gh.installation_id
    if action in ("queued", "waiting"):
        assert event.runner_name is None and event.conclusion is None
    else:
        assert event.runner_name == "ci-runner-1"
    if action == "completed":
        assert event.conclusion == "success" and event.completed_at is not None


def test_a_fake_delivery_of_a_cancelled_queued_job_has_no_runner(gh: FakeGitHub) -> None:
    job = gh.cancel_job(gh.queue_job("my-org/app", ["self-hosted", "sengu"]).id)
    headers, body = gh.webhook_delivery(job, "completed", delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert headers["X-GitHub-Delivery"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    event = parse_workflow_job(body)
    assert event is not None and (event.conclusion, event.runner_name) == ("cancelled", None)


def test_a_fake_ping_is_not_a_workflow_job(gh: FakeGitHub) -> None:
    headers, body = gh.ping_delivery(secret="s3cret")
    assert verify_signature(b"s3cret", body, headers["X-Hub-Signature-256"])
    assert parse_workflow_job(body, headers["X-GitHub-Event"]) is None
    assert parse_workflow_job(body) is None


def test_a_job_held_for_an_environment_is_held_in_githubs_own_examples() -> None:
    # npm @octokit/webhooks-examples 7.6.1 (see the file's "origin"): `queued` with status "waiting" first.
    doc = json.loads((Path(__file__).parent / "data" / "workflow_job_environment.json").read_text())
    events = [parse_workflow_job(json.dumps(example).encode(), "workflow_job") for example in doc["examples"]]
    assert [(e.action, e.status, e.held) for e in events if e is not None] == [
        ("queued", "waiting", True),
        ("waiting", "waiting", True),
    ]
    assert events[0] is not None and events[0].labels == ("self-hosted", "k8s")
    queued = parse_workflow_job(body_of(example("queued")), "workflow_job")
    assert queued is not None and not queued.held
