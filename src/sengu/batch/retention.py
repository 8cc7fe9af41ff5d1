"""Retention of the embedded engine's run history, and the totals that outlive it.

The spec's history limits apply as on Kubernetes: per job, the newest successfulJobsHistoryLimit succeeded
runs and failedJobsHistoryLimit runs that ended otherwise (failed, replaced, cancelled) are kept; a run
finished more than ttlSecondsAfterFinished ago goes whatever the limits say. Times that never started
(missed, skipped) create no Job on Kubernetes; here the newest MAX_MISSED_RECORDED of them are kept per job,
under the same TTL. A run in flight is never deleted, nor one whose recovery run is; a recovery run goes
with the run it followed. Log files go with their rows.

Before rows go, their counts are added to batch_totals, so /metrics can say "since the store began" and
when a job last succeeded after its rows are gone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sengu.batch.policy import MAX_MISSED_RECORDED
from sengu.batch.resolve import (
    DEFAULT_FAILED_HISTORY,
    DEFAULT_SUCCESS_HISTORY,
    DEFAULT_TTL_SECONDS_AFTER_FINISHED,
    JobPlan,
)
from sengu.batch.runs import parse_iso
from sengu.core.store import Store

log = logging.getLogger("sengu.batch")

OWNER = "batch-retention"
MIGRATIONS = [
    """
CREATE TABLE batch_totals (
  manager TEXT NOT NULL,
  job TEXT NOT NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  runs INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  last_finished_at TEXT,
  PRIMARY KEY (manager, job, trigger, status)
)
""",
]

# How often the engine prunes while it runs (it also prunes at start).
PRUNE_INTERVAL_S = 600.0
NOT_STARTED = ("missed", "skipped")


@dataclass(frozen=True)
class Limits:
    succeeded: int = DEFAULT_SUCCESS_HISTORY
    other: int = DEFAULT_FAILED_HISTORY
    ttl_s: int = DEFAULT_TTL_SECONDS_AFTER_FINISHED

    @classmethod
    def of(cls, plan: JobPlan) -> Limits:
        return cls(plan.successful_history, plan.failed_history, plan.ttl_seconds_after_finished)


# A job no longer in the spec keeps its runs for the default TTL, whatever the limits it had.
GONE = Limits(succeeded=1 << 30, other=1 << 30)


@dataclass(frozen=True)
class Total:
    manager: str
    job: str
    trigger: str
    status: str
    runs: int
    attempts: int
    last_finished_at: datetime | None


@dataclass(frozen=True)
class Pruned:
    runs: int
    log_files: int


class Retention:
    def __init__(self, store: Store):
        self.store = store
        store.migrate(OWNER, MIGRATIONS)

    def prune(self, plans: Iterable[JobPlan], now: datetime) -> Pruned:
        """Delete what the limits no longer keep; the deleted runs' counts go to batch_totals."""
        limits = {(p.manager, p.name): Limits.of(p) for p in plans}
        rows = self.store.query(
            "SELECT id, manager, job, status, finished_at, created_at FROM batch_runs"
            " WHERE trigger != 'recovery' AND status NOT IN ('running', 'retrying')"
            " AND id NOT IN (SELECT parent_run FROM batch_runs WHERE parent_run IS NOT NULL"
            " AND status IN ('running', 'retrying'))"
            " ORDER BY id DESC"
        )
        seen: dict[tuple[str, str, str], int] = {}
        doomed: list[int] = []
        for row in rows:
            lim = limits.get((row["manager"], row["job"]), GONE)
            status = row["status"]
            kind = "succeeded" if status == "succeeded" else "not-started" if status in NOT_STARTED else "other"
            keep = {"succeeded": lim.succeeded, "other": lim.other, "not-started": MAX_MISSED_RECORDED}[kind]
            n = seen[(row["manager"], row["job"], kind)] = seen.get((row["manager"], row["job"], kind), 0) + 1
            finished = parse_iso(row["finished_at"] or row["created_at"])
            if n > keep or finished < now - timedelta(seconds=lim.ttl_s):
                doomed.append(row["id"])
        if not doomed:
            return Pruned(0, 0)
        paths: list[str] = []
        with self.store.transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed_runs (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM doomed_runs")
            conn.executemany("INSERT INTO doomed_runs (id) VALUES (?)", ((i,) for i in doomed))
            # Recovery runs go with the run they followed (never one still in flight: its parent was kept).
            conn.execute(
                "INSERT OR IGNORE INTO doomed_runs (id) SELECT id FROM batch_runs WHERE trigger = 'recovery'"
                " AND status NOT IN ('running', 'retrying') AND parent_run IN (SELECT id FROM doomed_runs)"
            )
            paths = [
                r[0]
                for r in conn.execute(
                    "SELECT log_path FROM batch_attempts WHERE log_path IS NOT NULL"
                    " AND run_id IN (SELECT id FROM doomed_runs)"
                )
            ]
            conn.execute(
                "INSERT INTO batch_totals (manager, job, trigger, status, runs, attempts, last_finished_at)"
                " SELECT manager, job, trigger, status, COUNT(*), SUM(attempts), MAX(finished_at) FROM batch_runs"
                " WHERE id IN (SELECT id FROM doomed_runs) GROUP BY manager, job, trigger, status"
                " ON CONFLICT (manager, job, trigger, status) DO UPDATE SET runs = runs + excluded.runs,"
                " attempts = attempts + excluded.attempts,"
                " last_finished_at = MAX(COALESCE(last_finished_at, ''), COALESCE(excluded.last_finished_at, ''))"
            )
            conn.execute("DELETE FROM batch_attempts WHERE run_id IN (SELECT id FROM doomed_runs)")
            # Children first: a recovery run refers to its parent.
            conn.execute("DELETE FROM batch_runs WHERE id IN (SELECT id FROM doomed_runs) AND parent_run IS NOT NULL")
            conn.execute("DELETE FROM batch_runs WHERE id IN (SELECT id FROM doomed_runs)")
            conn.execute("DELETE FROM doomed_runs")
        removed = 0
        # After the commit: a crash in between leaves a file without a row, never a row without its file.
        for path in paths:
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not delete the log file %s: %s", path, exc.strerror)
        return Pruned(len(doomed), removed)

    def totals(self) -> list[Total]:
        """Every run the store has known, live rows and pruned ones, by job, trigger and status."""
        rows = self.store.query(
            "SELECT manager, job, trigger, status, SUM(runs) AS runs, SUM(attempts) AS attempts,"
            " MAX(last_finished_at) AS last_finished_at FROM ("
            " SELECT manager, job, trigger, status, COUNT(*) AS runs, SUM(attempts) AS attempts,"
            " MAX(finished_at) AS last_finished_at FROM batch_runs GROUP BY manager, job, trigger, status"
            " UNION ALL SELECT manager, job, trigger, status, runs, attempts, NULLIF(last_finished_at, '')"
            " FROM batch_totals) GROUP BY manager, job, trigger, status"
        )
        return [_total(r) for r in rows]


def _total(row: Any) -> Total:
    last = row["last_finished_at"]
    return Total(
        manager=row["manager"],
        job=row["job"],
        trigger=row["trigger"],
        status=row["status"],
        runs=int(row["runs"]),
        attempts=int(row["attempts"] or 0),
        last_finished_at=parse_iso(last) if last else None,
    )
