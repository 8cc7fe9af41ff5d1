"""A small real GitHub API on 127.0.0.1: one GitHub App installation, its workflow jobs and its runners.

It serves only the endpoints sengu's runners use, answers with payloads shaped like GitHub's documented
examples, and is strict where that catches bugs: the app JWT must be RS256-signed with the key pair the
fake made, with ``iat`` not in the future and ``exp`` at most 10 minutes ahead *by the fake's clock*;
every other call needs a live installation token; a User-Agent is required, as on GitHub.

    with FakeGitHub(now=clock.now) as gh:
        app = GitHubApp(gh.api_url, gh.app_id, gh.installation_id, Secret(gh.private_key_pem), clock)
        job = gh.queue_job("my-org/app", ["self-hosted", "sengu", "cpu-2"])
        headers, body = gh.webhook_delivery(job, "queued")   # signed as GitHub signs it
        config = await app.generate_jitconfig("my-org", "ci-1", job.labels)
        gh.runner_connected("ci-1")                           # the runner takes the job
        gh.complete_job(job.id)                               # and, being ephemeral, leaves

Driving it: `queue_job`, `start_job`, `complete_job`, `cancel_job`, `set_job_status`, `runner_connected`,
`runner_disconnected`, `register_runner` (a runner made outside sengu), `add_repository`.
Check runs the app creates are kept in `check_runs`; `permissions` is what the installation was
granted (take ``checks`` away and creating one answers 403 "Resource not accessible by integration").
Failures: `fail_next` (scripted answers), `refuse_removal` (a runner's DELETE answers a validation 422),
`secondary_rate_limit` (403 + retry-after; requests that come
back too early are counted in `early_requests` and refused again), `set_budget` (the primary limit: at
0, 403 with ``x-ratelimit-remaining: 0`` until the reset), `revoke_tokens`, `clock_offset` (the fake's
clock runs ahead of, or behind, `now`). Records: `requests`, `wait_until`.

GitHub Enterprise Server: `FakeGitHub(prefix="/api/v3")` serves under that path, as GHES does.

One App on several accounts: `add_installation("other-org")` (or `FakeGitHub(installations={"other-org":
679})`) installs the same App (same key, same webhook secret) on another organization under its own
installation id. A token of an added installation sees only
its own account's repositories and runners (anything else is 404, as on GitHub); the first installation
sees every repository no added installation owns, so one-account tests may queue jobs anywhere.
Deliveries about a repository carry the installation of its owner. The rate limit is one budget for all.

A personal account: `FakeGitHub(owner="alice", owner_type="User")` has no organization endpoints, only the
repository-level runner endpoints (``/repos/{o}/{r}/actions/runners…``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.server import LoopbackHTTPServer, LoopbackServer

API_VERSIONS = frozenset({"2022-11-28"})
DOCS = "https://docs.github.com/rest"
JWT_MAX_LIFETIME_S = 600
CHECK_RUN_STATUSES = frozenset({"queued", "in_progress", "completed"})
CHECK_RUN_CONCLUSIONS = frozenset(
    {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
)
CHECK_RUN_TEXT_MAX = 65535


@functools.cache
def _shared_key() -> rsa.RSAPrivateKey:
    # Making an RSA key takes tens of milliseconds; one per test process is enough.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_private_key_pem() -> str:
    """A fresh RSA private key in PEM, e.g. to sign with a key the fake does not know."""
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 time as GitHub takes it: ``YYYY-MM-DDTHH:MM:SSZ``, with a zone."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------------------------------
# State, as tests see it (snapshots: the fake's own records change only under its lock)


@dataclass(frozen=True)
class FakeJob:
    id: int
    run_id: int
    run_attempt: int
    repository: str
    name: str
    labels: tuple[str, ...]
    status: str = "queued"  # queued, waiting, in_progress, completed
    conclusion: str | None = None
    runner_id: int | None = None
    runner_name: str | None = None
    runner_group_id: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    workflow_name: str = "CI"
    head_sha: str = ""
    head_branch: str = "main"


@dataclass(frozen=True)
class FakeCheckRun:
    """A check run as created through ``POST /repos/{o}/{r}/check-runs``."""

    id: int
    repository: str
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None
    title: str | None
    summary: str | None
    text: str | None
    external_id: str | None = None
    details_url: str | None = None


@dataclass(frozen=True)
class FakeRunner:
    id: int
    name: str
    scope: str  # an organization, or owner/repo
    labels: tuple[str, ...]  # custom labels; every runner also has the read-only "self-hosted"
    status: str = "offline"
    busy: bool = False
    runner_group_id: int = 1
    os: str = "unknown"
    jit_config: str | None = None
    work_folder: str = "_work"
    job_id: int | None = None


@dataclass(frozen=True)
class LoggedRequest:
    """A request as the fake saw it, and the status it answered. `path` is relative to the API prefix."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int
    json: Any
    answer: Any  # the JSON the fake answered with (None for an empty body)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any = None  # JSON-encoded unless bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Scripted:
    remaining: int
    reply: _Reply
    match: re.Pattern[str] | None
    echo_authorization: bool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each keep-alive answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: LoopbackHTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header is the fake's clock: clients learn GitHub's time from it (clock-skew handling).
        return format_datetime(self.server.owner.server_now(), usegmt=True)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.owner._receive(self.command, split.path, parse_qs(split.query), headers, body)
        data = b"" if reply.status == 204 else (
            reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode("utf-8")
        )  # fmt: skip
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 204:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> _Reply:
    return _Reply(status, {"message": message, "documentation_url": DOCS}, dict(headers or {}))


