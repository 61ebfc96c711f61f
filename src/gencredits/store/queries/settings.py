"""Operator settings: one value per key (the top-up switch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from gencredits.store.tables import settings


def put_setting(connection: Connection, key: str, value: Any, now: datetime) -> None:
    """Set ``key`` to ``value``, replacing what it was."""
    connection.execute(delete(settings).where(settings.c.key == key))
    connection.execute(insert(settings).values(key=key, value=value, updated_at=now))


def topups_enabled(connection: Connection) -> bool:
    """Whether top-up packs may be granted (the operator's ``topups_enabled`` setting)."""
    value = connection.execute(
        select(settings.c.value).where(settings.c.key == "topups_enabled")
    ).scalar_one_or_none()
    return bool(value)
