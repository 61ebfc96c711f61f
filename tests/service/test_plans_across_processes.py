"""Plans defined or redefined by one process (a server worker, the CLI) and used by another:
each ``Gencredits`` below caches plans as a process does, on one shared database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

import gencredits
from gencredits import Entry, Gencredits, ManualClock, Plan, QuoteRequest
from gencredits.domain.plans import Period, PlanChange
from gencredits.service.charge_records import ChargeItem
from tests.service.conftest import START

STUDIO = Plan("studio", "Studio", 2_000, Period.MONTH, price=Decimal(20))


@pytest.fixture
def two(database_url: str) -> Iterator[tuple[Gencredits, Gencredits, ManualClock]]:
    clock = ManualClock(START)
    first = gencredits.open(database_url, clock=clock)
    second = gencredits.open(database_url, clock=clock)
    try:
        yield first, second, clock
    finally:
        first.close()
        second.close()


def test_a_plan_defined_elsewhere_is_used_at_once(
    two: tuple[Gencredits, Gencredits, ManualClock],
) -> None:
    here, elsewhere, _ = two
    here.create_account("ana", name="Ana", plan="pro")  # plans cached here, without studio
    elsewhere.put_plan(STUDIO)
    here.create_account("bo", name="Bo", plan="studio")
    assert here.account("bo").available_credits == 2_000
    assert here.change_plan("ana", "studio").change is PlanChange.UPGRADE
    assert here.account("ana").available_credits == 2_000


def test_a_renewal_grants_the_plan_as_redefined_elsewhere(
    two: tuple[Gencredits, Gencredits, ManualClock],
) -> None:
    here, elsewhere, clock = two
    here.create_account("ana", name="Ana", plan="pro")
    here.charge("ana", QuoteRequest.single("flux-2-pro"), idempotency_key="before")
    pro = elsewhere.plans().get("pro")
    elsewhere.put_plan(replace(pro, allowance_credits=1_500))
    # Within the cache's life: a charge with nothing due reads no plans, and stays as it was.
    entry = here.charge("ana", QuoteRequest.single("flux-2-pro"), idempotency_key="same-cycle")
    assert entry.available_after == 1_000 - 10
    clock.set(START + timedelta(days=31, hours=1))  # past the cycle's end: a renewal is due
    entry = here.charge("ana", QuoteRequest.single("flux-2-pro"), idempotency_key="renewed")
    assert entry.available_after == 1_500 - 5
    report = here.verify()
    assert report.ok, report.differences


def test_an_upgrade_grants_the_target_as_redefined_elsewhere(
    two: tuple[Gencredits, Gencredits, ManualClock],
) -> None:
    here, elsewhere, _ = two
    here.put_plan(STUDIO)
    here.create_account("ana", name="Ana", plan="pro")
    elsewhere.put_plan(replace(STUDIO, allowance_credits=3_000))
    assert here.change_plan("ana", "studio").change is PlanChange.UPGRADE
    assert here.account("ana").available_credits == 3_000


@pytest.mark.parametrize("accounts", [1, 12])  # one statement a row, and one IN list
def test_a_batch_renews_with_the_plan_as_redefined_elsewhere(
    two: tuple[Gencredits, Gencredits, ManualClock], accounts: int
) -> None:
    here, elsewhere, clock = two
    names = [f"acct-{n}" for n in range(accounts)]
    for name in names:
        here.create_account(name, name=name, plan="pro")
    pro = elsewhere.plans().get("pro")
    elsewhere.put_plan(replace(pro, allowance_credits=1_500))
    clock.set(START + timedelta(days=31, hours=1))
    items = [ChargeItem(name, QuoteRequest.single("flux-2-pro"), f"k-{name}") for name in names]
    outcomes = here.charge_many(items)
    assert all(isinstance(outcome, Entry) for outcome in outcomes), outcomes
    assert [outcome.available_after for outcome in outcomes if isinstance(outcome, Entry)] == [
        1_495
    ] * accounts
