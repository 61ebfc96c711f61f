"""The ledger as a state machine: random grants, charges, holds, captures, releases, refunds,
clock moves across renewals and idempotent retries, against the real database, checked after
every step against a small reference model written here from SPEC's rules.

The model does not use gencredits' allocation code: it keeps its own list of grants (remaining
credits, expiry, priority) and burns them in SPEC's order (soonest expiry, never-expiring last,
then priority, then oldest); a hold keeps where its credits came from, a capture keeps the
first of them and returns the rest, a refund goes back last-burned first, and credits that
come back to an expired grant are gone. Prices come from ``quote`` (tested elsewhere).

Runs on SQLite and on PostgreSQL, bounded: by default 50 examples of up to 50 steps on SQLite
and 40 on PostgreSQL (10 to 20 seconds each here); ``GENCREDITS_SLOW_TESTS=1``: 300 of 80.
"""

from __future__ import annotations

import calendar
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

import gencredits
from gencredits import (
    AccountView,
    ExceedsHoldAmount,
    Gencredits,
    HoldNotPending,
    HoldStatus,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    LineItem,
    ManualClock,
    OutOfRange,
    Plan,
    QuoteRequest,
)
from gencredits.domain.plans import Period
from gencredits.store.tables import entries, holds
from tests.service import probes
from tests.service.conftest import START

# Pro, and a small plan whose allowance runs out early, so spending crosses from grant to
# grant (and refunds and part-captures split across them) often.
STARTER = Plan("starter", "Starter", 60, Period.MONTH, price=Decimal(1))
ALLOWANCES = {"pro": 1_000, STARTER.id: STARTER.allowance_credits}
PRIORITY = {"plan": 10, "trial": 10, "promo": 20, "adjustment": 40}  # SPEC: allowances first
SLOW = bool(os.environ.get("GENCREDITS_SLOW_TESTS"))
EXAMPLES = {"sqlite": 300 if SLOW else 50, "postgres": 300 if SLOW else 40}


