"""What a charge leaves besides its entry: its prepared form, the hash and answer its
idempotency key keeps, the replay of a request that no longer prices, and the note of a
refusal.

:func:`prepared_or_replayed` is the one replay path for a keyed request that no longer prices
(its model since switched off, its price version superseded): a charge and a hold both go
through it, and a replay still gets its first result, per SPEC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection

from gencredits.documents.requests import request_to_json
from gencredits.domain.errors import InsufficientCredits, InvalidRequest, ProjectCapExceeded
from gencredits.domain.ledger import Entry
from gencredits.domain.pricing import LineItem, Quote, QuoteRequest, exact_lines
from gencredits.service import events
from gencredits.service.context import Context
from gencredits.service.idempotency import canonical_json, digest_of, replay_of
from gencredits.service.pricing import model_of, prepare_spend
from gencredits.store import queries
from gencredits.store.engine import read_transaction
from gencredits.store.queries.refusals import insert_refusal

Prepared = TypeVar("Prepared")
Result = TypeVar("Result")

OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class ChargeItem:
    """One charge as asked for: the arguments of ``Gencredits.charge`` (and an item of
    ``charge_many``)."""

    account_id: str
    request: QuoteRequest
    idempotency_key: str | None
    price_version: int | None = None
    project: str | None = None
    job_ref: str | None = None
    actor: str = OPERATOR


@dataclass(frozen=True, slots=True)
class PendingCharge:
    """A charge checked and priced, ready to apply to its locked account
    (``service/charging.py``'s ``apply_charge``).

    Splitting the charge in two lets group commit (``service/group_commit.py``) check and
    price each charge in its caller's thread and apply many in one transaction, with exactly
    the rules of a single charge."""

    account_id: str
    priced: Quote
    digest: str | None  # the request's hash (charge_digest), when it has a key
    idempotency_key: str | None
    project: str | None
    job_ref: str | None
    actor: str
    now: datetime

    @property
    def model_id(self) -> str | None:
        return model_of(self.priced)


def prepare_charge(ctx: Context, item: ChargeItem) -> PendingCharge:
    """Check a charge's input and price it: the part of a charge that needs no lock."""
    spend = prepare_spend(
        ctx,
        item.request,
        idempotency_key=item.idempotency_key,
        price_version=item.price_version,
        project=item.project,
        job_ref=item.job_ref,
    )
    digest = None
    if item.idempotency_key is not None:
        digest = charge_digest(item.request, item.project, item.job_ref, item.price_version)
    return PendingCharge(
        item.account_id, spend.priced, digest, item.idempotency_key, item.project,
        item.job_ref, item.actor, spend.now,
    )


def prepare_or_replay(ctx: Context, item: ChargeItem) -> PendingCharge | Entry:
    """:func:`prepare_charge`; or the first entry of a replay whose request no longer prices."""
    return prepared_or_replayed(
        ctx,
        item.account_id,
        item.idempotency_key,
        "charge",
        lambda: charge_payload(item.request, item.project, item.job_ref, item.price_version),
        stored_charge,
        lambda: prepare_charge(ctx, item),
    )


def prepared_or_replayed(
    ctx: Context,
    account_id: str,
    key: str | None,
    operation: str,
    payload: Callable[[], dict[str, Any]],
    decode: Callable[[Connection, dict[str, Any]], Result],
    prepare: Callable[[], Prepared],
) -> Prepared | Result:
    """``prepare()``; when it refuses the request (:class:`InvalidRequest`), the first result
    of the keyed call with this ``payload``, if there was one (else the refusal stands)."""
    try:
        return prepare()
    except InvalidRequest:
        first = replayed(ctx, account_id, key, operation, payload(), decode)
        if first is None:
            raise
        return first


def replayed(
    ctx: Context,
    account_id: str,
    key: str | None,
    operation: str,
    payload: dict[str, Any],
    decode: Callable[[Connection, dict[str, Any]], Result],
) -> Result | None:
    """The first result of a keyed call whose request no longer prices (its model switched
    off, its price version superseded): a replay still returns it, per SPEC. Called only
    after a refusal, so the charge's hot path reads nothing more."""
    if key is None:
        return None
    with read_transaction(ctx.engine) as connection:
        return replay_of(
            connection,
            scope=account_id,
            key=key,
            operation=operation,
            payload=payload,
            decode=lambda data: decode(connection, data),
        )


def charge_payload(
    request: QuoteRequest, project: str | None, job_ref: str | None, price_version: int | None
) -> dict[str, Any]:
    return {
        "lines": request_to_json(request),
        "project": project,
        "job_ref": job_ref,
        "price_version": price_version,
    }


# The canonical JSON of a request's lines, per exact lines (see charge_digest): a bounded
# memo, emptied when full, like the price cache.
_LINES_JSON: dict[tuple[LineItem, ...], str] = {}
LINES_JSON_CACHE_MAX = 4_096


def charge_digest(
    request: QuoteRequest, project: str | None, job_ref: str | None, price_version: int | None
) -> str:
    """``request_hash("charge", charge_payload(...))``, the hash a charge's idempotency key
    keeps, written out in its canonical form's key order (job_ref, lines, operation,
    price_version, project) with the lines' JSON remembered: encoding the whole payload was a
    sixth of a batched charge. tests/service/test_idempotency.py holds the two equal."""
    lines = request.lines
    cacheable = exact_lines(request)
    text = _LINES_JSON.get(lines) if cacheable else None
    if text is None:
        text = canonical_json(request_to_json(request))
        if cacheable:
            if len(_LINES_JSON) >= LINES_JSON_CACHE_MAX:
                _LINES_JSON.clear()
            _LINES_JSON[lines] = text
    return digest_of(
        f'{{"job_ref": {canonical_json(job_ref)}, "lines": {text}, "operation": "charge", '
        f'"price_version": {canonical_json(price_version)}, '
        f'"project": {canonical_json(project)}}}'
    )


def charge_result(entry: Entry) -> dict[str, Any]:
    """What a charge's idempotency key keeps: the id of its entry (the entry is in the ledger
    already; storing it again cost 57 µs a charge and a page of WAL)."""
    return {"entry_id": entry.id}


def stored_charge(connection: Connection, data: dict[str, Any]) -> Entry:
    """The entry a charge's idempotency key points at (or, for keys kept before keys kept
    only the id, the whole entry stored with it)."""
    if "entry_id" not in data:
        return Entry.from_dict(data)
    entry = queries.read_entry(connection, data["entry_id"])
    assert entry is not None, f"entry {data['entry_id']} of a stored charge is gone"
    return entry


def note_refusal(
    ctx: Context,
    account_id: str,
    error: InsufficientCredits | ProjectCapExceeded,
    model_id: str | None,
    project: str | None,
) -> None:
    """Remember a refused charge (not a ledger entry) for advice and events."""
    with ctx.unit_of_work() as connection:
        record_refusal(connection, account_id, error, model_id, project, ctx.now())


def record_refusal(
    connection: Connection,
    account_id: str,
    error: InsufficientCredits | ProjectCapExceeded,
    model_id: str | None,
    project: str | None,
    now: datetime,
) -> None:
    """:func:`note_refusal` inside an open unit of work (group commit writes it with its batch)."""
    available = error.available if isinstance(error, InsufficientCredits) else error.used_credits
    insert_refusal(
        connection,
        account_id=account_id,
        reason=error.code,
        required_credits=error.required,
        available_credits=available,
        model_id=model_id,
        project=project,
        created_at=now,
    )
    events.emit(
        connection, events.EventType.CHARGE_REFUSED, account_id=account_id,
        payload={"reason": error.code, "required": error.required, "available": available,
                 "model": model_id, "project": project},
        now=now,
    )
