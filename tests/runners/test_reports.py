"""Reports of rejected jobs, against the fake GitHub API and the fake Slack webhook over loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from sengu.core.clock import FakeClock
from sengu.core.errors import UserError
from sengu.core.notify import Secret
from sengu.runners.github import GitHubApp
from sengu.runners.reports import RejectionReporter, explain_command
from sengu.runners.spec import Rejections
from tests.fakes.github import FakeGitHub, FakeJob
from tests.fakes.receivers import SlackReceiver

LABELS = ["self-hosted", "sengu", "cpu-64"]
REASON = "cpu-64 asks for 64 vCPU; the policy for my-org/app allows at most 16"


class SteppingClock(FakeClock):
    """Sleeps move time on instead of waiting, so retries cost nothing."""

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def gh(clock: SteppingClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(now=clock.now) as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as receiver:
        yield receiver


def rejections(*, check_run: bool = True, slack: bool = False) -> Rejections:
    document: dict[str, Any] = {"checkRun": check_run}
    if slack:
        document["slack"] = {"webhookUrl": {"env": "SLACK_REJECTIONS_URL"}}
    return Rejections.model_validate(document)


def report(
    gh: FakeGitHub,
    clock: SteppingClock,
    config: Rejections,
    job: FakeJob | int,
    *,
    slack: SlackReceiver | None = None,
    run_attempt: int = 1,
    labels: list[str] = LABELS,
    max_attempts: int = 4,
) -> list[str]:
    """What RejectionReporter.report returns for `job` of my-org/app, with a fresh app and reporter."""
    job_id = job if isinstance(job, int) else job.id

    async def scenario() -> list[str]:
        key = Secret(gh.private_key_pem)
        async with GitHubApp(gh.api_url, gh.app_id, gh.installation_id, key, clock, max_attempts=max_attempts) as app:
            reporter = RejectionReporter(
                config,
                app,
                pool_name="ci",
                pool_file="deploy/pool.yaml",
                environ={"SLACK_REJECTIONS_URL": slack.url} if slack else {},
                clock=clock,
            )
            return await reporter.report(job_id, run_attempt, "my-org/app", labels, REASON)

    return asyncio.run(scenario())


def test_a_rejected_job_gets_a_failed_check_run_on_its_commit(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS, name="build (linux)", workflow_name="CI")

    assert report(gh, clock, rejections(), job) == []

    [check] = gh.check_runs
    assert (check.repository, check.head_sha) == ("my-org/app", job.head_sha)
    assert check.name == "sengu: no runner for build (linux)"
    assert (check.status, check.conclusion, check.completed_at) == ("completed", "failure", clock.now())
    assert check.title == "No runner for these runs-on labels"
    assert check.external_id == f"{job.id}/1"
    summary = check.summary or ""
    assert "**build (linux)** of workflow **CI**" in summary
    assert f"**Reason:** {REASON}" in summary
    assert "**runs-on:** `self-hosted`, `sengu`, `cpu-64`" in summary
    assert "sengu runners explain --pool deploy/pool.yaml --name ci --repo my-org/app self-hosted sengu cpu-64" in (
        summary
    )


def test_without_checks_write_the_report_returns_the_problem_and_logs_it(
    gh: FakeGitHub, clock: SteppingClock, caplog: pytest.LogCaptureFixture
) -> None:
    job = gh.queue_job("my-org/app", LABELS)
    gh.permissions["checks"] = "read"

    with caplog.at_level(logging.WARNING, logger="sengu.runners.reports"):
        problems = report(gh, clock, rejections(), job)

    assert len(problems) == 1
    assert problems[0].startswith("no check run: the GitHub App may not create check runs in my-org/app")
    assert "lacks the checks:write permission" in problems[0]
    assert gh.check_runs == []
    assert any("lacks the checks:write permission" in r.getMessage() for r in caplog.records)


def test_a_scripted_403_from_github_is_the_same_clear_problem(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)
    gh.fail_next(1, 403, "Resource not accessible by integration", match="check-runs")

    [problem] = report(gh, clock, rejections(), job)

    assert "lacks the checks:write permission" in problem


def test_slack_gets_repository_job_labels_and_reason(
    gh: FakeGitHub, clock: SteppingClock, slack: SlackReceiver
) -> None:
    job = gh.queue_job("my-org/app", LABELS, name="deploy <prod>")

    assert report(gh, clock, rejections(check_run=False, slack=True), job, slack=slack, run_attempt=2) == []

    [text] = slack.texts
    url = f"https://github.com/my-org/app/actions/runs/{job.run_id}/job/{job.id}"
    assert text.splitlines() == [
        f":no_entry: sengu has no runner for <{url}|deploy &lt;prod&gt;> (attempt 2) in *my-org/app*",
        f"*Reason:* {REASON}",
        "*runs-on:* `self-hosted`, `sengu`, `cpu-64`",
    ]
    assert gh.check_runs == [] and gh.requests_to("POST", r".*/check-runs") == []


def test_both_channels_report_one_job_once(gh: FakeGitHub, clock: SteppingClock, slack: SlackReceiver) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    assert report(gh, clock, rejections(slack=True), job, slack=slack) == []

    assert len(gh.check_runs) == 1 and len(slack.messages) == 1
    assert len(gh.requests_to("GET", rf"/repos/my-org/app/actions/jobs/{job.id}")) == 1


def test_a_job_github_does_not_show_gets_no_check_run_but_still_a_slack_message(
    gh: FakeGitHub, clock: SteppingClock, slack: SlackReceiver
) -> None:
    gh.add_repository("my-org/app")

    problems = report(gh, clock, rejections(slack=True), 424242, slack=slack)

    assert problems == ["no check run: GitHub does not show the job (deleted, or not visible to the app)"]
    assert gh.check_runs == []
    [text] = slack.texts
    assert text.startswith(":no_entry: sengu has no runner for job 424242 in *my-org/app*")


def test_a_github_that_fails_to_answer_is_a_problem_not_an_exception(
    gh: FakeGitHub, clock: SteppingClock, slack: SlackReceiver
) -> None:
    job = gh.queue_job("my-org/app", LABELS)
    gh.fail_next(1, 502, "Bad Gateway", match="actions/jobs")

    problems = report(gh, clock, rejections(slack=True), job, slack=slack, max_attempts=1)

    assert problems == [
        f"no check run: could not read the job from GitHub: GitHub GET /repos/my-org/app/actions/jobs/{job.id} "
        "answered HTTP 502: Bad Gateway"
    ]
    assert len(slack.messages) == 1


def test_a_slack_failure_is_returned_and_the_check_run_still_made(
    gh: FakeGitHub, clock: SteppingClock, slack: SlackReceiver
) -> None:
    job = gh.queue_job("my-org/app", LABELS)
    slack.fail_next(1, 404, "no_service")

    [problem] = report(gh, clock, rejections(slack=True), job, slack=slack)

    assert problem.startswith("no Slack message: Slack webhook at 127.0.0.1 refused the request: HTTP 404 no_service")
    assert slack.token not in problem
    assert len(gh.check_runs) == 1


def test_with_no_channel_nothing_is_asked_of_github(gh: FakeGitHub, clock: SteppingClock) -> None:
    job = gh.queue_job("my-org/app", LABELS)

    assert report(gh, clock, rejections(check_run=False), job) == []

    assert gh.requests == []


def test_a_missing_slack_secret_stops_start_up(gh: FakeGitHub, clock: SteppingClock) -> None:
    app = GitHubApp(gh.api_url, gh.app_id, gh.installation_id, Secret(gh.private_key_pem), clock)

    with pytest.raises(UserError) as caught:
        RejectionReporter(rejections(slack=True), app, pool_name="ci", environ={})

    assert str(caught.value) == (
        "RunnerPool ci: rejections.slack.webhookUrl: environment variable SLACK_REJECTIONS_URL is not set; "
        "it should hold the secret"
    )
    assert RejectionReporter(rejections(), app, environ={}).check_run  # no Slack: no secret needed


def test_the_explain_command_is_quoted_for_a_shell() -> None:
    assert explain_command("my-org/app", ["self-hosted", "sengu", "it's"], None, None) == (
        "sengu runners explain --pool POOL.yaml --repo my-org/app self-hosted sengu 'it'\"'\"'s'"
    )
