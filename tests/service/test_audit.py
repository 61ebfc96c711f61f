"""History and verify (service/audit.py): filters and pages of the history; verify after a
busy ledger and against a corruption.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gencredits import (
    EntryKind,
    Gencredits,
    InvalidRequest,
    ManualClock,
    NotFound,
    QuoteRequest,
)
from tests.service import probes
from tests.service.conftest import START
from tests.service.probes import assert_books_balance

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single
PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)


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
