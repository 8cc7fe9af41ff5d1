"""lostAttemptPolicy: what a run does when the engine dies (or drains) under one of its attempts.

The rule itself is pure (policy.after_lost); the engine is tested with a real SIGKILL, and `sengu batch history`
through the real CLI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sengu.batch.policy import MAX_LOST_ATTEMPTS, after_lost
from sengu.batch.render import render_document
from sengu.core.errors import UserError
from sengu.core.spec import parse_documents
from tests.batch.enginekit import HEADER, rows, spec_file
from tests.batch.test_crash import ROOT, runs, start, wait_until


def test_count_with_backoff_limit_0_never_starts_again() -> None:
    verdict = after_lost("Count", attempt=1, failed=0, lost=1, backoff_limit=0)
    assert not verdict.retry
    assert verdict.reason == (
        "lost: the engine stopped while attempt 1 ran; not started again: backoffLimit 0 "
        "(lostAttemptPolicy Ignore would retry it)"
    )


def test_count_uses_up_a_retry_with_the_back_off() -> None:
    assert after_lost("Count", attempt=1, failed=0, lost=1, backoff_limit=2) == after_lost(
        "Count", attempt=1, failed=0, lost=1, backoff_limit=1
    )
    verdict = after_lost("Count", attempt=2, failed=1, lost=1, backoff_limit=2)
    assert verdict.retry and verdict.delay_s == 20.0
    spent = after_lost("Count", attempt=3, failed=2, lost=1, backoff_limit=2)
    assert not spent.retry and spent.reason is not None and spent.reason.startswith("BackoffLimitExceeded: 3 attempts")


def test_ignore_retries_at_once_until_a_crash_loop() -> None:
    assert after_lost("Ignore", attempt=1, failed=0, lost=1, backoff_limit=0).retry
    ok = after_lost("Ignore", attempt=MAX_LOST_ATTEMPTS, failed=0, lost=MAX_LOST_ATTEMPTS, backoff_limit=0)
    assert ok.retry and ok.delay_s == 0
    loop = after_lost("Ignore", attempt=4, failed=0, lost=MAX_LOST_ATTEMPTS + 1, backoff_limit=0)
    assert not loop.retry and loop.reason is not None and "lost 4 times" in loop.reason


def test_fail_job_fails_even_with_retries_left() -> None:
    verdict = after_lost("FailJob", attempt=1, failed=0, lost=1, backoff_limit=5)
    assert not verdict.retry
    assert verdict.reason == "lost: the engine stopped while attempt 1 ran (lostAttemptPolicy FailJob)"


def _cronjobs(text: str) -> dict[str, Any]:
    (doc,) = parse_documents(HEADER.replace("metadata: {name: t}", "metadata: {name: shop}") + text, "jobs.yaml")
    return {o["metadata"]["name"]: o for o in render_document(doc)}


def test_on_kubernetes_the_policy_is_the_disruption_rule_action() -> None:
    objs = _cronjobs(
        """  defaults: {image: "busybox:1", lostAttemptPolicy: Ignore}
  jobs:
    - {name: safe, schedule: "@daily", command: "true"}
    - {name: strict, schedule: "@daily", command: "true", lostAttemptPolicy: FailJob}
"""
    )
    actions = {
        name: obj["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"][0]["action"] for name, obj in objs.items()
    }
    assert actions == {"shop-safe": "Ignore", "shop-strict": "FailJob"}


def test_an_unknown_policy_is_a_located_error() -> None:
    with pytest.raises(UserError) as caught:
        _cronjobs(
            """  defaults: {image: "busybox:1"}
  jobs:
    - {name: a, schedule: "@daily", command: "true", lostAttemptPolicy: retry}
"""
        )
    assert re.search(r"jobs\.yaml:7:\d+: lostAttemptPolicy: .*'Count', 'Ignore' or 'FailJob'", str(caught.value))


def _attempts(home: Path, run_id: int) -> list[dict[str, Any]]:
    return rows(home, "SELECT * FROM batch_attempts WHERE run_id = ? ORDER BY attempt", (run_id,))


def _kill(engine: subprocess.Popen[str]) -> None:
    engine.send_signal(signal.SIGKILL)
    engine.wait()


def _stop(engine: subprocess.Popen[str]) -> None:
    engine.send_signal(signal.SIGTERM)
    try:
        engine.wait(timeout=30)
    except subprocess.TimeoutExpired:
        engine.kill()
        engine.wait()


def test_sigkill_with_the_defaults_never_starts_a_scheduled_time_twice(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    spec = spec_file(
        tmp_path,
        f"""  jobs:
    - name: invoice
      schedule: "* * * * *"
      command: 'echo "$SENGU_ATTEMPT" >> {starts}; sleep 30'
""",
    )
    home = tmp_path / "home"
    first = start(home, spec, "2026-01-01T00:00:59+00:00")
    try:
        wait_until(lambda: rows(home, "SELECT id FROM batch_attempts WHERE pgid IS NOT NULL"), what="the job running")
    finally:
        _kill(first)
    second = start(home, spec, "2026-01-01T00:01:10+00:00")
    try:
        (run,) = wait_until(lambda: [r for r in runs(home) if r["status"] == "failed"], what="the run failed")
    finally:
        _stop(second)
    assert starts.read_text() == "1\n"  # started once, never again for 00:01
    assert run["scheduled_at"].startswith("2026-01-01T00:01:00") and run["exit_code"] is None
    assert run["reason"].startswith("lost: the engine stopped while attempt 1 ran; not started again: backoffLimit 0")
    assert [a["status"] for a in _attempts(home, run["id"])] == ["lost"]


def sengu(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENGU_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def test_ignore_resumes_and_history_shows_each_attempt_with_its_own_exit(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    spec = spec_file(
        tmp_path,
        f"""  jobs:
    - name: idempotent
      schedule: "* * * * *"
      lostAttemptPolicy: Ignore
      command: 'echo "$SENGU_ATTEMPT" >> {starts}; [ "$SENGU_ATTEMPT" = 2 ] || sleep 30'
""",
    )
    home = tmp_path / "home"
    first = start(home, spec, "2026-01-01T00:00:59+00:00")
    try:
        wait_until(lambda: rows(home, "SELECT id FROM batch_attempts WHERE pgid IS NOT NULL"), what="the job running")
    finally:
        _kill(first)
    second = start(home, spec, "2026-01-01T00:01:10+00:00")
    try:
        (run,) = wait_until(lambda: [r for r in runs(home) if r["status"] == "succeeded"], what="the run resumed")
    finally:
        _stop(second)
    assert starts.read_text() == "1\n2\n"
    assert run["exit_code"] == 0 and run["lost_attempts"] == 1

    history = sengu("batch", "history", "idempotent", "-o", "json", home=home)
    assert history.returncode == 0, history.stderr
    got = [(r["attempt"], r["status"], r["exit_code"], r["signal"]) for r in json.loads(history.stdout)]
    assert got == [(2, "succeeded", 0, None), (1, "lost", None, None)]

    table = sengu("batch", "history", "idempotent", home=home)
    assert table.returncode == 0, table.stderr
    # TRY, STATUS and EXIT of each row (the dates before them hold spaces).
    cells = re.findall(r" (\d+) +(succeeded|lost) +(\S+)", table.stdout)
    assert cells == [("2", "succeeded", "0"), ("1", "lost", "-")], table.stdout
