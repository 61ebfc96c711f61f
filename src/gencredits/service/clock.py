"""Where the time comes from. The domain never reads a clock; services ask one of these.

``GENCREDITS_NOW`` (an ISO 8601 time) freezes the clock for a whole process, so billing cycles
can be shown and tested from the command line; tests move a :class:`ManualClock`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from gencredits.config import Settings


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved: for tests and ``GENCREDITS_NOW``."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = as_utc(moment)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


def as_utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time(text: str, *, field: str) -> datetime:
    """An ISO 8601 time in UTC (naive read as UTC), within the bounds of every time given."""
    from gencredits.domain.bounds import bounded_moment
    from gencredits.domain.errors import InvalidRequest

    try:
        return bounded_moment(datetime.fromisoformat(text), field=field)
    except ValueError:
        raise InvalidRequest(
            f"{field} must be an ISO 8601 time such as 2026-01-31T09:00:00Z, got {text!r}",
            field=field,
        ) from None


def clock_from_environment() -> Clock:
    text = Settings.from_environment().now
    if text:
        return ManualClock(parse_time(text, field="GENCREDITS_NOW"))
    return SystemClock()
