"""The two read-only queries the dashboard needs that the service layer does not offer (yet):
a key by its id (sessions die with their key) and the account picker's ids and names.

Each runs in its own read transaction and returns plain values; nothing here writes. They are
kept in one module so they can move into ``gencredits.service`` as a group when another
interface needs them.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from gencredits.service.keys import ApiKey
from gencredits.store.engine import read_transaction
from gencredits.store.tables import accounts, api_keys

# Accounts offered in the operator's account picker (the field also takes any id typed).
PICKER_ACCOUNTS = 200


def live_key(engine: Engine, key_id: str) -> ApiKey | None:
    """The key with this id unless it was revoked (sessions die with their key)."""
    with read_transaction(engine) as connection:
        row = (
            connection.execute(
                select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    return ApiKey(
        row["id"], row["account_id"], row["name"], row["prefix"], row["created_at"],
        row["revoked_at"],
    )


def picker_accounts(engine: Engine) -> list[tuple[str, str]]:
    """(id, name) of the first accounts in id order, for the operator's picker."""
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(accounts.c.id, accounts.c.name).order_by(accounts.c.id).limit(PICKER_ACCOUNTS)
        ).all()
    return [(str(row[0]), str(row[1])) for row in rows]
