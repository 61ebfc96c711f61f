"""Holds: credits reserved for a job (:func:`hold`), then settled once, by a capture of all or
part of them (:func:`capture`, the rest released) or a release of all (:func:`release`).

A hold is prepared and priced like a charge (service/pricing.py's ``prepare_spend``, with the
charge's replay of a request that no longer prices). Capture and release share one
:func:`_settle`: find the hold, lock its account, read the held credits under the lock, ask
``domain/holds.py`` for the settlement (it refuses a hold no longer pending, or a capture above
the hold), then record it once per idempotency key (:func:`_record`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection

from gencredits.documents.requests import request_to_json
from gencredits.domain import holds, limits
from gencredits.domain.errors import (
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    ProjectCapExceeded,
    TooManyOpenHolds,
)
from gencredits.domain.holds import HeldCredits, HoldSettlement
from gencredits.domain.ledger import EntryKind, Hold, HoldStatus
from gencredits.domain.pricing import QuoteRequest
from gencredits.domain.results import Settlement
from gencredits.service.book import AccountBook
from gencredits.service.charge_records import note_refusal, prepared_or_replayed
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.service.mutation import Mutation
from gencredits.service.pricing import (
    Spend,
    check_amount,
    check_project_cap,
    model_of,
    prepare_spend,
    price_of_delivered,
    spend,
)
from gencredits.store import queries
from gencredits.store.queries import AccountRow
from gencredits.store.queries import holds as hold_queries

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class _HoldAsked:
    """What :func:`hold` was asked for, beside its price."""

    request: QuoteRequest
    ttl_seconds: int
    project: str | None
    job_ref: str | None
    idempotency_key: str | None
    actor: str


def hold(
    ctx: Context,
    account_id: str,
    request: QuoteRequest,
    *,
    idempotency_key: str | None,
    price_version: int | None = None,
    ttl_seconds: int = limits.DEFAULT_HOLD_TTL_SECONDS,
    project: str | None = None,
    job_ref: str | None = None,
    actor: str,
) -> Hold:
    """Reserve the price of ``request`` until it is captured or released, or ``ttl_seconds``
    pass (then it is released by itself)."""
    payload = {
        "lines": request_to_json(request),
        "project": project,
        "job_ref": job_ref,
        "price_version": price_version,
        "ttl_seconds": ttl_seconds,
    }
    prepared = prepared_or_replayed(
        ctx, account_id, idempotency_key, "hold", lambda: payload,
        lambda _, data: Hold.from_dict(data),
        lambda: prepare_spend(
            ctx, request, idempotency_key=idempotency_key, price_version=price_version,
            project=project, job_ref=job_ref, ttl_seconds=ttl_seconds,
        ),
    )
    if isinstance(prepared, Hold):
        return prepared
    asked = _HoldAsked(request, ttl_seconds, project, job_ref, idempotency_key, actor)
    mutation = Mutation(account_id, idempotency_key, "hold", payload, Hold.as_dict, Hold.from_dict)
    try:
        return ctx.locked_mutation(
            lambda connection, now: ctx.open_account(connection, account_id, now),
            lambda _: mutation,
            lambda connection, account, _: _reserve(connection, account, prepared, asked),
            now=prepared.now,
        )
    except (InsufficientCredits, ProjectCapExceeded) as error:
        note_refusal(ctx, account_id, error, model_of(prepared.priced), project)
        raise


def _reserve(connection: Connection, account: AccountRow, spent: Spend, asked: _HoldAsked) -> Hold:
    """Write a hold on the locked ``account``: its row, and the entry that moves its credits
    from available to held."""
    priced, now, total = spent.priced, spent.now, spent.priced.total_credits
    if queries.pending_hold_count(connection, account.id) >= limits.MAX_OPEN_HOLDS:
        raise TooManyOpenHolds(limits.MAX_OPEN_HOLDS)
    check_project_cap(connection, account, asked.project, total)
    book = AccountBook(connection, account, now, asked.actor)
    allocations = spend(book, total, now)
    expires_at = now + timedelta(seconds=asked.ttl_seconds)
    created = queries.insert_hold(
        connection,
        account_id=account.id,
        status=HoldStatus.PENDING.value,
        amount_credits=total,
        captured_credits=None,
        allocations=[list(a) for a in allocations],
        request=request_to_json(asked.request),
        quote=priced.as_dict(),
        price_version=priced.price_version,
        model_id=model_of(priced),
        project=asked.project,
        job_ref=asked.job_ref,
        actor=asked.actor,
        created_at=now,
        expires_at=expires_at,
    )
    book.record(
        EntryKind.HOLD,
        total,
        available_delta=-total,
        held_delta=total,
        grants=allocations,
        hold_id=created.id,
        model_id=created.model_id,
        price_version=priced.price_version,
        project=asked.project,
        job_ref=asked.job_ref,
        idempotency_key=asked.idempotency_key,
        details=priced.as_dict(),
    )
    book.event_at(expires_at)
    book.save()
    return created


def _find_hold(
    connection: Connection, hold_id: int | None, account_id: str | None, job_ref: str | None
) -> int:
    if hold_id is None:
        if account_id is None or job_ref is None:
            raise InvalidRequest(
                "name a hold id, or an account and its job reference", field="hold_id"
            )
        found = queries.hold_by_job(connection, account_id, job_ref)
        if found is None:
            raise NotFound("hold for job", job_ref, field="job_ref")
        return found
    return hold_id


def _open_hold(
    ctx: Context,
    connection: Connection,
    hold_id: int | None,
    account_id: str | None,
    job_ref: str | None,
    now: datetime,
) -> tuple[int, AccountRow]:
    """The hold a settlement names, and its account, locked and caught up. The hold itself is
    read after this, under the lock (then nobody settles it meanwhile)."""
    hold_id = _find_hold(connection, hold_id, account_id, job_ref)
    owner = queries.hold_account(connection, hold_id)
    if owner is None or (account_id is not None and owner != account_id):
        raise NotFound("hold", hold_id, field="hold_id")
    return hold_id, ctx.open_account(connection, owner, now)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A pending hold read under its account's lock, with what settling it needs."""

    hold: Hold
    held: HeldCredits  # what the settlement rules need: state, credits, their grants
    row: Any  # the hold's row: its request and price version
    account: AccountRow
    now: datetime


