"""The one way an idempotent use case runs: its key claimed or found before its work.

Two shapes, one rule (a replay of a key and payload gets the first answer, under any
interleaving, on any worker, on either backend):

* **claim first** (:func:`claim_once`, :meth:`Context.mutation`): for a mutation with no row
  to lock before it works (opening an account, creating a key or a webhook, catalog, plan and
  settings edits). The key's row is inserted first thing in the transaction, so a concurrent
  twin waits on it and then replays the stored answer instead of racing the work.
* **after the lock** (:meth:`Context.locked_mutation`, :meth:`Context.account_mutation` on
  one account, both through :func:`gencredits.service.idempotency.run_once`): for a mutation
  of rows it locks first (an account, the account of a hold or of a charge to refund, the two
  accounts of a transfer), whose row locks already serialize every call with its key. Holds,
  captures, releases, refunds, grants, adjustments, transfers, plan changes and members all
  run through it; the charge keeps its own path and its statement count
  (service/batches.py).

Operator-level keys live in the scope ``operator:<operation>`` (see :func:`operator_scope`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from gencredits.service.idempotency import check_key, first_result, request_hash
from gencredits.store.queries import find_idempotency_key
from gencredits.store.queries.idempotency import claim_key, store_answer

Result = TypeVar("Result")

# A stored key can be purged (retention) between a claim that found it and the read of it;
# the claim is then tried again, at most this many times in all.
_CLAIM_ATTEMPTS = 3


def operator_scope(operation: str) -> str:
    """The key space of an operator-level mutation (fits the 64-character scope column)."""
    return f"operator:{operation}"


@dataclass(frozen=True, slots=True)
class Mutation(Generic[Result]):
    """What a use case tells the scaffold: its key space, its name and request, and how its
    answer is stored and read back."""

    scope: str
    key: str | None
    operation: str
    payload: dict[str, Any]
    encode: Callable[[Result], Any]
    decode: Callable[[Any], Result]


def claim_once(
    connection: Connection,
    mutation: Mutation[Result],
    now: datetime,
    perform: Callable[[], Result],
) -> Result:
    """``perform()`` once per (scope, key): the key is claimed first, in this transaction;
    a key already claimed gets its stored answer (or a conflict for another payload)."""
    if mutation.key is None:
        return perform()
    check_key(mutation.key)
    digest = request_hash(mutation.operation, mutation.payload)
    for _ in range(_CLAIM_ATTEMPTS):
        claimed = claim_key(
            connection, scope=mutation.scope, key=mutation.key, operation=mutation.operation,
            request_hash=digest, created_at=now,
        )
        if claimed:
            result = perform()
            store_answer(connection, scope=mutation.scope, key=mutation.key,
                         response=mutation.encode(result))
            return result
        stored = find_idempotency_key(connection, mutation.scope, mutation.key)
        if stored is not None:
            return first_result(stored, digest, mutation.key, mutation.decode)
    raise AssertionError("an idempotency key was neither claimed nor found")
