"""How long a superseded price version is honoured, through the service: a request naming it
is priced at it for a quote's validity after the next version was published, that moment
included, and refused after, with the version to quote again at (domain/pricing.py's
``superseded_version_honoured``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from gencredits import Gencredits, InvalidRequest, ManualClock, QuoteRequest
from gencredits.domain import limits
from gencredits.domain.catalog import FlatRule
from gencredits.domain.pricing import LineItem
from tests.service.conftest import START

FLUX = QuoteRequest(lines=(LineItem(model_id="flux-2-pro"),))


def test_a_superseded_version_is_honoured_for_a_quotes_validity_then_refused(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    current = credits.catalog().get("flux-2-pro")
    credits.put_catalog_entry(
        replace(current, rule=FlatRule(credits_per_output=Decimal(6))), note="price rise"
    )
    assert credits.quote(FLUX).price_version == 2

    clock.set(START + timedelta(seconds=limits.QUOTE_VALIDITY_SECONDS))
    assert credits.quote(FLUX, price_version=1).total_credits == 5
    assert credits.charge("ana", FLUX, price_version=1).amount_credits == 5

    clock.set(START + timedelta(seconds=limits.QUOTE_VALIDITY_SECONDS, microseconds=1))
    with pytest.raises(InvalidRequest, match="quote again at version 2") as refused:
        credits.quote(FLUX, price_version=1)
    assert refused.value.field == "price_version"
    with pytest.raises(InvalidRequest, match="no longer quoted"):
        credits.charge("ana", FLUX, price_version=1)
    assert credits.quote(FLUX, price_version=2).total_credits == 6
