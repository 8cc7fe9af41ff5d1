"""`sengu batch render` of a large spec splits the jobs over two processes (batch/render.py print_yaml_split):
the bytes are those one process prints, and a spec with problems reports them exactly as one process does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sengu.batch.render import SPLIT_FROM_JOBS, print_yaml_split, render_document, to_yaml
from sengu.batch.spec import CronjobManager
from sengu.core.spec import Document, read_documents, validate

ROOT = Path(__file__).resolve().parents[2]
JOBS = SPLIT_FROM_JOBS + 100
SCHEDULES = ["H H * * *", "*/5 * * * *", "H/15 * * * *", "@daily", "0 4 1 jan,apr,jul,oct *", "H 9-18 * * mon-fri"]


def spec(jobs: int = JOBS, *, change: dict[int, list[str]] | None = None) -> str:
    """A manager of `jobs` jobs. Job 5 is "a" with two schedules (CronJobs m-a-0, m-a-1) and the last but one is
    "a-0" (m-a-0 too), so the names clash across the two halves and all three take the hashed form."""
    lines = [
        "apiVersion: sengu.dev/v1alpha1",
        "kind: CronjobManager",
        "metadata: {name: m, namespace: shop}",
        "spec:",
        "  defaults:",
        "    image: registry.example/app:1",
        "    timeZone: Europe/Berlin",
        "    env: {APP_ENV: production}",
        "  jobs:",
    ]
    for i in range(jobs):
        name = "a" if i == 5 else "a-0" if i == jobs - 2 else f"job-{i:04d}"
        lines.append(f"    - name: {name}")
        if i == 5 or i % 10 == 9:
            lines.append(f'      schedules: ["{SCHEDULES[i % len(SCHEDULES)]}", "H 23 * * sun"]')
        else:
            lines.append(f'      schedule: "{SCHEDULES[i % len(SCHEDULES)]}"')
        lines.append(f"      command: bin/task {name}")
        if i % 7 == 0:
            lines.append(f"      env: {{SHARD: {i % 4}}}")
        if i % 13 == 0:
            lines.append("      timeZone: America/New_York")
        lines.extend(change.get(i, []) if change else [])
    return "\n".join(lines) + "\n"


def sengu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sengu", *args], capture_output=True, text=True, timeout=120)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def document(tmp_path: Path, text: str) -> tuple[Path, Document]:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    (doc,) = read_documents(path)
    return path, doc


def test_two_processes_print_the_bytes_one_process_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, doc = document(tmp_path, spec())
    one_process = to_yaml(render_document(doc))
    assert one_process.count("kind: CronJob\n") > JOBS  # the jobs with two schedules
    assert "name: m-a-0\n" not in one_process  # the clash across the halves, resolved by hashed names
    model = validate(doc, CronjobManager)
    assert print_yaml_split(model, doc, namespace=None, version="1.32")  # here in one process: stdout is captured
    assert capsys.readouterr().out == one_process
    out = sengu("batch", "render", str(path), "--k8s-version", "1.32")
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == one_process
    elsewhere = sengu("batch", "render", str(path), "-n", "elsewhere", "--no-validate")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert elsewhere.stdout == to_yaml(render_document(doc, namespace="elsewhere"))


@pytest.mark.parametrize("where", [[3], [JOBS - 3], [3, JOBS - 3]], ids=["first half", "second half", "both"])
def test_problems_in_either_half_are_reported_as_one_process_reports_them(
    tmp_path: Path, where: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    text = spec(change={i: [f"      workingDir: scripts-{i}"] for i in where})
    path, doc = document(tmp_path, text)
    assert not print_yaml_split(validate(doc, CronjobManager), doc, namespace=None, version="1.32")
    assert capsys.readouterr().out == ""
    out = sengu("batch", "render", str(path))
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr.splitlines() == [
        f"error: {path}:{line_of(text, f'workingDir: scripts-{i}')}:19: job 'job-{i:04d}': workingDir "
        f"'scripts-{i}' is relative; on Kubernetes it must be an absolute path in the image (relative to the spec "
        "file only means something on this machine), or '.' for the image's own working directory"
        for i in where
    ]


def test_a_job_name_used_in_both_halves_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = spec().replace("- name: job-0590\n", "- name: job-0010\n")
    path, doc = document(tmp_path, text)
    assert not print_yaml_split(validate(doc, CronjobManager), doc, namespace=None, version=None)
    assert capsys.readouterr().out == ""
    out = sengu("batch", "render", str(path))
    assert (out.returncode, out.stdout) == (2, "")
    second = [n for n, line in enumerate(text.splitlines(), 1) if line.endswith("- name: job-0010")][1]
    assert out.stderr.splitlines() == [
        f"error: {path}:{second}:13: duplicate job name 'job-0010' (first used by jobs[10])",
    ]
