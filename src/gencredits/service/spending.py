"""Moving credits: grants, charges, holds and their settlement, refunds, adjustments, transfers.

Each function is one unit of work: lock the account, bring it up to date, check the
idempotency key, check the business rules, write entries, commit. A refusal writes nothing
to the ledger (a refused charge is noted in ``refused_charges``, outside the ledger, for the
plan advisor and the events feed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, insert, select

from gencredits.domain import limits
from gencredits.domain.errors import (
    AlreadyRefunded,
    ExceedsHoldAmount,
    FeatureDisabled,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    OutOfRange,
    ProjectCapExceeded,
    TooManyOpenHolds,
)
from gencredits.domain.ledger import (
    DEFAULT_PRIORITY,
    Entry,
    EntryKind,
    GrantBalance,
    GrantSource,
    Hold,
    HoldStatus,
    allocate,
    refund_allocations,
    split_allocations,
)
from gencredits.domain.pricing import LineItem, Quote, QuoteRequest, exact_lines, quote
from gencredits.domain.results import Settlement, Transfer
from gencredits.service import events
from gencredits.service.accounts import check_project
from gencredits.service.book import AccountBook, spending_events
from gencredits.service.context import Context
from gencredits.service.idempotency import (
    canonical_json,
    check_key,
    digest_of,
    first_result,
    replay_of,
    run_once,
)
from gencredits.service.transfers import receive
from gencredits.store import queries
from gencredits.store.engine import read_transaction
from gencredits.store.prepared import pipelined
from gencredits.store.queries import AccountRow
from gencredits.store.tables import project_caps, refused_charges, settings

Result = TypeVar("Result")

MANUAL_GRANT_SOURCES = frozenset(
    {GrantSource.PROMO, GrantSource.TOPUP, GrantSource.ADJUSTMENT, GrantSource.TRIAL}
)


# --- pricing a request ------------------------------------------------------------------------


def price(ctx: Context, request: QuoteRequest, price_version: int | None, now: datetime) -> Quote:
    catalog = ctx.catalogs.for_quote(price_version, now)
    return quote(request, catalog, issued_at=now)


def request_payload(request: QuoteRequest) -> list[dict[str, Any]]:
    return [
        {
            k: v
            for k, v in (
                ("model", line.model_id),
                ("outputs", line.outputs),
                ("count", line.count),
                ("seconds", line.seconds),
                ("quality", line.quality),
                ("option", line.option),
            )
            if v is not None
        }
        for line in request.lines
    ]


def request_from_payload(lines: list[dict[str, Any]]) -> QuoteRequest:
    return QuoteRequest(
        tuple(
            LineItem(
                model_id=line["model"],
                outputs=line.get("outputs", 1),
                count=line.get("count", 1),
                seconds=line.get("seconds"),
                quality=line.get("quality"),
                option=line.get("option"),
            )
            for line in lines
        )
    )


def _model_of(priced: Quote) -> str | None:
    """The model of every line, or "mixed"."""
    first = priced.lines[0].model_id
    for line in priced.lines:
        if line.model_id != first:
            return "mixed"
    return first


def _check_job_ref(job_ref: str | None) -> None:
    if job_ref is not None and not 1 <= len(job_ref) <= 200:
        raise InvalidRequest("a job reference has 1 to 200 characters", field="job_ref")


def _check_amount(amount: int, field: str, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidRequest(f"{field} must be a whole number of credits", field=field)
    low = 0 if allow_zero else 1
    if not low <= amount <= limits.MAX_AMOUNT_CREDITS:
        raise OutOfRange(amount, low, limits.MAX_AMOUNT_CREDITS, field=field)


def _spend(book: AccountBook, amount: int, now: datetime) -> tuple[tuple[int, int], ...]:
    """Burn ``amount`` from the account's live grants (refusing when they do not cover it)."""
    if book.available_credits < amount:
        raise InsufficientCredits(available=book.available_credits, required=amount)
    allocations = allocate(queries.live_grants(book.connection, book.account.id, now), amount)
    queries.take_from_grants(book.connection, allocations)
    return allocations


