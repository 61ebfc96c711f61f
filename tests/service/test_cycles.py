"""Billing cycles through the real ledger: renewals on the calendar, no rollover, one allowance
grant per cycle however late, often or concurrently renewal runs, and plan changes.

The clock is a ManualClock moved by the tests. Grants per cycle are counted with plain SQL on
``grants`` (an allowance grant carries its ``cycle_number``; other grants leave it NULL). The tests
on ``database_url`` also run through PgBouncer in transaction mode (the ``pgbouncer`` mark).
"""

from __future__ import annotations

import calendar
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gencredits
from gencredits import Gencredits, ManualClock, QuoteRequest
from gencredits.domain.plans import PlanChange
from tests.service import probes, workers
from tests.service.conftest import START

pytestmark = pytest.mark.pgbouncer

single = QuoteRequest.single
SIX_HUNDRED = single("flux-2-max", count=50)  # 50 x 12 = 600 credits

# Where the cycles of a subscription anchored on 2026-01-31 09:00 end, written out by hand:
# the 31st clamped to each month's last day, Feb 29 in the leap year 2028, never drifting.
BOUNDARIES = [
    datetime(year, month, day, 9, tzinfo=UTC)
    for year, month, day in (
        (2026, 2, 28), (2026, 3, 31), (2026, 4, 30), (2026, 5, 31), (2026, 6, 30),
        (2026, 7, 31), (2026, 8, 31), (2026, 9, 30), (2026, 10, 31), (2026, 11, 30),
        (2026, 12, 31), (2027, 1, 31), (2027, 2, 28), (2027, 3, 31), (2027, 4, 30),
        (2027, 5, 31), (2027, 6, 30), (2027, 7, 31), (2027, 8, 31), (2027, 9, 30),
        (2027, 10, 31), (2027, 11, 30), (2027, 12, 31), (2028, 1, 31), (2028, 2, 29),
        (2028, 3, 31), (2028, 4, 30),
    )
]  # fmt: skip


def month_after(anchor: datetime, months: int) -> datetime:
    """The test's own calendar: ``anchor`` plus whole months, the day clamped to the month."""
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    return anchor.replace(year=year, month=month, day=min(anchor.day, monthrange(year, month)))


