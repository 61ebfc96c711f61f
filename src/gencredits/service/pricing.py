"""What a spend costs and whether it may happen: pricing a request, the one preparation of a
charge or a hold (:func:`prepare_spend`), and the rules every spend is checked against when
its account is locked (the project's cap, the available credits, burn order).

Preparing needs no lock: group commit prepares a charge in its caller's thread. The checks in
:func:`check_project_cap` and :func:`spend` run inside the unit of work that changes the
account, after its row is locked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gencredits.documents.requests import line_from_json
from gencredits.domain import limits
from gencredits.domain.errors import (
    InsufficientCredits,
    InvalidRequest,
    OutOfRange,
    ProjectCapExceeded,
)
from gencredits.domain.ledger import Allocation, allocate
from gencredits.domain.pricing import Quote, QuoteRequest, quote
from gencredits.service.accounts import check_project
from gencredits.service.book import AccountBook
from gencredits.service.context import Context
from gencredits.service.idempotency import check_key
from gencredits.store import queries
from gencredits.store.queries import AccountRow
from gencredits.store.queries.members import project_cap


def price(ctx: Context, request: QuoteRequest, price_version: int | None, now: datetime) -> Quote:
    catalog = ctx.catalogs.for_quote(price_version, now)
    return quote(request, catalog, issued_at=now)


def model_of(priced: Quote) -> str | None:
    """The model of every line, or "mixed"."""
    first = priced.lines[0].model_id
    for line in priced.lines:
        if line.model_id != first:
            return "mixed"
    return first


def check_job_ref(job_ref: str | None) -> None:
    if job_ref is not None and not 1 <= len(job_ref) <= 200:
        raise InvalidRequest("a job reference has 1 to 200 characters", field="job_ref")


def check_amount(amount: int, field: str, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidRequest(f"{field} must be a whole number of credits", field=field)
    low = 0 if allow_zero else 1
    if not low <= amount <= limits.MAX_AMOUNT_CREDITS:
        raise OutOfRange(amount, low, limits.MAX_AMOUNT_CREDITS, field=field)


def price_of_delivered(ctx: Context, row: Any, outputs_delivered: int, now: datetime) -> int:
    """The price of ``outputs_delivered`` of a hold's one line (its ``row``), at the hold's
    price version; never more than the hold."""
    lines = [line_from_json(line) for line in row["request"]]
    if len(lines) != 1 or lines[0].count != 1:
        raise InvalidRequest(
            "outputs_delivered applies to a hold for one request of one line; capture an amount",
            field="outputs_delivered",
        )
    ordered = lines[0].outputs
    if not isinstance(outputs_delivered, int) or not 0 <= outputs_delivered <= ordered:
        raise OutOfRange(outputs_delivered, 0, ordered, field="outputs_delivered")
    if outputs_delivered == 0:
        return 0
    catalog = ctx.catalogs.at(row["price_version"])
    request = QuoteRequest((replace(lines[0], outputs=outputs_delivered),))
    return min(quote(request, catalog, issued_at=now).total_credits, int(row["amount_credits"]))


@dataclass(frozen=True, slots=True)
class Spend:
    """A charge or hold checked and priced, at the moment it was asked for."""

    priced: Quote
    now: datetime


def prepare_spend(
    ctx: Context,
    request: QuoteRequest,
    *,
    idempotency_key: str | None,
    price_version: int | None,
    project: str | None,
    job_ref: str | None,
    ttl_seconds: int | None = None,
) -> Spend:
    """Check a charge's or a hold's input (a hold's lifetime too, when ``ttl_seconds`` is
    given) and price it: the part of a spend that needs no lock. Refusals raise
    :class:`InvalidRequest` (a request that no longer prices among them)."""
    check_key(idempotency_key)
    check_project(project)
    check_job_ref(job_ref)
    if ttl_seconds is not None and (
        not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= limits.MAX_HOLD_TTL_SECONDS
    ):
        raise OutOfRange(ttl_seconds, 1, limits.MAX_HOLD_TTL_SECONDS, field="ttl_seconds")
    now = ctx.now()
    return Spend(price(ctx, request, price_version, now), now)


def spend(book: AccountBook, amount: int, now: datetime) -> tuple[Allocation, ...]:
    """Burn ``amount`` from the account's live grants (refusing when they do not cover it)."""
    if book.available_credits < amount:
        raise InsufficientCredits(available=book.available_credits, required=amount)
    allocations = allocate(queries.live_grants(book.connection, book.account.id, now), amount)
    queries.take_from_grants(book.connection, allocations)
    return allocations


def check_project_cap(
    connection: Connection, account: AccountRow, project: str | None, amount: int,
    *, batched: int = 0,
) -> None:
    """Refuse when ``amount`` would take ``project`` past its cap this cycle (``batched``:
    credits this project was charged earlier in the same batch, not yet written)."""
    if project is None:
        return
    cap = project_cap(connection, account.id, project)
    if cap is None:
        return
    used = batched + queries.project_usage(connection, account.id, project, account.cycle_starts_at)
    if used + amount > cap:
        raise ProjectCapExceeded(project, cap, used, amount)
