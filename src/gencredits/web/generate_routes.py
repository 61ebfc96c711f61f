"""The model selector ("Generate"), its live quote endpoint, the charge, and the balance page.

The selector lists every active model grouped by kind and tier with its credits per output.
Choosing a model and its outputs, seconds, quality or option prices the request: the page's
script asks ``/app/api/quote`` as the choices change, and without the script the "Update
price" button does the same through the page itself. "Charge" runs the real charge with an
idempotency key generated into the form, so a double click charges once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from gencredits.api.http import checked_router
from gencredits.domain import errors
from gencredits.domain.advice import Forecast
from gencredits.domain.catalog import Catalog, CatalogEntry, Kind, Tier
from gencredits.domain.credits import format_credits, round_half_up
from gencredits.domain.ledger import EntryKind
from gencredits.domain.pricing import Quote, QuoteRequest
from gencredits.domain.results import AccountView
from gencredits.web.auth_routes import dashboard_of
from gencredits.web.core import FormError, Visitor, day, friendly
from gencredits.web.forms import Form, choices_of, defaults_of, line_item, read_form

router = checked_router(include_in_schema=False)

PREFERRED_MODEL = "flux-2-pro"
KIND_TITLES = {Kind.IMAGE: "Images", Kind.VIDEO: "Video", Kind.EDIT: "Editing tools"}
CHOICE_FIELDS = ("model", "outputs", "seconds", "quality", "option", "project")


@dataclass(frozen=True, slots=True)
class ModelCard:
    entry: CatalogEntry
    credits_label: str
    choices: dict[str, tuple[str, ...]]
    defaults: dict[str, str]

    @property
    def data(self) -> dict[str, str]:
        """What the script needs to adapt the option fields to this model."""
        return {
            "max-outputs": str(self.entry.max_outputs),
            "seconds": ",".join(self.choices["seconds"]),
            "qualities": ",".join(self.choices["quality"]),
            "options": ",".join(self.choices["option"]),
            "default-seconds": self.defaults["seconds"],
            "default-quality": self.defaults["quality"],
            "default-option": self.defaults["option"],
        }


def credits_label(entry: CatalogEntry) -> str:
    low, high = (round_half_up(value) for value in entry.price_range())
    return format_credits(low) if low == high else f"{format_credits(low)}-{format_credits(high)}"


def model_groups(catalog: Catalog) -> list[tuple[str, list[tuple[str, list[ModelCard]]]]]:
    """Active models by kind, then tier, in the catalog's order within a tier."""
    groups = []
    for kind in Kind:
        tiers = []
        for tier in Tier:
            cards = [
                ModelCard(entry, credits_label(entry), choices_of(entry), defaults_of(entry))
                for entry in catalog.active_entries()
                if entry.kind is kind and entry.tier is tier
            ]
            if cards:
                tiers.append((tier.value.capitalize(), cards))
        if tiers:
            groups.append((KIND_TITLES[kind], tiers))
    return groups


def selected_entry(catalog: Catalog, model: str) -> CatalogEntry | None:
    if model and model in catalog and catalog.get(model).active:
        return catalog.get(model)
    if PREFERRED_MODEL in catalog and catalog.get(PREFERRED_MODEL).active:
        return catalog.get(PREFERRED_MODEL)
    active = catalog.active_entries()
    return active[0] if active else None


def price_choice(catalog: Catalog, choice: Form, request_quote: Any) -> tuple[Quote | None,
                                                                                FormError | None]:
    try:
        line = line_item(catalog, model=choice.get("model"), outputs=choice.get("outputs"),
                         seconds=choice.get("seconds"), quality=choice.get("quality"),
                         option=choice.get("option"))
        return request_quote(QuoteRequest((line,))), None
    except errors.GencreditsError as error:
        return None, friendly(error)


def coverage(account: AccountView | None, total: int | None) -> dict[str, Any]:
    if account is None or total is None:
        return {"known": False, "covers": False, "text": ""}
    if account.available_credits >= total:
        left = account.available_credits - total
        return {"known": True, "covers": True,
                "text": f"Your balance covers it: {format_credits(left)} credits left after."}
    short = total - account.available_credits
    return {"known": True, "covers": False,
            "text": f"Not enough credits: {format_credits(short)} more needed "
                    f"({format_credits(account.available_credits)} available)."}


def generate_page(
    request: Request,
    visitor: Visitor,
    account: AccountView | None,
    form: Form,
    *,
    error: FormError | None = None,
    status: int = 200,
) -> Response:
    dashboard = dashboard_of(request)
    credits = dashboard.credits
    catalog = credits.catalog()
    entry = selected_entry(catalog, form.get("model"))
    values = {name: form.get(name) for name in CHOICE_FIELDS}
    quote = None
    if entry is not None:
        values["model"] = entry.id
        for name, default in defaults_of(entry).items():
            values[name] = values[name] or default
        values["outputs"] = values["outputs"] or "1"
        quote, quote_error = price_choice(catalog, Form({k: (v,) for k, v in values.items()}),
                                          credits.quote)
        error = error or quote_error
    charged = _charged_entry(dashboard.credits, account, form.get("charged"))
    return dashboard.render(
        request,
        "generate.html",
        visitor=visitor,
        account=account,
        status=status,
        groups=model_groups(catalog),
        selected=entry,
        selected_choices=choices_of(entry) if entry else {},
        values=values,
        quote=quote,
        coverage=coverage(account, quote.total_credits if quote else None),
        error=error,
        charged=charged,
        idempotency_key="web-" + secrets.token_urlsafe(16),
        price_version=catalog.version,
    )


