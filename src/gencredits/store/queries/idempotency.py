"""Idempotency keys: the first answer to a (scope, key), stored in the request's own
transaction.

Claiming a key before the work it guards (:func:`claim_key`, :func:`store_answer`: the
statements behind :func:`gencredits.service.mutation.claim_once`): a mutation with no existing
row to lock (opening an account, a key, a webhook, a catalog or plan edit, a setting) first
inserts its key's row, with ``ON CONFLICT DO NOTHING``. On PostgreSQL a concurrent twin's
insert waits on the first's uncommitted row in the primary key and, once the first commits,
inserts nothing; its next statement (READ COMMITTED) then reads the first's stored answer. On
SQLite writers are serialized anyway. The row is written with an empty answer and completed by
:func:`store_answer` in the same transaction, so no other transaction ever sees it unfinished.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from gencredits.store.prepared import Prepared, PreparedIn
from gencredits.store.tables import (
    idempotency_keys,
)


@dataclass(frozen=True, slots=True)
class StoredKey:
    operation: str
    request_hash: str
    response: Any


_FIND_KEY = Prepared(
    select(
        idempotency_keys.c.operation,
        idempotency_keys.c.request_hash,
        idempotency_keys.c.response,
    ).where(
        idempotency_keys.c.scope == bindparam("p_scope"),
        idempotency_keys.c.key == bindparam("p_key"),
    )
)
_KEY_COLUMNS = ("scope", "key", "operation", "request_hash", "response", "created_at")
_INSERT_KEY = Prepared(
    insert(idempotency_keys).values({name: bindparam(name) for name in _KEY_COLUMNS})
)


def find_idempotency_key(connection: Connection, scope: str, key: str) -> StoredKey | None:
    row = _FIND_KEY.first(connection, {"p_scope": scope, "p_key": key})
    return None if row is None else StoredKey(*row)


def _find_keys(binds: list[Any]) -> Any:
    """The stored keys among the (scope, key) pairs ``binds``: the pairs as a table, each
    looked up in the keys' primary key. A row-value ``IN`` list made SQLite scan the whole
    index instead (150 µs a pair at 200,000 keys); ``CROSS JOIN`` keeps SQLite from putting
    the keys table in the outer loop (PostgreSQL plans it as it likes)."""
    pairs = ", ".join(f"(:{scope.key}, :{key.key})" for scope, key in binds)
    return text(
        f'WITH wanted (scope, "key") AS (VALUES {pairs}) '
        'SELECT k.scope, k."key", k.operation, k.request_hash, k.response '
        "FROM wanted CROSS JOIN idempotency_keys AS k "
        'WHERE k.scope = wanted.scope AND k."key" = wanted."key"'
    ).columns(
        idempotency_keys.c.scope,
        idempotency_keys.c.key,
        idempotency_keys.c.operation,
        idempotency_keys.c.request_hash,
        idempotency_keys.c.response,
    )


_FIND_KEYS = PreparedIn(_find_keys, width=2)


def find_idempotency_keys(
    connection: Connection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], StoredKey]:
    """Many keys in one statement: (scope, key) -> what is stored, for those found."""
    rows = _FIND_KEYS.rows(connection, sorted(set(pairs)))
    return {(scope, key): StoredKey(*stored) for scope, key, *stored in rows}


def insert_idempotency_keys(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Many keys (each a mapping of the columns of :func:`insert_idempotency_key`)."""
    if len(rows) == 1:
        insert_idempotency_key(connection, **rows[0])
    elif rows:
        _INSERT_KEY.execute_many(connection, rows)


def insert_idempotency_key(
    connection: Connection,
    *,
    scope: str,
    key: str,
    operation: str,
    request_hash: str,
    response: Any,
    created_at: datetime,
) -> None:
    _INSERT_KEY.execute(
        connection,
        {
            "scope": scope,
            "key": key,
            "operation": operation,
            "request_hash": request_hash,
            "response": response,
            "created_at": created_at,
        },
    )


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


def delete_keys_before(connection: Connection, cutoff: datetime) -> int:
    """Forget the keys created before ``cutoff``; how many there were."""
    result = connection.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
    )
    return int(result.rowcount or 0)
