"""Whether the database answers: the readiness probe's one statement."""

from __future__ import annotations

from sqlalchemy import Engine, text

from gencredits.store.engine import read_transaction
from gencredits.store.failures import DatabaseUnavailable


def ping(engine: Engine) -> None:
    """Run ``SELECT 1`` in a read transaction; raise
    :class:`~gencredits.store.failures.DatabaseUnavailable` (naming the failure) for anything
    that stops it: a connection refused or lost, the pool exhausted, SQLite busy."""
    try:
        with read_transaction(engine) as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        raise DatabaseUnavailable(type(error).__name__) from error
