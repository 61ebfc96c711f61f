"""Charge records (service/charge_records.py): a replay answers with its first result even
when the request no longer validates.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gencredits import (
    Gencredits,
    IdempotencyConflict,
    InvalidRequest,
    ManualClock,
    QuoteRequest,
)
from tests.service import probes
from tests.service.conftest import START
from tests.service.probes import assert_books_balance

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single


def test_a_replay_returns_its_first_result_even_when_the_request_no_longer_validates(
    credits: Gencredits, clock: ManualClock
) -> None:
    """SPEC: a replay with the same key and payload returns the original result. A retry
    that arrives after the model was switched off, or after a grant's expiry passed, is
    still a replay of a call that succeeded."""
    credits.create_account("ana", name="Ana", plan="pro")
    charged = credits.charge("ana", single("flux-2-pro"), idempotency_key="c")
    held = credits.hold("ana", single("flux-2-pro", outputs=2), idempotency_key="h")
    soon = START + timedelta(hours=1)
    granted = credits.grant("ana", 10, source="promo", expires_at=soon, idempotency_key="g")
    credits.put_catalog_entry(replace(credits.catalog().get("flux-2-pro"), active=False))
    clock.set(soon + timedelta(minutes=1))
    credits.account("ana")  # the hold's TTL and the grant's expiry pass first
    before = probes.entry_count(credits)

    assert credits.charge("ana", single("flux-2-pro"), idempotency_key="c") == charged
    assert credits.hold("ana", single("flux-2-pro", outputs=2), idempotency_key="h") == held
    assert credits.grant("ana", 10, source="promo", expires_at=soon, idempotency_key="g") == (
        granted
    )
    assert probes.entry_count(credits) == before

    # New calls, or another payload under the same key, are still checked.
    with pytest.raises(InvalidRequest):
        credits.charge("ana", single("flux-2-pro"), idempotency_key="c-2")
    with pytest.raises(InvalidRequest):
        credits.charge("ana", single("flux-2-pro"))
    with pytest.raises(IdempotencyConflict):
        credits.charge("ana", single("flux-2-pro", outputs=3), idempotency_key="c")
    with pytest.raises(InvalidRequest):
        credits.grant("ana", 10, source="promo", expires_at=soon, idempotency_key="g-2")
    assert probes.entry_count(credits) == before
    assert_books_balance(credits, "ana")
