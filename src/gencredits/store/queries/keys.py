"""API keys: stored as their secret's hash, looked up by it on every request without a cached
key, listed, revoked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select, update

from gencredits.store.prepared import Prepared
from gencredits.store.tables import api_keys


def live_key(connection: Connection, key_id: str) -> RowMapping | None:
    """The key's row unless it was revoked (or does not exist)."""
    return (
        connection.execute(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        )
        .mappings()
        .first()
    )


# Every request without a cached key runs this: prebuilt and sent through the driver, it costs a
# fifth of what building the statement and running it through SQLAlchemy did.
_LIVE_KEY_BY_HASH = Prepared(
    select(api_keys).where(
        api_keys.c.secret_hash == bindparam("p_secret_hash"), api_keys.c.revoked_at.is_(None)
    )
)


def live_key_by_hash(connection: Connection, secret_hash: str) -> Mapping[str, Any] | None:
    """The row of the key whose secret hashes to ``secret_hash``, unless it was revoked."""
    return _LIVE_KEY_BY_HASH.first_mapping(connection, {"p_secret_hash": secret_hash})


def read_key(connection: Connection, key_id: str) -> RowMapping | None:
    return connection.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()


def insert_key(
    connection: Connection,
    *,
    key_id: str,
    account_id: str | None,
    name: str,
    prefix: str,
    secret_hash: str,
    now: datetime,
) -> None:
    connection.execute(
        insert(api_keys).values(
            id=key_id, account_id=account_id, name=name, prefix=prefix,
            secret_hash=secret_hash, created_at=now, revoked_at=None,
        )
    )


def revoke_key(connection: Connection, key_id: str, now: datetime) -> None:
    """Mark the key revoked at ``now`` (a key revoked already keeps its first moment)."""
    connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def list_keys(connection: Connection, account_id: str | None) -> list[RowMapping]:
    """Every key (of ``account_id`` when given), oldest first."""
    statement = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if account_id is not None:
        statement = statement.where(api_keys.c.account_id == account_id)
    return list(connection.execute(statement).mappings())


def live_operator_key_count(connection: Connection) -> int:
    return int(
        connection.execute(
            select(func.count()).where(
                api_keys.c.account_id.is_(None), api_keys.c.revoked_at.is_(None)
            )
        ).scalar_one()
    )
