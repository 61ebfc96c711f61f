"""Plans and billing-cycle arithmetic: what a subscription grants, and when.

A :class:`Plan` grants ``allowance_credits`` once per cycle. A recurring plan (``month`` or
``year``) renews for ever; a ``once`` plan (the free trial) has a single cycle of
``duration_days``. The ledger turns each cycle into one grant that expires when the cycle ends:
**no rollover**, and exactly one grant per cycle index, however late or often renewal runs.

Cycles are anchored on the subscription moment, the *anchor*. Cycle ``i`` of a monthly plan
starts ``i`` calendar months after the anchor, at the anchor's time of day, on the anchor's day
of the month clamped to the month's end. The clamp is always taken from the anchor, never from
the previous cycle, so an anchor on the 31st gives Jan 31, Feb 28 (29 in a leap year), Mar 31,
Apr 30, ... and never drifts to the 28th for good. A yearly plan is twelve months per cycle: an
anchor on Feb 29 renews on Feb 28 in ordinary years and on Feb 29 in leap years. A cycle is the
half-open interval ``[starts_at, ends_at)``; each cycle ends exactly where the next one starts.

Worked example: Pro grants 1,000 credits per month; a subscription is anchored on
2026-01-31 09:00 UTC.

* Cycle 0 is [2026-01-31 09:00, 2026-02-28 09:00): 1,000 credits are granted at 01-31 09:00.
* 600 are used during the cycle; 400 remain.
* At the renewal, 2026-02-28 09:00, the 400 left expire and 1,000 new are granted for cycle 1,
  [2026-02-28 09:00, 2026-03-31 09:00). The balance is 1,000, not 1,400.
* If renewal is processed late, say on 2026-04-02, :func:`cycles_between` names cycles 1 and 2
  (their starts have passed); each gets its grant once, keyed by its index.

Plan changes (:func:`classify_change`): plans are ranked by :func:`plan_rank`. An upgrade
applies at once (a new cycle anchored at the change, with the new allowance) and clears any
pending downgrade; a downgrade waits for the next renewal; choosing the current plan again
while a downgrade is pending only cancels the downgrade, so no sequence of changes grants one
cycle's allowance twice.

Everything here is pure: times are arguments, and every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TypeGuard

from gencredits.domain import limits
from gencredits.domain.errors import CatalogInvalid, NotFound

# A single-cycle plan longer than ten years is a typo (days for months, an extra zero).
MAX_DURATION_DAYS = 3_660

# A price is money per cycle for value comparisons; a million per cycle is a typo.
MAX_PRICE = Decimal(1_000_000)

# Operators define a handful of plans; a list this long is a mistake or an attack, and plan
# choosers and advisors compare every plan.
MAX_PLANS = 100

# Where plan credits come from in the ledger (SPEC: grant sources).
PLAN_GRANT_SOURCES = frozenset({"plan", "trial"})

DEFAULT_PLAN_ID = "free"


class Period(StrEnum):
    MONTH = "month"
    YEAR = "year"
    ONCE = "once"


# Calendar months per cycle of each recurring period.
_MONTHS_PER_CYCLE = {Period.MONTH: 1, Period.YEAR: 12}


@dataclass(frozen=True, slots=True)
class Plan:
    """A subscription plan: ``allowance_credits`` granted each cycle of ``period``.

    ``duration_days`` is the length of a ``once`` plan's single cycle and is absent from
    recurring plans, whose cycles follow the calendar. ``price`` is money per cycle in
    ``currency``, used only for value comparisons; gencredits charges no money.
    """

    id: str
    name: str
    allowance_credits: int
    period: Period
    duration_days: int | None = None
    price: Decimal | None = None
    currency: str = "USD"
    grant_source: str = "plan"
    description: str = ""

    def __post_init__(self) -> None:
        if not _is_slug(self.id) or len(self.id) > limits.MAX_ID_LENGTH:
            raise CatalogInvalid(
                "an id is a lowercase slug of letters, digits, '-' and '.'", location="id"
            )
        if not self.name or len(self.name) > limits.MAX_LABEL_LENGTH:
            raise CatalogInvalid(
                f"a name has 1 to {limits.MAX_LABEL_LENGTH} characters", location="name"
            )
        if not _is_int(self.allowance_credits) or not (
            0 <= self.allowance_credits <= limits.MAX_AMOUNT_CREDITS
        ):
            raise CatalogInvalid(
                f"must be a whole number from 0 to {limits.MAX_AMOUNT_CREDITS}, "
                f"got {self.allowance_credits!r}",
                location="allowance_credits",
            )
        if not isinstance(self.period, Period):
            raise CatalogInvalid(
                f"must be one of {', '.join(Period)}, got {self.period!r}", location="period"
            )
        self._check_duration()
        if self.price is not None and (
            not isinstance(self.price, Decimal)
            or not self.price.is_finite()
            or not 0 <= self.price <= MAX_PRICE
        ):
            raise CatalogInvalid(
                f"must be a Decimal from 0 to {MAX_PRICE}, got {self.price!r}", location="price"
            )
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise CatalogInvalid(
                f"a currency is an ISO 4217 code such as USD, got {self.currency!r}",
                location="currency",
            )
        if self.grant_source not in PLAN_GRANT_SOURCES:
            raise CatalogInvalid(
                f"must be one of {', '.join(sorted(PLAN_GRANT_SOURCES))}, "
                f"got {self.grant_source!r}",
                location="grant_source",
            )

    def _check_duration(self) -> None:
        if self.period is Period.ONCE:
            if not _is_int(self.duration_days) or not (
                1 <= self.duration_days <= MAX_DURATION_DAYS
            ):
                raise CatalogInvalid(
                    f"a once plan needs a whole number of days from 1 to {MAX_DURATION_DAYS}, "
                    f"got {self.duration_days!r}",
                    location="duration_days",
                )
        elif self.duration_days is not None:
            raise CatalogInvalid(
                f"a {self.period} plan follows the calendar and takes no duration_days",
                location="duration_days",
            )

    def is_recurring(self) -> bool:
        return self.period is not Period.ONCE


@dataclass(frozen=True, slots=True)
class Plans:
    """The plans on offer, in display order. Look-ups by id are O(1).

    ``default_plan_id`` is the plan a new account starts on (the free trial).
    """

    plans: tuple[Plan, ...]
    default_plan_id: str = DEFAULT_PLAN_ID
    _by_id: Mapping[str, Plan] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.plans) <= MAX_PLANS:
            raise CatalogInvalid(f"define 1 to {MAX_PLANS} plans", location="plans")
        by_id: dict[str, Plan] = {}
        for plan in self.plans:
            if plan.id in by_id:
                raise CatalogInvalid(f"duplicate id {plan.id!r}", location=f"plans.{plan.id}")
            by_id[plan.id] = plan
        if self.default_plan_id not in by_id:
            raise CatalogInvalid(
                f"no plan {self.default_plan_id!r} (defined: {', '.join(by_id)})",
                location="default_plan",
            )
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))

    def __iter__(self) -> Iterator[Plan]:
        return iter(self.plans)

    def __len__(self) -> int:
        return len(self.plans)

    def __contains__(self, plan_id: object) -> bool:
        return plan_id in self._by_id

    def get(self, plan_id: str) -> Plan:
        """The plan, or :class:`NotFound` naming the ``plan`` field."""
        try:
            return self._by_id[plan_id]
        except KeyError:
            raise NotFound("plan", plan_id, field="plan") from None

    @property
    def default_plan(self) -> Plan:
        return self._by_id[self.default_plan_id]

    def with_plan(self, plan: Plan) -> Plans:
        """New plans with ``plan`` added, or replacing the plan of the same id in place."""
        if plan.id in self._by_id:
            plans: Iterable[Plan] = (plan if p.id == plan.id else p for p in self.plans)
        else:
            plans = (*self.plans, plan)
        return Plans(tuple(plans), default_plan_id=self.default_plan_id)


@dataclass(frozen=True, slots=True)
class Cycle:
    """One billing cycle, the half-open interval ``[starts_at, ends_at)``."""

    index: int
    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        assert self.index >= 0 and self.starts_at < self.ends_at, self

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


def add_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` moved by whole calendar months, its day clamped to the target month's end.

    The clamp is relative to ``anchor``: ``add_months(Jan 31, 2)`` is Mar 31, not Mar 28.
    The time of day and time zone are kept.
    """
    month_index = anchor.month - 1 + months
    year = anchor.year + month_index // 12
    month = month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def cycle_start(plan: Plan, anchor: datetime, index: int) -> datetime:
    """When cycle ``index`` (0 is the first) of a subscription anchored at ``anchor`` starts."""
    _check_utc(anchor)
    assert index >= 0, f"cycle index {index} is negative"
    if plan.period is Period.ONCE:
        assert index == 0, f"a once plan has only cycle 0, not {index}"
        return anchor
    return add_months(anchor, index * _MONTHS_PER_CYCLE[plan.period])


