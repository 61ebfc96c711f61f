"""The plan advisor: from the last completed cycles, upgrade, downgrade or stay, and why.

The rules (SPEC section 3), over the last three completed cycles, most recent last:

1. **Upgrade** when two or more of them *ran short*: the credits ran out before renewal
   (``ran_out_at`` is set) or charges were refused. The recommendation is the smallest
   recurring plan ranked above the current one whose allowance covers the highest estimated
   demand; if none does, the largest; if none ranks above, stay ("no larger plan exists").
2. **Downgrade** when each of the three used less than half its allowance (three cycles are
   needed). The recommendation is the cheapest recurring plan ranked below the current one
   whose allowance still covers the highest demand, so it would not have run out in any of
   them; if none does, stay.
3. Otherwise **stay**; with fewer than three cycles and no shortage, "not enough history".

*Demand* is what a cycle would have used had credits not run out: a cycle that ran out has
its use extrapolated over the whole cycle at the rate it burned until then (1,000 credits gone
halfway through a cycle demand 2,000), rounded up; any other cycle demands what it used.
Refused charges are counted, not priced (nothing is written when a charge is refused), so they
mark a cycle as short without adding to its demand.

Plans are ordered by ``plans.plan_rank``. When the current plan is recurring only plans of the
same period are compared, since a yearly allowance is not comparable with a monthly cycle's
use; from a once plan (the trial) every recurring plan is a candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gencredits.domain.advice._common import ceil_div
from gencredits.domain.credits import format_credits
from gencredits.domain.plans import Plan, plan_rank

HISTORY_CYCLES = 3
SHORT_CYCLES_FOR_UPGRADE = 2
_MICROSECOND = timedelta(microseconds=1)


class PlanAction(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    STAY = "stay"


@dataclass(frozen=True, slots=True)
class CycleUsage:
    """What happened in one completed billing cycle, as the ledger tells it."""

    index: int
    starts_at: datetime
    ends_at: datetime
    plan_id: str
    allowance_credits: int
    granted_credits: int
    used_credits: int
    expired_credits: int
    refused_charges: int
    ran_out_at: datetime | None = None

    def __post_init__(self) -> None:
        assert self.starts_at < self.ends_at, "a cycle ends after it starts"
        assert (
            min(
                self.index,
                self.allowance_credits,
                self.granted_credits,
                self.used_credits,
                self.expired_credits,
                self.refused_charges,
            )
            >= 0
        ), "cycle figures are never negative"

    def ran_short(self) -> bool:
        """Credits ran out before renewal, or a charge was refused."""
        return self.ran_out_at is not None or self.refused_charges > 0

    def demand_credits(self) -> int:
        """Use extrapolated over the cycle from when credits ran out (see the module)."""
        if self.ran_out_at is None:
            return self.used_credits
        burned_for = (self.ran_out_at - self.starts_at) // _MICROSECOND
        length = (self.ends_at - self.starts_at) // _MICROSECOND
        if not 0 < burned_for < length:
            return self.used_credits
        return ceil_div(self.used_credits * length, burned_for)


@dataclass(frozen=True, slots=True)
class CycleFigures:
    """The figures of one cycle the advice looked at."""

    index: int
    plan_id: str
    allowance_credits: int
    used_credits: int
    expired_credits: int
    refused_charges: int
    ran_out_at: datetime | None
    demand_credits: int

    @classmethod
    def of(cls, cycle: CycleUsage) -> CycleFigures:
        return cls(
            index=cycle.index,
            plan_id=cycle.plan_id,
            allowance_credits=cycle.allowance_credits,
            used_credits=cycle.used_credits,
            expired_credits=cycle.expired_credits,
            refused_charges=cycle.refused_charges,
            ran_out_at=cycle.ran_out_at,
            demand_credits=cycle.demand_credits(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "plan": self.plan_id,
            "allowance": self.allowance_credits,
            "used": self.used_credits,
            "expired": self.expired_credits,
            "refused_charges": self.refused_charges,
            "ran_out_at": None if self.ran_out_at is None else self.ran_out_at.isoformat(),
            "demand": self.demand_credits,
        }


@dataclass(frozen=True, slots=True)
class PlanAdvice:
    """Upgrade, downgrade or stay; the plan to be on; the reason with its numbers."""

    action: PlanAction
    current_plan_id: str
    recommended_plan_id: str
    reason: str
    cycles: tuple[CycleFigures, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "current_plan": self.current_plan_id,
            "recommended_plan": self.recommended_plan_id,
            "reason": self.reason,
            "cycles": [cycle.as_dict() for cycle in self.cycles],
        }


def advise_plan(current: Plan, plans: Sequence[Plan], cycles: Sequence[CycleUsage]) -> PlanAdvice:
    """Advise a subscriber on ``current`` from ``cycles`` (completed, most recent last).

    Worked examples with the default plans (Pro 1,000 a month, Ultra 5,000):

    * On Pro, used 1,000 / 1,000 / 700, the first two running out on day 20 of 30 (demand
      1,500 each): ran short in 2 of the last 3 -> **upgrade** to Ultra, which covers 1,500.
    * On Ultra, used 900 / 950 / 800 of 5,000: under half each time, and Pro's 1,000 cover
      the highest, 950 -> **downgrade** to Pro. Had one cycle used 1,200, Pro would have run
      out in it, so **stay**.
    * On Pro with only two cycles of 300 and 400: **stay**, "not enough history".
    """
    recent = tuple(cycles[-HISTORY_CYCLES:])
    figures = tuple(CycleFigures.of(cycle) for cycle in recent)
    comparable = _comparable(current, plans)
    short = sum(1 for cycle in recent if cycle.ran_short())
    if short >= SHORT_CYCLES_FOR_UPGRADE:
        return _upgrade(current, comparable, recent, figures, short)
    if len(recent) < HISTORY_CYCLES:
        reason = (
            f"not enough history: {len(recent)} of the {HISTORY_CYCLES} completed cycles "
            f"needed; {_uses(recent)}"
        )
        return _advice(PlanAction.STAY, current, current, reason, figures)
    if all(2 * cycle.used_credits < cycle.allowance_credits for cycle in recent):
        return _downgrade(current, comparable, recent, figures)
    reason = f"{current.name} fits: {_uses(recent)} in the last {len(recent)} cycles"
    if short:
        reason += f"; ran short in {short} of them, not {SHORT_CYCLES_FOR_UPGRADE}"
    return _advice(PlanAction.STAY, current, current, reason, figures)


def _upgrade(
    current: Plan,
    comparable: Sequence[Plan],
    recent: tuple[CycleUsage, ...],
    figures: tuple[CycleFigures, ...],
    short: int,
) -> PlanAdvice:
    need = max(cycle.demand_credits() for cycle in recent)
    why = (
        f"ran out or had charges refused in {short} of the last {len(recent)} cycles "
        f"({_uses(recent)}; highest estimated demand {format_credits(need)})"
    )
    larger = [plan for plan in comparable if plan_rank(plan) > plan_rank(current)]
    if not larger:
        reason = f"{why}, but no larger plan than {current.name} exists"
        return _advice(PlanAction.STAY, current, current, reason, figures)
    covering = [plan for plan in larger if plan.allowance_credits >= need]
    if covering:
        target = covering[0]
        reason = (
            f"{why}: {target.name}'s {format_credits(target.allowance_credits)} credits cover it"
        )
    else:
        target = larger[-1]
        reason = (
            f"{why}: even the largest plan, {target.name} with "
            f"{format_credits(target.allowance_credits)} credits, falls short"
        )
    return _advice(PlanAction.UPGRADE, current, target, reason, figures)


def _downgrade(
    current: Plan,
    comparable: Sequence[Plan],
    recent: tuple[CycleUsage, ...],
    figures: tuple[CycleFigures, ...],
) -> PlanAdvice:
    need = max(cycle.demand_credits() for cycle in recent)
    why = (
        f"used under half the allowance in each of the last {len(recent)} cycles ({_uses(recent)})"
    )
    covering = [
        plan
        for plan in comparable
        if plan_rank(plan) < plan_rank(current) and plan.allowance_credits >= need
    ]
    if not covering:
        reason = (
            f"{why}, but no smaller plan covers the highest use, {format_credits(need)}; "
            f"{current.name} stays"
        )
        return _advice(PlanAction.STAY, current, current, reason, figures)
    target = min(covering, key=lambda plan: (_price(plan), plan_rank(plan)))
    reason = (
        f"{why}: {target.name}'s {format_credits(target.allowance_credits)} credits still "
        f"cover the highest use, {format_credits(need)}"
    )
    return _advice(PlanAction.DOWNGRADE, current, target, reason, figures)


def _comparable(current: Plan, plans: Sequence[Plan]) -> list[Plan]:
    """Recurring plans other than ``current`` it can be compared with, by rank."""
    return sorted(
        (
            plan
            for plan in plans
            if plan.is_recurring()
            and plan.id != current.id
            and (not current.is_recurring() or plan.period is current.period)
        ),
        key=plan_rank,
    )


def _price(plan: Plan) -> Decimal:
    return Decimal(0) if plan.price is None else plan.price


def _uses(recent: tuple[CycleUsage, ...]) -> str:
    if not recent:
        return "no cycles yet"
    used = ", ".join(format_credits(cycle.used_credits) for cycle in recent)
    allowances = {cycle.allowance_credits for cycle in recent}
    if len(allowances) == 1:
        return f"used {used} of {format_credits(allowances.pop())}"
    of = ", ".join(format_credits(cycle.allowance_credits) for cycle in recent)
    return f"used {used} of {of}"


def _advice(
    action: PlanAction,
    current: Plan,
    target: Plan,
    reason: str,
    figures: tuple[CycleFigures, ...],
) -> PlanAdvice:
    return PlanAdvice(
        action=action,
        current_plan_id=current.id,
        recommended_plan_id=target.id,
        reason=reason,
        cycles=figures,
    )
