"""The superseded-price rule, pure (``domain/pricing.py``): how long a price version that is
no longer current is honoured. The boundary to the microsecond, then a property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain import limits
from gencredits.domain.pricing import superseded_version_honoured

SUPERSEDED_AT = datetime(2026, 1, 31, 9, tzinfo=UTC)
VALIDITY = timedelta(seconds=limits.QUOTE_VALIDITY_SECONDS)


def test_honoured_for_a_quotes_validity_after_the_next_version_that_moment_included() -> None:
    assert superseded_version_honoured(SUPERSEDED_AT, SUPERSEDED_AT)
    assert superseded_version_honoured(SUPERSEDED_AT, SUPERSEDED_AT + VALIDITY)
    tick = timedelta(microseconds=1)
    assert not superseded_version_honoured(SUPERSEDED_AT, SUPERSEDED_AT + VALIDITY + tick)
    assert not superseded_version_honoured(SUPERSEDED_AT, SUPERSEDED_AT + timedelta(days=400))


def test_a_clock_behind_the_publisher_is_inside_the_window() -> None:
    assert superseded_version_honoured(SUPERSEDED_AT, SUPERSEDED_AT - timedelta(seconds=5))


def test_a_version_nothing_superseded_on_record_is_not_honoured() -> None:
    assert not superseded_version_honoured(None, SUPERSEDED_AT)


@given(
    st.integers(-(10**12), 10**12).map(lambda us: timedelta(microseconds=us)),
    st.integers(1, 10**6),
)
def test_honoured_exactly_within_the_window(elapsed: timedelta, valid_for_seconds: int) -> None:
    honoured = superseded_version_honoured(
        SUPERSEDED_AT, SUPERSEDED_AT + elapsed, valid_for_seconds=valid_for_seconds
    )
    assert honoured == (elapsed <= timedelta(seconds=valid_for_seconds))
