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
from typing import Any

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


class _PostgresPerThread:
    """One psycopg connection per thread (statements prepared by the driver), closed together."""

    def __init__(self, url: str) -> None:
        self.url = libpq_url(url)
        self.local = threading.local()
        self.connections: list[psycopg.Connection[tuple[Any, ...]]] = []
        self.lock = threading.Lock()

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = psycopg.connect(self.url, prepare_threshold=0)
            self.local.connection = connection
            with self.lock:
                self.connections.append(connection)
        return connection

    def close(self) -> None:
        with self.lock:
            for connection in self.connections:
                connection.close()
            self.connections.clear()


class RawPostgresLedger(_PostgresPerThread):
    """The baseline on PostgreSQL, one connection per worker thread."""

    def __init__(self, url: str, *, accounts: int, balance_credits: int) -> None:
        super().__init__(url)
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


_ACCOUNT_ROW = (
    "SELECT id, name, kind, plan_id, pending_plan_id, anchor_at, cycle_index, cycle_number, "
    "cycle_starts_at, cycle_ends_at, available_credits, held_credits, next_event_at, "
    "low_balance_credits, created_at FROM accounts WHERE id = ?"
)
_KEY_ROW = (
    'SELECT operation, request_hash, response FROM idempotency_keys WHERE scope = ? AND "key" = ?'
)
_LIVE_GRANTS = (
    "SELECT id, remaining_credits, priority, expires_at FROM grants "
    "WHERE account_id = ? AND expired IS 0 AND remaining_credits > 0 "
    "AND (expires_at IS NULL OR expires_at > ?)"
)


def _insert_entry(more_columns: str = "", more_values: str = "") -> str:
    """A charge's entry INSERT (its twelve values bound), with columns of a changed schema."""
    return (
        "INSERT INTO entries (account_id, kind, amount_credits, balance_delta, held_delta, "
        "balance_after, available_after, grants, hold_id, related_entry_id, model_id, "
        "price_version, project, job_ref, idempotency_key, actor, reason, details, effective_at, "
        f"created_at{more_columns}) VALUES (?, 'charge', ?, ?, 0, ?, ?, ?, NULL, NULL, ?, ?, "
        f"NULL, NULL, ?, 'bench', NULL, ?, ?, ?{more_values})"
    )


_INSERT_ENTRY = _insert_entry()
_INSERT_KEY = (
    'INSERT INTO idempotency_keys (scope, "key", operation, request_hash, response, created_at) '
    "VALUES (?, ?, 'charge', ?, ?, ?)"
)
_TAKE_FROM_GRANT = (
    "UPDATE grants SET remaining_credits = remaining_credits - ? "
    "WHERE id = ? AND remaining_credits >= ?"
)
_DEBIT_ACCOUNT = (
    "UPDATE accounts SET available_credits = available_credits + ?, "
    "held_credits = held_credits + 0 WHERE id = ?"
)


class RawSqliteCharges:
    """gencredits' own statements for a lone charge, in its own schema, with no Python around
    them: the floor under the per-charge path.

    Per charge, as ``Gencredits.charge`` runs it: ``BEGIN IMMEDIATE``; the account row read;
    the idempotency key looked up; the live grants read; the entry inserted (its quote
    details as long as a real charge's), the key inserted, the grant and the account updated;
    ``COMMIT``. Written against a database gencredits created and funded, so every table,
    index and page it touches is the real one, and the entries it leaves still add up
    (``verify()`` passes). What it leaves out is everything Python does: pricing, the request
    hash, SQLAlchemy, building the answer. The gap between it and :class:`RawSqliteLedger` is
    the price of the ledger's rows themselves (grants, keys, indexes, a longer entry), which
    no code above SQLite can remove."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute("PRAGMA busy_timeout=30000")
        # A real charge's quote details, so the entry row has the size of a real one.
        row = self.connection.execute(_COPIED_DETAILS).fetchone()
        assert row is not None, "charge once through gencredits first: its details are copied"
        self.details, self.model_id, self.price_version = row
        self.lock = threading.Lock()

    key_row = _KEY_ROW
    insert_entry = _INSERT_ENTRY

    def charge(self, account_id: str, amount_credits: int, key: str) -> bool:
        """One durable charge; False (nothing written) for an unknown account, a used key or
        no grant that covers it."""
        with self.lock:
            execute = self.connection.execute
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            execute("BEGIN IMMEDIATE")
            account = execute(_ACCOUNT_ROW, (account_id,)).fetchone()
            replay = execute(self.key_row, (account_id, key)).fetchone()
            live = execute(_LIVE_GRANTS, (account_id, now)).fetchall()
            funded = [grant for grant in live if grant[1] >= amount_credits]
            if account is None or replay is not None or not funded:
                execute("ROLLBACK")
                return False
            grant_id = min(funded, key=lambda grant: grant[2])[0]
            available, held = account[10] - amount_credits, account[11]
            entry_id = execute(
                self.insert_entry,
                (
                    account_id,
                    amount_credits,
                    -amount_credits,
                    available + held,
                    available,
                    f"[[{grant_id},{amount_credits}]]",
                    self.model_id,
                    self.price_version,
                    key,
                    self.details,
                    now,
                    now,
                ),
            ).lastrowid
            self._store_key(account_id, key, entry_id, now)
            execute(_TAKE_FROM_GRANT, (amount_credits, grant_id, amount_credits))
            execute(_DEBIT_ACCOUNT, (-amount_credits, account_id))
            execute("COMMIT")
            return True

    def _store_key(self, account_id: str, key: str, entry_id: int | None, now: str) -> None:
        self.connection.execute(
            _INSERT_KEY, (account_id, key, "0" * 64, f'{{"entry_id":{entry_id}}}', now)
        )

    def close(self) -> None:
        self.connection.close()


class RawSqliteChargesKeyInEntry(RawSqliteCharges):
    """The floor of a smaller ledger than gencredits': as :class:`RawSqliteCharges`, but a
    charge's idempotency key and request hash live in its entry row alone (found through a
    unique index on ``(account_id, idempotency_key)``), and no ``idempotency_keys`` row is
    written: one row and two index entries fewer a charge. Not what gencredits does (its
    keys table serves holds, captures and every other keyed operation alike, and replays what
    the first call answered); it measures whether any ledger keeping the SPEC's other rows
    (the entry, the grant drawn down, the balance) could reach the per-charge target. Run on
    a copy of gencredits' database (:meth:`copy_of`), whose schema it changes."""

    key_row = "SELECT id, request_hash FROM entries WHERE account_id = ? AND idempotency_key = ?"
    insert_entry = _insert_entry(", request_hash", f", '{'0' * 64}'")

    @classmethod
    def copy_of(cls, path: str, copy: str) -> RawSqliteChargesKeyInEntry:
        """A copy of the database at ``path``, at ``copy``, changed to keep keys in entries."""
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            source.backup(target)
            target.execute("ALTER TABLE entries ADD COLUMN request_hash TEXT")
            target.execute(
                "CREATE UNIQUE INDEX ix_entries_key ON entries (account_id, idempotency_key) "
                "WHERE idempotency_key IS NOT NULL"
            )
            target.commit()
        finally:
            source.close()
            target.close()
        return cls(copy)

    def _store_key(self, account_id: str, key: str, entry_id: int | None, now: str) -> None:
        pass  # written with the entry


