"""A pool's members and an account's project caps: operator edits of one account, each
idempotent by its key (the account's row lock serializes the calls, as for a grant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.ledger import AccountKind
from gencredits.domain.results import AccountView
from gencredits.service.accounts import account_view, check_member, check_project
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.service.mutation import Mutation
from gencredits.store import queries
from gencredits.store.queries import AccountRow
from gencredits.store.queries import members as member_queries


def set_members(
    ctx: Context,
    account_id: str,
    *,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    actor: str,
    idempotency_key: str | None = None,
) -> AccountView:
    for field, member in (*(("add", m) for m in add), *(("remove", m) for m in remove)):
        check_member(member, field)
    check_key(idempotency_key)

    def perform(connection: Connection, account: AccountRow, now: datetime) -> AccountView:
        if add:  # an account with members is a shared pool
            queries.update_account(connection, account_id, kind=AccountKind.POOL.value)
        existing = member_queries.member_ids(connection, account_id)
        member_queries.add_members(connection, account_id, sorted(set(add) - existing), now)
        if remove:
            member_queries.remove_members(connection, account_id, remove)
        return account_view(connection, account_id)

    mutation = Mutation(
        scope=account_id, key=idempotency_key, operation="set_members",
        payload={"add": sorted(add), "remove": sorted(remove)},
        encode=AccountView.as_dict, decode=AccountView.from_dict,
    )
    return ctx.account_mutation(account_id, mutation, perform)


def set_project_cap(
    ctx: Context,
    account_id: str,
    project: str,
    cap_credits: int | None,
    *,
    idempotency_key: str | None = None,
) -> None:
    """Cap what ``project`` may spend per cycle (``None`` removes the cap)."""
    check_project(project)
    if cap_credits is not None and not 0 <= cap_credits <= limits.MAX_AMOUNT_CREDITS:
        raise InvalidRequest("a cap is a whole number of credits, 0 or more", field="cap")
    check_key(idempotency_key)

    def perform(connection: Connection, account: AccountRow, now: datetime) -> None:
        member_queries.set_project_cap(connection, account_id, project, cap_credits, now)

    mutation: Mutation[None] = Mutation(
        scope=account_id, key=idempotency_key, operation="set_project_cap",
        payload={"project": project, "cap": cap_credits},
        encode=_nothing, decode=_none,
    )
    ctx.account_mutation(account_id, mutation, perform)


def _nothing(_: None) -> dict[str, Any]:
    return {}


def _none(_: Any) -> None:
    return None
