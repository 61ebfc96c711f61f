"""The raw-SQL baseline: the least a durable debit can do.

Per debit, one transaction: a conditional ``UPDATE accounts SET balance = balance - cost
WHERE id = ? AND balance >= cost`` (refused when no row changes: no overdraft) and an
``INSERT`` of a ledger row (account, amount, idempotency key, time), then ``COMMIT``. SQLite
uses the settings gencredits uses (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``); PostgreSQL
the server's defaults (``fsync=on``, ``synchronous_commit=on``), through psycopg directly, one
connection per thread. There is no idempotency check, no grants, no cached quote: the gap to
gencredits is the price of those, of Python and of SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg

SCHEMA = (
    "CREATE TABLE raw_accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0))",
    "CREATE TABLE raw_ledger (id {id} PRIMARY KEY, account_id TEXT NOT NULL, "
    "amount BIGINT NOT NULL, idempotency_key TEXT, created_at TEXT NOT NULL)",
)


def account_ids(count: int) -> list[str]:
    return [f"raw-{number:05d}" for number in range(count)]


class RawSqliteLedger:
    """One writer: the single-connection baseline for in-process SQLite."""

    def __init__(self, path: Path, *, accounts: int, balance_credits: int) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("PRAGMA busy_timeout=30000")
        for statement in SCHEMA:
            self.connection.execute(statement.format(id="INTEGER"))
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany(
            "INSERT INTO raw_accounts VALUES (?, ?)",
            [(account_id, balance_credits) for account_id in account_ids(accounts)],
        )
        self.connection.execute("COMMIT")
        self.lock = threading.Lock()

    def debit(self, account_id: str, amount_credits: int, key: str) -> bool:
        with self.lock:
            execute = self.connection.execute
            execute("BEGIN IMMEDIATE")
            changed = execute(
                "UPDATE raw_accounts SET balance = balance - ? WHERE id = ? AND balance >= ?",
                (amount_credits, account_id, amount_credits),
            ).rowcount
            if not changed:
                execute("ROLLBACK")
                return False
            execute(
                "INSERT INTO raw_ledger (account_id, amount, idempotency_key, created_at) "
                "VALUES (?, ?, ?, ?)",
                (account_id, amount_credits, key, datetime.now(UTC).isoformat()),
            )
            execute("COMMIT")
            return True

    def close(self) -> None:
        self.connection.close()


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) as ``postgresql://...`` (libpq)."""
    return "postgresql://" + url.split("://", 1)[1]


class RawPostgresLedger:
    """One psycopg connection per thread, statements prepared by the driver."""

    def __init__(self, url: str, *, accounts: int, balance_credits: int) -> None:
        self.url = libpq_url(url)
        self.local = threading.local()
        self.connections: list[psycopg.Connection[tuple[object, ...]]] = []
        self.lock = threading.Lock()
        with psycopg.connect(self.url) as connection:
            connection.execute("DROP TABLE IF EXISTS raw_ledger")
            connection.execute("DROP TABLE IF EXISTS raw_accounts")
            for statement in SCHEMA:
                connection.execute(statement.format(id="BIGSERIAL"))
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO raw_accounts VALUES (%s, %s)",
                    [(account_id, balance_credits) for account_id in account_ids(accounts)],
                )

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = psycopg.connect(self.url, prepare_threshold=0)
            self.local.connection = connection
            with self.lock:
                self.connections.append(connection)
        return connection

    def debit(self, account_id: str, amount_credits: int, key: str) -> bool:
        connection = self._connection()
        changed = connection.execute(
            "UPDATE raw_accounts SET balance = balance - %s WHERE id = %s AND balance >= %s",
            (amount_credits, account_id, amount_credits),
        ).rowcount
        if not changed:
            connection.rollback()
            return False
        connection.execute(
            "INSERT INTO raw_ledger (account_id, amount, idempotency_key, created_at) "
            "VALUES (%s, %s, %s, %s)",
            (account_id, amount_credits, key, datetime.now(UTC).isoformat()),
        )
        connection.commit()
        return True

    def close(self) -> None:
        with self.lock:
            for connection in self.connections:
                connection.close()
            self.connections.clear()
