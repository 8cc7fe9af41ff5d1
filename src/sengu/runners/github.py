"""The GitHub API as runners need it: one GitHub App installation, its queued jobs and its runners.

Authentication (https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app):
the app signs a JWT with its private key (RS256; ``iss`` the app id, ``iat`` 60 s in the past, ``exp`` at
most 10 minutes ahead) and trades it at ``POST /app/installations/{id}/access_tokens`` for an
installation token that lasts an hour. The token is cached and renewed 5 minutes before it expires, so
a request never goes out with a token about to lapse. Clocks disagree: the JWT spans [now - 60 s,
now + 540 s], which tolerates a GitHub clock up to 60 s behind ours or 9 minutes ahead, and when GitHub
still refuses a JWT for its times, its ``Date`` header tells how far off we are and the next JWT is
corrected by that much (as Octokit does).

Endpoints used (REST API version 2022-11-28):

- ``GET /installation/repositories``, then per repository ``GET /repos/{o}/{r}/actions/runs?status=…``
  and ``GET /repos/{o}/{r}/actions/runs/{run_id}/jobs``: there is no organization-wide list of queued
  jobs. Runs are listed both ``queued`` and ``in_progress``, because a later job of a run whose first
  job already started waits in a run that is in progress.
- ``GET /repos/{o}/{r}/actions/jobs/{job_id}``.
- ``POST /repos/{o}/{r}/check-runs`` (https://docs.github.com/rest/checks/runs#create-a-check-run): a
  completed check run on a commit, to tell a job's author why it got no runner. The app needs the
  ``checks: write`` permission; without it GitHub answers 403 "Resource not accessible by integration"
  (`MissingPermission`).
- ``POST {scope}/actions/runners/generate-jitconfig`` → 201 ``{runner, encoded_jit_config}``; 409 when the
  name is taken (`NameCollision`: retry with another name).
- ``GET {scope}/actions/runners`` and ``DELETE {scope}/actions/runners/{id}`` (404: already gone; 422 saying
  the runner "is still running a job": `RunnerBusy`, try later; any other 422 is a validation failure,
  `RunnerNotRemovable`, not worth retrying), where a scope is an organization (``/orgs/{org}``) or a
  repository (``/repos/{owner}/{repo}``).

Rate limits (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api): a 403 or 429
with ``retry-after`` waits that many seconds; with ``x-ratelimit-remaining: 0`` it waits until
``x-ratelimit-reset``; a secondary limit without either waits a minute, doubling each time. A wait longer
than ``max_wait_s``, or one more than ``max_attempts`` allow, raises `RateLimited` with the time to come
back, and until then no request is sent (GitHub may ban an integration that keeps sending). Requests are
made one at a time, as GitHub asks, and `budget` reports the primary limit left, for metrics.

GitHub Enterprise Server: ``api_url`` is ``https://HOST/api/v3``; every path is relative to it. Its own CA
is trusted with ``ca_file`` (added to the usual ones), and proxies come from the environment as httpx reads
it (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY; SSL_CERT_FILE when there is no ``ca_file``).

Secrets: the private key, the JWT, installation tokens and JIT configs live in `Secret` objects or in
headers, never in a URL, and are masked out of every error message this module makes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import ssl
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote, urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from sengu import __version__
from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Failure, UserError
from sengu.core.notify import Secret

__all__ = [
    "API_VERSION",
    "TOKEN_RENEW_BEFORE",
    "GitHubApp",
    "GitHubAuthError",
    "GitHubError",
    "JitConfig",
    "MissingPermission",
    "NameCollision",
    "QueuedJob",
    "RateBudget",
    "RateLimited",
    "Runner",
    "RunnerBusy",
    "RunnerNotRemovable",
    "WorkflowJob",
]

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
TOKEN_RENEW_BEFORE = timedelta(minutes=5)
JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=10)
SECONDARY_WAIT_S = 60.0  # GitHub: "wait for at least one minute" when a secondary limit names no time
SKEW_TOLERANCE = timedelta(seconds=30)
PER_PAGE = 100
MAX_PAGES = 100
_MASK = "***"
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_BUSY = re.compile(r"still running a job", re.IGNORECASE)  # GitHub's words for a runner it will not remove
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
CHECK_RUN_TEXT_MAX = 65535  # characters, for a check run's output.summary and output.text
CHECK_RUN_CONCLUSIONS = frozenset(
    {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}
)


# --------------------------------------------------------------------------------------------------
# What comes back


@dataclass(frozen=True)
class RateBudget:
    """The primary rate limit as GitHub last reported it (``x-ratelimit-*`` headers)."""

    remaining: int
    limit: int | None
    reset: datetime | None
    resource: str | None


@dataclass(frozen=True)
class WorkflowJob:
    """A workflow job as the REST API shows it."""

    id: int
    run_id: int
    run_attempt: int
    repository: str  # owner/name
    name: str | None
    labels: tuple[str, ...]
    status: str  # queued, in_progress, completed, waiting, requested, pending
    conclusion: str | None
    runner_id: int | None
    runner_name: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    html_url: str | None
    head_sha: str | None = None  # the commit the run is for: where a check run about the job goes
    workflow_name: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.id, self.run_attempt)


QueuedJob = WorkflowJob
"""What `GitHubApp.queued_jobs` returns: workflow jobs whose status is ``queued``."""


@dataclass(frozen=True)
class Runner:
    """A self-hosted runner registered with GitHub."""

    id: int
    name: str
    status: Literal["online", "offline"]
    busy: bool
    labels: tuple[str, ...]
    os: str | None = None
    runner_group_id: int | None = None
    ephemeral: bool | None = None


@dataclass(frozen=True)
class JitConfig:
    """A just-in-time runner registration: give `encoded_jit_config` to ``run.sh --jitconfig``.

    The config is a credential (it lets one runner join and take a job), so it is kept as a Secret.
    """

    runner: Runner
    encoded_jit_config: Secret


# --------------------------------------------------------------------------------------------------
# Errors


class GitHubError(Failure):
    """GitHub refused or failed a request. The message names the request, never a credential."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class GitHubAuthError(GitHubError):
    """The app could not authenticate: wrong app id, key or installation, or the app was uninstalled."""


