"""Operator pages (operator key only): the catalog with prices, provider costs and margins,
editing a price (a new price version), and accounts with grants and adjustments.

An account key gets a 403 page here, never a glimpse of the catalog's costs or other accounts.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from gencredits.api.http import checked_router
from gencredits.domain import errors, limits
from gencredits.domain.bounds import bounded_decimal
from gencredits.domain.catalog import CatalogEntry, FlatRule, OptionTableRule, PerSecondRule
from gencredits.domain.credits import plain_decimal
from gencredits.domain.ledger import GrantSource
from gencredits.web.auth_routes import dashboard_of
from gencredits.web.core import FormError, PageError, Visitor, friendly
from gencredits.web.forms import Form, optional_whole, read_form, whole
from gencredits.web.generate_routes import credits_label

router = checked_router(include_in_schema=False)

GRANT_SOURCES = (GrantSource.PROMO, GrantSource.ADJUSTMENT, GrantSource.TOPUP, GrantSource.TRIAL)
ACCOUNTS_PAGE_SIZE = 50
MAX_EXPIRY_DAYS = 3_660


def operator_visitor(request: Request) -> Visitor:
    visitor = dashboard_of(request).visitor(request)
    if not visitor.is_operator:
        raise PageError(403, "Operator only",
                        "This page needs the operator key. You are signed in with an account "
                        "key, which sees its own account only.")
    return visitor


# --- catalog ---------------------------------------------------------------------------------


def price_fields(entry: CatalogEntry) -> list[tuple[str, str, str]]:
    """(field name, label, current value) of the prices an entry's rule has."""
    rule = entry.rule
    if isinstance(rule, FlatRule):
        return [("price", f"Credits per {rule.unit}", plain_decimal(rule.credits_per_output))]
    if isinstance(rule, PerSecondRule):
        return [("price", "Credits per second", plain_decimal(rule.credits_per_second))]
    assert isinstance(rule, OptionTableRule)
    return [(f"option_{name}", f"Credits for {name}", plain_decimal(price))
            for name, price in rule.prices.items()]


def catalog_page(request: Request, visitor: Visitor, *, error: FormError | None = None,
                 error_model: str | None = None, status: int = 200) -> Response:
    dashboard = dashboard_of(request)
    credits = dashboard.credits
    catalog = credits.catalog()
    report, value_error = None, None
    try:
        report = credits.margins()
    except errors.GencreditsError as failure:
        value_error = friendly(failure)
    by_model = {m.model_id: m for m in report.models} if report else {}
    form = Form.from_query(request)
    published = form.get("published")
    return dashboard.render(
        request, "operator_catalog.html", visitor=visitor,
        account=dashboard.viewed_account(visitor, form.get("account")),
        catalog=catalog, margins=by_model, report=report, value_error=value_error,
        price_fields=price_fields,
        credits_label=credits_label, published=published if published.isdigit() else None,
        error=error, error_model=error_model, status=status,
        below=report.below_target if report else (),
    )


@router.get("/app/operator")
def operator_home(request: Request) -> Response:
    operator_visitor(request)
    return dashboard_of(request).finish(request, RedirectResponse("/app/operator/catalog", 303))


@router.get("/app/operator/catalog")
def catalog(request: Request) -> Response:
    return catalog_page(request, operator_visitor(request))


def _price(text: str, field: str) -> Decimal:
    value = _money(text, field)
    if value is None:
        raise errors.InvalidRequest("enter a number", field=field)
    return value


