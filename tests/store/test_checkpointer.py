"""WAL checkpoints off the writers' path (``store.sqlite.Checkpointer``): connections of an
engine made for it do not checkpoint, and the checkpointer keeps the WAL from growing while
writers commit without pause."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

import gencredits
from gencredits.store.engine import checkpoints_in_background, make_engine, write_transaction
from gencredits.store.sqlite import Checkpointer

PAGE_OF_BYTES = os.urandom(4000)


def _wal_bytes(database: Path) -> int:
    wal = Path(f"{database}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _write_without_pause(engine: Engine, commits: int) -> None:
    with write_transaction(engine) as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)"))
    for _ in range(commits):
        with write_transaction(engine) as connection:
            connection.execute(text("INSERT INTO t (b) VALUES (:b)"), {"b": PAGE_OF_BYTES})


def test_connections_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    usual = make_engine(f"sqlite:///{tmp_path}/a.db", pool_size=1)
    background = make_engine(f"sqlite:///{tmp_path}/b.db", pool_size=1,
                             background_checkpoints=True)
    for engine, pages in ((usual, 1000), (background, 0)):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == pages
        engine.dispose()


def test_a_database_no_checkpointer_can_serve_keeps_checkpointing_in_its_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A URI names a file SQLite opens, but no writer lock (hence no Checkpointer) is kept for
    # it: its commits must go on checkpointing, or its WAL would grow for ever.
    uri = f"sqlite:///file:{tmp_path}/c.db?mode=rwc&uri=true"
    monkeypatch.chdir(tmp_path)
    engine = make_engine(uri, pool_size=1, background_checkpoints=True)
    assert not (tmp_path / "file:").exists(), "a URI is no path to make directories along"
    assert not checkpoints_in_background(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
    engine.dispose()
    assert (tmp_path / "c.db").exists()
    engine = make_engine(f"sqlite:///{tmp_path}/d.db", pool_size=1, background_checkpoints=True)
    assert checkpoints_in_background(engine)
    engine.dispose()


def test_the_wal_stays_small_while_writers_commit_without_pause(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{database}", pool_size=2, background_checkpoints=True)
    checkpointer = Checkpointer(engine, interval_seconds=0.01, catch_up_frames=400)
    try:
        _write_without_pause(engine, 3000)  # ~3 frames a commit: ~37 MB of WAL unchecked
    finally:
        checkpointer.close()
    assert checkpointer.caught_up > 0
    # The WAL's high-water mark is what writers append during the longest checkpoint (a copy
    # and the database file's fsync: up to ~180 ms seen, ~1,900 frames, 8 MB; once 16 MB,
    # a stalled fsync), so the bound is loose: half of the ~37 MB a WAL that never started
    # over would hold.
    assert _wal_bytes(database) < 18_000_000, "the WAL started over as it was copied"
    with engine.connect() as connection:  # every row is in the database, WAL or not
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 3000
    engine.dispose()


def test_the_checkpointer_outlives_a_database_that_is_busy_when_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first connections fail ("database is locked", as a fresh file being switched to WAL
    by another connection answered once in CI): it tries again at its next interval, and
    checkpoints once the database lets it."""
    real_connect = sqlite3.connect
    refused: list[str] = []

    def busy_at_first(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        if threading.current_thread().name == "gencredits-checkpointer" and len(refused) < 3:
            refused.append("locked")
            raise sqlite3.OperationalError("database is locked")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", busy_at_first)
    database = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{database}", pool_size=2, background_checkpoints=True)
    checkpointer = Checkpointer(engine, interval_seconds=0.01, catch_up_frames=400)
    try:
        _write_without_pause(engine, 300)
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        checkpointer.close()
    assert refused == ["locked"] * 3
    assert checkpointer.checkpoints > 0
    engine.dispose()


def test_without_it_the_wal_grows_with_every_commit(tmp_path: Path) -> None:
    """The control: the same writes, no checkpoints at all."""
    database = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{database}", pool_size=2, background_checkpoints=True)
    _write_without_pause(engine, 1500)
    assert _wal_bytes(database) > 10_000_000
    engine.dispose()


def test_the_service_runs_one_and_stops_it(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    credits = gencredits.open(f"sqlite:///{tmp_path}/ledger.db", background_checkpoints=True)
    new = set(threading.enumerate()) - before
    started = [thread for thread in new if thread.name == "gencredits-checkpointer"]
    assert len(started) == 1 and started[0].is_alive()
    credits.create_account("ana", name="Ana", plan="pro")
    credits.charge("ana", gencredits.QuoteRequest.single("flux-2-pro"), idempotency_key="k")
    credits.close()
    assert not started[0].is_alive()
