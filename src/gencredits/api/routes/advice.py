"""Advice and reports: the estimator, the draft planner, the model and plan advisors, the
forecast, usage reports (JSON and CSV) and the operator's margins.

Nothing here writes. Routes that name an account check the caller may see it (an account key
sees its own only; any other id answers 404). An account key that estimates without naming
an account is measured against its own; the operator measures against the account it names,
or none. Margins are the operator's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import ConfigDict, Field, StrictBool, StrictInt

from gencredits.api.deps import Caller, Operator, Service
from gencredits.api.http import checked_router
from gencredits.api.schemas import ApiModel, Out, QuoteOut
from gencredits.documents.requests import LineItemIn, request_from_specs
from gencredits.domain import limits
from gencredits.domain.advice import DEFAULT_BUFFER_PERCENT, DEFAULT_TARGET_MARGIN_PERCENT
from gencredits.service.advice import cycle_as_dict
from gencredits.service.reports import MAX_REPORT_PERIODS

router = checked_router(prefix="/v1", tags=["advice"])

# Percentages and money values arrive as numbers or decimal strings; the digit limits keep
# exponents sane (a credit value of 1e-999999 would overflow the margin arithmetic).
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=12, decimal_places=6)]
ReportPeriod = Annotated[Literal["cycle", "month"], Query(description="cycle or month")]
ReportPeriods = Annotated[
    int, Query(ge=1, le=MAX_REPORT_PERIODS, description="How many periods, the current last.")
]


# --- bodies ----------------------------------------------------------------------------------


class EstimateIn(ApiModel):
    lines: list[LineItemIn] = Field(min_length=1, max_length=limits.MAX_LINES_PER_REQUEST)
    buffer_percent: Percent = DEFAULT_BUFFER_PERCENT
    account_id: str | None = Field(default=None, min_length=1, max_length=64)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"lines": [{"model": "flux-2-pro", "count": 50}], "buffer_percent": 20}]
        },
    )


class DraftPlanIn(ApiModel):
    draft_model: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH,
                             examples=["nano-banana-2"])
    drafts: StrictInt = Field(ge=0, le=limits.MAX_COUNT_PER_LINE, examples=[20])
    final_model: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH,
                             examples=["flux-2-max"])
    finals: StrictInt = Field(ge=1, le=limits.MAX_COUNT_PER_LINE, examples=[5])


class ModelAdviceIn(ApiModel):
    task: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH, examples=["vector"])
    kind: Literal["image", "video", "edit"] | None = None
    max_credits_per_output: StrictInt | None = Field(default=None, ge=1,
                                                     le=limits.MAX_AMOUNT_CREDITS)
    prefer_speed: StrictBool = False


# --- responses -------------------------------------------------------------------------------


class EstimateOut(Out):
    subtotal: int
    buffer_percent: str
    buffer: int
    total: int
    available: int | None
    shortfall: int | None
    allowance: int | None
    cycles_needed: int | None
    plan_fits: list[dict[str, Any]]
    alternatives: list[dict[str, Any]]
    quote: QuoteOut


class DraftPlanOut(Out):
    draft_model: str
    final_model: str
    drafts: int
    finals: int
    draft_credits: int
    final_credits: int
    planned: int
    all_final: int
    saved: int
    saved_percent: str
    price_version: int


class ModelAdviceOut(Out):
    rank: int
    model: str
    model_name: str
    kind: str
    credits_per_output: int
    speed: int
    fits_task: bool
    reason: str


class CycleOut(Out):
    index: int
    plan: str
    allowance: int
    used: int
    expired: int
    refused_charges: int
    ran_out_at: str | None
    demand: int


class PlanAdviceOut(Out):
    action: Literal["upgrade", "downgrade", "stay"]
    current_plan: str
    recommended_plan: str
    reason: str
    cycles: list[CycleOut]


class ForecastOut(Out):
    now: str
    cycle_starts_at: str
    cycle_ends_at: str
    used: int
    available: int
    burn_rate_per_day: str
    projected_use: int
    runs_out_at: str | None
    expiring: int
    summary: str


class CycleUsageOut(Out):
    index: int
    plan: str
    starts_at: str
    ends_at: str
    allowance: int
    granted: int
    used: int
    expired: int
    refused_charges: int
    ran_out_at: str | None


class UsageLineOut(Out):
    key: str
    credits: int
    charges: int


class PeriodOut(Out):
    label: str
    starts_at: str
    ends_at: str
    complete: bool
    plan: str | None
    allowance: int | None
    used: int
    charged: int
    refunded: int
    charges: int
    granted: int
    expired: int
    refused_charges: int
    refused_credits: int
    ran_out_at: str | None
    by_model: list[UsageLineOut]
    by_kind: list[UsageLineOut]
    by_tier: list[UsageLineOut]
    by_project: list[UsageLineOut]
    top_models: list[UsageLineOut]


class ReportOut(Out):
    account_id: str
    period: str
    generated_at: str
    used: int
    periods: list[PeriodOut]


class ModelMarginOut(Out):
    model: str
    model_name: str
    kind: str
    credits_per_output: int
    provider_cost: str
    revenue: str
    margin: str
    margin_percent: str
    target_margin_percent: str
    below_target: bool


class MarginsOut(Out):
    credit_value: str
    currency: str
    credit_value_source: str
    target_margin_percent: str
    price_version: int
    models: list[ModelMarginOut]
    below_target: list[str]


# --- routes ----------------------------------------------------------------------------------


@router.post("/estimates", response_model=EstimateOut,
             summary="Estimate a project: subtotal, buffer, total, shortfall, cheaper models")
def create_estimate(body: EstimateIn, credits: Service, caller: Caller) -> dict[str, Any]:
    account_id = body.account_id
    if account_id is None and not caller.is_operator:
        account_id = caller.key.account_id
    if account_id is not None:
        caller.check_account(account_id)
    request = request_from_specs(body.lines)
    return credits.estimate(
        request, account_id=account_id, buffer_percent=body.buffer_percent
    ).as_dict()


@router.post("/advice/drafts", response_model=DraftPlanOut,
             summary="Drafts on a budget model + finals on a premium one, against all finals")
def draft_plan(body: DraftPlanIn, credits: Service, _: Caller) -> dict[str, Any]:
    return credits.plan_drafts(
        draft_model=body.draft_model, drafts=body.drafts, final_model=body.final_model,
        finals=body.finals,
    ).as_dict()


@router.post("/advice/models", response_model=list[ModelAdviceOut],
             summary="Models for a task, ranked by fit, then (optionally) speed, then cost")
def model_advice(body: ModelAdviceIn, credits: Service, _: Caller) -> list[dict[str, Any]]:
    advice = credits.advise_models(
        body.task, kind=body.kind, max_credits_per_output=body.max_credits_per_output,
        prefer_speed=body.prefer_speed,
    )
    return [item.as_dict() for item in advice]


@router.get("/accounts/{account_id}/advice/plan", response_model=PlanAdviceOut,
            summary="Upgrade, downgrade or stay, from the last three completed cycles")
def plan_advice(account_id: str, credits: Service, caller: Caller) -> dict[str, Any]:
    caller.check_account(account_id)
    return credits.advise_plan(account_id).as_dict()


@router.get("/accounts/{account_id}/forecast", response_model=ForecastOut,
            summary="When the credits run out at this cycle's burn rate, or what will expire")
def account_forecast(account_id: str, credits: Service, caller: Caller) -> dict[str, Any]:
    caller.check_account(account_id)
    return credits.forecast(account_id).as_dict()


@router.get("/accounts/{account_id}/cycles", response_model=list[CycleUsageOut],
            summary="The last completed cycles: allowance, used, expired, refused charges")
def cycle_history(
    account_id: str, credits: Service, caller: Caller,
    cycles: Annotated[int, Query(ge=1, le=MAX_REPORT_PERIODS)] = 3,
) -> list[dict[str, Any]]:
    caller.check_account(account_id)
    return [cycle_as_dict(cycle) for cycle in credits.cycle_history(account_id, cycles)]


@router.get("/accounts/{account_id}/report", response_model=ReportOut,
            summary="Usage per cycle or month by model, kind, tier and project")
def usage_report(
    account_id: str, credits: Service, caller: Caller,
    period: ReportPeriod = "cycle", periods: ReportPeriods = 3,
) -> dict[str, Any]:
    caller.check_account(account_id)
    return credits.usage_report(account_id, period=period, periods=periods).as_dict()


@router.get(
    "/accounts/{account_id}/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                     "description": "One row per figure: total, model, kind, tier, project"}},
    summary="The usage report as CSV",
)
def usage_report_csv(
    account_id: str, credits: Service, caller: Caller,
    period: ReportPeriod = "cycle", periods: ReportPeriods = 3,
) -> Response:
    caller.check_account(account_id)
    document = credits.usage_report_csv(account_id, period=period, periods=periods)
    return Response(
        document, media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{account_id}-{period}.csv"'},
    )


@router.get("/margins", response_model=MarginsOut,
            summary="Every model's margin at a credit's money value (operator)")
def operator_margins(
    credits: Service, _: Operator,
    target_margin_percent: Annotated[
        Decimal, Query(ge=0, le=100, max_digits=12, decimal_places=6)
    ] = DEFAULT_TARGET_MARGIN_PERCENT,
    credit_value: Annotated[
        Decimal | None, Query(gt=0, le=1_000_000, max_digits=24, decimal_places=12,
                              description="Money per credit; default: from the plans' prices")
    ] = None,
    currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
) -> dict[str, Any]:
    return credits.margins(
        target_margin_percent=target_margin_percent, credit_value=credit_value,
        currency=currency,
    ).as_dict()
