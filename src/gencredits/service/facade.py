"""The library's front door: :class:`Gencredits`, the whole domain in-process.

    import gencredits
    credits = gencredits.open()                       # embedded SQLite in ./var
    credits.create_account("ana", name="Ana", plan="pro")
    credits.charge("ana", gencredits.QuoteRequest.single("flux-2-pro", outputs=4),
                   idempotency_key="job-42")

Every method is one unit of work. Operating errors are the exceptions of
``gencredits.domain.errors``; the HTTP client (``gencredits.Client``) raises the same ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from gencredits.config import Settings
from gencredits.documents.catalog import load_catalog_file
from gencredits.documents.plans import load_plans_file, plan_to_document
from gencredits.domain import limits
from gencredits.domain.advice import (
    DEFAULT_BUFFER_PERCENT,
    DEFAULT_TARGET_MARGIN_PERCENT,
    CycleUsage,
    DraftPlan,
    Estimate,
    Forecast,
    ModelAdvice,
    PlanAdvice,
)
from gencredits.domain.catalog import Catalog, CatalogEntry, Kind
from gencredits.domain.errors import GencreditsError
from gencredits.domain.ledger import AccountKind, Entry, GrantSource, Hold
from gencredits.domain.plans import Plan, Plans
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
from gencredits.service import (
    accounts,
    audit,
    batch_apply,
    charging,
    events,
    grants,
    health,
    holds,
    keys,
    members,
    pricing,
    refunds,
    shared_state,
    transfers,
)
from gencredits.service import advice as advice_service
from gencredits.service.advice import MarginReport
from gencredits.service.catalogs import CatalogStore
from gencredits.service.charge_records import ChargeItem
from gencredits.service.clock import Clock, clock_from_environment
from gencredits.service.context import Context
from gencredits.service.events import Webhook, WebhookDispatcher
from gencredits.service.group_commit import GroupCommitter
from gencredits.service.keys import ApiKey
from gencredits.service.mutation import Mutation, operator_scope
from gencredits.service.plan_store import PlanStore
from gencredits.service.reports import UsageReport
from gencredits.store.engine import (
    checkpoints_in_background,
    make_engine,
    migrate,
    write_transaction,
)
from gencredits.store.failures import DuplicateRow
from gencredits.store.queries import catalog_versions as version_queries
from gencredits.store.queries import plans as plan_queries
from gencredits.store.queries import settings as setting_queries
from gencredits.store.sqlite import Checkpointer

OPERATOR = "operator"


class Gencredits:
    """Catalog, quotes, accounts, charges, holds, cycles and history over one database."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or clock_from_environment()
        self._context = Context(
            engine=engine,
            clock=self.clock,
            catalogs=CatalogStore(engine),
            plans=PlanStore(engine),
        )
        self._committer: GroupCommitter | None = None
        self._checkpointer: Checkpointer | None = None

    # --- catalog and quotes -------------------------------------------------------------------

    def catalog(self, version: int | None = None) -> Catalog:
        catalogs = self._context.catalogs
        return catalogs.current() if version is None else catalogs.at(version)

    def put_catalog_entry(
        self, entry: CatalogEntry, *, actor: str = OPERATOR, note: str = "",
        idempotency_key: str | None = None,
    ) -> Catalog:
        """Add or change one entry; publishes a new price version (once per key)."""
        return self._context.catalogs.put_entry(entry, actor=actor, note=note, now=self.clock.now(),
                                                idempotency_key=idempotency_key)

    def publish_catalog(
        self, catalog: Catalog, *, actor: str = OPERATOR, note: str = ""
    ) -> Catalog:
        return self._context.catalogs.publish(catalog, actor=actor, note=note, now=self.clock.now())

    def catalog_history(self, limit: int = 50) -> list[dict[str, object]]:
        return self._context.catalogs.history(limit)

    def quote(self, request: QuoteRequest, *, price_version: int | None = None) -> Quote:
        now = self.clock.now()
        return pricing.price(self._context, request, price_version, now)

    # --- plans ----------------------------------------------------------------------------------

    def plans(self) -> Plans:
        return self._context.plans.all()

    def put_plan(self, plan: Plan, *, idempotency_key: str | None = None) -> Plan:
        return self._context.plans.put(plan, now=self.clock.now(), idempotency_key=idempotency_key)

    def set_topups_enabled(self, enabled: bool, *, idempotency_key: str | None = None) -> None:
        """The operator switch for top-up packs (off by default, as the reference product)."""
        def perform(connection: Connection, now: datetime) -> None:
            setting_queries.put_setting(connection, "topups_enabled", enabled, now)

        mutation: Mutation[None] = Mutation(
            scope=operator_scope("set_topups"), key=idempotency_key, operation="set_topups",
            payload={"enabled": enabled}, encode=lambda _: {}, decode=lambda _: None,
        )
        self._context.mutation(mutation, perform)

    # --- accounts -------------------------------------------------------------------------------

    def create_account(
        self,
        account_id: str | None = None,
        *,
        name: str,
        plan: str | None = None,
        kind: AccountKind | str = AccountKind.PERSON,
        members: Sequence[str] = (),
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> AccountView:
        return accounts.create_account(
            self._context,
            account_id=account_id,
            name=name,
            plan_id=plan,
            kind=AccountKind(kind),
            members=tuple(members),
            idempotency_key=idempotency_key,
            actor=actor,
        )

    def account(self, account_id: str) -> AccountView:
        return accounts.get_account(self._context, account_id)

    def accounts(
        self, *, after: str | None = None, limit: int = limits.DEFAULT_PAGE_SIZE
    ) -> list[AccountView]:
        return accounts.list_accounts(self._context, after=after, limit=limit)

    def set_members(
        self,
        account_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        actor: str = OPERATOR,
        idempotency_key: str | None = None,
    ) -> AccountView:
        return members.set_members(self._context, account_id, add=tuple(add), remove=tuple(remove),
                                   actor=actor, idempotency_key=idempotency_key)

    def change_plan(
        self,
        account_id: str,
        plan: str,
        *,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> PlanChangeResult:
        return accounts.change_plan(
            self._context, account_id, plan, idempotency_key=idempotency_key, actor=actor
        )

    def set_project_cap(
        self, account_id: str, project: str, cap_credits: int | None,
        *, idempotency_key: str | None = None,
    ) -> None:
        members.set_project_cap(self._context, account_id, project, cap_credits,
                                idempotency_key=idempotency_key)

    # --- moving credits -------------------------------------------------------------------------

    def charge(
        self,
        account_id: str,
        request: QuoteRequest,
        *,
        idempotency_key: str | None = None,
        price_version: int | None = None,
        project: str | None = None,
        job_ref: str | None = None,
        actor: str = OPERATOR,
    ) -> Entry:
        """Debit the price of ``request`` (priced at ``price_version``, else the current one).

        After :meth:`start_group_commit`, concurrent charges share transactions; the answers
        are the same."""
        committer = self._committer
        if committer is not None:
            return committer.charge(
                account_id, request, idempotency_key=idempotency_key,
                price_version=price_version, project=project, job_ref=job_ref, actor=actor,
            )
        return charging.charge(
            self._context, account_id, request, idempotency_key=idempotency_key,
            price_version=price_version, project=project, job_ref=job_ref, actor=actor,
        )

    async def charge_async(
        self,
        account_id: str,
        request: QuoteRequest,
        *,
        idempotency_key: str | None = None,
        price_version: int | None = None,
        project: str | None = None,
        job_ref: str | None = None,
        actor: str = OPERATOR,
    ) -> Entry:
        """:meth:`charge` for an event loop (a server's request handler): with group commit
        started, the charge goes to its writer thread and its answer comes back through the
        loop, no thread parked on it; without, it runs in the loop's default executor."""
        item = ChargeItem(account_id, request, idempotency_key, price_version, project, job_ref,
                          actor)
        committer = self._committer
        if committer is not None:
            return await committer.charge_async(item)
        return await asyncio.to_thread(
            charging.charge, self._context, account_id, request,
            idempotency_key=idempotency_key, price_version=price_version, project=project,
            job_ref=job_ref, actor=actor,
        )

    def start_group_commit(
        self,
        *,
        window_seconds: float = limits.DEFAULT_GROUP_COMMIT_WINDOW_SECONDS,
        max_items: int = limits.MAX_BATCH_ITEMS,
        writers: int = 1,
    ) -> None:
        """Send every :meth:`charge` from now on through one :class:`GroupCommitter` (options
        as :meth:`group_committer`): charges that arrive while a batch commits join the next
        one, so many concurrent callers (a server's request threads) share each fsync. A lone
        caller waits only ``window_seconds`` more (1 ms by default: with 16 callers on
        PostgreSQL it carried 25-30% more than no window, benchmarks/RESULTS.md). :meth:`close`
        stops it."""
        if self._committer is None:
            self._committer = GroupCommitter(
                self._context, window_seconds=window_seconds, max_items=max_items,
                writers=writers,
            )

    @property
    def committer(self) -> GroupCommitter | None:
        """The group committer :meth:`charge` uses, if started (for metrics)."""
        return self._committer

    def charge_many(self, items: Sequence[ChargeItem]) -> list[Entry | GencreditsError]:
        """Settle many charges in one transaction (one commit), each in its own savepoint:
        one entry or one error per item, in order; idempotent and never overdrawn, exactly as
        :meth:`charge`."""
        return batch_apply.charge_many(self._context, items)

    def group_committer(
        self,
        *,
        window_seconds: float = limits.DEFAULT_GROUP_COMMIT_WINDOW_SECONDS,
        max_items: int = limits.MAX_BATCH_ITEMS,
        writers: int = 1,
    ) -> GroupCommitter:
        """Charges from many threads applied in one transaction per short window; close it
        when done."""
        return GroupCommitter(self._context, window_seconds=window_seconds,
                              max_items=max_items, writers=writers)

    def hold(
        self,
        account_id: str,
        request: QuoteRequest,
        *,
        idempotency_key: str | None = None,
        price_version: int | None = None,
        ttl_seconds: int = limits.DEFAULT_HOLD_TTL_SECONDS,
        project: str | None = None,
        job_ref: str | None = None,
        actor: str = OPERATOR,
    ) -> Hold:
        """Reserve the price of ``request`` until it is captured or released, or
        ``ttl_seconds`` pass."""
        return holds.hold(
            self._context, account_id, request, idempotency_key=idempotency_key,
            price_version=price_version, ttl_seconds=ttl_seconds, project=project,
            job_ref=job_ref, actor=actor,
        )

    def capture(
        self,
        hold_id: int | None = None,
        *,
        amount_credits: int | None = None,
        outputs_delivered: int | None = None,
        account_id: str | None = None,
        job_ref: str | None = None,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> Settlement:
        """All of a hold, ``amount_credits`` of it, or the price of ``outputs_delivered``; the
        rest returns. The hold is named by id, or by ``account_id`` + ``job_ref``."""
        return holds.capture(
            self._context, hold_id, amount_credits=amount_credits,
            outputs_delivered=outputs_delivered, account_id=account_id, job_ref=job_ref,
            idempotency_key=idempotency_key, actor=actor,
        )

    def release(
        self,
        hold_id: int | None = None,
        *,
        account_id: str | None = None,
        job_ref: str | None = None,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> Hold:
        """Return a whole hold (named by id, or by ``account_id`` + ``job_ref``)."""
        return holds.release(
            self._context, hold_id, account_id=account_id, job_ref=job_ref,
            idempotency_key=idempotency_key, actor=actor,
        )

    def get_hold(self, hold_id: int) -> Hold:
        return holds.get_hold(self._context, hold_id)

    def refund(
        self,
        entry_id: int | None = None,
        *,
        amount_credits: int | None = None,
        account_id: str | None = None,
        job_ref: str | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> Entry:
        """Return all or ``amount_credits`` of a charge or capture (named by id, or by
        ``account_id`` + ``job_ref``) to the grants it burned."""
        return refunds.refund(
            self._context, entry_id, amount_credits=amount_credits, account_id=account_id,
            job_ref=job_ref, reason=reason, idempotency_key=idempotency_key, actor=actor,
        )

    def grant(
        self,
        account_id: str,
        amount_credits: int,
        *,
        source: GrantSource | str,
        expires_at: datetime | None = None,
        priority: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> Entry:
        return grants.grant(
            self._context,
            account_id,
            amount_credits,
            source=GrantSource(source),
            expires_at=expires_at,
            priority=priority,
            reason=reason,
            idempotency_key=idempotency_key,
            actor=actor,
        )

    def adjust(
        self,
        account_id: str,
        amount_credits: int,
        *,
        reason: str,
        expires_at: datetime | None = None,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> Entry:
        return grants.adjust(
            self._context,
            account_id,
            amount_credits,
            reason=reason,
            expires_at=expires_at,
            idempotency_key=idempotency_key,
            actor=actor,
        )

    def transfer(
        self,
        from_account_id: str,
        to_account_id: str,
        amount_credits: int,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
        actor: str = OPERATOR,
    ) -> Transfer:
        return transfers.transfer(
            self._context,
            from_account_id,
            to_account_id,
            amount_credits,
            reason=reason,
            idempotency_key=idempotency_key,
            actor=actor,
        )

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
    ) -> Page:
        """Entries newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
        return audit.history(
            self._context, account_id, kinds=tuple(kinds), model_id=model_id, project=project,
            since=since, until=until, cursor=cursor, limit=limit,
        )

    def entry(self, entry_id: int) -> Entry:
        return audit.get_entry(self._context, entry_id)

    def renew(self, *, idempotency_key: str | None = None) -> SweepResult:
        """The sweep: renewals and expiries on every account with something due (a replay of
        ``idempotency_key`` gets the first sweep's figures)."""
        return audit.sweep(self._context, idempotency_key=idempotency_key)

    def verify(self) -> VerifyReport:
        return audit.verify(self._context)

    # --- operations: health, API keys, events and webhooks, state the workers share --------
    # The edges (api, cli, web) reach the database through these doors only, never through
    # ``engine``.

    def ping(self) -> None:
        """Raise :class:`~gencredits.service.health.DatabaseUnavailable` (naming the driver's
        error) unless the database answers a trivial read."""
        health.ping(self.engine)

    def create_key(
        self, *, account_id: str | None, name: str, idempotency_key: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new API key (an account's, or the operator's when ``account_id`` is None) and its
        secret, shown here once (and again to a replay of ``idempotency_key``)."""
        return keys.create_key(self.engine, account_id=account_id, name=name,
                               now=self.clock.now(), idempotency_key=idempotency_key)

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key with this secret, or None (unknown or revoked)."""
        return keys.authenticate(self.engine, secret)

    def revoke_key(self, key_id: str, *, idempotency_key: str | None = None) -> ApiKey:
        return keys.revoke_key(self.engine, key_id, self.clock.now(),
                               idempotency_key=idempotency_key)

    def list_keys(self, account_id: str | None = None) -> list[ApiKey]:
        return keys.list_keys(self.engine, account_id)

    def operator_key_count(self) -> int:
        """Live operator keys (a server's first start creates one when there is none)."""
        return keys.operator_key_count(self.engine)

    def key_revocations(self) -> Callable[[], int] | None:
        """A count that grows with every key revocation in any process (``keys.revocations``);
        None where the processes share no file (PostgreSQL)."""
        return keys.revocations(self.engine)

    def events(
        self, *, account_id: str | None = None, after: int | None = None,
        limit: int = limits.DEFAULT_PAGE_SIZE, types: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Events in commit order after the ``after`` sequence number (a polling cursor)."""
        return events.list_events(self.engine, account_id=account_id, after=after, limit=limit,
                                  types=types)

    def create_webhook(
        self, url: str, event_types: tuple[str, ...], *, idempotency_key: str | None = None
    ) -> tuple[Webhook, str]:
        """A webhook for future events and its signing secret (shown once)."""
        return events.create_webhook(self.engine, url, event_types, self.clock.now(),
                                     idempotency_key=idempotency_key)

    def webhooks(self) -> list[Webhook]:
        return events.list_webhooks(self.engine)

    def disable_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> None:
        events.disable_webhook(self.engine, webhook_id, self.clock.now(),
                               idempotency_key=idempotency_key)

    def webhook_dispatcher(
        self, *, transport: httpx.BaseTransport | None = None
    ) -> WebhookDispatcher:
        """Numbers events and sends due deliveries on each ``run_once``; close it when done."""
        return WebhookDispatcher(self.engine, transport=transport)

    def record_signed_out(self, nonce: str, expires_at_seconds: int, now_seconds: int) -> None:
        """Every worker process refuses dashboard session ``nonce`` until it would expire."""
        shared_state.record_signed_out(self.engine, nonce, expires_at_seconds, now_seconds)

    def is_signed_out(self, nonce: str) -> bool:
        return shared_state.is_signed_out(self.engine, nonce)

    def fold_into_bucket(
        self, name: str, count: int, interval_microseconds: int, now_microseconds: int
    ) -> int:
        """Add ``count`` requests to the rate-limit bucket ``name`` every worker process shares;
        its new arrival time."""
        return shared_state.fold_into_bucket(self.engine, name, count, interval_microseconds,
                                             now_microseconds)

    def forget_full_buckets(self, now_microseconds: int) -> None:
        shared_state.forget_full_buckets(self.engine, now_microseconds)

    def close(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None:
            committer.close()
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.close()
        self.engine.dispose()

    def __enter__(self) -> Gencredits:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- advice and reports (service/advice.py; the figures are defined in service/reports.py)

    def estimate(
        self,
        request: QuoteRequest,
        *,
        account_id: str | None = None,
        buffer_percent: Decimal | int = DEFAULT_BUFFER_PERCENT,
    ) -> Estimate:
        """Subtotal, buffer (rounded up) and total; with an account, the shortfall against its
        available credits, the cycles of its allowance, and cheaper models."""
        return advice_service.estimate_for_account(
            self._context, request, account_id=account_id, buffer_percent=buffer_percent
        )

    def plan_drafts(
        self, *, draft_model: str, drafts: int, final_model: str, finals: int
    ) -> DraftPlan:
        """N drafts on ``draft_model`` + M finals on ``final_model``, against all finals."""
        return advice_service.plan_drafts_now(
            self._context, draft_model=draft_model, drafts=drafts, final_model=final_model,
            finals=finals,
        )

    def advise_models(
        self,
        task: str,
        *,
        kind: Kind | str | None = None,
        max_credits_per_output: int | None = None,
        prefer_speed: bool = False,
    ) -> tuple[ModelAdvice, ...]:
        """Models for a task tag, ranked by fit, then (optionally) speed, then cost."""
        return advice_service.advise_models_now(
            self._context, task, kind=kind, max_credits_per_output=max_credits_per_output,
            prefer_speed=prefer_speed,
        )

    def cycle_history(
        self, account_id: str, cycles: int = advice_service.PLAN_ADVICE_CYCLES
    ) -> list[CycleUsage]:
        """The last completed cycles, oldest first: allowance, used, expired, refused."""
        return advice_service.cycle_history(self._context, account_id, cycles)

    def advise_plan(self, account_id: str) -> PlanAdvice:
        """Upgrade, downgrade or stay, from the last three completed cycles, and why."""
        return advice_service.advise_plan_for_account(self._context, account_id)

    def forecast(self, account_id: str) -> Forecast:
        """At this cycle's burn rate: when the credits run out, or how many will expire."""
        return advice_service.forecast_for_account(self._context, account_id)

    def usage_report(
        self, account_id: str, *, period: str = "cycle", periods: int = 3
    ) -> UsageReport:
        """Usage per ``"cycle"`` or ``"month"`` (the last ``periods``, the current included):
        totals by model, kind, tier and project, top models, expired credits, refusals."""
        return advice_service.usage_report(
            self._context, account_id, period=period, periods=periods
        )

    def usage_report_csv(
        self, account_id: str, *, period: str = "cycle", periods: int = 3
    ) -> str:
        """:meth:`usage_report` as CSV (see ``service.reports.report_csv`` for the columns)."""
        return advice_service.report_csv(
            self.usage_report(account_id, period=period, periods=periods)
        )

    def margins(
        self,
        *,
        target_margin_percent: Decimal | int = DEFAULT_TARGET_MARGIN_PERCENT,
        credit_value: Decimal | None = None,
        currency: str | None = None,
    ) -> MarginReport:
        """Every model's margin at a credit's money value (from the plans' prices unless
        ``credit_value`` is given), thinnest first, with those below the target."""
        return advice_service.operator_margins(
            self._context, target_margin_percent=target_margin_percent,
            credit_value=credit_value, currency=currency,
        )


def open(
    database_url: str | None = None,
    *,
    clock: Clock | None = None,
    catalog_path: str | None = None,
    pool_size: int = 20,
    background_checkpoints: bool = False,
) -> Gencredits:
    """Connect (``GENCREDITS_DATABASE_URL`` or ``./var/gencredits.db``), migrate, seed the
    default catalog and plans on first start, and return the service.

    ``background_checkpoints`` (SQLite files; the server turns it on): WAL checkpoints run in
    a thread of the service's (``store.sqlite.Checkpointer``), not inside the commit of
    whichever charge crosses the threshold; :meth:`Gencredits.close` stops it."""
    url = database_url or Settings.from_environment().database_url
    engine = make_engine(url, pool_size=pool_size, background_checkpoints=background_checkpoints)
    migrate(engine)
    service = Gencredits(engine, clock=clock)
    if checkpoints_in_background(engine):
        service._checkpointer = Checkpointer(engine)
    seed(engine, service.clock.now(), catalog_path)
    service.plans()  # loaded now, not by the first charge inside its transaction
    return service


def seed(engine: Engine, now: datetime, catalog_path: str | None = None) -> None:
    """Publish the default catalog and plans if the database has none (idempotent, and safe
    when several processes start together)."""
    try:
        with write_transaction(engine) as connection:
            if version_queries.latest_version(connection) is None:
                catalog = load_catalog_file(catalog_path)
                from gencredits.documents.catalog import catalog_to_document

                version_queries.insert_version(
                    connection, version=1,
                    document=catalog_to_document(Catalog(1, catalog.entries)),
                    now=now, actor="seed", note="default catalog",
                )
            if not plan_queries.has_plans(connection):
                for plan in load_plans_file():
                    plan_queries.insert_plan(connection, plan.id, plan_to_document(plan), now)
    except DuplicateRow:
        pass  # another process seeded first
