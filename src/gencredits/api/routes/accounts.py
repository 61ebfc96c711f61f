"""Accounts, members, plan changes, project caps and history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status

from gencredits.api.deps import (
    Caller,
    IdempotencyKey,
    Operator,
    OptionalIdempotencyKey,
    Service,
)
from gencredits.api.http import checked_router
from gencredits.api.schemas import (
    AccountIn,
    AccountOut,
    AccountPageOut,
    Cursor,
    EntryOut,
    EntryPageOut,
    MembersIn,
    PlanChangeIn,
    PlanChangeOut,
    ProjectCapIn,
    RowId,
)
from gencredits.documents.bounds import BoundedMoment
from gencredits.domain import limits
from gencredits.domain.errors import NotFound
from gencredits.domain.ledger import EntryKind

router = checked_router(prefix="/v1", tags=["accounts"])


@router.post(
    "/accounts",
    response_model=AccountOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open an account on a plan (operator); its first allowance is granted at once",
)
def create_account(
    body: AccountIn, credits: Service, caller: Operator, key: IdempotencyKey
) -> dict[str, Any]:
    return credits.create_account(
        body.id, name=body.name, plan=body.plan, kind=body.kind, members=tuple(body.members),
        idempotency_key=key, actor=caller.actor,
    ).as_dict()


@router.get("/accounts", response_model=AccountPageOut, summary="Accounts in id order (operator)")
def list_accounts(
    credits: Service,
    _: Operator,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = limits.DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    page = credits.accounts(after=after, limit=limit)
    return {
        "accounts": [account.as_dict() for account in page],
        "next_cursor": page[-1].id if len(page) == limit else None,
    }


@router.get(
    "/accounts/{account_id}",
    response_model=AccountOut,
    summary="Balance, available, held, plan and the current cycle",
)
def show_account(account_id: str, credits: Service, caller: Caller) -> dict[str, Any]:
    caller.check_account(account_id)
    return credits.account(account_id).as_dict()


@router.post("/accounts/{account_id}/members", response_model=AccountOut,
             summary="Add or remove members of a shared pool (operator)")
def set_members(account_id: str, body: MembersIn, credits: Service, caller: Operator,
                key: OptionalIdempotencyKey) -> dict[str, Any]:
    return credits.set_members(account_id, add=tuple(body.add), remove=tuple(body.remove),
                               actor=caller.actor, idempotency_key=key).as_dict()


@router.put(
    "/accounts/{account_id}/plan",
    response_model=PlanChangeOut,
    summary="Change plan (operator): upgrades now, downgrades at the next renewal",
)
def change_plan(
    account_id: str, body: PlanChangeIn, credits: Service, caller: Operator, key: IdempotencyKey
) -> dict[str, Any]:
    return credits.change_plan(account_id, body.plan, idempotency_key=key,
                               actor=caller.actor).as_dict()


@router.put("/accounts/{account_id}/projects/{project}/cap", status_code=204,
            summary="Cap a project's credits per cycle (operator); null removes the cap")
def set_project_cap(account_id: str, project: str, body: ProjectCapIn, credits: Service,
                    _: Operator, key: OptionalIdempotencyKey) -> None:
    credits.set_project_cap(account_id, project, body.cap, idempotency_key=key)


@router.get(
    "/accounts/{account_id}/entries",
    response_model=EntryPageOut,
    summary="The ledger of one account, newest first, cursor-paged and filterable",
)
def history(
    account_id: str,
    credits: Service,
    caller: Caller,
    kind: Annotated[list[EntryKind] | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=64)] = None,
    project: Annotated[str | None, Query(max_length=120)] = None,
    since: Annotated[BoundedMoment | None, Query()] = None,
    until: Annotated[BoundedMoment | None, Query()] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = limits.DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    caller.check_account(account_id)
    page = credits.history(
        account_id, kinds=tuple(k.value for k in kind or ()), model_id=model, project=project,
        since=since, until=until, cursor=cursor, limit=limit,
    )
    return page.as_dict()


@router.get("/entries/{entry_id}", response_model=EntryOut,
            summary="One entry, with the quote that priced it (why it cost what it did)")
def show_entry(entry_id: RowId, credits: Service, caller: Caller) -> dict[str, Any]:
    entry = credits.entry(entry_id)
    if not caller.is_operator and entry.account_id != caller.key.account_id:
        # Say "entry not found", as for a missing id: naming the owner would tell an account
        # key which other accounts exist.
        raise NotFound("entry", entry_id, field="entry_id")
    return entry.as_dict()
