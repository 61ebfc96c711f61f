"""The service suite: accounts, grants, charges, holds, refunds, adjustments, transfers,
idempotency, project caps, history, verify and price versions, through ``gencredits.open``.

Every test runs on a SQLite file, on PostgreSQL and on PostgreSQL through PgBouncer in
transaction mode (the ``database_url`` fixture, with the ``pgbouncer`` mark), and checks what
was written by reading the tables with plain SQL (``tests/service/probes.py``), not by
trusting the service's answer. A refusal must leave the ledger exactly as it was.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

import gencredits
from gencredits import (
    Conflict,
    EntryKind,
    ExceedsHoldAmount,
    FeatureDisabled,
    Gencredits,
    HoldNotPending,
    HoldStatus,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
    NotFound,
    OutOfRange,
    ProjectCapExceeded,
    QuoteRequest,
)
from gencredits.domain.catalog import FlatRule
from gencredits.domain.plans import PlanChange
from gencredits.store.tables import grants
from tests.service import probes
from tests.service.conftest import START

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single
PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)


def assert_books_balance(credits: Gencredits, *account_ids: str) -> None:
    """verify() finds nothing, and each balance equals the sum of its entries (plain SQL)."""
    report = credits.verify()
    assert report.ok, report.differences
    assert report.entries_checked == probes.entry_count(credits)
    for account_id in account_ids:
        view = credits.account(account_id)
        assert view.available_credits == view.balance_credits - view.held_credits >= 0
        assert view.balance_credits == probes.entries_balance(credits, account_id)
        assert probes.cached(credits, account_id).balance_credits == view.balance_credits


def grant_id_of(entry_grants: tuple[tuple[int, int], ...]) -> int:
    assert len(entry_grants) == 1
    return entry_grants[0][0]


# --- accounts ----------------------------------------------------------------------------------


def test_each_default_plan_opens_with_its_allowance(
    credits: Gencredits, clock: ManualClock
) -> None:
    free = credits.create_account("fay", name="Fay")  # the default plan is the free trial
    pro = credits.create_account("pat", name="Pat", plan="pro")
    ultra = credits.create_account("uma", name="Uma", plan="ultra")

    assert (free.plan_id, free.balance_credits, free.allowance_credits) == ("free", 100, 100)
    assert (free.cycle_starts_at, free.cycle_ends_at) == (START, START + timedelta(days=14))
    assert (pro.plan_id, pro.balance_credits, pro.cycle_ends_at) == ("pro", 1_000, PRO_RENEWAL)
    assert (ultra.plan_id, ultra.balance_credits) == ("ultra", 5_000)
    assert ultra.cycle_ends_at == PRO_RENEWAL
    for view in (free, pro, ultra):
        assert view.available_credits == view.balance_credits
        assert (view.held_credits, view.allowance_used_credits, view.active_holds) == (0, 0, 0)
        assert view.pending_plan_id is None

    trial = probes.plan_grants(credits, "fay")
    assert [(g["source"], g["amount_credits"], g["expires_at"]) for g in trial] == [
        ("trial", 100, START + timedelta(days=14))
    ]
    assert [g["source"] for g in probes.plan_grants(credits, "uma")] == ["plan"]

    # The trial lasts 14 days, to the second.
    clock.set(START + timedelta(days=14, seconds=-1))
    assert credits.account("fay").balance_credits == 100
    clock.set(START + timedelta(days=14))
    assert credits.account("fay").balance_credits == 0
    expired = probes.entries_of(credits, "fay", kind="expire")
    assert [(e["amount_credits"], e["effective_at"]) for e in expired] == [
        (100, START + timedelta(days=14))
    ]
    assert_books_balance(credits, "fay", "pat", "uma")


def test_an_account_id_is_used_once_and_unknown_ones_are_not_found(
    credits: Gencredits,
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    before = probes.entry_count(credits)
    with pytest.raises(Conflict):
        credits.create_account("ana", name="Another Ana", plan="ultra")
    with pytest.raises(NotFound):
        credits.account("nobody")
    with pytest.raises(NotFound):
        credits.charge("nobody", single("flux-2-pro"))
    with pytest.raises(NotFound):
        credits.create_account("bob", name="Bob", plan="platinum")
    with pytest.raises(InvalidRequest):
        credits.create_account("bad id!", name="Bad")
    assert probes.entry_count(credits) == before
    assert credits.account("ana").balance_credits == 1_000


def test_show_gives_balance_available_held_plan_cycle_and_allowance_used(
    credits: Gencredits,
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.charge("ana", single("flux-2-pro", outputs=4))  # 18
    held = credits.hold("ana", single("sora", seconds=4))  # 4 x 12.5 = 50

    view = credits.account("ana")
    assert view.plan_id == "pro"
    assert (view.balance_credits, view.available_credits, view.held_credits) == (982, 932, 50)
    assert view.active_holds == 1
    assert (view.cycle_starts_at, view.cycle_ends_at) == (START, PRO_RENEWAL)
    # Held credits have left the allowance's grant as well as charged ones.
    assert (view.allowance_credits, view.allowance_used_credits) == (1_000, 68)

    credits.release(held.id)
    view = credits.account("ana")
    assert (view.balance_credits, view.available_credits, view.held_credits) == (982, 982, 0)
    assert (view.active_holds, view.allowance_used_credits) == (0, 18)
    assert view.as_dict()["cycle_end"] == PRO_RENEWAL.isoformat()
    assert_books_balance(credits, "ana")


def test_list_pages_through_accounts_in_id_order(credits: Gencredits) -> None:
    ids = ["acc-3", "acc-1", "acc-5", "acc-2", "acc-4"]
    for account_id in ids:
        credits.create_account(account_id, name=account_id, plan="pro")

    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = [view.id for view in credits.accounts(after=after, limit=2)]
        if not page:
            break
        pages.append(page)
        after = page[-1]
    assert pages == [["acc-1", "acc-2"], ["acc-3", "acc-4"], ["acc-5"]]
    assert credits.accounts(after="acc-5") == []
    assert [v.balance_credits for v in credits.accounts()] == [1_000] * 5
    with pytest.raises(InvalidRequest):
        credits.accounts(limit=0)


def test_members_of_a_shared_pool(credits: Gencredits) -> None:
    pool = credits.create_account(
        "agency", name="Agency", plan="ultra", kind="pool", members=("mia", "leo")
    )
    assert (pool.kind, pool.members) == ("pool", ("leo", "mia"))

    after = credits.set_members("agency", add=("zoe", "mia"), remove=("leo",))
    assert after.members == ("mia", "zoe")
    assert credits.account("agency").members == ("mia", "zoe")

    solo = credits.create_account("solo", name="Solo", plan="pro")
    assert (solo.kind, solo.members) == ("person", ())
    assert credits.set_members("solo", add=("kim",)).kind == "pool"
    with pytest.raises(NotFound):
        credits.set_members("nobody", add=("kim",))
    with pytest.raises(InvalidRequest):
        credits.set_members("solo", add=("",))


# --- grants and burn order ----------------------------------------------------------------------


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


# --- charges --------------------------------------------------------------------------------


def test_a_charge_debits_the_quoted_price_and_keeps_the_quote(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    quoted = credits.quote(single("flux-2-pro", outputs=4))
    entry = credits.charge("ana", single("flux-2-pro", outputs=4), project="p", job_ref="j-1")
    assert quoted.total_credits == entry.amount_credits == 18  # 10% off 20
    assert (entry.kind, entry.balance_delta, entry.held_delta) == (EntryKind.CHARGE, -18, 0)
    assert (entry.balance_after, entry.available_after) == (982, 982)
    assert (entry.model_id, entry.project, entry.job_ref, entry.price_version) == (
        "flux-2-pro",
        "p",
        "j-1",
        1,
    )
    assert entry.details is not None and entry.details["total"] == 18
    assert credits.entry(entry.id) == entry
    assert_books_balance(credits, "ana")


def test_a_refused_charge_writes_nothing(credits: Gencredits) -> None:
    credits.create_account("fay", name="Fay")  # 100 trial credits
    credits.charge("fay", single("flux-2-max", outputs=4))  # 12 x 4 = 48, 10% off -> 43
    credits.charge("fay", single("flux-2-max", outputs=4))
    before = probes.ledger_snapshot(credits, "fay")
    history_before = credits.history("fay")

    with pytest.raises(InsufficientCredits) as refused:
        credits.charge("fay", single("flux-2-max", outputs=4))
    assert (refused.value.available, refused.value.required) == (14, 43)
    with pytest.raises(InsufficientCredits):
        credits.hold("fay", single("flux-2-max", outputs=4))
    with pytest.raises(InsufficientCredits):
        credits.adjust("fay", -15, reason="clawback")

    assert probes.ledger_snapshot(credits, "fay") == before
    assert credits.history("fay") == history_before
    view = credits.account("fay")
    assert (view.balance_credits, view.available_credits) == (14, 14)
    # Exactly the amount available still goes through.
    credits.charge("fay", single("nano-banana-2", count=14))
    assert credits.account("fay").balance_credits == 0
    assert_books_balance(credits, "fay")


def test_bad_requests_are_refused_before_anything_is_written(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    before = probes.ledger_snapshot(credits, "ana")
    for request in (
        single("no-such-model"),
        single("flux-2-pro", outputs=5),
        single("flux-2-pro", outputs=0),
        single("sora", seconds=60),
    ):
        with pytest.raises(InvalidRequest):
            credits.charge("ana", request)
    with pytest.raises(InvalidRequest):
        credits.charge("ana", single("flux-2-pro"), project="")
    with pytest.raises(InvalidRequest):
        credits.charge("ana", single("flux-2-pro"), idempotency_key="")
    with pytest.raises(OutOfRange):
        credits.hold("ana", single("flux-2-pro"), ttl_seconds=0)
    assert probes.ledger_snapshot(credits, "ana") == before


# --- holds -------------------------------------------------------------------------------------


def test_capture_by_outputs_delivered(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    hold = credits.hold("ana", single("flux-2-pro", outputs=4))
    assert (hold.amount_credits, hold.status) == (18, HoldStatus.PENDING)
    view = credits.account("ana")
    assert (view.available_credits, view.held_credits, view.balance_credits) == (982, 18, 1_000)

    settled = credits.capture(hold.id, outputs_delivered=3)  # 7% off 15 = 13.95 -> 14
    assert settled.capture is not None and settled.release is not None
    assert (settled.capture.amount_credits, settled.release.amount_credits) == (14, 4)
    assert (settled.capture.balance_delta, settled.capture.held_delta) == (-14, -14)
    assert (settled.release.balance_delta, settled.release.held_delta) == (0, -18 + 14)
    assert (settled.hold.status, settled.hold.captured_credits) == (HoldStatus.CAPTURED, 14)
    assert settled.capture.details == hold.quote
    view = credits.account("ana")
    assert (view.available_credits, view.held_credits, view.balance_credits) == (986, 0, 986)
    assert_books_balance(credits, "ana")


def test_capture_all_or_part_of_a_hold(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    whole = credits.hold("ana", single("flux-2-pro", outputs=4))
    settled = credits.capture(whole.id)
    assert settled.capture is not None and settled.capture.amount_credits == 18
    assert settled.release is None

    part = credits.hold("ana", single("flux-2-pro", outputs=4))
    settled = credits.capture(part.id, amount_credits=10)
    assert settled.capture is not None and settled.release is not None
    assert (settled.capture.amount_credits, settled.release.amount_credits) == (10, 8)
    assert credits.get_hold(part.id).captured_credits == 10
    view = credits.account("ana")
    assert (view.balance_credits, view.held_credits) == (1_000 - 18 - 10, 0)
    assert_books_balance(credits, "ana")


def test_over_capture_and_second_settlement_are_refused(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    hold = credits.hold("ana", single("flux-2-pro", outputs=4))
    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(ExceedsHoldAmount) as over:
        credits.capture(hold.id, amount_credits=19)
    assert (over.value.held_credits, over.value.requested_credits) == (18, 19)
    with pytest.raises(OutOfRange):
        credits.capture(hold.id, outputs_delivered=5)
    assert probes.ledger_snapshot(credits, "ana") == before
    assert credits.get_hold(hold.id).status is HoldStatus.PENDING

    credits.capture(hold.id, amount_credits=18)
    after = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(HoldNotPending) as again:
        credits.capture(hold.id)
    assert again.value.status == "captured"
    with pytest.raises(HoldNotPending):
        credits.release(hold.id)

    released = credits.hold("ana", single("flux-2-pro"))
    credits.release(released.id)
    after = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(HoldNotPending) as settled:
        credits.capture(released.id)
    assert settled.value.status == "released"
    with pytest.raises(HoldNotPending):
        credits.release(released.id)
    assert probes.ledger_snapshot(credits, "ana") == after
    with pytest.raises(NotFound):
        credits.capture(999_999)
    assert_books_balance(credits, "ana")


def test_release_returns_the_credits_to_their_grants(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    plan_id = probes.plan_grants(credits, "ana")[0]["id"]
    hold = credits.hold("ana", single("veo-3", seconds=8, quality="1080p"))  # 8 x 10 x 1.5
    assert hold.amount_credits == 120
    assert probes.plan_grants(credits, "ana")[0]["remaining_credits"] == 880

    released = credits.release(hold.id)
    assert (released.status, released.captured_credits) == (HoldStatus.RELEASED, None)
    assert probes.plan_grants(credits, "ana")[0]["remaining_credits"] == 1_000
    (entry,) = probes.entries_of(credits, "ana", kind="release")
    assert (entry["amount_credits"], entry["hold_id"], entry["grants"]) == (
        120,
        hold.id,
        [[plan_id, 120]],
    )
    view = credits.account("ana")
    assert (view.available_credits, view.held_credits, view.active_holds) == (1_000, 0, 0)
    assert_books_balance(credits, "ana")


def test_a_hold_past_its_ttl_is_released_by_itself(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    short = credits.hold("ana", single("kling", seconds=5), ttl_seconds=60)
    default = credits.hold("ana", single("flux-2-pro"))
    assert short.expires_at == START + timedelta(seconds=60)
    assert default.expires_at == START + timedelta(minutes=15)  # SPEC: 15 minutes by default

    clock.advance(seconds=59)
    assert credits.account("ana").held_credits == 25 + 5
    clock.advance(seconds=2)
    view = credits.account("ana")
    assert (view.available_credits, view.held_credits) == (995, 5)
    expired = credits.get_hold(short.id)
    assert (expired.status, expired.settled_at) == (HoldStatus.EXPIRED, short.expires_at)
    (release,) = probes.entries_of(credits, "ana", kind="release")
    assert (release["amount_credits"], release["effective_at"]) == (25, short.expires_at)

    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(HoldNotPending) as late:
        credits.capture(short.id)
    assert late.value.status == "expired"
    assert probes.ledger_snapshot(credits, "ana") == before

    # The sweep releases it too, without anyone touching the account.
    clock.advance(minutes=20)
    credits.renew()
    assert probes.cached(credits, "ana").held_credits == 0
    assert credits.get_hold(default.id).status is HoldStatus.EXPIRED
    assert_books_balance(credits, "ana")


def test_capture_and_release_by_account_and_job_reference(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("bob", name="Bob", plan="pro")
    first = credits.hold("ana", single("flux-2-pro", outputs=4), job_ref="job-1")
    second = credits.hold("ana", single("flux-2-pro", outputs=2), job_ref="job-2")

    with pytest.raises(NotFound):
        credits.capture(account_id="bob", job_ref="job-1")
    with pytest.raises(NotFound):
        credits.capture(account_id="ana", job_ref="job-404")
    with pytest.raises(InvalidRequest):
        credits.capture(job_ref="job-1")
    with pytest.raises(NotFound):
        credits.capture(first.id, account_id="bob")

    settled = credits.capture(account_id="ana", job_ref="job-1", amount_credits=5)
    assert settled.hold.id == first.id and settled.capture is not None
    assert settled.capture.job_ref == "job-1"
    released = credits.release(account_id="ana", job_ref="job-2")
    assert (released.id, released.status) == (second.id, HoldStatus.RELEASED)
    assert credits.account("ana").balance_credits == 995
    assert_books_balance(credits, "ana", "bob")


# --- refunds, adjustments, transfers ------------------------------------------------------------


def test_refund_whole_part_and_by_job_reference(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    plan_id = probes.plan_grants(credits, "ana")[0]["id"]
    charge = credits.charge("ana", single("flux-2-max", outputs=4), job_ref="job-9")  # 43

    part = credits.refund(charge.id, amount_credits=10, reason="one image failed")
    assert (part.kind, part.amount_credits, part.balance_delta) == (EntryKind.REFUND, 10, 10)
    assert (part.related_entry_id, part.grants, part.job_ref) == (
        charge.id,
        ((plan_id, 10),),
        "job-9",
    )
    assert credits.account("ana").balance_credits == 1_000 - 43 + 10

    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(OutOfRange) as over:
        credits.refund(charge.id, amount_credits=34)
    assert over.value.maximum == 33
    assert probes.ledger_snapshot(credits, "ana") == before

    rest = credits.refund(account_id="ana", job_ref="job-9")
    assert (rest.amount_credits, rest.related_entry_id) == (33, charge.id)
    assert credits.account("ana").balance_credits == 1_000
    assert probes.plan_grants(credits, "ana")[0]["remaining_credits"] == 1_000

    after = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(InvalidRequest):
        credits.refund(charge.id)  # already fully refunded
    with pytest.raises(InvalidRequest):
        credits.refund(rest.id)  # a refund is not refunded
    grant_entry = probes.entries_of(credits, "ana", kind="grant")[0]
    with pytest.raises(InvalidRequest):
        credits.refund(grant_entry["id"])
    with pytest.raises(NotFound):
        credits.refund(account_id="ana", job_ref="job-404")
    assert probes.ledger_snapshot(credits, "ana") == after

    # A capture is refunded like a charge.
    hold = credits.hold("ana", single("flux-2-pro", outputs=4))
    captured = credits.capture(hold.id).capture
    assert captured is not None
    refund = credits.refund(captured.id)
    assert refund.amount_credits == 18
    assert credits.account("ana").balance_credits == 1_000
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


# --- idempotency -------------------------------------------------------------------------------


def test_idempotent_replays_return_the_first_result_and_write_nothing(
    credits: Gencredits,
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("bob", name="Bob", plan="pro")
    request = single("flux-2-pro", outputs=4)

    first = credits.charge("ana", request, idempotency_key="k-1")
    before = probes.ledger_snapshot(credits, "ana")
    assert credits.charge("ana", request, idempotency_key="k-1") == first
    assert probes.ledger_snapshot(credits, "ana") == before

    # Same key, different payload: refused, nothing written.
    for other in (
        lambda: credits.charge("ana", single("flux-2-pro", outputs=2), idempotency_key="k-1"),
        lambda: credits.charge("ana", request, idempotency_key="k-1", project="x"),
        lambda: credits.hold("ana", request, idempotency_key="k-1"),
        lambda: credits.grant("ana", 5, source="promo", idempotency_key="k-1"),
    ):
        with pytest.raises(IdempotencyConflict):
            other()
    assert probes.ledger_snapshot(credits, "ana") == before

    # Keys are scoped per account: Bob's k-1 is a charge of its own.
    bobs = credits.charge("bob", request, idempotency_key="k-1")
    assert bobs.id != first.id and bobs.account_id == "bob"
    assert credits.account("bob").balance_credits == 982

    hold = credits.hold("ana", request, idempotency_key="h-1")
    assert credits.hold("ana", request, idempotency_key="h-1") == hold
    settled = credits.capture(hold.id, outputs_delivered=3, idempotency_key="c-1")
    assert credits.capture(hold.id, outputs_delivered=3, idempotency_key="c-1") == settled
    with pytest.raises(IdempotencyConflict):
        credits.capture(hold.id, outputs_delivered=2, idempotency_key="c-1")
    refund = credits.refund(first.id, amount_credits=3, idempotency_key="r-1")
    assert credits.refund(first.id, amount_credits=3, idempotency_key="r-1") == refund
    grant = credits.grant("ana", 7, source="promo", idempotency_key="g-1")
    assert credits.grant("ana", 7, source="promo", idempotency_key="g-1") == grant
    adjust = credits.adjust("ana", -2, reason="fix", idempotency_key="a-1")
    assert credits.adjust("ana", -2, reason="fix", idempotency_key="a-1") == adjust
    moved = credits.transfer("ana", "bob", 4, idempotency_key="t-1")
    assert credits.transfer("ana", "bob", 4, idempotency_key="t-1") == moved
    released = credits.hold("ana", request, idempotency_key="h-2")
    assert credits.release(released.id, idempotency_key="l-1") == credits.release(
        released.id, idempotency_key="l-1"
    )

    # Each mutation happened once: the replays left no trace.
    ana = credits.account("ana")
    assert ana.balance_credits == 1_000 - 18 - 14 + 3 + 7 - 2 - 4
    assert [e.idempotency_key for e in credits.history("ana", kinds=("charge",)).entries] == ["k-1"]
    assert credits.account("bob").balance_credits == 982 + 4
    assert_books_balance(credits, "ana", "bob")


# --- project caps ------------------------------------------------------------------------------


def test_project_caps_refuse_charges_past_them(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.set_project_cap("ana", "client-a", 20)
    credits.charge("ana", single("flux-2-pro", outputs=4), project="client-a")  # 18

    before = probes.ledger_snapshot(credits, "ana")
    with pytest.raises(ProjectCapExceeded) as refused:
        credits.charge("ana", single("flux-2-pro"), project="client-a")
    assert (refused.value.cap_credits, refused.value.used_credits, refused.value.required) == (
        20,
        18,
        5,
    )
    with pytest.raises(ProjectCapExceeded):
        credits.hold("ana", single("flux-2-pro"), project="client-a")
    assert probes.ledger_snapshot(credits, "ana") == before

    # Other projects, and charges with no project, are not capped.
    credits.charge("ana", single("flux-2-pro"), project="client-b")
    credits.charge("ana", single("flux-2-pro"))
    credits.charge("ana", single("nano-banana-2", count=2), project="client-a")  # 20: at the cap

    # Pending holds count against the cap until released.
    credits.set_project_cap("ana", "client-c", 10)
    hold = credits.hold("ana", single("flux-2-pro", outputs=2), project="client-c")  # 9.5 -> 10
    with pytest.raises(ProjectCapExceeded):
        credits.charge("ana", single("nano-banana-2"), project="client-c")
    credits.release(hold.id)
    credits.charge("ana", single("nano-banana-2"), project="client-c")

    # A refund gives room back; a new cycle starts the cap again; None removes it.
    first = credits.history("ana", project="client-a", kinds=("charge",)).entries[-1]
    credits.refund(first.id, amount_credits=5)
    credits.charge("ana", single("flux-2-pro"), project="client-a")
    clock.set(PRO_RENEWAL)
    credits.charge("ana", single("flux-2-pro", outputs=4), project="client-a")
    credits.set_project_cap("ana", "client-a", None)
    credits.charge("ana", single("flux-2-max", count=10), project="client-a")
    assert_books_balance(credits, "ana")


# --- history ---------------------------------------------------------------------------------


def test_history_filters_and_pages(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.charge("ana", single("flux-2-pro", outputs=4), project="p1")
    clock.advance(hours=1)
    credits.charge("ana", single("kling", seconds=5), project="p2")
    hold = credits.hold("ana", single("flux-2-pro", outputs=2), project="p1", ttl_seconds=7200)
    clock.advance(hours=1)
    credits.capture(hold.id, amount_credits=9)
    credits.grant("ana", 40, source="promo")
    clock.advance(hours=1)
    for _ in range(5):
        credits.charge("ana", single("nano-banana-2"), project="p2")

    everything = credits.history("ana", limit=500).entries
    assert len(everything) == probes.entry_count(credits, "ana") == 12
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)

    charges = credits.history("ana", kinds=("charge",)).entries
    assert len(charges) == 7 and {e.kind for e in charges} == {EntryKind.CHARGE}
    settled = credits.history("ana", kinds=("capture", "release")).entries
    assert [e.kind for e in settled] == [EntryKind.RELEASE, EntryKind.CAPTURE]
    assert [e.amount_credits for e in credits.history("ana", model_id="kling").entries] == [25]
    p1 = credits.history("ana", project="p1").entries
    assert [e.kind for e in p1] == ["release", "capture", "hold", "charge"]
    p2_charges = credits.history("ana", project="p2", kinds=("charge",)).entries
    assert len(p2_charges) == 6
    window = credits.history(
        "ana", since=START + timedelta(hours=1), until=START + timedelta(hours=2)
    ).entries
    assert [e.kind for e in window] == ["hold", "charge"]
    assert all(
        START + timedelta(hours=1) <= e.effective_at < START + timedelta(hours=2) for e in window
    )
    assert credits.history("ana", since=START + timedelta(hours=4)).entries == ()

    # Cursor paging walks every entry once, newest first.
    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        page = credits.history("ana", limit=4, cursor=cursor)
        seen.extend(e.id for e in page.entries)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [e.id for e in everything] and pages == 3
    filtered: list[int] = []
    cursor = None
    while True:
        page = credits.history("ana", kinds=("charge",), limit=3, cursor=cursor)
        filtered.extend(e.id for e in page.entries)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert filtered == [e.id for e in charges]

    with pytest.raises(InvalidRequest):
        credits.history("ana", kinds=("gift",))
    with pytest.raises(InvalidRequest):
        credits.history("ana", limit=0)
    with pytest.raises(NotFound):
        credits.history("nobody")


# --- verify and price versions -----------------------------------------------------------------


def busy_ledger(credits: Gencredits, clock: ManualClock) -> None:
    """A bit of everything on three accounts, across a renewal."""
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("agency", name="Agency", plan="ultra", kind="pool", members=("mia",))
    credits.create_account("mia", name="Mia")
    credits.grant("ana", 100, source="promo", expires_at=START + timedelta(days=40))
    charge = credits.charge("ana", single("flux-2-max", outputs=4), job_ref="j1")
    credits.refund(charge.id, amount_credits=20)
    capture = credits.hold("ana", single("flux-2-pro", outputs=4))
    credits.capture(capture.id, outputs_delivered=3)
    credits.hold("ana", single("sora", seconds=6), ttl_seconds=300)  # left to expire
    credits.transfer("agency", "mia", 300)
    credits.adjust("agency", -100, reason="correction")
    credits.change_plan("mia", "pro")
    clock.set(PRO_RENEWAL + timedelta(hours=1))
    late = credits.hold("ana", single("kling", seconds=3))
    credits.charge("mia", single("flux-2-flex", outputs=3))
    credits.release(late.id)
    credits.renew()


def test_verify_is_ok_after_everything_and_catches_a_corruption(
    credits: Gencredits, clock: ManualClock
) -> None:
    busy_ledger(credits, clock)
    report = credits.verify()
    assert report.ok, report.differences
    assert report.accounts_checked == 3
    assert report.entries_checked == probes.entry_count(credits) > 20
    assert_books_balance(credits, "ana", "agency", "mia")

    with credits.engine.begin() as connection:
        connection.execute(
            text("UPDATE accounts SET available_credits = available_credits + 1 WHERE id = 'ana'")
        )
    broken = credits.verify()
    assert not broken.ok
    assert broken.differences and all(d.startswith("ana:") for d in broken.differences)
    assert any("balance from entries" in d for d in broken.differences)


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


def test_plan_changes_are_idempotent_and_unknown_plans_refused(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    upgrade = credits.change_plan("ana", "ultra", idempotency_key="up-1")
    assert upgrade.change is PlanChange.UPGRADE
    entries = probes.entry_count(credits)
    assert credits.change_plan("ana", "ultra", idempotency_key="up-1") == upgrade
    assert probes.entry_count(credits) == entries
    assert credits.change_plan("ana", "ultra").change is PlanChange.UNCHANGED
    with pytest.raises(NotFound):
        credits.change_plan("ana", "platinum")
    assert len(probes.plan_grants(credits, "ana")) == 2
    assert_books_balance(credits, "ana")


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


def test_plans_are_read_on_the_units_own_connection(tmp_path: Path) -> None:
    """With the plan cache empty, a charge reads the plans inside its transaction through its
    own connection: a second pooled connection could wait forever when every connection is
    held by a caller doing the same (here the pool has one)."""
    credits = gencredits.open(f"sqlite:///{tmp_path}/one.db", pool_size=1)
    try:
        credits.create_account("ana", name="Ana", plan="pro")
        credits._context.plans._cached = None  # as after another process's first start
        entry = credits.charge("ana", QuoteRequest.single("flux-2-pro"), idempotency_key="k")
        assert entry.available_after == 995
    finally:
        credits.close()
