"""Signing in with an account or operator key, and signing out.

Wrong keys count against the client address's failure limit, the same one the API's bearer
keys use (``app.state.failure_limiter``, shared by every worker process): past it, the form
answers 429 with ``Retry-After`` before reading any key."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from gencredits.api.http import SharedRateLimiter, checked_router, client_address
from gencredits.web.core import Dashboard, SignInRequired
from gencredits.web.forms import Form, read_form

router = checked_router(include_in_schema=False)

HOME = "/app/generate"


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def safe_next(target: str | None) -> str:
    """Only a dashboard path of this site (never ``//elsewhere`` or a full URL)."""
    if target and target.startswith("/app/") and "//" not in target and "\\" not in target:
        return target
    return HOME


@router.get("/")
def sign_in_page(request: Request) -> Response:
    dashboard = dashboard_of(request)
    query = Form.from_query(request)
    try:
        dashboard.visitor(request)
        return dashboard.finish(request, RedirectResponse(safe_next(query.get("next")), 303))
    except SignInRequired:
        pass
    return dashboard.render(
        request, "signin.html", next=safe_next(query.get("next")),
        signed_out=query.get("signed_out") == "1",
    )


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    failures: SharedRateLimiter | None = getattr(request.app.state, "failure_limiter", None)
    address = client_address(request)
    retry_after = failures.refused(address) if failures is not None else None
    if retry_after is not None:
        return await run_in_threadpool(_too_many_guesses, request, retry_after)
    form = await read_form(request)
    response = await run_in_threadpool(_sign_in, request, form)
    if response.status_code == 401 and failures is not None:
        await failures.count(address)
    return response


def _too_many_guesses(request: Request, retry_after: int) -> Response:
    message = (f"Too many wrong keys from your address. Wait {retry_after} seconds and try "
               "again.")
    response = dashboard_of(request).render(request, "signin.html", status=429, error=message,
                                            next=HOME)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _sign_in(request: Request, form: Form) -> Response:
    dashboard = dashboard_of(request)
    session = dashboard.session(request)
    dashboard.check_csrf(request, session, form.get("csrf_token"))
    secret = form.get("key")
    key = dashboard.credits.authenticate(secret) if 0 < len(secret) <= 200 else None
    if key is None:
        message = (
            "Key: enter your account key or the operator key."
            if not secret
            else "Key: this key is unknown or has been revoked. Check it and try again."
        )
        return dashboard.render(
            request, "signin.html", status=401, error=message, next=safe_next(form.get("next"))
        )
    dashboard.replace_session(request, dashboard.signer.new(key.id))
    return dashboard.finish(request, RedirectResponse(safe_next(form.get("next")), 303))


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_sign_out, request, form)


def _sign_out(request: Request, form: Form) -> Response:
    dashboard = dashboard_of(request)
    session = dashboard.session(request)
    dashboard.check_csrf(request, session, form.get("csrf_token"))
    dashboard.signer.sign_out(session)
    dashboard.replace_session(request, dashboard.signer.new())
    return dashboard.finish(request, RedirectResponse("/?signed_out=1", 303))
