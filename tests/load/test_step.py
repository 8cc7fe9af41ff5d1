"""The knee search against a synthetic server whose latency explodes past its capacity."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from sengu.core.errors import UserError
from sengu.load.numbers import fmt_num, fmt_pct
from sengu.load.result import Latency, Result
from sengu.load.step import (
    Knee,
    Slo,
    Step,
    find_knee,
    format_knee,
    slo_breaches,
    step_rates,
)


def result(
    *,
    offered: float | None,
    achieved: float,
    p99: float,
    errors: int = 0,
    requests: int | None = None,
    overflow: int = 0,
    warnings: list[str] | None = None,
) -> Result:
    n = round(achieved * 10) if requests is None else requests
    latency = Latency(count=n, mean=p99 / 3, p50=p99 / 4, p90=p99 / 2, p99=p99, p999=p99 * 1.5, max=p99 * 2)
    return Result(
        mode="open" if offered is not None else "closed",
        target="http://127.0.0.1:8080/",
        duration_s=10.0,
        offered_rate=offered,
        achieved_rate=achieved,
        requests=n,
        errors=errors,
        latency_ms=latency,
        service_ms=latency,
        send_lag_ms=Latency(count=n, p50=0.1, p99=0.3, max=1.0),
        overflow=overflow,
        warnings=warnings or [],
    )


@dataclass
class Server:
    """An M/M/1-flavoured server: p99 grows as 1/(1-ρ) below capacity; above it a queue builds for the
    whole 10 s step (so latency is seconds) and completions stay at capacity. Past `fail_above` it
    answers 5xx to the excess share."""

    capacity: float
    service_ms: float = 2.0
    fail_above: float = math.inf
    asked: list[float] = field(default_factory=list)

    def run(self, rate: float) -> Result:
        self.asked.append(rate)
        if rate < self.capacity:
            p99 = self.service_ms * math.log(100) / (1 - rate / self.capacity)
            achieved = rate
        else:
            # Saturated: queues of about a second even at capacity, plus the backlog that builds over
            # the 10 s step, (rate - capacity) × 10 requests waiting their turn.
            p99 = 1_000 + 10_000 * (rate - self.capacity) / self.capacity
            achieved = self.capacity
        requests = round(achieved * 10)
        errors = 0
        if rate > self.fail_above:
            errors = round(requests * (rate - self.fail_above) / rate)
        return result(offered=rate, achieved=achieved, p99=p99, errors=errors, requests=requests)


SLO = Slo(max_p99_ms=200, max_error_rate=0.01)


def test_linear_search_stops_at_the_first_step_past_capacity() -> None:
    server = Server(capacity=4_500)
    knee = find_knee(server.run, start=1_000, step=1_000, max_rate=10_000, slo=SLO)
    assert server.asked == [1_000, 2_000, 3_000, 4_000, 5_000]  # nothing run past the first break
    assert knee.rate == 4_000
    assert knee.broke_at == 5_000
    assert knee.found
    assert "achieved 4,500/s < 99% of 5,000/s" in knee.broke_by
    assert any(r.startswith("p99 ") and r.endswith("> 200 ms") for r in knee.broke_by)
    assert [s.ok for s in knee.steps] == [True, True, True, True, False]
    assert knee.slo == SLO


def test_geometric_search_with_bisection_narrows_the_knee() -> None:
    server = Server(capacity=4_500)
    knee = find_knee(server.run, start=500, factor=2, max_rate=64_000, slo=SLO, refine=3)
    # 500, 1k, 2k, 4k held; 8k broke; then 6k (bad), 5k (bad), 4.5k (bad: at capacity).
    assert server.asked == [500, 1_000, 2_000, 4_000, 8_000, 6_000, 5_000, 4_500]
    assert knee.rate == 4_000
    assert knee.broke_at == 4_500
    # The reasons are those of the lowest rate that broke, not the first.
    assert knee.broke_by == next(s.reasons for s in knee.steps if s.rate == 4_500)


def test_bisection_raises_the_knee_when_the_middle_holds() -> None:
    server = Server(capacity=7_000)
    knee = find_knee(server.run, start=2_000, step=4_000, max_rate=10_000, slo=SLO, refine=1)
    # 2k held, 6k: ρ = 0.857, p99 ≈ 64 ms, held; 10k broke; middle 8k broke.
    assert server.asked == [2_000, 6_000, 10_000, 8_000]
    assert (knee.rate, knee.broke_at) == (6_000, 8_000)
    server = Server(capacity=9_000)
    knee = find_knee(server.run, start=2_000, step=4_000, max_rate=10_000, slo=SLO, refine=1)
    # 2k, 6k held; 10k broke; middle 8k: ρ = 0.89, p99 ≈ 83 ms, held → the knee moves up to it.
    assert server.asked == [2_000, 6_000, 10_000, 8_000]
    assert (knee.rate, knee.broke_at) == (8_000, 10_000)


def test_errors_alone_break_the_slo() -> None:
    server = Server(capacity=100_000, fail_above=3_000)
    knee = find_knee(server.run, start=1_000, step=1_000, max_rate=10_000, slo=SLO)
    # At 4k the share above 3k fails: 1,000/4,000 = 25%.
    assert knee.rate == 3_000
    assert knee.broke_at == 4_000
    assert knee.broke_by == ["errors 25% > 1%"]


def test_a_first_step_that_breaks_gives_no_knee_and_no_refinement() -> None:
    server = Server(capacity=500)
    knee = find_knee(server.run, start=1_000, step=1_000, max_rate=5_000, slo=SLO, refine=3)
    assert server.asked == [1_000]
    assert knee.rate is None
    assert knee.broke_at == 1_000
    assert "Start lower" in format_knee(knee)


def test_holding_up_to_max_rate_gives_a_lower_bound_and_max_rate_is_always_tried() -> None:
    server = Server(capacity=1_000_000)
    seen: list[Step] = []
    knee = find_knee(server.run, start=1_000, step=3_000, max_rate=5_000, slo=SLO, refine=2, on_step=seen.append)
    assert server.asked == [1_000, 4_000, 5_000]
    assert knee == Knee(rate=5_000, broke_at=None, broke_by=[], steps=seen, slo=SLO)
    assert not knee.found
    assert "Raise --max-rate" in format_knee(knee)


def test_step_rates() -> None:
    assert step_rates(start=1_000, step=1_000, max_rate=3_000) == [1_000, 2_000, 3_000]
    assert step_rates(start=100, factor=1.5, max_rate=400) == [100, 150, 225, 337.5, 400]
    # Computed by index: 0.1 steps land on 1.0, not 0.9999999 plus an extra max step.
    rates = step_rates(start=0.1, step=0.1, max_rate=1.0)
    assert len(rates) == 10
    assert rates[-1] == pytest.approx(1.0)
    assert step_rates(start=500, step=100, max_rate=500) == [500]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"start": 100, "max_rate": 200}, "either a linear step"),
        ({"start": 100, "max_rate": 200, "step": 10, "factor": 2}, "either a linear step"),
        ({"start": 0, "max_rate": 200, "step": 10}, "start rate"),
        ({"start": 100, "max_rate": 50, "step": 10}, "at least the start rate"),
        ({"start": 100, "max_rate": 200, "step": -1}, "step must be a positive"),
        ({"start": 100, "max_rate": 200, "factor": 1}, "greater than 1"),
    ],
)
def test_step_rates_reject_bad_options(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(UserError, match=words):
        step_rates(**kwargs)


def test_negative_refine_is_a_user_error() -> None:
    with pytest.raises(UserError, match="refinement"):
        find_knee(Server(capacity=1).run, start=1, step=1, max_rate=2, slo=SLO, refine=-1)


def test_slo_breach_reasons_read_like_the_issue() -> None:
    slo = Slo(max_p99_ms=500, max_error_rate=0.01)
    bad = result(offered=10_000, achieved=8_700, p99=812.3, errors=3_200, requests=100_000)
    assert slo_breaches(bad, slo) == ["p99 812 ms > 500 ms", "errors 3.2% > 1%", "achieved 8,700/s < 99% of 10,000/s"]
    assert slo_breaches(result(offered=10_000, achieved=9_950, p99=499.9, errors=1_000, requests=100_000), slo) == []
    # Achieved exactly at the ratio holds; a hair below breaks.
    assert slo_breaches(result(offered=10_000, achieved=9_900, p99=1), slo) == []
    assert slo_breaches(result(offered=10_000, achieved=9_899, p99=1), slo) == ["achieved 9,899/s < 99% of 10,000/s"]


def test_slo_checks_that_depend_on_the_run() -> None:
    slo = Slo(max_p99_ms=500, max_error_rate=0.01)
    # A closed-model run has no offered rate to fall short of.
    assert slo_breaches(result(offered=None, achieved=30_000, p99=3), slo) == []
    # Nothing completed is never a pass.
    assert slo_breaches(result(offered=None, achieved=0, p99=0, requests=0), slo) == ["no request completed"]
    # Overflow means the offered load was not sent — a breach while the achieved ratio is checked…
    assert slo_breaches(result(offered=1_000, achieved=1_000, p99=3, overflow=12), slo) == [
        "12 requests overflowed the generator's backlog"
    ]
    # …and not for `sengu load run` thresholds, which switch that check off.
    run_slo = Slo(max_p99_ms=500, max_error_rate=None, min_achieved_ratio=None)
    assert slo_breaches(result(offered=1_000, achieved=10, p99=3, overflow=12, errors=5), run_slo) == []


def test_number_formatting() -> None:
    assert fmt_num(8_700) == "8,700"
    assert fmt_num(812.3) == "812"
    assert fmt_num(12.25) == "12.2"
    assert fmt_num(4.5) == "4.5"
    assert fmt_num(0.004) == "0.004"
    assert fmt_pct(0.032) == "3.2%"
    assert fmt_pct(0.01) == "1%"
    assert fmt_pct(0) == "0%"
    assert fmt_pct(0.00001) == "0.001%"  # small but never printed as 0%


def test_format_knee_lists_steps_and_the_warning_of_the_breaking_step() -> None:
    def run(rate: float) -> Result:
        if rate <= 2_000:
            return result(offered=rate, achieved=rate, p99=5)
        return result(offered=rate, achieved=rate * 0.8, p99=5, warnings=["the generator was the bottleneck"])

    knee = find_knee(run, start=1_000, step=1_000, max_rate=5_000, slo=SLO)
    text = format_knee(knee)
    assert "Knee: 2,000/s held within the SLO; 3,000/s broke it (achieved 2,400/s < 99% of 3,000/s)." in text
    assert "Warnings at that step: the generator was the bottleneck" in text
    assert text.count("\n") == 5  # header, three steps, verdict, warnings
