"""The GitHub App client against a real local fake of GitHub's API (tests/fakes/github.py)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import pytest

from sengu.core.clock import FakeClock
from sengu.core.errors import UserError
from sengu.core.notify import Secret
from sengu.runners.github import (
    GitHubApp,
    GitHubAuthError,
    GitHubError,
    MissingPermission,
    NameCollision,
    RateLimited,
    RunnerBusy,
    RunnerNotRemovable,
)
from tests.fakes.github import FakeGitHub, new_private_key_pem

T = TypeVar("T")

LABELS = ["self-hosted", "sengu", "cpu-2"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class SteppingClock(FakeClock):
    """A FakeClock whose sleep records the wait and moves time on by it, so nothing really waits."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def gh(clock: SteppingClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(now=clock.now) as fake:
        yield fake


def make_app(gh: FakeGitHub, clock: FakeClock, **kwargs: Any) -> GitHubApp:
    options: dict[str, Any] = {"private_key": Secret(gh.private_key_pem), **kwargs}
    return GitHubApp(gh.api_url, gh.app_id, gh.installation_id, clock=clock, **options)


def error_text(exc: BaseException) -> str:
    """Everything an exception would show in a log: str, repr, and its chained causes."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(parts)


def token_posts(gh: FakeGitHub) -> int:
    return len(gh.requests_to("POST", r"/app/installations/\d+/access_tokens"))


# --------------------------------------------------------------------------------------------------
# Authentication


def test_app_jwt_is_rs256_issued_a_minute_ago_and_lives_ten_minutes(gh: FakeGitHub, clock: SteppingClock) -> None:
    app = make_app(gh, clock)
    token = app.app_jwt().reveal()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, gh.public_key, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})
    now = int(clock.now().timestamp())
    assert claims == {"iss": str(gh.app_id), "iat": now - 60, "exp": now + 540}


def test_installation_token_is_cached_until_five_minutes_before_it_expires(
    gh: FakeGitHub, clock: SteppingClock
) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            first = await app.installation_token()
            assert (await app.installation_token()).reveal() == first.reveal()
            await app.list_runners("my-org")
            clock.advance(54 * 60 + 59)  # the fake's tokens last an hour
            assert (await app.installation_token()).reveal() == first.reveal()
            assert token_posts(gh) == 1
            clock.advance(2)  # now 55 min 01 s after issue: inside the last five minutes
            second = await app.installation_token()
            assert second.reveal() != first.reveal()
            assert token_posts(gh) == 2
            await app.list_runners("my-org")  # and the fake accepts the new one

    run(scenario())
    assert all(r.status in (200, 201) for r in gh.requests)


def test_concurrent_callers_share_one_token_request(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await asyncio.gather(*(app.list_runners("my-org") for _ in range(5)))

    run(scenario())
    assert token_posts(gh) == 1
    assert gh.tokens_issued == 1


def test_a_revoked_token_is_replaced_once(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.list_runners("my-org")
            gh.revoke_tokens()
            assert await app.list_runners("my-org") == []

    run(scenario())
    statuses = [(r.method, r.status) for r in gh.requests]
    assert statuses == [("POST", 201), ("GET", 200), ("GET", 401), ("POST", 201), ("GET", 200)]


def test_a_fresh_token_refused_again_is_an_auth_error(gh: FakeGitHub, clock: SteppingClock) -> None:
    gh.fail_next(2, 401, "Bad credentials", match=r"^GET /orgs/")

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.list_runners("my-org")

    with pytest.raises(GitHubAuthError, match="refused a fresh installation token") as caught:
        run(scenario())
    assert caught.value.status == 401
    assert token_posts(gh) == 2


def test_a_key_github_does_not_know_is_an_auth_error_naming_the_settings(gh: FakeGitHub, clock: SteppingClock) -> None:
    other_key = new_private_key_pem()

    async def scenario() -> None:
        async with make_app(gh, clock, private_key=Secret(other_key)) as app:
            await app.queued_jobs(owner="my-org")

    with pytest.raises(GitHubAuthError, match="appId, installationId and the private key") as caught:
        run(scenario())
    text = error_text(caught.value)
    assert "could not be decoded" in text
    assert "PRIVATE KEY" not in text and other_key.splitlines()[1] not in text


def test_an_unknown_installation_is_an_auth_error(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        app = GitHubApp(gh.api_url, gh.app_id, 999, Secret(gh.private_key_pem), clock)
        async with app:
            await app.installation_token()

    with pytest.raises(GitHubAuthError, match="installation 999") as caught:
        run(scenario())
    assert caught.value.status == 404


def test_a_private_key_that_is_not_pem_is_a_user_error_that_does_not_quote_it(clock: SteppingClock) -> None:
    bogus = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(UserError, match="not an unencrypted PEM private key") as caught:
        GitHubApp("https://api.github.com", 1, 2, Secret(bogus), clock)
    assert "c2VjcmV0" not in error_text(caught.value)


def test_api_url_must_be_http(clock: SteppingClock, gh: FakeGitHub) -> None:
    with pytest.raises(UserError, match="apiUrl"):
        GitHubApp("api.github.com", 1, 2, Secret(gh.private_key_pem), clock)


# --------------------------------------------------------------------------------------------------
# Clock skew


@pytest.mark.parametrize("offset_s", [-55, 0, 500])
def test_the_jwt_tolerates_a_github_clock_a_minute_behind_or_minutes_ahead(
    gh: FakeGitHub, clock: SteppingClock, offset_s: int
) -> None:
    gh.clock_offset = timedelta(seconds=offset_s)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.installation_token()

    run(scenario())
    assert [r.status for r in gh.requests] == [201]


@pytest.mark.parametrize("offset_s", [-300, 900])
def test_a_jwt_refused_for_clock_skew_is_remade_on_githubs_clock(
    gh: FakeGitHub, clock: SteppingClock, offset_s: int
) -> None:
    gh.clock_offset = timedelta(seconds=offset_s)

    async def scenario() -> GitHubApp:
        async with make_app(gh, clock) as app:
            await app.installation_token()
            await app.list_runners("my-org")
            return app

    app = run(scenario())
    assert [r.status for r in gh.requests] == [401, 201, 200]
    claim = "('iat')" if offset_s < 0 else "('exp')"  # GitHub behind: iat in its future; ahead: exp in its past
    assert claim in gh.requests[0].answer["message"]
    assert abs(app.clock_offset.total_seconds() - offset_s) <= 1


def test_token_renewal_follows_githubs_clock_not_ours(gh: FakeGitHub, clock: SteppingClock) -> None:
    """GitHub's clock 10 minutes ahead: its token's expires_at reads 70 minutes ahead on our clock, but the
    token lapses 60 of our minutes after issue, so it must be renewed at 55 (not 65)."""
    gh.clock_offset = timedelta(minutes=10)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.installation_token()
            clock.advance(54 * 60)
            await app.list_runners("my-org")
            assert gh.tokens_issued == 1
            clock.advance(2 * 60)
            await app.list_runners("my-org")
            assert gh.tokens_issued == 2

    run(scenario())
    assert all(r.status != 401 for r in gh.requests if r.method == "GET")


def test_the_fake_refuses_a_jwt_issued_in_its_future_and_one_that_lives_too_long(
    gh: FakeGitHub, clock: SteppingClock
) -> None:
    """The fake itself, so the skew tests above can fail: GitHub's two documented refusals."""
    now = int(gh.server_now().timestamp())
    url = f"{gh.api_url}/app/installations/{gh.installation_id}/access_tokens"

    def post(claims: dict[str, Any]) -> httpx.Response:
        token = jwt.encode(claims, gh.private_key_pem, algorithm="RS256")
        return httpx.post(url, headers={"Authorization": f"Bearer {token}", "User-Agent": "t"})

    future = post({"iss": str(gh.app_id), "iat": now + 5, "exp": now + 300})
    assert future.status_code == 401 and "('iat')" in future.json()["message"]
    too_long = post({"iss": str(gh.app_id), "iat": now - 60, "exp": now + 601})
    assert too_long.status_code == 401 and "too far in the future" in too_long.json()["message"]
    expired = post({"iss": str(gh.app_id), "iat": now - 700, "exp": now - 1})
    assert expired.status_code == 401 and "('exp')" in expired.json()["message"]
    wrong_app = post({"iss": "54321", "iat": now - 60, "exp": now + 300})
    assert wrong_app.status_code == 401
    good = post({"iss": str(gh.app_id), "iat": now - 60, "exp": now + 540})
    assert good.status_code == 201 and good.json()["token"].startswith("ghs_")
    no_agent = httpx.get(f"{gh.api_url}/orgs/my-org/actions/runners", headers={"User-Agent": ""})
    assert no_agent.status_code == 403


