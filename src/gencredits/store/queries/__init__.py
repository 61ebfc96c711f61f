"""Every SQL statement the ledger runs, one module per table family (Polar's habit: queries
per domain).

Functions take an open :class:`~sqlalchemy.Connection` inside the caller's transaction and
never commit (two take the engine and run their own short transaction: the state the worker
processes share, ``shared_state``, and the readiness probe, ``health.ping``). Rows come back
as domain values or plain mappings; balances change only through :func:`apply_account_delta`,
which the caller runs after :func:`lock_account`. A refusal the service handles (a duplicate
key, an unanswered ping) comes back as the store's own exception (``store/failures.py``), so
the service never catches SQLAlchemy's.

The names below are re-exported so that callers keep writing ``queries.lock_account(...)``;
callers look them up here at call time, which is also what a test that replaces one patches.
"""

from __future__ import annotations

from gencredits.store.queries.accounts import (
    AccountRow,
    apply_account_delta,
    apply_available_deltas,
    lock_account,
    lock_accounts,
    read_account,
    update_account,
)
from gencredits.store.queries.entries import (
    EntryFilter,
    entry_by_job,
    insert_entries,
    page_entries,
    project_usage,
    read_entry,
    refunded_credits,
)
from gencredits.store.queries.grants import (
    expired_grant_ids,
    grants_due,
    insert_grant,
    live_grants,
    live_grants_of,
    mark_grant_expired,
    next_grant_expiry,
    return_to_grants,
    take_from_grants,
)
from gencredits.store.queries.holds import (
    hold_account,
    hold_by_job,
    holds_due,
    insert_hold,
    list_holds,
    next_hold_expiry,
    pending_hold_count,
    read_hold,
    settle_hold,
)
from gencredits.store.queries.idempotency import (
    StoredKey,
    find_idempotency_key,
    find_idempotency_keys,
    insert_idempotency_key,
    insert_idempotency_keys,
)

__all__ = [
    "AccountRow",
    "EntryFilter",
    "StoredKey",
    "apply_account_delta",
    "apply_available_deltas",
    "entry_by_job",
    "expired_grant_ids",
    "find_idempotency_key",
    "find_idempotency_keys",
    "grants_due",
    "hold_account",
    "hold_by_job",
    "holds_due",
    "insert_entries",
    "insert_grant",
    "insert_hold",
    "insert_idempotency_key",
    "insert_idempotency_keys",
    "list_holds",
    "live_grants",
    "live_grants_of",
    "lock_account",
    "lock_accounts",
    "mark_grant_expired",
    "next_grant_expiry",
    "next_hold_expiry",
    "page_entries",
    "pending_hold_count",
    "project_usage",
    "read_account",
    "read_entry",
    "read_hold",
    "refunded_credits",
    "return_to_grants",
    "settle_hold",
    "take_from_grants",
    "update_account",
]
