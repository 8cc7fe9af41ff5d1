"""Runner tables in the state database: webhook deliveries, workflow jobs, and the runners made for them.

A delivery is committed before the webhook is answered, so an accepted delivery is never lost; its id
(X-GitHub-Delivery) is the primary key, so a redelivery is stored once. It records the pools it was routed
to and the job it is about, and is deleted after the retention time unless that job is still open. A job
is keyed by (pool, job id, run attempt): GitHub re-runs a job with a new attempt, and each needs its own
runner; two pools may each hold a row for one job (one rejected it, another launches it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sengu.core.store import Store
from sengu.runners.machine import Job

OWNER = "runners"

MIGRATIONS = [
    """
CREATE TABLE runners_deliveries (
  delivery_id TEXT PRIMARY KEY,
  received_at TEXT NOT NULL,
  event TEXT NOT NULL,
  body BLOB NOT NULL,
  processed_at TEXT,
  error TEXT
);
CREATE INDEX runners_deliveries_pending ON runners_deliveries(processed_at) WHERE processed_at IS NULL;
CREATE TABLE runners_jobs (
  pool TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  run_attempt INTEGER NOT NULL,
  repository TEXT NOT NULL,
  labels TEXT NOT NULL,
  state TEXT NOT NULL,
  runner_name TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  capacity_override TEXT,
  queued_at TEXT,
  launched_at TEXT,
  started_at TEXT,
  finished_at TEXT,
  PRIMARY KEY (job_id, run_attempt)
);
CREATE INDEX runners_jobs_open ON runners_jobs(state) WHERE state IN ('queued', 'launching', 'running');
CREATE TABLE runners_runners (
  runner_name TEXT PRIMARY KEY,
  pool TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  run_attempt INTEGER NOT NULL,
  backend TEXT NOT NULL,
  kind TEXT NOT NULL,
  handle_id TEXT,
  handle_detail TEXT,
  github_runner_id INTEGER,
  launched_at TEXT NOT NULL,
  stopped_at TEXT,
  stop_reason TEXT
)
""",
    # v2: when the janitor first saw a runner online (the idle timeout counts from it); lookups by runner name.
    """
ALTER TABLE runners_runners ADD COLUMN online_at TEXT;
CREATE INDEX runners_jobs_runner ON runners_jobs(runner_name);
CREATE INDEX runners_jobs_pool_state ON runners_jobs(pool, state, queued_at)
""",
    # v3: jobs keyed by pool as well (a job two pools serve was held by whichever saw it first, and another
    # pool could never launch it); jobs waiting for an approval are open; deliveries know their pools and
    # job (routing, and retention that keeps the deliveries of open jobs).
    """
CREATE TABLE runners_jobs_v3 (
  pool TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  run_attempt INTEGER NOT NULL,
  repository TEXT NOT NULL,
  labels TEXT NOT NULL,
  state TEXT NOT NULL,
  runner_name TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  capacity_override TEXT,
  queued_at TEXT,
  launched_at TEXT,
  started_at TEXT,
  finished_at TEXT,
  earlier_attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pool, job_id, run_attempt)
);
INSERT INTO runners_jobs_v3 (pool, job_id, run_attempt, repository, labels, state, runner_name, attempts, reason,
  capacity_override, queued_at, launched_at, started_at, finished_at)
  SELECT pool, job_id, run_attempt, repository, labels, state, runner_name, attempts, reason, capacity_override,
  queued_at, launched_at, started_at, finished_at FROM runners_jobs;
DROP TABLE runners_jobs;
ALTER TABLE runners_jobs_v3 RENAME TO runners_jobs;
CREATE INDEX runners_jobs_open ON runners_jobs(state) WHERE state IN ('waiting', 'queued', 'launching', 'running');
CREATE INDEX runners_jobs_runner ON runners_jobs(runner_name);
CREATE INDEX runners_jobs_pool_state ON runners_jobs(pool, state, queued_at);
CREATE INDEX runners_jobs_key ON runners_jobs(job_id, run_attempt);
ALTER TABLE runners_deliveries ADD COLUMN pools TEXT;
ALTER TABLE runners_deliveries ADD COLUMN job_id INTEGER;
ALTER TABLE runners_deliveries ADD COLUMN run_attempt INTEGER;
CREATE INDEX runners_deliveries_received ON runners_deliveries(received_at)
""",
    # v4: warm runners (started before any job, for the label set in `warm`; job_id 0 until a job takes
    # one), and when a runner got its current job (its idle time counts from then, not from when it came up).
    """
