"""Imports start safe: no imported job runs until someone classifies it, and the output says what to decide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / "examples" / "batch" / "legacy.crontab"


def sengu(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_an_imported_file_runs_nothing_until_jobs_are_classified(tmp_path: Path) -> None:
    out = tmp_path / "jobs.yaml"
    result = sengu("batch", "import", LEGACY, "--name", "demo", "-o", out)
    assert result.returncode == 0, result.stderr

    spec = yaml.safe_load(out.read_text())["spec"]
    assert spec["migration"] == {"stage": "low"}
    assert not [job["name"] for job in spec["jobs"] if "priority" in job]
    jobs = len(spec["jobs"])
    listed = sengu("batch", "validate", out)
    assert f"{jobs} jobs, 0 active, {jobs} suspended (migration stage low)" in listed.stdout

    # Classifying one job is what makes it run here.
    spec["jobs"][0]["priority"] = "low"
    out.write_text(yaml.safe_dump({**yaml.safe_load(out.read_text()), "spec": spec}, sort_keys=False))
    listed = sengu("batch", "validate", out)
    assert f"{jobs} jobs, 1 active, {jobs - 1} suspended" in listed.stdout


def test_the_import_says_what_to_decide_next(tmp_path: Path) -> None:
    out = tmp_path / "jobs.yaml"
    result = sengu("batch", "import", LEGACY, "-o", out)
    assert result.returncode == 0, result.stderr
    said = result.stderr
    assert "are suspended: none has a priority yet" in said
    assert f"give the jobs that move first `priority: low` in {out}" in said
    assert f"sengu batch run {out} JOB" in said and "raise migration.stage" in said
    assert "spec.defaults.image" in said
    with_image = sengu("batch", "import", LEGACY, "-o", out, "--image", "registry.example.com/app:1")
    assert "spec.defaults.image" not in with_image.stderr
    assert out.read_text().startswith("# Imported by `sengu batch import`. Every job is suspended")


def test_the_root_help_no_longer_runs_an_import_straight_away() -> None:
    result = sengu("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "&& sengu up" not in text
    assert "every job comes in suspended" in text
