"""A lone charge: debit the price of a request at once, or refuse with nothing written.

The charge is the hot path. It is prepared without a lock (service/charge_records.py), then
applied to its locked account as a batch of one (service/batches.py), the very code group
commit applies many with.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection

from gencredits.domain.errors import InsufficientCredits, ProjectCapExceeded
from gencredits.domain.ledger import Entry
from gencredits.domain.pricing import QuoteRequest
from gencredits.service.batches import ChargeBatch
from gencredits.service.charge_records import (
    ChargeItem,
    PendingCharge,
    note_refusal,
    prepare_or_replay,
)
from gencredits.service.context import Context
from gencredits.store.queries import AccountRow


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
    item = ChargeItem(account_id, request, idempotency_key, price_version, project, job_ref, actor)
    pending = prepare_or_replay(ctx, item)
    if isinstance(pending, Entry):
        return pending
    try:
        with ctx.unit_of_work() as connection:
            account = ctx.open_account(connection, account_id, pending.now)
            return apply_charge(connection, account, pending)[0]
    except (InsufficientCredits, ProjectCapExceeded) as error:
        note_refusal(ctx, account_id, error, pending.model_id, project)
        raise
