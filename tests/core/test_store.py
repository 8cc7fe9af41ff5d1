from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from sengu.core.errors import UserError
from sengu.core.store import EngineLock, Store, default_home


def test_migrations_apply_once_and_in_order(tmp_path: Path) -> None:
    steps = ["CREATE TABLE t (a INTEGER)", "ALTER TABLE t ADD COLUMN b TEXT;\nINSERT INTO t VALUES (1, 'x')"]
    store = Store(tmp_path)
    store.migrate("demo", steps[:1])
    store.migrate("demo", steps)
    store.migrate("demo", steps)  # idempotent
    assert [tuple(r) for r in store.query("SELECT a, b FROM t")] == [(1, "x")]
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).migrate("demo", ["CREATE TABLE t (a)", "CREATE TABLE u (a)"])
    with pytest.raises(UserError) as info:
        Store(tmp_path).migrate("demo", ["CREATE TABLE t (a)"])
    assert "written by a newer sengu (demo schema v2)" in str(info.value)


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.migrate("demo", ["CREATE TABLE t (a INTEGER)"])
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert store.query("SELECT COUNT(*) FROM t")[0][0] == 0


def _try_lock(home: str, queue: multiprocessing.Queue[str]) -> None:
    try:
        EngineLock(Path(home)).acquire()
        queue.put("acquired")
    except UserError as exc:
        queue.put(str(exc))


def test_engine_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    lock = EngineLock(tmp_path)
    lock.acquire()
    queue: multiprocessing.Queue[str] = multiprocessing.Queue()
    other = multiprocessing.Process(target=_try_lock, args=(str(tmp_path), queue))
    other.start()
    other.join(10)
    message = queue.get(timeout=5)
    assert message.startswith("another `sengu up` (pid ") and str(tmp_path) in message
    lock.release()
    other = multiprocessing.Process(target=_try_lock, args=(str(tmp_path), queue))
    other.start()
    other.join(10)
    assert queue.get(timeout=5) == "acquired"


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SENGU_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    monkeypatch.delenv("SENGU_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_home() == tmp_path / "state" / "sengu"
