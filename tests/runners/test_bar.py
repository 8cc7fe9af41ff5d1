"""The acceptance bar of the runners engine, end to end with a real `sengu up` process (tests/runners/bar_harness.py).

"1,000 queued jobs, 10% of deliveries duplicated and 5% dropped, the sengu process SIGKILLed and restarted
midway — it ends with exactly one runner per job and none left over."
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.runners.bar_harness import BarConfig, run_bar


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_thousand_jobs_through_lost_and_doubled_webhooks_and_a_sigkill(tmp_path: Path) -> None:
    config = BarConfig()
    with FakeGitHub(webhook_secret="bar-s3cret") as fake:
        outcome = run_bar(tmp_path, fake, config)
    print(outcome.summary())
    problems = outcome.problems()
    if problems:
        pytest.fail(
            "the runners bar is not met:\n- "
            + "\n- ".join(problems)
            + "\n\n"
            + outcome.summary()
            + "\n\nevidence:\n"
            + outcome.evidence()
            + "\n\n"
            + outcome.sengu.log_tail(40),
            pytrace=False,
        )
    # The bar itself, spelled out (problems() already said why if any of these fails).
    assert len(outcome.fake_jobs) == config.jobs
    assert all(job.status == "completed" and job.conclusion == "success" for job in outcome.fake_jobs)
    assert all(len(outcome.driver.taken.get(job.id, [])) == 1 for job in outcome.fake_jobs)
    assert outcome.fake_runners == [] and outcome.live_in_store == [] and outcome.processes == {}
    assert outcome.driver.kill_at is not None and outcome.driver.healthy_again_at is not None
    assert outcome.driver.tally.duplicated > 0 and outcome.driver.tally.dropped > 0
