"""Who is calling, and what they may touch: bearer keys, scopes, idempotency headers.

The dependencies are ``async def`` unless they read the database: FastAPI runs every sync
dependency in the thread pool, and each such hop costs more CPU (~0.15 ms) than the check
itself. Database reads stay in the thread pool, never on the event loop.

A foreign account id answers 404, exactly as if it did not exist, so an account key cannot
even learn which other accounts exist. Account keys on operator endpoints answer 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from gencredits.api.http import client_address
from gencredits.api.rate_limits import SharedRateLimiter
from gencredits.domain import limits
from gencredits.domain.errors import NotFound
from gencredits.service.facade import Gencredits
from gencredits.service.keys import ApiKey, hash_secret


@dataclass(frozen=True, slots=True)
class Principal:
    key: ApiKey

    @property
    def is_operator(self) -> bool:
        return self.key.is_operator

    @property
    def actor(self) -> str:
        return f"key:{self.key.id}"

    def check_account(self, account_id: str) -> None:
        """Account keys see their own account only; any other id is 'not found'."""
        if not self.is_operator and self.key.account_id != account_id:
            raise NotFound("account", account_id, field="account_id")


async def service(request: Request) -> Gencredits:
    credits: Gencredits = request.app.state.credits
    return credits


class KeyCache:
    """Keys authenticated in the last ``seconds``, by the SHA-256 of their secret: a request
    with a cached key skips the database read and the thread-pool hop it needs.

    With ``revocations`` (a count that grows with every revocation in any process:
    ``keys.revocations``, the size of a file beside a SQLite database), the cache is emptied
    whenever the count has moved, checked on every look-up: a key revoked anywhere through
    gencredits (``DELETE /v1/keys/{id}`` in any worker process, ``gencredits keys revoke``)
    is refused by the very next request, and ``seconds`` bounds only a revocation made
    around gencredits (an UPDATE in the database). The server caches keys this way by
    default on SQLite; on PostgreSQL, where servers share no file, only if
    ``GENCREDITS_KEY_CACHE_SECONDS`` is set, and then a revocation through another server
    takes up to ``seconds``.

    A key revoked through this process is dropped at once either way. Unknown keys are never
    cached, so a new key works at once. Dict operations are atomic under the GIL, so request
    threads and the event loop share it without a lock; a key read from the database while a
    revocation was dropping entries is not stored (the ``generation`` check), so a revocation
    cannot be undone by a request in flight."""

    MAX_ENTRIES = 10_000  # past this the cache is emptied: a bound, not an eviction policy

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        revocations: Callable[[], int] | None = None,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._keys: dict[str, tuple[ApiKey, float]] = {}
        self.generation = 0  # counts drops
        self._revocations = revocations
        self._revocations_seen = revocations() if revocations is not None else 0

    def _check_revocations(self) -> None:
        if self._revocations is None:
            return
        seen = self._revocations()
        if seen != self._revocations_seen:
            self.generation += 1
            self._keys.clear()
            self._revocations_seen = seen

    def get(self, secret: str) -> ApiKey | None:
        self._check_revocations()
        found = self._keys.get(hash_secret(secret))
        if found is None:
            return None
        key, expires = found
        if self._clock() >= expires:
            self._keys.pop(hash_secret(secret), None)
            return None
        return key

    def put(self, secret: str, key: ApiKey, generation: int) -> None:
        """Remember ``key``, read from the database when :attr:`generation` was
        ``generation``; not if a key has been dropped or revoked since."""
        self._check_revocations()
        if generation != self.generation:
            return
        if len(self._keys) >= self.MAX_ENTRIES:
            self._keys.clear()
        self._keys[hash_secret(secret)] = (key, self._clock() + self.seconds)

    def drop(self, key_id: str) -> None:
        """Forget key ``key_id`` (revoked): its next request reads the database."""
        self.generation += 1
        for digest, (key, _) in list(self._keys.items()):
            if key.id == key_id:
                self._keys.pop(digest, None)


async def principal(request: Request) -> Principal:
    """The caller's key. Async so that a cached key costs no thread-pool hop; the database
    read of an uncached key runs in the thread pool, never on the event loop. The header is
    read directly, not declared as a parameter (it was never in the schema), which spares
    FastAPI's per-request parameter machinery.

    A client address whose wrong keys used up its failure limit gets 429 before any
    database read (``app.state.failure_limiter``); a known key past its rate, 429 too
    (``app.state.rate_limiter``). Both limits are shared by every worker process."""
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            401, "send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    secret = authorization[7:].strip()
    cache: KeyCache | None = request.app.state.key_cache
    key = cache.get(secret) if cache is not None and 0 < len(secret) <= 200 else None
    if key is None:
        key = await _read_key(request, cache, secret)
    request.state.principal = key.id
    limiter: SharedRateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        retry_after = await limiter.admit("key:" + key.id)
        if retry_after is not None:
            raise too_many(retry_after, "slow down: this key sent too many requests")
    return Principal(key)


def too_many(retry_after: int, detail: str) -> HTTPException:
    return HTTPException(429, detail, headers={"Retry-After": str(retry_after)})


async def _read_key(request: Request, cache: KeyCache | None, secret: str) -> ApiKey:
    """The live key with ``secret`` from the database, unless this address is past its
    failure limit; an unknown key counts as a failure."""
    failures: SharedRateLimiter | None = request.app.state.failure_limiter
    address = client_address(request)
    if failures is not None:
        retry_after = failures.refused(address)
        if retry_after is not None:
            raise too_many(retry_after, "slow down: too many wrong keys from this address")
    key = None
    if 0 < len(secret) <= 200:
        generation = cache.generation if cache is not None else 0
        credits: Gencredits = request.app.state.credits
        key = await run_in_threadpool(credits.authenticate, secret)
        if key is not None and cache is not None:
            cache.put(secret, key, generation)
    if key is None:
        if failures is not None:
            await failures.count(address)
        raise HTTPException(
            401, "the key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    return key


async def operator(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    if not caller.is_operator:
        raise HTTPException(403, "this needs the operator key")
    return caller


async def idempotency_key(
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=limits.MAX_IDEMPOTENCY_KEY_LENGTH,
            description="Required on every mutation: a replay returns the first result.",
        ),
    ],
) -> str:
    return idempotency_key


async def optional_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=limits.MAX_IDEMPOTENCY_KEY_LENGTH,
            description="A replay with this key returns the first result and changes nothing.",
        ),
    ] = None,
) -> str | None:
    return idempotency_key


Caller = Annotated[Principal, Depends(principal)]
Operator = Annotated[Principal, Depends(operator)]
Service = Annotated[Gencredits, Depends(service)]
IdempotencyKey = Annotated[str, Depends(idempotency_key)]
# Operator edits that wrote no ledger entry took no key before; it stays optional on them.
OptionalIdempotencyKey = Annotated[str | None, Depends(optional_idempotency_key)]
