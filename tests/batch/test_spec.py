"""Loading CronjobManager files: every problem at once, each as file:line:col: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sengu import capabilities
from sengu.batch.resolve import load_manager
from sengu.core.errors import UserError
from sengu.core.spec import parse_documents

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "batch"

GOOD = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata:
  name: shop
spec:
  defaults:
    timeZone: Asia/Tokyo
    backoffLimit: 2
    env: {LANG: C.UTF-8, DEBUG: false}
  migration:
    stage: middle
  jobs:
    - name: daily-report
      command: ["/usr/bin/report", "--daily"]
      schedule: "30 2 * * *"
      priority: low
    - name: spread
      command: echo hi
      schedule: "H * * * *"
      priority: high
      timeZone: UTC
      backoffLimit: 0
"""


def load(text: str, path: str = "jobs.yaml"):
    (doc,) = parse_documents(text, path)
    return load_manager(doc)


def problems(text: str, path: str = "jobs.yaml") -> list[str]:
    with pytest.raises(UserError) as info:
        load(text, path)
    return info.value.lines()


def test_defaults_merge_and_stage_suspends_above_it() -> None:
    m = load(GOOD)
    report, spread = m.jobs
    assert report.argv == ["/usr/bin/report", "--daily"]
    assert report.zone.key == "Asia/Tokyo" and report.backoff_limit == 2
    assert report.env == {"LANG": "C.UTF-8", "DEBUG": "false"}
    assert not report.suspended
    assert spread.argv == ["/bin/sh", "-c", "echo hi"]
    assert spread.zone.key == "UTC" and spread.backoff_limit == 0
    assert spread.suspended and "above migration stage middle" in (spread.suspend_reason or "")
    # H became a fixed minute: what Kubernetes will receive is a plain expression.
    assert "H" not in spread.expressions[0]
    assert spread.expressions == load(GOOD).jobs[1].expressions


def test_every_problem_reported_with_its_position() -> None:
    text = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata:
  name: shop
spec:
  defualts: {}
  jobs:
    - name: Bad_Name
      command: x
      schedule: "61 * * * *"
    - name: ok
      command: x
      schedule: "* * * * *"
      timeZone: Mars/Olympus
    - name: ok
      command: x
      schedule: "* * * * *"
      priority: urgent
"""
    lines = problems(text)
    assert lines[0] == "jobs.yaml:6:3: unknown field 'defualts'"
    assert lines[1].startswith("jobs.yaml:8:13: name: 'Bad_Name' is not a valid Kubernetes name")
    assert lines[2] == "jobs.yaml:10:17: schedule: '61 * * * *': minute field: 61 is out of range 0-59"
    assert lines[3] == "jobs.yaml:14:17: timeZone: unknown time zone 'Mars/Olympus'"
    assert lines[4].startswith("jobs.yaml:18:17: priority: input should be 'low', 'middle' or 'high'")
    assert len(lines) == 5


def test_semantic_problems_all_at_once() -> None:
    text = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata: {name: shop}
spec:
  jobs:
    - {name: a, command: x, schedule: "61 * * * *"}
    - {name: b, command: x, schedule: "* * * * *", timeZone: Mars/Olympus}
    - {name: a, command: x, schedule: "* * * * *"}
    - {name: c, command: x, schedules: ["* * * * *", "0 0 31 2 *", "@every 5m"]}
"""
    lines = problems(text)
    assert lines[0] == "jobs.yaml:6:39: schedule: '61 * * * *': minute field: 61 is out of range 0-59"
    assert lines[1] == "jobs.yaml:7:62: timeZone: unknown time zone 'Mars/Olympus'"
    assert lines[2].startswith("jobs.yaml:9:54: schedules: '0 0 31 2 *': ") and "never" in lines[2]
    assert lines[3].startswith("jobs.yaml:9:68: schedules: '@every 5m': @every is not supported")
    assert len(lines) == 4
    # Cross-job checks run once every field is valid.
    lines = problems(
        text.replace("61 *", "1 *").replace("Mars/Olympus", "UTC").replace(', "0 0 31 2 *", "@every 5m"', "")
    )
    assert lines == ["jobs.yaml:8:14: duplicate job name 'a' (first used by jobs[0])"]


