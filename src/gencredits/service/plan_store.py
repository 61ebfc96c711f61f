"""Plans in the database: the defaults seeded on first start, and operator-defined ones.

Plans are cached in-process. Another process (a server worker, the CLI) may define or redefine
one, so the cache is read again when it is ``PLANS_TTL_SECONDS`` old, and, inside the
transaction, whenever what is read must be exact (``fresh``): a renewal, an upgrade or a new
account grants the plan as it stands in the database, not as this process last saw it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from gencredits.documents.plans import plan_from_document, plan_to_document
from gencredits.domain.plans import Plan, Plans
from gencredits.service.mutation import Mutation, claim_once, operator_scope
from gencredits.store.engine import read_transaction, write_transaction
from gencredits.store.queries import plans as plan_queries

# How stale another process's plan change may be seen where exactness is not needed (pages,
# advice, the plan list); renewals and plan changes read the plans in their transaction.
PLANS_TTL_SECONDS = 1.0


class PlanStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._cached: tuple[Plans, float] | None = None  # the plans, and when they were read

    def all(self, connection: Connection | None = None, *, fresh: bool = False) -> Plans:
        """Every plan: cached, or read again (``fresh``, or the cache ``PLANS_TTL_SECONDS``
        old). Inside a transaction pass its ``connection``: then a read sees what that
        transaction sees, and no second pooled connection is taken while one is held (that
        could wait for the pool forever when every connection is held by a caller doing the
        same: found by tests/api)."""
        cached, now = self._cached, time.monotonic()
        if cached is not None and not fresh and now - cached[1] < PLANS_TTL_SECONDS:
            return cached[0]
        if connection is not None:
            loaded = self._read(connection)
        else:
            with read_transaction(self._engine) as reading:
                loaded = self._read(reading)
        with self._lock:
            self._cached = (loaded, now)
        return loaded

    @staticmethod
    def _read(connection: Connection) -> Plans:
        documents = plan_queries.plan_documents(connection)
        return Plans(tuple(plan_from_document(document) for document in documents))

    def put(self, plan: Plan, *, now: datetime, idempotency_key: str | None = None) -> Plan:
        """Define a plan or redefine one; accounts on it get the new allowance from their next
        cycle on (a cycle already granted is never granted again). A replay of
        ``idempotency_key`` gets the plan as its key first defined it, and writes nothing."""
        document = plan_to_document(plan)
        mutation = Mutation(
            scope=operator_scope("put_plan"), key=idempotency_key, operation="put_plan",
            payload={"plan": document}, encode=plan_to_document, decode=plan_from_document,
        )
        with write_transaction(self._engine) as connection:
            defined = claim_once(connection, mutation, now,
                                 lambda: self._write(connection, plan, document, now))
        self.all(fresh=True)  # this process sees its own change at once
        return defined

    @staticmethod
    def _write(connection: Connection, plan: Plan, document: Any, now: datetime) -> Plan:
        plan_queries.put_plan(connection, plan.id, document, now)
        return plan
