"""What the store raises when the database refuses or does not answer, so that the service
never catches SQLAlchemy's exceptions itself.

- :class:`DuplicateRow`: an insert met a row with the same key (two processes opened the same
  account, or seeded the same catalog, at the same moment). The transaction is lost; the
  caller may run its unit of work again and find the other's row.
- :class:`DatabaseUnavailable`: the database did not answer (down, restarting, a connection
  lost, SQLite busy past its timeout).

:data:`DATABASE_OUTAGES` is what an edge maps to "the database is unavailable" (503): the
store's own failure and SQLAlchemy's ``OperationalError``, which a statement anywhere may
raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError, OperationalError


class DuplicateRow(Exception):
    """An insert met an existing row with the same key."""


class DatabaseUnavailable(Exception):
    """The database did not answer; ``reason`` names what failed (the driver's error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database did not answer ({reason})")
        self.reason = reason


DATABASE_OUTAGES: tuple[type[Exception], ...] = (DatabaseUnavailable, OperationalError)


@contextmanager
def duplicates_raised() -> Iterator[None]:
    """Run inserts, raising :class:`DuplicateRow` for a unique or primary key they break."""
    try:
        yield
    except IntegrityError as error:
        raise DuplicateRow(str(error.orig)) from error
