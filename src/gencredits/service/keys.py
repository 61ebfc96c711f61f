"""API keys: random secrets shown once, stored only as SHA-256 hashes, revocable.

An operator key (``gc_op_...``) may do everything; an account key (``gc_ak_...``) reads its
own account, quotes, charges and holds on it, and nothing else. A key is 32 random bytes, so a
plain SHA-256 is enough to store it (no password stretching is needed for such entropy).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.service.mutation import Mutation, claim_once, operator_scope
from gencredits.store.engine import (
    read_transaction,
    sibling_mode,
    sqlite_file,
    write_transaction,
)
from gencredits.store.queries import accounts as account_queries
from gencredits.store.queries import keys as key_queries

OPERATOR_PREFIX = "gc_op_"
ACCOUNT_PREFIX = "gc_ak_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str | None
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def is_operator(self) -> bool:
        return self.account_id is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "prefix": self.prefix,
            "operator": self.is_operator,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: Any) -> ApiKey:
    return ApiKey(row["id"], row["account_id"], row["name"], row["prefix"], row["created_at"],
                  row["revoked_at"])


def create_key(
    engine: Engine,
    *,
    account_id: str | None,
    name: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned here once and never again, except to
    a replay of ``idempotency_key`` (its answer, secret included, is kept as long as the key)."""
    if not 1 <= len(name) <= 120:
        raise InvalidRequest("a key name has 1 to 120 characters", field="name")
    mutation = Mutation(
        scope=operator_scope("create_key"), key=idempotency_key, operation="create_key",
        payload={"account_id": account_id, "name": name},
        encode=_key_and_secret_document, decode=_key_and_secret,
    )
    with write_transaction(engine) as connection:
        return claim_once(connection, mutation, now,
                          lambda: _insert_key(connection, account_id, name, now))


def _insert_key(
    connection: Connection, account_id: str | None, name: str, now: datetime
) -> tuple[ApiKey, str]:
    secret = (ACCOUNT_PREFIX if account_id else OPERATOR_PREFIX) + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(8)
    if account_id is not None and not account_queries.account_exists(connection, account_id):
        raise NotFound("account", account_id, field="account_id")
    key_queries.insert_key(
        connection, key_id=key_id, account_id=account_id, name=name, prefix=secret[:10],
        secret_hash=hash_secret(secret), now=now,
    )
    row = key_queries.read_key(connection, key_id)
    assert row is not None
    return _key(row), secret


def _key_document(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "account_id": key.account_id, "name": key.name,
            "prefix": key.prefix, "created_at": key.created_at.isoformat(),
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


def _key_from_document(data: dict[str, Any]) -> ApiKey:
    revoked = data["revoked_at"]
    return ApiKey(data["id"], data["account_id"], data["name"], data["prefix"],
                  datetime.fromisoformat(data["created_at"]),
                  datetime.fromisoformat(revoked) if revoked else None)


def _key_and_secret_document(created: tuple[ApiKey, str]) -> dict[str, Any]:
    return {"key": _key_document(created[0]), "secret": created[1]}


def _key_and_secret(data: dict[str, Any]) -> tuple[ApiKey, str]:
    return _key_from_document(data["key"]), str(data["secret"])


def authenticate(engine: Engine, secret: str) -> ApiKey | None:
    """The live key with this secret, or None (unknown or revoked)."""
    with read_transaction(engine) as connection:
        row = key_queries.live_key_by_hash(connection, hash_secret(secret))
    return None if row is None else _key(row)


def revoke_key(
    engine: Engine, key_id: str, now: datetime, *, idempotency_key: str | None = None
) -> ApiKey:
    """Revoke a key; on a SQLite file, every process's key cache hears of it before this
    returns (:func:`revocations`)."""
    mutation = Mutation(
        scope=operator_scope("revoke_key"), key=idempotency_key, operation="revoke_key",
        payload={"key_id": key_id}, encode=_key_document, decode=_key_from_document,
    )
    with write_transaction(engine) as connection:
        revoked = claim_once(connection, mutation, now,
                             lambda: _revoke(connection, key_id, now))
    database = sqlite_file(engine)
    if database is not None:  # after the commit: a cache that re-reads the key must see it revoked
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        descriptor = os.open(_revocations_path(database), flags, sibling_mode(database))
        try:
            os.write(descriptor, b".")
        finally:
            os.close(descriptor)
    return revoked


def _revoke(connection: Connection, key_id: str, now: datetime) -> ApiKey:
    key_queries.revoke_key(connection, key_id, now)
    row = key_queries.read_key(connection, key_id)
    if row is None:
        raise NotFound("key", key_id, field="key_id")
    return _key(row)


def _revocations_path(database: str) -> str:
    return database + "-keys.revoked"


def revocations(engine: Engine) -> Callable[[], int] | None:
    """A count that grows with every revocation of a key of this database, in any process:
    the size of ``<database>-keys.revoked``, to which :func:`revoke_key` appends a byte after
    its commit (an append is atomic, and a size only grows, where a timestamp can repeat
    within the clock's tick). One ``stat`` reads it (~2 µs), so a key cache can check it on
    every request. None for PostgreSQL, whose servers share no file."""
    database = sqlite_file(engine)
    if database is None:
        return None
    path = _revocations_path(database)

    def count() -> int:
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            return 0

    return count


def list_keys(engine: Engine, account_id: str | None = None) -> list[ApiKey]:
    with read_transaction(engine) as connection:
        return [_key(row) for row in key_queries.list_keys(connection, account_id)]


def operator_key_count(engine: Engine) -> int:
    with read_transaction(engine) as connection:
        return key_queries.live_operator_key_count(connection)
