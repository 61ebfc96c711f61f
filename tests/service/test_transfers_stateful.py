"""Transfers, charges, lasting grants and renewals as a state machine (SPEC section 7: "no
sequence of transfers and renewals rolls plan credits over"), against the real database.

The reference model keeps, per account, its credits by expiry (``None``: they last). Burn
order takes the soonest expiry first, so the model needs no grant ids: a charge takes from
the soonest buckets, a transfer moves the soonest buckets of the sender to the receiver with
their expiry, a renewal adds the allowance expiring at the cycle's end, and every bucket
whose expiry has passed is gone. After every step the database's live grants, summed by
expiry, must equal the model, credits are conserved (granted = held + charged + expired),
and no account holds lasting credits beyond the lasting credits ever granted.

Bounded: 30 examples of up to 30 steps per backend (``GENCREDITS_SLOW_TESTS=1``: 200 of 60).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, or_, select

import gencredits
from gencredits import Gencredits, InsufficientCredits, ManualClock, QuoteRequest
from gencredits.domain.plans import cycle_bounds, cycle_index_at
from gencredits.store.tables import grants
from tests.service import probes
from tests.service.conftest import START

SLOW = bool(os.environ.get("GENCREDITS_SLOW_TESTS"))
ACCOUNTS = ("a", "b", "c")
Buckets = dict[datetime | None, int]


def machine_settings() -> settings:
    return settings(
        max_examples=200 if SLOW else 30,
        stateful_step_count=60 if SLOW else 30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def take_soonest(buckets: Buckets, amount: int) -> Iterator[tuple[datetime | None, int]]:
    """Remove ``amount`` from the soonest-expiring buckets (lasting last), yielding each part."""
    order = sorted(buckets, key=lambda moment: (moment is None, moment and moment.timestamp()))
    for moment in order:
        if amount == 0:
            return
        part = min(buckets[moment], amount)
        buckets[moment] -= part
        if buckets[moment] == 0:
            del buckets[moment]
        amount -= part
        yield moment, part
    assert amount == 0


class TransferMachine(RuleBasedStateMachine):
    def __init__(self, credits: Gencredits, prefix: str) -> None:
        """Three new accounts on a service shared by the examples (a database per example
        costs more than the example); the clock starts over."""
        super().__init__()
        assert isinstance(credits.clock, ManualClock)
        self.clock = credits.clock
        self.credits = credits
        self.ids = {name: f"{prefix}-{name}" for name in ACCOUNTS}

    @initialize()
    def open_accounts(self) -> None:
        self.buckets: dict[str, Buckets] = {}
        self.plan_cycle: dict[str, tuple[Any, datetime, int]] = {}
        self.granted = self.charged = self.expired = 0
        self.lasting_granted = 0
        # a renews on the 28th of February, b ten days later; c is on the 14-day trial.
        for account_id, plan, days in (("a", "pro", 0), ("b", "pro", 10), ("c", None, 3)):
            self.clock.set(START)
            self.clock.advance(days=days)
            self._settle_time()
            view = self.credits.create_account(
                self.ids[account_id], name=account_id.upper(), plan=plan
            )
            self.buckets[account_id] = {view.cycle_ends_at: view.available_credits}
            self.granted += view.available_credits
            if plan is not None:
                self.plan_cycle[account_id] = (
                    self.credits.plans().get(plan), self.clock.now(), 0
                )

    # --- the model's clock ---------------------------------------------------------------

    def _settle_time(self) -> None:
        """Renewals up to now (each cycle's allowance expiring at its end), then expiries."""
        now = self.clock.now()
        for account_id, (plan, anchor, index) in list(self.plan_cycle.items()):
            latest = cycle_index_at(plan, anchor, now)
            for cycle in range(index + 1, latest + 1):
                _, ends_at = cycle_bounds(plan, anchor, cycle)
                bucket = self.buckets[account_id]
                bucket[ends_at] = bucket.get(ends_at, 0) + plan.allowance_credits
                self.granted += plan.allowance_credits
            self.plan_cycle[account_id] = (plan, anchor, max(index, latest))
        for bucket in self.buckets.values():
            for moment in [m for m in bucket if m is not None and m <= now]:
                self.expired += bucket.pop(moment)

    # --- rules -----------------------------------------------------------------------------

    @rule(days=st.integers(min_value=1, max_value=45))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)
        self.credits.renew()
        self._settle_time()

    @rule(account=st.sampled_from(ACCOUNTS), amount=st.integers(min_value=1, max_value=40))
    def lasting_promo(self, account: str, amount: int) -> None:
        self.credits.grant(self.ids[account], amount, source="promo")
        self.buckets[account][None] = self.buckets[account].get(None, 0) + amount
        self.granted += amount
        self.lasting_granted += amount

    @rule(account=st.sampled_from(ACCOUNTS), amount=st.integers(min_value=1, max_value=700))
    def charge(self, account: str, amount: int) -> None:
        available = sum(self.buckets[account].values())
        request = QuoteRequest.single("nano-banana-2", count=amount)  # 1 credit an image
        if amount > available:
            with pytest.raises(InsufficientCredits):
                self.credits.charge(self.ids[account], request)
            return
        self.credits.charge(self.ids[account], request)
        list(take_soonest(self.buckets[account], amount))
        self.charged += amount

    @rule(
        sender=st.sampled_from(ACCOUNTS),
        receiver=st.sampled_from(ACCOUNTS),
        amount=st.integers(min_value=1, max_value=1_200),
    )
    def transfer(self, sender: str, receiver: str, amount: int) -> None:
        if sender == receiver:
            return
        available = sum(self.buckets[sender].values())
        if amount > available:
            with pytest.raises(InsufficientCredits):
                self.credits.transfer(self.ids[sender], self.ids[receiver], amount)
            return
        self.credits.transfer(self.ids[sender], self.ids[receiver], amount)
        for moment, part in list(take_soonest(self.buckets[sender], amount)):
            self.buckets[receiver][moment] = self.buckets[receiver].get(moment, 0) + part

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def live_grants_by_expiry_match_the_model(self) -> None:
        now = self.clock.now()
        for account_id in ACCOUNTS:
            found = probes.rows(
                self.credits,
                select(grants.c.expires_at, func.sum(grants.c.remaining_credits).label("left"))
                .where(
                    grants.c.account_id == self.ids[account_id],
                    grants.c.expired.is_(False),
                    grants.c.remaining_credits > 0,
                    or_(grants.c.expires_at.is_(None), grants.c.expires_at > now),
                )
                .group_by(grants.c.expires_at),
            )
            assert {row["expires_at"]: int(row["left"]) for row in found} == self.buckets[
                account_id
            ], account_id
            assert self.credits.account(self.ids[account_id]).balance_credits == sum(
                self.buckets[account_id].values()
            )

    @invariant()
    def credits_are_conserved_and_none_made_lasting(self) -> None:
        balances = sum(sum(bucket.values()) for bucket in self.buckets.values())
        assert balances == self.granted - self.charged - self.expired
        lasting = sum(bucket.get(None, 0) for bucket in self.buckets.values())
        assert lasting <= self.lasting_granted


# Bounded by example counts, not by time: a loaded machine needs more than the run-wide 300 s.
@pytest.mark.timeout(900)
def test_transfers_and_renewals_never_roll_plan_credits_over(database_url: str) -> None:
    machines = itertools.count()
    with gencredits.open(database_url, clock=ManualClock(START)) as credits:
        run_state_machine_as_test(
            lambda: TransferMachine(credits, f"m{next(machines)}"), settings=machine_settings()
        )
        report = credits.verify()
        assert report.ok, report.differences
