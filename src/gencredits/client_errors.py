"""The HTTP client's errors: the library's exceptions rebuilt from problem details (by their
``code``), and the few an HTTP call can meet that the library has none for (401, 403, 429)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from gencredits.domain import errors


class ApiError(errors.GencreditsError):
    """A refusal the library has no exception for (401, 403, 413, 429, 5xx, ...)."""

    code = "api_error"

    def __init__(self, status: int, code: str, detail: str, problem: Mapping[str, Any]) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.problem = dict(problem)


class Unauthorized(ApiError):
    """401: the key is missing, unknown or revoked."""


class Forbidden(ApiError):
    """403: this key may not do that (an account key on an operator endpoint)."""


class RateLimited(ApiError):
    """429: this key sent too many requests; wait ``retry_after_seconds``."""

    def __init__(
        self, status: int, code: str, detail: str, problem: Mapping[str, Any],
        retry_after_seconds: int | None,
    ) -> None:
        super().__init__(status, code, detail, problem)
        self.retry_after_seconds = retry_after_seconds


def _restore(cls: type[errors.GencreditsError], detail: str, **attributes: Any
             ) -> errors.GencreditsError:
    """An error of ``cls`` with the server's message, for classes whose constructor wants data
    the problem body does not carry (an unknown model's id, an option's choices)."""
    error = cls.__new__(cls)
    errors.GencreditsError.__init__(error, detail)
    for name, value in attributes.items():
        setattr(error, name, value)
    return error


_INVALID: dict[str, type[errors.GencreditsError]] = {
    "invalid_request": errors.InvalidRequest,
    "validation_error": errors.InvalidRequest,
    "unknown_model": errors.UnknownModel,
    "inactive_model": errors.InactiveModel,
    "unknown_option": errors.UnknownOption,
    "out_of_range": errors.OutOfRange,
}


def error_from_problem(
    status: int, problem: Mapping[str, Any], *, idempotency_key: str | None = None,
    hold_id: int | None = None, retry_after: str | None = None,
) -> errors.GencreditsError:
    """The library's exception for a problem-details body (by its ``code``)."""
    code = str(problem.get("code") or "http_error")
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    field = problem.get("field")
    if code == "insufficient_credits":
        return errors.InsufficientCredits(int(problem["available"]), int(problem["required"]))
    if code == "project_cap_exceeded":
        return errors.ProjectCapExceeded(
            str(problem["project"]), int(problem["cap"]), int(problem["used"]),
            int(problem["required"]),
        )
    if code == "balance_ceiling_exceeded":
        return errors.BalanceCeilingExceeded(
            int(problem["balance"]), int(problem["amount"]), int(problem["ceiling"]),
            field=str(field or "amount"),
        )
    if code == "exceeds_hold_amount":
        return errors.ExceedsHoldAmount(
            str(hold_id), int(problem["held"]), int(problem["requested"])
        )
    if code == "idempotency_conflict":
        return errors.IdempotencyConflict(idempotency_key or "")
    if code == "hold_not_pending":
        return _restore(errors.HoldNotPending, detail, hold_id=str(hold_id),
                        status=detail.rsplit(" ", 1)[-1])
    if code == "not_found" and status == 404 and field is not None:
        return _restore(errors.NotFound, detail, what=str(field).removesuffix("_id"),
                        identifier=None, field=field)
    if code in _INVALID:
        return _restore(_INVALID[code], detail, field=field or "body")
    if code == "catalog_invalid":
        return _restore(errors.CatalogInvalid, detail, location=field or "")
    if code == "conflict":
        return errors.Conflict(detail)
    if code == "feature_disabled":
        return _restore(errors.FeatureDisabled, detail,
                        feature=detail.split(" is switched off", 1)[0])
    if status == 401:
        return Unauthorized(status, code, detail, problem)
    if status == 403:
        return Forbidden(status, code, detail, problem)
    if status == 429:
        seconds = int(retry_after) if retry_after and retry_after.isdigit() else None
        return RateLimited(status, code, detail, problem, seconds)
    return ApiError(status, code, detail, problem)


def raise_for_problem(response: httpx.Response, **context: Any) -> None:
    if response.is_success:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"detail": response.text[:500] or response.reason_phrase}
    raise error_from_problem(
        response.status_code, problem, retry_after=response.headers.get("retry-after"),
        **context,
    )