# --------------------------------------------------------------------------------------------------
# Jobs


def test_queued_jobs_finds_every_queued_job_of_the_owner_and_nothing_else(gh: FakeGitHub, clock: SteppingClock) -> None:
    a = gh.queue_job("my-org/app", LABELS)
    b = gh.queue_job("my-org/infra", ["self-hosted", "sengu"], name="deploy")
    # A later job of a run whose first job already runs: the run is in_progress, the job is queued.
    first = gh.queue_job("my-org/app", LABELS, name="test")
    gh.start_job(first.id, "someone-else")
    later = gh.queue_job("my-org/app", LABELS, name="publish", run_id=first.run_id)
    done = gh.queue_job("my-org/app", LABELS)
    gh.complete_job(done.id)
    gh.queue_job("my-org/app", LABELS, status="waiting")  # waiting for a deployment approval: not runnable yet
    gh.queue_job("someone/else", LABELS)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            jobs = await app.queued_jobs(owner="my-org")
            assert [j.id for j in jobs] == [a.id, b.id, later.id]
            job = jobs[0]
            assert (job.repository, job.labels, job.status, job.run_id, job.run_attempt) == (
                "my-org/app", tuple(LABELS), "queued", a.run_id, 1,
            )  # fmt: skip
            assert job.runner_id is None and job.runner_name is None and job.created_at == clock.now()
            assert jobs[2].repository == "my-org/app" and jobs[2].name == "publish"
            everything = await app.queued_jobs()
            assert {j.repository for j in everything} == {"my-org/app", "my-org/infra", "someone/else"}
            assert [j.id for j in await app.queued_jobs(repositories=["my-org/infra"])] == [b.id]

    run(scenario())