def _charged_entry(credits: Any, account: AccountView | None, text: str) -> Any:
    if account is None or not text.isdigit() or len(text) > 18:
        return None
    try:
        entry = credits.entry(int(text))
    except errors.NotFound:
        return None
    if entry.account_id != account.id or entry.kind is not EntryKind.CHARGE:
        return None
    return entry


@router.get("/app")
def app_home(request: Request) -> Response:
    dashboard = dashboard_of(request)
    dashboard.visitor(request)
    query = request.url.query
    return dashboard.finish(request, RedirectResponse("/app/generate" + ("?" + query if query
                                                                         else ""), 303))


@router.get("/app/generate")
def generate(request: Request) -> Response:
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    form = Form.from_query(request)
    account = dashboard.viewed_account(visitor, form.get("account"))
    return generate_page(request, visitor, account, form)


@router.get("/app/api/quote")
def live_quote(request: Request) -> Response:
    """The selector's price as JSON: total, explanation and whether the balance covers it."""
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    form = Form.from_query(request)
    account = dashboard.viewed_account(visitor, form.get("account"))
    quote, error = price_choice(dashboard.credits.catalog(), form, dashboard.credits.quote)
    headers = {"Cache-Control": "no-store"}
    if quote is None:
        assert error is not None
        return JSONResponse({"ok": False, "message": error.message, "field": error.field},
                            status_code=422, headers=headers)
    line = quote.lines[0]
    return JSONResponse(
        {
            "ok": True,
            "total": quote.total_credits,
            "total_text": format_credits(quote.total_credits),
            "explanation": line.explain(),
            "price_version": quote.price_version,
            "coverage": coverage(account, quote.total_credits),
        },
        headers=headers,
    )


@router.post("/app/generate")
async def charge(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_charge, request, form)


def _charge(request: Request, form: Form) -> Response:
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    dashboard.check_csrf(request, visitor.session, form.get("csrf_token"))
    if form.get("intent") != "charge":  # "Update price" without the script: price only
        account = dashboard.viewed_account(visitor, form.get("account"))
        return generate_page(request, visitor, account, form)
    account = dashboard.viewed_account(visitor, form.get("account"), required=True)
    assert account is not None
    credits = dashboard.credits
    try:
        line = line_item(credits.catalog(), model=form.get("model"), outputs=form.get("outputs"),
                         seconds=form.get("seconds"), quality=form.get("quality"),
                         option=form.get("option"))
        entry = credits.charge(
            account.id, QuoteRequest((line,)), idempotency_key=form.get("idempotency_key") or None,
            project=form.optional("project"), actor=visitor.actor,
        )
    except errors.GencreditsError as error:
        from gencredits.api.http import status_for

        refreshed = credits.account(account.id)
        return generate_page(request, visitor, refreshed, form, error=friendly(error),
                             status=status_for(error))
    params = {name: form.get(name) for name in CHOICE_FIELDS if form.get(name)}
    params["charged"] = str(entry.id)
    if visitor.is_operator:
        params = {"account": account.id} | params
    from urllib.parse import urlencode

    return dashboard.finish(
        request, RedirectResponse("/app/generate?" + urlencode(params), status_code=303)
    )


@router.get("/app/balance")
def balance(request: Request) -> Response:
    dashboard = dashboard_of(request)
    visitor = dashboard.visitor(request)
    form = Form.from_query(request)
    account = dashboard.viewed_account(visitor, form.get("account"))
    if account is None:
        return dashboard.render(request, "balance.html", visitor=visitor, account=None)
    credits = dashboard.credits
    plans = credits.plans()
    plan = plans.get(account.plan_id) if account.plan_id in plans else None
    pending = (
        plans.get(account.pending_plan_id)
        if account.pending_plan_id and account.pending_plan_id in plans else None
    )
    outlook = credits.forecast(account.id)
    return dashboard.render(
        request, "balance.html", visitor=visitor, account=account, plan=plan,
        pending_plan=pending, used=outlook.used_credits, outlook=outlook,
        outlook_text=outlook_sentence(outlook, account),
        allowance_percent=(
            min(100, account.allowance_used_credits * 100 // account.allowance_credits)
            if account.allowance_credits else 0
        ),
    )


def outlook_sentence(outlook: Forecast, account: AccountView) -> str:
    renewal = day(account.cycle_ends_at)
    rate = outlook.burn_rate_credits_per_day
    if outlook.runs_out_at is not None:
        days_early = (account.cycle_ends_at - outlook.runs_out_at).days
        early = f", {days_early} days before renewal on {renewal}" if days_early >= 1 else ""
        return (
            f"At this rate (about {round_half_up(rate):,} credits a day) your credits run out "
            f"on {day(outlook.runs_out_at)}{early}."
        )
    if outlook.used_credits == 0 or rate == 0:
        return (
            f"Nothing used yet this cycle: {format_credits(outlook.expiring_credits)} credits "
            f"will expire unused at renewal on {renewal} unless you use them."
        )
    if outlook.expiring_credits > 0:
        return (
            f"At this rate (about {round_half_up(rate):,} credits a day) "
            f"{format_credits(outlook.expiring_credits)} credits will expire unused at "
            f"renewal on {renewal}."
        )
    return f"At this rate you will use about all your credits by renewal on {renewal}."
