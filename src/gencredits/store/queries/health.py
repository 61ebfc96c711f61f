"""The health check's one statement: the database answers a trivial read."""

from __future__ import annotations

from sqlalchemy import Connection, text


def select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))
