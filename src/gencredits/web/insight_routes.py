"""Pages that help spend well: the estimator, history with charts, and advice."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from gencredits.api.http import checked_router
from gencredits.domain import errors, limits
from gencredits.domain.advice import (
    DEFAULT_BUFFER_PERCENT,
    DraftPlan,
    Estimate,
    ModelAdvice,
    PlanAdvice,
    known_tasks,
)
from gencredits.domain.bounds import bounded_moment, decimal_problem
from gencredits.domain.catalog import Catalog, Kind, OptionTableRule, PerSecondRule
from gencredits.domain.credits import plain_decimal
from gencredits.domain.ledger import Entry, EntryKind
from gencredits.domain.pricing import QuoteRequest
from gencredits.domain.results import AccountView
from gencredits.service.facade import Gencredits
from gencredits.web import usage
from gencredits.web.auth_routes import dashboard_of
from gencredits.web.charts import bar_chart, top_series
from gencredits.web.core import FormError, friendly
from gencredits.web.forms import Form, line_item, optional_whole, whole
from gencredits.web.generate_routes import KIND_TITLES

router = checked_router(include_in_schema=False)

LINE_FIELDS = ("model", "outputs", "count", "seconds", "quality", "option")
HISTORY_PAGE_SIZE = 25
CHART_CYCLES = 6


# --- estimator -------------------------------------------------------------------------------


def estimator_rows(form: Form) -> list[dict[str, str]]:
    """The form's lines, aligned by position; 'add' appends an empty one, 'remove' drops one."""
    columns = {name: form.all(name) for name in LINE_FIELDS}
    length = min(max((len(values) for values in columns.values()), default=0),
                 limits.MAX_LINES_PER_REQUEST)
    rows = [
        {name: (columns[name][i] if i < len(columns[name]) else "") for name in LINE_FIELDS}
        for i in range(length)
    ]
    remove = form.get("remove")
    if remove.isdigit() and int(remove) < len(rows):
        del rows[int(remove)]
    if (form.get("add") or not rows) and len(rows) < limits.MAX_LINES_PER_REQUEST:
        rows.append(dict.fromkeys(LINE_FIELDS, ""))
    return rows


def run_estimate(
    catalog: Catalog, rows: list[dict[str, str]], buffer_text: str, account: AccountView | None,
    credits: Gencredits,
) -> tuple[Estimate | None, list[int], FormError | None]:
    """The estimate of the rows that name a model (and their positions), or the first error."""
    try:
        buffer = _percent(buffer_text)
        filled = [i for i, row in enumerate(rows) if row["model"]]
        if not filled:
            return None, [], None
        lines = tuple(
            line_item(catalog, field_prefix=f"lines.{i}.", **{n: rows[i][n] for n in LINE_FIELDS})
            for i in filled
        )
        result = credits.estimate(QuoteRequest(lines), account_id=account.id if account else None,
                                  buffer_percent=buffer)
        return result, filled, None
    except errors.GencreditsError as error:
        return None, [], friendly(error)


def _percent(text: str) -> Decimal:
    text = (text or "").strip().rstrip("%").strip()
    if not text:
        return DEFAULT_BUFFER_PERCENT
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise errors.InvalidRequest(f"enter a percentage such as 20, not {text[:20]!r}",
                                    field="buffer_percent") from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise errors.InvalidRequest("enter a percentage from 0 to 100", field="buffer_percent")
    problem = decimal_problem(value)
    if problem is not None:
        raise errors.InvalidRequest(f"the percentage {problem}", field="buffer_percent")
    return value


def catalog_options(catalog: Catalog) -> dict[str, Any]:
    """Models by kind for selects, and every quality and option any model offers."""
    qualities: list[str] = []
    options: list[str] = []
    for entry in catalog.active_entries():
        if isinstance(entry.rule, PerSecondRule):
            qualities += [q for q in entry.rule.quality_multipliers if q not in qualities]
        if isinstance(entry.rule, OptionTableRule):
            options += [o for o in entry.rule.prices if o not in options]
    by_kind = [
        (KIND_TITLES[kind], [e for e in catalog.active_entries() if e.kind is kind])
        for kind in Kind
    ]
    return {"by_kind": [group for group in by_kind if group[1]], "qualities": qualities,
            "options": options}


@router.get("/app/estimate")
def estimator(request: Request) -> Response:
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    form = Form.from_query(request)
    account = dashboard.viewed_account(visitor, form.get("account"))
    catalog = dashboard.credits.catalog()
    rows = estimator_rows(form)
    buffer_text = form.get("buffer", plain_decimal(DEFAULT_BUFFER_PERCENT))
    result, positions, error = run_estimate(catalog, rows, buffer_text, account,
                                            dashboard.credits)
    return dashboard.render(
        request, "estimate.html", visitor=visitor, account=account, rows=rows,
        buffer=buffer_text, result=result, positions=positions, error=error,
        status=422 if error else 200, **catalog_options(catalog),
    )


# --- history ---------------------------------------------------------------------------------


