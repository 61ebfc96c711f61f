"""Charges, holds and their settlement, refunds, grants, adjustments and transfers.

Every mutation needs an ``Idempotency-Key`` header; the key goes to the library, which stores
it in the same transaction as the effect, so a replay returns the first result exactly.

The hot two, charge and hold, are ``async def``: a sync endpoint costs FastAPI two hops through
the thread pool (the call, then the response validation). A hold runs the library call in the
pool itself (one hop); a charge awaits ``Gencredits.charge_async``, which with group commit on
(the server's default) hands it to the group-commit writer thread and parks no thread at all.
The others are plain sync endpoints.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, status
from starlette.concurrency import run_in_threadpool

from gencredits.api.deps import Caller, IdempotencyKey, Operator, Service
from gencredits.api.http import checked_router
from gencredits.api.schemas import (
    AdjustmentIn,
    CaptureIn,
    ChargeIn,
    EntryOut,
    GrantIn,
    HoldIn,
    HoldOut,
    RefundIn,
    RowId,
    SettlementOut,
    TransferIn,
    TransferOut,
)
from gencredits.documents.requests import request_from_specs
from gencredits.domain.errors import InsufficientCredits, NotFound, ProjectCapExceeded
from gencredits.domain.ledger import Hold
from gencredits.service.clock import as_utc

router = checked_router(prefix="/v1", tags=["charging"])
REFUSAL: dict[int | str, dict[str, Any]] = {
    402: {"description": "Not enough credits (available and required in the body)"}
}


def _metrics(request: Request) -> Any:
    return request.app.state.metrics


@router.post(
    "/accounts/{account_id}/charges",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    responses=REFUSAL,
    summary="Charge a request at once (402 and nothing written when credits are short)",
)
async def charge(
    account_id: str, body: ChargeIn, request: Request, credits: Service, caller: Caller,
    key: IdempotencyKey,
) -> dict[str, Any]:
    caller.check_account(account_id)
    metrics = _metrics(request)
    try:
        entry = await credits.charge_async(
            account_id, request_from_specs(body.lines), idempotency_key=key,
            price_version=body.price_version, project=body.project, job_ref=body.job_ref,
            actor=caller.actor,
        )
    except (InsufficientCredits, ProjectCapExceeded) as error:
        metrics.refusals.labels(error.code).inc()
        raise
    metrics.charges.inc()
    metrics.charged_credits.inc(entry.amount_credits)
    return entry.as_dict()


@router.post(
    "/accounts/{account_id}/holds",
    response_model=HoldOut,
    status_code=status.HTTP_201_CREATED,
    responses=REFUSAL,
    summary="Reserve a request's price for a job that takes time (video)",
)
async def create_hold(
    account_id: str, body: HoldIn, request: Request, credits: Service, caller: Caller,
    key: IdempotencyKey,
) -> dict[str, Any]:
    caller.check_account(account_id)
    metrics = _metrics(request)
    try:
        held = await run_in_threadpool(
            credits.hold, account_id, request_from_specs(body.lines), idempotency_key=key,
            price_version=body.price_version, ttl_seconds=body.ttl_seconds,
            project=body.project, job_ref=body.job_ref, actor=caller.actor,
        )
    except (InsufficientCredits, ProjectCapExceeded) as error:
        metrics.refusals.labels(error.code).inc()
        raise
    metrics.holds.labels("created").inc()
    return held.as_dict()


def _own_hold(credits: Service, caller: Caller, hold_id: int) -> Hold:
    held = credits.get_hold(hold_id)
    if not caller.is_operator and held.account_id != caller.key.account_id:
        raise NotFound("hold", hold_id, field="hold_id")
    return held


@router.get("/holds/{hold_id}", response_model=HoldOut, summary="One hold and its status")
def show_hold(hold_id: RowId, credits: Service, caller: Caller) -> dict[str, Any]:
    return _own_hold(credits, caller, hold_id).as_dict()


@router.post(
    "/holds/{hold_id}/capture",
    response_model=SettlementOut,
    summary="Capture a hold: all, an amount, or the price of the outputs delivered",
)
def capture(
    hold_id: RowId, body: CaptureIn, request: Request, credits: Service, caller: Caller,
    key: IdempotencyKey,
) -> dict[str, Any]:
    _own_hold(credits, caller, hold_id)
    settled = credits.capture(
        hold_id, amount_credits=body.amount, outputs_delivered=body.outputs_delivered,
        idempotency_key=key, actor=caller.actor,
    )
    _metrics(request).holds.labels("captured").inc()
    return settled.as_dict()


@router.post("/holds/{hold_id}/release", response_model=HoldOut,
             summary="Release a hold: every credit returns")
def release(
    hold_id: RowId, request: Request, credits: Service, caller: Caller, key: IdempotencyKey
) -> dict[str, Any]:
    _own_hold(credits, caller, hold_id)
    released = credits.release(hold_id, idempotency_key=key, actor=caller.actor)
    _metrics(request).holds.labels("released").inc()
    return released.as_dict()


@router.post("/entries/{entry_id}/refund", response_model=EntryOut,
             status_code=status.HTTP_201_CREATED,
             summary="Refund all or part of a charge (operator)")
def refund(
    entry_id: RowId, body: RefundIn, credits: Service, caller: Operator, key: IdempotencyKey
) -> dict[str, Any]:
    return credits.refund(entry_id, amount_credits=body.amount, reason=body.reason,
                          idempotency_key=key, actor=caller.actor).as_dict()


@router.post("/accounts/{account_id}/grants", response_model=EntryOut,
             status_code=status.HTTP_201_CREATED,
             summary="Grant credits: promo, trial, adjustment, or top-up when switched on")
def grant(
    account_id: str, body: GrantIn, credits: Service, caller: Operator, key: IdempotencyKey
) -> dict[str, Any]:
    return credits.grant(
        account_id, body.amount, source=body.source,
        expires_at=as_utc(body.expires_at) if body.expires_at else None,
        priority=body.priority, reason=body.reason, idempotency_key=key, actor=caller.actor,
    ).as_dict()


@router.post("/accounts/{account_id}/adjustments", response_model=EntryOut,
             status_code=status.HTTP_201_CREATED,
             summary="Correct a balance up or down, with a reason (operator)")
def adjust(
    account_id: str, body: AdjustmentIn, credits: Service, caller: Operator, key: IdempotencyKey
) -> dict[str, Any]:
    return credits.adjust(
        account_id, body.amount, reason=body.reason,
        expires_at=as_utc(body.expires_at) if body.expires_at else None,
        idempotency_key=key, actor=caller.actor,
    ).as_dict()


@router.post("/transfers", response_model=TransferOut, status_code=status.HTTP_201_CREATED,
             summary="Move credits between two accounts atomically (operator)")
def transfer(body: TransferIn, credits: Service, caller: Operator, key: IdempotencyKey
             ) -> dict[str, Any]:
    return credits.transfer(body.from_account, body.to_account, body.amount, reason=body.reason,
                            idempotency_key=key, actor=caller.actor).as_dict()
