"""Transfers keep expiries (SPEC section 7, issue 16 defect 2), on SQLite and PostgreSQL.

The incoming side of a transfer is one grant per expiry of the grants the credits left; plan
credits moved still expire at the sender's renewal and are never rolled over at the
receiver's. Checked by reading the grants table behind the service's back.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gencredits import (
    EntryKind,
    Gencredits,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
    NotFound,
    QuoteRequest,
)
from gencredits.store.tables import grants
from tests.service import probes
from tests.service.probes import assert_books_balance, grant_id_of

PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)
single = QuoteRequest.single


def incoming_grants(credits: Gencredits, entry_grants: tuple[tuple[int, int], ...]) -> list[
    tuple[str, int, datetime | None]
]:
    ids = [grant_id for grant_id, _ in entry_grants]
    found = probes.rows(credits, select(grants).where(grants.c.id.in_(ids)).order_by(grants.c.id))
    return [(row["source"], row["amount_credits"], row["expires_at"]) for row in found]


def test_the_issue_reproduction_no_rollover_at_the_receivers_renewal(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("a", name="A", plan="pro")
    credits.create_account("b", name="B", plan="pro")
    credits.grant("a", 1, source="promo")
    moved = credits.transfer("a", "b", 1_001)

    assert moved.incoming.balance_delta == 1_001
    assert incoming_grants(credits, moved.incoming.grants) == [
        ("transfer", 1_000, PRO_RENEWAL),
        ("transfer", 1, None),
    ]
    assert sum(credits for _, credits in moved.incoming.grants) == 1_001
    assert credits.account("b").balance_credits == 2_001

    clock.set(PRO_RENEWAL)
    credits.renew()
    # b's own allowance and the lasting credit: the 1,000 moved plan credits expired with the
    # cycle they belonged to (2,001 before the fix).
    assert credits.account("b").balance_credits == 1_001
    assert credits.account("a").balance_credits == 1_000
    report = credits.verify()
    assert report.ok, report.differences
    for account_id in ("a", "b"):
        assert probes.entries_balance(credits, account_id) == credits.account(
            account_id
        ).balance_credits


def test_moved_plan_credits_expire_at_the_senders_renewal_not_the_receivers(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("pool", name="Pool", plan="pro", kind="pool", members=("late",))
    clock.advance(days=10)  # late renews on 10 March, pool on 28 February
    credits.create_account("late", name="Late", plan="pro")
    credits.adjust("pool", 5, reason="lasting credits")
    moved = credits.transfer("pool", "late", 1_005)
    assert incoming_grants(credits, moved.incoming.grants) == [
        ("transfer", 1_000, PRO_RENEWAL),
        ("transfer", 5, None),
    ]
    assert credits.account("late").balance_credits == 2_005

    # Charged from the transferred plan credits (soonest expiry burns first), then refunded
    # after they expired: the refund's share lapses at once (an expire entry), no rollover.
    charged = credits.charge("late", single("flux-2-pro"))
    assert [grant_id for grant_id, _ in charged.grants] == [moved.incoming.grants[0][0]]
    clock.set(PRO_RENEWAL)
    credits.renew()
    assert credits.account("late").balance_credits == 1_005
    refund = credits.refund(charged.id)
    assert refund.balance_delta == 5
    assert credits.account("late").balance_credits == 1_005
    assert credits.history("late", kinds=[EntryKind.EXPIRE]).entries[0].amount_credits == 5
    report = credits.verify()
    assert report.ok, report.differences


def test_a_transfer_onwards_keeps_the_first_expiry_and_holds_are_unaffected(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("a", name="A", plan="pro")
    credits.create_account("b", name="B")  # trial: 100 credits expiring in 14 days
    credits.create_account("c", name="C")
    credits.transfer("a", "b", 300)
    hold = credits.hold("b", single("flux-2-pro"))  # from the trial: it expires first
    trial_ends = datetime(2026, 2, 14, 9, tzinfo=UTC)
    onwards = credits.transfer("b", "c", 250)
    # The trial's 95 left, then 155 of the credits moved from a: each keeps its expiry.
    assert incoming_grants(credits, onwards.incoming.grants) == [
        ("transfer", 95, trial_ends),
        ("transfer", 155, PRO_RENEWAL),
    ]
    credits.release(hold.id)
    assert credits.account("b").balance_credits == 150
    clock.set(trial_ends)
    credits.renew()
    assert credits.account("b").balance_credits == 145
    assert credits.account("c").balance_credits == 155
    clock.set(PRO_RENEWAL)
    credits.renew()
    # Everything that came from plan and trial credits is gone; a kept its new allowance.
    assert [credits.account(x).balance_credits for x in "abc"] == [1_000, 0, 0]
    report = credits.verify()
    assert report.ok, report.differences


@pytest.mark.pgbouncer
def test_transfer_from_a_pool_to_a_member_inherits_the_expiry(credits: Gencredits) -> None:
    credits.create_account("agency", name="Agency", plan="ultra", kind="pool", members=("mia",))
    credits.create_account("mia", name="Mia")  # 100 trial credits
    entries_before = probes.entry_count(credits)

    moved = credits.transfer("agency", "mia", 500, reason="March budget")
    out, incoming = moved.outgoing, moved.incoming
    assert (out.kind, out.account_id, out.amount_credits, out.balance_delta) == (
        EntryKind.TRANSFER_OUT,
        "agency",
        500,
        -500,
    )
    assert (incoming.kind, incoming.account_id, incoming.balance_delta) == (
        EntryKind.TRANSFER_IN,
        "mia",
        500,
    )
    assert incoming.related_entry_id == out.id
    assert probes.entry_count(credits) == entries_before + 2
    new_grant = probes.rows(
        credits, select(grants).where(grants.c.id == grant_id_of(incoming.grants))
    )[0]
    # Plan credits moved keep expiring at the pool's renewal: no lasting credits made.
    assert (new_grant["source"], new_grant["expires_at"]) == ("transfer", PRO_RENEWAL)
    assert credits.account("agency").balance_credits == 4_500
    assert credits.account("mia").balance_credits == 600

    # All or nothing: a transfer past the available credits moves nothing on either side.
    pool_before = probes.ledger_snapshot(credits, "agency")
    member_before = probes.ledger_snapshot(credits, "mia")
    with pytest.raises(InsufficientCredits):
        credits.transfer("agency", "mia", 4_501)
    with pytest.raises(InvalidRequest):
        credits.transfer("agency", "agency", 1)
    with pytest.raises(NotFound):
        credits.transfer("agency", "nobody", 1)
    assert probes.ledger_snapshot(credits, "agency") == pool_before
    assert probes.ledger_snapshot(credits, "mia") == member_before

    # Credits that last stay lasting.
    credits.create_account("solo", name="Solo", plan="pro")
    credits.adjust("solo", 100, reason="lasting credits")
    credits.charge("solo", single("nano-banana-2", count=1_000))
    lasting = credits.transfer("solo", "mia", 50).incoming
    row = probes.rows(credits, select(grants).where(grants.c.id == grant_id_of(lasting.grants)))
    assert row[0]["expires_at"] is None
    assert_books_balance(credits, "agency", "mia", "solo")
