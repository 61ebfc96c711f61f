"""A quote's line subtotals and total stay at most 2**53 - 1 credits (SPEC section 7): the
catalog's bounds (rate and multiplier up to 100,000, 600 seconds, 16 clips, 10,000 requests
a line) allow 9.6e17 credits on one line, so pricing refuses past the bound, naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import pytest

from gencredits.domain import limits
from gencredits.domain.catalog import Catalog, CatalogEntry, Kind, PerSecondRule, Tier
from gencredits.domain.errors import OutOfRange
from gencredits.domain.pricing import LineItem, QuoteRequest, quote

NOW = datetime(2026, 1, 31, 9, tzinfo=UTC)
DEAREST = CatalogEntry(
    id="dearest", name="Dearest", kind=Kind.VIDEO, tier=Tier.SPECIALTY, max_outputs=16,
    rule=PerSecondRule(
        Decimal(limits.MAX_RATE_CREDITS), 1, limits.MAX_VIDEO_SECONDS,
        quality_multipliers=MappingProxyType({"720p": Decimal(limits.MAX_RATE_CREDITS)}),
    ),
)
CATALOG = Catalog(version=1, entries=(DEAREST,))
PER_REQUEST = limits.MAX_RATE_CREDITS**2 * limits.MAX_VIDEO_SECONDS * 16  # 9.6e13


def line(count: int) -> LineItem:
    return LineItem("dearest", outputs=16, count=count, seconds=limits.MAX_VIDEO_SECONDS)


def test_a_line_up_to_the_bound_is_priced_one_more_request_is_refused() -> None:
    fits = limits.MAX_AMOUNT_CREDITS // PER_REQUEST
    priced = quote(QuoteRequest((line(fits),)), CATALOG, issued_at=NOW)
    assert priced.total_credits == fits * PER_REQUEST <= limits.MAX_AMOUNT_CREDITS
    with pytest.raises(OutOfRange) as refused:
        quote(QuoteRequest((line(1), line(fits + 1))), CATALOG, issued_at=NOW)
    assert refused.value.field == "lines.1.count"
    assert refused.value.maximum == fits


def test_a_total_past_the_bound_is_refused_naming_the_lines() -> None:
    fits = limits.MAX_AMOUNT_CREDITS // PER_REQUEST
    with pytest.raises(OutOfRange) as refused:
        quote(QuoteRequest((line(fits), line(fits))), CATALOG, issued_at=NOW)
    assert refused.value.field == "lines"
    assert refused.value.value == 2 * fits * PER_REQUEST
    assert refused.value.maximum == limits.MAX_AMOUNT_CREDITS


def test_an_estimate_whose_buffer_passes_the_bound_is_refused() -> None:
    from gencredits.domain.advice.estimator import estimate

    fits = limits.MAX_AMOUNT_CREDITS // PER_REQUEST  # 93 requests: 8.9e15 credits
    request = QuoteRequest((line(fits),))
    assert estimate(request, CATALOG, issued_at=NOW, buffer_percent=Decimal(0)).total_credits == (
        fits * PER_REQUEST
    )
    with pytest.raises(OutOfRange) as refused:
        estimate(request, CATALOG, issued_at=NOW)  # +20%
    assert refused.value.field == "buffer_percent"
    assert refused.value.maximum == limits.MAX_AMOUNT_CREDITS
