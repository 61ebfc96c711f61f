"""The estimator: what a project will cost, with a safety buffer, and how to pay less.

A project is a :class:`~gencredits.domain.pricing.QuoteRequest`. Its *subtotal* is the quote's
total, priced by the one pricing function; the *buffer* (default 20%) covers retries and
variations and is rounded **up** to whole credits with ``credits.round_up``; the *total* is
their sum. Against the caller's available credits it gives the shortfall, against a cycle
allowance the number of cycles, and against the plans on offer how many cycles each would take.

*Alternatives* are cheaper active models for each line: the same kind, and for images at least
one shared strength (a photoreal product shot may move from flux-2-max to imagen-4, not to a
typography model). Each is priced through ``price_line`` with the line's outputs and count;
options the alternative does not take are dropped, and a duration moves to the nearest the
alternative makes (see :func:`alternative_line`). An alternative that cannot price the line at
all (too many outputs per request) is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gencredits.domain import limits
from gencredits.domain.advice._common import ceil_div, check_percent, check_whole
from gencredits.domain.catalog import (
    Catalog,
    CatalogEntry,
    Kind,
    OptionTableRule,
    PerSecondRule,
    PricingRule,
)
from gencredits.domain.credits import percent_of, plain_decimal, round_up
from gencredits.domain.errors import InvalidRequest, OutOfRange
from gencredits.domain.plans import Plan, plan_rank
from gencredits.domain.pricing import LineItem, Quote, QuoteLine, QuoteRequest, price_line, quote

DEFAULT_BUFFER_PERCENT = Decimal(20)


@dataclass(frozen=True, slots=True)
class Alternative:
    """A cheaper model for line ``line_index``, priced for the same outputs and count."""

    line_index: int
    replaces_model_id: str
    line: QuoteLine
    saved_credits: int
    shared_strengths: tuple[str, ...]
    adjustments: tuple[str, ...]  # options changed to fit the alternative, in words

    @property
    def model_id(self) -> str:
        return self.line.model_id

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_index": self.line_index,
            "replaces": self.replaces_model_id,
            "model": self.line.model_id,
            "model_name": self.line.model_name,
            "subtotal": self.line.subtotal_credits,
            "saved": self.saved_credits,
            "shared_strengths": list(self.shared_strengths),
            "adjustments": list(self.adjustments),
            "line": self.line.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class PlanFit:
    """How many cycles of a recurring plan the estimate's total needs."""

    plan_id: str
    plan_name: str
    period: str
    allowance_credits: int
    cycles_needed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_id,
            "plan_name": self.plan_name,
            "period": self.period,
            "allowance": self.allowance_credits,
            "cycles_needed": self.cycles_needed,
        }


@dataclass(frozen=True, slots=True)
class Estimate:
    """A priced project: subtotal + buffer = total, and how it compares with what one has."""

    quote: Quote
    buffer_percent: Decimal
    buffer_credits: int
    total_credits: int
    available_credits: int | None
    shortfall_credits: int | None
    allowance_credits: int | None
    cycles_needed: int | None
    plan_fits: tuple[PlanFit, ...]
    alternatives: tuple[Alternative, ...]

    @property
    def subtotal_credits(self) -> int:
        return self.quote.total_credits

    def as_dict(self) -> dict[str, Any]:
        return {
            "subtotal": self.subtotal_credits,
            "buffer_percent": plain_decimal(self.buffer_percent),
            "buffer": self.buffer_credits,
            "total": self.total_credits,
            "available": self.available_credits,
            "shortfall": self.shortfall_credits,
            "allowance": self.allowance_credits,
            "cycles_needed": self.cycles_needed,
            "plan_fits": [fit.as_dict() for fit in self.plan_fits],
            "alternatives": [alternative.as_dict() for alternative in self.alternatives],
            "quote": self.quote.as_dict(),
        }


def estimate(
    request: QuoteRequest,
    catalog: Catalog,
    *,
    issued_at: datetime,
    buffer_percent: Decimal = DEFAULT_BUFFER_PERCENT,
    available_credits: int | None = None,
    allowance_credits: int | None = None,
    plans: Sequence[Plan] = (),
) -> Estimate:
    """Estimate ``request``: subtotal, buffer rounded up, total, shortfall and alternatives.

    Worked example (SPEC): 50 product shots on flux-2-pro at 5 credits,
    ``LineItem("flux-2-pro", count=50)``, cost 250; the 20% buffer is ceil(250 x 20 / 100) = 50;
    the total is **300**. With 120 credits available the shortfall is 180; with a 1,000-credit
    allowance it fits in 1 cycle. Cheaper photoreal/product alternatives include imagen-4
    (50 x 4 = 200, saves 50) and flux-2-flex (50 x 2 = 100, saves 150).

    ``buffer_percent`` must be from 0 to 100, ``available_credits`` at least 0 and
    ``allowance_credits`` at least 1; errors name the field.
    """
    percent = check_percent(buffer_percent, field="buffer_percent")
    if available_credits is not None:
        check_whole(available_credits, 0, limits.MAX_AMOUNT_CREDITS, field="available_credits")
    if allowance_credits is not None:
        check_whole(allowance_credits, 1, limits.MAX_AMOUNT_CREDITS, field="allowance_credits")
    priced = quote(request, catalog, issued_at=issued_at)
    subtotal = priced.total_credits
    buffer = round_up(percent_of(Decimal(subtotal), percent))
    total = subtotal + buffer
    if total > limits.MAX_AMOUNT_CREDITS:  # amounts stay exact in JSON
        raise OutOfRange(total, 1, limits.MAX_AMOUNT_CREDITS, field="buffer_percent",
                         reason="the total with its buffer is more credits than any amount")
    return Estimate(
        quote=priced,
        buffer_percent=percent,
        buffer_credits=buffer,
        total_credits=total,
        available_credits=available_credits,
        shortfall_credits=None if available_credits is None else max(0, total - available_credits),
        allowance_credits=allowance_credits,
        cycles_needed=None if allowance_credits is None else ceil_div(total, allowance_credits),
        plan_fits=plan_fits(total, plans),
        alternatives=alternatives(request, priced, catalog),
    )