ALTER TABLE runners_runners ADD COLUMN warm TEXT;
ALTER TABLE runners_runners ADD COLUMN bound_at TEXT;
CREATE INDEX runners_runners_live ON runners_runners(pool, job_id) WHERE stopped_at IS NULL
""",
]

UNBOUND = (0, 0)  # (job id, run attempt) of a warm runner no job holds: GitHub's ids start at 1

OPEN_STATES = "('waiting', 'queued', 'launching', 'running')"  # not final: GitHub may still need a runner
PRUNE_BATCH = 1000  # rows deleted per statement, so a large backlog never holds the database for long


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="milliseconds") if t else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    pools: tuple[str, ...] = ()  # the pools it was routed to at intake


class RunnerStore:
    def __init__(self, store: Store):
        self.store = store
        store.migrate(OWNER, MIGRATIONS)

    # --- deliveries -------------------------------------------------------------------------------
    def add_delivery(
        self,
        delivery_id: str,
        event: str,
        body: bytes | bytearray,
        now: datetime,
        *,
        pools: Sequence[str] = (),
        job: tuple[int, int] | None = None,
    ) -> bool:
        """Store a delivery durably, routed to `pools`, about `job` (id, run attempt). False when this
        delivery id was stored before (a redelivery)."""
        job_id, run_attempt = job if job is not None else (None, None)
        cur = self.store.execute(
            "INSERT OR IGNORE INTO runners_deliveries (delivery_id, received_at, event, body, pools, job_id,"
            " run_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (delivery_id, _iso(now), event, body, json.dumps(list(pools)), job_id, run_attempt),
        )
        return bool(cur.rowcount)

    def pending_deliveries(self, limit: int = 500) -> list[Delivery]:
        rows = self.store.query(
            # Without bodies: one may be 25 MB, and most were parsed at intake already (RunnerEngine._parsed).
            "SELECT delivery_id, event, pools FROM runners_deliveries WHERE processed_at IS NULL"
            " ORDER BY received_at, delivery_id LIMIT ?",
            (limit,),
        )
        out = []
        for r in rows:
            event, pools = r["event"], tuple(json.loads(r["pools"])) if r["pools"] else ()
            if not r["pools"] and "/" in event:  # stored before v3 as POOL/EVENT
                pool, _, event = event.partition("/")
                pools = (pool,)
            out.append(Delivery(r["delivery_id"], event, pools))
        return out

    def delivery_body(self, delivery_id: str) -> bytes:
        rows = self.store.query("SELECT body FROM runners_deliveries WHERE delivery_id = ?", (delivery_id,))
        return bytes(rows[0]["body"]) if rows else b""

    def prune_deliveries(self, received_before: datetime) -> int:
        """Delete processed deliveries received before `received_before`, except those of a job still open
        in some pool (they explain what the job is waiting for). A batch: call again until it returns less
        than PRUNE_BATCH."""
        cur = self.store.execute(
            "DELETE FROM runners_deliveries WHERE rowid IN (SELECT d.rowid FROM runners_deliveries d"
            " WHERE d.received_at < ? AND d.processed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM runners_jobs j"
            f" WHERE j.job_id = d.job_id AND j.run_attempt = d.run_attempt AND j.state IN {OPEN_STATES})"
            " LIMIT ?)",
            (_iso(received_before), PRUNE_BATCH),
        )
        return int(cur.rowcount)

    def delivery_ids(self) -> list[str]:
        """Every stored delivery id, oldest first (tests, and `sengu runners` views)."""
        rows = self.store.query("SELECT delivery_id FROM runners_deliveries ORDER BY received_at, delivery_id")
        return [r["delivery_id"] for r in rows]

    def mark_processed(self, delivery_id: str, now: datetime, error: str | None = None) -> None:
        self.store.execute(
            "UPDATE runners_deliveries SET processed_at = ?, error = ? WHERE delivery_id = ?",
            (_iso(now), error, delivery_id),
        )

    # --- jobs -------------------------------------------------------------------------------------
    def job(self, pool: str, job_id: int, run_attempt: int) -> Job | None:
        rows = self.store.query(
            "SELECT * FROM runners_jobs WHERE pool = ? AND job_id = ? AND run_attempt = ?", (pool, job_id, run_attempt)
        )
        return _job(rows[0]) if rows else None

    def open_jobs(self, pool: str | None = None) -> list[Job]:
        """Jobs not final (waiting for an approval, queued, launching or running): of one pool, or of all."""
        sql = f"SELECT * FROM runners_jobs WHERE state IN {OPEN_STATES}"
        rows = self.store.query(sql + " AND pool = ?", (pool,)) if pool else self.store.query(sql)
        return [_job(r) for r in rows]

    def holder(self, runner_name: str) -> Job | None:
        """The open job a runner is for now (a handover may have moved it since it was decided)."""
        rows = self.store.query(
            "SELECT * FROM runners_jobs WHERE runner_name = ? AND state IN ('queued', 'launching', 'running')",
            (runner_name,),
        )
        return _job(rows[0]) if rows else None

    def queued_jobs(self, pool: str, limit: int) -> list[Job]:
        """Jobs waiting for a runner, oldest first (the order they are admitted in when runners are scarce)."""
        rows = self.store.query(
            "SELECT * FROM runners_jobs WHERE pool = ? AND state = 'queued' ORDER BY queued_at, job_id LIMIT ?",
            (pool, limit),
        )
        return [_job(r) for r in rows]

    def due_for_timeout(self, pool: str, booted_before: datetime, started_before: datetime) -> list[Job]:
        """Jobs whose boot or maximum-duration timeout may have passed: the ticker's only candidates."""
        rows = self.store.query(
            "SELECT * FROM runners_jobs WHERE pool = ? AND ((state = 'launching' AND launched_at < ?)"
            " OR (state = 'running' AND started_at < ?))",
            (pool, _iso(booted_before), _iso(started_before)),
        )
        return [_job(r) for r in rows]

    def observed(self, pool: str) -> list[tuple[Job, dict[str, Any]]]:
        """Jobs launching or running with the live runner that holds compute for them, in one read."""
        rows = self.store.query(
            "SELECT j.*, r.backend AS r_backend, r.kind AS r_kind, r.handle_id AS r_handle_id,"
            " r.handle_detail AS r_handle_detail FROM runners_jobs j JOIN runners_runners r"
            " ON r.runner_name = j.runner_name WHERE j.pool = ? AND j.state IN ('launching', 'running')"
            " AND r.stopped_at IS NULL AND r.handle_id IS NOT NULL",
            (pool,),
        )
        return [(_job(r), {k: r[f"r_{k}"] for k in ("backend", "kind", "handle_id", "handle_detail")}) for r in rows]

    def active_count(self, pool: str) -> int:
        """Runners the pool holds: jobs launching or running, plus live runners of jobs already over (their
        stop is on its way). What maxRunners limits."""
        row = self.store.query(
            "SELECT (SELECT COUNT(*) FROM runners_jobs WHERE pool = ? AND state IN ('launching', 'running'))"
            " + (SELECT COUNT(*) FROM runners_runners r WHERE r.pool = ? AND r.stopped_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM runners_jobs j WHERE j.runner_name = r.runner_name"
            " AND j.state IN ('launching', 'running')))",
            (pool, pool),
        )
        return int(row[0][0])

    def count_open(self, pool: str | None = None) -> int:
        sql = f"SELECT COUNT(*) FROM runners_jobs WHERE state IN {OPEN_STATES}"
        rows = self.store.query(sql + " AND pool = ?", (pool,)) if pool else self.store.query(sql)
        return int(rows[0][0])

    def save_job(self, pool: str, job: Job) -> None:
        self.store.execute(
            "INSERT INTO runners_jobs (pool, job_id, run_attempt, repository, labels, state, runner_name, attempts,"
            " reason, capacity_override, queued_at, launched_at, started_at, finished_at, earlier_attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (pool, job_id, run_attempt) DO UPDATE SET state = excluded.state,"
            " runner_name = excluded.runner_name, attempts = excluded.attempts, reason = excluded.reason,"
            " capacity_override = excluded.capacity_override, queued_at = excluded.queued_at,"
            " launched_at = excluded.launched_at,"
            " started_at = excluded.started_at, finished_at = excluded.finished_at,"
            " earlier_attempts = excluded.earlier_attempts",
            (
                pool,
                job.job_id,
                job.run_attempt,
                job.repository,
                json.dumps(list(job.labels)),
                job.state,
                job.runner_name,
                job.attempts,
                job.reason,
                job.capacity_override,
                _iso(job.queued_at),
                _iso(job.launched_at),
                _iso(job.started_at),
                _iso(job.finished_at),
                job.earlier_attempts,
            ),
        )

    def jobs(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """Live warm runners no job holds (state "warm", no job id), then jobs, newest first."""
        warm = self.store.query(
            "SELECT * FROM runners_runners WHERE job_id = ? AND run_attempt = ? AND stopped_at IS NULL"
            " AND warm IS NOT NULL ORDER BY pool, launched_at, runner_name",
            UNBOUND,
        )
        rows = self.store.query(
            "SELECT j.*, r.backend, r.kind, r.handle_id, r.stopped_at FROM runners_jobs j"
            " LEFT JOIN runners_runners r ON r.runner_name = j.runner_name ORDER BY j.queued_at DESC LIMIT ?",
            (limit,),
        )
        return [_warm_row(r) for r in warm] + [dict(r) for r in rows]

    # --- runners ----------------------------------------------------------------------------------
    def add_runner(
        self,
        pool: str,
        name: str,
        job: Job,
        backend: str,
        kind: str,
        now: datetime,
        github_runner_id: int | None = None,
    ) -> None:
        self.store.execute(
            "INSERT OR IGNORE INTO runners_runners (runner_name, pool, job_id, run_attempt, backend, kind,"
            " github_runner_id, launched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, pool, job.job_id, job.run_attempt, backend, kind, github_runner_id, _iso(now)),
        )

    def set_github_id(self, name: str, github_runner_id: int) -> None:
        self.store.execute(
            "UPDATE runners_runners SET github_runner_id = ? WHERE runner_name = ?", (github_runner_id, name)
        )

    def assign_runner(self, name: str, job_id: int, run_attempt: int, now: datetime | None = None) -> None:
        """The runner now serves another job (GitHub gave it a job other than the one it was made for, or a
        job took a warm runner: `now` given, its idle time counts from then)."""
        self.store.execute(
            "UPDATE runners_runners SET job_id = ?, run_attempt = ?, bound_at = COALESCE(?, bound_at)"
            " WHERE runner_name = ?",
            (job_id, run_attempt, _iso(now), name),
        )

    # --- warm runners -------------------------------------------------------------------------------
    def add_warm_runner(
        self, pool: str, name: str, labels: Sequence[str], backend: str, kind: str, now: datetime
    ) -> None:
        """A warm runner for the label set `labels` (its key, see warm_key), held by no job."""
        self.store.execute(
            "INSERT OR IGNORE INTO runners_runners (runner_name, pool, job_id, run_attempt, backend, kind, launched_at,"
            " warm) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, pool, *UNBOUND, backend, kind, _iso(now), json.dumps(list(labels))),
        )

    def idle_warm(self, pool: str) -> list[dict[str, Any]]:
        """Live warm runners of `pool` that no job holds, oldest first; `warm` decoded to a tuple of labels."""
        rows = self.store.query(
            "SELECT * FROM runners_runners WHERE pool = ? AND job_id = ? AND run_attempt = ? AND stopped_at IS NULL"
            " AND warm IS NOT NULL ORDER BY launched_at, runner_name",
            (pool, *UNBOUND),
        )
        return [{**dict(r), "warm": tuple(json.loads(r["warm"]))} for r in rows]

    def runner_counts(self, pool: str) -> dict[str, int]:
        """Live runners of `pool` by what they do now: busy (GitHub runs a job on it), idle (seen online
        without a job, or a warm runner up and waiting) or launching (not seen online yet)."""
        rows = self.store.query(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM runners_jobs j WHERE j.pool = r.pool AND j.runner_name ="
            " r.runner_name AND j.state = 'running') THEN 'busy' WHEN r.online_at IS NOT NULL THEN 'idle'"
            " ELSE 'launching' END AS what, COUNT(*) AS n FROM runners_runners r"
            " WHERE r.pool = ? AND r.stopped_at IS NULL GROUP BY what",
            (pool,),
        )
        counts = {"launching": 0, "idle": 0, "busy": 0}
        counts.update({r["what"]: int(r["n"]) for r in rows})
        return counts

    def mark_online(self, name: str, now: datetime) -> datetime:
        """Since when the runner is idle: first seen online, or given its job after that (a warm runner
        waits online for hours, then a job takes it)."""
        self.store.execute(
            "UPDATE runners_runners SET online_at = ? WHERE runner_name = ? AND online_at IS NULL", (_iso(now), name)
        )
        rows = self.store.query("SELECT online_at, bound_at FROM runners_runners WHERE runner_name = ?", (name,))
        if not rows:
            return now
        times = [t for t in (_time(rows[0]["online_at"]), _time(rows[0]["bound_at"])) if t is not None]
        return max(times) if times else now

    def set_handle(self, name: str, handle_id: str, detail: dict[str, str]) -> None:
        self.store.execute(
            "UPDATE runners_runners SET handle_id = ?, handle_detail = ? WHERE runner_name = ?",
            (handle_id, json.dumps(detail, sort_keys=True), name),
        )

    def runner(self, name: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM runners_runners WHERE runner_name = ?", (name,))
        return dict(rows[0]) if rows else None

    def live_runners(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.query("SELECT * FROM runners_runners WHERE stopped_at IS NULL")]

    def mark_stopped(self, name: str, now: datetime, reason: str) -> bool:
        """Record that a runner's compute is gone. False when it was recorded before (stop exactly once)."""
        cur = self.store.execute(
            "UPDATE runners_runners SET stopped_at = ?, stop_reason = ? WHERE runner_name = ? AND stopped_at IS NULL",
            (_iso(now), reason, name),
        )
        return bool(cur.rowcount)


def _warm_row(row: Any) -> dict[str, Any]:
    """A warm runner as a row of `sengu runners list`."""
    return {
        "pool": row["pool"],
        "job_id": None,
        "run_attempt": None,
        "repository": None,
        "labels": row["warm"],
        "state": "warm",
        "runner_name": row["runner_name"],
        "backend": row["backend"],
        "kind": row["kind"],
        "handle_id": row["handle_id"],
        "reason": "idle, waiting for a job" if row["online_at"] else "launching, not online yet",
        "queued_at": None,
        "launched_at": row["launched_at"],
        "started_at": None,
        "finished_at": None,
        "stopped_at": None,
    }


def _job(row: Any) -> Job:
    return Job(
        job_id=row["job_id"],
        run_attempt=row["run_attempt"],
        repository=row["repository"],
        labels=tuple(json.loads(row["labels"])),
        state=row["state"],
        queued_at=_time(row["queued_at"]),
        launched_at=_time(row["launched_at"]),
        started_at=_time(row["started_at"]),
        finished_at=_time(row["finished_at"]),
        runner_name=row["runner_name"],
        attempts=row["attempts"],
        reason=row["reason"],
        capacity_override=row["capacity_override"],
        earlier_attempts=row["earlier_attempts"],
    )
