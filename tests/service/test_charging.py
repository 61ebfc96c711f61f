"""Charges (service/charging.py, pricing.py): the quoted price debited, refusals that write
nothing, bad requests refused first, and project caps.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gencredits import (
    EntryKind,
    Gencredits,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
    OutOfRange,
    ProjectCapExceeded,
    QuoteRequest,
)
from tests.service import probes
from tests.service.probes import assert_books_balance

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single
PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)


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
