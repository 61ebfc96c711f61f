"""Operations: health, readiness, metrics, the sweep, verify, API keys and switches."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gencredits.api.deps import (
    IdempotencyKey,
    Operator,
    OptionalIdempotencyKey,
    Service,
)
from gencredits.api.http import checked_router
from gencredits.api.problems import TITLES
from gencredits.api.schemas import KeyIn, KeyOut, NewKeyOut, SweepOut, TopupsIn, VerifyOut
from gencredits.domain.errors import NotFound
from gencredits.service import health

router = checked_router(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers")
def readyz(credits: Service, response: Response) -> dict[str, str]:
    try:
        credits.ping()
    except health.DatabaseUnavailable as unavailable:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "detail": unavailable.reason}
    return {"status": "ready"}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/problems/{code}", response_class=HTMLResponse, include_in_schema=False)
async def problem_type(code: str) -> str:
    if code not in TITLES:
        raise NotFound("problem type", code, field="code")
    return f"<h1>{TITLES[code]}</h1><p>gencredits problem type <code>{code}</code>.</p>"


@router.post("/v1/renewals", response_model=SweepOut, summary="Run the renewal and expiry sweep")
def renew(credits: Service, _: Operator, key: IdempotencyKey) -> dict[str, Any]:
    return credits.renew(idempotency_key=key).as_dict()


@router.get("/v1/verify", response_model=VerifyOut,
            summary="Rebuild every balance from the ledger and compare (operator)")
def verify(credits: Service, _: Operator) -> dict[str, Any]:
    return credits.verify().as_dict()


@router.post("/v1/keys", response_model=NewKeyOut, status_code=status.HTTP_201_CREATED,
             summary="Create an API key (operator); the secret is shown once")
def create_key(
    body: KeyIn, credits: Service, _: Operator, idempotency_key: OptionalIdempotencyKey
) -> dict[str, Any]:
    key, secret = credits.create_key(account_id=body.account_id, name=body.name,
                                     idempotency_key=idempotency_key)
    return key.as_dict() | {"secret": secret}


@router.get("/v1/keys", response_model=list[KeyOut], summary="API keys (operator)")
def list_keys(credits: Service, _: Operator) -> list[dict[str, Any]]:
    return [key.as_dict() for key in credits.list_keys()]


@router.delete("/v1/keys/{key_id}", response_model=KeyOut, summary="Revoke a key (operator)")
def revoke_key(
    key_id: str, request: Request, credits: Service, _: Operator, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    revoked = credits.revoke_key(key_id, idempotency_key=key)
    cache = request.app.state.key_cache
    if cache is not None:  # this process refuses it at once (others: see deps.KeyCache)
        cache.drop(key_id)
    return revoked.as_dict()


@router.put("/v1/settings/topups", status_code=204,
            summary="Switch top-up packs on or off (operator; off by default)")
def set_topups(body: TopupsIn, credits: Service, _: Operator, key: OptionalIdempotencyKey) -> None:
    credits.set_topups_enabled(body.enabled, idempotency_key=key)
