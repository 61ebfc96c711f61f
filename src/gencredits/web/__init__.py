"""The web dashboard: server-rendered pages, templates and static files (no CDN).

``install_dashboard(app)`` adds it to the API's FastAPI app: the sign-in page at ``/``, the
pages under ``/app/`` and their CSS and script under ``/app/static/`` (served from the
package). Creators see the model selector with live prices, their balance and forecast, the
estimator, history with charts and advice; the operator key adds the catalog, margins and
accounts. Pages work without JavaScript; the one small script only updates prices as options
change.

Errors on dashboard paths are HTML pages; everywhere else the API's problem details stay as
they were.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gencredits.domain.errors import GencreditsError
from gencredits.service.facade import Gencredits
from gencredits.web import (
    auth_routes,
    generate_routes,
    insight_routes,
    operator_routes,
)
from gencredits.web.core import Dashboard, PageError, SignInRequired, friendly
from gencredits.web.sessions import SessionSigner, SignedOutInDatabase

__all__ = ["Dashboard", "SessionSigner", "install_dashboard", "is_dashboard_path"]

Handler = Callable[[Request, Exception], Awaitable[Response]]
PreviousHandler = Callable[[Request, Any], Response | Awaitable[Response]]

HTTP_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    429: "Slow down",
}


def is_dashboard_path(path: str) -> bool:
    return path in ("/", "/signin", "/signout") or path == "/app" or path.startswith("/app/")


def install_dashboard(
    app: FastAPI, *, signer: SessionSigner | None = None, secure_cookies: bool = True
) -> Dashboard:
    """Serve the dashboard from ``app`` (built by ``gencredits.api.app.create_app``)."""
    credits: Gencredits = app.state.credits
    signer = signer or SessionSigner.from_environment(SignedOutInDatabase(credits))
    dashboard = Dashboard(credits, signer, secure_cookies=secure_cookies)
    app.state.dashboard = dashboard
    for module in (auth_routes, generate_routes, insight_routes, operator_routes):
        app.include_router(module.router)
    app.mount(
        "/app/static",
        StaticFiles(packages=[("gencredits.web", "static")]),
        name="dashboard-static",
    )
    _install_error_pages(app, dashboard)
    return dashboard


def _install_error_pages(app: FastAPI, dashboard: Dashboard) -> None:
    async def sign_in_first(request: Request, _: Exception) -> Response:
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        response = RedirectResponse("/?next=" + quote(target, safe=""), status_code=303)
        return dashboard.finish(request, response)

    async def page_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, PageError)
        return dashboard.error_page(request, error.status, error.title, error.message)

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(PageError, page_error)

    def html_on_dashboard(
        previous: PreviousHandler | None, to_page: Callable[[Exception], tuple[int, str, str]]
    ) -> Handler:
        async def handle(request: Request, error: Exception) -> Response:
            if is_dashboard_path(request.url.path) or previous is None:
                status, title, message = to_page(error)
                return dashboard.error_page(request, status, title, message)
            answer = previous(request, error)
            return answer if isinstance(answer, Response) else await answer

        return handle

    def from_http(error: Exception) -> tuple[int, str, str]:
        assert isinstance(error, StarletteHTTPException)
        status = error.status_code
        detail = error.detail if isinstance(error.detail, str) else ""
        if status == 404:
            detail = "There is no such page."
        return status, HTTP_TITLES.get(status, "Something went wrong"), detail or "Sorry."

    def from_domain(error: Exception) -> tuple[int, str, str]:
        assert isinstance(error, GencreditsError)
        from gencredits.api.http import status_for

        return status_for(error), "That did not work", friendly(error).message

    def from_validation(_: Exception) -> tuple[int, str, str]:
        return 400, "Bad request", "Some values in the address are not valid."

    handlers: dict[Any, Callable[[Exception], tuple[int, str, str]]] = {
        StarletteHTTPException: from_http,
        GencreditsError: from_domain,
        RequestValidationError: from_validation,
    }
    for error_class, to_page in handlers.items():
        previous = app.exception_handlers.get(error_class)
        app.add_exception_handler(error_class, html_on_dashboard(previous, to_page))
