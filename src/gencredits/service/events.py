"""Events and webhooks: an outbox written with the change, delivered and listed in full.

Events (``low_balance``, ``credits_exhausted``, ``charge_refused``, ``renewal``,
``hold_expired``) are inserted by :func:`emit` inside the unit of work that causes them, with a
pending delivery per active webhook subscribed to their type, so an event and its deliveries
exist exactly when its change committed. Once committed, an event is given its ``sequence``: its
place in commit order (store/queries/events.py says why ids are not that), the cursor pollers of
:func:`list_events` pass as ``after``; a poll or a dispatcher pass numbers the events waiting.
:class:`WebhookDispatcher` claims due deliveries (several servers skip each other's claims and
never send one at once), POSTs them signed with HMAC-SHA256, and retries failures with
exponential backoff. Receivers deduplicate by the ``id`` in the body (also in the
``Gencredits-Event-Id`` header): a server that dies between a POST and its record sends again.

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
from sqlalchemy import Connection, Engine

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.service.mutation import Mutation, claim_once, operator_scope
from gencredits.store.engine import read_transaction, write_transaction
from gencredits.store.queries import events as event_queries

MAX_DELIVERY_ATTEMPTS = 12  # about a day of backoff: 10 s doubling, capped at 6 h
FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 6 * 60 * 60
CLAIM_SECONDS = 60
SEND_TIMEOUT_SECONDS = 5.0
# A pass stops sending (and gives its other claims back) this long after claiming, so that
# its last send ends before the claims run out and another server could claim them too.
SENDING_SECONDS = CLAIM_SECONDS - 2 * SEND_TIMEOUT_SECONDS
NUMBERING_BATCH = 1_000  # events numbered per transaction
MAX_NUMBERING_ROUNDS = 10  # per call: a poll never numbers more than 10,000 events


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
    event_queries.insert_event(
        connection, event_id=event_id, account_id=account_id, type_=type_.value,
        payload=payload, now=now,
    )
    return event_id


def event_body(row: Any) -> dict[str, Any]:
    return {
        "id": row["event_id"],
        "sequence": row["position"],
        "type": row["type"],
        "account_id": row["account_id"],
        "created_at": row["created_at"].isoformat(),
        "data": row["payload"],
    }


def number_events(engine: Engine, *, batch: int = NUMBERING_BATCH) -> int:
    """Give committed events their place in commit order (cheap when none waits); returns how
    many were numbered."""
    with read_transaction(engine) as connection:
        if not event_queries.has_unnumbered_events(connection):
            return 0
    numbered = 0
    for _ in range(MAX_NUMBERING_ROUNDS):
        with write_transaction(engine) as connection:
            done = event_queries.number_events(connection, batch=batch)
        numbered += done
        if done < batch:
            break
    return numbered


def list_events(
    engine: Engine, *, account_id: str | None, after: int | None, limit: int,
    types: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Events in commit order after the ``after`` sequence number (a cursor for polling):
    an event committed later never takes a place before one already listed."""
    if not 1 <= limit <= limits.MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be between 1 and {limits.MAX_PAGE_SIZE}", field="limit")
    number_events(engine)
    with read_transaction(engine) as connection:
        rows = event_queries.list_events(
            connection, account_id=account_id, after=after, limit=limit, types=types
        )
        return [event_body(row) for row in rows]


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
    event_queries.insert_webhook(
        connection, webhook_id=webhook_id, url=url, secret=secret,
        event_types=sorted(event_types), now=now,
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
        rows = event_queries.webhook_rows(connection)
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
    if not event_queries.deactivate_webhook(connection, webhook_id):
        raise NotFound("webhook", webhook_id, field="webhook_id")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def retry_delay_seconds(attempts: int) -> int:
    return int(min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)))


class WebhookDispatcher:
    """Numbers events and sends due deliveries; call :meth:`run_once` on a schedule (the server
    does, on every worker: they claim deliveries without colliding)."""

    def __init__(
        self, engine: Engine, *, transport: httpx.BaseTransport | None = None,
        sending_seconds: float = SENDING_SECONDS,
    ) -> None:
        self.engine = engine
        self.sending_seconds = sending_seconds
        self.client = httpx.Client(timeout=SEND_TIMEOUT_SECONDS, transport=transport)

    def close(self) -> None:
        self.client.close()

    def run_once(self, now: datetime, *, batch: int = 100) -> dict[str, int]:
        # Deliveries wait for their event's number: the body carries it as ``sequence``.
        numbered = number_events(self.engine)
        sent = failed = 0
        started = time.monotonic()
        claimed = self.claim(now, batch=batch)
        for index, delivery in enumerate(claimed):
            if time.monotonic() - started >= self.sending_seconds:
                # The claims run out before slow receivers let us finish: hand the rest back
                # rather than let another server claim and send them too.
                with write_transaction(self.engine) as connection:
                    event_queries.release_claims(
                        connection, [d["delivery_id"] for d in claimed[index:]]
                    )
                break
            if self.send(delivery, now):
                sent += 1
            else:
                failed += 1
        return {"numbered": numbered, "sent": sent, "failed": failed}

    def claim(self, now: datetime, *, batch: int) -> list[dict[str, Any]]:
        until = now + timedelta(seconds=CLAIM_SECONDS)
        with write_transaction(self.engine) as connection:
            return event_queries.claim_deliveries(connection, now=now, until=until, batch=batch)

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
            event_queries.finish_delivery(connection, delivery["delivery_id"], values)
        return error is None


def delivery_counts(engine: Engine) -> dict[str, int]:
    """Deliveries by status (pending, delivered, failed)."""
    with read_transaction(engine) as connection:
        return event_queries.delivery_counts(connection)