def test_name_longer_than_52_characters() -> None:
    name = "a" * 53
    lines = problems(GOOD.replace("daily-report", name))
    assert lines == [f"jobs.yaml:13:13: name: {name!r} is 53 characters; job names are at most 52"]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("    - name: x\n      command: y\n", "give exactly one of 'schedule' or 'schedules'"),
        ("    - name: x\n      schedule: '* * * * *'\n", "missing required field 'command'"),
        ("    - name: x\n      command: ''\n      schedule: '* * * * *'\n", "command is empty"),
        ("    - name: x\n      command: []\n      schedule: '* * * * *'\n", "needs at least a program"),
        ("    - name: x\n      command: y\n      schedule: '* * * * *'\n      backoffLimit: -1\n", "backoffLimit"),
        (
            "    - name: x\n      command: y\n      schedule: '* * * * *'\n      concurrencyPolicy: Never\n",
            "concurrencyPolicy",
        ),
        (
            "    - name: x\n      command: y\n      schedule: '* * * * *'\n      resources: {limits: {memory: lots}}\n",
            "not a Kubernetes quantity",
        ),
    ],
)
def test_bad_jobs(snippet: str, expected: str) -> None:
    text = "apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: m}\nspec:\n  jobs:\n" + snippet
    lines = problems(text)
    assert any(expected in line and line.startswith("jobs.yaml:") for line in lines), lines


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("apiVersion: sengu.dev/v1alpha1\nkind: [unclosed\n")
    with pytest.raises(UserError) as info:
        capabilities.load([f])
    (line,) = info.value.lines()
    assert line.startswith(f"{f}:3:1: invalid YAML")


def test_envelope_and_files_errors_across_files(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\nkind: CronjobManager\n")
    b = tmp_path / "b.yaml"
    b.write_text(GOOD)
    c = tmp_path / "c.yaml"
    c.write_text(GOOD)
    with pytest.raises(UserError) as info:
        capabilities.load([a, b, c, tmp_path / "missing.yaml"])
    lines = info.value.lines()
    assert f"{a}:1:13: apiVersion must be 'sengu.dev/v1alpha1', got 'v1'" in lines
    assert any(line.startswith(f"{a}:2:7: unknown kind 'ConfigMap'") for line in lines)
    assert f"{a}:5:1: missing required field 'apiVersion'" in lines
    assert f"{a}:5:1: metadata.name is required" in lines
    assert f"{c}:4:9: CronjobManager 'shop' is also defined at {b}:4:9" in lines
    assert f"{tmp_path / 'missing.yaml'}: no such file" in lines


def test_duplicate_keys_are_errors() -> None:
    lines = problems(GOOD.replace("    backoffLimit: 2\n", "    backoffLimit: 2\n    backoffLimit: 3\n"))
    assert lines == ["jobs.yaml:9:5: duplicate key 'backoffLimit'"]


def test_example_is_valid() -> None:
    loaded = capabilities.load([EXAMPLES / "cronjobs.yaml"])
    (m,) = loaded.of("CronjobManager")
    assert len(m.jobs) == 12
    assert {j.name for j in m.jobs if j.suspended} == {"nightly-backup", "monthly-invoices"}
    # workingDir "." is relative to the spec file.
    assert m.job("heartbeat").working_dir == str(EXAMPLES)


def test_yaml_merge_keys_share_settings_between_jobs() -> None:
    # Anchors with `<<:` are how many teams keep job lists short; explicit keys win over merged ones.
    m = load(
        """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata:
  name: shop
spec:
  jobs:
    - &base
      name: report
      command: echo report
      schedule: "0 * * * *"
      backoffLimit: 2
    - <<: *base
      name: report-eu
      timeZone: Europe/Paris
    - <<: [{backoffLimit: 5}, *base]
      name: report-us
"""
    )
    base, eu, us = m.jobs
    assert [j.name for j in m.jobs] == ["report", "report-eu", "report-us"]
    assert eu.argv == base.argv and eu.backoff_limit == 2 and eu.zone.key == "Europe/Paris"
    assert us.backoff_limit == 5  # the first mapping of a merge list wins, as YAML's merge rule says
