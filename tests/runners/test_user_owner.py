"""A RunnerPool for a personal account (github.ownerType: user): GitHub has no user runners, so each job's
runner is registered on its repository, listed and removed there. End to end on the fake GitHub, whose user
account answers 404 on every /orgs endpoint as GitHub does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sengu.core.notify import Secret
from sengu.runners.github import GitHubApp, GitHubError
from tests.fakes.github import FakeGitHub
from tests.runners.test_engine import LABELS, alive, deliver, serving


def test_a_users_jobs_get_repository_runners(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeGitHub(owner="alice", owner_type="User", webhook_secret="s3cret") as fake:
            fake.add_repository("alice/site")
            async with serving(tmp_path, fake) as (engine, url):
                runtime = engine.pools["ci"]
                assert runtime.pool.spec.github.owner_type == "user"
                job = fake.queue_job("alice/app", LABELS)
                await deliver(url, fake, job, "queued")
                await engine.process_pending()
                await engine.settle()
                stored = engine.runners.job(job.id, job.run_attempt)
                assert stored is not None and stored.state == "launching", stored
                name = str(stored.runner_name)
                registered = fake.runner(name)
                assert registered is not None and registered.scope == "alice/app"
                row = engine.runners.runner(name)
                assert row is not None and row["github_runner_id"] == registered.id

                # The janitor looks for this pool's registrations in every repository of the user's.
                stray = fake.register_runner("alice/site", "ci-9999-1-1", ["sengu"])
                await engine.janitor()
                await engine.settle()
                assert fake.runner(stray.name) is None  # a registration without compute, reaped
                assert fake.runner(name) is not None  # ours, launching: kept
                listed = {r.path for r in fake.requests_to("GET", r"/repos/alice/[^/]+/actions/runners$")}
                assert listed == {"/repos/alice/app/actions/runners", "/repos/alice/site/actions/runners"}

                fake.runner_connected(name)
                fake.complete_job(job.id)
                await deliver(url, fake, job.id, "completed")
                await engine.process_pending()
                await engine.settle()
                assert engine.runners.live_runners() == []
                stopped = engine.runners.runner(name)
                assert stopped is not None and not alive(int(stopped["handle_id"]))
            assert [r for r in fake.requests if r.path.startswith("/orgs/")] == []
            registrations = fake.requests_to("POST", r"/repos/alice/app/actions/runners/generate-jitconfig")
            assert [r.status for r in registrations] == [201]
            removals = fake.requests_to("DELETE", r"/repos/alice/site/actions/runners/\d+")
            assert [r.status for r in removals] == [204]

    asyncio.run(scenario())


def test_a_user_taken_for_an_organization_is_explained() -> None:
    """The default ownerType is organization; pointed at a user, GitHub's 404 comes with what to change."""

    async def scenario() -> None:
        with FakeGitHub(owner="alice", owner_type="User") as fake:
            fake.add_repository("alice/app")
            async with GitHubApp(fake.api_url, fake.app_id, fake.installation_id, Secret(fake.private_key_pem)) as app:
                try:
                    await app.generate_jitconfig("alice", "ci-1", LABELS)
                except GitHubError as exc:
                    assert exc.status == 404
                    assert "If alice is a user account, set github.ownerType: user" in str(exc)
                else:
                    raise AssertionError("registered a runner on an organization that does not exist")

    asyncio.run(scenario())
