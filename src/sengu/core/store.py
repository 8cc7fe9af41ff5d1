"""The one SQLite database per SENGU_HOME: schema, migrations and transactions.

Each capability owns its tables and hands its migrations here; nothing else opens the file.
WAL with synchronous=NORMAL survives a killed process (only a power loss can drop the last commits),
and lets the CLI read while the engine writes.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
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


class NoState(UserError):
    """A command that only reads state was pointed at a home (or a capability) with none: most often a typo in
    --home or SENGU_HOME. Nothing is created to answer it."""


class Store:
    """The state database of `home`.

    ``read_only=True`` is for commands that only look (list, history, logs): a home without a database, or a
    database without the capability's tables, raises `NoState` instead of creating them, so a mistyped
    --home is reported rather than answered with an empty new state.
    """

    def __init__(self, home: Path | str | None = None, *, read_only: bool = False):
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.read_only = read_only
        self.path = self.home / DB_NAME
        if read_only:
            if not self.path.is_file():
                where = "no such directory" if not self.home.is_dir() else f"no {DB_NAME} in it"
                raise NoState(
                    f"no sengu state at {self.home} ({where}): nothing has run with this home; "
                    "check --home or SENGU_HOME"
                )
            # mode=rw: SQLite opens the file but never creates it (it may still go between the check and here).
            uri = f"file:{urllib.parse.quote(str(self.path))}?mode=rw"
            try:
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0)
                self.conn.execute("PRAGMA schema_version").fetchone()
            except sqlite3.Error as exc:
                raise UserError(f"cannot read the state database {self.path}: {exc}") from None
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys=ON")
            return
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create state directory {self.home}: {exc.strerror} (set SENGU_HOME)") from None
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
        """Apply the owner's migrations not yet applied, each in its own transaction. Never edit a shipped step.

        Read-only, an owner with no tables yet raises `NoState`; an owner's older tables are still brought up
        to date (the state exists, and its readers need the current shape, as the engine would make it).
        """
        if self.read_only:
            current = self._version(owner)
            if current == 0:
                raise NoState(
                    f"no {owner} state in {self.path}: nothing of {owner} has run with this home yet; "
                    "check --home or SENGU_HOME"
                )
            if current == len(steps):
                return  # up to date: no write lock for a reader
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

    def _version(self, owner: str) -> int:
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if exists is None:
            return 0
        row = self.conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE owner = ?", (owner,)
        ).fetchone()
        return int(row[0])

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
