"""The two read-only look-ups the dashboard needs that the facade does not offer (yet): a key
by its id (sessions die with their key) and the account picker's ids and names.

Each runs in its own read transaction and returns plain values; nothing here writes. They are
kept in one module so they can join the facade as a group when another interface needs them.
"""

from __future__ import annotations

from gencredits.service.facade import Gencredits
from gencredits.service.keys import ApiKey
from gencredits.store.engine import read_transaction
from gencredits.store.queries import accounts as account_queries
from gencredits.store.queries import keys as key_queries

# Accounts offered in the operator's account picker (the field also takes any id typed).
PICKER_ACCOUNTS = 200


def live_key(credits: Gencredits, key_id: str) -> ApiKey | None:
    """The key with this id unless it was revoked (sessions die with their key)."""
    with read_transaction(credits.engine) as connection:
        row = key_queries.live_key(connection, key_id)
    if row is None:
        return None
    return ApiKey(
        row["id"], row["account_id"], row["name"], row["prefix"], row["created_at"],
        row["revoked_at"],
    )


def picker_accounts(credits: Gencredits) -> list[tuple[str, str]]:
    """(id, name) of the first accounts in id order, for the operator's picker."""
    with read_transaction(credits.engine) as connection:
        return account_queries.first_accounts(connection, PICKER_ACCOUNTS)
