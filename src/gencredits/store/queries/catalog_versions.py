"""Price versions: each a whole catalog document under its version number, kept forever."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from gencredits.store.failures import duplicates_raised
from gencredits.store.tables import catalog_versions


def latest_version(connection: Connection) -> int | None:
    """The current price version's number (``None``: nothing was ever published)."""
    version = connection.execute(select(func.max(catalog_versions.c.version))).scalar()
    return None if version is None else int(version)


def version_document(connection: Connection, version: int) -> Any | None:
    """The catalog document published as ``version``, or ``None``."""
    return connection.execute(
        select(catalog_versions.c.document).where(catalog_versions.c.version == version)
    ).scalar_one_or_none()


def version_created_at(connection: Connection, version: int) -> datetime | None:
    """When ``version`` was published (so when the one before it was superseded)."""
    return connection.execute(
        select(catalog_versions.c.created_at).where(catalog_versions.c.version == version)
    ).scalar_one_or_none()


def insert_version(
    connection: Connection, *, version: int, document: Any, now: datetime, actor: str, note: str
) -> None:
    """Publish ``document`` as ``version``. Raises
    :class:`~gencredits.store.failures.DuplicateRow` when that version exists already
    (another process published it first)."""
    with duplicates_raised():
        connection.execute(
            insert(catalog_versions).values(
                version=version, document=document, created_at=now, actor=actor, note=note
            )
        )


def version_history(connection: Connection, limit: int) -> list[dict[str, object]]:
    """The newest ``limit`` versions: number, moment, actor and note of each."""
    rows = connection.execute(
        select(
            catalog_versions.c.version,
            catalog_versions.c.created_at,
            catalog_versions.c.actor,
            catalog_versions.c.note,
        )
        .order_by(catalog_versions.c.version.desc())
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]