class NameCollision(GitHubError):
    """A runner with this name already exists in the scope (409): register under another name."""

    def __init__(self, message: str, *, name: str):
        super().__init__(message, status=409)
        self.name = name


class RunnerBusy(GitHubError):
    """The runner is running a job and GitHub will not remove it (422)."""

    def __init__(self, message: str, *, runner_id: int):
        super().__init__(message, status=422)
        self.runner_id = runner_id


class RunnerNotRemovable(GitHubError):
    """GitHub refused to remove the runner for a reason other than a job it runs (422 "Validation Failed" and
    the like): asking again will not help, so the caller should not retry; `reason` is GitHub's message."""

    def __init__(self, message: str, *, runner_id: int, reason: str):
        super().__init__(message, status=422)
        self.runner_id = runner_id
        self.reason = reason


class MissingPermission(GitHubError):
    """The app's installation lacks a permission the request needs (403 "Resource not accessible by
    integration"); `permission` names it as GitHub's app settings do, e.g. ``checks:write``."""

    def __init__(self, message: str, *, permission: str):
        super().__init__(message, status=403)
        self.permission = permission


class RateLimited(GitHubError):
    """GitHub asks us to wait until `retry_at` (UTC), longer than this client waits by itself."""

    def __init__(self, message: str, *, retry_at: datetime, status: int | None = None):
        super().__init__(message, status=status)
        self.retry_at = retry_at


# --------------------------------------------------------------------------------------------------
# The client


