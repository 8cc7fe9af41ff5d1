"""Prometheus metrics of the embedded batch engine.

Counters and last-success times are restored from the store when the engine starts, so they count since the
store began (pruned runs included, see retention.py) and `time() - last_success` means what it says after a
restart. The histograms and gauges describe this process only.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sengu.batch.execute import Outcome
from sengu.batch.resolve import JobPlan
from sengu.batch.retention import NOT_STARTED, Total

_LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
_DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class BatchMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.runs = Counter(
            "sengu_batch_runs",
            "Finished runs by job and final status.",
            ["manager", "job", "status"],
            registry=registry,
        )
        self.attempts = Counter(
            "sengu_batch_attempts", "Attempts started, retries included.", ["manager", "job"], registry=registry
        )
        self.missed = Counter(
            "sengu_batch_missed_runs",
            "Scheduled times that did not run (missed or skipped).",
            ["manager", "job", "status"],
            registry=registry,
        )
        self.lateness = Histogram(
            "sengu_batch_start_lateness_seconds",
            "Scheduled time to process start of first attempts.",
            buckets=_LATENESS_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "sengu_batch_run_duration_seconds",
            "Run duration, retries included.",
            ["manager", "job"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.running = Gauge("sengu_batch_running", "Runs in flight.", registry=registry)
        self.jobs = Gauge("sengu_batch_jobs", "Jobs known, by state.", ["state"], registry=registry)
        self.last_success = Gauge(
            "sengu_batch_last_success_timestamp_seconds",
            "When the job last succeeded.",
            ["manager", "job"],
            registry=registry,
        )

    def set_jobs(self, plans: Iterable[JobPlan]) -> None:
        plans = list(plans)
        self.jobs.labels("active").set(sum(1 for p in plans if not p.suspended))
        self.jobs.labels("suspended").set(sum(1 for p in plans if p.suspended))

    def run_finished(self, plan: JobPlan, outcome: Outcome, duration_s: float | None) -> None:
        self.runs.labels(plan.manager, plan.name, outcome.status).inc()
        if duration_s is not None:
            self.duration.labels(plan.manager, plan.name).observe(duration_s)

    def restore(self, totals: Iterable[Total], plans: Iterable[JobPlan]) -> None:
        """Start the counters and last-success times of these jobs from what the store recorded.

        Counted as the engine counts while it runs: scheduled and recovery runs (a `sengu batch run` is
        not the engine's), and only a scheduled run's success is the job's last success.
        """
        wanted = {(p.manager, p.name) for p in plans}
        for t in totals:
            if (t.manager, t.job) not in wanted or t.trigger == "manual":
                continue
            if t.attempts:
                self.attempts.labels(t.manager, t.job).inc(t.attempts)
            if t.status in NOT_STARTED:
                self.missed.labels(t.manager, t.job, t.status).inc(t.runs)
            elif t.status not in ("running", "retrying"):
                self.runs.labels(t.manager, t.job, t.status).inc(t.runs)
            if t.status == "succeeded" and t.trigger == "schedule" and t.last_finished_at is not None:
                # One row per job: totals are grouped by job, trigger and status.
                self.last_success.labels(t.manager, t.job).set(t.last_finished_at.timestamp())
