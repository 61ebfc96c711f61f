"""What happens to an account by itself as time passes: renewals and expiries.

An account's row keeps ``next_event_at``, the earliest moment something is due: the end of
its billing cycle, a grant's expiry, a hold's TTL. Any unit of work that touches the account
first calls :func:`catch_up`; before ``next_event_at`` that costs nothing. Past it, the due
events are applied in time order, each entry dated when it took effect (``effective_at``):

1. grants past their expiry expire (an ``expire`` entry for what was left: no rollover);
2. holds past their TTL are released (``release``), their credits returned to their grants;
3. a cycle that has ended renews: a pending downgrade takes effect, and the plan's allowance
   for the new cycle is granted, once per cycle (``UNIQUE (account_id, cycle_number)``). An
   account at the balance ceiling (``limits.MAX_BALANCE_CREDITS``) gets only the room left
   (none at all when it is full): renewals are capped and recorded, never refused.

Renewal run late processes each missed cycle (at most ``MAX_CATCH_UP_CYCLES``); run twice, or
from several processes at once, it finds nothing left to do, because the account row is
locked and the cycle already moved on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain import holds
from gencredits.domain.balances import room_under_ceiling
from gencredits.domain.ledger import DEFAULT_PRIORITY, EntryKind, GrantSource
from gencredits.domain.limits import LOW_BALANCE_PERCENT
from gencredits.domain.plans import Plan, Plans, cycle_bounds, cycle_index_at
from gencredits.service import events
from gencredits.service.book import FAR_FUTURE_EVENT, AccountBook
from gencredits.store import queries
from gencredits.store.queries import AccountRow
from gencredits.store.queries import grants as grant_queries
from gencredits.store.queries import holds as hold_queries

# Bounds the work of one catch-up (a dormant account renews at most this many cycles at once;
# older allowances would have expired unused anyway).
MAX_CATCH_UP_CYCLES = 36
MAX_CATCH_UP_EVENTS = 10_000

SYSTEM_ACTOR = "system"


def catch_up(
    connection: Connection, account: AccountRow, plans: Plans, now: datetime
) -> AccountRow:
    """Apply every event due by ``now`` to a locked account; returns the account after."""
    if now < account.next_event_at:
        return account
    for _ in range(MAX_CATCH_UP_EVENTS):
        moment = _next_due(connection, account, plans, now)
        if moment is None:
            break
        account = _apply_events_at(connection, account, plans, moment, now)
    else:  # pragma: no cover - a bound, not a path
        raise AssertionError(f"account {account.id} had more than {MAX_CATCH_UP_EVENTS} events")
    next_event_at = next_event(connection, account, plans)
    queries.update_account(connection, account.id, next_event_at=next_event_at)
    return replace(account, next_event_at=next_event_at)


def next_event(connection: Connection, account: AccountRow, plans: Plans) -> datetime:
    moments = [
        queries.next_grant_expiry(connection, account.id),
        queries.next_hold_expiry(connection, account.id),
    ]
    if plans.get(account.plan_id).is_recurring():
        moments.append(account.cycle_ends_at)
    return min((m for m in moments if m is not None), default=FAR_FUTURE_EVENT)


def _next_due(
    connection: Connection, account: AccountRow, plans: Plans, now: datetime
) -> datetime | None:
    moments = [
        queries.next_grant_expiry(connection, account.id),
        queries.next_hold_expiry(connection, account.id),
    ]
    if plans.get(account.plan_id).is_recurring():
        moments.append(account.cycle_ends_at)
    due = [m for m in moments if m is not None and m <= now]
    return min(due) if due else None


def _apply_events_at(
    connection: Connection, account: AccountRow, plans: Plans, moment: datetime, now: datetime
) -> AccountRow:
    book = AccountBook(connection, account, now, SYSTEM_ACTOR, spending=False)
    expire_grants(book, moment)
    expire_holds(book, moment)
    account = book.save()
    plan = plans.get(account.plan_id)
    if plan.is_recurring() and account.cycle_ends_at <= moment:
        account = renew(connection, account, plans, now)
    return account


def expire_grants(book: AccountBook, moment: datetime) -> None:
    """Expire every grant due by ``moment``: what is left of it is gone."""
    for grant in queries.grants_due(book.connection, book.account.id, moment):
        queries.mark_grant_expired(book.connection, grant["id"], expires_at=grant["expires_at"])
        left = grant["remaining_credits"]
        if left:
            book.record(
                EntryKind.EXPIRE,
                left,
                available_delta=-left,
                grants=((grant["id"], left),),
                effective_at=grant["expires_at"],
                reason=f"{grant['source']} credits expired unused",
            )


def expire_holds(book: AccountBook, moment: datetime) -> None:
    """Release every hold whose TTL passed by ``moment``; its credits go back to its grants,
    dated at its expiry (the settlement is ``domain.holds.expire``'s)."""
    for row in queries.holds_due(book.connection, book.account.id, moment):
        held = hold_queries.held_credits(row)
        assert holds.is_due(held, moment)
        settlement = holds.expire(held)
        at = settlement.settled_at
        queries.settle_hold(
            book.connection, held.hold_id, settlement.status,
            settlement.recorded_captured_credits, at,
        )
        amount = settlement.released_credits
        book.record(
            EntryKind.RELEASE,
            amount,
            available_delta=amount,
            held_delta=-amount,
            grants=settlement.released_allocations,
            hold_id=held.hold_id,
            project=row["project"],
            job_ref=row["job_ref"],
            model_id=row["model_id"],
            effective_at=at,
            reason="hold expired unsettled",
        )
        book.return_credits(settlement.released_allocations, effective_at=at, hold_id=held.hold_id)
        events.emit(
            book.connection, events.EventType.HOLD_EXPIRED, account_id=book.account.id,
            payload={"hold_id": held.hold_id, "amount": amount, "job_ref": row["job_ref"],
                     "expired_at": at.isoformat()},
            now=book.now,
        )


def renew(connection: Connection, account: AccountRow, plans: Plans, now: datetime) -> AccountRow:
    """Start the cycle after the current one (its allowance is granted at its start)."""
    boundary = account.cycle_ends_at
    previous_plan = account.plan_id
    if account.pending_plan_id is not None:
        # A downgrade takes effect at renewal. On the same calendar (monthly to monthly) the
        # subscription date stays the anchor, so a cycle anchored on the 31st does not drift
        # to the 28th for good; otherwise the new plan's cycles start here.
        plan = plans.get(account.pending_plan_id)
        if plan.is_recurring() and plan.period is plans.get(account.plan_id).period:
            anchor, index = account.anchor_at, account.cycle_index + 1
        else:
            anchor, index = boundary, 0
        renewed = start_cycle(connection, account, plan, anchor=anchor, index=index, now=now)
    else:
        plan = plans.get(account.plan_id)
        # A long-dormant account renews its recent cycles only (bounded work).
        latest = cycle_index_at(plan, account.anchor_at, now)
        index = max(account.cycle_index + 1, latest - MAX_CATCH_UP_CYCLES + 1)
        renewed = start_cycle(
            connection, account, plan, anchor=account.anchor_at, index=index, now=now
        )
    events.emit(
        connection, events.EventType.RENEWAL, account_id=account.id,
        payload={"plan": renewed.plan_id, "previous_plan": previous_plan,
                 "allowance": plan.allowance_credits,
                 "cycle_start": renewed.cycle_starts_at.isoformat(),
                 "cycle_end": renewed.cycle_ends_at.isoformat()},
        now=now,
    )
    return renewed


def start_cycle(
    connection: Connection,
    account: AccountRow,
    plan: Plan,
    *,
    anchor: datetime,
    index: int,
    now: datetime,
    actor: str = SYSTEM_ACTOR,
) -> AccountRow:
    """Move the account into cycle ``index`` of ``plan`` anchored at ``anchor`` and grant its
    allowance. The grant's ``cycle_number`` is unique per account: a cycle is granted once."""
    starts_at, ends_at = cycle_bounds(plan, anchor, index)
    cycle_number = account.cycle_number + 1
    low_balance = plan.allowance_credits * LOW_BALANCE_PERCENT // 100
    changes: dict[str, Any] = {
        "plan_id": plan.id,
        "pending_plan_id": None,
        "anchor_at": anchor,
        "cycle_index": index,
        "cycle_number": cycle_number,
        "cycle_starts_at": starts_at,
        "cycle_ends_at": ends_at,
        "low_balance_credits": low_balance,
    }
    account = replace(account, **changes)
    queries.update_account(connection, account.id, **changes)
    # At the balance ceiling the allowance is cut to the room left (a renewal is never
    # refused: the sweep must go on), and the entry's reason says so.
    granted = min(plan.allowance_credits, room_under_ceiling(account.balance_credits))
    if granted > 0 and not _once_plan_used(connection, account.id, plan):
        source = GrantSource(plan.grant_source)
        grant_id = queries.insert_grant(
            connection,
            account_id=account.id,
            source=source.value,
            amount_credits=granted,
            remaining_credits=granted,
            priority=DEFAULT_PRIORITY[source],
            starts_at=starts_at,
            expires_at=ends_at,
            expired=False,
            cycle_number=cycle_number,
            created_at=now,
        )
        book = AccountBook(connection, account, now, actor, spending=False)
        capped = "" if granted == plan.allowance_credits else ", cut to the balance ceiling"
        book.record(
            EntryKind.GRANT,
            granted,
            available_delta=granted,
            grants=((grant_id, granted),),
            effective_at=starts_at,
            reason=f"{plan.name} allowance, {starts_at:%Y-%m-%d} to {ends_at:%Y-%m-%d}{capped}",
        )
        book.event_at(ends_at)
        account = book.save()
    return account


def _once_plan_used(connection: Connection, account_id: str, plan: Plan) -> bool:
    """A once plan (the free trial) grants its allowance once per account: a subscriber who
    later returns to it gets its cycle, not a second trial."""
    if plan.is_recurring():
        return False
    return grant_queries.has_cycle_grant(connection, account_id, plan.grant_source)
