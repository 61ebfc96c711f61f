"""The column types' own conversions, held to SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from gencredits.store.tables import entries, idempotency_keys
from gencredits.store.types import UTCDateTime

DIALECT = sqlite.dialect()
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)


@given(MOMENTS)
def test_sqlite_text_is_what_sqlalchemy_writes_for_the_utc_moment(moment: datetime) -> None:
    fast = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    sqlalchemy_own = DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert fast is not None and sqlalchemy_own is not None
    expected = sqlalchemy_own(moment.astimezone(UTC).replace(tzinfo=None))
    assert fast(moment) == expected
    # and it reads back as the same moment, in UTC
    read = UTCDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert read is not None
    assert read(expected) == moment
    assert read(expected).tzinfo == UTC


@given(st.lists(st.none() | MOMENTS, max_size=8).map(lambda moments: moments + moments[::-1]))
def test_one_processor_keeps_no_stale_text(moments: list[datetime | None]) -> None:
    """The processor remembers its last value's text: values in turn, each also repeated (the
    same object again, at the turn), each gets its own text."""
    fast = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    sqlalchemy_own = DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert fast is not None and sqlalchemy_own is not None
    for moment in moments:
        expected = None if moment is None else sqlalchemy_own(
            moment.astimezone(UTC).replace(tzinfo=None)
        )
        assert fast(moment) == expected


def test_none_stays_none_and_naive_times_are_refused() -> None:
    fast = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert fast is not None
    assert fast(None) is None
    try:
        fast(datetime(2026, 1, 1))
    except AssertionError:
        return
    raise AssertionError("a naive datetime was written")


def test_a_charges_times_share_one_processor() -> None:
    """The processor's memory of its last value serves only if an entry's two times and its
    key's time go through one processor: one type instance for every time column."""
    processors = {
        id(column.type._cached_bind_processor(DIALECT))
        for column in (entries.c.effective_at, entries.c.created_at, idempotency_keys.c.created_at)
    }
    assert len(processors) == 1


@given(
    MOMENTS,
    st.sampled_from([" ", "T"]),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds", "minutes"]),
    st.booleans(),
)
def test_sqlite_reads_what_the_long_way_reads(
    moment: datetime, separator: str, timespec: str, with_offset: bool
) -> None:
    """The one-step read gives what SQLAlchemy's DATETIME parse and the zone set after it give,
    for any text SQLite may hold: ours, other writers' (``T``, fewer digits, an offset)."""
    text = moment.isoformat(separator, timespec)
    if not with_offset:
        text = moment.replace(tzinfo=None).isoformat(separator, timespec)
    fast = UTCDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    parse = DateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert fast is not None and parse is not None
    parsed = parse(text)
    expected = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    read = fast(text)
    assert read == expected
    assert read.tzinfo is UTC
    assert fast(None) is None
