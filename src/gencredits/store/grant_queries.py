"""Statements about grants that the transfer's split by expiry needs (store/queries.py holds
the rest; new statements go in small modules like this one)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from gencredits.store.tables import grants


def grant_expiries(connection: Connection, grant_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Each grant's expiry (``None``: it lasts), by grant id."""
    ids = sorted(set(grant_ids))
    if not ids:
        return {}
    rows = connection.execute(
        select(grants.c.id, grants.c.expires_at).where(grants.c.id.in_(ids))
    ).all()
    return {int(grant_id): expires_at for grant_id, expires_at in rows}