def cycle_bounds(plan: Plan, anchor: datetime, index: int) -> tuple[datetime, datetime]:
    """Cycle ``index`` as ``(starts_at, ends_at)``; the end is the next cycle's start."""
    starts_at = cycle_start(plan, anchor, index)
    if plan.period is Period.ONCE:
        assert plan.duration_days is not None
        return starts_at, starts_at + timedelta(days=plan.duration_days)
    return starts_at, cycle_start(plan, anchor, index + 1)


def cycle_index_at(plan: Plan, anchor: datetime, moment: datetime) -> int:
    """The index of the cycle containing ``moment``; 0 before the anchor and for once plans.

    The calendar months between anchor and moment give the index, or one too many when the
    moment falls in its month before the clamped anchor day and time; one comparison fixes
    that, so the cost does not grow with the number of cycles.
    """
    _check_utc(anchor)
    _check_utc(moment)
    if plan.period is Period.ONCE or moment < anchor:
        return 0
    months = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    index = months // _MONTHS_PER_CYCLE[plan.period]
    if cycle_start(plan, anchor, index) > moment:
        index -= 1
    assert index >= 0 and cycle_start(plan, anchor, index) <= moment
    return index


def cycle_at(plan: Plan, anchor: datetime, moment: datetime) -> Cycle:
    """The cycle containing ``moment`` (see :func:`cycle_index_at`).

    A once plan has a single cycle, returned even after it has ended; callers compare
    ``moment`` with ``ends_at`` to see that the trial is over.
    """
    return _cycle(plan, anchor, cycle_index_at(plan, anchor, moment))


