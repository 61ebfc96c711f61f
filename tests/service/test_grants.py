"""Grants and adjustments (service/grants.py): each source, the top-up switch, the burn order,
and adjustments up and down.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gencredits import (
    EntryKind,
    FeatureDisabled,
    Gencredits,
    InsufficientCredits,
    InvalidRequest,
    OutOfRange,
    QuoteRequest,
)
from gencredits.store.tables import grants
from tests.service import probes
from tests.service.conftest import START
from tests.service.probes import assert_books_balance, grant_id_of

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single


def test_grants_of_each_source_and_the_topup_switch(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    for source in ("promo", "trial", "adjustment"):
        entry = credits.grant("ana", 10, source=source, reason=f"a {source} grant")
        assert (entry.kind, entry.amount_credits, entry.balance_delta) == (EntryKind.GRANT, 10, 10)
        row = probes.rows(credits, select(grants).where(grants.c.id == grant_id_of(entry.grants)))
        assert (row[0]["source"], row[0]["remaining_credits"]) == (source, 10)

    # Top-up packs are off by default; the refusal writes nothing.
    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(FeatureDisabled):
        credits.grant("ana", 500, source="topup")
    assert probes.ledger_snapshot(credits, "ana") == before

    credits.set_topups_enabled(True)
    topup = credits.grant("ana", 500, source="topup")
    row = probes.rows(credits, select(grants).where(grants.c.id == grant_id_of(topup.grants)))
    assert (row[0]["source"], row[0]["priority"], row[0]["expires_at"]) == ("topup", 50, None)
    credits.set_topups_enabled(False)
    with pytest.raises(FeatureDisabled):
        credits.grant("ana", 500, source="topup")

    # Plan credits only come from billing cycles; bad amounts and expiries are refused.
    before = probes.ledger_snapshot(credits, "ana")
    for source in ("plan", "transfer"):
        with pytest.raises(InvalidRequest) as refused:
            credits.grant("ana", 10, source=source)
        assert refused.value.field == "source"
    with pytest.raises(OutOfRange):
        credits.grant("ana", 0, source="promo")
    with pytest.raises(InvalidRequest):
        credits.grant("ana", 10, source="promo", expires_at=START - timedelta(seconds=1))
    assert probes.ledger_snapshot(credits, "ana") == before

    assert credits.account("ana").balance_credits == 1_000 + 30 + 500
    assert_books_balance(credits, "ana")


def test_burn_order_soonest_expiry_first_then_priority(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")  # 1,000 expiring 2026-02-28
    plan_id = probes.plan_grants(credits, "ana")[0]["id"]
    lasting_promo = grant_id_of(credits.grant("ana", 50, source="promo").grants)
    lasting_adjustment = grant_id_of(credits.adjust("ana", 20, reason="goodwill").grants)
    soon_promo = grant_id_of(
        credits.grant("ana", 30, source="promo", expires_at=START + timedelta(days=3)).grants
    )

    # 36: the promo expiring in 3 days goes first, then the plan credits (expiring next).
    first = credits.charge("ana", single("flux-2-max", count=3))
    assert first.grants == ((soon_promo, 30), (plan_id, 6))

    # The plan credits go before any credits that last.
    second = credits.charge("ana", single("nano-banana-2", count=994))
    assert second.grants == ((plan_id, 994),)

    # Among lasting credits, priority: the promo (20) before the adjustment (40).
    third = credits.charge("ana", single("nano-banana-2", count=60))
    assert third.grants == ((lasting_promo, 50), (lasting_adjustment, 10))
    assert credits.account("ana").balance_credits == 10
    assert_books_balance(credits, "ana")


def test_adjustments_up_and_down_need_a_reason(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    up = credits.adjust("ana", 25, reason="goodwill")
    assert (up.kind, up.amount_credits, up.balance_delta, up.reason) == (
        EntryKind.ADJUST,
        25,
        25,
        "goodwill",
    )
    down = credits.adjust("ana", -30, reason="duplicate grant")
    assert (down.kind, down.amount_credits, down.balance_delta) == (EntryKind.ADJUST, 30, -30)
    assert credits.account("ana").balance_credits == 995

    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(InsufficientCredits) as refused:
        credits.adjust("ana", -996, reason="too much")
    assert (refused.value.available, refused.value.required) == (995, 996)
    for amount, reason in ((0, "nothing"), (5, ""), (5, "   "), (-5, "")):
        with pytest.raises(InvalidRequest):
            credits.adjust("ana", amount, reason=reason)
    assert probes.ledger_snapshot(credits, "ana") == before
    credits.adjust("ana", -995, reason="close the account")
    assert credits.account("ana").balance_credits == 0
    assert_books_balance(credits, "ana")
