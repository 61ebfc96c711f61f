"""``CreditsApi``: the calls the library and the HTTP client both answer, typed once.

:class:`gencredits.Gencredits` (in-process) and :class:`gencredits.Client` (over HTTP) each
satisfy it, and mypy holds them to it (``server.py`` assigns both to it under ``mypy
--strict``), so code written against ``CreditsApi`` runs on either, and a door that changes
on one side and not the other fails the type check rather than a caller::

    def bill(credits: gencredits.protocol.CreditsApi, job: Job) -> gencredits.Entry:
        return credits.charge(job.account_id, job.request, idempotency_key=job.id)

What one side has and the other does not stays off it: the library's ``actor`` and its
``account_id`` + ``job_ref`` lookups, its advice and reports; the client's served catalog
document (:meth:`Client.catalog` and :meth:`Client.plans` answer JSON documents, the library
``Catalog`` and ``Plans``). The request of a quote, charge or hold is positional (the library
names it ``request``, the client ``lines``, and the client takes plain dicts too).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from gencredits.domain import limits
from gencredits.domain.ledger import Entry, Hold
from gencredits.domain.pricing import Quote, QuoteRequest
from gencredits.domain.results import (
    AccountView,
    Page,
    PlanChangeResult,
    Settlement,
    SweepResult,
    Transfer,
    VerifyReport,
)


@runtime_checkable
class CreditsApi(Protocol):
    """Accounts, charges, holds, grants, history and the sweep, in-process or remote."""

    # --- quotes and accounts --------------------------------------------------------------------

    def quote(self, request: QuoteRequest, /, *, price_version: int | None = None) -> Quote: ...

    def create_account(
        self,
        account_id: str | None = None,
        *,
        name: str,
        plan: str | None = None,
        kind: str = "person",
        members: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> AccountView: ...

    def account(self, account_id: str) -> AccountView: ...

    def accounts(
        self, *, after: str | None = None, limit: int = limits.DEFAULT_PAGE_SIZE
    ) -> list[AccountView]: ...

    def set_members(
        self,
        account_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> AccountView: ...

    def change_plan(
        self, account_id: str, plan: str, *, idempotency_key: str | None = None
    ) -> PlanChangeResult: ...

    def set_project_cap(
        self, account_id: str, project: str, cap_credits: int | None,
        *, idempotency_key: str | None = None,
    ) -> None: ...

    # --- moving credits -------------------------------------------------------------------------

    def charge(
        self,
        account_id: str,
        request: QuoteRequest,
        /,
        *,
        idempotency_key: str | None = None,
        price_version: int | None = None,
        project: str | None = None,
        job_ref: str | None = None,
    ) -> Entry: ...

    def hold(
        self,
        account_id: str,
        request: QuoteRequest,
        /,
        *,
        idempotency_key: str | None = None,
        price_version: int | None = None,
        ttl_seconds: int = limits.DEFAULT_HOLD_TTL_SECONDS,
        project: str | None = None,
        job_ref: str | None = None,
    ) -> Hold: ...

    def get_hold(self, hold_id: int) -> Hold: ...

    def capture(
        self,
        hold_id: int,
        *,
        amount_credits: int | None = None,
        outputs_delivered: int | None = None,
        idempotency_key: str | None = None,
    ) -> Settlement: ...

    def release(self, hold_id: int, *, idempotency_key: str | None = None) -> Hold: ...

    def refund(
        self,
        entry_id: int,
        *,
        amount_credits: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Entry: ...

    def grant(
        self,
        account_id: str,
        amount_credits: int,
        *,
        source: str,
        expires_at: datetime | None = None,
        priority: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Entry: ...

    def adjust(
        self,
        account_id: str,
        amount_credits: int,
        *,
        reason: str,
        expires_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Entry: ...

    def transfer(
        self,
        from_account_id: str,
        to_account_id: str,
        amount_credits: int,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transfer: ...

    # --- reading back ---------------------------------------------------------------------------

    def history(
        self,
        account_id: str,
        *,
        kinds: Sequence[str] = (),
        model_id: str | None = None,
        project: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: int | None = None,
        limit: int = limits.DEFAULT_PAGE_SIZE,
    ) -> Page: ...

    def entry(self, entry_id: int) -> Entry: ...

    def renew(self, *, idempotency_key: str | None = None) -> SweepResult: ...

    def verify(self) -> VerifyReport: ...

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