@dataclass(frozen=True, slots=True)
class _Named:
    """How a settlement names its hold, and under which key it runs."""

    hold_id: int | None
    account_id: str | None
    job_ref: str | None
    idempotency_key: str | None


def _settle(
    ctx: Context,
    named: _Named,
    operation: str,
    payload: Callable[[int], dict[str, Any]],
    perform: Callable[[Connection, _Pending], Result],
    encode: Callable[[Result], dict[str, Any]],
    decode: Callable[[dict[str, Any]], Result],
) -> Result:
    """Settle the hold ``named`` once per idempotency key: its account locked and caught up,
    the hold read under the lock and refused unless pending, then ``perform``, which asks
    ``domain.holds`` for the settlement and records it."""

    def lock(connection: Connection, now: datetime) -> tuple[int, AccountRow]:
        return _open_hold(ctx, connection, named.hold_id, named.account_id, named.job_ref, now)

    def describe(locked: tuple[int, AccountRow]) -> Mutation[Result]:
        hold_id, account = locked
        return Mutation(
            account.id, named.idempotency_key, operation, payload(hold_id), encode, decode
        )

    def settle(connection: Connection, locked: tuple[int, AccountRow], now: datetime) -> Result:
        hold_id, account = locked
        current = queries.read_hold(connection, hold_id)
        assert current is not None
        hold, row = current
        held = hold_queries.held_credits(row)
        holds.check_pending(held)
        return perform(connection, _Pending(hold, held, row, account, now))

    return ctx.locked_mutation(lock, describe, settle)


