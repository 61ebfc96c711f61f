"""The HTTP client: the library's calls, made against a gencredits server.

:class:`Client` mirrors :class:`gencredits.Gencredits` for the remote case (mypy holds both
to :class:`gencredits.protocol.CreditsApi`). It returns the same values (``Entry``, ``Hold``,
``AccountView``, ``Settlement``, ``Quote``, ...) and raises the same operating errors, rebuilt
from the server's problem details, so switching between in-process and remote is one line::

    import gencredits

    credits = gencredits.open()                                          # in-process
    credits = gencredits.Client("https://credits.example", "gc_op_...")  # remote

    entry = credits.charge("ana", gencredits.QuoteRequest.single("flux-2-pro", outputs=4),
                           idempotency_key="job-42")            # an Entry, either way
    try:
        credits.charge("ana", gencredits.QuoteRequest.single("veo-3", seconds=8, count=50),
                       idempotency_key="job-43")
    except gencredits.InsufficientCredits as refused:       # the same exception, either way
        print(refused.available, refused.required)

The client also takes request lines as plain dicts (``[{"model": "veo-3", "seconds": 8}]``),
the JSON the API reads.

Differences from the library, all because the server decides them:

- Every mutation carries an ``Idempotency-Key``. Pass ``idempotency_key`` to make a retry
  safe; without one a fresh uuid4 is sent, so two calls are two mutations, as in-process
  without a key. The client never retries by itself.
- The actor written to the ledger is the API key (``key:<id>``), not an ``actor`` argument.
- :meth:`Client.catalog` returns the served JSON document (``price_version`` and ``models``),
  not a :class:`~gencredits.Catalog`: the API does not publish the discount tables needed to
  rebuild one. :meth:`Client.quote` returns a real :class:`~gencredits.Quote`.
- Captures and refunds name the hold or entry by id (the library also takes ``account_id`` +
  ``job_ref``).

The errors it raises, beyond those of ``gencredits.domain.errors``::

    GencreditsError
    ├── ...                     the library's own tree, rebuilt from the problem's
    │                           ``error`` and ``details`` (never from its message)
    └── ApiError                a refusal with no library counterpart; ``status``, ``code``,
        │                       ``problem`` (the whole problem-details body)
        ├── Unauthorized        401: missing, unknown or revoked key
        ├── Forbidden           403: an account key on an operator endpoint
        └── RateLimited         429: ``retry_after_seconds`` says when to try again

Network failures are httpx's own exceptions (``httpx.TransportError``), not wrapped.
Swap the network for tests with ``transport=`` (any ``httpx.BaseTransport``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gencredits.client_errors import ApiError, Forbidden, RateLimited, Unauthorized
from gencredits.client_http import (
    HttpConnection,
    Lines,
    amount_of,
    iso_time,
    lines_document,
    segment,
    without_none,
)
from gencredits.domain.ledger import Entry, Hold
from gencredits.domain.pricing import Quote
from gencredits.domain.results import (
    AccountView,
    Page,
    PlanChangeResult,
    Settlement,
    SweepResult,
    Transfer,
    VerifyReport,
    quote_from_dict,
)

__all__ = ["ApiError", "Client", "Forbidden", "RateLimited", "Unauthorized"]


# --- the client -------------------------------------------------------------------------------


class Client(HttpConnection):
    """A gencredits server, called like the library. Thread-safe as httpx.Client is.

    ``Client(base_url, api_key, *, timeout=10, transport=None)``; a context manager that
    closes its connections."""

    # --- catalog and quotes --------------------------------------------------------------------

    def catalog(self, *, include_inactive: bool = True) -> dict[str, Any]:
        """The served catalog: ``{"price_version": n, "models": [...]}`` (see module notes)."""
        data: dict[str, Any] = self._call(
            "GET", "/v1/catalog", params={"include_inactive": include_inactive}
        )
        return data

    def quote(self, lines: Lines, *, price_version: int | None = None) -> Quote:
        body = without_none({"lines": lines_document(lines), "price_version": price_version})
        return quote_from_dict(self._call("POST", "/v1/quotes", body=body))

    def plans(self) -> list[dict[str, Any]]:
        """The plans on offer, as documents (``id``, ``name``, ``allowance_credits``, ...)."""
        data: list[dict[str, Any]] = self._call("GET", "/v1/plans")
        return data

    # --- accounts ------------------------------------------------------------------------------

    def create_account(
        self,
        account_id: str | None = None,
        *,
        name: str,
        plan: str | None = None,
        kind: str = "person",
        members: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> AccountView:
        body = without_none({"id": account_id, "name": name, "plan": plan, "kind": str(kind),
                              "members": list(members)})
        view: AccountView = self._mutate("/v1/accounts", body, idempotency_key,
                                         AccountView.from_dict)
        return view

    def account(self, account_id: str) -> AccountView:
        return AccountView.from_dict(self._call("GET", f"/v1/accounts/{segment(account_id)}"))

    def accounts(self, *, after: str | None = None, limit: int = 50) -> list[AccountView]:
        data = self._call("GET", "/v1/accounts", params=without_none({"after": after,
                                                                       "limit": limit}))
        return [AccountView.from_dict(item) for item in data["accounts"]]

    def set_members(
        self, account_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> AccountView:
        view: AccountView = self._mutate(
            f"/v1/accounts/{segment(account_id)}/members",
            {"add": list(add), "remove": list(remove)}, idempotency_key, AccountView.from_dict,
        )
        return view

    def change_plan(
        self, account_id: str, plan: str, *, idempotency_key: str | None = None
    ) -> PlanChangeResult:
        result: PlanChangeResult = self._mutate(
            f"/v1/accounts/{segment(account_id)}/plan", {"plan": plan}, idempotency_key,
            PlanChangeResult.from_dict, method="PUT",
        )
        return result

    def set_project_cap(
        self, account_id: str, project: str, cap_credits: int | None,
        *, idempotency_key: str | None = None,
    ) -> None:
        self._call("PUT", f"/v1/accounts/{segment(account_id)}/projects/{segment(project)}/cap",
                   body={"cap": cap_credits}, mutation=True, idempotency_key=idempotency_key)

    # --- moving credits ------------------------------------------------------------------------

    def charge(
        self,
        account_id: str,
        lines: Lines,
        *,
        idempotency_key: str | None = None,
        project: str | None = None,
        job_ref: str | None = None,
        price_version: int | None = None,
    ) -> Entry:
        body = without_none({"lines": lines_document(lines), "project": project,
                              "job_ref": job_ref, "price_version": price_version})
        entry: Entry = self._mutate(f"/v1/accounts/{segment(account_id)}/charges", body,
                                    idempotency_key, Entry.from_dict)
        return entry

    def hold(
        self,
        account_id: str,
        lines: Lines,
        *,
        idempotency_key: str | None = None,
        project: str | None = None,
        job_ref: str | None = None,
        price_version: int | None = None,
        ttl_seconds: int | None = None,
    ) -> Hold:
        body = without_none({"lines": lines_document(lines), "project": project,
                              "job_ref": job_ref, "price_version": price_version,
                              "ttl_seconds": ttl_seconds})
        held: Hold = self._mutate(f"/v1/accounts/{segment(account_id)}/holds", body,
                                  idempotency_key, Hold.from_dict)
        return held

    def get_hold(self, hold_id: int) -> Hold:
        return Hold.from_dict(self._call("GET", f"/v1/holds/{int(hold_id)}"))

    def capture(
        self,
        hold_id: int,
        *,
        amount: int | None = None,
        amount_credits: int | None = None,
        outputs_delivered: int | None = None,
        idempotency_key: str | None = None,
    ) -> Settlement:
        """All of the hold, ``amount`` credits of it (``amount_credits``, the library's name,
        also works), or the price of ``outputs_delivered``; the rest returns."""
        body = without_none({"amount": amount_of(amount, amount_credits),
                              "outputs_delivered": outputs_delivered})
        settled: Settlement = self._mutate(f"/v1/holds/{int(hold_id)}/capture", body,
                                           idempotency_key, Settlement.from_dict)
        return settled

    def release(self, hold_id: int, *, idempotency_key: str | None = None) -> Hold:
        held: Hold = self._mutate(f"/v1/holds/{int(hold_id)}/release", None, idempotency_key,
                                  Hold.from_dict)
        return held

    def refund(
        self,
        entry_id: int,
        *,
        amount: int | None = None,
        amount_credits: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Entry:
        body = without_none({"amount": amount_of(amount, amount_credits), "reason": reason})
        entry: Entry = self._mutate(f"/v1/entries/{int(entry_id)}/refund", body,
                                    idempotency_key, Entry.from_dict)
        return entry

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
    ) -> Entry:
        body = without_none({"amount": amount_credits, "source": str(source),
                              "expires_at": iso_time(expires_at), "priority": priority,
                              "reason": reason})
        entry: Entry = self._mutate(f"/v1/accounts/{segment(account_id)}/grants", body,
                                    idempotency_key, Entry.from_dict)
        return entry

    def adjust(
        self,
        account_id: str,
        amount_credits: int,
        *,
        reason: str,
        expires_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Entry:
        body = without_none({"amount": amount_credits, "reason": reason,
                              "expires_at": iso_time(expires_at)})
        entry: Entry = self._mutate(f"/v1/accounts/{segment(account_id)}/adjustments", body,
                                    idempotency_key, Entry.from_dict)
        return entry

    def transfer(
        self,
        from_account_id: str,
        to_account_id: str,
        amount_credits: int,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transfer:
        body = without_none({"from_account": from_account_id, "to_account": to_account_id,
                              "amount": amount_credits, "reason": reason})
        moved: Transfer = self._mutate("/v1/transfers", body, idempotency_key,
                                       Transfer.from_dict)
        return moved

    # --- reading back --------------------------------------------------------------------------

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
        limit: int | None = None,
    ) -> Page:
        """Entries newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
        params = without_none({"kind": [str(kind) for kind in kinds] or None,
                                "model": model_id, "project": project, "since": iso_time(since),
                                "until": iso_time(until), "cursor": cursor, "limit": limit})
        data = self._call("GET", f"/v1/accounts/{segment(account_id)}/entries", params=params)
        return Page(tuple(Entry.from_dict(item) for item in data["entries"]),
                    data["next_cursor"])

    def entry(self, entry_id: int) -> Entry:
        return Entry.from_dict(self._call("GET", f"/v1/entries/{int(entry_id)}"))

    def renew(self, *, idempotency_key: str | None = None) -> SweepResult:
        data = self._call("POST", "/v1/renewals", mutation=True, idempotency_key=idempotency_key)
        return SweepResult(data["accounts_checked"], data["accounts_updated"],
                           data["keys_purged"])

    def verify(self) -> VerifyReport:
        data = self._call("GET", "/v1/verify")
        return VerifyReport(data["accounts_checked"], data["entries_checked"],
                            list(data["differences"]))
