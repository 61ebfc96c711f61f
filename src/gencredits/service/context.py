"""What every use case needs: the database, the clock, price versions, plans and settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine

from gencredits.domain.errors import NotFound
from gencredits.domain.plans import Plans
from gencredits.service.catalogs import CatalogStore
from gencredits.service.clock import Clock
from gencredits.service.idempotency import run_once
from gencredits.service.mutation import Mutation, claim_once
from gencredits.service.plan_store import PlanStore
from gencredits.service.timeline import catch_up
from gencredits.store import queries
from gencredits.store.engine import write_transaction
from gencredits.store.queries import AccountRow

Result = TypeVar("Result")
Locked = TypeVar("Locked")


@dataclass
class Context:
    engine: Engine
    clock: Clock
    catalogs: CatalogStore
    plans: PlanStore

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def unit_of_work(self) -> Iterator[Connection]:
        with write_transaction(self.engine) as connection:
            yield connection

    def mutation(
        self,
        mutation: Mutation[Result],
        perform: Callable[[Connection, datetime], Result],
    ) -> Result:
        """One idempotent unit of work with no row to lock first: the key is claimed before
        ``perform(connection, now)`` runs (see :mod:`gencredits.service.mutation`)."""
        now = self.now()
        with self.unit_of_work() as connection:
            return claim_once(connection, mutation, now, lambda: perform(connection, now))

    def locked_mutation(
        self,
        lock: Callable[[Connection, datetime], Locked],
        describe: Callable[[Locked], Mutation[Result]],
        perform: Callable[[Connection, Locked, datetime], Result],
        *,
        now: datetime | None = None,
    ) -> Result:
        """One idempotent unit of work on rows locked first: ``lock(connection, now)`` locks
        (and brings up to date) what the work changes, which serializes every call with the
        key; ``describe(locked)`` names the key, its scope and the request (which may name its
        rows only through what the lock found: a hold by its job, a charge to refund); then
        the key's stored answer is read, or ``perform(connection, locked, now)`` runs and its
        answer is stored. ``now``: the moment of the call when it was taken before (a hold
        priced at it); else the clock's, as the unit of work begins."""
        moment = self.now() if now is None else now
        with self.unit_of_work() as connection:
            locked = lock(connection, moment)
            mutation = describe(locked)
            return run_once(
                connection, scope=mutation.scope, key=mutation.key,
                operation=mutation.operation, payload=mutation.payload, now=moment,
                perform=lambda: perform(connection, locked, moment),
                encode=mutation.encode, decode=mutation.decode,
            )

    def account_mutation(
        self,
        account_id: str,
        mutation: Mutation[Result],
        perform: Callable[[Connection, AccountRow, datetime], Result],
    ) -> Result:
        """:meth:`locked_mutation` on one account: its row is locked and brought up to date."""
        return self.locked_mutation(
            lambda connection, now: self.open_account(connection, account_id, now),
            lambda _: mutation,
            perform,
        )

    def open_account(self, connection: Connection, account_id: str, now: datetime) -> AccountRow:
        """Lock the account row and bring it up to ``now`` (renewals, expiries)."""
        account = queries.lock_account(connection, account_id)
        if account is None:
            raise NotFound("account", account_id, field="account_id")
        return catch_up(connection, account, self.plans_due(connection, account, now), now)

    def all_plans(self, connection: Connection | None = None, *, fresh: bool = False) -> Plans:
        """Every plan; inside a unit of work pass its connection (see :meth:`PlanStore.all`),
        and ``fresh`` where they must be as the database has them now."""
        return self.plans.all(connection, fresh=fresh)

    def plans_due(self, connection: Connection, account: AccountRow, now: datetime) -> Plans:
        """The plans a catch-up of the locked ``account`` to ``now`` works with: read in this
        transaction when something is due (a renewal grants the plan as the database has it,
        whichever process redefined it last), the cached ones when nothing is (and nothing
        is read: the charge's path)."""
        return self.all_plans(connection, fresh=now >= account.next_event_at)
