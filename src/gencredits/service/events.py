"""Events and webhooks: an outbox written with the change, delivered at least once.

Events (``low_balance``, ``credits_exhausted``, ``charge_refused``, ``renewal``,
``hold_expired``) are inserted by :func:`emit` inside the unit of work that causes them, so an
event exists exactly when its change committed. :class:`WebhookDispatcher` then queues a
delivery per webhook and event, claims due deliveries (so several servers never send one at
once), POSTs them signed with HMAC-SHA256, and retries failures with exponential backoff.
Receivers deduplicate by the ``id`` in the body (also in the ``Gencredits-Event-Id`` header).

Signature: header ``Gencredits-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256(secret, ``<t>.<raw body>``) — verify it and reject stale timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.service.mutation import Mutation, claim_once, operator_scope
from gencredits.store.engine import read_transaction, write_transaction
from gencredits.store.tables import events, webhook_deliveries, webhooks

MAX_DELIVERY_ATTEMPTS = 12  # about a day of backoff: 10 s doubling, capped at 6 h
FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 6 * 60 * 60
CLAIM_SECONDS = 60
SEND_TIMEOUT_SECONDS = 5.0


class EventType(StrEnum):
    LOW_BALANCE = "low_balance"
    CREDITS_EXHAUSTED = "credits_exhausted"
    CHARGE_REFUSED = "charge_refused"
    RENEWAL = "renewal"
    HOLD_EXPIRED = "hold_expired"


def emit(
    connection: Connection,
    type_: EventType,
    *,
    account_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> str:
    event_id = "evt_" + uuid.uuid4().hex
    connection.execute(
        insert(events).values(
            event_id=event_id, account_id=account_id, type=type_.value, payload=payload,
            created_at=now,
        )
    )
    return event_id


def event_body(row: Any) -> dict[str, Any]:
    return {
        "id": row["event_id"],
        "sequence": row["id"],
        "type": row["type"],
        "account_id": row["account_id"],
        "created_at": row["created_at"].isoformat(),
        "data": row["payload"],
    }


def list_events(
    engine: Engine, *, account_id: str | None, after: int | None, limit: int,
    types: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Events oldest first after the ``after`` sequence number (a cursor for polling)."""
    if not 1 <= limit <= limits.MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be between 1 and {limits.MAX_PAGE_SIZE}", field="limit")
    statement = select(events).order_by(events.c.id).limit(limit)
    if account_id is not None:
        statement = statement.where(events.c.account_id == account_id)
    if after is not None:
        statement = statement.where(events.c.id > after)
    if types:
        statement = statement.where(events.c.type.in_(types))
    with read_transaction(engine) as connection:
        return [event_body(row) for row in connection.execute(statement).mappings()]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    event_types: tuple[str, ...]
    active: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "event_types": list(self.event_types),
                "active": self.active, "created_at": self.created_at.isoformat()}


def create_webhook(
    engine: Engine,
    url: str,
    event_types: tuple[str, ...],
    now: datetime,
    *,
    idempotency_key: str | None = None,
) -> tuple[Webhook, str]:
    """A webhook for future events; returns it and its signing secret (shown once, and again
    to a replay of ``idempotency_key`` while the key is kept)."""
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise InvalidRequest("a webhook url starts with http:// or https://", field="url")
    known = {t.value for t in EventType}
    for type_ in event_types:
        if type_ not in known:
            raise InvalidRequest(
                f"unknown event type {type_!r} (types: {', '.join(sorted(known))})",
                field="event_types",
            )
    mutation = Mutation(
        scope=operator_scope("create_webhook"), key=idempotency_key,
        operation="create_webhook", payload={"url": url, "event_types": sorted(event_types)},
        encode=_webhook_document, decode=_webhook_from_document,
    )
    with write_transaction(engine) as connection:
        return claim_once(connection, mutation, now,
                          lambda: _insert_webhook(connection, url, event_types, now))


def _insert_webhook(
    connection: Connection, url: str, event_types: tuple[str, ...], now: datetime
) -> tuple[Webhook, str]:
    webhook_id = "wh_" + secrets.token_hex(8)
    secret = "whsec_" + secrets.token_urlsafe(24)
    latest = connection.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1))
    cursor = latest.scalar_one_or_none() or 0
    connection.execute(
        insert(webhooks).values(
            id=webhook_id, url=url, secret=secret, event_types=sorted(event_types),
            active=True, cursor_event_id=cursor, created_at=now,
        )
    )
    return Webhook(webhook_id, url, tuple(sorted(event_types)), True, now), secret


def _webhook_document(created: tuple[Webhook, str]) -> dict[str, Any]:
    return {"webhook": created[0].as_dict(), "secret": created[1]}


def _webhook_from_document(data: dict[str, Any]) -> tuple[Webhook, str]:
    hook = data["webhook"]
    return (Webhook(hook["id"], hook["url"], tuple(hook["event_types"]), hook["active"],
                    datetime.fromisoformat(hook["created_at"])), str(data["secret"]))


def list_webhooks(engine: Engine) -> list[Webhook]:
    with read_transaction(engine) as connection:
        rows = connection.execute(select(webhooks).order_by(webhooks.c.created_at)).mappings()
        return [Webhook(r["id"], r["url"], tuple(r["event_types"]), r["active"], r["created_at"])
                for r in rows]