def test_queued_jobs_follows_pages(gh: FakeGitHub, clock: SteppingClock) -> None:
    made = [gh.queue_job("my-org/app", LABELS).id for _ in range(130)]

    async def scenario() -> list[int]:
        async with make_app(gh, clock) as app:
            return [j.id for j in await app.queued_jobs(repositories=["my-org/app"])]

    assert run(scenario()) == made
    pages = gh.requests_to("GET", r"/repos/my-org/app/actions/runs")
    assert [(r.query["status"][0], r.query.get("page", ["1"])[0]) for r in pages] == [
        ("queued", "1"), ("queued", "2"), ("in_progress", "1"),
    ]  # fmt: skip
    assert all(r.query["per_page"] == ["100"] for r in pages)


def test_queued_jobs_skips_a_repository_it_cannot_read(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> list[int]:
        async with make_app(gh, clock) as app:
            return [j.id for j in await app.queued_jobs(repositories=["my-org/gone", "my-org/app"])]

    assert run(scenario()) == [job.id]


def test_a_next_page_on_another_host_is_not_followed(gh: FakeGitHub, clock: SteppingClock) -> None:
    for i in range(120):
        gh.register_runner("my-org", f"r{i}", ["x"])
    gh.link_base = "http://127.0.0.2:9"  # a page link that would carry the token elsewhere

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.list_runners("my-org")

    with pytest.raises(GitHubError, match="another host"):
        run(scenario())
    assert len(gh.requests_to("GET", r"/orgs/my-org/actions/runners")) == 1
    assert clock.sleeps == []  # refused outright, not retried as a network error


def test_job_reports_the_status_github_shows(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            seen = await app.job("my-org/app", job.id)
            assert seen is not None and (seen.status, seen.runner_name) == ("queued", None)
            gh.start_job(job.id, "ci-1")
            seen = await app.job("my-org/app", job.id)
            assert seen is not None and (seen.status, seen.runner_name) == ("in_progress", "ci-1")
            gh.complete_job(job.id, "failure")
            seen = await app.job("my-org/app", job.id)
            assert seen is not None and (seen.status, seen.conclusion) == ("completed", "failure")
            assert seen.completed_at == clock.now()
            assert await app.job("my-org/app", 424242) is None
            assert await app.job("my-org/other", job.id) is None

    run(scenario())


# --------------------------------------------------------------------------------------------------
# Runners


@pytest.mark.parametrize("scope", ["my-org", "my-org/app"])
def test_generate_jitconfig_registers_one_runner(gh: FakeGitHub, clock: SteppingClock, scope: str) -> None:
    gh.add_repository("my-org/app")

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            config = await app.generate_jitconfig(scope, "ci-1-1-1", LABELS, runner_group_id=1, work_folder="w")
            assert config.runner.name == "ci-1-1-1"
            assert config.runner.status == "offline" and not config.runner.busy
            assert set(LABELS) <= set(config.runner.labels)
            registered = gh.runner("ci-1-1-1")
            assert registered is not None and registered.scope == scope
            assert config.encoded_jit_config.reveal() == registered.jit_config
            assert registered.jit_config not in repr(config) and registered.jit_config not in str(config)
            assert [r.name for r in await app.list_runners(scope)] == ["ci-1-1-1"]

    run(scenario())
    (post,) = gh.requests_to("POST", r".*/generate-jitconfig")
    assert post.json == {"name": "ci-1-1-1", "runner_group_id": 1, "labels": LABELS, "work_folder": "w"}


def test_a_taken_runner_name_is_a_name_collision(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            first = await app.generate_jitconfig("my-org", "ci-7", LABELS)
            with pytest.raises(NameCollision) as caught:
                await app.generate_jitconfig("my-org", "ci-7", LABELS)
            assert caught.value.name == "ci-7" and caught.value.status == 409
            assert first.encoded_jit_config.reveal() not in error_text(caught.value)
            again = await app.generate_jitconfig("my-org", "ci-7-b", LABELS)
            assert again.runner.id != first.runner.id

    run(scenario())
    assert len(gh.runners) == 2


def test_a_runner_group_github_does_not_know_is_an_error(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.generate_jitconfig("my-org", "ci-1", LABELS, runner_group_id=99)

    with pytest.raises(GitHubError, match="HTTP 404") as caught:
        run(scenario())
    assert not isinstance(caught.value, NameCollision)
    assert gh.runners == []


def test_generate_jitconfig_checks_labels_before_asking(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.generate_jitconfig("my-org", "ci-1", [])

    with pytest.raises(ValueError, match="labels"):
        run(scenario())
    assert gh.requests == []


def test_list_runners_pages_and_filters_by_name(gh: FakeGitHub, clock: SteppingClock) -> None:
    for i in range(150):
        gh.register_runner("my-org", f"r-{i}", ["sengu"], status="online" if i % 2 else "offline", busy=i == 3)
    gh.register_runner("my-org/app", "repo-runner", ["sengu"])

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            runners = await app.list_runners("my-org")
            assert [r.name for r in runners] == [f"r-{i}" for i in range(150)]
            assert runners[3].busy and runners[3].status == "online"
            assert runners[0].status == "offline" and not runners[0].busy
            assert runners[0].labels == ("self-hosted", "sengu")
            (only,) = await app.list_runners("my-org", name="r-42")
            assert only.name == "r-42"
            assert [r.name for r in await app.list_runners("my-org/app")] == ["repo-runner"]

    run(scenario())


def test_delete_runner_is_idempotent_and_never_removes_a_busy_runner(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            idle = await app.generate_jitconfig("my-org", "idle", LABELS)
            assert await app.delete_runner("my-org", idle.runner.id) is True
            assert await app.delete_runner("my-org", idle.runner.id) is False  # already gone
            busy = await app.generate_jitconfig("my-org", "busy", LABELS)
            taken = gh.runner_connected("busy")
            assert taken is not None and taken.id == job.id
            with pytest.raises(RunnerBusy) as caught:
                await app.delete_runner("my-org", busy.runner.id)
            assert caught.value.runner_id == busy.runner.id
            assert [r.name for r in await app.list_runners("my-org")] == ["busy"]
            gh.complete_job(job.id)  # an ephemeral runner leaves after its job
            assert await app.list_runners("my-org") == []
            assert await app.delete_runner("my-org", busy.runner.id) is False

    run(scenario())


def test_a_validation_422_on_delete_is_not_a_busy_runner(gh: FakeGitHub, clock: SteppingClock) -> None:
    """GitHub answers DELETE of a runner 422 both for a busy runner and for a validation failure: only its
    message tells them apart. A busy runner is worth asking again; a refusal is not, and says why."""
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            refused = await app.generate_jitconfig("my-org", "refused", LABELS)
            gh.refuse_removal("refused", "Validation Failed", ["runner is managed by an enterprise policy"])
            with pytest.raises(RunnerNotRemovable) as caught:
                await app.delete_runner("my-org", refused.runner.id)
            assert not isinstance(caught.value, RunnerBusy)
            assert caught.value.status == 422 and caught.value.runner_id == refused.runner.id
            assert caught.value.reason == "Validation Failed (runner is managed by an enterprise policy)"
            assert str(caught.value) == (
                f"GitHub refused to remove runner {refused.runner.id} from my-org (HTTP 422: Validation Failed "
                "(runner is managed by an enterprise policy)); this is not a busy runner and asking again will not "
                "help: remove it in the repository's or organization's Actions settings"
            )
            busy = await app.generate_jitconfig("my-org/app", "busy", LABELS)
            gh.runner_connected("busy")
            with pytest.raises(RunnerBusy) as busy_caught:
                await app.delete_runner("my-org/app", busy.runner.id)
            assert not isinstance(busy_caught.value, RunnerNotRemovable)
            assert "still running a job" in str(busy_caught.value)
            gh.complete_job(job.id)

    run(scenario())


def test_scopes_and_repositories_are_checked(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario(call: str) -> None:
        async with make_app(gh, clock) as app:
            if call == "scope":
                await app.list_runners("my-org/app/extra")
            elif call == "dots":
                await app.list_runners("..")
            else:
                await app.job("not-a-repo", 1)

    for call in ("scope", "dots", "repo"):
        with pytest.raises(ValueError):
            run(scenario(call))
    assert gh.requests == []


# --------------------------------------------------------------------------------------------------
# Rate limits and failures


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_is_waited_out_for_retry_after(gh: FakeGitHub, clock: SteppingClock, status: int) -> None:
    gh.register_runner("my-org", "r", ["x"])

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.installation_token()
            gh.secondary_rate_limit(retry_after=2, times=2, status=status)
            assert [r.name for r in await app.list_runners("my-org")] == ["r"]

    run(scenario())
    assert clock.sleeps == [2, 2]
    assert gh.early_requests == 0


def test_a_secondary_limit_without_retry_after_waits_a_minute(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock, max_wait_s=300) as app:
            await app.installation_token()
            gh.secondary_rate_limit(retry_after=None, times=2)
            await app.list_runners("my-org")

    run(scenario())
    assert clock.sleeps == [60, 120]  # at least a minute, then exponentially longer
    assert gh.early_requests == 0


def test_a_secondary_limit_that_persists_raises_after_bounded_attempts(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock, max_attempts=3) as app:
            await app.installation_token()
            gh.secondary_rate_limit(retry_after=1, times=10)
            await app.list_runners("my-org")

    with pytest.raises(RateLimited) as caught:
        run(scenario())
    assert len(gh.requests_to("GET", r"/orgs/my-org/actions/runners")) == 3
    assert clock.sleeps == [1, 1]
    assert caught.value.retry_at == clock.now() + timedelta(seconds=1)
    assert gh.early_requests == 0


def test_an_exhausted_budget_waits_for_a_near_reset(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> GitHubApp:
        async with make_app(gh, clock) as app:
            await app.installation_token()
            gh.set_budget(0, limit=5000, reset_in_s=30)
            await app.list_runners("my-org")
            return app

    app = run(scenario())
    assert len(clock.sleeps) == 1 and 30 <= clock.sleeps[0] <= 32
    assert app.budget is not None and (app.budget.remaining, app.budget.limit) == (4999, 5000)
    assert app.budget.resource == "core"


def test_an_exhausted_budget_with_a_far_reset_raises_and_sends_nothing_until_then(
    gh: FakeGitHub, clock: SteppingClock
) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.installation_token()
            gh.set_budget(0, reset_in_s=1800)
            with pytest.raises(RateLimited) as caught:
                await app.list_runners("my-org")
            retry_at = caught.value.retry_at
            assert timedelta(seconds=1800) <= retry_at - clock.now() <= timedelta(seconds=1802)
            sent = len(gh.requests)
            clock.advance(600)
            with pytest.raises(RateLimited, match="not sent"):
                await app.list_runners("my-org")
            assert len(gh.requests) == sent  # GitHub may ban integrations that keep asking
            clock.set(retry_at)
            await app.list_runners("my-org")
            assert app.budget is not None and app.budget.remaining == 4999

    run(scenario())
    assert clock.sleeps == []


def test_budget_follows_every_answer(gh: FakeGitHub, clock: SteppingClock) -> None:
    gh.set_budget(100, limit=5000)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            assert app.budget is None
            await app.list_runners("my-org")
            assert app.budget is not None and app.budget.remaining == 99
            await app.list_runners("my-org")
            assert app.budget.remaining == 98
            assert app.budget.reset == (clock.now() + timedelta(hours=1)).replace(microsecond=0)

    run(scenario())


def test_a_permission_error_is_not_retried(gh: FakeGitHub, clock: SteppingClock) -> None:
    gh.fail_next(1, 403, "Resource not accessible by integration", match="runners")

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.list_runners("my-org")

    with pytest.raises(GitHubError, match="Resource not accessible by integration") as caught:
        run(scenario())
    assert caught.value.status == 403 and not isinstance(caught.value, RateLimited)
    assert clock.sleeps == []


def test_server_errors_are_retried_with_backoff_then_reported(gh: FakeGitHub, clock: SteppingClock) -> None:
    gh.fail_next(2, 502, "Bad Gateway", match="runners")

    async def scenario() -> None:
        async with make_app(gh, clock, max_attempts=3) as app:
            assert await app.list_runners("my-org") == []
            gh.fail_next(3, 503, "Service Unavailable", match="runners")
            await app.list_runners("my-org")

    with pytest.raises(GitHubError, match="HTTP 503") as caught:
        run(scenario())
    assert caught.value.status == 503
    assert clock.sleeps == [1, 2, 1, 2]


def test_an_unreachable_api_is_reported_after_bounded_attempts(clock: SteppingClock) -> None:
    with FakeGitHub(now=clock.now) as stopped:
        url, key = stopped.api_url, stopped.private_key_pem

    async def scenario() -> None:
        async with GitHubApp(url, 1, 2, Secret(key), clock, max_attempts=3) as app:
            await app.installation_token()

    with pytest.raises(GitHubError, match="no answer after 3 attempts"):
        run(scenario())
    assert clock.sleeps == [1, 2]


def test_no_error_shows_a_token_a_jwt_a_key_or_a_jit_config(gh: FakeGitHub, clock: SteppingClock) -> None:
    texts: list[str] = []

    async def scenario() -> tuple[str, str]:
        async with make_app(gh, clock, max_attempts=1) as app:
            token = (await app.installation_token()).reveal()
            config = (await app.generate_jitconfig("my-org", "ci-1", LABELS)).encoded_jit_config.reveal()
            for i in range(20):  # many runners later, the token in use is still masked
                await app.generate_jitconfig("my-org", f"ci-more-{i}", LABELS)
            gh.fail_next(1, 500, "Internal error", echo_authorization=True)
            with pytest.raises(GitHubError) as server_error:
                await app.list_runners("my-org")
            texts.append(error_text(server_error.value))
            gh.fail_next(1, 403, "Forbidden", echo_authorization=True)
            with pytest.raises(GitHubError) as forbidden:
                await app.delete_runner("my-org", 1)
            texts.append(error_text(forbidden.value))
            with pytest.raises(NameCollision) as collision:
                await app.generate_jitconfig("my-org", "ci-1", LABELS)
            texts.append(error_text(collision.value))
            gh.secondary_rate_limit(retry_after=3600)
            with pytest.raises(RateLimited) as limited:
                await app.list_runners("my-org")
            texts.append(error_text(limited.value))
            return token, config

    token, config = run(scenario())

    async def refused_jwt(other: FakeGitHub) -> None:
        async with make_app(other, clock, private_key=Secret(new_private_key_pem())) as app:
            await app.installation_token()

    with FakeGitHub(now=clock.now) as other, pytest.raises(GitHubAuthError) as refused:
        run(refused_jwt(other))
    texts.append(error_text(refused.value))
    assert "(you sent Bearer ***)" in texts[0]  # the echo was there, and masked
    for text in texts:
        assert token not in text and config not in text
        assert "Bearer ey" not in text and "PRIVATE KEY" not in text


def test_github_enterprise_server_paths_live_under_api_v3(clock: SteppingClock) -> None:
    with FakeGitHub(now=clock.now, prefix="/api/v3") as ghes:
        job = ghes.queue_job("my-org/app", LABELS)

        async def scenario() -> None:
            app = GitHubApp(ghes.api_url + "/", ghes.app_id, ghes.installation_id, Secret(ghes.private_key_pem), clock)
            async with app:
                assert [j.id for j in await app.queued_jobs(owner="my-org")] == [job.id]
                config = await app.generate_jitconfig("my-org", "ci-1", LABELS)
                assert await app.delete_runner("my-org", config.runner.id)

        run(scenario())
        assert ghes.api_url.endswith("/api/v3")
        assert all(r.status in (200, 201, 204) for r in ghes.requests)
        paths = {r.path for r in ghes.requests}
        assert {"/app/installations/678/access_tokens", "/installation/repositories"} <= paths
        assert "/orgs/my-org/actions/runners/generate-jitconfig" in paths


def test_requests_carry_the_api_version_and_a_user_agent(gh: FakeGitHub, clock: SteppingClock) -> None:
    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.list_runners("my-org")

    run(scenario())
    for request in gh.requests:
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["user-agent"].startswith("sengu/")


# --------------------------------------------------------------------------------------------------
# Check runs


def test_job_carries_its_commit_and_workflow(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS, name="test (3.12)", workflow_name="Tests")

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            seen = await app.job("my-org/app", job.id)
            assert seen is not None
            assert (seen.head_sha, seen.name, seen.workflow_name) == (job.head_sha, "test (3.12)", "Tests")
            [queued] = await app.queued_jobs(owner="my-org")
            assert queued.head_sha == job.head_sha

    run(scenario())


def test_create_check_run_puts_a_completed_check_on_the_commit(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> int:
        async with make_app(gh, clock) as app:
            return await app.create_check_run(
                "my-org/app",
                head_sha=job.head_sha,
                name="sengu: no runner for build",
                title="No runner",
                summary="cpu-64 is more than the policy allows",
                text="details",
                external_id="42/1",
            )

    check_id = run(scenario())
    [check] = gh.check_runs
    assert check.id == check_id
    assert (check.repository, check.head_sha, check.name) == ("my-org/app", job.head_sha, "sengu: no runner for build")
    assert (check.status, check.conclusion, check.completed_at) == ("completed", "failure", clock.now())
    assert (check.title, check.summary, check.text, check.external_id) == (
        "No runner",
        "cpu-64 is more than the policy allows",
        "details",
        "42/1",
    )
    [post] = gh.requests_to("POST", "/repos/my-org/app/check-runs")
    assert "text" in post.json["output"] and post.json["completed_at"].endswith("Z")


def test_create_check_run_cuts_an_overlong_summary_instead_of_being_refused(
    gh: FakeGitHub, clock: SteppingClock
) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.create_check_run("my-org/app", head_sha=job.head_sha, name="n", title="t", summary="x" * 70000)

    run(scenario())
    [check] = gh.check_runs
    assert check.summary is not None and len(check.summary) == 65535 and check.summary.endswith("…")
    assert check.text is None


def test_an_app_without_checks_write_gets_a_clear_missing_permission(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)
    del gh.permissions["checks"]

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            await app.create_check_run("my-org/app", head_sha=job.head_sha, name="n", title="t", summary="s")

    with pytest.raises(MissingPermission, match="lacks the checks:write permission") as caught:
        run(scenario())
    assert caught.value.status == 403 and caught.value.permission == "checks:write"
    assert "rejections.checkRun: false" in str(caught.value)
    assert gh.check_runs == [] and clock.sleeps == []  # a permission error is not waited out


def test_create_check_run_reports_what_github_refuses(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> None:
        async with make_app(gh, clock) as app:
            with pytest.raises(GitHubError, match="No commit found for SHA") as unknown_sha:
                await app.create_check_run("my-org/app", head_sha="0" * 40, name="n", title="t", summary="s")
            assert unknown_sha.value.status == 422
            with pytest.raises(GitHubError, match="HTTP 404") as unknown_repo:
                await app.create_check_run("my-org/gone", head_sha=job.head_sha, name="n", title="t", summary="s")
            assert unknown_repo.value.status == 404
            with pytest.raises(ValueError, match="conclusion"):
                await app.create_check_run(
                    "my-org/app", head_sha=job.head_sha, name="n", title="t", summary="s", conclusion="failed"
                )
            with pytest.raises(ValueError, match="head_sha"):
                await app.create_check_run("my-org/app", head_sha="", name="n", title="t", summary="s")

    run(scenario())
    assert gh.check_runs == []


def test_the_fake_refuses_a_check_run_without_name_or_head_sha(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    async def scenario() -> list[int]:
        async with make_app(gh, clock) as app:
            token = (await app.installation_token()).reveal()
            headers = {"Authorization": f"Bearer {token}", "User-Agent": "test"}
            url = f"{gh.api_url}/repos/my-org/app/check-runs"
            async with httpx.AsyncClient() as client:
                bodies: list[dict[str, Any]] = [
                    {"head_sha": job.head_sha},
                    {"name": "n"},
                    {"name": "n", "head_sha": job.head_sha, "status": "completed"},
                    {"name": "n", "head_sha": job.head_sha, "conclusion": "failure", "output": {"title": "t"}},
                    {"name": "n", "head_sha": job.head_sha},
                ]
                return [(await client.post(url, json=body, headers=headers)).status_code for body in bodies]

    assert run(scenario()) == [422, 422, 422, 422, 201]
    [check] = gh.check_runs
    assert (check.status, check.conclusion) == ("queued", None)


# --------------------------------------------------------------------------------------------------
# Against GitHub's own OpenAPI description

# The operations the client calls, extracted from npm @octokit/openapi (see its "origin" and
# tools/extract-github-openapi.py): api.github.com and GitHub Enterprise Server 3.19.
OPENAPI = json.loads((Path(__file__).parent / "github_openapi.json").read_text())


def _operation(description: str, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    for template, methods in OPENAPI[description].items():
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in methods:
            return template, methods[method.lower()]
    return None


@pytest.mark.parametrize("owner_type", ["Organization", "User"])
def test_every_call_is_an_operation_of_githubs_openapi(clock: SteppingClock, owner_type: str) -> None:
    """Each request the client makes — organization runners, a user's repository runners — is a path and method
    GitHub documents, with only parameters and body fields it documents, and every required body field."""
    owner = "my-org" if owner_type == "Organization" else "alice"
    with FakeGitHub(now=clock.now, owner=owner, owner_type=owner_type) as gh:
        job = gh.queue_job(f"{owner}/app", LABELS)

        async def scenario() -> None:
            async with make_app(gh, clock) as app:
                scope = owner if owner_type == "Organization" else f"{owner}/app"
                assert [j.id for j in await app.queued_jobs(owner=owner)] == [job.id]
                assert await app.job(f"{owner}/app", job.id) is not None
                config = await app.generate_jitconfig(scope, "ci-1", LABELS)
                assert [r.name for r in await app.list_runners(scope, name="ci-1")] == ["ci-1"]
                assert await app.delete_runner(scope, config.runner.id) is True
                await app.create_check_run(f"{owner}/app", head_sha=job.head_sha, name="sengu", title="t", summary="s")

        run(scenario())
        calls = gh.requests
    used = set()
    for request in calls:
        for description in ("api.github.com", "ghes-3.19"):
            found = _operation(description, request.method, request.path)
            assert found is not None, f"{request.method} {request.path} is not in GitHub's {description} description"
            template, operation = found
            used.add(template)
            assert set(request.query) <= set(operation["parameters"]), (template, request.query)
            body = operation["body"]
            if request.json is not None:
                assert body is not None, template
                assert set(request.json) <= set(body["properties"]), (template, request.json)
                assert set(body["required"]) <= set(request.json), (template, request.json)
            assert str(request.status) in operation["responses"] or request.status >= 400, (template, request.status)
    runners = "/orgs/{org}/actions/runners" if owner_type == "Organization" else "/repos/{owner}/{repo}/actions/runners"
    assert {runners, runners + "/generate-jitconfig", runners + "/{runner_id}"} <= used
