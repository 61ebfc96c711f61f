"""Accounts (service/accounts.py): opening on each plan, ids, the account's view, pages,
members of a pool, plan changes, and the plans read inside the unit of work.

Each runs on SQLite, PostgreSQL and PgBouncer and checks the tables with plain SQL: see
``tests/service/__init__.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import gencredits
from gencredits import (
    Conflict,
    Gencredits,
    InvalidRequest,
    ManualClock,
    NotFound,
    QuoteRequest,
)
from gencredits.domain.plans import PlanChange
from tests.service import probes
from tests.service.conftest import START
from tests.service.probes import assert_books_balance

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single
PRO_RENEWAL = datetime(2026, 2, 28, 9, tzinfo=UTC)


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