class FakeGitHub(LoopbackServer):
    """GitHub's REST API for one app installation on `owner` (an organization)."""

    handler = _Handler

    def __init__(
        self,
        *,
        app_id: int = 12345,
        installation_id: int = 678,
        owner: str = "my-org",
        prefix: str = "",
        now: Callable[[], datetime] | None = None,
        token_ttl: timedelta = timedelta(hours=1),
        webhook_secret: str | None = None,
        private_key_pem: str | None = None,
        installations: Mapping[str, int] | None = None,
        owner_type: str = "Organization",
    ):
        super().__init__()
        self.app_id = app_id
        self.installation_id = installation_id
        self.owner = owner
        # "User": the installation is on a personal account, which has no /orgs/{owner} endpoints (GitHub
        # answers 404 there); its repositories' own runner endpoints serve as for any repository.
        self.owner_type = owner_type
        self.prefix = prefix.rstrip("/")
        self._now = now or (lambda: datetime.now(UTC))
        self.clock_offset = timedelta(0)
        self.token_ttl = token_ttl
        self.webhook_secret = webhook_secret if webhook_secret is not None else secrets.token_hex(16)
        if private_key_pem is None:
            key = _shared_key()
            self.private_key_pem = _pem(key)
        else:
            self.private_key_pem = private_key_pem
            loaded = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            key = loaded
        self._public_key = key.public_key()
        self.runner_groups: dict[int, str] = {1: "Default"}
        self.link_base: str | None = None  # pagination links point here instead (a misbehaving proxy)
        # Runners GitHub will not remove for a reason other than a job: name → (message, errors), answered
        # as its "Validation Error Simple" 422 (see `refuse_removal`).
        self.removal_refusals: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._cond = threading.Condition(threading.RLock())
        self._ids = itertools.count(1000)
        self._tokens: dict[str, tuple[datetime, int]] = {}  # token → (expires, installation id)
        self._installations: dict[int, str] = {installation_id: owner}  # installation id → account
        for account, other in (installations or {}).items():
            self._installations[other] = account
        self._repositories: dict[str, int] = {}
        self._jobs: dict[int, FakeJob] = {}
        self._runners: dict[int, FakeRunner] = {}
        self._check_runs: list[FakeCheckRun] = []
        self.permissions: dict[str, str] = {
            "actions": "read",
            "administration": "write",
            "checks": "write",
            "organization_self_hosted_runners": "write",
        }
        self._requests: list[LoggedRequest] = []
        self._script: list[_Scripted] = []
        self._secondary: list[float | None] = []
        self._secondary_status = 403
        self._blocked_until: datetime | None = None
        self.early_requests = 0
        self._limit = 5000
        self._remaining = 5000
        self._reset: datetime | None = None
        self.tokens_issued = 0

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What a RunnerPool's ``github.apiUrl`` would be."""
        return self.base_url + self.prefix

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The app's public key, as GitHub keeps it to check app JWTs."""
        return self._public_key

    def server_now(self) -> datetime:
        """The fake's clock: `now` plus `clock_offset`."""
        return self._now() + self.clock_offset

    # --- driving state ------------------------------------------------------------------------------

    def add_installation(self, owner: str, installation_id: int | None = None) -> int:
        """The App installed on another account too; its installation id (a new one unless given)."""
        with self._cond:
            chosen = installation_id if installation_id is not None else next(self._ids)
            self._installations[chosen] = owner
            return chosen

    def installation_of(self, owner: str) -> int:
        """The installation id of the App on `owner` (the first installation's when not installed there)."""
        with self._cond:
            found = [i for i, account in self._installations.items() if account.lower() == owner.lower()]
            return found[0] if found else self.installation_id

    def add_repository(self, full_name: str) -> None:
        with self._cond:
            self._repositories.setdefault(full_name, next(self._ids))

    @property
    def repositories(self) -> list[str]:
        with self._cond:
            return list(self._repositories)

    def queue_job(
        self,
        repository: str,
        labels: Iterable[str],
        *,
        name: str = "build",
        workflow_name: str = "CI",
        run_id: int | None = None,
        run_attempt: int = 1,
        status: str = "queued",
    ) -> FakeJob:
        """A new queued job, in a new run unless `run_id` names an existing one."""
        with self._cond:
            self.add_repository(repository)
            now = self.server_now()
            job = FakeJob(
                id=next(self._ids),
                run_id=run_id if run_id is not None else next(self._ids),
                run_attempt=run_attempt,
                repository=repository,
                name=name,
                labels=tuple(labels),
                status=status,
                created_at=now,
                started_at=now,  # GitHub fills started_at while a job is still queued
                workflow_name=workflow_name,
                head_sha=secrets.token_hex(20),
            )
            self._jobs[job.id] = job
            self._cond.notify_all()
            return job

    def job(self, job_id: int) -> FakeJob:
        with self._cond:
            return self._jobs[job_id]

    @property
    def jobs(self) -> list[FakeJob]:
        with self._cond:
            return list(self._jobs.values())

    def set_job_status(self, job_id: int, status: str, conclusion: str | None = None) -> FakeJob:
        with self._cond:
            job = replace(self._jobs[job_id], status=status, conclusion=conclusion)
            self._jobs[job_id] = job
            return job

    def start_job(self, job_id: int, runner_name: str) -> FakeJob:
        """The named runner (registered or not: GitHub-hosted, someone else's) takes the job."""
        with self._cond:
            runner = self._runner_named(runner_name)
            job = replace(
                self._jobs[job_id],
                status="in_progress",
                runner_id=runner.id if runner else next(self._ids),
                runner_name=runner_name,
                runner_group_id=runner.runner_group_id if runner else 1,
                started_at=self.server_now(),
            )
            self._jobs[job_id] = job
            if runner is not None:
                self._runners[runner.id] = replace(runner, status="online", busy=True, job_id=job_id, os="Linux")
            return job

    def complete_job(self, job_id: int, conclusion: str = "success") -> FakeJob:
        """The job ends; its ephemeral runner deregisters itself, as JIT runners do."""
        with self._cond:
            job = replace(self._jobs[job_id], status="completed", conclusion=conclusion, completed_at=self.server_now())
            self._jobs[job_id] = job
            runner = self._runner_named(job.runner_name) if job.runner_name else None
            if runner is not None and runner.job_id == job_id:
                del self._runners[runner.id]
            return job

    def cancel_job(self, job_id: int) -> FakeJob:
        """Cancelled: a queued job ends without a runner; a running one ends as complete_job would."""
        return self.complete_job(job_id, "cancelled")

    def runner_connected(self, name: str) -> FakeJob | None:
        """A registered runner comes online and takes the oldest queued job it can run, if any.

        As on GitHub, any queued job whose labels the runner has all of (case-insensitively), in a
        repository the runner's scope covers, may be handed to it — not necessarily the job it was made for.
        """
        with self._cond:
            runner = self._runner_named(name)
            if runner is None:
                raise KeyError(f"no runner named {name!r}")
            self._runners[runner.id] = replace(runner, status="online", os="Linux")
            have = {label.lower() for label in (*runner.labels, "self-hosted")}
            for job in sorted(self._jobs.values(), key=lambda j: j.id):
                if job.status != "queued" or not self._covers(runner.scope, job.repository):
                    continue
                if {label.lower() for label in job.labels} <= have:
                    return self.start_job(job.id, name)
            return None

    def runner_disconnected(self, name: str) -> None:
        with self._cond:
            runner = self._runner_named(name)
            if runner is not None:
                self._runners[runner.id] = replace(runner, status="offline")

    def register_runner(
        self, scope: str, name: str, labels: Iterable[str], *, status: str = "offline", busy: bool = False
    ) -> FakeRunner:
        """A runner registered some other way (by hand, or by a sengu that crashed before recording it)."""
        with self._cond:
            if "/" in scope:
                self.add_repository(scope)
            runner = FakeRunner(next(self._ids), name, scope, tuple(labels), status=status, busy=busy)
            self._runners[runner.id] = runner
            return runner

    def refuse_removal(
        self, name: str, message: str = "Validation Failed", errors: Iterable[str] = ("runner_id is invalid",)
    ) -> None:
        """DELETE of runner `name` answers 422 with GitHub's "Validation Error Simple" body (message,
        documentation_url, errors) — the other 422 that endpoint documents, besides a busy runner."""
        with self._cond:
            self.removal_refusals[name] = (message, tuple(errors))

    def runner(self, name: str) -> FakeRunner | None:
        with self._cond:
            return self._runner_named(name)

    @property
    def runners(self) -> list[FakeRunner]:
        with self._cond:
            return list(self._runners.values())

    @property
    def check_runs(self) -> list[FakeCheckRun]:
        with self._cond:
            return list(self._check_runs)

    def revoke_tokens(self) -> None:
        """Every installation token stops working (GitHub revokes them, e.g. on a permission change)."""
        with self._cond:
            self._tokens.clear()

    # --- failures -----------------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int = 500,
        message: str = "Server Error",
        *,
        headers: Mapping[str, str] | None = None,
        match: str | None = None,
        echo_authorization: bool = False,
    ) -> None:
        """Answer the next `count` requests (those whose "METHOD path" matches `match`, if given) with
        `status`. `echo_authorization` puts the request's Authorization header in the message, to prove a
        client never shows it."""
        reply = _error(status, message, headers)
        with self._cond:
            self._script.append(_Scripted(count, reply, re.compile(match) if match else None, echo_authorization))

    def secondary_rate_limit(self, retry_after: float | None = 1, *, times: int = 1, status: int = 403) -> None:
        """The next `times` requests hit a secondary rate limit. With `retry_after`, the answer says so and
        requests before then are refused too (and counted in `early_requests`); without, GitHub's rule
        is to wait at least a minute."""
        with self._cond:
            self._secondary.extend([retry_after] * times)
            self._secondary_status = status

    def set_budget(self, remaining: int, *, limit: int = 5000, reset_in_s: float = 3600.0) -> None:
        """The installation's primary limit: `remaining` requests until `reset_in_s` from now."""
        with self._cond:
            self._limit, self._remaining = limit, remaining
            self._reset = self.server_now() + timedelta(seconds=reset_in_s)

    # --- records ------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._cond:
            return list(self._requests)

    def requests_to(self, method: str, pattern: str) -> list[LoggedRequest]:
        """Requests with this method whose path matches the regular expression `pattern` (fully)."""
        regex = re.compile(pattern)
        return [r for r in self.requests if r.method == method and regex.fullmatch(r.path)]

    def wait_until(self, predicate: Callable[[FakeGitHub], bool], timeout: float = 5.0) -> None:
        """Block until `predicate(self)` holds (re-checked after every request), or fail."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout=timeout):
                raise AssertionError(f"FakeGitHub: condition not met within {timeout} s")

    # --- a pool that talks to this fake ----------------------------------------------------------------

    def write_pool(
        self,
        directory: Path,
        runner: str | Path,
        *,
        name: str = "ci",
        more: str = "",
        owner: str | None = None,
        file: str = "pool.yaml",
    ) -> Path:
        """A RunnerPool file for this fake in `directory`, with the app key and webhook secret beside it: one
        local backend running `runner --jitconfig {jitconfig}` in `directory/work`; `more` is appended to its
        spec (other backends, limits), indented as spec keys. `owner` (default: the first installation's
        account) is the account served, through the App's installation there."""
        key, secret = directory / "app.pem", directory / "webhook-secret"
        key.write_text(self.private_key_pem)
        secret.write_text(str(self.webhook_secret))
        owner = owner or self.owner
        path = directory / file
        path.write_text(
            f"""apiVersion: sengu.dev/v1alpha1
kind: RunnerPool
metadata: {{name: {name}}}
spec:
  github:
    apiUrl: {self.api_url}
    appId: {self.app_id}
    installationId: {self.installation_of(owner)}
    privateKeyFile: {key}
    webhookSecretFile: {secret}
    owner: {owner}{"" if self.owner_type == "Organization" else chr(10) + "    ownerType: user"}
  defaultBackend: local
  backends:
    - {{name: local, local: {{command: ["{runner}", "--jitconfig", "{{jitconfig}}"], workDir: {directory / "work"}}}}}
{more}"""
        )
        return path

    # --- webhooks -----------------------------------------------------------------------------------

    def sign(self, body: bytes, secret: str | bytes | None = None) -> str:
        key = secret if secret is not None else self.webhook_secret
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        return "sha256=" + hmac.new(key_bytes, body, hashlib.sha256).hexdigest()

    def webhook_delivery(
        self,
        job: FakeJob | int,
        action: str,
        *,
        secret: str | bytes | None = None,
        delivery_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body GitHub would POST for `job` and `action` (queued, waiting, in_progress,
        completed), signed with the webhook secret (or `secret`), from the job's current state."""
        with self._cond:
            current = self._jobs[job if isinstance(job, int) else job.id]
            item = self._job_json(current)
        account = current.repository.split("/")[0]
        item["status"] = action
        if action in ("queued", "waiting"):
            item.update(runner_id=None, runner_name=None, runner_group_id=None, runner_group_name=None)
            item.update(conclusion=None, completed_at=None)
        elif action == "completed":
            item["conclusion"] = item["conclusion"] or "success"
            item["completed_at"] = item["completed_at"] or _iso(self.server_now())
        payload = {
            "action": action,
            "workflow_job": item,
            "repository": self._repo_json(current.repository),
            "organization": {"login": account, "id": 38302899},
            "sender": {"login": "octocat", "id": 1, "type": "User"},
            "installation": {"id": self.installation_of(account), "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u"},
        }
        if self.owner_type != "Organization":
            del payload["organization"]  # GitHub sends it only for an organization's repositories
        return self._delivery("workflow_job", payload, secret, delivery_id)

    def ping_delivery(self, *, secret: str | bytes | None = None) -> tuple[dict[str, str], bytes]:
        """The ``ping`` GitHub sends when a webhook is created: a delivery that is not a workflow_job."""
        payload = {"zen": "Keep it logically awesome.", "hook_id": 123456, "hook": {"type": "App", "active": True}}
        return self._delivery("ping", payload, secret, None)

    def _delivery(
        self, event: str, payload: dict[str, Any], secret: str | bytes | None, delivery_id: str | None
    ) -> tuple[dict[str, str], bytes]:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        key = secret if secret is not None else self.webhook_secret
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/4f2a7c1",
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Event": event,
            "X-GitHub-Hook-ID": "123456",
            "X-GitHub-Hook-Installation-Target-ID": str(self.app_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-Hub-Signature": "sha1=" + hmac.new(key_bytes, body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": self.sign(body, secret),
        }
        return headers, body

    # --- serving (server threads) --------------------------------------------------------------------

    def _receive(
        self, method: str, raw_path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> _Reply:
        with self._cond:
            path = raw_path[len(self.prefix) :] if raw_path.startswith(self.prefix + "/") else None
            reply = _error(404, "Not Found") if path is None else self._answer(method, path, query, headers, body)
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            answer = None if isinstance(reply.body, bytes) else reply.body
            self._requests.append(
                LoggedRequest(method, path or raw_path, query, headers, body, reply.status, parsed, answer)
            )
            self._cond.notify_all()
            return reply

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if not headers.get("user-agent"):
            return _error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header "
                "(https://docs.github.com/rest/overview/resources-in-the-rest-api#user-agent-required).",
            )
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return _error(400, f"Unsupported 'X-GitHub-Api-Version' header value: {version}")
        for scripted in self._script:
            if scripted.remaining > 0 and (
                scripted.match is None or scripted.match.search(f"{method} {path}") is not None
            ):
                scripted.remaining -= 1
                self._script = [s for s in self._script if s.remaining > 0]
                reply = scripted.reply
                if scripted.echo_authorization:
                    message = f"{reply.body['message']} (you sent {headers.get('authorization')})"
                    reply = replace(reply, body={**reply.body, "message": message})
                return reply
        limited = self._secondary_limit()
        if limited is not None:
            return limited
        app = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if app is not None:
            if method != "POST":
                return _error(404, "Not Found")
            return self._access_token(int(app.group(1)), headers)
        token = self._bearer(headers)
        expires, installation = self._tokens.get(token or "", (None, 0))
        if expires is None or expires <= self.server_now():
            return _error(401, "Bad credentials")
        exhausted = self._spend()
        if exhausted is not None:
            return exhausted
        reply = self._route(method, path, query, body, installation)
        return replace(reply, headers={**self._rate_headers(), **reply.headers})

    def _secondary_limit(self) -> _Reply | None:
        now = self.server_now()
        if self._blocked_until is not None and now < self._blocked_until:
            self.early_requests += 1
            wait = (self._blocked_until - now).total_seconds()
            return _error(
                self._secondary_status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                {"retry-after": str(max(1, int(-(-wait // 1))))},
            )
        if not self._secondary:
            return None
        retry_after = self._secondary.pop(0)
        self._blocked_until = now + timedelta(seconds=60 if retry_after is None else retry_after)
        extra = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return _error(
            self._secondary_status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
            "If you reach out to GitHub Support for help, please include the request ID 1234:5678.",
            extra,
        )

    def _spend(self) -> _Reply | None:
        now = self.server_now()
        if self._reset is None or now >= self._reset:
            self._remaining, self._reset = self._limit, now + timedelta(hours=1)
        if self._remaining <= 0:
            return _error(
                403,
                f"API rate limit exceeded for installation ID {self.installation_id}. If you reach out to "
                "GitHub Support for help, please include the request ID 1234:5678.",
                self._rate_headers(),
            )
        self._remaining -= 1
        return None

    def _rate_headers(self) -> dict[str, str]:
        reset = self._reset or self.server_now() + timedelta(hours=1)
        return {
            "x-ratelimit-limit": str(self._limit),
            "x-ratelimit-remaining": str(self._remaining),
            "x-ratelimit-used": str(self._limit - self._remaining),
            "x-ratelimit-reset": str(int(reset.timestamp())),
            "x-ratelimit-resource": "core",
        }

    @staticmethod
    def _bearer(headers: Mapping[str, str]) -> str | None:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        return credential.strip() if scheme.lower() in ("bearer", "token") and credential.strip() else None

    def _access_token(self, installation_id: int, headers: Mapping[str, str]) -> _Reply:
        problem = self._jwt_problem(self._bearer(headers))
        if problem is not None:
            return _error(401, problem)
        if installation_id not in self._installations:
            return _error(404, "Not Found")
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = (self.server_now() + self.token_ttl).replace(microsecond=0)
        self._tokens[token] = (expires, installation_id)
        self.tokens_issued += 1
        return _Reply(
            201,
            {
                "token": token,
                "expires_at": _iso(expires),
                "permissions": dict(self.permissions),
                "repository_selection": "all",
            },
        )

    def _jwt_problem(self, token: str | None) -> str | None:
        """What GitHub would say about this app JWT, or None when it is good."""
        if token is None:
            return "A JSON web token could not be decoded"
        try:
            if jwt.get_unverified_header(token).get("alg") != "RS256":
                return "A JSON web token could not be decoded"
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                # Times are checked below against the fake's clock, not this machine's.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_iss": False},
            )
        except jwt.PyJWTError:
            return "A JSON web token could not be decoded"
        now = self.server_now().timestamp()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not isinstance(iat, int) or iat > now:
            return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        if not isinstance(exp, int | float) or exp <= now:
            return (
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
                "the assertion expires"
            )
        if exp > now + JWT_MAX_LIFETIME_S:
            return "'Expiration time' claim ('exp') is too far in the future"
        if str(iss) != str(self.app_id):
            return "'Issuer' claim ('iss') must be an Integer"
        return None

    # --- routes -------------------------------------------------------------------------------------

    def _sees(self, installation: int, repository: str) -> bool:
        """Whether a token of `installation` may see `repository` (see the module docstring)."""
        owner = repository.split("/")[0].lower()
        if self._installations[installation].lower() == owner:
            return True
        return installation == self.installation_id and all(
            account.lower() != owner for account in self._installations.values()
        )

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes, installation: int) -> _Reply:
        """`installation`: whose token the request carries (it sees only its own account)."""
        account = self._installations[installation]
        if path == "/installation/repositories" and method == "GET":
            mine = [name for name in self._repositories if self._sees(installation, name)]
            repos = [self._repo_json(name) for name in mine]
            return self._page(path, query, "repositories", repos, {"repository_selection": "all"})
        repo_match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)", path)
        if repo_match is not None:
            repo = self._known_repo(f"{repo_match.group(1)}/{repo_match.group(2)}")
            if repo is None or not self._sees(installation, repo):
                return _error(404, "Not Found")
            rest = repo_match.group(3)
            if rest == "/actions/runs" and method == "GET":
                return self._runs(path, repo, query)
            runs_jobs = re.fullmatch(r"/actions/runs/(\d+)/jobs", rest)
            if runs_jobs is not None and method == "GET":
                return self._run_jobs(path, repo, int(runs_jobs.group(1)), query)
            one_job = re.fullmatch(r"/actions/jobs/(\d+)", rest)
            if one_job is not None and method == "GET":
                job = self._jobs.get(int(one_job.group(1)))
                if job is None or job.repository != repo:
                    return _error(404, "Not Found")
                return _Reply(200, self._job_json(job))
            if rest.startswith("/actions/runners"):
                return self._runners_route(method, path, repo, rest[len("/actions/runners") :], query, body)
            if rest == "/check-runs" and method == "POST":
                return self._create_check_run(repo, body)
            return _error(404, "Not Found")
        org_match = re.fullmatch(r"/orgs/([^/]+)/actions/runners(.*)", path)
        if org_match is not None:
            if org_match.group(1).lower() != account.lower() or self.owner_type != "Organization":
                return _error(404, "Not Found")
            return self._runners_route(method, path, account, org_match.group(2), query, body)
        return _error(404, "Not Found")

    def _runs(self, path: str, repo: str, query: dict[str, list[str]]) -> _Reply:
        wanted = query["status"][0] if query.get("status") else None
        runs: dict[int, list[FakeJob]] = {}
        for job in self._jobs.values():
            if job.repository == repo:
                runs.setdefault(job.run_id, []).append(job)
        items = [self._run_json(run_id, jobs) for run_id, jobs in sorted(runs.items(), reverse=True)]
        if wanted is not None:
            items = [r for r in items if r["status"] == wanted or r["conclusion"] == wanted]
        return self._page(path, query, "workflow_runs", items)

    def _run_jobs(self, path: str, repo: str, run_id: int, query: dict[str, list[str]]) -> _Reply:
        if (query.get("filter") or ["latest"])[0] not in ("latest", "all"):
            return _error(422, "Invalid value for filter")
        jobs = [j for j in self._jobs.values() if j.run_id == run_id and j.repository == repo]
        if not jobs:
            return _error(404, "Not Found")
        return self._page(path, query, "jobs", [self._job_json(j) for j in sorted(jobs, key=lambda j: j.id)])

    def _runners_route(
        self, method: str, path: str, scope: str, rest: str, query: dict[str, list[str]], body: bytes
    ) -> _Reply:
        if rest == "" and method == "GET":
            name = query["name"][0] if query.get("name") else None
            runners = [r for r in self._runners.values() if r.scope == scope and (name is None or r.name == name)]
            return self._page(
                path, query, "runners", [self._runner_json(r) for r in sorted(runners, key=lambda r: r.id)]
            )
        if rest == "/generate-jitconfig" and method == "POST":
            return self._generate_jitconfig(scope, body)
        one = re.fullmatch(r"/(\d+)", rest)
        if one is not None and method == "DELETE":
            runner = self._runners.get(int(one.group(1)))
            if runner is None or runner.scope != scope:
                return _error(404, "Not Found")
            refusal = self.removal_refusals.get(runner.name)
            if refusal is not None:
                return _Reply(422, {"message": refusal[0], "documentation_url": DOCS, "errors": list(refusal[1])})
            if runner.busy:
                return _error(422, f'Bad request - Runner "{runner.name}" is still running a job"')
            del self._runners[runner.id]
            return _Reply(204)
        return _error(404, "Not Found")

    def _generate_jitconfig(self, scope: str, body: bytes) -> _Reply:
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "Problems parsing JSON")
        if not isinstance(data, dict):
            return _error(400, "Problems parsing JSON")
        name, group, labels = data.get("name"), data.get("runner_group_id"), data.get("labels")
        work_folder = data.get("work_folder", "_work")
        if not isinstance(name, str) or not name:
            return _error(422, 'Invalid request.\n\n"name" wasn\'t supplied.')
        if isinstance(group, bool) or not isinstance(group, int):
            return _error(422, "Invalid input: object is missing required key: runner_group_id")
        if not isinstance(labels, list) or not 1 <= len(labels) <= 100 or not all(isinstance(x, str) for x in labels):
            return _error(422, "Invalid request.\n\nlabels must have between 1 and 100 strings.")
        if not isinstance(work_folder, str):
            return _error(422, "Invalid request.\n\nwork_folder must be a string.")
        if group not in self.runner_groups:
            return _error(404, "Not Found")
        if any(r.scope == scope and r.name.lower() == name.lower() for r in self._runners.values()):
            return _error(409, "Already exists - A runner with the name already exists.")
        runner_id = next(self._ids)
        secret = json.dumps({"runner_id": runner_id, "name": name, "credential": secrets.token_hex(16)})
        config = base64.b64encode(secret.encode("utf-8")).decode("ascii")
        custom = tuple(dict.fromkeys(x for x in labels if x.lower() != "self-hosted"))
        runner = FakeRunner(
            runner_id, name, scope, custom, runner_group_id=group, jit_config=config, work_folder=work_folder
        )
        self._runners[runner_id] = runner
        return _Reply(201, {"runner": self._runner_json(runner), "encoded_jit_config": config})

    def _create_check_run(self, repo: str, body: bytes) -> _Reply:
        """As GitHub validates it (https://docs.github.com/rest/checks/runs#create-a-check-run)."""
        if self.permissions.get("checks") != "write":
            return _Reply(
                403,
                {
                    "message": "Resource not accessible by integration",
                    "documentation_url": f"{DOCS}/checks/runs#create-a-check-run",
                    "status": "403",
                },
            )
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "Problems parsing JSON")
        if not isinstance(data, dict):
            return _error(400, "Problems parsing JSON")
        name, head_sha = data.get("name"), data.get("head_sha")
        if not isinstance(name, str) or not name:
            return _error(422, 'Invalid request.\n\n"name" wasn\'t supplied.')
        if not isinstance(head_sha, str) or not head_sha:
            return _error(422, 'Invalid request.\n\n"head_sha" wasn\'t supplied.')
        if not any(j.repository == repo and j.head_sha == head_sha for j in self._jobs.values()):
            return _error(422, f"No commit found for SHA: {head_sha}")
        status, conclusion = data.get("status", "queued"), data.get("conclusion")
        completed_at = data.get("completed_at")
        if status not in CHECK_RUN_STATUSES:
            return _error(422, f"Invalid request.\n\n{status!r} is not a valid status.")
        if conclusion is not None and conclusion not in CHECK_RUN_CONCLUSIONS:
            return _error(422, f"Invalid request.\n\n{conclusion!r} is not a valid conclusion.")
        if conclusion is not None:
            status = "completed"  # GitHub: giving a conclusion completes the check run
        if status == "completed" and conclusion is None:
            return _error(422, "Invalid request.\n\nconclusion is required when status is completed.")
        when = None
        if completed_at is not None:
            when = _parse_iso(completed_at)
            if when is None:
                return _error(422, f"Invalid request.\n\n{completed_at!r} is not a valid date-time.")
        output = data.get("output")
        title = summary = text = None
        if output is not None:
            if not isinstance(output, dict):
                return _error(422, "Invalid request.\n\nFor 'properties/output', it is not an object.")
            title, summary, text = output.get("title"), output.get("summary"), output.get("text")
            if not isinstance(title, str) or not isinstance(summary, str):
                return _error(422, "Invalid request.\n\noutput needs a title and a summary.")
            if text is not None and not isinstance(text, str):
                return _error(422, "Invalid request.\n\noutput.text is not a string.")
            if len(summary) > CHECK_RUN_TEXT_MAX or len(text or "") > CHECK_RUN_TEXT_MAX:
                return _error(422, "Invalid request.\n\nOnly 65535 characters are allowed in summary and text.")
        now = self.server_now()
        run = FakeCheckRun(
            id=next(self._ids),
            repository=repo,
            head_sha=head_sha,
            name=name,
            status=status,
            conclusion=conclusion,
            started_at=now,
            completed_at=(when or now) if status == "completed" else None,
            title=title,
            summary=summary,
            text=text,
            external_id=_string_or_none(data.get("external_id")),
            details_url=_string_or_none(data.get("details_url")),
        )
        self._check_runs.append(run)
        return _Reply(201, self._check_run_json(run))

    def _page(
        self,
        path: str,
        query: dict[str, list[str]],
        key: str,
        items: list[dict[str, Any]],
        extra: Mapping[str, Any] | None = None,
    ) -> _Reply:
        try:
            per_page = min(100, max(1, int((query.get("per_page") or ["30"])[0])))
            page = max(1, int((query.get("page") or ["1"])[0]))
        except ValueError:
            return _error(422, "Invalid pagination parameters")
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page < last:

            def link(n: int) -> str:
                params = {k: v[0] for k, v in query.items()} | {"per_page": str(per_page), "page": str(n)}
                return f"<{self.link_base or self.api_url}{path}?{urlencode(params)}>"

            headers["link"] = f'{link(page + 1)}; rel="next", {link(last)}; rel="last"'
        return _Reply(200, {"total_count": len(items), **(extra or {}), key: chunk}, headers)

    # --- JSON shapes (after GitHub's documented examples) ---------------------------------------------

    def _known_repo(self, full_name: str) -> str | None:
        for name in self._repositories:
            if name.lower() == full_name.lower():
                return name
        return None

    def _covers(self, scope: str, repository: str) -> bool:
        return scope.lower() == repository.lower() or scope.lower() == repository.split("/")[0].lower()

    def _runner_named(self, name: str | None) -> FakeRunner | None:
        return next((r for r in self._runners.values() if r.name == name), None)

    def _repo_json(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {
            "id": self._repositories.get(full_name, 1),
            "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
            "name": name,
            "full_name": full_name,
            "private": True,
            "owner": {"login": owner, "id": 38302899, "type": self.owner_type},
            "html_url": f"https://github.com/{full_name}",
            "url": f"{self.api_url}/repos/{full_name}",
            "default_branch": "main",
        }

    def _run_json(self, run_id: int, jobs: list[FakeJob]) -> dict[str, Any]:
        statuses = {j.status for j in jobs}
        if statuses == {"completed"}:
            status = "completed"
            conclusions = {j.conclusion for j in jobs}
            conclusion = next((c for c in ("failure", "cancelled") if c in conclusions), "success")
        elif statuses <= {"queued"}:
            status, conclusion = "queued", None
        elif statuses <= {"queued", "waiting"}:
            status, conclusion = "waiting", None
        else:
            status, conclusion = "in_progress", None
        first = min(jobs, key=lambda j: j.id)
        repo = first.repository
        return {
            "id": run_id,
            "name": first.workflow_name,
            "node_id": "WFR_kwLOBsPBTs8AAAAB",
            "head_branch": first.head_branch,
            "head_sha": first.head_sha,
            "run_number": run_id % 1000,
            "run_attempt": first.run_attempt,
            "event": "push",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": 159038,
            "url": f"{self.api_url}/repos/{repo}/actions/runs/{run_id}",
            "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
            "jobs_url": f"{self.api_url}/repos/{repo}/actions/runs/{run_id}/jobs",
            "created_at": _iso(first.created_at),
            "updated_at": _iso(self.server_now()),
            "run_started_at": _iso(first.created_at),
            "repository": self._repo_json(repo),
        }

    def _job_json(self, job: FakeJob) -> dict[str, Any]:
        repo = job.repository
        return {
            "id": job.id,
            "run_id": job.run_id,
            "workflow_name": job.workflow_name,
            "head_branch": job.head_branch,
            "run_url": f"{self.api_url}/repos/{repo}/actions/runs/{job.run_id}",
            "run_attempt": job.run_attempt,
            "node_id": "CR_kwDOABCDEF8AAAABCDEF",
            "head_sha": job.head_sha,
            "url": f"{self.api_url}/repos/{repo}/actions/jobs/{job.id}",
            "html_url": f"https://github.com/{repo}/actions/runs/{job.run_id}/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "completed_at": _iso(job.completed_at),
            "name": job.name,
            "steps": [],
            "check_run_url": f"{self.api_url}/repos/{repo}/check-runs/{job.id}",
            "labels": list(job.labels),
            "runner_id": job.runner_id,
            "runner_name": job.runner_name,
            "runner_group_id": job.runner_group_id,
            "runner_group_name": self.runner_groups.get(job.runner_group_id) if job.runner_group_id else None,
        }

    def _check_run_json(self, run: FakeCheckRun) -> dict[str, Any]:
        repo = run.repository
        return {
            "id": run.id,
            "head_sha": run.head_sha,
            "node_id": "CR_kwDOABCDEF8AAAAB",
            "external_id": run.external_id or "",
            "url": f"{self.api_url}/repos/{repo}/check-runs/{run.id}",
            "html_url": f"https://github.com/{repo}/runs/{run.id}",
            "details_url": run.details_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": _iso(run.started_at),
            "completed_at": _iso(run.completed_at),
            "output": {
                "title": run.title,
                "summary": run.summary,
                "text": run.text,
                "annotations_count": 0,
                "annotations_url": f"{self.api_url}/repos/{repo}/check-runs/{run.id}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": 5},
            "app": {"id": self.app_id, "slug": "sengu", "name": "sengu"},
            "pull_requests": [],
        }

    def _runner_json(self, runner: FakeRunner) -> dict[str, Any]:
        labels = [{"id": 1, "name": "self-hosted", "type": "read-only"}]
        labels += [{"id": 100 + i, "name": name, "type": "custom"} for i, name in enumerate(runner.labels)]
        return {
            "id": runner.id,
            "name": runner.name,
            "os": runner.os,
            "status": runner.status,
            "busy": runner.busy,
            "ephemeral": True,
            "runner_group_id": runner.runner_group_id,
            "labels": labels,
        }
