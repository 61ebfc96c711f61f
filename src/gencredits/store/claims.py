"""Claiming an idempotency key before the work it guards: the statements behind
:func:`gencredits.service.mutation.claim_once`.

A mutation with no existing row to lock (opening an account, a key, a webhook, a catalog or
plan edit, a setting) first inserts its key's row, with ``ON CONFLICT DO NOTHING``. On
PostgreSQL a concurrent twin's insert waits on the first's uncommitted row in the primary key
and, once the first commits, inserts nothing; its next statement (READ COMMITTED) then reads
the first's stored answer. On SQLite writers are serialized anyway. The row is written with an
empty answer and completed by :func:`store_answer` in the same transaction, so no other
transaction ever sees it unfinished.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite

from gencredits.store.tables import idempotency_keys


def claim_key(
    connection: Connection,
    *,
    scope: str,
    key: str,
    operation: str,
    request_hash: str,
    created_at: datetime,
) -> bool:
    """Insert the key's row unless it exists; True when this transaction claimed it."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(idempotency_keys)
        .values(
            scope=scope,
            key=key,
            operation=operation,
            request_hash=request_hash,
            response={},
            created_at=created_at,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        # RETURNING, not the row count: this engine's PostgreSQL driver reports -1 for it
        .returning(idempotency_keys.c.scope)
    )
    return connection.execute(statement).first() is not None


def store_answer(connection: Connection, *, scope: str, key: str, response: Any) -> None:
    """The claimed key's answer, written before its transaction commits."""
    connection.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        .values(response=response)
    )
