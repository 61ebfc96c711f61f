"""Plans in the database: the defaults seeded on first start, and operator-defined ones."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from gencredits.domain.plans import Plan, Plans
from gencredits.store.engine import read_transaction, write_transaction
from gencredits.store.plans_document import plan_from_document, plan_to_document
from gencredits.store.tables import plans as plans_table


class PlanStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._plans: Plans | None = None

    def all(self) -> Plans:
        cached = self._plans
        if cached is not None:
            return cached
        with read_transaction(self._engine) as connection:
            documents = connection.execute(
                select(plans_table.c.document).order_by(plans_table.c.created_at, plans_table.c.id)
            ).scalars()
            loaded = Plans(tuple(plan_from_document(document) for document in documents))
        with self._lock:
            self._plans = loaded
        return loaded

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
        with self._lock:
            self._plans = None
        return plan
