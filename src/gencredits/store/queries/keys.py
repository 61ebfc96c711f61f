"""API keys: the reads the dashboard's sessions need (the key service keeps its own for now)."""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, select

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
