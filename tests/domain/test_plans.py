"""Plans, billing cycles and plan changes: calendar boundaries, properties, every change rule."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.domain.errors import CatalogInvalid, NotFound
from gencredits.domain.plans import (
    Cycle,
    Period,
    Plan,
    PlanChange,
    Plans,
    add_months,
    classify_change,
    cycle_at,
    cycle_bounds,
    cycle_index_at,
    cycle_start,
    cycles_between,
    plan_rank,
)

FREE = Plan(
    "free",
    "Free trial",
    100,
    Period.ONCE,
    duration_days=14,
    price=Decimal(0),
    grant_source="trial",
)
BASIC = Plan("basic", "Basic", 500, Period.MONTH, price=Decimal(6))
PRO = Plan("pro", "Pro", 1_000, Period.MONTH, price=Decimal(12))
ULTRA = Plan("ultra", "Ultra", 5_000, Period.MONTH, price=Decimal(48))
MEGA = Plan("mega", "Mega", 20_000, Period.MONTH)
YEARLY = Plan("pro-yearly", "Pro yearly", 12_000, Period.YEAR, price=Decimal(120))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Calendar boundaries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "anchor",
    [at(2027, 1, day, 9, 30).replace(second=15, microsecond=7) for day in (1, 15, 28, 29, 30, 31)]
    + [at(2028, 2, 29, 23, 59), at(2027, 12, 31), at(2028, 3, 30, 12)],
    ids=lambda a: a.date().isoformat(),
)
def test_24_monthly_cycles_follow_the_calendar(anchor: datetime) -> None:
    cycles = [cycle_bounds(PRO, anchor, index) for index in range(24)]
    for index, (starts_at, ends_at) in enumerate(cycles):
        year, month = divmod(anchor.month - 1 + index, 12)
        year, month = anchor.year + year, month + 1
        days_in_month = calendar.monthrange(year, month)[1]
        assert (starts_at.year, starts_at.month) == (year, month)
        assert starts_at.day == min(anchor.day, days_in_month)
        assert starts_at.timetz() == anchor.timetz()
        assert starts_at < ends_at
        if index + 1 < len(cycles):
            assert ends_at == cycles[index + 1][0]  # no gap, no overlap
        assert cycle_index_at(PRO, anchor, starts_at) == index
        assert cycle_index_at(PRO, anchor, ends_at - timedelta(microseconds=1)) == index


def test_an_anchor_on_the_31st_never_drifts_to_the_28th() -> None:
    anchor = at(2026, 1, 31, 9)
    starts = [cycle_start(PRO, anchor, index).date().isoformat() for index in range(5)]
    assert starts == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    assert cycle_start(PRO, at(2028, 1, 31), 1) == at(2028, 2, 29)


def test_yearly_cycles_from_february_29() -> None:
    anchor = at(2028, 2, 29, 8)
    starts = [cycle_start(YEARLY, anchor, index).date().isoformat() for index in range(5)]
    assert starts == ["2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"]
    assert cycle_start(YEARLY, anchor, 4).timetz() == anchor.timetz()
    assert cycle_index_at(YEARLY, anchor, at(2029, 2, 28, 7, 59)) == 0
    assert cycle_index_at(YEARLY, anchor, at(2029, 2, 28, 8)) == 1


def test_add_months_clamps_relative_to_the_anchor() -> None:
    assert add_months(at(2026, 1, 31), 1) == at(2026, 2, 28)
    assert add_months(at(2026, 1, 31), 2) == at(2026, 3, 31)
    assert add_months(at(2026, 11, 30), 3) == at(2027, 2, 28)
    assert add_months(at(2026, 3, 31), -1) == at(2026, 2, 28)
    assert add_months(at(2026, 5, 15), 0) == at(2026, 5, 15)


def test_the_worked_example_of_the_module_docstring() -> None:
    anchor = at(2026, 1, 31, 9)
    first = cycle_at(PRO, anchor, anchor)
    assert first == Cycle(0, anchor, at(2026, 2, 28, 9))
    assert cycle_index_at(PRO, anchor, at(2026, 2, 28, 8, 59)) == 0
    renewal = cycle_at(PRO, anchor, at(2026, 2, 28, 9))
    assert renewal == Cycle(1, at(2026, 2, 28, 9), at(2026, 3, 31, 9))
    late = cycles_between(PRO, anchor, 0, at(2026, 4, 2), limit=12)
    assert [c.index for c in late] == [1, 2]


def test_before_the_anchor_is_cycle_0_and_nothing_is_due() -> None:
    anchor = at(2026, 6, 15)
    assert cycle_index_at(PRO, anchor, at(2026, 1, 1)) == 0
    assert cycles_between(PRO, anchor, -1, at(2026, 1, 1), limit=5) == ()
    assert [c.index for c in cycles_between(PRO, anchor, -1, anchor, limit=5)] == [0]


def test_a_late_renewal_processes_only_the_latest_cycles_up_to_the_limit() -> None:
    anchor = at(2026, 1, 31, 9)
    due = cycles_between(PRO, anchor, 0, at(2030, 1, 1), limit=3)
    assert [c.index for c in due] == [45, 46, 47]
    assert cycles_between(PRO, anchor, 47, at(2030, 1, 1), limit=3) == ()


def test_times_must_be_utc() -> None:
    with pytest.raises(AssertionError):
        cycle_start(PRO, datetime(2026, 1, 1), 0)
    with pytest.raises(AssertionError):
        cycle_index_at(PRO, at(2026, 1, 1), datetime(2026, 2, 1))
    with pytest.raises(AssertionError):
        cycle_start(PRO, at(2026, 1, 1), -1)


# The free trial: one cycle ----------------------------------------------------------------


def test_a_once_plan_has_a_single_cycle_of_its_duration() -> None:
    anchor = at(2026, 3, 10, 14)
    assert cycle_bounds(FREE, anchor, 0) == (anchor, at(2026, 3, 24, 14))
    for moment in (at(2026, 1, 1), anchor, at(2026, 3, 23), at(2026, 3, 24, 14), at(2031, 1, 1)):
        assert cycle_index_at(FREE, anchor, moment) == 0
    assert [c.index for c in cycles_between(FREE, anchor, -1, at(2030, 1, 1), limit=5)] == [0]
    assert cycles_between(FREE, anchor, 0, at(2030, 1, 1), limit=5) == ()
    assert not cycle_at(FREE, anchor, at(2026, 3, 24, 14)).contains(at(2026, 3, 24, 14))
    with pytest.raises(AssertionError):
        cycle_start(FREE, anchor, 1)
    assert not FREE.is_recurring() and PRO.is_recurring() and YEARLY.is_recurring()


# Properties -------------------------------------------------------------------------------

anchors = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
)
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40 * 366))
recurring = st.sampled_from([PRO, YEARLY])


@given(anchors, offsets, recurring)
def test_the_cycle_at_a_moment_contains_it(anchor: datetime, offset: timedelta, plan: Plan) -> None:
    moment = anchor + offset
    index = cycle_index_at(plan, anchor, moment)
    starts_at, ends_at = cycle_bounds(plan, anchor, index)
    assert starts_at <= moment < ends_at
    assert cycle_at(plan, anchor, moment) == Cycle(index, starts_at, ends_at)


@given(anchors, st.integers(min_value=0, max_value=1_000), recurring)
def test_cycles_are_contiguous_increasing_and_calendar_sized(
    anchor: datetime, first_index: int, plan: Plan
) -> None:
    lengths = (
        (timedelta(days=28), timedelta(days=31))
        if plan.period is Period.MONTH
        else (timedelta(days=365), timedelta(days=366))
    )
    if plan.period is Period.YEAR:
        first_index //= 12
    previous_end = None
    for index in range(first_index, first_index + 3):
        starts_at, ends_at = cycle_bounds(plan, anchor, index)
        assert previous_end is None or starts_at == previous_end
        assert lengths[0] <= ends_at - starts_at <= lengths[1]
        assert starts_at.timetz() == anchor.timetz()
        previous_end = ends_at


@given(
    anchors,
    offsets,
    st.integers(min_value=-1, max_value=600),
    st.integers(min_value=1, max_value=30),
    st.sampled_from([PRO, YEARLY, FREE]),
)
def test_cycles_between_respects_the_limit_and_the_order(
    anchor: datetime, offset: timedelta, first_index: int, limit: int, plan: Plan
) -> None:
    moment = anchor + offset
    due = cycles_between(plan, anchor, first_index, moment, limit=limit)
    last_index = cycle_index_at(plan, anchor, moment)
    assert len(due) == min(limit, max(0, last_index - first_index))
    assert [c.index for c in due] == list(range(last_index - len(due) + 1, last_index + 1))
    for item in due:
        assert item.index > first_index
        assert item.starts_at <= moment
        assert (item.starts_at, item.ends_at) == cycle_bounds(plan, anchor, item.index)


@given(anchors, offsets, st.sampled_from([PRO, YEARLY, FREE]))
def test_nothing_is_due_before_the_anchor(anchor: datetime, offset: timedelta, plan: Plan) -> None:
    moment = anchor - offset - timedelta(microseconds=1)
    assert cycle_index_at(plan, anchor, moment) == 0
    assert cycles_between(plan, anchor, -1, moment, limit=5) == ()


# Plan changes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "pending", "target", "expected"),
    [
        (PRO, None, PRO, PlanChange.UNCHANGED),
        (ULTRA, PRO, ULTRA, PlanChange.CANCEL_DOWNGRADE),
        (PRO, None, ULTRA, PlanChange.UPGRADE),
        (ULTRA, PRO, MEGA, PlanChange.UPGRADE),  # upgrading also clears the pending downgrade
        (ULTRA, None, PRO, PlanChange.DOWNGRADE),
        (ULTRA, PRO, BASIC, PlanChange.DOWNGRADE),  # replaces the pending downgrade
        (ULTRA, PRO, PRO, PlanChange.UNCHANGED),  # already scheduled
        (FREE, None, BASIC, PlanChange.UPGRADE),
        (PRO, None, FREE, PlanChange.DOWNGRADE),
    ],
    ids=lambda v: getattr(v, "id", str(v)),
)
def test_classify_change(
    current: Plan, pending: Plan | None, target: Plan, expected: PlanChange
) -> None:
    assert classify_change(current, pending, target) is expected


def test_leaving_the_trial_is_an_upgrade_whatever_the_allowance() -> None:
    big_trial = Plan("big-trial", "Big trial", 50_000, Period.ONCE, duration_days=30)
    assert classify_change(big_trial, None, BASIC) is PlanChange.UPGRADE
    assert classify_change(BASIC, None, big_trial) is PlanChange.DOWNGRADE


def test_ties_rank_by_price_then_id() -> None:
    pro_plus = Plan("pro-plus", "Pro+", 1_000, Period.MONTH, price=Decimal(15))
    same_figures = Plan("plus", "Plus", 1_000, Period.MONTH, price=Decimal(12))
    assert classify_change(PRO, None, pro_plus) is PlanChange.UPGRADE
    assert classify_change(PRO, None, same_figures) is PlanChange.DOWNGRADE  # "plus" < "pro"
    assert classify_change(same_figures, None, PRO) is PlanChange.UPGRADE
    assert sorted([ULTRA, pro_plus, FREE, PRO, BASIC], key=plan_rank) == [
        FREE,
        BASIC,
        PRO,
        pro_plus,
        ULTRA,
    ]


def test_plans_are_compared_by_id() -> None:
    redefined = Plan("pro", "Pro", 1_200, Period.MONTH, price=Decimal(12))
    assert classify_change(PRO, None, redefined) is PlanChange.UNCHANGED


# Plan values and the collection -----------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "location"),
    [
        (lambda: Plan("Pro Plan", "Pro", 1, Period.MONTH), "id"),
        (lambda: Plan("pro", "", 1, Period.MONTH), "name"),
        (lambda: Plan("pro", "Pro", -1, Period.MONTH), "allowance_credits"),
        (lambda: Plan("pro", "Pro", True, Period.MONTH), "allowance_credits"),
        (lambda: Plan("pro", "Pro", 1.5, Period.MONTH), "allowance_credits"),  # type: ignore[arg-type]
        (lambda: Plan("pro", "Pro", 1, "month"), "period"),  # type: ignore[arg-type]
        (lambda: Plan("free", "Free", 1, Period.ONCE), "duration_days"),
        (lambda: Plan("free", "Free", 1, Period.ONCE, duration_days=0), "duration_days"),
        (lambda: Plan("pro", "Pro", 1, Period.MONTH, duration_days=30), "duration_days"),
        (lambda: Plan("pro", "Pro", 1, Period.MONTH, price=Decimal(-1)), "price"),
        (lambda: Plan("pro", "Pro", 1, Period.MONTH, price=Decimal("NaN")), "price"),
        (lambda: Plan("pro", "Pro", 1, Period.MONTH, price=12.5), "price"),  # type: ignore[arg-type]
        (lambda: Plan("pro", "Pro", 1, Period.MONTH, currency="usd"), "currency"),
        (lambda: Plan("pro", "Pro", 1, Period.MONTH, grant_source="promo"), "grant_source"),
        (lambda: Plans(()), "plans"),
        (lambda: Plans((PRO, PRO), default_plan_id="pro"), "plans.pro"),
        (lambda: Plans((PRO, ULTRA)), "default_plan"),
    ],
)
def test_invalid_plans_are_refused_naming_the_field(build: object, location: str) -> None:
    with pytest.raises(CatalogInvalid) as raised:
        build()  # type: ignore[operator]
    assert raised.value.location == location


def test_the_plans_collection() -> None:
    plans = Plans((FREE, PRO, ULTRA))
    assert plans.default_plan_id == "free" and plans.default_plan is FREE
    assert list(plans) == [FREE, PRO, ULTRA] and len(plans) == 3
    assert "pro" in plans and "gold" not in plans
    assert plans.get("ultra") is ULTRA
    with pytest.raises(NotFound) as raised:
        plans.get("gold")
    assert (raised.value.what, raised.value.identifier, raised.value.field) == (
        "plan",
        "gold",
        "plan",
    )
    cheaper_pro = Plan("pro", "Pro", 1_000, Period.MONTH, price=Decimal(10))
    assert list(plans.with_plan(cheaper_pro)) == [FREE, cheaper_pro, ULTRA]
    assert list(plans.with_plan(MEGA)) == [FREE, PRO, ULTRA, MEGA]
    assert list(plans) == [FREE, PRO, ULTRA]
