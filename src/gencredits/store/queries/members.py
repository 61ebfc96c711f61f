"""A pool's members and an account's project caps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from gencredits.store.tables import account_members, project_caps


def member_ids(connection: Connection, account_id: str) -> set[str]:
    statement = select(account_members.c.member_id).where(
        account_members.c.account_id == account_id
    )
    return set(connection.execute(statement).scalars())


def sorted_member_ids(connection: Connection, account_id: str) -> tuple[str, ...]:
    """The account's members in the database's order of their ids."""
    statement = (
        select(account_members.c.member_id)
        .where(account_members.c.account_id == account_id)
        .order_by(account_members.c.member_id)
    )
    return tuple(connection.execute(statement).scalars())


def add_members(
    connection: Connection, account_id: str, members: Iterable[str], now: datetime
) -> None:
    for member in members:
        connection.execute(
            insert(account_members).values(
                account_id=account_id, member_id=member, role="member", added_at=now
            )
        )


def remove_members(connection: Connection, account_id: str, members: Iterable[str]) -> None:
    connection.execute(
        delete(account_members).where(
            account_members.c.account_id == account_id,
            account_members.c.member_id.in_(list(members)),
        )
    )


def set_project_cap(
    connection: Connection, account_id: str, project: str, cap_credits: int | None,
    now: datetime,
) -> None:
    """Replace ``project``'s cap on the account (``None``: no cap)."""
    connection.execute(
        delete(project_caps).where(
            project_caps.c.account_id == account_id, project_caps.c.project == project
        )
    )
    if cap_credits is not None:
        connection.execute(
            insert(project_caps).values(
                account_id=account_id, project=project, cap_credits=cap_credits, updated_at=now
            )
        )


def project_cap(connection: Connection, account_id: str, project: str) -> int | None:
    """``project``'s cap on the account, or ``None`` when it has none."""
    cap: int | None = connection.execute(
        select(project_caps.c.cap_credits).where(
            project_caps.c.account_id == account_id, project_caps.c.project == project
        )
    ).scalar_one_or_none()
    return cap