def cycles_between(
    plan: Plan, anchor: datetime, first_index: int, moment: datetime, *, limit: int
) -> tuple[Cycle, ...]:
    """The cycles after ``first_index`` that have started by ``moment``, oldest first.

    These are the cycles a late renewal must process: ``first_index`` is the last cycle
    already granted (-1 when none is). At most ``limit`` cycles are returned, the latest ones
    when more are due: the allowance of a long-past cycle expired with it, so only recent
    cycles matter, and the work stays bounded however long renewal was neglected.
    """
    assert first_index >= -1, f"first_index {first_index} is below -1"
    assert limit >= 1, f"limit {limit} is below 1"
    last_index = cycle_index_at(plan, anchor, moment)
    if cycle_start(plan, anchor, last_index) > moment:
        return ()  # The moment precedes the anchor: no cycle has started yet.
    low_index = max(first_index + 1, last_index - limit + 1)
    return tuple(_cycle(plan, anchor, index) for index in range(low_index, last_index + 1))


class PlanChange(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    CANCEL_DOWNGRADE = "cancel_downgrade"
    UNCHANGED = "unchanged"


def plan_rank(plan: Plan) -> tuple[bool, int, Decimal, str]:
    """The order of plans for changes: recurring above once, then allowance, price, id.

    A once plan (the free trial) ranks below every recurring plan, so leaving the trial for
    any paid plan is an upgrade whatever the allowances. A plan without a price ranks as free.
    """
    price = Decimal(0) if plan.price is None else plan.price
    return (plan.is_recurring(), plan.allowance_credits, price, plan.id)


def classify_change(current: Plan, pending: Plan | None, target: Plan) -> PlanChange:
    """What choosing ``target`` means for a subscriber on ``current``.

    ``pending`` is a downgrade already scheduled for the next renewal, if any. Plans are
    compared by id, so a plan redefined by an operator is still the same plan.

    * ``target`` is ``current``: ``CANCEL_DOWNGRADE`` if one is pending, else ``UNCHANGED``;
      the cycle and its grant stay as they are.
    * ``target`` is ``pending``: ``UNCHANGED``; the downgrade is already scheduled.
    * ``target`` ranks above ``current``: ``UPGRADE``, at once; it clears any pending downgrade.
    * ``target`` ranks below ``current``: ``DOWNGRADE`` at the next renewal, replacing any
      pending one.
    """
    if target.id == current.id:
        return PlanChange.UNCHANGED if pending is None else PlanChange.CANCEL_DOWNGRADE
    if pending is not None and target.id == pending.id:
        return PlanChange.UNCHANGED
    if plan_rank(target) > plan_rank(current):
        return PlanChange.UPGRADE
    return PlanChange.DOWNGRADE


def _cycle(plan: Plan, anchor: datetime, index: int) -> Cycle:
    starts_at, ends_at = cycle_bounds(plan, anchor, index)
    return Cycle(index=index, starts_at=starts_at, ends_at=ends_at)


def _check_utc(moment: datetime) -> None:
    assert moment.utcoffset() == timedelta(0), f"{moment!r} is not timezone-aware UTC"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_slug(text: str) -> bool:
    return (
        bool(text)
        and text[0].isalnum()
        and all(c.islower() or c.isdigit() or c in "-." for c in text)
    )