def _check_project_cap(
    connection: Connection, account: AccountRow, project: str | None, amount: int,
    *, batched: int = 0,
) -> None:
    """Refuse when ``amount`` would take ``project`` past its cap this cycle (``batched``:
    credits this project was charged earlier in the same batch, not yet written)."""
    if project is None:
        return
    cap = connection.execute(
        select(project_caps.c.cap_credits).where(
            project_caps.c.account_id == account.id, project_caps.c.project == project
        )
    ).scalar_one_or_none()
    if cap is None:
        return
    used = batched + queries.project_usage(connection, account.id, project, account.cycle_starts_at)
    if used + amount > cap:
        raise ProjectCapExceeded(project, cap, used, amount)


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
    connection.execute(
        insert(refused_charges).values(
            account_id=account_id,
            reason=error.code,
            required_credits=error.required,
            available_credits=available,
            model_id=model_id,
            project=project,
            created_at=now,
        )
    )
    events.emit(
        connection, events.EventType.CHARGE_REFUSED, account_id=account_id,
        payload={"reason": error.code, "required": error.required, "available": available,
                 "model": model_id, "project": project},
        now=now,
    )


def charge_payload(
    request: QuoteRequest, project: str | None, job_ref: str | None, price_version: int | None
) -> dict[str, Any]:
    return {
        "lines": request_payload(request),
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
        text = canonical_json(request_payload(request))
        if cacheable:
            if len(_LINES_JSON) >= LINES_JSON_CACHE_MAX:
                _LINES_JSON.clear()
            _LINES_JSON[lines] = text
    return digest_of(
        f'{{"job_ref": {canonical_json(job_ref)}, "lines": {text}, "operation": "charge", '
        f'"price_version": {canonical_json(price_version)}, '
        f'"project": {canonical_json(project)}}}'
    )


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


# --- charge -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingCharge:
    """A charge checked and priced, ready to apply to its locked account (:func:`apply_charge`).

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
        return _model_of(self.priced)


def prepare_charge(
    ctx: Context,
    account_id: str,
    request: QuoteRequest,
    *,
    idempotency_key: str | None,
    price_version: int | None = None,
    project: str | None = None,
    job_ref: str | None = None,
    actor: str,
) -> PendingCharge:
    """Check a charge's input and price it: the part of a charge that needs no lock."""
    check_key(idempotency_key)
    check_project(project)
    _check_job_ref(job_ref)
    now = ctx.now()
    priced = price(ctx, request, price_version, now)
    digest = None
    if idempotency_key is not None:
        digest = charge_digest(request, project, job_ref, price_version)
    return PendingCharge(
        account_id, priced, digest, idempotency_key, project, job_ref, actor, now
    )


@dataclass(slots=True)
class _BatchAccount:
    """One account's part of a :class:`ChargeBatch`."""

    row: AccountRow  # as locked and caught up
    available: int  # its available credits as the batch's charges leave them
    grants: dict[int, GrantBalance] | None = None  # live grants, drawn down in memory
    taken: dict[int, int] = field(default_factory=dict)  # credits each grant gave
    projects: dict[str, int] = field(default_factory=dict)  # credits charged per project


class ChargeBatch:
    """Charges applied together inside one unit of work, their writes made together.

    A lone charge is a batch of one; group commit and ``charge_many`` put many charges, on
    many accounts, in one. Every charge follows the same rules either way: its idempotency key
    (looked up in the database, or among this batch's charges), its project's cap, its
    account's available credits, burn order. What a batch shares is the writing: each account's
    live grants are read once and drawn down in memory; the entries go in as one multi-row
    INSERT, the idempotency keys as another, and each grant and account is updated once, by
    :meth:`flush`. :meth:`charge` refuses (:class:`InsufficientCredits`,
    :class:`ProjectCapExceeded`, :class:`IdempotencyConflict`) before it changes anything, so
    the charges before and after a refusal stand.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._accounts: dict[str, _BatchAccount] = {}
        self._rows: list[dict[str, Any]] = []  # entries to write, in order
        self._keys: list[tuple[dict[str, Any], int]] = []  # keys to write, with their entry
        self._batch_keys: dict[tuple[str, str], tuple[str, int]] = {}  # -> (hash, entry)
        self._stored: dict[tuple[str, str], queries.StoredKey] | None = None

    def add_account(self, account: AccountRow) -> None:
        """An account the batch charges: locked by this unit of work and caught up to the
        moment of its charges (no renewal or expiry due before the last of them)."""
        self._accounts[account.id] = _BatchAccount(account, account.available_credits)

    def prefetch_grants(self, now: datetime) -> None:
        """Read the live grants of every account added, in one statement (call it with the
        moment of the batch's first charge; no grant of these accounts expires before the
        last, or its account would not be in the batch)."""
        waiting = [part for part in self._accounts.values() if part.grants is None]
        found = queries.live_grants_of(self.connection, [part.row.id for part in waiting], now)
        for part in waiting:
            part.grants = {grant.id: grant for grant in found[part.row.id]}

    def prefetch_keys(self, pending: Sequence[PendingCharge]) -> None:
        """Look up the idempotency keys of these charges in one statement (call it after
        their accounts are locked, so nobody else can store one of them meanwhile)."""
        self._stored = queries.find_idempotency_keys(
            self.connection,
            ((p.account_id, p.idempotency_key) for p in pending if p.idempotency_key),
        )

    def charge(self, pending: PendingCharge) -> int | Entry:
        """Debit ``pending``: the handle of its entry, written by :meth:`flush`; or the entry
        its idempotency key was first charged with (replays change nothing)."""
        key = pending.idempotency_key
        if key is None:
            return self._debit(pending)
        digest = pending.digest
        assert digest is not None, "a keyed charge carries its request's hash (prepare_charge)"
        scope_key = (pending.account_id, key)
        in_batch = self._batch_keys.get(scope_key)
        if in_batch is not None:
            if in_batch[0] != digest:
                raise IdempotencyConflict(key)
            return in_batch[1]
        if self._stored is None:
            stored = queries.find_idempotency_key(self.connection, *scope_key)
        else:
            stored = self._stored.get(scope_key)
        if stored is not None:
            return first_result(
                stored, digest, key, lambda data: stored_charge(self.connection, data)
            )
        handle = self._debit(pending)
        self._batch_keys[scope_key] = (digest, handle)
        key_row = {
            "scope": pending.account_id,
            "key": key,
            "operation": "charge",
            "request_hash": digest,
            "created_at": pending.now,
        }
        self._keys.append((key_row, handle))
        return handle

    def flush(self) -> list[Entry]:
        """Write the batch: entries (in the order charged), keys, grants, balances. Returns
        the entries; a handle from :meth:`charge` is an index into them. On PostgreSQL the
        writes go out in one pipeline: two round trips (the entries' ids are needed for the
        keys), where they were one to three each."""
        with pipelined(self.connection):
            written = queries.insert_entries(self.connection, self._rows) if self._rows else []
            queries.insert_idempotency_keys(
                self.connection,
                [row | {"response": charge_result(written[handle])} for row, handle in self._keys],
            )
            taken = [item for part in self._accounts.values() for item in part.taken.items()]
            queries.take_from_grants(self.connection, taken)
            queries.apply_available_deltas(
                self.connection,
                [
                    (account_id, part.available - part.row.available_credits)
                    for account_id, part in self._accounts.items()
                    if part.available != part.row.available_credits
                ],
            )
        return written

    def _debit(self, pending: PendingCharge) -> int:
        part = self._accounts[pending.account_id]
        total, project = pending.priced.total_credits, pending.project
        if project is not None:
            _check_project_cap(
                self.connection, part.row, project, total, batched=part.projects.get(project, 0)
            )
        if part.available < total:
            raise InsufficientCredits(available=part.available, required=total)
        if part.grants is None:
            live = queries.live_grants(self.connection, part.row.id, pending.now)
            part.grants = {grant.id: grant for grant in live}
        allocations = allocate(tuple(part.grants.values()), total)
        for grant_id, credits in allocations:
            grant = part.grants[grant_id]
            part.grants[grant_id] = GrantBalance(
                grant.id, grant.remaining_credits - credits, grant.priority, grant.expires_at
            )
            part.taken[grant_id] = part.taken.get(grant_id, 0) + credits
        before = part.available
        part.available -= total
        if project is not None:
            part.projects[project] = part.projects.get(project, 0) + total
        held = part.row.held_credits
        self._rows.append({
            "account_id": part.row.id,
            "kind": EntryKind.CHARGE.value,
            "amount_credits": total,
            "balance_delta": -total,
            "held_delta": 0,
            "balance_after": part.available + held,
            "available_after": part.available,
            "grants": allocations,
            "model_id": pending.model_id,
            "price_version": pending.priced.price_version,
            "project": project,
            "job_ref": pending.job_ref,
            "idempotency_key": pending.idempotency_key,
            "actor": pending.actor,
            "details": pending.priced.as_dict(),
            "effective_at": pending.now,
            "created_at": pending.now,
        })
        spending_events(self.connection, part.row, before, part.available, held, pending.now)
        return len(self._rows) - 1


def apply_charge(
    connection: Connection, account: AccountRow, pending: PendingCharge
) -> tuple[Entry, AccountRow]:
    """Debit ``pending`` inside an open unit of work, on its locked and caught-up account.

    Returns the entry (the stored one when the idempotency key replays) and the account as it
    then stands. Refusals raise before anything is written."""
    batch = ChargeBatch(connection)
    batch.add_account(account)
    handle = batch.charge(pending)
    written = batch.flush()
    if isinstance(handle, Entry):
        return handle, account
    entry = written[handle]
    return entry, replace(account, available_credits=entry.available_after)


def charge(
    ctx: Context,
    account_id: str,
    request: QuoteRequest,
    *,
    idempotency_key: str | None,
    price_version: int | None = None,
    project: str | None = None,
    job_ref: str | None = None,
    actor: str,
) -> Entry:
    """Debit the price of ``request`` at once; refused with nothing written when the account's
    available credits do not cover it."""
    try:
        pending = prepare_charge(
            ctx,
            account_id,
            request,
            idempotency_key=idempotency_key,
            price_version=price_version,
            project=project,
            job_ref=job_ref,
            actor=actor,
        )
    except InvalidRequest:
        payload = charge_payload(request, project, job_ref, price_version)
        first = replayed(ctx, account_id, idempotency_key, "charge", payload, stored_charge)
        if first is None:
            raise
        return first
    try:
        with ctx.unit_of_work() as connection:
            account = ctx.open_account(connection, account_id, pending.now)
            return apply_charge(connection, account, pending)[0]
    except (InsufficientCredits, ProjectCapExceeded) as error:
        note_refusal(ctx, account_id, error, pending.model_id, project)
        raise


# --- holds ------------------------------------------------------------------------------------


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
    check_key(idempotency_key)
    check_project(project)
    _check_job_ref(job_ref)
    if not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= limits.MAX_HOLD_TTL_SECONDS:
        raise OutOfRange(ttl_seconds, 1, limits.MAX_HOLD_TTL_SECONDS, field="ttl_seconds")
    now = ctx.now()
    payload = {
        "lines": request_payload(request),
        "project": project,
        "job_ref": job_ref,
        "price_version": price_version,
        "ttl_seconds": ttl_seconds,
    }
    try:
        priced = price(ctx, request, price_version, now)
    except InvalidRequest:
        first = replayed(
            ctx, account_id, idempotency_key, "hold", payload, lambda _, data: Hold.from_dict(data)
        )
        if first is None:
            raise
        return first
    total = priced.total_credits
    try:
        with ctx.unit_of_work() as connection:
            account = ctx.open_account(connection, account_id, now)

            def perform() -> Hold:
                if queries.pending_hold_count(connection, account_id) >= limits.MAX_OPEN_HOLDS:
                    raise TooManyOpenHolds(limits.MAX_OPEN_HOLDS)
                _check_project_cap(connection, account, project, total)
                book = AccountBook(connection, account, now, actor)
                allocations = _spend(book, total, now)
                expires_at = now + timedelta(seconds=ttl_seconds)
                created = queries.insert_hold(
                    connection,
                    account_id=account_id,
                    status=HoldStatus.PENDING.value,
                    amount_credits=total,
                    captured_credits=None,
                    allocations=[list(a) for a in allocations],
                    request=request_payload(request),
                    quote=priced.as_dict(),
                    price_version=priced.price_version,
                    model_id=_model_of(priced),
                    project=project,
                    job_ref=job_ref,
                    actor=actor,
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
                    project=project,
                    job_ref=job_ref,
                    idempotency_key=idempotency_key,
                    details=priced.as_dict(),
                )
                book.event_at(expires_at)
                book.save()
                return created

            return run_once(
                connection,
                scope=account_id,
                key=idempotency_key,
                operation="hold",
                payload=payload,
                now=now,
                perform=perform,
                encode=Hold.as_dict,
                decode=Hold.from_dict,
            )
    except (InsufficientCredits, ProjectCapExceeded) as error:
        note_refusal(ctx, account_id, error, _model_of(priced), project)
        raise


def _find_hold(
    ctx: Context,
    connection: Connection,
    hold_id: int | None,
    account_id: str | None,
    job_ref: str | None,
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
    hold_id = _find_hold(ctx, connection, hold_id, account_id, job_ref)
    owner = queries.hold_account(connection, hold_id)
    if owner is None or (account_id is not None and owner != account_id):
        raise NotFound("hold", hold_id, field="hold_id")
    return hold_id, ctx.open_account(connection, owner, now)


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
        _check_amount(amount_credits, "amount", allow_zero=True)
    now = ctx.now()
    with ctx.unit_of_work() as connection:
        hold_id, account = _open_hold(ctx, connection, hold_id, account_id, job_ref, now)
        payload = {"hold_id": hold_id, "amount": amount_credits, "outputs": outputs_delivered}

        def perform() -> Settlement:
            current = queries.read_hold(connection, hold_id)
            assert current is not None
            held, row = current
            if held.status is not HoldStatus.PENDING:
                raise HoldNotPending(str(hold_id), held.status.value)
            kept = held.amount_credits
            if amount_credits is not None:
                if amount_credits > held.amount_credits:
                    raise ExceedsHoldAmount(str(hold_id), held.amount_credits, amount_credits)
                kept = amount_credits
            elif outputs_delivered is not None:
                kept = _price_of_delivered(ctx, row, outputs_delivered, now)
            allocations = tuple((g, c) for g, c in row["allocations"])
            kept_allocations, returned = split_allocations(allocations, kept)
            settled = queries.settle_hold(connection, hold_id, HoldStatus.CAPTURED, kept, now)
            book = AccountBook(connection, account, now, actor)
            common: dict[str, Any] = {
                "hold_id": hold_id,
                "model_id": held.model_id,
                "project": held.project,
                "job_ref": held.job_ref,
                "price_version": held.price_version,
            }
            capture_entry = None
            if kept:
                capture_entry = book.record(
                    EntryKind.CAPTURE,
                    kept,
                    available_delta=0,
                    held_delta=-kept,
                    grants=kept_allocations,
                    idempotency_key=idempotency_key,
                    details=held.quote,
                    **common,
                )
            release_entry = None
            if returned:
                rest = held.amount_credits - kept
                release_entry = book.record(
                    EntryKind.RELEASE,
                    rest,
                    available_delta=rest,
                    held_delta=-rest,
                    grants=returned,
                    idempotency_key=idempotency_key,
                    reason="the part of the hold not captured",
                    **common,
                )
                book.return_credits(returned, hold_id=hold_id)
            book.save()
            return Settlement(settled, capture_entry, release_entry)

        return run_once(
            connection,
            scope=account.id,
            key=idempotency_key,
            operation="capture",
            payload=payload,
            now=now,
            perform=perform,
            encode=Settlement.as_dict,
            decode=Settlement.from_dict,
        )


def _price_of_delivered(ctx: Context, row: Any, outputs_delivered: int, now: datetime) -> int:
    lines = row["request"]
    if len(lines) != 1 or lines[0].get("count", 1) != 1:
        raise InvalidRequest(
            "outputs_delivered applies to a hold for one request of one line; capture an amount",
            field="outputs_delivered",
        )
    ordered = lines[0].get("outputs", 1)
    if not isinstance(outputs_delivered, int) or not 0 <= outputs_delivered <= ordered:
        raise OutOfRange(outputs_delivered, 0, ordered, field="outputs_delivered")
    if outputs_delivered == 0:
        return 0
    catalog = ctx.catalogs.at(row["price_version"])
    request = request_from_payload([{**lines[0], "outputs": outputs_delivered}])
    return min(quote(request, catalog, issued_at=now).total_credits, int(row["amount_credits"]))


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
    now = ctx.now()
    with ctx.unit_of_work() as connection:
        hold_id, account = _open_hold(ctx, connection, hold_id, account_id, job_ref, now)

        def perform() -> Hold:
            current = queries.read_hold(connection, hold_id)
            assert current is not None
            held, row = current
            if held.status is not HoldStatus.PENDING:
                raise HoldNotPending(str(hold_id), held.status.value)
            settled = queries.settle_hold(connection, hold_id, HoldStatus.RELEASED, None, now)
            allocations = tuple((g, c) for g, c in row["allocations"])
            book = AccountBook(connection, account, now, actor)
            book.record(
                EntryKind.RELEASE,
                held.amount_credits,
                available_delta=held.amount_credits,
                held_delta=-held.amount_credits,
                grants=allocations,
                hold_id=hold_id,
                model_id=held.model_id,
                project=held.project,
                job_ref=held.job_ref,
                idempotency_key=idempotency_key,
                reason="released",
            )
            book.return_credits(allocations, hold_id=hold_id)
            book.save()
            return settled

        return run_once(
            connection,
            scope=account.id,
            key=idempotency_key,
            operation="release",
            payload={"hold_id": hold_id},
            now=now,
            perform=perform,
            encode=Hold.as_dict,
            decode=Hold.from_dict,
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


# --- refunds, grants, adjustments, transfers ---------------------------------------------------


def refund(
    ctx: Context,
    entry_id: int | None,
    *,
    amount_credits: int | None = None,
    account_id: str | None = None,
    job_ref: str | None = None,
    reason: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Entry:
    """Return all or part of a charge (or capture) to the grants it burned."""
    check_key(idempotency_key)
    if amount_credits is not None:
        _check_amount(amount_credits, "amount")
    now = ctx.now()
    with ctx.unit_of_work() as connection:
        if entry_id is None:
            if account_id is None or job_ref is None:
                raise InvalidRequest(
                    "name an entry id, or an account and its job reference", field="entry_id"
                )
            found = queries.entry_by_job(connection, account_id, job_ref)
            if found is None:
                raise NotFound("charge for job", job_ref, field="job_ref")
            entry_id = found.id
        original = queries.read_entry(connection, entry_id)
        if original is None or (account_id is not None and original.account_id != account_id):
            raise NotFound("entry", entry_id, field="entry_id")
        if original.kind not in (EntryKind.CHARGE, EntryKind.CAPTURE):
            raise InvalidRequest(
                f"entry {entry_id} is a {original.kind.value}; only charges and captures are "
                "refunded",
                field="entry_id",
            )
        account = ctx.open_account(connection, original.account_id, now)

        def perform() -> Entry:
            already = queries.refunded_credits(connection, original.id)
            refundable = original.amount_credits - already
            amount = refundable if amount_credits is None else amount_credits
            if refundable <= 0:
                raise AlreadyRefunded(original.id)
            if amount > refundable:
                raise OutOfRange(
                    amount, 1, refundable, field="amount", reason="more than is left to refund"
                )
            allocations = refund_allocations(original.grants, already, amount)
            book = AccountBook(connection, account, now, actor)
            entry = book.record(
                EntryKind.REFUND,
                amount,
                available_delta=amount,
                grants=allocations,
                related_entry_id=original.id,
                model_id=original.model_id,
                price_version=original.price_version,
                project=original.project,
                job_ref=original.job_ref,
                idempotency_key=idempotency_key,
                reason=reason,
            )
            book.return_credits(allocations, related_entry_id=original.id)
            book.save()
            return entry

        return run_once(
            connection,
            scope=account.id,
            key=idempotency_key,
            operation="refund",
            payload={"entry_id": entry_id, "amount": amount_credits, "reason": reason},
            now=now,
            perform=perform,
            encode=Entry.as_dict,
            decode=Entry.from_dict,
        )


def topups_enabled(connection: Connection) -> bool:
    value = connection.execute(
        select(settings.c.value).where(settings.c.key == "topups_enabled")
    ).scalar_one_or_none()
    return bool(value)


def grant(
    ctx: Context,
    account_id: str,
    amount_credits: int,
    *,
    source: GrantSource,
    expires_at: datetime | None = None,
    priority: int | None = None,
    reason: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Entry:
    """Add credits to an account as a grant (promo, top-up, trial or adjustment)."""
    check_key(idempotency_key)
    _check_amount(amount_credits, "amount")
    if source not in MANUAL_GRANT_SOURCES:
        raise InvalidRequest(
            "plan credits come from billing cycles; grant promo, topup, trial or adjustment",
            field="source",
        )
    now = ctx.now()
    if priority is not None and not 0 <= priority <= 1000:
        raise OutOfRange(priority, 0, 1000, field="priority")
    with ctx.unit_of_work() as connection:
        if source is GrantSource.TOPUP and not topups_enabled(connection):
            raise FeatureDisabled("top-up packs")
        account = ctx.open_account(connection, account_id, now)

        def perform() -> Entry:
            # Checked here, not up front: a replay of a grant whose expiry has since passed
            # still returns the grant it made.
            if expires_at is not None and expires_at <= now:
                raise InvalidRequest("expires_at must be in the future", field="expires_at")
            return _add_grant(
                connection,
                account,
                now,
                actor,
                amount_credits,
                source=source,
                expires_at=expires_at,
                priority=priority,
                reason=reason,
                kind=EntryKind.GRANT,
                idempotency_key=idempotency_key,
            )

        return run_once(
            connection,
            scope=account_id,
            key=idempotency_key,
            operation="grant",
            payload={
                "amount": amount_credits,
                "source": source.value,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "priority": priority,
                "reason": reason,
            },
            now=now,
            perform=perform,
            encode=Entry.as_dict,
            decode=Entry.from_dict,
        )


def _add_grant(
    connection: Connection,
    account: AccountRow,
    now: datetime,
    actor: str,
    amount: int,
    *,
    source: GrantSource,
    expires_at: datetime | None,
    priority: int | None,
    reason: str | None,
    kind: EntryKind,
    **fields: Any,
) -> Entry:
    grant_id = queries.insert_grant(
        connection,
        account_id=account.id,
        source=source.value,
        amount_credits=amount,
        remaining_credits=amount,
        priority=DEFAULT_PRIORITY[source] if priority is None else priority,
        starts_at=now,
        expires_at=expires_at,
        expired=False,
        cycle_number=None,
        created_at=now,
    )
    book = AccountBook(connection, account, now, actor)
    entry = book.record(
        kind, amount, available_delta=amount, grants=((grant_id, amount),), reason=reason, **fields
    )
    book.event_at(expires_at)
    book.save()
    return entry


def adjust(
    ctx: Context,
    account_id: str,
    amount_credits: int,
    *,
    reason: str,
    expires_at: datetime | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Entry:
    """An operator's correction: positive adds an adjustment grant, negative removes credits
    (burn order, never below zero)."""
    check_key(idempotency_key)
    if (
        not isinstance(amount_credits, int)
        or isinstance(amount_credits, bool)
        or not (amount_credits != 0 and abs(amount_credits) <= limits.MAX_AMOUNT_CREDITS)
    ):
        raise InvalidRequest("an adjustment is a non-zero whole number of credits", field="amount")
    if not reason or not reason.strip():
        raise InvalidRequest("say why: an adjustment needs a reason", field="reason")
    now = ctx.now()
    with ctx.unit_of_work() as connection:
        account = ctx.open_account(connection, account_id, now)

        def perform() -> Entry:
            if amount_credits > 0:
                return _add_grant(
                    connection,
                    account,
                    now,
                    actor,
                    amount_credits,
                    source=GrantSource.ADJUSTMENT,
                    expires_at=expires_at,
                    priority=None,
                    reason=reason,
                    kind=EntryKind.ADJUST,
                    idempotency_key=idempotency_key,
                )
            book = AccountBook(connection, account, now, actor)
            allocations = _spend(book, -amount_credits, now)
            entry = book.record(
                EntryKind.ADJUST,
                -amount_credits,
                available_delta=amount_credits,
                grants=allocations,
                reason=reason,
                idempotency_key=idempotency_key,
            )
            book.save()
            return entry

        return run_once(
            connection,
            scope=account_id,
            key=idempotency_key,
            operation="adjust",
            payload={
                "amount": amount_credits,
                "reason": reason,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            now=now,
            perform=perform,
            encode=Entry.as_dict,
            decode=Entry.from_dict,
        )


def transfer(
    ctx: Context,
    from_account_id: str,
    to_account_id: str,
    amount_credits: int,
    *,
    reason: str | None = None,
    idempotency_key: str | None,
    actor: str,
) -> Transfer:
    """Move credits between accounts atomically (an agency pool funding a member). The
    credits keep the expiry of each grant they came from (service/transfers.py): a transfer
    never turns expiring plan credits into lasting ones."""
    check_key(idempotency_key)
    _check_amount(amount_credits, "amount")
    if from_account_id == to_account_id:
        raise InvalidRequest("a transfer needs two different accounts", field="to_account_id")
    now = ctx.now()
    with ctx.unit_of_work() as connection:
        # Lock in id order so two opposite transfers cannot deadlock.
        first, second = sorted((from_account_id, to_account_id))
        opened = {first: ctx.open_account(connection, first, now)}
        opened[second] = ctx.open_account(connection, second, now)
        source, target = opened[from_account_id], opened[to_account_id]

        def perform() -> Transfer:
            book = AccountBook(connection, source, now, actor)
            allocations = _spend(book, amount_credits, now)
            outgoing = book.record(
                EntryKind.TRANSFER_OUT,
                amount_credits,
                available_delta=-amount_credits,
                grants=allocations,
                reason=reason,
                idempotency_key=idempotency_key,
            )
            book.save()
            incoming = receive(
                connection, target, allocations, now=now, actor=actor, reason=reason,
                related_entry_id=outgoing.id, idempotency_key=idempotency_key,
            )
            return Transfer(outgoing, incoming)

        return run_once(
            connection,
            scope=from_account_id,
            key=idempotency_key,
            operation="transfer",
            payload={"to": to_account_id, "amount": amount_credits, "reason": reason},
            now=now,
            perform=perform,
            encode=Transfer.as_dict,
            decode=Transfer.from_dict,
        )

