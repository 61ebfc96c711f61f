"""Column types shared by every table: aware UTC datetimes on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite keeps no zone; PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert value.tzinfo is not None, "naive datetimes never reach the database"
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # process_bind_param and SQLite's DATETIME processor in one step: the text SQLite's
        # DATETIME writes ("2026-03-31 23:59:58.123456"), a third of the time (a charge
        # writes three). tests/store/test_tables.py holds it to SQLAlchemy's own. The last
        # value's text is kept: an entry's two times are one datetime object.
        last: tuple[datetime | None, str | None] = (None, None)

        def sqlite_text(value: datetime | None) -> str | None:
            nonlocal last
            seen = last  # read once: another thread may replace it meanwhile, never tear it
            if value is seen[0]:
                return seen[1]
            if value is None:
                return None
            assert value.tzinfo is not None, "naive datetimes never reach the database"
            # The UTC moment's ISO text less its "+00:00" (``replace(tzinfo=None)`` first cost
            # as much as the rest together)
            text = value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]
            last = (value, text)
            return text

        return sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        # SQLite's text read as an aware UTC datetime in one step: DATETIME's parse and then
        # ``replace(tzinfo=UTC)`` cost ~0.7 µs a value (an account's row holds five), this
        # ~0.12. Texts it does not take (an offset already in them) go the long way.
        long_way = super().result_processor(dialect, coltype)
        assert long_way is not None
        from_text = datetime.fromisoformat

        def aware(value: str | None) -> datetime | None:
            if value is None:
                return None
            try:
                return from_text(value + "+00:00")
            except (TypeError, ValueError):
                return long_way(value)

        return aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# One instance for every time column, so they share one bind processor and its memory of
# the last value: an entry's effective_at and created_at (and its key's created_at) are one
# datetime object, written once as text. A type per column had a processor per column, and the
# memory never served.
_UTC_DATETIME = UTCDateTime()


def utc() -> UTCDateTime:
    return _UTC_DATETIME