def _date(text: str, field: str, *, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise errors.InvalidRequest(f"enter a date such as 2026-03-01, not {text[:20]!r}",
                                    field=field) from None
    # Bounded before the arithmetic below: the bound leaves room for the day added.
    moment = bounded_moment(moment, field=field)
    if len(text) <= 10:  # a whole day: the end of the day is the start of the next
        moment = datetime.combine(moment.date(), time(), UTC) + (timedelta(days=1) if end
                                                                  else timedelta())
    return moment


def entry_details(entry: Entry) -> str:
    lines = (entry.details or {}).get("lines") if entry.details else None
    parts: list[str] = []
    if isinstance(lines, list):
        parts += [f"{line.get('model')}: {line.get('explanation')}" for line in lines
                  if isinstance(line, dict)]
    if entry.reason:
        parts.append(entry.reason)
    return "; ".join(parts)


def charts(credits: Gencredits, account: AccountView, by: str) -> dict[str, Any]:
    """Usage per day of this cycle, and per cycle (the service's usage report)."""
    now = credits.clock.now()
    spending = usage.read_spending(credits, account.id, account.cycle_starts_at)
    days = usage.daily(spending, account.cycle_starts_at, account.cycle_ends_at, now, by)
    report = credits.usage_report(account.id, period="cycle", periods=CHART_CYCLES)
    cycles = [
        (usage.short_day(period.starts_at),
         {line.key: line.credits
          for line in (period.by_project if by == "project" else period.by_model)
          if line.credits > 0})
        for period in report.periods
    ]
    order = top_series([*days, *cycles])  # one colour per model or project on both charts
    per_day = bar_chart("chart-days", f"Credits used per day this cycle, by {by}", days,
                        label_every=max(1, -(-len(days) // 8)), series_order=order)
    per_cycle = bar_chart("chart-cycles", f"Credits used per billing cycle, by {by}", cycles,
                          series_order=order)
    return {"per_day": per_day, "per_cycle": per_cycle, "complete": spending.complete}


@router.get("/app/history")
def history(request: Request) -> Response:
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    form = Form.from_query(request)
    account = dashboard.viewed_account(visitor, form.get("account"))
    credits = dashboard.credits
    catalog = credits.catalog()
    filters = {name: form.get(name) for name in ("kind", "model", "project", "since", "until")}
    by = "project" if form.get("by") == "project" else "model"
    if account is None:
        return dashboard.render(request, "history.html", visitor=visitor, account=None,
                                filters=filters, by=by, kinds=list(EntryKind), catalog=catalog)
    error = None
    page = None
    try:
        cursor = optional_whole(form.get("cursor"), field="cursor", minimum=1,
                                maximum=2**62)
        page = credits.history(
            account.id,
            kinds=(filters["kind"],) if filters["kind"] else (),
            model_id=filters["model"] or None,
            project=filters["project"] or None,
            since=_date(filters["since"], "since"),
            until=_date(filters["until"], "until", end=True),
            cursor=cursor,
            limit=HISTORY_PAGE_SIZE,
        )
    except errors.GencreditsError as failure:
        error = friendly(failure)
    return dashboard.render(
        request, "history.html", visitor=visitor, account=account, filters=filters, by=by,
        kinds=list(EntryKind), catalog=catalog, page=page, error=error,
        details=entry_details, charts=charts(credits, account, by),
        first_page=not form.get("cursor"), status=422 if error else 200,
    )


# --- advice ----------------------------------------------------------------------------------


def draft_plan(credits: Gencredits, form: Form) -> tuple[DraftPlan | None, FormError | None]:
    try:
        return credits.plan_drafts(
            draft_model=form.get("draft_model", "nano-banana-2"),
            drafts=whole(form.get("drafts"), field="drafts", minimum=0,
                         maximum=limits.MAX_COUNT_PER_LINE, default=20),
            final_model=form.get("final_model", "flux-2-max"),
            finals=whole(form.get("finals"), field="finals", minimum=1,
                         maximum=limits.MAX_COUNT_PER_LINE, default=5),
        ), None
    except errors.GencreditsError as error:
        return None, friendly(error)


def model_advice(
    credits: Gencredits, catalog: Catalog, form: Form
) -> tuple[tuple[ModelAdvice, ...] | None, FormError | None]:
    tasks = known_tasks(catalog)
    task = form.get("task") or ("photoreal" if "photoreal" in tasks else tasks[0] if tasks
                                else "")
    try:
        budget = optional_whole(form.get("max_credits"), field="max_credits_per_output",
                                minimum=1, maximum=limits.MAX_RATE_CREDITS)
        return credits.advise_models(task, kind=form.get("kind") or None,
                                     max_credits_per_output=budget,
                                     prefer_speed=form.get("prefer_speed") == "1"), None
    except errors.GencreditsError as error:
        return None, friendly(error)


def plan_advice(credits: Gencredits, account: AccountView) -> PlanAdvice | None:
    if account.plan_id not in credits.plans():
        return None
    return credits.advise_plan(account.id)


@router.get("/app/advice")
def advice(request: Request) -> Response:
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    form = Form.from_query(request)
    account = dashboard.viewed_account(visitor, form.get("account"))
    credits = dashboard.credits
    catalog = credits.catalog()
    drafts, drafts_error = draft_plan(credits, form)
    models, models_error = model_advice(credits, catalog, form)
    plans = credits.plans()
    return dashboard.render(
        request, "advice.html", visitor=visitor, account=account,
        plan_advice=plan_advice(credits, account) if account else None,
        plans=list(plans), plan_names={plan.id: plan.name for plan in plans},
        drafts=drafts, drafts_error=drafts_error, models=models, models_error=models_error,
        tasks=known_tasks(catalog), form=form, **catalog_options(catalog),
    )