def machine_settings(backend: str) -> settings:
    return settings(
        max_examples=EXAMPLES[backend],
        stateful_step_count=80 if SLOW else 50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# --- random requests from the default catalog ------------------------------------------------

IMAGE_MODELS = ("nano-banana-2", "flux-2-pro", "flux-2-max", "imagen-4", "gpt-image-1.5")
image_lines = st.builds(
    LineItem,
    model_id=st.sampled_from(IMAGE_MODELS),
    outputs=st.integers(1, 4),
    count=st.sampled_from([1, 1, 1, 2, 3, 10]),
)
video_lines = st.sampled_from(
    [LineItem("kling", seconds=s) for s in (3, 5)]
    + [LineItem("sora", seconds=s) for s in (4, 7, 10)]
    + [LineItem("veo-3", seconds=8, quality="1080p"), LineItem("runway-gen-4", seconds=10)]
)
edit_lines = st.one_of(
    st.builds(LineItem, model_id=st.just("background-removal"), outputs=st.integers(1, 30)),
    st.sampled_from([LineItem("ai-expand", option="large"), LineItem("ai-expand", outputs=12)]),
)
requests = st.lists(st.one_of(image_lines, video_lines, edit_lines), min_size=1, max_size=2).map(
    lambda lines: QuoteRequest(tuple(lines))
)
clock_moves = st.sampled_from(
    [
        timedelta(minutes=1),
        timedelta(minutes=14),
        timedelta(minutes=16),
        timedelta(hours=1, minutes=1),
        timedelta(hours=12),
        timedelta(days=1),
        timedelta(days=10),
        timedelta(days=29),
        timedelta(days=35),
    ]
)
pick = st.integers(0, 10_000)


def month_after(anchor: datetime, months: int) -> datetime:
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


# --- the reference model ---------------------------------------------------------------------


@dataclass
class Grant:
    order: int  # creation order: the oldest burns first among equals
    remaining: int
    expires_at: datetime | None
    priority: int
    allowance: bool = False  # a plan's allowance for one cycle
    service_id: int | None = None
    expired: bool = False


Allocation = list[tuple[Grant, int]]


@dataclass
class ModelHold:
    amount: int
    taken: Allocation
    expires_at: datetime
    request: QuoteRequest
    status: HoldStatus = HoldStatus.PENDING


@dataclass
class Spent:
    """A charge or a capture: what it took, and how much has been refunded."""

    amount: int
    taken: Allocation
    refunded: int = 0


@dataclass
class Model:
    now: datetime
    allowance: int
    grants: list[Grant] = field(default_factory=list)
    holds: dict[int, ModelHold] = field(default_factory=dict)
    spent: dict[int, Spent] = field(default_factory=dict)
    cycle_index: int = 0

    def add_grant(
        self, amount: int, expires_at: datetime | None, priority: int, *, allowance: bool = False
    ) -> Grant:
        grant = Grant(len(self.grants), amount, expires_at, priority, allowance)
        self.grants.append(grant)
        return grant

    def live(self) -> list[Grant]:
        return [g for g in self.grants if not g.expired and g.remaining > 0]

    @property
    def available(self) -> int:
        return sum(g.remaining for g in self.live())

    @property
    def held(self) -> int:
        return sum(h.amount for h in self.holds.values() if h.status is HoldStatus.PENDING)

    def burn(self, amount: int) -> Allocation:
        """Take ``amount`` from the live grants in SPEC's burn order (caller checked cover)."""
        assert 0 < amount <= self.available
        order = sorted(
            self.live(),
            key=lambda g: (g.expires_at is None, g.expires_at or self.now, g.priority, g.order),
        )
        taken: Allocation = []
        for grant in order:
            take = min(grant.remaining, amount)
            if take:
                grant.remaining -= take
                taken.append((grant, take))
                amount -= take
            if amount == 0:
                break
        return taken

    @staticmethod
    def give_back(taken: Allocation) -> None:
        """Credits return to their grants; a grant already expired lets them expire."""
        for grant, credits in taken:
            if not grant.expired:
                grant.remaining += credits

    def advance(self, now: datetime) -> None:
        """Apply what falls due by ``now``, moment by moment: grant expiries, then hold TTLs,
        then the renewal (the plan grant ends with its cycle: no rollover)."""
        while True:
            due = [g.expires_at for g in self.grants if not g.expired and g.expires_at]
            due += [h.expires_at for h in self.holds.values() if h.status is HoldStatus.PENDING]
            due.append(self.cycle_end)
            moment = min(due)
            if moment > now:
                break
            for grant in self.grants:
                if not grant.expired and grant.expires_at and grant.expires_at <= moment:
                    grant.expired, grant.remaining = True, 0
            for hold in self.holds.values():
                if hold.status is HoldStatus.PENDING and hold.expires_at <= moment:
                    hold.status = HoldStatus.EXPIRED
                    self.give_back(hold.taken)
            if self.cycle_end <= moment:
                self.cycle_index += 1
                self.add_grant(self.allowance, self.cycle_end, PRIORITY["plan"], allowance=True)
        self.now = now

    @property
    def cycle_end(self) -> datetime:
        return month_after(START, self.cycle_index + 1)

    def capture(self, hold: ModelHold, kept: int) -> tuple[Allocation, Allocation]:
        """Keep the first credits the hold took (what a charge would have burned); the rest
        goes back."""
        left = kept
        kept_part: Allocation = []
        returned: Allocation = []
        for grant, credits in hold.taken:
            take = min(credits, left)
            left -= take
            if take:
                kept_part.append((grant, take))
            if credits - take:
                returned.append((grant, credits - take))
        hold.status = HoldStatus.CAPTURED
        self.give_back(returned)
        return kept_part, returned

    @staticmethod
    def refund(spent: Spent, amount: int) -> Allocation:
        """Back to the grants last burned first, past what earlier refunds returned."""
        skip, left = spent.refunded, amount
        returned: Allocation = []
        for grant, credits in reversed(spent.taken):
            usable = credits - min(credits, skip)
            skip -= min(credits, skip)
            take = min(usable, left)
            if take:
                returned.append((grant, take))
                left -= take
        assert left == 0
        Model.give_back(returned)
        spent.refunded += amount
        return returned


def ids(taken: Allocation) -> tuple[tuple[int | None, int], ...]:
    return tuple((grant.service_id, credits) for grant, credits in taken)


@dataclass
class Call:
    """A successful call made with an idempotency key, to retry later."""

    at: datetime
    again: Callable[[], Any]
    different: Callable[[], Any] | None  # the same key with another payload
    result: Any


# --- the machine -------------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, credits: Gencredits, account_id: str) -> None:
        """A new account on a service shared by the examples (one database per backend: a
        database per example costs more than the example); the clock starts over."""
        super().__init__()
        assert isinstance(credits.clock, ManualClock)
        self.clock = credits.clock
        self.clock.set(START)
        self.credits = credits
        self.account = account_id
        self.model = Model(START, allowance=0)
        self.calls: list[Call] = []
        self.keys = 0
        self.prices: dict[QuoteRequest, int] = {}

    @initialize(plan=st.sampled_from(sorted(ALLOWANCES)))
    def open_account(self, plan: str) -> None:
        self.credits.create_account(self.account, name="Ana", plan=plan)
        self.model = Model(START, allowance=ALLOWANCES[plan])
        self.model.add_grant(
            self.model.allowance, self.model.cycle_end, PRIORITY["plan"], allowance=True
        )
        self.bind_plan_grants()

    # -- helpers --

    def key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    def price(self, request: QuoteRequest) -> int:
        if request not in self.prices:
            self.prices[request] = self.credits.quote(request).total_credits
        return self.prices[request]

    def bind_plan_grants(self) -> None:
        """Learn the database ids of the allowance grants, which the model made itself: one
        per cycle on both sides, in the same order."""
        service_ids = [g["id"] for g in probes.plan_grants(self.credits, self.account)]
        allowances = [g for g in self.model.grants if g.allowance]
        assert len(service_ids) == len(allowances)
        for grant, service_id in zip(allowances, service_ids, strict=True):
            assert grant.service_id in (None, service_id)
            grant.service_id = service_id

    def remember(
        self, again: Callable[[], Any], different: Callable[[], Any] | None, result: Any
    ) -> None:
        self.calls.append(Call(self.model.now, again, different, result))

    # -- rules --

    @rule(
        amount=st.one_of(st.integers(1, 60), st.integers(61, 400)),
        source=st.sampled_from(["promo", "adjustment", "trial"]),
        lasts=st.one_of(
            st.none(), st.sampled_from([timedelta(hours=2), timedelta(days=3), "cycle end"])
        ),
    )
    def grant(self, amount: int, source: str, lasts: timedelta | str | None) -> None:
        if lasts is None:
            expires_at = None
        elif lasts == "cycle end":  # ties the allowance's expiry: priority, then age decide
            expires_at = self.model.cycle_end
        else:
            assert isinstance(lasts, timedelta)
            expires_at = self.model.now + lasts
        key = self.key()

        def call() -> Any:
            return self.credits.grant(
                self.account, amount, source=source, expires_at=expires_at, idempotency_key=key
            )

        entry = call()
        grant = self.model.add_grant(amount, expires_at, PRIORITY[source])
        (grant.service_id, credits), *_ = entry.grants
        assert credits == amount and entry.balance_delta == amount

        def different() -> Any:
            return self.credits.grant(self.account, amount + 1, source=source, idempotency_key=key)

        self.remember(call, different, entry)

    @rule(request=requests, keyed=st.booleans())
    def charge(self, request: QuoteRequest, keyed: bool) -> None:
        price = self.price(request)
        key = self.key() if keyed else None
        available = self.model.available
        if price > available:
            with pytest.raises(InsufficientCredits) as refused:
                self.credits.charge(self.account, request, idempotency_key=key)
            assert (refused.value.available, refused.value.required) == (available, price)
            return
        entry = self.credits.charge(self.account, request, idempotency_key=key)
        taken = self.model.burn(price)
        assert entry.amount_credits == price and entry.balance_delta == -price
        assert entry.grants == ids(taken)
        self.model.spent[entry.id] = Spent(price, taken)
        if key is not None:
            self.remember(
                lambda: self.credits.charge(self.account, request, idempotency_key=key),
                lambda: self.credits.charge(
                    self.account, request, idempotency_key=key, project="x"
                ),
                entry,
            )

    @rule(request=requests, ttl_seconds=st.sampled_from([60, 900, 3_600, 86_400, 86_400]))
    def hold(self, request: QuoteRequest, ttl_seconds: int) -> None:
        price = self.price(request)
        key = self.key()

        def call() -> Any:
            return self.credits.hold(
                self.account, request, ttl_seconds=ttl_seconds, idempotency_key=key
            )

        if price > self.model.available:
            with pytest.raises(InsufficientCredits):
                call()
            return
        held = call()
        taken = self.model.burn(price)
        assert (held.amount_credits, held.status) == (price, HoldStatus.PENDING)
        assert held.expires_at == self.model.now + timedelta(seconds=ttl_seconds)
        self.model.holds[held.id] = ModelHold(price, taken, held.expires_at, request)
        self.remember(
            call,
            lambda: self.credits.hold(self.account, request, idempotency_key=key, project="x"),
            held,
        )

    def choose_hold(self, which: int, settled_too: bool) -> int:
        """Mostly a pending hold; sometimes any hold, to try settling one twice."""
        pending = [i for i, h in self.model.holds.items() if h.status is HoldStatus.PENDING]
        candidates = sorted(self.model.holds) if settled_too or not pending else pending
        return candidates[which % len(candidates)]

    @precondition(lambda self: self.model.holds)
    @rule(
        which=pick,
        how=st.sampled_from(["all", "all", "part", "part", "over", "delivered", "zero"]),
        settled_too=st.booleans(),
    )
    def capture(self, which: int, how: str, settled_too: bool) -> None:
        hold_id = self.choose_hold(which, settled_too)
        hold = self.model.holds[hold_id]
        options: dict[str, Any] = {}
        kept = hold.amount
        if how == "part":
            kept = hold.amount // 2
            options["amount_credits"] = kept
        elif how == "zero":
            kept = options["amount_credits"] = 0
        elif how == "over":
            options["amount_credits"] = hold.amount + 1
        elif how == "delivered":
            lines = hold.request.lines
            if len(lines) != 1 or lines[0].count != 1:
                return  # outputs_delivered prices one request of one line
            delivered = max(0, lines[0].outputs - 1)
            options["outputs_delivered"] = delivered
            kept = 0
            if delivered:
                fewer = QuoteRequest((replace(lines[0], outputs=delivered),))
                kept = min(self.price(fewer), hold.amount)
        key = self.key()

        def call() -> Any:
            return self.credits.capture(hold_id, idempotency_key=key, **options)

        if hold.status is not HoldStatus.PENDING:
            with pytest.raises(HoldNotPending) as refused:
                call()
            assert refused.value.status == hold.status.value
            return
        if how == "over":
            with pytest.raises(ExceedsHoldAmount):
                call()
            return
        settled = call()
        kept_part, returned = self.model.capture(hold, kept)
        assert (settled.hold.status, settled.hold.captured_credits) == (HoldStatus.CAPTURED, kept)
        if kept:
            assert settled.capture is not None and settled.capture.amount_credits == kept
            assert settled.capture.grants == ids(kept_part)
            self.model.spent[settled.capture.id] = Spent(kept, kept_part)
        else:
            assert settled.capture is None
        if returned:
            assert settled.release is not None
            assert settled.release.amount_credits == hold.amount - kept
            assert settled.release.grants == ids(returned)
        else:
            assert settled.release is None
        other = {"amount_credits": options.get("amount_credits", -1) + 1}

        def different() -> Any:
            return self.credits.capture(hold_id, idempotency_key=key, **other)

        self.remember(call, different, settled)

    @precondition(lambda self: self.model.holds)
    @rule(which=pick, settled_too=st.booleans())
    def release(self, which: int, settled_too: bool) -> None:
        hold_id = self.choose_hold(which, settled_too)
        hold = self.model.holds[hold_id]
        key = self.key()

        def call() -> Any:
            return self.credits.release(hold_id, idempotency_key=key)

        if hold.status is not HoldStatus.PENDING:
            with pytest.raises(HoldNotPending):
                call()
            return
        released = call()
        hold.status = HoldStatus.RELEASED
        self.model.give_back(hold.taken)
        assert released.status is HoldStatus.RELEASED
        others = [other for other in self.model.holds if other != hold_id]

        def different() -> Any:  # the only payload of a release is its hold
            return self.credits.release(others[0], idempotency_key=key)

        self.remember(call, different if others else None, released)

    @precondition(lambda self: self.model.spent)
    @rule(which=pick, part=st.one_of(st.none(), st.integers(1, 400)))
    def refund(self, which: int, part: int | None) -> None:
        entry_id = sorted(self.model.spent)[which % len(self.model.spent)]
        spent = self.model.spent[entry_id]
        refundable = spent.amount - spent.refunded
        key = self.key()

        def call() -> Any:
            return self.credits.refund(entry_id, amount_credits=part, idempotency_key=key)

        if refundable == 0:
            with pytest.raises(InvalidRequest):
                call()
            return
        if part is not None and part > refundable:
            with pytest.raises(OutOfRange):
                call()
            return
        entry = call()
        amount = refundable if part is None else part
        assert (entry.amount_credits, entry.related_entry_id) == (amount, entry_id)
        assert entry.grants == ids(self.model.refund(spent, amount))
        self.remember(
            call,
            lambda: self.credits.refund(
                entry_id, amount_credits=1, reason="x", idempotency_key=key
            ),
            entry,
        )

    @rule(move=clock_moves)
    def move_clock(self, move: timedelta) -> None:
        self.clock.advance(seconds=move.total_seconds())
        self.model.advance(self.clock.now())

    @rule()
    def sweep(self) -> None:
        self.credits.renew()

    @precondition(lambda self: self.calls)
    @rule(which=pick, same_payload=st.booleans())
    def retry(self, which: int, same_payload: bool) -> None:
        """A retry with the same key: the first result again and no new effect; with another
        payload, a conflict. Keys are kept at least 24 hours (SPEC)."""
        recent = [c for c in self.calls if self.model.now - c.at < timedelta(hours=24)]
        if not recent:
            return
        call = recent[which % len(recent)]
        before = probes.entry_count(self.credits)
        if same_payload or call.different is None:
            assert call.again() == call.result
        else:
            with pytest.raises(IdempotencyConflict):
                call.different()
        assert probes.entry_count(self.credits) == before

    # -- invariants, after every step --

    @invariant()
    def after_every_step(self) -> None:
        view = self.credits.account(self.account)  # brings the account up to the clock
        self.bind_plan_grants()
        self.the_books_balance(view)
        self.every_hold_settles_at_most_once()

    def the_books_balance(self, view: AccountView) -> None:
        stored = probes.cached(self.credits, self.account)
        assert stored.available_credits >= 0 and stored.held_credits >= 0
        assert view.available_credits == view.balance_credits - view.held_credits >= 0
        assert stored.balance_credits == view.balance_credits
        assert probes.entries_balance(self.credits, self.account) == view.balance_credits
        report = self.credits.verify()
        assert report.ok, report.differences
        assert (view.available_credits, view.held_credits) == (
            self.model.available,
            self.model.held,
        )

    def every_hold_settles_at_most_once(self) -> None:
        per_hold: dict[int, dict[str, tuple[int, int]]] = {}
        for row in probes.rows(
            self.credits,
            select(
                entries.c.hold_id,
                entries.c.kind,
                func.count().label("n"),
                func.sum(entries.c.held_delta).label("held_delta"),
            )
            .where(entries.c.account_id == self.account, entries.c.hold_id.is_not(None))
            .group_by(entries.c.hold_id, entries.c.kind),
        ):
            counts = (int(row["n"]), int(row["held_delta"]))
            per_hold.setdefault(int(row["hold_id"]), {})[row["kind"]] = counts
        statuses = {
            row["id"]: (row["status"], row["amount_credits"])
            for row in probes.rows(
                self.credits, select(holds).where(holds.c.account_id == self.account)
            )
        }
        assert set(per_hold) == set(statuses) == set(self.model.holds)
        for hold_id, kinds in per_hold.items():
            status, amount = statuses[hold_id]
            assert status == self.model.holds[hold_id].status.value
            assert kinds["hold"][0] == 1
            assert kinds.get("capture", (0, 0))[0] <= 1 and kinds.get("release", (0, 0))[0] <= 1
            still_held = sum(delta for _, delta in kinds.values())
            assert still_held == (amount if status == "pending" else 0)


# --- running it on both databases ---------------------------------------------------------------


# Bounded by example counts (machine_settings), not by time: on a machine shared with other
# suites it has taken most of the run-wide 300 s, so its own bound is wider.
@pytest.mark.timeout(900)
def test_the_ledger_matches_its_model(database_url: str) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    accounts = itertools.count()
    with gencredits.open(database_url, clock=ManualClock(START)) as credits:
        credits.put_plan(STARTER)
        run_state_machine_as_test(
            lambda: LedgerMachine(credits, f"machine-{next(accounts)}"),
            settings=machine_settings(backend),
        )
        report = credits.verify()
        assert report.ok and report.accounts_checked == next(accounts), report.differences
