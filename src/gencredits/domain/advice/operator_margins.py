"""Operator margins: what each model earns per output at a credit's money value.

A credit's money value comes from the plans' prices. Different plans sell credits at different
rates (Pro 12 for 1,000 credits is 0.012 a credit, Ultra 48 for 5,000 is 0.0096); we take the
**lowest**, the most generous plan's value, because a credit bought on that plan is the least
money the operator receives for one, so a margin that holds there holds on every plan. Free
plans (no price, or a price of 0) and once plans (the trial) sell nothing and are left out.

A model's revenue per output is its cheapest output in credits (priced by ``price_line``, see
``advice.models.credits_per_output``) times the credit value; its margin is the revenue less
the provider's cost per output, in money and as a percentage of the revenue. Money stays an
exact Decimal; the percentage is shown to one decimal place, halves up, while the comparison
with the target uses the exact figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gencredits.domain.advice._common import check_percent, percent_one_place
from gencredits.domain.advice.models import credits_per_output
from gencredits.domain.catalog import Catalog, Kind
from gencredits.domain.credits import HUNDRED, plain_decimal, to_decimal
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.plans import Plan

DEFAULT_TARGET_MARGIN_PERCENT = Decimal(30)


@dataclass(frozen=True, slots=True)
class ModelMargin:
    """The margin of one model's cheapest output at one credit value."""

    model_id: str
    model_name: str
    kind: Kind
    credits_per_output: int
    provider_cost: Decimal  # money per output
    revenue: Decimal  # money per output: credits_per_output x credit value
    margin: Decimal  # money per output: revenue - provider_cost
    margin_percent: Decimal  # of revenue, one decimal place
    target_margin_percent: Decimal
    below_target: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "model_name": self.model_name,
            "kind": self.kind.value,
            "credits_per_output": self.credits_per_output,
            "provider_cost": plain_decimal(self.provider_cost),
            "revenue": plain_decimal(self.revenue),
            "margin": plain_decimal(self.margin),
            "margin_percent": plain_decimal(self.margin_percent),
            "target_margin_percent": plain_decimal(self.target_margin_percent),
            "below_target": self.below_target,
        }


def credit_value(plans: Sequence[Plan], *, currency: str | None = None) -> Decimal | None:
    """Money per credit: the lowest price / allowance among priced recurring plans.

    Worked example, default plans: Pro 12 / 1,000 = 0.012, Ultra 48 / 5,000 = 0.0096; the
    value is **0.0096**. ``None`` when no recurring plan has a price above 0. Plans priced in
    several currencies need ``currency`` to choose one, else the error names ``currency``.
    """
    priced = [
        plan
        for plan in plans
        if plan.is_recurring()
        and plan.price is not None
        and plan.price > 0
        and plan.allowance_credits > 0
        and (currency is None or plan.currency == currency)
    ]
    currencies = sorted({plan.currency for plan in priced})
    if len(currencies) > 1:
        raise InvalidRequest(
            f"plans are priced in {', '.join(currencies)}; choose one currency", field="currency"
        )
    values = [plan.price / plan.allowance_credits for plan in priced if plan.price is not None]
    return min(values) if values else None


def margins(
    catalog: Catalog,
    *,
    credit_value: Decimal,
    target_margin_percent: Decimal = DEFAULT_TARGET_MARGIN_PERCENT,
) -> tuple[ModelMargin, ...]:
    """The margin of every active model with a provider cost, thinnest first, then by id.

    Worked example, default catalog at a credit value of 0.0096: dall-e-3 sells 2 credits for
    0.0192 and costs 0.016, a margin of 0.0032 or 16.7%, below the 30% target; nano-banana-2
    sells 1 credit for 0.0096 and costs 0.004, a margin of 0.0056 or 58.3%.

    Models without a ``provider_cost`` are left out. ``credit_value`` must be above 0 and
    ``target_margin_percent`` from 0 to 100; errors name the field.
    """
    value = _positive_money(credit_value, field="credit_value")
    target = check_percent(target_margin_percent, field="target_margin_percent")
    rows: list[tuple[Decimal, ModelMargin]] = []
    for entry in catalog.active_entries():
        if entry.provider_cost is None:
            continue
        credits = credits_per_output(entry, catalog)
        revenue = credits * value
        margin = revenue - entry.provider_cost
        exact_percent = margin * HUNDRED / revenue
        rows.append(
            (
                exact_percent,
                ModelMargin(
                    model_id=entry.id,
                    model_name=entry.name,
                    kind=entry.kind,
                    credits_per_output=credits,
                    provider_cost=entry.provider_cost,
                    revenue=revenue,
                    margin=margin,
                    margin_percent=percent_one_place(margin, revenue),
                    target_margin_percent=target,
                    below_target=margin * HUNDRED < target * revenue,
                ),
            )
        )
    rows.sort(key=lambda row: (row[0], row[1].model_id))
    return tuple(row for _, row in rows)


def _positive_money(value: object, *, field: str) -> Decimal:
    try:
        money = to_decimal(value)
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"{field} must be an integer or a decimal, got {value!r}", field=field
        ) from None
    if money <= 0:
        raise InvalidRequest(f"{field} must be above 0, got {money}", field=field)
    return money
