"""The one SQLite database per SENGU_HOME: schema, migrations and transactions.

Each capability owns its tables and hands its migrations here; nothing else opens the file.
WAL with synchronous=NORMAL survives a killed process (only a power loss can drop the last commits),
and lets the CLI read while the engine writes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sengu.core.errors import UserError

DB_NAME = "sengu.db"


def default_home() -> Path:
    """$SENGU_HOME, else ~/.local/state/sengu (XDG_STATE_HOME honoured)."""
    env = os.environ.get("SENGU_HOME")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state).expanduser() if state else Path.home() / ".local" / "state"
    return base / "sengu"


class Store:
    def __init__(self, home: Path | str | None = None):
        self.home = Path(home) if home is not None else default_home()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create state directory {self.home}: {exc.strerror} (set SENGU_HOME)") from None
        self.path = self.home / DB_NAME
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " owner TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')),"
            " PRIMARY KEY (owner, version))"
        )

    def migrate(self, owner: str, steps: Sequence[str]) -> None:
        """Apply the owner's migrations not yet applied, each in its own transaction. Never edit a shipped step."""
        with self.transaction():
            row = self.conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE owner = ?", (owner,)
            ).fetchone()
            current = int(row[0])
            if current > len(steps):
                raise UserError(
                    f"the state database {self.path} was written by a newer sengu ({owner} schema v{current}); "
                    "upgrade sengu or use another SENGU_HOME"
                )
            for version, script in enumerate(steps[current:], start=current + 1):
                for statement in script.split(";\n"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute("INSERT INTO schema_migrations (owner, version) VALUES (?, ?)", (owner, version))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; rolled back on any exception. Not re-entrant."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def close(self) -> None:
        self.conn.close()


class EngineLock:
    """One engine per SENGU_HOME: two engines would both run every job."""

    def __init__(self, home: Path):
        self.path = home / "engine.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(
                f"another `sengu up` (pid {holder}) already uses {self.path.parent}; stop it or set SENGU_HOME"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