def monthrange(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def test_the_test_calendar_agrees_with_the_hand_written_boundaries() -> None:
    assert [month_after(START, i) for i in range(1, len(BOUNDARIES) + 1)] == BOUNDARIES


def assert_one_grant_per_cycle(credits: Gencredits) -> None:
    per_cycle = probes.plan_grants_per_cycle(credits)
    assert per_cycle and set(per_cycle.values()) == {1}, per_cycle


def assert_verified(credits: Gencredits) -> None:
    report = credits.verify()
    assert report.ok, report.differences


# --- the calendar --------------------------------------------------------------------------


def test_26_renewals_on_the_clamped_anchor_day_with_no_rollover(
    credits: Gencredits, clock: ManualClock
) -> None:
    """SPEC's worked example, every month for two years and a leap day: Pro grants 1,000;
    600 are used; at renewal the 400 left expire and a new 1,000 is granted."""
    credits.create_account("pat", name="Pat", plan="pro")
    starts = [START, *BOUNDARIES]
    for index, boundary in enumerate(BOUNDARIES[:-1]):
        view = credits.account("pat")
        assert (view.cycle_starts_at, view.cycle_ends_at) == (starts[index], boundary)
        assert (view.balance_credits, view.allowance_used_credits) == (1_000, 0)
        credits.charge("pat", SIX_HUNDRED)
        assert credits.account("pat").allowance_used_credits == 600

        clock.set(boundary - timedelta(seconds=1))  # not a second early
        assert credits.account("pat").balance_credits == 400
        clock.set(boundary)
        view = credits.account("pat")
        assert (view.balance_credits, view.cycle_starts_at) == (1_000, boundary)
        expired = probes.entries_of(credits, "pat", kind="expire")[-1]
        assert (expired["amount_credits"], expired["effective_at"]) == (400, boundary)

    granted = probes.plan_grants(credits, "pat")
    assert [g["cycle_number"] for g in granted] == list(range(1, len(BOUNDARIES) + 1))
    assert [g["starts_at"] for g in granted] == starts[:-1]
    assert [g["expires_at"] for g in granted] == BOUNDARIES
    assert [g["amount_credits"] for g in granted] == [1_000] * len(BOUNDARIES)
    assert all(g["expired"] for g in granted[:-1]) and not granted[-1]["expired"]
    expired_total = sum(
        e["amount_credits"] for e in probes.entries_of(credits, "pat", kind="expire")
    )
    assert expired_total == 400 * (len(BOUNDARIES) - 1)
    assert probes.entries_balance(credits, "pat") == 1_000
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


def test_a_late_renewal_grants_and_expires_each_missed_cycle(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("pat", name="Pat", plan="pro")
    credits.charge("pat", SIX_HUNDRED)
    clock.set(BOUNDARIES[4] + timedelta(days=3))  # five renewals missed

    view = credits.account("pat")
    assert (view.cycle_starts_at, view.cycle_ends_at) == (BOUNDARIES[4], BOUNDARIES[5])
    assert view.balance_credits == 1_000
    granted = probes.plan_grants(credits, "pat")
    assert [g["starts_at"] for g in granted] == [START, *BOUNDARIES[:5]]
    expired = probes.entries_of(credits, "pat", kind="expire")
    assert [(e["amount_credits"], e["effective_at"]) for e in expired] == [
        (400, BOUNDARIES[0]),
        *((1_000, boundary) for boundary in BOUNDARIES[1:5]),
    ]
    # Each entry is dated when it took effect, not when it was processed.
    grant_times = [e["effective_at"] for e in probes.entries_of(credits, "pat", kind="grant")]
    assert grant_times == [START, *BOUNDARIES[:5]]

    before = probes.entry_count(credits)
    assert credits.renew().accounts_updated == 0
    assert probes.entry_count(credits) == before
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


def test_a_dormant_account_renews_a_bounded_number_of_cycles(
    credits: Gencredits, clock: ManualClock
) -> None:
    from gencredits.service.timeline import MAX_CATCH_UP_CYCLES

    credits.create_account("pat", name="Pat", plan="pro")
    clock.set(month_after(START, 60) + timedelta(days=1))  # five years asleep
    view = credits.account("pat")
    assert (view.cycle_starts_at, view.balance_credits) == (month_after(START, 60), 1_000)
    granted = probes.plan_grants(credits, "pat")
    assert len(granted) == 1 + MAX_CATCH_UP_CYCLES
    assert [g["starts_at"] for g in granted[1:]] == [
        month_after(START, i) for i in range(60 - MAX_CATCH_UP_CYCLES + 1, 61)
    ]
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


def test_renewal_run_twice_grants_once(credits: Gencredits, clock: ManualClock) -> None:
    for name in ("a", "b", "c"):
        credits.create_account(name, name=name, plan="pro")
    clock.set(BOUNDARIES[2] + timedelta(hours=1))
    first = credits.renew()
    assert (first.accounts_checked, first.accounts_updated) == (3, 3)
    entries = probes.entry_count(credits)
    second = credits.renew()
    assert (second.accounts_checked, second.accounts_updated) == (0, 0)
    assert probes.entry_count(credits) == entries
    for name in ("a", "b", "c"):
        assert len(probes.plan_grants(credits, name)) == 4
        assert credits.account(name).balance_credits == 1_000
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


ACCOUNTS = [f"acct-{n}" for n in range(5)]
RENEWAL_ROUNDS = (BOUNDARIES[4] + timedelta(hours=1), BOUNDARIES[9] + timedelta(hours=1))


def check_concurrent_renewals(credits: Gencredits, cycles_started: int) -> None:
    for account_id in ACCOUNTS:
        granted = probes.plan_grants(credits, account_id)
        assert [g["starts_at"] for g in granted] == [START, *BOUNDARIES[:cycles_started]]
        assert credits.account(account_id).balance_credits == 1_000
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


@pytest.mark.postgres
@pytest.mark.parametrize("url_fixture", ["postgres_url", "pgbouncer_url"])
def test_renewal_from_many_threads_at_once_grants_once(
    request: pytest.FixtureRequest, url_fixture: str
) -> None:
    # Eight services of two connections each: through PgBouncer, sixteen clients on its eight
    # server connections.
    postgres_url = str(request.getfixturevalue(url_fixture))
    with gencredits.open(postgres_url, clock=ManualClock(START)) as credits:
        for account_id in ACCOUNTS:
            credits.create_account(account_id, name=account_id, plan="pro")
        servers = [
            gencredits.open(postgres_url, clock=ManualClock(START), pool_size=2) for _ in range(8)
        ]
        try:
            for cycles_started, moment in zip((5, 10), RENEWAL_ROUNDS, strict=True):
                for server in servers:
                    assert isinstance(server.clock, ManualClock)
                    server.clock.set(moment)
                seen = workers.run_in_threads(
                    workers.renew_or_read,
                    [(server, ACCOUNTS, n) for n, server in enumerate(servers)],
                )
                assert all(balances == [1_000] * len(ACCOUNTS) for balances in seen)
                check_concurrent_renewals(credits, cycles_started)
        finally:
            for server in servers:
                server.close()


def test_renewal_from_many_processes_at_once_grants_once(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/gencredits.db"
    with gencredits.open(url, clock=ManualClock(START)) as credits:
        for account_id in ACCOUNTS:
            credits.create_account(account_id, name=account_id, plan="pro")
        # Each process runs both rounds, all starting each round together.
        reports = workers.run_in_processes(
            workers.renew_process, [(url, RENEWAL_ROUNDS, ACCOUNTS, n) for n in range(6)]
        )
        assert [error for _, _, error in reports if error] == []
        assert all(balances == [1_000] * len(ACCOUNTS) * 2 for _, balances, _ in reports)
        check_concurrent_renewals(credits, 10)


# --- plan changes ------------------------------------------------------------------------------


def test_an_upgrade_applies_at_once_in_a_new_cycle(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("pat", name="Pat", plan="pro")
    changed_at = START + timedelta(days=10)  # 2026-02-10 09:00
    clock.set(changed_at)
    credits.charge("pat", single("flux-2-max", count=25))  # 300 of the 1,000

    result = credits.change_plan("pat", "ultra")
    assert result.change is PlanChange.UPGRADE
    view = result.account
    assert (view.plan_id, view.pending_plan_id, view.balance_credits) == ("ultra", None, 5_000)
    assert (view.cycle_starts_at, view.cycle_ends_at) == (
        changed_at,
        datetime(2026, 3, 10, 9, tzinfo=UTC),
    )
    assert (view.allowance_credits, view.allowance_used_credits) == (5_000, 0)
    (expired,) = probes.entries_of(credits, "pat", kind="expire")
    assert (expired["amount_credits"], expired["effective_at"]) == (700, changed_at)
    pro, ultra = probes.plan_grants(credits, "pat")
    assert (pro["expired"], pro["remaining_credits"], pro["expires_at"]) == (True, 0, changed_at)
    assert (ultra["amount_credits"], ultra["starts_at"]) == (5_000, changed_at)

    clock.set(BOUNDARIES[0])  # the old anchor's renewal day means nothing now
    assert credits.account("pat").balance_credits == 5_000
    assert len(probes.plan_grants(credits, "pat")) == 2
    clock.set(datetime(2026, 3, 10, 9, tzinfo=UTC))
    view = credits.account("pat")
    assert (view.balance_credits, view.cycle_ends_at) == (
        5_000,
        datetime(2026, 4, 10, 9, tzinfo=UTC),
    )
    assert len(probes.plan_grants(credits, "pat")) == 3
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


def test_a_downgrade_waits_for_the_renewal(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("uma", name="Uma", plan="ultra")
    clock.set(START + timedelta(days=10))
    credits.charge("uma", SIX_HUNDRED)
    entries = probes.entry_count(credits)

    result = credits.change_plan("uma", "pro")
    assert result.change is PlanChange.DOWNGRADE
    view = result.account
    assert (view.plan_id, view.pending_plan_id, view.balance_credits) == ("ultra", "pro", 4_400)
    assert view.cycle_ends_at == BOUNDARIES[0]
    assert probes.entry_count(credits) == entries  # nothing granted or expired yet
    assert credits.change_plan("uma", "pro").change is PlanChange.UNCHANGED

    clock.set(BOUNDARIES[0])
    view = credits.account("uma")
    assert (view.plan_id, view.pending_plan_id, view.balance_credits) == ("pro", None, 1_000)
    assert (view.cycle_starts_at, view.cycle_ends_at) == (BOUNDARIES[0], BOUNDARIES[1])
    expired = probes.entries_of(credits, "uma", kind="expire")
    assert [(e["amount_credits"], e["effective_at"]) for e in expired] == [(4_400, BOUNDARIES[0])]
    clock.set(BOUNDARIES[1])
    assert credits.account("uma").balance_credits == 1_000
    assert [g["amount_credits"] for g in probes.plan_grants(credits, "uma")] == [
        5_000,
        1_000,
        1_000,
    ]
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


def test_returning_to_the_free_trial_grants_no_second_trial(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("tia", name="Tia", plan="free")
    credits.change_plan("tia", "pro")
    assert credits.change_plan("tia", "free").change is PlanChange.DOWNGRADE
    clock.set(BOUNDARIES[0])
    view = credits.account("tia")
    assert (view.plan_id, view.balance_credits) == ("free", 0)
    assert [g["amount_credits"] for g in probes.plan_grants(credits, "tia")] == [100, 1_000]
    assert_verified(credits)


def test_an_upgrade_back_before_renewal_only_cancels_the_downgrade(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("uma", name="Uma", plan="ultra")
    clock.set(START + timedelta(days=3))
    assert credits.change_plan("uma", "pro").change is PlanChange.DOWNGRADE
    entries = probes.entry_count(credits)
    result = credits.change_plan("uma", "ultra")
    assert result.change is PlanChange.CANCEL_DOWNGRADE
    assert (result.account.pending_plan_id, result.account.balance_credits) == (None, 5_000)
    assert result.account.cycle_starts_at == START  # the cycle goes on as it was
    assert probes.entry_count(credits) == entries
    assert len(probes.plan_grants(credits, "uma")) == 1

    clock.set(BOUNDARIES[0])
    view = credits.account("uma")
    assert (view.plan_id, view.balance_credits) == ("ultra", 5_000)
    assert [g["amount_credits"] for g in probes.plan_grants(credits, "uma")] == [5_000, 5_000]
    assert_one_grant_per_cycle(credits)
    assert_verified(credits)


# --- no sequence of plan changes grants a cycle twice --------------------------------------


RANK = {"free": 0, "pro": 1, "ultra": 2}
ALLOWANCE = {"free": 100, "pro": 1_000, "ultra": 5_000}
TRIAL_DAYS = 14


@dataclass
class AllowanceGrant:
    plan: str
    starts_at: datetime
    ends_at: datetime
    granted: bool = True  # False: a cycle of the free trial after the trial was used


@dataclass
class Subscription:
    """The test's own model of SPEC's plan rules: renewal at each cycle end (a pending
    downgrade takes effect there), upgrades at once in a new cycle, downgrades pending, and
    choosing the current plan again only cancels a pending downgrade."""

    plan: str
    anchor: datetime
    pending: str | None = None
    index: int = 0
    grants: list[AllowanceGrant] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start(self.plan, self.anchor)

    @property
    def current(self) -> AllowanceGrant:
        return self.grants[-1]

    def start(self, plan: str, anchor: datetime) -> None:
        self.plan, self.pending, self.anchor, self.index = plan, None, anchor, 0
        self.grant_cycle()

    def grant_cycle(self) -> None:
        # The trial is granted once per account; a later free cycle grants nothing.
        granted = self.plan != "free" or not any(g.plan == "free" for g in self.grants)
        if self.plan == "free":
            starts_at, ends_at = self.anchor, self.anchor + timedelta(days=TRIAL_DAYS)
        else:
            starts_at = month_after(self.anchor, self.index)
            ends_at = month_after(self.anchor, self.index + 1)
        self.grants.append(AllowanceGrant(self.plan, starts_at, ends_at, granted))

    def advance(self, now: datetime) -> None:
        while self.plan != "free" and self.current.ends_at <= now:
            if self.pending == "free":  # a once plan: its single cycle starts here
                self.start(self.pending, self.current.ends_at)
            elif self.pending is not None:  # monthly to monthly: the anchor stays
                self.plan, self.pending = self.pending, None
                self.index += 1
                self.grant_cycle()
            else:
                self.index += 1
                self.grant_cycle()

    def change(self, target: str, now: datetime) -> PlanChange:
        self.advance(now)
        if target == self.plan:
            cancelled, self.pending = self.pending is not None, None
            return PlanChange.CANCEL_DOWNGRADE if cancelled else PlanChange.UNCHANGED
        if target == self.pending:
            return PlanChange.UNCHANGED
        if RANK[target] > RANK[self.plan]:
            self.current.ends_at = min(self.current.ends_at, now)  # the rest expires now
            self.start(target, now)
            return PlanChange.UPGRADE
        self.pending = target
        return PlanChange.DOWNGRADE

    def balance(self, now: datetime) -> int:
        return sum(
            ALLOWANCE[g.plan]
            for g in self.grants
            if g.granted and g.starts_at <= now < g.ends_at
        )


plan_ids = st.sampled_from(sorted(RANK))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("change"), plan_ids),
        st.tuples(st.just("wait_hours"), st.integers(1, 24 * 75)),
        st.tuples(st.just("to_cycle_end"), st.sampled_from([-1, 0, 1])),
        st.tuples(st.just("renew"), st.none()),
    ),
    max_size=14,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(first_plan=plan_ids, script=steps)
def test_no_sequence_of_plan_changes_grants_a_cycle_twice(
    first_plan: str, script: list[tuple[str, object]]
) -> None:
    clock = ManualClock(START)
    with (
        tempfile.TemporaryDirectory() as directory,
        gencredits.open(f"sqlite:///{directory}/gencredits.db", clock=clock) as credits,
    ):
        credits.create_account("sub", name="Sub", plan=first_plan)
        model = Subscription(first_plan, START)
        for action, argument in script:
            if action == "change":
                assert isinstance(argument, str)
                now = clock.now()
                expected = model.change(argument, now)
                assert credits.change_plan("sub", argument).change is expected
            elif action == "wait_hours":
                assert isinstance(argument, int)
                clock.advance(hours=argument)
            elif action == "to_cycle_end":
                assert isinstance(argument, int)
                target = model.current.ends_at + timedelta(seconds=argument)
                clock.set(max(target, clock.now()))
            else:
                credits.renew()
            now = clock.now()
            model.advance(now)
            view = credits.account("sub")
            assert (view.plan_id, view.pending_plan_id) == (model.plan, model.pending)
            assert (view.cycle_starts_at, view.cycle_ends_at) == (
                model.current.starts_at,
                model.current.ends_at,
            )
            assert view.balance_credits == model.balance(now)

        granted = probes.plan_grants(credits, "sub")
        per_cycle = probes.plan_grants_per_cycle(credits)
        assert set(per_cycle.values()) == {1}
        assert [(g["amount_credits"], g["starts_at"], g["expires_at"]) for g in granted] == [
            (ALLOWANCE[g.plan], g.starts_at, g.ends_at) for g in model.grants if g.granted
        ]
        assert sum(g["amount_credits"] for g in granted) <= sum(
            ALLOWANCE[g.plan] for g in model.grants if g.granted
        )
        assert_verified(credits)
