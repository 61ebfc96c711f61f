"""The statements of the events outbox: writing an event with its deliveries, numbering events
in commit order, reading them by that order, claiming deliveries to send, and webhooks.

Why positions: event ids come from a sequence (PostgreSQL) and a transaction that took a lower
id may commit after one that took a higher id, so a reader that has seen id 8 may later find
id 7 appear. A cursor over ids skips such events for good. An event's ``position`` is given
only after its transaction committed, by :func:`number_events`, one numbering at a time (an
advisory lock held to its commit on PostgreSQL; the database's single writer on SQLite), so
positions become visible in increasing order and ``position > cursor`` never misses one.
On SQLite writers commit one at a time, so :func:`insert_event` numbers the event in its own
transaction (the next position is the largest plus one) and nothing is left to number later.

Why deliveries are written with the event: a webhook then needs no cursor over events at all;
an event's transaction commits its deliveries or neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    RowMapping,
    String,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)

from gencredits.store.engine import is_sqlite
from gencredits.store.prepared import Prepared, PreparedInsert
from gencredits.store.tables import events, webhook_deliveries, webhooks

# The key of PostgreSQL's transaction-level advisory lock that serialises numbering: the
# first eight bytes of "gencredits" read as an integer.
NUMBERING_LOCK_KEY = 0x67656E6372656469


def insert_event(
    connection: Connection, *, event_id: str, account_id: str | None, type_: str,
    payload: dict[str, Any], now: datetime,
) -> int:
    """Insert an event and a pending delivery for every active webhook subscribed to its type,
    in the caller's transaction; returns the event's row id. Both statements are compiled once
    (building them per call cost a refused charge a third of its time)."""
    sqlite = connection.dialect.name == "sqlite"
    row_id = _INSERT_EVENT[sqlite].insert(connection, {
        "event_id": event_id, "account_id": account_id, "type": type_, "payload": payload,
        "created_at": now,
    })
    _QUEUE_DELIVERIES[sqlite].execute(
        connection, {"event_row_id": row_id, "event_type": type_, "now": now}
    )
    return row_id


def _insert_event(numbered: bool) -> PreparedInsert:
    columns = ("event_id", "account_id", "type", "payload", "created_at")
    values: dict[str, Any] = {name: bindparam(name) for name in columns}
    if numbered:  # SQLite: the next position, in the event's own transaction
        next_position = select(func.coalesce(func.max(events.c.position), 0) + 1)
        values["position"] = next_position.scalar_subquery()
    return PreparedInsert(insert(events).values(values))


def _queue_deliveries(elements_function: str) -> Prepared:
    """INSERT ... SELECT one pending delivery per active webhook whose types are empty (every
    type) or include the event's; ``elements_function`` lists a JSON array's texts (SQLite's
    ``json_each``, PostgreSQL's ``json_array_elements_text``, both giving a ``value``)."""
    elements = getattr(func, elements_function)(webhooks.c.event_types).table_valued("value")
    subscribed = or_(
        func.json_array_length(webhooks.c.event_types) == 0,
        exists(select(literal(1)).select_from(elements)
               .where(elements.c.value == bindparam("event_type", type_=String))),
    )
    chosen = select(
        webhooks.c.id,
        bindparam("event_row_id", type_=BigInteger),
        literal("pending"),
        literal(0),
        bindparam("now", type_=webhook_deliveries.c.next_attempt_at.type),
    ).where(webhooks.c.active.is_(true()), subscribed)
    return Prepared(insert(webhook_deliveries).from_select(
        ["webhook_id", "event_id", "status", "attempts", "next_attempt_at"], chosen
    ))


_INSERT_EVENT = {True: _insert_event(numbered=True), False: _insert_event(numbered=False)}
_QUEUE_DELIVERIES = {True: _queue_deliveries("json_each"),
                     False: _queue_deliveries("json_array_elements_text")}


def has_unnumbered_events(connection: Connection) -> bool:
    """Whether a committed event waits for its position (a partial index answers)."""
    found = connection.execute(
        select(events.c.id).where(events.c.position.is_(None)).limit(1)
    ).first()
    return found is not None


def number_events(connection: Connection, *, batch: int) -> int:
    """Give the committed events that have none the next positions, in id order, at most
    ``batch`` of them; returns how many. Call it in a write transaction of its own: the
    numbering lock is held until that transaction ends, so numberings never interleave."""
    if not is_sqlite(connection):
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": NUMBERING_LOCK_KEY})
    waiting = connection.execute(
        select(events.c.id).where(events.c.position.is_(None)).order_by(events.c.id).limit(batch)
    ).scalars().all()
    if not waiting:
        return 0
    last = connection.execute(select(func.coalesce(func.max(events.c.position), 0))).scalar_one()
    connection.execute(
        update(events).where(events.c.id == bindparam("row_id"))
        .values(position=bindparam("new_position")),
        [{"row_id": row_id, "new_position": last + offset}
         for offset, row_id in enumerate(waiting, start=1)],
    )
    return len(waiting)


def list_events(
    connection: Connection,
    *,
    account_id: str | None,
    after: int | None,
    limit: int,
    types: tuple[str, ...],
) -> list[RowMapping]:
    """Numbered events in commit order after the position ``after``."""
    statement = (
        select(events).where(events.c.position.is_not(None))
        .order_by(events.c.position).limit(limit)
    )
    if account_id is not None:
        statement = statement.where(events.c.account_id == account_id)
    if after is not None:
        statement = statement.where(events.c.position > after)
    if types:
        statement = statement.where(events.c.type.in_(types))
    return list(connection.execute(statement).mappings())


def _claimable(now: datetime) -> Any:
    return (
        webhook_deliveries.c.status == "pending",
        webhook_deliveries.c.next_attempt_at <= now,
        or_(webhook_deliveries.c.claimed_until.is_(None),
            webhook_deliveries.c.claimed_until < now),
    )


def claim_deliveries(
    connection: Connection, *, now: datetime, until: datetime, batch: int
) -> list[dict[str, Any]]:
    """Claim up to ``batch`` due deliveries of numbered events until ``until``; returns each
    with what sending it needs. Deliveries another transaction is claiming are skipped, not
    waited for (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time),
    and the claim's condition is checked again on the row it updates, so no delivery is
    claimed twice while its claim lasts."""
    due = (
        select(webhook_deliveries.c.id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(*_claimable(now), events.c.position.is_not(None))
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True, of=webhook_deliveries)
    )
    claimed = connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(due.scalar_subquery()), *_claimable(now))
        .values(claimed_until=until)
        .returning(webhook_deliveries.c.id)
    ).scalars().all()
    if not claimed:
        return []
    rows = connection.execute(
        select(
            webhook_deliveries.c.id.label("delivery_id"), webhook_deliveries.c.attempts,
            webhooks.c.url, webhooks.c.secret, events.c.position, events.c.event_id,
            events.c.type, events.c.account_id, events.c.payload, events.c.created_at,
        )
        .select_from(webhook_deliveries)
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(webhook_deliveries.c.id.in_(claimed))
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def finish_delivery(connection: Connection, delivery_id: int, values: dict[str, Any]) -> None:
    connection.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values)
    )


def release_claims(connection: Connection, delivery_ids: list[int]) -> None:
    """Give back claims not used (the next pass, here or on another server, sends them)."""
    connection.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.id.in_(delivery_ids))
        .values(claimed_until=None)
    )


def insert_webhook(
    connection: Connection, *, webhook_id: str, url: str, secret: str, event_types: list[str],
    now: datetime,
) -> None:
    connection.execute(insert(webhooks).values(
        id=webhook_id, url=url, secret=secret, event_types=event_types, active=True,
        created_at=now,
    ))


def webhook_rows(connection: Connection) -> list[RowMapping]:
    return list(connection.execute(select(webhooks).order_by(webhooks.c.created_at)).mappings())


def deactivate_webhook(connection: Connection, webhook_id: str) -> bool:
    """Stop a webhook (its deliveries already written are still sent); False if unknown."""
    result = connection.execute(
        update(webhooks).where(webhooks.c.id == webhook_id).values(active=False)
    )
    return bool(result.rowcount)


def delivery_counts(connection: Connection) -> dict[str, int]:
    rows = connection.execute(
        select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
    ).all()
    return {status: int(count) for status, count in rows}
