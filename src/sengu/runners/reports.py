"""Telling people that a job got no runner: a failed check run on its commit, and a Slack message.

A rejected job otherwise just sits in GitHub's queue (GitHub fails it after 24 hours) with nothing to
say why, so the pool's ``spec.rejections`` chooses where the reason goes:

- ``checkRun`` (default on): a completed check run with conclusion ``failure`` on the job's commit,
  named "sengu: no runner for JOB", whose summary gives the reason, the job's runs-on labels and the
  `sengu runners explain` command that shows what those labels would get. The app needs ``checks:
  write``.
- ``slack``: one message to an incoming webhook with repository, job, labels and reason.

Both are best effort: `RejectionReporter.report` catches, logs and returns each channel's failure and
never raises, so a report that fails never stops the engine. It can take a while (a rate-limited
GitHub, Slack retries), so call it from a task of its own rather than from the reconcile loop.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Mapping, Sequence

from sengu.core.clock import SYSTEM_CLOCK, Clock
from sengu.core.errors import Problem, UserError
from sengu.core.notify import NotifyError, SlackNotifier, read_secret
from sengu.runners.github import GitHubApp, GitHubError, WorkflowJob
from sengu.runners.spec import Rejections

__all__ = ["RejectionReporter", "check_run_name", "explain_command"]

log = logging.getLogger(__name__)

CHECK_RUN_TITLE = "No runner for these runs-on labels"
_NAME_MAX = 100  # a check run name is a one-line label in GitHub's UI; a long matrix name is cut


def check_run_name(job_name: str | None, job_id: int) -> str:
    name = f"sengu: no runner for {job_name or f'job {job_id}'}"
    return name if len(name) <= _NAME_MAX else name[: _NAME_MAX - 1] + "…"


def explain_command(repository: str, labels: Sequence[str], pool_file: str | None, pool_name: str | None) -> str:
    """The `sengu runners explain` line that reproduces the decision, ready to paste in a shell."""
    words = ["sengu", "runners", "explain", "--pool", pool_file or "POOL.yaml"]
    if pool_name is not None:
        words += ["--name", pool_name]
    words += ["--repo", repository, *labels]
    return shlex.join(words)


class RejectionReporter:
    """Reports rejected jobs as `rejections` says, through `github` (check runs) and Slack.

    The Slack webhook URL is read here, so a missing or bad secret stops start-up with a UserError.
    `pool_file` and `pool_name` only make the suggested `sengu runners explain` command exact.
    """

    def __init__(
        self,
        rejections: Rejections,
        github: GitHubApp,
        *,
        pool_name: str | None = None,
        pool_file: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.check_run = rejections.check_run
        self._github = github
        self._pool_name = pool_name
        self._pool_file = pool_file
        self._slack: SlackNotifier | None = None
        if rejections.slack is not None:
            try:
                url = read_secret(rejections.slack.webhook_url.source(), environ=environ)
                self._slack = SlackNotifier(url, sleep=clock.sleep, clock=clock)
            except UserError as exc:
                where = f"RunnerPool {pool_name}: " if pool_name else ""
                raise UserError(
                    Problem(f"{where}rejections.slack.webhookUrl: {p.message}", p.location) for p in exc.problems
                ) from None

    def __repr__(self) -> str:
        channels = (["check run"] if self.check_run else []) + (["Slack"] if self._slack is not None else [])
        return f"<RejectionReporter {', '.join(channels) or 'log only'}>"

    async def report(
        self, job_id: int, run_attempt: int, repository: str, labels: Sequence[str], reason: str
    ) -> list[str]:
        """Tell each configured channel that the job got no runner; the channels' failures, [] if none."""
        if not self.check_run and self._slack is None:
            return []
        job, lookup_problem = await self._lookup(job_id, repository)
        if lookup_problem is not None and not self.check_run:
            log.info("rejected job %d of %s: %s; reporting it without its name", job_id, repository, lookup_problem)
        results = await asyncio.gather(
            self._check_run(job, lookup_problem, job_id, run_attempt, repository, labels, reason),
            self._post_slack(job, job_id, run_attempt, repository, labels, reason),
        )
        problems = [problem for problem in results if problem is not None]
        for problem in problems:
            log.warning("report of rejected job %d of %s: %s", job_id, repository, problem)
        return problems

    async def _lookup(self, job_id: int, repository: str) -> tuple[WorkflowJob | None, str | None]:
        """The job as GitHub shows it (its commit and name), or why it is not there."""
        try:
            job = await self._github.job(repository, job_id)
        except GitHubError as exc:
            return None, f"could not read the job from GitHub: {exc}"
        except Exception as exc:  # a bug here must not stop the engine either
            log.exception("reading job %d of %s for its rejection report", job_id, repository)
            return None, f"could not read the job from GitHub: {type(exc).__name__}: {exc}"
        if job is None:
            return None, "GitHub does not show the job (deleted, or not visible to the app)"
        return job, None

    async def _check_run(
        self,
        job: WorkflowJob | None,
        lookup_problem: str | None,
        job_id: int,
        run_attempt: int,
        repository: str,
        labels: Sequence[str],
        reason: str,
    ) -> str | None:
        if not self.check_run:
            return None
        if job is None:
            return f"no check run: {lookup_problem}"
        if job.head_sha is None:
            return "no check run: GitHub did not say which commit the job is for (no head_sha)"
        try:
            await self._github.create_check_run(
                repository,
                head_sha=job.head_sha,
                name=check_run_name(job.name, job_id),
                title=CHECK_RUN_TITLE,
                summary=self._summary(job, repository, labels, reason),
                external_id=f"{job_id}/{run_attempt}",
            )
        except GitHubError as exc:
            return f"no check run: {exc}"
        except Exception as exc:
            log.exception("creating the check run for rejected job %d of %s", job_id, repository)
            return f"no check run: {type(exc).__name__}: {exc}"
        return None

    async def _post_slack(
        self,
        job: WorkflowJob | None,
        job_id: int,
        run_attempt: int,
        repository: str,
        labels: Sequence[str],
        reason: str,
    ) -> str | None:
        if self._slack is None:
            return None
        name = _slack_escape(job.name) if job is not None and job.name else f"job {job_id}"
        if job is not None and job.html_url:
            name = f"<{job.html_url}|{name}>"
        attempt = f" (attempt {run_attempt})" if run_attempt > 1 else ""
        runs_on = ", ".join(f"`{_slack_escape(label)}`" for label in labels) or "(none)"
        text = (
            f":no_entry: sengu has no runner for {name}{attempt} in *{_slack_escape(repository)}*\n"
            f"*Reason:* {_slack_escape(reason)}\n*runs-on:* {runs_on}"
        )
        try:
            await self._slack.send(text)
        except NotifyError as exc:
            return f"no Slack message: {exc}"
        except Exception as exc:
            log.exception("posting the Slack message for rejected job %d of %s", job_id, repository)
            return f"no Slack message: {type(exc).__name__}: {exc}"
        return None

    def _summary(self, job: WorkflowJob, repository: str, labels: Sequence[str], reason: str) -> str:
        workflow = f" of workflow **{job.workflow_name}**" if job.workflow_name else ""
        runs_on = ", ".join(f"`{label}`" for label in labels) or "(none)"
        command = explain_command(repository, labels, self._pool_file, self._pool_name)
        return "\n".join(
            [
                f"sengu will not start a runner for the job **{job.name or job.id}**{workflow}, so it stays "
                "queued until another runner takes it or GitHub fails it (after 24 hours).",
                "",
                f"**Reason:** {reason}",
                "",
                f"**runs-on:** {runs_on}",
                "",
                "**How to fix:** change the job's `runs-on` labels, or, if the job should be allowed, the "
                "RunnerPool's backends or policy. To see what a set of labels gets, run:",
                "",
                "```",
                command,
                "```",
            ]
        )


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters (https://api.slack.com/reference/surfaces/formatting).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
