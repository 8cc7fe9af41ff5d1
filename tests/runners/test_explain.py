"""`sengu runners explain` as a user runs it: a real process, real exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POOL = ROOT / "examples" / "runners" / "pool.yaml"


def sengu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sengu", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def test_launch_is_printed_and_exits_0() -> None:
    result = sengu(
        "runners",
        "explain",
        "--pool",
        str(POOL),
        "--repo",
        "my-org/infra",
        "self-hosted",
        "sengu",
        "role-deploy",
        "spot",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "launch on backend fargate (ecs): x64, 2 vCPU, 4 GiB, spot"
    assert "  role:   deploy (arn:aws:iam::123456789012:role/ci-deploy)" in result.stdout
    assert "  capacityProvider: FARGATE_SPOT" in result.stdout and "  policy: for my-org/infra" in result.stdout
    assert result.stderr == ""


def test_json_output() -> None:
    result = sengu(
        "runners", "explain", "--pool", str(POOL), "-o", "json", "self-hosted", "sengu", "codebuild", "cpu-3"
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["result"] == "launch" and doc["pool"] == "ci" and doc["repository"] is None
    assert doc["labels"] == ["self-hosted", "sengu", "codebuild", "cpu-3"]
    launch = doc["launch"]
    assert (launch["backend"], launch["kind"], launch["vcpu"], launch["memoryGiB"]) == ("codebuild", "codebuild", 4, 7)
    assert launch["detail"] == {"computeType": "BUILD_GENERAL1_MEDIUM", "environmentType": "LINUX_CONTAINER"}


def test_rejection_prints_the_reason_and_exits_1() -> None:
    result = sengu("runners", "explain", "--pool", str(POOL), "--repo", "my-org/app", "self-hosted", "sengu", "cpu-8")
    assert result.returncode == 1
    assert result.stdout == (
        "rejected: label 'cpu-8': the policy for my-org/app allows at most 4 vCPU (policy entry 'my-org/*')\n"
    )
    as_json = sengu("runners", "explain", "--pool", str(POOL), "-o", "json", "self-hosted", "sengu", "arm64", "spot")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["result"] == "rejected" and "Fargate Spot runs x64 only" in doc["reason"]


def test_not_our_job_exits_1() -> None:
    result = sengu("runners", "explain", "--pool", str(POOL), "ubuntu-latest")
    assert result.returncode == 1
    assert result.stdout == "not a sengu job: runs-on must include 'self-hosted' and 'sengu'\n"


def test_bad_pool_file_exits_2_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "pool.yaml"
    bad.write_text(POOL.read_text().replace("defaultBackend: fargate", "defaultBackend: lambda").replace("10m", "ten"))
    result = sengu("runners", "explain", "--pool", str(bad), "self-hosted", "sengu")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [
        # the problem between fields comes with the field problems, not after they are fixed
        f"error: {bad}:14:19: defaultBackend: 'lambda' is not a backend; backends: local, fargate, codebuild, k8s",
        f"error: {bad}:29:42: bootTimeout: 'ten' is not a duration: use e.g. 90s, 10m, 6h, 1h30m or a "
        "number of seconds",
        f"error: {bad}:29:60: idleTimeout: 'ten' is not a duration: use e.g. 90s, 10m, 6h, 1h30m or a "
        "number of seconds",
    ], result.stderr
    assert result.stdout == ""
    fixed = bad.read_text().replace("ten", "10m")
    bad.write_text(fixed)
    again = sengu("runners", "explain", "--pool", str(bad), "self-hosted", "sengu")
    assert again.returncode == 2
    assert (
        again.stderr
        == f"error: {bad}:14:19: defaultBackend: 'lambda' is not a backend; backends: local, fargate, codebuild, k8s\n"
    )
    missing = sengu("runners", "explain", "--pool", str(tmp_path / "nope.yaml"), "self-hosted", "sengu")
    assert missing.returncode == 2 and missing.stderr == f"error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_several_pools_need_a_name(tmp_path: Path) -> None:
    text = POOL.read_text()
    both = tmp_path / "pools.yaml"
    both.write_text(
        text
        + "---\n"
        + text.replace("metadata: {name: ci}", "metadata: {name: ci-big}").replace("maxCpu: 4", "maxCpu: 16")
    )
    ambiguous = sengu("runners", "explain", "--pool", str(both), "self-hosted", "sengu")
    assert ambiguous.returncode == 2
    assert ambiguous.stderr == f"error: {both} has 2 RunnerPools (ci, ci-big): pick one with --name\n"
    args = ("runners", "explain", "--pool", str(both), "--repo", "my-org/app", "self-hosted", "sengu", "cpu-8")
    assert sengu(*args, "--name", "ci").returncode == 1
    big = sengu(*args, "--name", "ci-big")
    assert big.returncode == 0 and "8 vCPU, 16 GiB" in big.stdout and "  pool:   ci-big" in big.stdout
    unknown = sengu(*args, "--name", "nope")
    assert unknown.returncode == 2 and "no RunnerPool named 'nope'" in unknown.stderr


def test_usage_errors_exit_2() -> None:
    assert sengu("runners", "explain", "--pool", str(POOL), "-o", "yaml", "sengu").returncode == 2
    repo = sengu("runners", "explain", "--pool", str(POOL), "--repo", "app", "sengu")
    assert repo.returncode == 2 and "--repo must be OWNER/NAME" in repo.stderr
    assert sengu("runners", "explain", "sengu").returncode == 2  # --pool is required
    helped = sengu("runners", "--help")
    assert helped.returncode == 0 and "explain" in helped.stdout and "runs-on" in helped.stdout
