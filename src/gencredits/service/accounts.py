"""Accounts: opening one on a plan, reading its balance and cycle, members, plan changes.

Reading an account brings it up to date first (renewals and expiries happen lazily on any
access), so a balance is never shown stale.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import Conflict, InvalidRequest, NotFound
from gencredits.domain.ledger import AccountKind, EntryKind
from gencredits.domain.plans import Plan, PlanChange, classify_change
from gencredits.domain.results import AccountView, PlanChangeResult
from gencredits.service.book import FAR_FUTURE_EVENT, AccountBook
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.service.mutation import Mutation, claim_once
from gencredits.service.timeline import start_cycle
from gencredits.store import queries
from gencredits.store.engine import read_transaction
from gencredits.store.failures import DuplicateRow
from gencredits.store.queries import AccountRow
from gencredits.store.queries import accounts as account_queries
from gencredits.store.queries import grants as grant_queries
from gencredits.store.queries import members as member_queries

ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")


def create_account(
    ctx: Context,
    *,
    account_id: str | None,
    name: str,
    plan_id: str | None,
    kind: AccountKind,
    members: tuple[str, ...],
    idempotency_key: str | None,
    actor: str,
) -> AccountView:
    check_key(idempotency_key)
    requested_id = account_id
    account_id = account_id or f"acct_{secrets.token_hex(8)}"
    if not ACCOUNT_ID.match(account_id):
        raise InvalidRequest(
            "an account id is 1 to 64 letters, digits and _ . : @ -, starting with a letter "
            "or digit",
            field="account_id",
        )
    name = name.strip()
    if not 1 <= len(name) <= limits.MAX_LABEL_LENGTH:
        raise InvalidRequest(f"a name has 1 to {limits.MAX_LABEL_LENGTH} characters", field="name")
    plans = ctx.all_plans(fresh=True)  # its first allowance as the plan stands now
    plan = plans.get(plan_id or plans.default_plan_id)
    for member in members:
        check_member(member)
    payload = {
        "account_id": requested_id,
        "name": name,
        "plan": plan.id,
        "kind": kind.value,
        "members": sorted(members),
    }
    try:
        return _open(ctx, account_id, name, plan, kind, members, idempotency_key, actor, payload)
    except DuplicateRow:
        # Two openings raced (PostgreSQL has no row to lock yet): the loser retries once and
        # finds the winner's account, or its idempotency key, like any later call would.
        return _open(ctx, account_id, name, plan, kind, members, idempotency_key, actor, payload)


def _open(
    ctx: Context,
    account_id: str,
    name: str,
    plan: Plan,
    kind: AccountKind,
    members: tuple[str, ...],
    idempotency_key: str | None,
    actor: str,
    payload: dict[str, Any],
) -> AccountView:
    now = ctx.now()
    with ctx.unit_of_work() as connection:

        def perform() -> AccountView:
            if queries.read_account(connection, account_id) is not None:
                raise Conflict(f"account {account_id!r} already exists")
            account_queries.insert_account(
                connection, account_id=account_id, name=name, kind=kind.value,
                plan_id=plan.id, now=now, next_event_at=FAR_FUTURE_EVENT,
            )
            member_queries.add_members(connection, account_id, sorted(set(members)), now)
            account = queries.read_account(connection, account_id)
            assert account is not None
            start_cycle(connection, account, plan, anchor=now, index=0, now=now, actor=actor)
            return account_view(connection, account_id)

        # No row to lock yet: the key is claimed first, so a concurrent twin waits on it and
        # replays this answer (it used to read the key, then find the account: a 409).
        mutation = Mutation(
            scope="accounts",  # opening accounts is the operator's; one key space for it
            key=idempotency_key,
            operation="create_account",
            payload=payload,
            encode=AccountView.as_dict,
            decode=AccountView.from_dict,
        )
        return claim_once(connection, mutation, now, perform)


def get_account(ctx: Context, account_id: str) -> AccountView:
    now = ctx.now()
    with read_transaction(ctx.engine) as connection:
        account = queries.read_account(connection, account_id)
        if account is None:
            raise NotFound("account", account_id, field="account_id")
        if now < account.next_event_at:
            return account_view(connection, account_id, account)
    with ctx.unit_of_work() as connection:
        ctx.open_account(connection, account_id, now)
        return account_view(connection, account_id)


def account_view(
    connection: Connection, account_id: str, account: AccountRow | None = None
) -> AccountView:
    account = account or queries.read_account(connection, account_id)
    assert account is not None
    allowance = grant_queries.cycle_allowance(connection, account_id, account.cycle_number)
    active_holds = queries.pending_hold_count(connection, account_id)
    members = member_queries.sorted_member_ids(connection, account_id)
    allowance_credits = allowance[0] if allowance else 0
    return AccountView(
        id=account.id,
        name=account.name,
        kind=account.kind,
        plan_id=account.plan_id,
        pending_plan_id=account.pending_plan_id,
        balance_credits=account.balance_credits,
        available_credits=account.available_credits,
        held_credits=account.held_credits,
        active_holds=active_holds,
        cycle_starts_at=account.cycle_starts_at,
        cycle_ends_at=account.cycle_ends_at,
        allowance_credits=allowance_credits,
        allowance_used_credits=allowance_credits - allowance[1] if allowance else 0,
        members=members,
        created_at=account.created_at,
    )


def list_accounts(ctx: Context, *, after: str | None, limit: int) -> list[AccountView]:
    """Accounts in id order; ``after`` is the cursor (the last id of the previous page)."""
    limit = _page_size(limit)
    with read_transaction(ctx.engine) as connection:
        ids = account_queries.page_account_ids(connection, after=after, limit=limit)
        return [account_view(connection, account_id) for account_id in ids]


def change_plan(
    ctx: Context, account_id: str, plan_id: str, *, idempotency_key: str | None, actor: str
) -> PlanChangeResult:
    """Upgrades apply at once (the current allowance expires, a new cycle starts with the new
    allowance); downgrades wait for the next renewal; choosing the current plan again cancels
    a pending downgrade. No sequence of changes grants one cycle twice."""
    check_key(idempotency_key)

    def perform(connection: Connection, account: AccountRow, now: datetime) -> PlanChangeResult:
        # as the database has them (another process may have just defined or redefined one):
        # an upgrade grants the target's allowance at once
        plans = ctx.all_plans(connection, fresh=True)
        target = plans.get(plan_id)
        current = plans.get(account.plan_id)
        pending = plans.get(account.pending_plan_id) if account.pending_plan_id else None
        change = classify_change(current, pending, target)
        if change is PlanChange.UPGRADE:
            book = AccountBook(connection, account, now, actor, spending=False)
            _end_allowance_now(book, account)
            start_cycle(connection, book.save(), target, anchor=now, index=0, now=now, actor=actor)
        elif change is PlanChange.DOWNGRADE:
            queries.update_account(connection, account_id, pending_plan_id=target.id)
        elif change is PlanChange.CANCEL_DOWNGRADE:
            queries.update_account(connection, account_id, pending_plan_id=None)
        return PlanChangeResult(change, account_view(connection, account_id))

    mutation = Mutation(
        scope=account_id, key=idempotency_key, operation="change_plan",
        payload={"plan": plan_id},
        encode=PlanChangeResult.as_dict, decode=PlanChangeResult.from_dict,
    )
    return ctx.account_mutation(account_id, mutation, perform)


def _end_allowance_now(book: AccountBook, account: AccountRow) -> None:
    """The current cycle's allowance ends with the cycle (no rollover into the new plan)."""
    rows = grant_queries.live_cycle_grants(book.connection, account.id, account.cycle_number)
    for grant_id, remaining, source in rows:
        queries.mark_grant_expired(book.connection, grant_id, expires_at=book.now)
        if remaining:
            book.record(
                EntryKind.EXPIRE,
                remaining,
                available_delta=-remaining,
                grants=((grant_id, remaining),),
                reason=f"{source} credits of the replaced plan expired at the upgrade",
            )


def check_project(project: str | None) -> None:
    if project is not None and not 1 <= len(project) <= limits.MAX_LABEL_LENGTH:
        raise InvalidRequest(
            f"a project label has 1 to {limits.MAX_LABEL_LENGTH} characters", field="project"
        )


def check_member(member: str, field: str = "members") -> None:
    if not 1 <= len(member) <= limits.MAX_LABEL_LENGTH or not member.isprintable():
        raise InvalidRequest(f"{field}: a member id has 1 to 120 printable characters", field=field)


def _page_size(limit: int) -> int:
    if not 1 <= limit <= limits.MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be between 1 and {limits.MAX_PAGE_SIZE}", field="limit")
    return limit
