"""Health: whether the database answers, and which failures mean it does not.

An edge maps every class in :data:`DATABASE_OUTAGES` to "the database is unavailable" (503
with Retry-After in the API); :func:`ping` raises :class:`DatabaseUnavailable`.
"""

from __future__ import annotations

from sqlalchemy import Engine

from gencredits.store.failures import DATABASE_OUTAGES, DatabaseUnavailable
from gencredits.store.queries import health as health_queries

__all__ = ["DATABASE_OUTAGES", "DatabaseUnavailable", "ping"]


def ping(engine: Engine) -> None:
    """Return when the database answers; raise :class:`DatabaseUnavailable` otherwise."""
    health_queries.ping(engine)