def disable_webhook(
    engine: Engine, webhook_id: str, now: datetime, *, idempotency_key: str | None = None
) -> None:
    mutation: Mutation[None] = Mutation(
        scope=operator_scope("disable_webhook"), key=idempotency_key,
        operation="disable_webhook", payload={"webhook_id": webhook_id},
        encode=lambda _: {}, decode=lambda _: None,
    )
    with write_transaction(engine) as connection:
        claim_once(connection, mutation, now, lambda: _disable(connection, webhook_id))


def _disable(connection: Connection, webhook_id: str) -> None:
    result = connection.execute(
        update(webhooks).where(webhooks.c.id == webhook_id).values(active=False)
    )
    if not result.rowcount:
        raise NotFound("webhook", webhook_id, field="webhook_id")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def retry_delay_seconds(attempts: int) -> int:
    return int(min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)))


class WebhookDispatcher:
    """Queues and sends deliveries; call :meth:`run_once` on a schedule (the server does)."""

    def __init__(self, engine: Engine, *, transport: httpx.BaseTransport | None = None) -> None:
        self.engine = engine
        self.client = httpx.Client(timeout=SEND_TIMEOUT_SECONDS, transport=transport)

    def close(self) -> None:
        self.client.close()

    def run_once(self, now: datetime, *, batch: int = 100) -> dict[str, int]:
        queued = self.queue(now, batch=batch)
        sent = failed = 0
        for delivery in self.claim(now, batch=batch):
            if self.send(delivery, now):
                sent += 1
            else:
                failed += 1
        return {"queued": queued, "sent": sent, "failed": failed}

    def queue(self, now: datetime, *, batch: int) -> int:
        """Create deliveries for events newer than each webhook's cursor."""
        queued = 0
        with write_transaction(self.engine) as connection:
            hooks = list(connection.execute(
                select(webhooks).where(webhooks.c.active.is_(True))
            ).mappings())
            for hook in hooks:
                statement = (
                    select(events.c.id, events.c.type)
                    .where(events.c.id > hook["cursor_event_id"])
                    .order_by(events.c.id)
                    .limit(batch)
                )
                rows = connection.execute(statement).all()
                if not rows:
                    continue
                wanted = set(hook["event_types"])
                for event_id, type_ in rows:
                    if wanted and type_ not in wanted:
                        continue
                    connection.execute(insert(webhook_deliveries).values(
                        webhook_id=hook["id"], event_id=event_id, status="pending", attempts=0,
                        next_attempt_at=now, claimed_until=None,
                    ))
                    queued += 1
                connection.execute(
                    update(webhooks).where(webhooks.c.id == hook["id"],
                                           webhooks.c.cursor_event_id == hook["cursor_event_id"])
                    .values(cursor_event_id=rows[-1][0])
                )
        return queued

    def claim(self, now: datetime, *, batch: int) -> list[dict[str, Any]]:
        claimed: list[dict[str, Any]] = []
        until = now + timedelta(seconds=CLAIM_SECONDS)
        with write_transaction(self.engine) as connection:
            due = connection.execute(
                select(webhook_deliveries.c.id)
                .where(
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.next_attempt_at <= now,
                    or_(webhook_deliveries.c.claimed_until.is_(None),
                        webhook_deliveries.c.claimed_until < now),
                )
                .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
                .limit(batch)
            ).scalars().all()
            for delivery_id in due:
                result = connection.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id == delivery_id,
                           or_(webhook_deliveries.c.claimed_until.is_(None),
                               webhook_deliveries.c.claimed_until < now))
                    .values(claimed_until=until)
                )
                if result.rowcount:
                    row = connection.execute(
                        select(
                            webhook_deliveries.c.attempts, webhooks.c.url, webhooks.c.secret,
                            events.c.id, events.c.event_id, events.c.type, events.c.account_id,
                            events.c.payload, events.c.created_at,
                        )
                        .select_from(webhook_deliveries)
                        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                        .join(events, events.c.id == webhook_deliveries.c.event_id)
                        .where(webhook_deliveries.c.id == delivery_id)
                    ).mappings().one()
                    claimed.append(dict(row) | {"delivery_id": delivery_id})
        return claimed

    def send(self, delivery: dict[str, Any], now: datetime) -> bool:
        body = json.dumps(event_body(delivery), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "gencredits-webhooks",
            "gencredits-event-id": delivery["event_id"],
            "gencredits-signature": f"t={timestamp},v1={sign(delivery['secret'], timestamp, body)}",
        }
        error: str | None = None
        try:
            response = self.client.post(delivery["url"], content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        attempts = delivery["attempts"] + 1
        values: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "last_error": error}
        if error is None:
            values |= {"status": "delivered", "delivered_at": now}
        elif attempts >= MAX_DELIVERY_ATTEMPTS:
            values |= {"status": "failed"}
        else:
            values |= {"next_attempt_at": now + timedelta(seconds=retry_delay_seconds(attempts))}
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(webhook_deliveries)
                .where(and_(webhook_deliveries.c.id == delivery["delivery_id"]))
                .values(**values)
            )
        return error is None


def delivery_counts(engine: Engine) -> dict[str, int]:
    from sqlalchemy import func

    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
        ).all()
    return {status: int(count) for status, count in rows}
