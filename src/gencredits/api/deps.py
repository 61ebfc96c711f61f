"""Who is calling, and what they may touch: bearer keys, scopes, idempotency headers.

A foreign account id answers 404, exactly as if it did not exist, so an account key cannot
even learn which other accounts exist. Account keys on operator endpoints answer 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from gencredits.domain import limits
from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.service.facade import Gencredits
from gencredits.service.keys import ApiKey, authenticate


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


def no_nul_characters(request: Request) -> None:
    """Refuse a NUL character in a path or query parameter: PostgreSQL text cannot hold one
    (the driver fails, a 500), and no id, label or filter needs one."""
    for source in (request.path_params.items(), request.query_params.multi_items()):
        for name, value in source:
            if isinstance(value, str) and "\x00" in value:
                raise InvalidRequest(f"{name} must not contain a NUL character", field=name)


def service(request: Request) -> Gencredits:
    credits: Gencredits = request.app.state.credits
    return credits


def principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            401, "send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    secret = authorization[7:].strip()
    key = authenticate(service(request).engine, secret) if 0 < len(secret) <= 200 else None
    if key is None:
        raise HTTPException(
            401, "the key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = key.id
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        retry_after = limiter.hit(key.id)
        if retry_after is not None:
            raise HTTPException(
                429, "slow down: this key sent too many requests",
                headers={"Retry-After": str(retry_after)},
            )
    return Principal(key)


def operator(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    if not caller.is_operator:
        raise HTTPException(403, "this needs the operator key")
    return caller


def idempotency_key(
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


Caller = Annotated[Principal, Depends(principal)]
Operator = Annotated[Principal, Depends(operator)]
Service = Annotated[Gencredits, Depends(service)]
IdempotencyKey = Annotated[str, Depends(idempotency_key)]
