"""Service fixtures: a ``Gencredits`` on a real database (SQLite file or PostgreSQL), whose
clock stands still at 2026-01-31 09:00 UTC until a test moves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

import gencredits
from gencredits import Gencredits, ManualClock

# The SPEC's worked example: a subscription anchored on the 31st of January.
START = datetime(2026, 1, 31, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def credits(database_url: str, clock: ManualClock) -> Iterator[Gencredits]:
    service = gencredits.open(database_url, clock=clock)
    try:
        yield service
    finally:
        service.close()
