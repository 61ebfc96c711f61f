"""Plans: one document per plan id, defined or redefined by the operator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gencredits.store.failures import duplicates_raised
from gencredits.store.tables import plans


def plan_documents(connection: Connection) -> list[Any]:
    """Every plan's document, in the order the plans were first defined."""
    statement = select(plans.c.document).order_by(plans.c.created_at, plans.c.id)
    return list(connection.execute(statement).scalars())


def has_plans(connection: Connection) -> bool:
    return connection.execute(select(plans.c.id).limit(1)).first() is not None


def insert_plan(connection: Connection, plan_id: str, document: Any, now: datetime) -> None:
    """A new plan. Raises :class:`~gencredits.store.failures.DuplicateRow` when another
    transaction defined this plan id first."""
    with duplicates_raised():
        connection.execute(
            insert(plans).values(id=plan_id, document=document, created_at=now, updated_at=now)
        )


def put_plan(connection: Connection, plan_id: str, document: Any, now: datetime) -> None:
    """Define the plan, or replace the document of the plan with this id."""
    exists = connection.execute(select(plans.c.id).where(plans.c.id == plan_id)).first()
    if exists:
        connection.execute(
            update(plans).where(plans.c.id == plan_id).values(document=document, updated_at=now)
        )
    else:
        insert_plan(connection, plan_id, document, now)