class GitHubApp:
    """An async client for one installation of a GitHub App.

    Pass an `httpx.AsyncClient` to share a connection pool (it is then not closed here); otherwise one is
    made on first use and closed by `aclose` or ``async with``.
    """

    def __init__(
        self,
        api_url: str,
        app_id: int | str,
        installation_id: int,
        private_key: Secret,
        clock: Clock = SYSTEM_CLOCK,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_wait_s: float = 60.0,
        ca_file: str | None = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._verify = _tls_context(ca_file) if ca_file is not None else None
        self._ca_file = ca_file
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"github.apiUrl must be an http(s) URL such as https://api.github.com, not {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc.lower())
        self.app_id = app_id
        self.installation_id = installation_id
        self._key = _load_key(private_key)
        self._clock = clock
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_wait_s = max_wait_s
        self._token: tuple[Secret, datetime] | None = None
        self._token_lock = asyncio.Lock()
        self._request_lock = asyncio.Lock()
        self._offset = timedelta(0)  # GitHub's clock minus ours, once we have seen it disagree
        self._blocked_until: datetime | None = None
        self._secondary_hits = 0
        # Credentials to mask in messages: the ones in use, and a bounded number of recent ones (a pool makes
        # a JIT config per job, so remembering them all would grow without end).
        self._last_jwt: str | None = None
        self._recent: deque[str] = deque(maxlen=16)
        self.budget: RateBudget | None = None

    def __repr__(self) -> str:
        return f"<GitHubApp {self.api_url} app={self.app_id} installation={self.installation_id}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def clock_offset(self) -> timedelta:
        """How far GitHub's clock is ahead of ours, as far as this client has had to correct for it."""
        return self._offset

    # --- authentication ---------------------------------------------------------------------------

    def app_jwt(self) -> Secret:
        """A fresh JWT for the app itself (``Authorization: Bearer`` on ``/app`` endpoints)."""
        now = self._github_now()
        claims = {
            "iat": int((now - JWT_BACKDATE).timestamp()),
            "exp": int((now - JWT_BACKDATE + JWT_LIFETIME).timestamp()),
            "iss": str(self.app_id),
        }
        token = jwt.encode(claims, self._key, algorithm="RS256")
        self._last_jwt = token
        return Secret(token)

    async def installation_token(self) -> Secret:
        """The installation token, from the cache until 5 minutes before it expires."""
        cached = self._token
        if cached is not None and self._github_now() < cached[1] - TOKEN_RENEW_BEFORE:
            return cached[0]
        async with self._token_lock:
            cached = self._token  # another task may have renewed it while we waited
            if cached is not None and self._github_now() < cached[1] - TOKEN_RENEW_BEFORE:
                return cached[0]
            self._token = await self._new_installation_token()
            return self._token[0]

    async def _new_installation_token(self) -> tuple[Secret, datetime]:
        path = f"/app/installations/{int(self.installation_id)}/access_tokens"
        corrected = False
        while True:
            before = self._offset
            response = await self._send("POST", path, auth="jwt")
            if response.status_code == 201:
                break
            if response.status_code == 401 and not corrected and self._correct_clock(response, before):
                corrected = True
                continue
            message = self._describe(response)
            if response.status_code in (401, 403, 404):
                raise GitHubAuthError(
                    f"GitHub refused the app's credentials for installation {self.installation_id} "
                    f"(HTTP {response.status_code}: {message}); check appId, installationId and the private key",
                    status=response.status_code,
                )
            raise self._error("POST", path, response)
        body = self._json_object(response, "POST", path)
        token, expires = body.get("token"), body.get("expires_at")
        when = _parse_time(expires) if isinstance(expires, str) else None
        if not isinstance(token, str) or not token or when is None:
            raise GitHubError(f"GitHub POST {path}: the answer has no token or expires_at", status=201)
        self._recent.append(token)
        return Secret(token), when

    def _correct_clock(self, response: httpx.Response, used: timedelta) -> bool:
        """Adopt GitHub's clock from a refused JWT's ``Date``: True when it differs from the offset `used`
        to make that JWT, so a new JWT may fare better."""
        server = _parse_http_date(response.headers.get("date"))
        if server is None:
            return False
        offset = server - self._clock.now()
        if abs(offset - used) < timedelta(seconds=2):
            return False
        log.warning(
            "GitHub refused the app JWT; its clock is %.0f s %s ours, correcting for that",
            abs(offset.total_seconds()), "ahead of" if offset > timedelta(0) else "behind",
        )  # fmt: skip
        self._offset = offset
        return True

    def _github_now(self) -> datetime:
        return self._clock.now() + self._offset

    # --- jobs ----------------------------------------------------------------------------------------

    async def queued_jobs(self, owner: str | None = None, repositories: Sequence[str] | None = None) -> list[QueuedJob]:
        """Jobs waiting for a runner in `repositories`, or else in the installation's repositories of `owner`,
        or else in all the installation's repositories; oldest first.

        A repository that cannot be read (deleted, or no longer shared with the app) is logged and skipped,
        so one lost repository does not blind the reconciler to the others.
        """
        if repositories is not None:
            repos = [_repo(r) for r in repositories]
        else:
            repos = await self.installation_repositories()
            if owner is not None:
                repos = [r for r in repos if r.split("/")[0].lower() == owner.lower()]
        jobs: dict[int, WorkflowJob] = {}
        for repo in repos:
            try:
                for job in await self._queued_jobs_in(repo):
                    jobs[job.id] = job
            except GitHubError as exc:
                if isinstance(exc, RateLimited) or exc.status not in (403, 404):
                    raise
                log.warning("cannot list queued jobs of %s: %s", repo, exc)
        return sorted(jobs.values(), key=lambda j: (j.created_at or datetime.max.replace(tzinfo=UTC), j.id))

    async def installation_repositories(self) -> list[str]:
        """The full names of the repositories the installation can see."""
        items = await self._paginate("/installation/repositories", {}, "repositories")
        names = [item.get("full_name") for item in items]
        return [name for name in names if isinstance(name, str)]

    async def _queued_jobs_in(self, repo: str) -> list[WorkflowJob]:
        base = _repo_path(repo)
        run_ids: dict[int, None] = {}
        for status in ("queued", "in_progress"):
            for run in await self._paginate(f"{base}/actions/runs", {"status": status}, "workflow_runs"):
                run_id = run.get("id")
                if isinstance(run_id, int):
                    run_ids[run_id] = None
        queued: list[WorkflowJob] = []
        for run_id in run_ids:
            for item in await self._paginate(f"{base}/actions/runs/{run_id}/jobs", {"filter": "latest"}, "jobs"):
                job = _job(item, repo)
                if job is not None and job.status == "queued":
                    queued.append(job)
        return queued

    async def job(self, repo: str, job_id: int) -> WorkflowJob | None:
        """One job, or None when GitHub does not know it (or no longer shows it to the app)."""
        path = f"{_repo_path(_repo(repo))}/actions/jobs/{int(job_id)}"
        response = await self._request("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error("GET", path, response)
        job = _job(self._json_object(response, "GET", path), _repo(repo))
        if job is None:
            raise GitHubError(f"GitHub GET {path}: the answer is not a workflow job", status=200)
        return job

    # --- checks -------------------------------------------------------------------------------------

    async def create_check_run(
        self,
        repo: str,
        *,
        head_sha: str,
        name: str,
        title: str,
        summary: str,
        text: str | None = None,
        conclusion: str = "failure",
        external_id: str | None = None,
    ) -> int:
        """Put a completed check run with this `conclusion` and output on commit `head_sha`; its id.

        Summary and text longer than GitHub takes (65,535 characters) are cut, with a mark, rather than
        refused. Raises MissingPermission when the app may not write checks.
        """
        if conclusion not in CHECK_RUN_CONCLUSIONS:
            raise ValueError(f"a check run's conclusion is one of {sorted(CHECK_RUN_CONCLUSIONS)}, not {conclusion!r}")
        if not name or not head_sha:
            raise ValueError("a check run needs a name and a head_sha")
        path = f"{_repo_path(_repo(repo))}/check-runs"
        output = {"title": title, "summary": _cap(summary)}
        if text is not None:
            output["text"] = _cap(text)
        body: dict[str, Any] = {
            "name": name,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "completed_at": self._github_now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "output": output,
        }
        if external_id is not None:
            body["external_id"] = external_id
        response = await self._request("POST", path, json=body)
        if response.status_code == 403 and "not accessible by integration" in self._message(response):
            raise MissingPermission(
                f"the GitHub App may not create check runs in {repo}: it lacks the checks:write permission. "
                "Give the app 'Checks: Read and write' in its settings and approve the change on the "
                "installation, or turn check runs off (rejections.checkRun: false)",
                permission="checks:write",
            )
        if response.status_code != 201:
            raise self._error("POST", path, response)
        check_id = _int_or_none(self._json_object(response, "POST", path).get("id"))
        if check_id is None:
            raise GitHubError(f"GitHub POST {path}: the answer has no check run id", status=201)
        return check_id

    # --- runners ------------------------------------------------------------------------------------

    async def generate_jitconfig(
        self,
        scope: str,
        name: str,
        labels: Sequence[str],
        runner_group_id: int = 1,
        work_folder: str = "_work",
    ) -> JitConfig:
        """Register a just-in-time runner `name` in `scope` (an organization, or owner/repo).

        Raises NameCollision when the name is taken. A request that GitHub carried out but whose answer
        was lost is retried and then collides with itself: the runner it made never connects, and the
        janitor removes it as an offline runner without compute.
        """
        labels = list(labels)
        if not 1 <= len(labels) <= 100:
            raise ValueError("a JIT runner needs between 1 and 100 labels")
        if not name:
            raise ValueError("a runner needs a name")
        path = f"{_scope_path(scope)}/actions/runners/generate-jitconfig"
        body = {"name": name, "runner_group_id": int(runner_group_id), "labels": labels, "work_folder": work_folder}
        response = await self._request("POST", path, json=body)
        if response.status_code == 409:
            raise NameCollision(
                f"a runner named {name!r} already exists in {scope} ({self._describe(response)})", name=name
            )
        if response.status_code == 404 and "/" not in scope:
            raise GitHubError(
                f"GitHub POST {path} answered HTTP 404: no organization {scope!r} (or no runner group "
                f"{int(runner_group_id)} in it) the app may register runners in. "
                f"If {scope} is a user account, set github.ownerType: user (GitHub has no user runners: each "
                "repository gets its own); else check the installation's 'Self-hosted runners' permission",
                status=404,
            )
        if response.status_code != 201:
            raise self._error("POST", path, response)
        data = self._json_object(response, "POST", path)
        runner, config = _runner(data.get("runner")), data.get("encoded_jit_config")
        if runner is None or not isinstance(config, str) or not config:
            raise GitHubError(f"GitHub POST {path}: the answer has no runner or encoded_jit_config", status=201)
        self._recent.append(config)
        return JitConfig(runner, Secret(config))

    async def list_runners(self, scope: str, name: str | None = None) -> list[Runner]:
        """Every self-hosted runner registered in `scope` (only those called `name`, when given)."""
        params = {} if name is None else {"name": name}
        items = await self._paginate(f"{_scope_path(scope)}/actions/runners", params, "runners")
        runners = [_runner(item) for item in items]
        return [r for r in runners if r is not None]

    async def delete_runner(self, scope: str, runner_id: int) -> bool:
        """Deregister a runner: True when removed now, False when it was already gone.

        GitHub answers 422 both for a runner that is running a job and for a request it finds invalid; its
        message tells them apart ('Bad request - Runner "NAME" is still running a job'). Raises RunnerBusy for
        the first (try again once the job is over) and RunnerNotRemovable for the second (trying again will
        not help).
        """
        path = f"{_scope_path(scope)}/actions/runners/{int(runner_id)}"
        response = await self._request("DELETE", path)
        if response.status_code == 204:
            return True
        if response.status_code == 404:
            return False
        if response.status_code == 422:
            reason = self._describe(response, details=True)
            if _BUSY.search(reason):
                raise RunnerBusy(
                    f"GitHub will not remove runner {runner_id} from {scope} while it runs a job: {reason}",
                    runner_id=int(runner_id),
                )
            raise RunnerNotRemovable(
                f"GitHub refused to remove runner {runner_id} from {scope} (HTTP 422: {reason}); "
                "this is not a busy runner and asking again will not help: remove it in the repository's or "
                "organization's Actions settings",
                runner_id=int(runner_id),
                reason=reason,
            )
        raise self._error("DELETE", path, response)

    # --- transport ----------------------------------------------------------------------------------

    async def _paginate(self, path: str, params: Mapping[str, str], key: str) -> list[dict[str, Any]]:
        """All items of a list endpoint, following ``Link: rel="next"`` (only to GitHub itself)."""
        items: list[dict[str, Any]] = []
        url: str = path
        query: dict[str, str] | None = {**params, "per_page": str(PER_PAGE)}
        for _ in range(MAX_PAGES):
            response = await self._request("GET", url, params=query)
            if response.status_code != 200:
                raise self._error("GET", path, response)
            page = self._json_object(response, "GET", path).get(key)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub GET {path}: the answer has no {key} list", status=200)
            items.extend(item for item in page if isinstance(item, dict))
            following = _next_link(response.headers.get("link"))
            if following is None:
                return items
            nxt = urlsplit(urljoin(str(response.url), following))
            if (nxt.scheme, nxt.netloc.lower()) != self._origin:
                raise GitHubError(f"GitHub GET {path}: a next page on another host ({nxt.netloc}) was not followed")
            url, query = nxt.geturl(), None
        raise GitHubError(f"GitHub GET {path}: more than {MAX_PAGES} pages; refusing to act on a partial list")

    async def _request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """A request with the installation token; a 401 renews the token once and tries again."""
        renewed = False
        while True:
            token = await self.installation_token()
            response = await self._send(method, path, auth=token, json=json, params=params)
            if response.status_code == 401 and not renewed:
                # Revoked or expired early (or our clock runs slow): a new token settles which.
                renewed = True
                self._token = None
                continue
            if response.status_code == 401:
                raise GitHubAuthError(
                    f"GitHub {method} {_short(path)} refused a fresh installation token "
                    f"(HTTP 401: {self._describe(response)}); was the app uninstalled?",
                    status=401,
                )
            return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        auth: Secret | Literal["jwt"],
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One logical request: waits out rate limits and retries 5xx and network errors, boundedly."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        label = f"{method} {_short(path)}"
        async with self._request_lock:
            for attempt in range(1, self._max_attempts + 1):
                await self._wait_if_blocked(label)
                headers = {
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": f"sengu/{__version__}",
                }
                secret = self.app_jwt() if auth == "jwt" else auth
                assert isinstance(secret, Secret)
                headers["Authorization"] = f"Bearer {secret.reveal()}"
                try:
                    response = await self._http().request(
                        method, url, headers=headers, json=json, params=params, timeout=self._timeout
                    )
                except httpx.TransportError as exc:
                    if _untrusted(exc):  # the same certificate tomorrow: trying again will not help
                        raise GitHubError(
                            f"GitHub {label}: the server's TLS certificate is not trusted "
                            f"({self._scrub(str(exc)) or type(exc).__name__}); for GitHub Enterprise Server with "
                            "its own CA, give github.caFile (a PEM file of that CA)"
                            + (f" — {self._ca_file} does not sign it" if self._ca_file else "")
                        ) from None
                    if attempt == self._max_attempts:
                        raise GitHubError(
                            f"GitHub {label}: no answer after {attempt} attempts "
                            f"({type(exc).__name__}: {self._scrub(str(exc)) or 'no detail'})"
                        ) from None
                    await self._clock.sleep(_backoff_s(attempt))
                    continue
                self._observe(response, token_auth=auth != "jwt")
                wait = self._rate_limit_wait(response)
                if wait is not None:
                    retry_at = self._clock.now() + timedelta(seconds=wait)
                    if wait > self._max_wait_s or attempt == self._max_attempts:
                        self._blocked_until = retry_at
                        raise RateLimited(
                            f"GitHub {label} is rate limited (HTTP {response.status_code}: "
                            f"{self._describe(response)}); retry after {retry_at:%Y-%m-%d %H:%M:%S} UTC",
                            retry_at=retry_at,
                            status=response.status_code,
                        )
                    log.warning("GitHub %s is rate limited; waiting %.0f s", label, wait)
                    await self._clock.sleep(wait)
                    continue
                self._secondary_hits = 0
                if response.status_code in _RETRY_STATUSES and attempt < self._max_attempts:
                    log.warning("GitHub %s answered %d; retrying", label, response.status_code)
                    await self._clock.sleep(_backoff_s(attempt))
                    continue
                return response
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    async def _wait_if_blocked(self, label: str) -> None:
        if self._blocked_until is None:
            return
        remaining = (self._blocked_until - self._clock.now()).total_seconds()
        if remaining <= 0:
            self._blocked_until = None
            return
        if remaining > self._max_wait_s:
            raise RateLimited(
                f"GitHub {label} not sent: rate limited until {self._blocked_until:%Y-%m-%d %H:%M:%S} UTC",
                retry_at=self._blocked_until,
            )
        await self._clock.sleep(remaining)
        self._blocked_until = None

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again, when the response is a rate limit; else None."""
        status = response.status_code
        if status not in (403, 429):
            return None
        headers = response.headers
        retry_after = _seconds(headers.get("retry-after"))
        exhausted = headers.get("x-ratelimit-remaining") == "0"
        if status == 403 and retry_after is None and not exhausted and "rate limit" not in self._message(response):
            return None  # a plain permission error: waiting will not help
        if retry_after is not None:
            return retry_after
        reset = _seconds(headers.get("x-ratelimit-reset"))
        if exhausted and reset is not None:
            # Reset is GitHub's epoch time; compare it with GitHub's clock, plus a second for rounding.
            return max(1.0, reset - self._github_now().timestamp() + 1.0)
        self._secondary_hits += 1
        return SECONDARY_WAIT_S * float(2 ** (self._secondary_hits - 1))

    def _observe(self, response: httpx.Response, *, token_auth: bool) -> None:
        server = _parse_http_date(response.headers.get("date"))
        if server is not None:
            offset = server - self._clock.now()
            if abs(offset - self._offset) > SKEW_TOLERANCE:
                self._offset = offset
        remaining = _seconds(response.headers.get("x-ratelimit-remaining"))
        if token_auth and remaining is not None:
            limit = _seconds(response.headers.get("x-ratelimit-limit"))
            reset = _seconds(response.headers.get("x-ratelimit-reset"))
            self.budget = RateBudget(
                remaining=int(remaining),
                limit=None if limit is None else int(limit),
                reset=None if reset is None else datetime.fromtimestamp(reset, UTC),
                resource=response.headers.get("x-ratelimit-resource"),
            )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env (httpx's default, said here because it matters): HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and
            # NO_PROXY choose the proxy; SSL_CERT_FILE / SSL_CERT_DIR replace the trusted CAs when no caFile
            # is given.
            verify: ssl.SSLContext | bool = self._verify if self._verify is not None else True
            self._client = httpx.AsyncClient(timeout=self._timeout, verify=verify, trust_env=True)
        return self._client

    # --- messages -----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        words = set(self._recent)
        if self._token is not None:
            words.add(self._token[0].reveal())
        if self._last_jwt is not None:
            words.add(self._last_jwt)
        for word in sorted(words, key=len, reverse=True):
            text = text.replace(word, _MASK)
        return text

    def _message(self, response: httpx.Response) -> str:
        return self._describe(response).lower()

    def _describe(self, response: httpx.Response, *, details: bool = False) -> str:
        """GitHub's error message (its JSON ``message``, else the body), short and scrubbed; with `details`,
        followed by its ``errors`` (a validation failure says what failed there)."""
        try:
            data = response.json()
        except ValueError:
            data = None
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str):
            text = response.text
        elif details and isinstance(data, dict) and isinstance(data.get("errors"), list):
            more = [_error_text(e) for e in data["errors"]]
            if any(more):
                text = f"{text} ({'; '.join(m for m in more if m)})"
        text = " ".join(text.split())
        if len(text) > 200:
            text = text[:199] + "…"
        return self._scrub(text) or "no message"

    def _error(self, method: str, path: str, response: httpx.Response) -> GitHubError:
        return GitHubError(
            f"GitHub {method} {_short(path)} answered HTTP {response.status_code}: {self._describe(response)}",
            status=response.status_code,
        )

    def _json_object(self, response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GitHubError(f"GitHub {method} {_short(path)}: the answer is not a JSON object")
        return data


# --------------------------------------------------------------------------------------------------
# Parsing and paths


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """The usual trusted CAs (certifi's, or SSL_CERT_FILE's) plus those in `ca_file`: a GitHub Enterprise
    Server behind a private CA, reached through a proxy that may itself present a public certificate."""
    context = httpx.create_ssl_context(trust_env=True)
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError:
        raise UserError(f"github.caFile {ca_file}: no such file") from None
    except (ssl.SSLError, ValueError):
        raise UserError(f"github.caFile {ca_file}: not a PEM file of CA certificates") from None
    except OSError as exc:
        raise UserError(f"github.caFile {ca_file}: cannot read: {exc.strerror}") from None
    return context


def _untrusted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _load_key(private_key: Secret) -> RSAPrivateKey:
    try:
        key = load_pem_private_key(private_key.reveal().encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # `from None`: the cause's text can quote the key material.
        raise UserError("the GitHub App private key is not an unencrypted PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise UserError("the GitHub App private key must be an RSA key (GitHub signs apps with RS256)")
    return key


def _repo(name: str) -> str:
    parts = name.split("/")
    if len(parts) != 2 or not all(_valid_name(p) for p in parts):
        raise ValueError(f"a repository is owner/name, not {name!r}")
    return name


def _valid_name(part: str) -> bool:
    return bool(_NAME.fullmatch(part)) and part not in (".", "..")


def _repo_path(repo: str) -> str:
    owner, name = repo.split("/")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _scope_path(scope: str) -> str:
    """``/orgs/{org}`` for an organization, ``/repos/{owner}/{repo}`` for a repository."""
    if "/" in scope:
        return _repo_path(_repo(scope))
    if not _valid_name(scope):
        raise ValueError(f"a runner scope is an organization or owner/repo, not {scope!r}")
    return f"/orgs/{quote(scope, safe='')}"


def _error_text(item: Any) -> str:
    """One entry of a GitHub error's ``errors``: a string, or an object with a message or a field and code."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        message = item.get("message")
        if isinstance(message, str):
            return message
        return " ".join(str(item[k]) for k in ("resource", "field", "code") if isinstance(item.get(k), str))
    return ""


def _short(path: str) -> str:
    """A path for messages: absolute URLs (next pages) lose their host and query."""
    return urlsplit(path).path if path.startswith(("http://", "https://")) else path


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for part in header.split(","):
        match = _LINK_NEXT.search(part)
        if match:
            return match.group(1)
    return None


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _cap(text: str) -> str:
    if len(text) <= CHECK_RUN_TEXT_MAX:
        return text
    return text[: CHECK_RUN_TEXT_MAX - 1] + "…"


def _backoff_s(attempt: int) -> float:
    return float(min(30, 2 ** (attempt - 1)))


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str))


