"""Errors as RFC 9457 problem details: one table from error class to HTTP status.

Every refusal answers ``application/problem+json`` with a stable ``type`` (``/problems/<code>``,
documented at that path), a ``title``, the HTTP ``status``, a human ``detail`` and, where one
field is to blame, ``field``. Insufficient credits adds ``available`` and ``required``; a
balance past its ceiling adds ``balance``, ``amount`` and ``ceiling``.

A refusal by a library error also carries ``error``, the class name (``TooManyOpenHolds``),
and ``details``, the error's own data (``GencreditsError.details()``), from which the HTTP
client rebuilds the same exception (``from_details``) without reading the message.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gencredits.domain import errors

PROBLEM_JSON = "application/problem+json"

STATUS: dict[type[errors.GencreditsError], int] = {
    errors.InvalidRequest: 422,
    errors.CatalogInvalid: 422,
    errors.NotFound: 404,
    errors.IdempotencyConflict: 409,
    errors.HoldNotPending: 409,
    errors.ExceedsHoldAmount: 409,
    # 409, not 422: the request is valid (its amount is within bounds) but the account's
    # current balance has no room for it; the same request succeeds on another account.
    errors.BalanceCeilingExceeded: 409,
    errors.Conflict: 409,
    errors.InsufficientCredits: 402,
    errors.ProjectCapExceeded: 402,
    errors.FeatureDisabled: 403,
    errors.GencreditsError: 400,
}

TITLES = {
    "invalid_request": "The request is not valid",
    "unknown_model": "No such model",
    "inactive_model": "The model is switched off",
    "unknown_option": "No such option",
    "out_of_range": "A number is out of range",
    "catalog_invalid": "The catalog entry is not valid",
    "not_found": "Not found",
    "conflict": "Conflict with the current state",
    "idempotency_conflict": "Idempotency key reused with a different request",
    "idempotency_key_missing": "An Idempotency-Key header is required",
    "idempotency_key_in_use": "A request with this idempotency key is in progress",
    "hold_not_pending": "The hold is already settled",
    "exceeds_hold_amount": "More than the hold reserved",
    "balance_ceiling_exceeded": "The balance would pass its ceiling",
    "insufficient_credits": "Not enough credits",
    "project_cap_exceeded": "The project's credit cap would be passed",
    "feature_disabled": "Switched off by the operator",
    "unauthorized": "A valid API key is required",
    "forbidden": "This key may not do that",
    "validation_error": "The request body or parameters are not valid",
    "body_too_large": "The request body is too large",
    "rate_limited": "Too many requests",
    "method_not_allowed": "Method not allowed",
    "unsupported_media_type": "Send JSON",
    "database_unavailable": "The database is unavailable; retry shortly",
    "malformed_body": "The request body cannot be read",
}


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"/problems/{code}",
        "title": TITLES.get(code, code.replace("_", " ")),
        "status": status,
        "detail": detail,
        "code": code,
        **{key: value for key, value in extra.items() if value is not None},
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_for(error: errors.GencreditsError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def from_error(error: errors.GencreditsError) -> JSONResponse:
    extra: dict[str, Any] = {"field": getattr(error, "field", None)}
    if isinstance(error, errors.InsufficientCredits):
        extra |= {"available": error.available, "required": error.required}
    if isinstance(error, errors.ProjectCapExceeded):
        extra |= {"project": error.project, "cap": error.cap_credits, "used": error.used_credits,
                  "required": error.required}
    if isinstance(error, errors.BalanceCeilingExceeded):
        extra |= {"balance": error.balance_credits, "amount": error.amount_credits,
                  "ceiling": error.ceiling_credits}
    if isinstance(error, errors.ExceedsHoldAmount):
        extra |= {"held": error.held_credits, "requested": error.requested_credits}
    extra |= {"error": type(error).__name__,
              "details": {name: _json_safe(value) for name, value in error.details().items()}}
    return problem(status_for(error), error.code, error.message, **extra)


def _json_safe(value: object) -> object:
    """A detail as JSON can carry it: the error tree's data is numbers, text and lists of
    them; anything else (a library caller's odd argument) is sent as its text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return str(value)


async def handle_domain_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.GencreditsError)
    return from_error(error)


async def handle_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    issues = error.errors()
    first = issues[0] if issues else {"loc": ("body",), "msg": "invalid"}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path",
                                                                          "header")]
    field = ".".join(location) or "body"
    if first.get("type") == "json_invalid":  # its loc is a character offset, not a field
        field = "body"
    detail = f"{field}: {first.get('msg', 'invalid')}"
    return problem(
        422, "validation_error", detail, field=field,
        error=errors.InvalidRequest.__name__, details={"message": detail, "field": field},
        errors=[{"field": ".".join(str(p) for p in i.get("loc", ())), "message": i.get("msg")}
                for i in issues[:20]],
    )


async def handle_database_unavailable(_: Request, error: Exception) -> JSONResponse:
    """The database did not answer (down, restarting, a connection lost mid-request, SQLite busy
    past its timeout): 503 with Retry-After, not a bare 500. The mutation may or may not have
    been applied; sent again with the same Idempotency-Key it is applied exactly once."""
    logging.getLogger("gencredits.http").warning("database unavailable: %s", type(error).__name__)
    return problem(
        503, "database_unavailable",
        "the database did not answer; send the request again (same Idempotency-Key) shortly",
        headers={"Retry-After": "1"},
    )


async def handle_http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {400: "malformed_body", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
            429: "rate_limited"}.get(error.status_code, "http_error")
    detail = error.detail if isinstance(error.detail, str) else TITLES.get(code, code)
    # FastAPI answers 400 only for a body it cannot decode (not UTF-8): the body is to blame,
    # as it is for a body over the size limit.
    field = "body" if code in ("malformed_body", "body_too_large") else None
    return problem(error.status_code, code, detail, headers=dict(error.headers or {}),
                   field=field)
