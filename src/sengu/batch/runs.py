"""Batch tables in the state database: runs, attempts and per-job schedule cursors.

A run is one scheduled time (or one manual trigger); an attempt is one process started for it.
The unique index on (manager, job, scheduled_at) for scheduled runs is what makes a restarted engine
unable to run a scheduled time twice: the run row is committed before its process starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sengu.core.store import Store

OWNER = "batch"

MIGRATIONS = [
    """
CREATE TABLE batch_runs (
  id INTEGER PRIMARY KEY,
  manager TEXT NOT NULL,
  job TEXT NOT NULL,
  scheduled_at TEXT,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  lost_attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  deadline_at TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  exit_code INTEGER,
  signal INTEGER,
  parent_run INTEGER REFERENCES batch_runs(id)
);
CREATE UNIQUE INDEX batch_runs_once ON batch_runs(manager, job, scheduled_at) WHERE trigger = 'schedule';
CREATE INDEX batch_runs_by_job ON batch_runs(manager, job, id);
CREATE INDEX batch_runs_by_status ON batch_runs(status);
CREATE TABLE batch_attempts (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES batch_runs(id),
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  exit_code INTEGER,
  signal INTEGER,
  pid INTEGER,
  pgid INTEGER,
  proc_start INTEGER,
  log_path TEXT,
  UNIQUE (run_id, attempt)
);
CREATE INDEX batch_attempts_by_status ON batch_attempts(status);
CREATE TABLE batch_cursors (
  manager TEXT NOT NULL,
  job TEXT NOT NULL,
  last_scheduled_at TEXT NOT NULL,
  PRIMARY KEY (manager, job)
)
""",
    # What a restarted engine needs to find and end everything a lost attempt left: the boot the start
    # times count from, and the attempt's log keeper (core/logkeeper.py).
    """
ALTER TABLE batch_attempts ADD COLUMN boot_id TEXT;
ALTER TABLE batch_attempts ADD COLUMN log_pid INTEGER;
ALTER TABLE batch_attempts ADD COLUMN log_proc_start INTEGER
""",
]

# Run statuses. Final: succeeded, failed, missed, skipped, replaced, cancelled. In flight: running, retrying.
IN_FLIGHT = ("running", "retrying")


def iso(t: datetime) -> str:
    """The one text form of instants in the store: UTC, milliseconds, sortable."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Run:
    id: int
    manager: str
    job: str
    scheduled_at: datetime | None
    trigger: str
    status: str
    attempts: int
    lost_attempts: int
    next_attempt_at: datetime | None
    deadline_at: datetime | None
    started_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Run:
        return cls(
            id=row["id"],
            manager=row["manager"],
            job=row["job"],
            scheduled_at=parse_iso(row["scheduled_at"]) if row["scheduled_at"] else None,
            trigger=row["trigger"],
            status=row["status"],
            attempts=row["attempts"],
            lost_attempts=row["lost_attempts"],
            next_attempt_at=parse_iso(row["next_attempt_at"]) if row["next_attempt_at"] else None,
            deadline_at=parse_iso(row["deadline_at"]) if row["deadline_at"] else None,
            started_at=parse_iso(row["started_at"]) if row["started_at"] else None,
        )


