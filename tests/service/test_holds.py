"""Holds (service/holds.py): capture by outputs, all or part, once and never above the hold;
release; expiry past the TTL; settling by account and job reference.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gencredits import (
    ExceedsHoldAmount,
    Gencredits,
    HoldNotPending,
    HoldStatus,
    InvalidRequest,
    ManualClock,
    NotFound,
    OutOfRange,
    QuoteRequest,
)
from tests.service import probes
from tests.service.conftest import START
from tests.service.probes import assert_books_balance

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single


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