def _job(item: Mapping[str, Any], repo: str) -> WorkflowJob | None:
    job_id, run_id = _int_or_none(item.get("id")), _int_or_none(item.get("run_id"))
    status = item.get("status")
    if job_id is None or run_id is None or not isinstance(status, str):
        return None
    labels = item.get("labels")
    return WorkflowJob(
        id=job_id,
        run_id=run_id,
        run_attempt=_int_or_none(item.get("run_attempt")) or 1,
        repository=repo,
        name=_str_or_none(item.get("name")),
        labels=_strings(labels) if isinstance(labels, list) else (),
        status=status,
        conclusion=_str_or_none(item.get("conclusion")),
        runner_id=_int_or_none(item.get("runner_id")) or None,
        runner_name=_str_or_none(item.get("runner_name")) or None,
        created_at=_parse_time(item.get("created_at")),
        started_at=_parse_time(item.get("started_at")),
        completed_at=_parse_time(item.get("completed_at")),
        html_url=_str_or_none(item.get("html_url")),
        head_sha=_str_or_none(item.get("head_sha")) or None,
        workflow_name=_str_or_none(item.get("workflow_name")) or None,
    )


def _runner(item: Any) -> Runner | None:
    if not isinstance(item, dict):
        return None
    runner_id, name = _int_or_none(item.get("id")), item.get("name")
    if runner_id is None or not isinstance(name, str):
        return None
    labels = item.get("labels")
    names = [label.get("name") if isinstance(label, dict) else label for label in labels or []]
    ephemeral = item.get("ephemeral")
    return Runner(
        id=runner_id,
        name=name,
        status="online" if item.get("status") == "online" else "offline",
        busy=item.get("busy") is True,
        labels=_strings(names),
        os=_str_or_none(item.get("os")),
        runner_group_id=_int_or_none(item.get("runner_group_id")),
        ephemeral=ephemeral if isinstance(ephemeral, bool) else None,
    )
