"""SQLite writers queue on a ``flock`` (store/engine.py ``WriterLock``) held from before
``BEGIN IMMEDIATE`` to after the commit: other processes and threads wait for it, the holder's
thread may take it again, and PostgreSQL has none."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gencredits.store import engine as engine_module
from gencredits.store.engine import make_engine, write_transaction, writer_lock


def _free_elsewhere(path: str) -> bool:
    """Whether another open file (as another process would have) can take the lock now."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # closing drops a lock this descriptor took
    return True


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path}/ledger.db", pool_size=4)


def test_held_from_before_begin_to_after_commit(engine: Engine) -> None:
    lock = writer_lock(engine)
    assert lock is not None
    with write_transaction(engine) as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert not _free_elsewhere(lock.path)
        with lock.held():  # the same thread again: no deadlock, still held after
            assert not _free_elsewhere(lock.path)
        assert not _free_elsewhere(lock.path)
    assert _free_elsewhere(lock.path)
    with pytest.raises(RuntimeError), write_transaction(engine):
        assert not _free_elsewhere(lock.path)
        raise RuntimeError("rolled back")
    assert _free_elsewhere(lock.path), "released after a rollback too"


def test_another_thread_waits_for_the_holder(engine: Engine, tmp_path: Path) -> None:
    other_engine = make_engine(f"sqlite:///{tmp_path}/ledger.db", pool_size=1)
    assert writer_lock(other_engine) is writer_lock(engine), "one lock per file and process"
    with write_transaction(engine) as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        entered.set()
        with write_transaction(other_engine) as connection:
            order.append("second")
            connection.execute(text("INSERT INTO t VALUES (2)"))

    with write_transaction(engine) as connection:
        thread = threading.Thread(target=second)
        thread.start()
        assert entered.wait(5)
        thread.join(0.2)
        assert thread.is_alive(), "the second writer waits"
        # On the writer lock, before taking a connection: waiting in SQLite's busy handler
        # instead (no lock), it would hold one, blocked in its BEGIN IMMEDIATE.
        assert other_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        order.append("first")
        connection.execute(text("INSERT INTO t VALUES (1)"))
    thread.join(10)
    assert not thread.is_alive()
    assert order == ["first", "second"]
    other_engine.dispose()


@pytest.mark.postgres
def test_no_lock_for_postgresql(postgres_url: str) -> None:
    postgres = make_engine(postgres_url, pool_size=1)
    assert writer_lock(postgres) is None
    postgres.dispose()


def test_a_lock_file_it_cannot_open_leaves_writers_to_sqlite(tmp_path: Path) -> None:
    """Another user's lock file (or a read-only directory): writes go on, queued by SQLite's
    busy handler alone."""
    engine = make_engine(f"sqlite:///{tmp_path}/ledger.db", pool_size=1)
    lock = writer_lock(engine)
    assert lock is not None
    os.mkdir(lock.path)  # a directory: opening it for writing fails
    with write_transaction(engine) as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    with write_transaction(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    engine.dispose()


def test_files_beside_the_database_get_its_permissions(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/ledger.db", pool_size=1)
    with write_transaction(engine) as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    os.chmod(tmp_path / "ledger.db", 0o660)
    other = make_engine(f"sqlite:///{tmp_path}/ledger.db", pool_size=1)
    lock = writer_lock(other)
    assert lock is not None
    os.unlink(lock.path)
    engine_module._WRITER_LOCKS.clear()  # as in a fresh process: the file is created again
    lock = writer_lock(other)
    assert lock is not None
    with write_transaction(other):
        pass
    assert os.stat(lock.path).st_mode & 0o777 == 0o660 & ~_umask()
    engine.dispose()
    other.dispose()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