def _money(text: str, field: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise errors.InvalidRequest(f"enter a number such as 5 or 12.5, not {text[:20]!r}",
                                    field=field) from None
    if not value.is_finite() or value < 0 or value > limits.MAX_RATE_CREDITS:
        raise errors.InvalidRequest(f"enter a number from 0 to {limits.MAX_RATE_CREDITS}",
                                    field=field)
    return bounded_decimal(value, field=field)


def edited_entry(entry: CatalogEntry, form: Form) -> CatalogEntry:
    rule = entry.rule
    new_rule: Any
    if isinstance(rule, FlatRule):
        new_rule = replace(rule, credits_per_output=_price(form.get("price"), "price"))
    elif isinstance(rule, PerSecondRule):
        new_rule = replace(rule, credits_per_second=_price(form.get("price"), "price"))
    else:
        prices = {name: _price(form.get(f"option_{name}"), "price")
                  for name in rule.prices}
        new_rule = replace(rule, prices=prices)
    return replace(
        entry,
        rule=new_rule,
        provider_cost=_money(form.get("provider_cost"), "provider_cost"),
        active=form.get("active") == "1",
    )


@router.post("/app/operator/catalog/{model_id}")
async def edit_price(model_id: str, request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_edit_price, model_id, request, form)


def _edit_price(model_id: str, request: Request, form: Form) -> Response:
    dashboard = dashboard_of(request)
    visitor = operator_visitor(request)
    dashboard.check_csrf(request, visitor.session, form.get("csrf_token"))
    credits = dashboard.credits
    try:
        entry = credits.catalog().get(model_id, field="model")
        changed = edited_entry(entry, form)
        note = form.get("note")[: limits.MAX_LABEL_LENGTH] or f"web: price of {model_id}"
        published = credits.put_catalog_entry(changed, actor=visitor.actor, note=note)
    except errors.CatalogInvalid as failure:
        error = FormError(f"Price: {failure.message}", "price")
        return catalog_page(request, visitor, error=error, error_model=model_id, status=422)
    except errors.GencreditsError as failure:
        return catalog_page(request, visitor, error=friendly(failure), error_model=model_id,
                            status=422)
    return dashboard.finish(request, RedirectResponse(
        f"/app/operator/catalog?published={published.version}#model-{model_id}", 303))


# --- accounts --------------------------------------------------------------------------------


def accounts_page(request: Request, visitor: Visitor, *, error: FormError | None = None,
                  values: Form | None = None, status: int = 200) -> Response:
    dashboard = dashboard_of(request)
    credits = dashboard.credits
    query = Form.from_query(request)
    after = query.get("after")[: limits.MAX_ID_LENGTH] or None
    page = credits.accounts(after=after, limit=ACCOUNTS_PAGE_SIZE)
    done = None
    if query.get("done").isdigit() and len(query.get("done")) < 18:
        try:
            done = credits.entry(int(query.get("done")))
        except errors.NotFound:
            done = None
    return dashboard.render(
        request, "operator_accounts.html", visitor=visitor,
        account=dashboard.viewed_account(visitor, query.get("account")),
        accounts=page, next_after=page[-1].id if len(page) == ACCOUNTS_PAGE_SIZE else None,
        sources=[source.value for source in GRANT_SOURCES], error=error,
        values=values or Form(), done=done, status=status,
        idempotency_key="web-" + secrets.token_urlsafe(16),
    )


@router.get("/app/operator/accounts")
def accounts(request: Request) -> Response:
    return accounts_page(request, operator_visitor(request))


@router.post("/app/operator/accounts")
async def move_credits(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_move_credits, request, form)


def _move_credits(request: Request, form: Form) -> Response:
    """A grant (positive) or an adjustment (either sign), chosen by the form's ``action``."""
    dashboard = dashboard_of(request)
    visitor = operator_visitor(request)
    dashboard.check_csrf(request, visitor.session, form.get("csrf_token"))
    credits = dashboard.credits
    try:
        account_id = form.get("target")
        if not account_id:
            raise errors.InvalidRequest("choose an account", field="account")
        reason = form.get("reason")[:500] or None
        days = optional_whole(form.get("expires_in_days"), field="expires_in_days",
                              minimum=1, maximum=MAX_EXPIRY_DAYS)
        expires_at = credits.clock.now() + timedelta(days=days) if days else None
        key = form.get("idempotency_key") or None
        if form.get("action") == "adjust":
            amount = whole(form.get("amount"), field="amount", minimum=-limits.MAX_AMOUNT_CREDITS,
                           maximum=limits.MAX_AMOUNT_CREDITS)
            if not reason:
                raise errors.InvalidRequest("say why the balance is adjusted", field="reason")
            entry = credits.adjust(account_id, amount, reason=reason, expires_at=expires_at,
                                   idempotency_key=key, actor=visitor.actor)
        else:
            amount = whole(form.get("amount"), field="amount", minimum=1,
                           maximum=limits.MAX_AMOUNT_CREDITS)
            source = form.get("source") or GrantSource.PROMO.value
            if source not in {s.value for s in GRANT_SOURCES}:
                raise errors.InvalidRequest("choose promo, adjustment, topup or trial",
                                            field="source")
            entry = credits.grant(account_id, amount, source=source, expires_at=expires_at,
                                  reason=reason, idempotency_key=key, actor=visitor.actor)
    except errors.GencreditsError as failure:
        from gencredits.api.http import status_for

        return accounts_page(request, visitor, error=friendly(failure), values=form,
                             status=status_for(failure))
    return dashboard.finish(request, RedirectResponse(
        "/app/operator/accounts?" + urlencode({"done": entry.id}), 303))