def capture(
    ctx: Context,
    hold_id: int | None,
    *,
    amount_credits: int | None = None,
    outputs_delivered: int | None = None,
    account_id: str | None = None,
    job_ref: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Settlement:
    """Capture a pending hold: all of it, ``amount_credits`` of it, or the price of the
    ``outputs_delivered`` (3 of 4 images); never more than the hold. The rest is released."""
    check_key(idempotency_key)
    if amount_credits is not None and outputs_delivered is not None:
        raise InvalidRequest("give amount or outputs_delivered, not both", field="amount")
    if amount_credits is not None:
        check_amount(amount_credits, "amount", allow_zero=True)

    def perform(connection: Connection, pending: _Pending) -> Settlement:
        kept = _kept(ctx, pending, amount_credits, outputs_delivered)
        settlement = holds.capture(pending.held, kept, pending.now)  # never above the hold
        return _record(connection, pending, settlement, idempotency_key, actor)

    return _settle(
        ctx, _Named(hold_id, account_id, job_ref, idempotency_key), "capture",
        lambda found: {"hold_id": found, "amount": amount_credits, "outputs": outputs_delivered},
        perform, Settlement.as_dict, Settlement.from_dict,
    )


def _kept(
    ctx: Context, pending: _Pending, amount_credits: int | None, outputs_delivered: int | None
) -> int:
    """The credits a capture asks to keep of the hold: all, the amount asked (refused by
    ``domain.holds.capture`` when above the hold), or the price of the outputs delivered."""
    if amount_credits is not None:
        return amount_credits
    if outputs_delivered is not None:
        return price_of_delivered(ctx, pending.row, outputs_delivered, pending.now)
    return pending.held.amount_credits


def _record(
    connection: Connection,
    pending: _Pending,
    settlement: HoldSettlement,
    idempotency_key: str | None,
    actor: str,
) -> Settlement:
    """Write ``settlement`` of the pending hold: the hold row settled, a capture entry for the
    credits kept, a release entry for those that go back (and the credits to their grants)."""
    hold = pending.hold
    settled = queries.settle_hold(
        connection, hold.id, settlement.status, settlement.recorded_captured_credits,
        settlement.settled_at,
    )
    book = AccountBook(connection, pending.account, pending.now, actor)
    common: dict[str, Any] = {
        "hold_id": hold.id, "model_id": hold.model_id, "project": hold.project,
        "job_ref": hold.job_ref, "idempotency_key": idempotency_key,
    }
    # The entries of a capture name the hold's price version; a plain release's do not.
    captured = settlement.status is HoldStatus.CAPTURED
    priced: dict[str, Any] = {"price_version": hold.price_version} if captured else {}
    capture_entry = None
    if settlement.captured_credits:
        kept = settlement.captured_credits
        capture_entry = book.record(
            EntryKind.CAPTURE, kept, available_delta=0, held_delta=-kept,
            grants=settlement.captured_allocations, details=hold.quote, **common, **priced,
        )
    release_entry = None
    if settlement.released_credits:
        rest = settlement.released_credits
        release_entry = book.record(
            EntryKind.RELEASE, rest, available_delta=rest, held_delta=-rest,
            grants=settlement.released_allocations,
            reason="the part of the hold not captured" if captured else "released",
            **common, **priced,
        )
        book.return_credits(settlement.released_allocations, hold_id=hold.id)
    book.save()
    return Settlement(settled, capture_entry, release_entry)


def release(
    ctx: Context,
    hold_id: int | None,
    *,
    account_id: str | None = None,
    job_ref: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Hold:
    """Release a pending hold: every credit returns to the grant it came from."""
    check_key(idempotency_key)

    def perform(connection: Connection, pending: _Pending) -> Hold:
        settlement = holds.release(pending.held, pending.now)
        return _record(connection, pending, settlement, idempotency_key, actor).hold

    return _settle(
        ctx, _Named(hold_id, account_id, job_ref, idempotency_key), "release",
        lambda found: {"hold_id": found}, perform, Hold.as_dict, Hold.from_dict,
    )


def get_hold(ctx: Context, hold_id: int) -> Hold:
    now = ctx.now()
    with ctx.unit_of_work() as connection:
        owner = queries.hold_account(connection, hold_id)
        if owner is None:
            raise NotFound("hold", hold_id, field="hold_id")
        ctx.open_account(connection, owner, now)  # an expired hold shows expired
        current = queries.read_hold(connection, hold_id)
        assert current is not None
        return current[0]
