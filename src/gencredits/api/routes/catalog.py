"""Catalog, price versions, quotes and plans."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from gencredits.api.deps import Caller, Operator, OptionalIdempotencyKey, Service
from gencredits.api.http import checked_router
from gencredits.api.schemas import (
    CatalogEntryOut,
    CatalogOut,
    NoNulStrings,
    PlanOut,
    QuoteIn,
    QuoteOut,
)
from gencredits.documents.catalog import EntrySpec, entry_from_spec, entry_to_document
from gencredits.documents.plans import PlanSpec, plan_from_document, plan_to_document
from gencredits.documents.requests import request_from_specs
from gencredits.domain.catalog import CatalogEntry
from gencredits.domain.credits import round_half_up
from gencredits.domain.errors import CatalogInvalid, InvalidRequest, NotFound

router = checked_router(prefix="/v1", tags=["catalog"])


def credits_label(entry: CatalogEntry) -> str:
    low, high = (round_half_up(value) for value in entry.price_range())
    return str(low) if low == high else f"{low}-{high}"


def entry_out(entry: CatalogEntry, version: int, *, operator: bool = True) -> dict[str, Any]:
    """An entry for the API; the provider's cost (the operator's margin data) is shown to the
    operator only."""
    document = entry_to_document(entry) | {"credits": credits_label(entry),
                                           "price_version": version}
    if not operator:
        document["provider_cost"] = None
    return document


@router.get("/catalog", response_model=CatalogOut, summary="Every active model with its price")
def list_catalog(
    credits: Service, caller: Caller, include_inactive: bool = False
) -> dict[str, Any]:
    catalog = credits.catalog()
    entries = catalog.entries if include_inactive else catalog.active_entries()
    return {"price_version": catalog.version,
            "models": [entry_out(entry, catalog.version, operator=caller.is_operator)
                       for entry in entries]}


@router.get("/catalog/{model_id}", response_model=CatalogEntryOut, summary="One model")
def show_entry(model_id: str, credits: Service, caller: Caller) -> dict[str, Any]:
    catalog = credits.catalog()
    if model_id not in catalog:  # a resource in the path: 404, as for accounts and holds
        raise NotFound("model", model_id, field="model_id")
    return entry_out(catalog.get(model_id, field="model_id"), catalog.version,
                     operator=caller.is_operator)


class EntryBody(NoNulStrings, EntrySpec):
    """A catalog entry; the id comes from the path."""

    id: str | None = None  # type: ignore[assignment]


class PlanBody(NoNulStrings, PlanSpec):
    """A plan; the id comes from the path."""

    id: str | None = None  # type: ignore[assignment]


@router.put(
    "/catalog/{model_id}",
    response_model=CatalogEntryOut,
    summary="Add or change a model (operator): publishes a new price version",
)
def put_entry(
    model_id: str, body: EntryBody, credits: Service, caller: Operator, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    if body.id not in (None, model_id):
        raise InvalidRequest("the id in the body differs from the path", field="id")
    current = credits.catalog()
    discounts = {e.discount.name: e.discount for e in current.entries if e.discount}
    try:
        spec = EntrySpec.model_validate(body.model_dump() | {"id": model_id})
        entry = entry_from_spec(spec, discounts)
    except ValidationError as error:  # only the id from the path can fail here
        raise InvalidRequest(f"model_id: {error.errors()[0]['msg']}", field="model_id") from None
    except CatalogInvalid as error:
        field = "model_id" if error.location == "id" else error.location or "body"
        raise InvalidRequest(error.message, field=field) from None
    published = credits.put_catalog_entry(entry, actor=caller.actor, note=f"put {model_id}",
                                          idempotency_key=key)
    return entry_out(published.get(model_id), published.version)


@router.get("/catalog-versions", summary="Price versions, newest first (operator)")
def catalog_versions(credits: Service, _: Operator, limit: int = 50) -> list[dict[str, Any]]:
    return credits.catalog_history(max(1, min(limit, 500)))


@router.post("/quotes", response_model=QuoteOut, summary="Price a request without charging")
def create_quote(body: QuoteIn, credits: Service, _: Caller) -> dict[str, Any]:
    request = request_from_specs(body.lines)
    return credits.quote(request, price_version=body.price_version).as_dict()


@router.get("/plans", response_model=list[PlanOut], summary="The plans on offer")
def list_plans(credits: Service, _: Caller) -> list[dict[str, Any]]:
    return [plan_to_document(plan) for plan in credits.plans()]


@router.put("/plans/{plan_id}", response_model=PlanOut, summary="Define a plan (operator)")
def put_plan(
    plan_id: str, body: PlanBody, credits: Service, _: Operator, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    if body.id not in (None, plan_id):
        raise InvalidRequest("the id in the body differs from the path", field="id")
    try:
        plan = plan_from_document(body.model_dump(mode="json") | {"id": plan_id}, source="body")
    except CatalogInvalid as error:
        field = error.location or "body"
        # The plan's id comes from the path: name the path's field, as the message does.
        field = "plan_id" if field.endswith(": id") else field
        raise InvalidRequest(error.message.replace(": id:", ": plan_id:"), field=field) from None
    return plan_to_document(credits.put_plan(plan, idempotency_key=key))
