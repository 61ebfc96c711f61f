"""Advice from the ledger: the pure advisors of ``domain.advice`` fed with an account's figures.

* :func:`estimate_for_account`: a project's cost with its buffer, against the account's
  available credits and cycle allowance, with cheaper models and the plans' cycles.
* :func:`plan_drafts_now` and :func:`advise_models_now`: the catalog advisors at today's prices.
* :func:`cycle_history` and :func:`advise_plan_for_account`: the last completed cycles as the
  plan advisor reads them (used, expired, refused, when credits ran out) and its advice.
* :func:`forecast_for_account`: the current cycle's burn rate projected to its end.
* :func:`operator_margins`: every model's margin at a credit's money value.
* :func:`usage_report` and :func:`report_csv` (from ``service.reports``): usage per cycle or
  month by model, kind, tier and project.

What each figure means (usage, a cycle, expired, ran out, refused) is defined once, in
``service.reports``, which reads them in SQL. The plan advisor counts only charges refused
for lack of credits: a project cap is the account's own budget, not its plan's size.

Every function takes the :class:`~gencredits.service.context.Context` first and plain values
after; :class:`~gencredits.service.facade.Gencredits` exposes each as a method.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from gencredits.domain.advice import (
    DEFAULT_BUFFER_PERCENT,
    DEFAULT_TARGET_MARGIN_PERCENT,
    CycleUsage,
    DraftPlan,
    Estimate,
    Forecast,
    ModelAdvice,
    ModelMargin,
    PlanAdvice,
    advise_models,
    advise_plan,
    estimate,
    forecast,
    margins,
    plan_drafts,
)
from gencredits.domain.advice import credit_value as domain_credit_value
from gencredits.domain.catalog import Kind
from gencredits.domain.credits import plain_decimal
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.pricing import QuoteRequest
from gencredits.service.accounts import get_account
from gencredits.service.context import Context
from gencredits.service.reports import (
    MAX_REPORT_PERIODS,
    PeriodUsage,
    UsageLine,
    UsageReport,
    Window,
    check_count,
    cycle_windows,
    period_totals,
    report_csv,
    usage_report,
)
from gencredits.store.engine import read_transaction

# The plan advisor reads the last three completed cycles (SPEC section 3).
PLAN_ADVICE_CYCLES = 3
_MICROSECOND = timedelta(microseconds=1)


# --- the plan advisor and the forecast -------------------------------------------------------


def cycle_history(
    ctx: Context, account_id: str, cycles: int = PLAN_ADVICE_CYCLES
) -> list[CycleUsage]:
    """The account's last ``cycles`` *completed* cycles as the plan advisor reads them, oldest
    first (``cycles`` from 1 to :data:`MAX_REPORT_PERIODS`)."""
    check_count(cycles, field="cycles")
    account = get_account(ctx, account_id)  # brings renewals and expiries up to date
    now = ctx.now()
    plans = ctx.all_plans()
    with read_transaction(ctx.engine) as connection:
        # One more than asked, since the newest cycle is usually the one still running.
        windows = cycle_windows(connection, account, plans, limit=cycles + 1)
        windows = [w for w in windows if w.complete(now)][-cycles:]
        totals = period_totals(connection, account_id, windows)
    return [
        CycleUsage(
            index=window.number,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            plan_id=window.plan_id or account.plan_id,
            allowance_credits=window.allowance_credits or 0,
            granted_credits=max(0, figures.granted_credits),
            used_credits=max(0, figures.used_credits),
            expired_credits=figures.expired_credits,
            refused_charges=figures.refused_for_credits,
            ran_out_at=figures.ran_out_at,
        )
        for window, figures in zip(windows, totals, strict=True)
    ]


def cycle_as_dict(cycle: CycleUsage) -> dict[str, Any]:
    """A completed cycle's figures, JSON-safe (the API's and the CLI's shape)."""
    return {
        "index": cycle.index,
        "plan": cycle.plan_id,
        "starts_at": cycle.starts_at.isoformat(),
        "ends_at": cycle.ends_at.isoformat(),
        "allowance": cycle.allowance_credits,
        "granted": cycle.granted_credits,
        "used": cycle.used_credits,
        "expired": cycle.expired_credits,
        "refused_charges": cycle.refused_charges,
        "ran_out_at": None if cycle.ran_out_at is None else cycle.ran_out_at.isoformat(),
    }


def advise_plan_for_account(ctx: Context, account_id: str) -> PlanAdvice:
    """Upgrade, downgrade or stay, from the account's last three completed cycles."""
    history = cycle_history(ctx, account_id, PLAN_ADVICE_CYCLES)
    account = get_account(ctx, account_id)
    plans = ctx.all_plans()
    return advise_plan(plans.get(account.plan_id), tuple(plans), history)


