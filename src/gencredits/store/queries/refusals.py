"""Refused charges (not ledger entries): what the plan advisor and the events feed read of the
charges an account could not afford or a project cap stopped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from gencredits.store.tables import refused_charges


def insert_refusal(
    connection: Connection,
    *,
    account_id: str,
    reason: str,
    required_credits: int,
    available_credits: int,
    model_id: str | None,
    project: str | None,
    created_at: datetime,
) -> None:
    connection.execute(
        insert(refused_charges).values(
            account_id=account_id,
            reason=reason,
            required_credits=required_credits,
            available_credits=available_credits,
            model_id=model_id,
            project=project,
            created_at=created_at,
        )
    )

