"""What the dashboard shares with the API: the one module of ``api`` that ``web`` imports.

Every route of both is a :class:`CheckedRoute` (made by :func:`checked_router`), which refuses
a NUL character in a path or query parameter before anything else runs; failed sign-ins and
wrong keys are counted under :func:`client_address`; a domain error answers the status of
:func:`status_for` (the API's one table, in ``problems.py``); and the sign-in limit is the
API's :class:`SharedRateLimiter`, shared by every worker process.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from gencredits.api.problems import status_for
from gencredits.api.rate_limits import SharedRateLimiter
from gencredits.domain.errors import InvalidRequest

__all__ = [
    "CheckedRoute",
    "SharedRateLimiter",
    "checked_router",
    "client_address",
    "refuse_nul_characters",
    "status_for",
]


def refuse_nul_characters(request: Request) -> None:
    """Refuse a NUL character in a path or query parameter: PostgreSQL text cannot hold one
    (the driver fails, a 500), and no id, label or filter needs one."""
    for source in (request.path_params.items(), request.query_params.multi_items()):
        for name, value in source:
            if isinstance(value, str) and "\x00" in value:
                raise InvalidRequest(f"{name} must not contain a NUL character", field=name)


class CheckedRoute(APIRoute):
    """Every route of the app: :func:`refuse_nul_characters` runs before anything else.
    It was an app-wide dependency, and FastAPI's machinery for one dependency cost ~40 µs of
    every request (5-7% of a charge's server CPU) for a check that takes one."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            refuse_nul_characters(request)
            return await handler(request)

        return checked


def checked_router(**options: Any) -> APIRouter:
    """An ``APIRouter`` of :class:`CheckedRoute` routes."""
    return APIRouter(route_class=CheckedRoute, **options)


def client_address(request: Request) -> str:
    """The name a client's failed sign-ins and wrong keys are counted under."""
    return "address:" + (request.client.host if request.client else "unknown")[:64]