def forecast_for_account(ctx: Context, account_id: str) -> Forecast:
    """When the available credits run out at this cycle's burn rate, or what will expire."""
    account = get_account(ctx, account_id)
    now = ctx.now()
    # Everything used so far, including a charge made at this very microsecond.
    until = max(now, account.cycle_starts_at) + _MICROSECOND
    window = Window(0, "current", account.cycle_starts_at, until)
    with read_transaction(ctx.engine) as connection:
        used = max(0, period_totals(connection, account_id, [window])[0].used_credits)
    return forecast(
        now=now,
        cycle_starts_at=account.cycle_starts_at,
        cycle_ends_at=account.cycle_ends_at,
        used_credits=used,
        available_credits=account.available_credits,
    )


# --- the estimator and the catalog advisors --------------------------------------------------


def estimate_for_account(
    ctx: Context,
    request: QuoteRequest,
    *,
    account_id: str | None = None,
    buffer_percent: Decimal | int = DEFAULT_BUFFER_PERCENT,
) -> Estimate:
    """Estimate ``request`` with a buffer; with an account, against its available credits and
    its cycle allowance (SPEC: 50 x 5 = 250, +20% = 300)."""
    available = allowance = None
    if account_id is not None:
        account = get_account(ctx, account_id)
        available = account.available_credits
        allowance = account.allowance_credits or None
    return estimate(
        request,
        ctx.catalogs.current(),
        issued_at=ctx.now(),
        buffer_percent=Decimal(buffer_percent),
        available_credits=available,
        allowance_credits=allowance,
        plans=tuple(ctx.all_plans()),
    )


def plan_drafts_now(
    ctx: Context, *, draft_model: str, drafts: int, final_model: str, finals: int
) -> DraftPlan:
    """Drafts on one model and finals on another, against all finals, at today's prices."""
    return plan_drafts(
        ctx.catalogs.current(),
        draft_model=draft_model,
        drafts=drafts,
        final_model=final_model,
        finals=finals,
        issued_at=ctx.now(),
    )


def advise_models_now(
    ctx: Context,
    task: str,
    *,
    kind: Kind | str | None = None,
    max_credits_per_output: int | None = None,
    prefer_speed: bool = False,
) -> tuple[ModelAdvice, ...]:
    """Models for ``task`` in the current catalog, ranked by fit, then cost."""
    if kind is not None and not isinstance(kind, Kind):
        try:
            kind = Kind(kind)
        except ValueError:
            raise InvalidRequest(
                f"kind must be one of {', '.join(k.value for k in Kind)}, got {kind!r}",
                field="kind",
            ) from None
    return advise_models(
        ctx.catalogs.current(),
        task,
        kind=kind,
        max_credits_per_output=max_credits_per_output,
        prefer_speed=prefer_speed,
    )


# --- operator margins ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarginReport:
    """Every model's margin at one credit value, thinnest first."""

    credit_value: Decimal
    currency: str
    credit_value_source: str  # "plans" or "given"
    target_margin_percent: Decimal
    price_version: int
    models: tuple[ModelMargin, ...]

    @property
    def below_target(self) -> tuple[ModelMargin, ...]:
        return tuple(model for model in self.models if model.below_target)

    def as_dict(self) -> dict[str, Any]:
        return {
            "credit_value": plain_decimal(self.credit_value),
            "currency": self.currency,
            "credit_value_source": self.credit_value_source,
            "target_margin_percent": plain_decimal(self.target_margin_percent),
            "price_version": self.price_version,
            "models": [model.as_dict() for model in self.models],
            "below_target": [model.model_id for model in self.below_target],
        }


def operator_margins(
    ctx: Context,
    *,
    target_margin_percent: Decimal | int = DEFAULT_TARGET_MARGIN_PERCENT,
    credit_value: Decimal | None = None,
    currency: str | None = None,
) -> MarginReport:
    """Margins of the current catalog at a credit's money value: ``credit_value`` when given,
    otherwise the lowest price per credit among the priced recurring plans (see
    ``domain.advice.operator_margins``)."""
    plans = tuple(ctx.all_plans())
    source = "given"
    if credit_value is None:
        source = "plans"
        credit_value = domain_credit_value(plans, currency=currency)
        if credit_value is None:
            raise InvalidRequest(
                "no recurring plan has a price to value a credit by; give a credit value",
                field="credit_value",
            )
    priced = sorted(
        {p.currency for p in plans if p.is_recurring() and p.price and p.price > 0}
    )
    chosen = currency or (priced[0] if len(priced) == 1 else "USD")
    catalog = ctx.catalogs.current()
    models = margins(
        catalog, credit_value=credit_value, target_margin_percent=Decimal(target_margin_percent)
    )
    return MarginReport(
        credit_value=credit_value,
        currency=chosen,
        credit_value_source=source,
        target_margin_percent=Decimal(target_margin_percent),
        price_version=catalog.version,
        models=models,
    )


__all__ = [
    "MAX_REPORT_PERIODS",
    "PLAN_ADVICE_CYCLES",
    "MarginReport",
    "PeriodUsage",
    "UsageLine",
    "UsageReport",
    "advise_models_now",
    "advise_plan_for_account",
    "cycle_as_dict",
    "cycle_history",
    "estimate_for_account",
    "forecast_for_account",
    "operator_margins",
    "plan_drafts_now",
    "report_csv",
    "usage_report",
]
