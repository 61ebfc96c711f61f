"""How long a superseded price version is honoured, through the service: a request naming it
is priced at it for a quote's validity after the next version was published, that moment
included, and refused after, with the version to quote again at (domain/pricing.py's
``superseded_version_honoured``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from gencredits import (
    Gencredits,
    InvalidRequest,
    ManualClock,
    QuoteRequest,
)
from gencredits.domain import limits
from gencredits.domain.catalog import FlatRule
from gencredits.domain.pricing import LineItem
from tests.service.conftest import START
from tests.service.probes import assert_books_balance

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


single = QuoteRequest.single


@pytest.mark.pgbouncer
def test_a_new_price_version_reprices_new_charges_only(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    old = credits.charge("ana", single("flux-2-pro"))
    hold = credits.hold("ana", single("flux-2-pro", outputs=4))
    assert (old.amount_credits, old.price_version, hold.price_version) == (5, 1, 1)

    current = credits.catalog().get("flux-2-pro")
    catalog = credits.put_catalog_entry(
        replace(current, rule=FlatRule(credits_per_output=Decimal(6))), note="price rise"
    )
    assert catalog.version == 2

    new = credits.charge("ana", single("flux-2-pro"))
    assert (new.amount_credits, new.price_version) == (6, 2)
    assert new.details is not None and new.details["price_version"] == 2
    stored = credits.entry(old.id)
    assert (stored.amount_credits, stored.price_version, stored.details) == (5, 1, old.details)
    assert stored.details is not None and stored.details["total"] == 5

    # A hold keeps the price of its quote: 3 delivered of 4 at version 1 is 14, not 17.
    settled = credits.capture(hold.id, outputs_delivered=3)
    assert settled.capture is not None
    assert (settled.capture.amount_credits, settled.capture.price_version) == (14, 1)
    # A quote at the previous version is honoured while it is still valid.
    assert credits.quote(single("flux-2-pro"), price_version=1).total_credits == 5
    assert credits.charge("ana", single("flux-2-pro"), price_version=1).amount_credits == 5
    assert credits.account("ana").balance_credits == 1_000 - 5 - 6 - 14 - 5
    assert_books_balance(credits, "ana")
