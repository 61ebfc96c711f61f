"""Idempotency keys, Stripe's way: a replay returns the first result and changes nothing.

A mutation runs through :func:`run_once` *after* it has locked the account it changes, so two
requests with one key are serialized: the second finds the first's stored result. The key's
scope is the account (an operator's keys for different accounts never collide). The same key
with a different payload is refused with :class:`IdempotencyConflict`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection

from gencredits.domain import limits
from gencredits.domain.errors import IdempotencyConflict, InvalidRequest
from gencredits.store.queries import StoredKey, find_idempotency_key, insert_idempotency_key
from gencredits.store.queries import idempotency as idempotency_queries

Result = TypeVar("Result")


# json.dumps(value, sort_keys=True, default=str), with its encoder built once.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str)
_ascii_string = json.encoder.encode_basestring_ascii


def canonical_json(value: Any) -> str:
    """``value`` in the canonical form request hashes are taken of (``json.dumps`` with
    sorted keys, ``default=str``), plain strings, ints and None without the encoder's
    set-up."""
    kind = type(value)
    if kind is str:
        return _ascii_string(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    return _CANONICAL.encode(value)


def digest_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    """The hash an idempotency key keeps of its request: a replay must send the same."""
    return digest_of(canonical_json({"operation": operation, **payload}))


def check_key(key: str | None) -> None:
    if key is None:
        return
    if not key or len(key) > limits.MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"an idempotency key is 1 to {limits.MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
            field="idempotency_key",
        )


def run_once(
    connection: Connection,
    *,
    scope: str,
    key: str | None,
    operation: str,
    payload: dict[str, Any],
    now: datetime,
    perform: Callable[[], Result],
    encode: Callable[[Result], dict[str, Any]],
    decode: Callable[[dict[str, Any]], Result],
) -> Result:
    """``perform()`` once per (scope, key); later calls get the stored result decoded."""
    if key is None:
        return perform()
    digest = request_hash(operation, payload)
    stored = find_idempotency_key(connection, scope, key)
    if stored is not None:
        return first_result(stored, digest, key, decode)
    result = perform()
    insert_idempotency_key(
        connection,
        scope=scope,
        key=key,
        operation=operation,
        request_hash=digest,
        response=encode(result),
        created_at=now,
    )
    return result


def replay_of(
    connection: Connection,
    *,
    scope: str,
    key: str | None,
    operation: str,
    payload: dict[str, Any],
    decode: Callable[[dict[str, Any]], Result],
) -> Result | None:
    """The stored result of an earlier call with ``key`` and this payload, or ``None``.

    For a replay whose request no longer validates although it did when first made (its model
    since switched off, its price version no longer quoted): it still gets its first result.
    """
    if key is None:
        return None
    stored = find_idempotency_key(connection, scope, key)
    if stored is None:
        return None
    return first_result(stored, request_hash(operation, payload), key, decode)


def first_result(
    stored: StoredKey, digest: str, key: str, decode: Callable[[dict[str, Any]], Result]
) -> Result:
    """What a replay of a stored key gets: the first result, decoded; or a conflict when the
    request (its hash, ``digest``) is not the one first made with ``key``."""
    if stored.request_hash != digest:
        raise IdempotencyConflict(key)
    return decode(stored.response)


def purge_keys(connection: Connection, now: datetime) -> int:
    """Forget keys older than the retention period (at least 24 hours, per SPEC)."""
    from datetime import timedelta

    cutoff = now - timedelta(seconds=limits.IDEMPOTENCY_KEY_RETENTION_SECONDS)
    return idempotency_queries.delete_keys_before(connection, cutoff)