class RawPostgresCharges(_PostgresPerThread):
    """:class:`RawSqliteCharges` on PostgreSQL: the same statements (the account row read
    ``FOR UPDATE``, its four writes in one psycopg pipeline as gencredits sends them), one
    connection per thread, in a database gencredits created and funded."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        with psycopg.connect(self.url) as connection:
            row = connection.execute(_COPIED_DETAILS).fetchone()
        assert row is not None, "charge once through gencredits first: its details are copied"
        self.details, self.model_id, self.price_version = row

    def charge(self, account_id: str, amount_credits: int, key: str) -> bool:
        """As :meth:`RawSqliteCharges.charge`."""
        connection = self._connection()
        execute = connection.execute
        now = datetime.now(UTC)
        account = execute(_PG_ACCOUNT_ROW, (account_id,)).fetchone()
        replay = execute(_PG_KEY_ROW, (account_id, key)).fetchone()
        live = execute(_PG_LIVE_GRANTS, (account_id, now)).fetchall()
        funded = [grant for grant in live if grant[1] >= amount_credits]
        if account is None or replay is not None or not funded:
            connection.rollback()
            return False
        grant_id = min(funded, key=lambda grant: grant[2])[0]
        available, held = account[10] - amount_credits, account[11]
        grants = f"[[{grant_id},{amount_credits}]]"
        with connection.pipeline():
            inserted = execute(
                _PG_INSERT_ENTRY,
                (account_id, amount_credits, -amount_credits, available + held, available,
                 grants, self.model_id, self.price_version, key, self.details, now, now),
            ).fetchone()
            assert inserted is not None
            response = f'{{"entry_id":{inserted[0]}}}'
            execute(_PG_INSERT_KEY, (account_id, key, "0" * 64, response, now))
            execute(_PG_TAKE_FROM_GRANT, (amount_credits, grant_id, amount_credits))
            execute(_PG_DEBIT_ACCOUNT, (-amount_credits, account_id))
        connection.commit()
        return True


_COPIED_DETAILS = (
    "SELECT CAST(details AS TEXT), model_id, price_version FROM entries "
    "WHERE kind = 'charge' ORDER BY id DESC LIMIT 1"
)


def _pg(statement: str) -> str:
    """A statement above as PostgreSQL takes it: its placeholders and its booleans."""
    return statement.replace("?", "%s").replace("expired IS 0", "expired IS false")


# The same statements as PostgreSQL takes them, built once (not in every timed charge).
_PG_ACCOUNT_ROW = _pg(_ACCOUNT_ROW) + " FOR UPDATE"
_PG_KEY_ROW = _pg(_KEY_ROW)
_PG_LIVE_GRANTS = _pg(_LIVE_GRANTS)
_PG_INSERT_ENTRY = _pg(_INSERT_ENTRY) + " RETURNING id"
_PG_INSERT_KEY = _pg(_INSERT_KEY)
_PG_TAKE_FROM_GRANT = _pg(_TAKE_FROM_GRANT)
_PG_DEBIT_ACCOUNT = _pg(_DEBIT_ACCOUNT)