class RunStore:
    def __init__(self, store: Store):
        self.store = store
        store.migrate(OWNER, MIGRATIONS)

    # --- schedule cursors -------------------------------------------------------------------------
    def cursors(self, manager: str) -> dict[str, datetime]:
        rows = self.store.query("SELECT job, last_scheduled_at FROM batch_cursors WHERE manager = ?", (manager,))
        return {r["job"]: parse_iso(r["last_scheduled_at"]) for r in rows}

    def set_cursor(self, manager: str, job: str, at: datetime) -> None:
        self.store.execute(
            "INSERT INTO batch_cursors (manager, job, last_scheduled_at) VALUES (?, ?, ?) "
            "ON CONFLICT (manager, job) DO UPDATE SET last_scheduled_at = excluded.last_scheduled_at "
            "WHERE excluded.last_scheduled_at > batch_cursors.last_scheduled_at",
            (manager, job, iso(at)),
        )

    # --- runs -------------------------------------------------------------------------------------
    def create_run(
        self,
        manager: str,
        job: str,
        *,
        trigger: str,
        now: datetime,
        scheduled_at: datetime | None = None,
        status: str = "running",
        reason: str | None = None,
        parent_run: int | None = None,
    ) -> int | None:
        """Insert a run; None when this scheduled time already has one (it ran before a crash)."""
        cur = self.store.execute(
            "INSERT OR IGNORE INTO batch_runs (manager, job, scheduled_at, trigger, status, reason, created_at,"
            " started_at, finished_at, parent_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                manager,
                job,
                iso(scheduled_at) if scheduled_at else None,
                trigger,
                status,
                reason,
                iso(now),
                iso(now) if status == "running" else None,
                iso(now) if status not in IN_FLIGHT else None,
                parent_run,
            ),
        )
        return cur.lastrowid if cur.rowcount else None

    def get_run(self, run_id: int) -> Run:
        return Run.from_row(self.store.query("SELECT * FROM batch_runs WHERE id = ?", (run_id,))[0])

    def update_run(self, run_id: int, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        values = [iso(v) if isinstance(v, datetime) else v for v in fields.values()]
        self.store.execute(f"UPDATE batch_runs SET {cols} WHERE id = ?", (*values, run_id))

    def finish_run(
        self,
        run_id: int,
        status: str,
        now: datetime,
        *,
        reason: str | None = None,
        exit_code: int | None = None,
        signal: int | None = None,
    ) -> None:
        self.update_run(
            run_id,
            status=status,
            reason=reason,
            finished_at=now,
            exit_code=exit_code,
            signal=signal,
            next_attempt_at=None,
        )

    def mark_lost(self, run_id: int) -> None:
        """The run's current attempt died with the engine; lostAttemptPolicy decides what follows."""
        self.store.execute(
            "UPDATE batch_runs SET status = 'retrying', lost_attempts = lost_attempts + 1 WHERE id = ?", (run_id,)
        )

    def in_flight(self) -> list[Run]:
        rows = self.store.query("SELECT * FROM batch_runs WHERE status IN ('running', 'retrying') ORDER BY id")
        return [Run.from_row(r) for r in rows]

    # --- attempts ---------------------------------------------------------------------------------
    def start_attempt(self, run_id: int, attempt: int, now: datetime, log_path: str) -> int:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO batch_attempts (run_id, attempt, status, started_at, log_path) VALUES (?, ?, ?, ?, ?)",
                (run_id, attempt, "running", iso(now), log_path),
            )
            conn.execute(
                "UPDATE batch_runs SET attempts = attempts + 1, status = 'running', next_attempt_at = NULL,"
                " started_at = COALESCE(started_at, ?) WHERE id = ?",
                (iso(now), run_id),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def attempt_pid(
        self,
        attempt_id: int,
        pid: int,
        pgid: int,
        proc_start: int | None,
        *,
        boot_id: str | None = None,
        log_pid: int | None = None,
        log_proc_start: int | None = None,
    ) -> None:
        self.store.execute(
            "UPDATE batch_attempts SET pid = ?, pgid = ?, proc_start = ?, boot_id = ?, log_pid = ?, log_proc_start = ?"
            " WHERE id = ?",
            (pid, pgid, proc_start, boot_id, log_pid, log_proc_start, attempt_id),
        )

    def finish_attempt(
        self,
        attempt_id: int,
        status: str,
        now: datetime,
        *,
        exit_code: int | None = None,
        signal: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.store.execute(
            "UPDATE batch_attempts SET status = ?, finished_at = ?, exit_code = ?, signal = ?, reason = ? WHERE id = ?",
            (status, iso(now), exit_code, signal, reason, attempt_id),
        )

    def running_attempts(self) -> list[Any]:
        return self.store.query(
            "SELECT a.*, r.trigger, r.manager, r.job FROM batch_attempts a JOIN batch_runs r ON r.id = a.run_id"
            " WHERE a.status = 'running'"
        )

    # --- reading ----------------------------------------------------------------------------------
    def history(self, *, manager: str | None = None, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """One row per attempt (or per run with no attempt: missed, skipped), newest first."""
        where, params = [], []
        if manager:
            where.append("r.manager = ?")
            params.append(manager)
        if job:
            where.append("r.job = ?")
            params.append(job)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.store.query(
            "SELECT r.manager, r.job, r.id AS run_id, r.trigger, r.scheduled_at,"
            " COALESCE(a.started_at, r.started_at) AS started_at,"
            " COALESCE(a.finished_at, r.finished_at) AS finished_at,"
            " COALESCE(a.attempt, 0) AS attempt,"
            " CASE WHEN a.id IS NULL THEN r.status ELSE a.status END AS status,"
            # An attempt row shows the attempt's own exit: a lost one has none, whatever its run ended with.
            " CASE WHEN a.id IS NULL THEN r.exit_code ELSE a.exit_code END AS exit_code,"
            " CASE WHEN a.id IS NULL THEN r.signal ELSE a.signal END AS signal,"
            " COALESCE(a.reason, r.reason) AS reason, a.log_path AS log_path, r.status AS run_status"
            f" FROM batch_runs r LEFT JOIN batch_attempts a ON a.run_id = r.id {clause}"
            " ORDER BY r.id DESC, a.attempt DESC LIMIT ?",
            (*params, limit),
        )
        return [dict(r) for r in rows]

    def last_runs(self, manager: str) -> dict[str, dict[str, Any]]:
        """The latest run of each job of a manager (recovery runs are not the job's own)."""
        rows = self.store.query(
            "SELECT r.* FROM batch_runs r JOIN (SELECT job, MAX(id) AS id FROM batch_runs WHERE manager = ?"
            " AND trigger != 'recovery' GROUP BY job) m ON m.id = r.id",
            (manager,),
        )
        return {r["job"]: dict(r) for r in rows}

    def log_paths(self, manager: str | None, job: str, run_id: int | None) -> list[dict[str, Any]]:
        where = ["r.job = ?"]
        params: list[Any] = [job]
        if manager:
            where.append("r.manager = ?")
            params.append(manager)
        if run_id is not None:
            where.append("r.id = ?")
            params.append(run_id)
        else:
            where.append(
                "r.id = (SELECT MAX(run_id) FROM batch_attempts a2 JOIN batch_runs r2 ON r2.id = a2.run_id"
                " WHERE r2.job = ?" + (" AND r2.manager = ?" if manager else "") + ")"
            )
            params.extend([job] + ([manager] if manager else []))
        rows = self.store.query(
            "SELECT r.id AS run_id, r.manager, a.attempt, a.status, a.log_path FROM batch_attempts a"
            f" JOIN batch_runs r ON r.id = a.run_id WHERE {' AND '.join(where)} ORDER BY a.attempt",
            params,
        )
        return [dict(r) for r in rows]
