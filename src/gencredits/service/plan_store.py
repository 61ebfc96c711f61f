"""Plans in the database: the defaults seeded on first start, and operator-defined ones."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from gencredits.domain.plans import Plan, Plans
from gencredits.store.engine import read_transaction, write_transaction
from gencredits.store.plans_document import plan_from_document, plan_to_document
from gencredits.store.tables import plans as plans_table


class PlanStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._plans: Plans | None = None

    def all(self, connection: Connection | None = None) -> Plans:
        """Every plan (cached). Inside a transaction pass its ``connection``: reading through
        a second pooled connection while holding one could wait for the pool forever when
        every connection is held by a caller doing the same (found by tests/api)."""
        cached = self._plans
        if cached is not None:
            return cached
        if connection is not None:
            loaded = self._read(connection)
        else:
            with read_transaction(self._engine) as reading:
                loaded = self._read(reading)
        with self._lock:
            self._plans = loaded
        return loaded

    @staticmethod
    def _read(connection: Connection) -> Plans:
        documents = connection.execute(
            select(plans_table.c.document).order_by(plans_table.c.created_at, plans_table.c.id)
        ).scalars()
        return Plans(tuple(plan_from_document(document) for document in documents))

    def get(self, plan_id: str) -> Plan:
        return self.all().get(plan_id)

    def put(self, plan: Plan, *, now: datetime) -> Plan:
        """Define a plan or redefine one; accounts on it get the new allowance from their next
        cycle on (a cycle already granted is never granted again)."""
        document = plan_to_document(plan)
        with write_transaction(self._engine) as connection:
            exists = connection.execute(
                select(plans_table.c.id).where(plans_table.c.id == plan.id)
            ).first()
            if exists:
                connection.execute(
                    update(plans_table)
                    .where(plans_table.c.id == plan.id)
                    .values(document=document, updated_at=now)
                )
            else:
                connection.execute(
                    insert(plans_table).values(
                        id=plan.id, document=document, created_at=now, updated_at=now
                    )
                )
        with read_transaction(self._engine) as reading:  # loaded now, not lazily later
            loaded = self._read(reading)
        with self._lock:
            self._plans = loaded
        return plan
