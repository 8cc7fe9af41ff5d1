"""Every shipped example goes to Kubernetes as it is, and a problem that comes from spec.defaults is reported
once, at the field in defaults — not once per job that inherits it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sengu.batch.spec import KIND
from sengu.core import kschema
from sengu.core.spec import read_documents

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = sorted({kschema.DEFAULT_VERSION, "1.32", kschema.bundled_versions()[-1]})


def sengu(*args: str, cwd: Path = ROOT, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SENGU_HOME=str(home)) if home else None
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def example_managers() -> list[Path]:
    """Every YAML file under examples/ that holds a CronjobManager."""
    found = []
    for path in sorted(ROOT.glob("examples/**/*.y*ml")):
        if any(isinstance(d.data, dict) and d.data.get("kind") == KIND for d in read_documents(path)):
            found.append(path)
    return found


def test_there_are_examples_to_check() -> None:
    assert ROOT / "examples/batch/cronjobs.yaml" in example_managers()


@pytest.mark.parametrize("path", example_managers(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_renders_and_passes_the_official_schemas_strictly(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    for version in VERSIONS:
        out = sengu("batch", "render", relative, "--k8s-version", version)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        objects = list(yaml.safe_load_all(out.stdout))
        assert objects and all(o["kind"] == "CronJob" for o in objects)
        for obj in objects:
            assert kschema.validate(obj, version, strict=True) == [], obj["metadata"]["name"]


def test_the_example_runs_where_its_scripts_are_on_both_engines(tmp_path: Path) -> None:
    # The engine: "." is the spec file's directory, from wherever it is started.
    ran = sengu(
        "batch", "run", str(ROOT / "examples/batch/cronjobs.yaml"), "heartbeat", cwd=ROOT / "docs", home=tmp_path
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # Kubernetes: "." is the image's working directory, so the container has no workingDir of its own.
    out = sengu("batch", "render", "examples/batch/cronjobs.yaml")
    containers = [
        o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0] for o in yaml.safe_load_all(out.stdout)
    ]
    assert containers and all("workingDir" not in c and c["image"] for c in containers)


INHERITED = """\
apiVersion: sengu.dev/v1alpha1
kind: CronjobManager
metadata: {name: shop}
spec:
  defaults:
    workingDir: scripts
    timeZone: Mars/Olympus
    placement:
      tolerations: [{key: spot, operater: Exists}]
  jobs:
  - {name: a, schedule: '@daily', command: x}
  - {name: b, schedule: '@daily', command: x}
  - {name: c, schedule: '@daily', command: x, timeZone: UTC}
  - {name: d, schedule: '@daily', command: x, workingDir: other, timeZone: UTC}
"""


def test_a_problem_of_the_defaults_is_reported_once_at_the_field_in_defaults(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(INHERITED)
    # The time zone is resolved first (by every command): once, at defaults.timeZone, for jobs a and b.
    zone = sengu("batch", "render", str(path))
    assert zone.returncode == 2 and zone.stdout == ""
    assert zone.stderr.splitlines() == [f"error: {path}:7:15: timeZone: unknown time zone 'Mars/Olympus'"]

    path.write_text(INHERITED.replace("Mars/Olympus", "Asia/Tokyo"))
    out = sengu("batch", "render", str(path))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.splitlines() == [
        f"error: {path}:5:3: no job has an image (4 jobs): on Kubernetes every job runs in a container; "
        "set spec.defaults.image (or each job's image)",
        f"error: {path}:6:17: spec.defaults.workingDir 'scripts' is relative (inherited by 3 jobs); on Kubernetes "
        "it must be an absolute path in the image (relative to the spec file only means something on this "
        "machine), or '.' for the image's own working directory",
        f"error: {path}:14:59: job 'd': workingDir 'other' is relative; on Kubernetes it must be an absolute path "
        "in the image (relative to the spec file only means something on this machine), or '.' for the image's "
        "own working directory",
    ]

    fixed = INHERITED.replace("Mars/Olympus", "Asia/Tokyo").replace("workingDir: scripts", "image: i")
    path.write_text(fixed.replace("workingDir: other", "workingDir: /srv"))
    schema = sengu("batch", "render", str(path))
    assert schema.returncode == 2 and schema.stdout == ""
    assert schema.stderr.splitlines() == [
        f"error: {path}:9:21: spec.defaults.placement.tolerations[0] (inherited by 4 jobs): the CronJobs fail "
        "the Kubernetes 1.32 schema at spec.jobTemplate.spec.template.spec.tolerations[0]: Additional properties "
        "are not allowed ('operater' was unexpected)"
    ]


def test_a_job_that_sets_the_field_itself_is_reported_at_the_job(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    text = INHERITED.replace("Mars/Olympus", "Asia/Tokyo").replace("workingDir: scripts", "image: i")
    text = text.replace("    placement:\n      tolerations: [{key: spot, operater: Exists}]\n", "")
    text = text.replace(
        "timeZone: UTC}\n", "timeZone: UTC, placement: {tolerations: [{key: s, effect: Nope, x: 1}]}}\n", 1
    )
    path.write_text(text.replace("workingDir: other", "workingDir: /srv"))
    out = sengu("batch", "render", str(path))
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines and all(line.startswith(f"error: {path}:11: job 'c': CronJob 'shop-c' fails") for line in lines)


def test_schema_problems_keep_their_place_among_other_problems(tmp_path: Path) -> None:
    # The first file fails the schema check, the second does not load: with a problem already found, the check
    # runs in the command itself (nothing to print), and the problems come in file order.
    typo = tmp_path / "a.yaml"
    fixed = INHERITED.replace("workingDir: scripts", "image: i").replace("Mars/Olympus", "UTC")
    typo.write_text(fixed.replace("workingDir: other", "workingDir: /srv"))
    broken = tmp_path / "b.yaml"
    broken.write_text(
        "apiVersion: sengu.dev/v1alpha1\nkind: CronjobManager\nmetadata: {name: other}\nspec: {jobs: 3}\n"
    )
    out = sengu("batch", "render", str(typo), str(broken))
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error"] * len(lines)
    files = [line.split(": ", 1)[1].split(":")[0] for line in lines]
    assert files[0] == str(typo) and files[-1] == str(broken), lines
    assert any("tolerations[0] (inherited by" in line for line in lines)
