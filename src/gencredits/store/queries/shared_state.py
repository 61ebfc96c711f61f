"""What every worker process of one database must agree on besides the ledger: dashboard
sessions signed out, and the rate limits' token buckets.

Each function is one short transaction. The bucket fold is a single UPSERT ... RETURNING on
both backends (SQLite 3.35+ and PostgreSQL), so folding a worker's count costs one statement.
On SQLite it commits without an fsync (``synchronous=NORMAL`` for that transaction): a power
cut may lose the last counts, never a ledger row, since the WAL is written in order and the
next durable commit syncs everything before it. A fold cost ~6 ms with its fsync on the
shared test machine, most of a request's time when amortised over 25 requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import case

from gencredits.store.engine import (
    is_sqlite,
    read_transaction,
    write_transaction,
    writer_lock,
)
from gencredits.store.tables import rate_buckets, signed_out_sessions


def _insert(engine: Engine, table: Any) -> Any:
    return sqlite_insert(table) if is_sqlite(engine) else postgresql_insert(table)


@contextmanager
def _unsynced_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction that, on SQLite, commits without waiting for the disk."""
    lock = writer_lock(engine)
    if lock is None:
        with write_transaction(engine) as connection:
            yield connection
        return
    with lock.held(), engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA synchronous=NORMAL")
        try:
            with connection.begin():
                yield connection
        finally:
            driver.execute("PRAGMA synchronous=FULL")


def record_signed_out(engine: Engine, nonce: str, expires_at_seconds: int, now_seconds: int
                      ) -> None:
    """Remember ``nonce`` as signed out until ``expires_at_seconds``; forget the expired."""
    with write_transaction(engine) as connection:
        connection.execute(
            delete(signed_out_sessions).where(
                signed_out_sessions.c.expires_at_seconds < now_seconds
            )
        )
        connection.execute(
            _insert(engine, signed_out_sessions)
            .values(nonce=nonce, expires_at_seconds=expires_at_seconds)
            .on_conflict_do_nothing(index_elements=["nonce"])
        )


def is_signed_out(engine: Engine, nonce: str) -> bool:
    """One read by primary key."""
    with read_transaction(engine) as connection:
        found = connection.execute(
            select(signed_out_sessions.c.nonce).where(signed_out_sessions.c.nonce == nonce)
        ).first()
    return found is not None


def fold_into_bucket(
    engine: Engine, name: str, count: int, interval_microseconds: int, now_microseconds: int
) -> int:
    """Add ``count`` requests to bucket ``name`` at ``now_microseconds`` and return its new
    theoretical arrival time: ``max(stored, now) + count * interval`` (GCRA)."""
    added = count * interval_microseconds
    statement = _insert(engine, rate_buckets).values(
        name=name, arrival_microseconds=now_microseconds + added
    )
    stored = rate_buckets.c.arrival_microseconds
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "arrival_microseconds": case(
                (stored > now_microseconds, stored), else_=now_microseconds
            ) + added
        },
    ).returning(rate_buckets.c.arrival_microseconds)
    with _unsynced_write(engine) as connection:
        return int(connection.execute(statement).scalar_one())


def forget_full_buckets(engine: Engine, now_microseconds: int) -> None:
    """Delete buckets whose arrival time has passed: they are full, as a missing row is."""
    with _unsynced_write(engine) as connection:
        connection.execute(
            delete(rate_buckets).where(rate_buckets.c.arrival_microseconds < now_microseconds)
        )
