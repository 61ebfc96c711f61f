"""The HTTP client's errors: the library's exceptions rebuilt from problem details (the class
the body's ``error`` names, from its ``details``), and the few an HTTP call can meet that the
library has none for (401, 403, 429)."""

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

    def details(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "detail": self.message,
                "problem": self.problem}


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

    def details(self) -> dict[str, Any]:
        return super().details() | {"retry_after_seconds": self.retry_after_seconds}


def _library_errors() -> dict[str, type[errors.GencreditsError]]:
    """Every class of the library's error tree, by name (the problem's ``error``)."""
    found: dict[str, type[errors.GencreditsError]] = {}
    pending: list[type[errors.GencreditsError]] = [errors.GencreditsError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == errors.__name__:
            found[cls.__name__] = cls
            pending.extend(cls.__subclasses__())
    return found


LIBRARY_ERRORS = _library_errors()
# For a body without ``error`` (a proxy's, a test's): the class that owns each ``code`` (not a
# subclass that kept its parent's, as TooManyOpenHolds keeps invalid_request).
_BY_CODE: dict[str, type[errors.GencreditsError]] = {
    cls.code: cls for cls in LIBRARY_ERRORS.values()
    if cls is not errors.GencreditsError and cls.code != getattr(cls.__mro__[1], "code", None)
} | {"validation_error": errors.InvalidRequest}


def _restore(cls: type[errors.GencreditsError], detail: str, field: object
             ) -> errors.GencreditsError:
    """An error of ``cls`` with the server's message and the field it names, for a body that
    does not carry the error's data."""
    error = cls.__new__(cls)
    errors.GencreditsError.__init__(error, detail)
    if issubclass(cls, (errors.InvalidRequest, errors.NotFound)):
        error.field = str(field or "body")  # type: ignore[attr-defined]
    if issubclass(cls, errors.CatalogInvalid):
        error.location = str(field or "")  # type: ignore[attr-defined]
    return error


def error_from_problem(
    status: int, problem: Mapping[str, Any], *, retry_after: str | None = None
) -> errors.GencreditsError:
    """The library's exception for a problem-details body: the class its ``error`` names,
    rebuilt from its ``details``; else, by status, one of the client's own."""
    code = str(problem.get("code") or "http_error")
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    name, details = problem.get("error"), problem.get("details")
    cls = LIBRARY_ERRORS.get(name) if isinstance(name, str) else None
    if cls is not None and isinstance(details, Mapping):
        try:
            return cls.from_details(details)
        except (TypeError, KeyError, ValueError):
            pass  # details of another version's shape: restored below from the message
    if cls is None and (code != "not_found" or problem.get("field") is not None):
        cls = _BY_CODE.get(code)  # a 404 naming no field is a path the server does not serve
    if cls is not None:
        return _restore(cls, detail, problem.get("field"))
    if status == 401:
        return Unauthorized(status, code, detail, problem)
    if status == 403:
        return Forbidden(status, code, detail, problem)
    if status == 429:
        seconds = int(retry_after) if retry_after and retry_after.isdigit() else None
        return RateLimited(status, code, detail, problem, seconds)
    return ApiError(status, code, detail, problem)


def raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"detail": response.text[:500] or response.reason_phrase}
    raise error_from_problem(
        response.status_code, problem, retry_after=response.headers.get("retry-after")
    )
