"""Pods needed from a measured knee, Kubernetes quantities, and the comparison with the old fleet."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sengu.core.errors import UserError
from sengu.load.capacity import (
    LINEAR_SCALING,
    Baseline,
    fmt_cpu,
    fmt_memory,
    format_plan,
    parse_cpu,
    parse_memory,
    plan,
)

GI = 2**30
C5_FLEET = Baseline(knee_rate=12_000, instances=8, instance_type="c5.xlarge", vcpu=4, memory="8GiB")


def test_pods_for_a_peak_with_headroom() -> None:
    p = plan(4_000, 2, "500m", "1Gi", target_peak=10_000, headroom=0.3)
    assert p.per_pod_rate == 2_000
    assert p.required_rate == pytest.approx(13_000)
    assert p.pods == 7  # 13,000 / 2,000 = 6.5, rounded up
    assert p.total_cpu == pytest.approx(3.5)
    assert p.total_memory == 7 * GI
    assert p.comparison is None
    assert p.assumptions == [LINEAR_SCALING]


def test_an_exact_fit_is_not_rounded_up_by_float_error() -> None:
    # 10,000 × 1.3 is 13000.000000000002 in floats; that is still 13 pods of 1,000/s.
    assert plan(1_000, 1, 1, "1Gi", target_peak=10_000, headroom=0.3).pods == 13
    assert plan(3_000, 3, 1, "1Gi", target_peak=7_000, headroom=0.1).pods == 8  # 7,700 / 1,000 → 7.7 → 8


def test_zero_headroom_and_a_tiny_target() -> None:
    p = plan(1_000, 1, "2", "1.5Gi", target_peak=10_000, headroom=0)
    assert (p.pods, p.required_rate, p.total_cpu, p.total_memory) == (10, 10_000, 20, 15 * GI)
    # Even a trickle needs one pod.
    assert plan(1_000, 1, "2", "1Gi", target_peak=0.5, headroom=0).pods == 1


def test_baseline_comparison() -> None:
    p = plan(4_000, 2, "500m", "1Gi", target_peak=10_000, headroom=0.3, baseline=C5_FLEET)
    c = p.comparison
    assert c is not None
    assert c.pods == 6  # 12,000 / 2,000 per pod
    assert (c.pods_cpu, c.pods_memory) == (3, 6 * GI)
    assert (c.fleet_cpu, c.fleet_memory) == (32, 64 * GI)
    assert c.cpu_ratio == pytest.approx(3 / 32)
    assert c.memory_ratio == pytest.approx(6 / 64)
    assert c.pod_rate_per_cpu == 4_000
    assert c.fleet_rate_per_cpu == 375
    text = format_plan(p)
    assert "6 pods of 500m CPU / 1 GiB match the EC2 fleet of 8 × c5.xlarge (4 vCPU, 8 GiB)" in text
    assert "9.38% of its CPU" in text
    assert "7 pods of 500m CPU / 1 GiB serve 10,000/s with 30% headroom." in text
    assert "linearly" in text


def test_a_fleet_that_one_pod_matches() -> None:
    small = Baseline(knee_rate=1_500, instances=2, instance_type="t3.small", vcpu="2", memory="2Gi")
    p = plan(4_000, 1, "4", "8Gi", target_peak=1_000, baseline=small)
    assert p.comparison is not None and p.comparison.pods == 1
    assert p.comparison.cpu_ratio == 1.0
    assert "1 pod of 4 CPU / 8 GiB matches the EC2 fleet of 2 × t3.small (2 vCPU, 2 GiB)" in format_plan(p)


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        ("1.5", 1.5),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("1E1", 10.0),
        ("100m", 0.1),
        (" 2 ", 2.0),
    ],
)
def test_cpu_quantities(text: str, cores: float) -> None:
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512Mi", 512 * 2**20),
        ("1.5Gi", 1_610_612_736),
        ("1G", 10**9),
        ("128974848", 128_974_848),
        ("129e6", 129_000_000),
        ("123M", 123_000_000),
        ("8GiB", 8 * GI),
        ("1Ti", 2**40),
    ],
)
def test_memory_quantities(text: str, size: int) -> None:
    assert parse_memory(text) == size


@given(st.integers(min_value=1, max_value=10**6))
def test_mebibytes_are_exact(n: int) -> None:
    assert parse_memory(f"{n}Mi") == n * 2**20
    assert parse_memory(str(n)) == n


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("abc", "not a Kubernetes quantity"),
        ("", "not a Kubernetes quantity"),
        ("1.2.3", "not a Kubernetes quantity"),
        ("1e3m", "not a Kubernetes quantity"),  # an exponent and a suffix never mix
        ("2 cores", "not a Kubernetes quantity"),
        ("1Gi", "memory size, not CPU"),
        ("0", "below 1m"),
        ("-1", "below 1m"),
        ("0.0001", "below 1m"),
        (float("nan"), "finite"),
    ],
)
def test_bad_cpu_is_a_user_error(value: str | float, words: str) -> None:
    with pytest.raises(UserError, match=words):
        parse_cpu(value, name="--pod-cpu")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("512m", "thousandths of a byte; write 512Mi or 512M"),
        ("1.5 Gb", "not a Kubernetes quantity"),
        ("Mi", "not a Kubernetes quantity"),
        ("0", "at least one byte"),
        ("-1Gi", "at least one byte"),
    ],
)
def test_bad_memory_is_a_user_error(value: str, words: str) -> None:
    with pytest.raises(UserError, match=words) as caught:
        parse_memory(value, name="--pod-memory")
    assert caught.value.lines()[0].startswith("--pod-memory")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"knee_rate": 0}, "knee rate"),
        ({"pods": 0}, "at least one pod"),
        ({"target_peak": -5}, "target peak"),
        ({"headroom": -0.1}, "headroom"),
        ({"pod_cpu": "lots"}, "pod CPU 'lots'"),
        ({"pod_memory": "1x"}, "pod memory '1x'"),
        (
            {"baseline": Baseline(knee_rate=0, instances=8, instance_type="c5.xlarge", vcpu=4, memory="8Gi")},
            "baseline knee",
        ),
        ({"baseline": Baseline(knee_rate=1, instances=0, instance_type="c5.xlarge", vcpu=4, memory="8Gi")}, "instance"),
        (
            {"baseline": Baseline(knee_rate=1, instances=1, instance_type="c5.xlarge", vcpu=4, memory="8m")},
            "baseline memory",
        ),
    ],
)
def test_plan_rejects_inputs_that_cannot_make_a_plan(kwargs: dict[str, object], words: str) -> None:
    args: dict[str, object] = {
        "knee_rate": 4_000,
        "pods": 2,
        "pod_cpu": "500m",
        "pod_memory": "1Gi",
        "target_peak": 10_000,
    }
    with pytest.raises(UserError, match=words):
        plan(**(args | kwargs))  # type: ignore[arg-type]


def test_display_units() -> None:
    assert (fmt_cpu(0.5), fmt_cpu(2), fmt_cpu(1.25), fmt_cpu(3.0)) == ("500m", "2", "1250m", "3")
    assert (fmt_memory(1_610_612_736), fmt_memory(512 * 2**20), fmt_memory(100)) == ("1.5 GiB", "512 MiB", "100 B")
