"""The balance ceiling (SPEC section 7, issue 16 defect 8), on SQLite and PostgreSQL.

Every operation that adds credits to an account is refused with ``BalanceCeilingExceeded``
when the balance would pass 2**53 - 1, and writes nothing (read back with plain SQL); moving
credits between held and available at the ceiling still works; a renewal at the ceiling is
cut to the room left and recorded, and the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from gencredits import BalanceCeilingExceeded, EntryKind, Gencredits, ManualClock, QuoteRequest
from gencredits.domain.limits import MAX_BALANCE_CREDITS
from gencredits.store.tables import grants
from tests.service import probes

CEILING = MAX_BALANCE_CREDITS
PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)
single = QuoteRequest.single


def fill(credits: Gencredits, account_id: str) -> None:
    """Take ``account_id`` exactly to the ceiling with a lasting promo grant."""
    balance = credits.account(account_id).balance_credits
    credits.grant(account_id, CEILING - balance, source="promo")
    assert credits.account(account_id).balance_credits == CEILING


def assert_refused_unchanged(credits: Gencredits, call: Callable[[], Any], *accounts: str,
                             balance: int, amount: int) -> None:
    before = [probes.ledger_snapshot(credits, account_id) for account_id in accounts]
    with pytest.raises(BalanceCeilingExceeded) as refused:
        call()
    error = refused.value
    assert (error.balance_credits, error.amount_credits, error.ceiling_credits) == (
        balance, amount, CEILING
    )
    assert error.field == "amount"
    assert [probes.ledger_snapshot(credits, account_id) for account_id in accounts] == before


def test_the_issue_reproduction_a_grant_past_the_ceiling_is_refused(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.grant("ana", CEILING - 1_000, source="promo")
    # Before: accepted (and 1,025 of them overflowed the int64 balance: a 500).
    for source in ("promo", "trial", "adjustment"):
        assert_refused_unchanged(
            credits, lambda s=source: credits.grant("ana", 1, source=s), "ana",
            balance=CEILING, amount=1,
        )
    assert_refused_unchanged(
        credits, lambda: credits.grant("ana", CEILING, source="promo", idempotency_key="k"),
        "ana", balance=CEILING, amount=CEILING,
    )
    # The same key is free again: nothing was stored for the refusal.
    credits.charge("ana", single("flux-2-pro"))
    assert credits.grant("ana", 5, source="promo", idempotency_key="k").balance_after == CEILING
    report = credits.verify()
    assert report.ok, report.differences


def test_adjustments_up_are_refused_and_down_still_work(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    fill(credits, "ana")
    assert_refused_unchanged(
        credits, lambda: credits.adjust("ana", 1, reason="bonus"), "ana",
        balance=CEILING, amount=1,
    )
    assert credits.adjust("ana", -1, reason="fix").balance_after == CEILING - 1
    assert credits.adjust("ana", 1, reason="fix back").balance_after == CEILING


def test_a_transfer_into_a_full_account_moves_nothing_on_either_side(
    credits: Gencredits,
) -> None:
    credits.create_account("pool", name="Pool", plan="pro")
    credits.create_account("mia", name="Mia", plan="pro")
    fill(credits, "mia")
    assert_refused_unchanged(
        credits, lambda: credits.transfer("pool", "mia", 10), "pool", "mia",
        balance=CEILING, amount=10,
    )
    credits.charge("mia", single("flux-2-pro", count=2))
    assert credits.transfer("pool", "mia", 10).incoming.balance_after == CEILING
    assert credits.account("pool").balance_credits == 990
    # The full account can still send.
    assert credits.transfer("mia", "pool", 10).outgoing.balance_after == CEILING - 10


def test_a_refund_into_a_full_account_is_refused_holds_settle_as_before(
    credits: Gencredits,
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    charged = credits.charge("ana", single("flux-2-pro", count=2))  # 10
    hold = credits.hold("ana", single("flux-2-pro"))  # 5 held
    fill(credits, "ana")
    assert_refused_unchanged(
        credits, lambda: credits.refund(charged.id), "ana", balance=CEILING, amount=10
    )
    assert_refused_unchanged(
        credits, lambda: credits.refund(charged.id, amount_credits=1), "ana",
        balance=CEILING, amount=1,
    )
    # Held credits move back to available: the balance does not change, nothing is refused.
    assert credits.release(hold.id).status.value == "released"
    again = credits.hold("ana", single("flux-2-pro"))
    assert credits.capture(again.id, amount_credits=2).capture.balance_after == CEILING - 2
    assert credits.refund(charged.id, amount_credits=2).balance_after == CEILING
    assert credits.account("ana").held_credits == 0
    report = credits.verify()
    assert report.ok, report.differences


def test_a_renewal_at_the_ceiling_is_cut_to_the_room_left_and_the_sweep_goes_on(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("part", name="Part", plan="pro")  # 990 plan credits left at renewal
    credits.create_account("full", name="Full", plan="pro")  # its 1,000 spent
    credits.create_account("free", name="Free", plan="pro")  # far from the ceiling
    credits.charge("part", single("flux-2-pro", count=2))
    credits.charge("full", single("nano-banana-2", count=1_000))
    fill(credits, "part")
    fill(credits, "full")

    clock.set(PRO_RENEWAL)
    credits.renew()
    # part: its 990 plan credits expired, then 990 of the 1,000 fit; full: no room, no grant.
    assert [credits.account(x).balance_credits for x in ("part", "full", "free")] == [
        CEILING, CEILING, 1_000
    ]
    renewals = probes.rows(
        credits,
        select(grants.c.account_id, grants.c.amount_credits)
        .where(grants.c.cycle_number == 2)
        .order_by(grants.c.account_id),
    )
    assert [(row["account_id"], row["amount_credits"]) for row in renewals] == [
        ("free", 1_000), ("part", 990)
    ]
    grant_entry = credits.history("part", kinds=[EntryKind.GRANT]).entries[0]
    assert grant_entry.amount_credits == 990
    assert grant_entry.reason is not None and "balance ceiling" in grant_entry.reason
    report = credits.verify()
    assert report.ok, report.differences


def test_an_upgrade_at_the_ceiling_grants_only_the_room_left(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.charge("ana", single("flux-2-pro", count=2))  # 990 plan credits left
    fill(credits, "ana")
    credits.change_plan("ana", "ultra")
    # The Pro allowance ends (990 expire) and 990 of Ultra's 5,000 fit under the ceiling.
    assert credits.account("ana").balance_credits == CEILING
    assert credits.account("ana").plan_id == "ultra"
    granted = credits.history("ana", kinds=[EntryKind.GRANT]).entries[0]
    assert granted.amount_credits == 990
    report = credits.verify()
    assert report.ok, report.differences