def plan_fits(total_credits: int, plans: Sequence[Plan]) -> tuple[PlanFit, ...]:
    """Cycles of each recurring plan (with an allowance) needed for ``total_credits``, by rank.

    Example: 300 credits take 1 cycle of Pro (1,000) and 1 of Ultra (5,000); 2,500 take 3 of Pro.
    Once plans (the trial) are left out: they cannot be bought again for a second cycle.
    """
    recurring = sorted(
        (plan for plan in plans if plan.is_recurring() and plan.allowance_credits > 0),
        key=plan_rank,
    )
    return tuple(
        PlanFit(
            plan_id=plan.id,
            plan_name=plan.name,
            period=str(plan.period),
            allowance_credits=plan.allowance_credits,
            cycles_needed=ceil_div(total_credits, plan.allowance_credits),
        )
        for plan in recurring
    )


def alternatives(request: QuoteRequest, priced: Quote, catalog: Catalog) -> tuple[Alternative, ...]:
    """Cheaper models for every line, most credits saved first, then by model id and line."""
    found: list[Alternative] = []
    for index, (line, quoted) in enumerate(zip(request.lines, priced.lines, strict=True)):
        entry = catalog.get(line.model_id)
        for candidate in catalog.active_entries():
            if candidate.id == entry.id or candidate.kind is not entry.kind:
                continue
            shared = tuple(sorted(set(entry.strengths) & set(candidate.strengths)))
            if entry.kind is Kind.IMAGE and not shared:
                continue
            item, adjustments = alternative_line(quoted, candidate)
            try:
                repriced = price_line(item, catalog)
            except InvalidRequest:
                continue  # the alternative cannot make this line (too many outputs, say)
            if repriced.subtotal_credits < quoted.subtotal_credits:
                found.append(
                    Alternative(
                        line_index=index,
                        replaces_model_id=entry.id,
                        line=repriced,
                        saved_credits=quoted.subtotal_credits - repriced.subtotal_credits,
                        shared_strengths=shared,
                        adjustments=adjustments,
                    )
                )
    found.sort(key=lambda a: (-a.saved_credits, a.model_id, a.line_index))
    return tuple(found)


def alternative_line(
    quoted: QuoteLine, candidate: CatalogEntry
) -> tuple[LineItem, tuple[str, ...]]:
    """The priced line's request restated for ``candidate``, and what had to change.

    Outputs and count stay. A duration moves to the shortest the candidate makes that is at
    least as long (a 6 s clip becomes runway's 10 s), or its longest if none is; a quality or
    named option the candidate lacks is dropped for its default.
    """
    rule: PricingRule = candidate.rule
    adjustments: list[str] = []
    seconds: int | None = None
    quality: str | None = None
    option: str | None = None
    if isinstance(rule, PerSecondRule):
        if quoted.seconds is not None:
            seconds = _fit_duration(quoted.seconds, rule.durations())
            if seconds != quoted.seconds:
                adjustments.append(f"seconds {quoted.seconds} -> {seconds}")
        if quoted.quality is not None:
            if quoted.quality in rule.quality_multipliers:
                quality = quoted.quality
            else:
                adjustments.append(f"quality {quoted.quality} -> {rule.default_quality}")
    elif quoted.seconds is not None or quoted.quality is not None:
        adjustments.append("duration and quality do not apply")
    if isinstance(rule, OptionTableRule):
        if quoted.option is not None:
            if quoted.option in rule.prices:
                option = quoted.option
            else:
                adjustments.append(f"option {quoted.option} -> {rule.default_option}")
    elif quoted.option is not None:
        adjustments.append(f"option {quoted.option} does not apply")
    item = LineItem(
        candidate.id,
        outputs=quoted.outputs,
        count=quoted.count,
        seconds=seconds,
        quality=quality,
        option=option,
    )
    return item, tuple(adjustments)


def _fit_duration(seconds: int, durations: tuple[int, ...]) -> int:
    longer = [d for d in durations if d >= seconds]
    return min(longer) if longer else max(durations)
