"""The events feed and webhook subscriptions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status
from pydantic import Field

from gencredits.api.deps import Caller, Operator, OptionalIdempotencyKey, Service
from gencredits.api.http import checked_router
from gencredits.api.schemas import MAX_ROW_ID, ApiModel, Out
from gencredits.domain import limits
from gencredits.service import events

router = checked_router(prefix="/v1", tags=["events"])


class EventOut(Out):
    id: str
    sequence: int = Field(description="The event's place in commit order: pass the last one "
                          "seen as `after` to poll for what came next.")
    type: str
    account_id: str | None
    created_at: str
    data: dict[str, Any]


class EventPageOut(Out):
    events: list[EventOut]
    next_cursor: int | None


class WebhookIn(ApiModel):
    url: str = Field(min_length=8, max_length=2000, examples=["https://example.com/hooks"])
    event_types: list[events.EventType] = Field(
        default_factory=list, description="Empty: every type."
    )


class WebhookOut(Out):
    id: str
    url: str
    event_types: list[str]
    active: bool
    created_at: str


class NewWebhookOut(WebhookOut):
    secret: str = Field(description="The HMAC-SHA256 signing secret; shown once.")


@router.get("/events", response_model=EventPageOut,
            summary="Events in commit order after a cursor (account keys see their own)")
def list_events(
    credits: Service,
    caller: Caller,
    after: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    type: Annotated[list[events.EventType] | None, Query()] = None,
    account_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = limits.DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    if not caller.is_operator:
        if account_id is not None:
            caller.check_account(account_id)
        account_id = caller.key.account_id
    found = credits.events(account_id=account_id, after=after, limit=limit,
                           types=tuple(t.value for t in type or ()))
    return {"events": found, "next_cursor": found[-1]["sequence"] if found else after}


@router.post("/webhooks", response_model=NewWebhookOut, status_code=status.HTTP_201_CREATED,
             summary="Subscribe a URL to events (operator); deliveries are HMAC-signed")
def create_webhook(
    body: WebhookIn, credits: Service, _: Operator, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    hook, secret = credits.create_webhook(
        body.url, tuple(t.value for t in body.event_types), idempotency_key=key
    )
    return hook.as_dict() | {"secret": secret}


@router.get("/webhooks", response_model=list[WebhookOut], summary="Webhooks (operator)")
def list_webhooks(credits: Service, _: Operator) -> list[dict[str, Any]]:
    return [hook.as_dict() for hook in credits.webhooks()]


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Stop a webhook (operator)")
def disable_webhook(
    webhook_id: str, credits: Service, _: Operator, key: OptionalIdempotencyKey
) -> None:
    credits.disable_webhook(webhook_id, idempotency_key=key)
