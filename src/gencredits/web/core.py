"""What every dashboard page shares: the signed-in visitor, the account in view, rendering,
security headers and friendly error messages.

A page is a plain function of the request that returns :meth:`Dashboard.render`; refusals are
exceptions: :class:`SignInRequired` (redirect to the sign-in page), :class:`PageError` (an HTML
error page with its status: 403 for an account key on an operator page, 404 for another
account's data, exactly as if it did not exist).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from gencredits.domain import errors
from gencredits.domain.credits import format_credits
from gencredits.domain.results import AccountView
from gencredits.service import lookups
from gencredits.service.facade import Gencredits
from gencredits.service.keys import ApiKey
from gencredits.web.sessions import COOKIE_NAME, SESSION_LIFETIME_SECONDS, Session, SessionSigner

# The security headers of every page (CSP, frame and sniffing rules) come from the API's
# middleware (api/security_headers.py), for the dashboard and the API docs alike; a page only
# adds that it must not be cached, since pages show balances and keys.
PAGE_HEADERS = {"Cache-Control": "no-store"}


class SignInRequired(Exception):
    """No live session: the page redirects to the sign-in form."""


class PageError(Exception):
    """A refusal shown as an HTML page with ``status``."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def not_found(what: str = "page") -> PageError:
    return PageError(404, "Not found", f"There is no such {what}, or it is not yours to see.")


@dataclass(frozen=True, slots=True)
class Visitor:
    key: ApiKey
    session: Session
    csrf_token: str

    @property
    def is_operator(self) -> bool:
        return self.key.is_operator

    @property
    def actor(self) -> str:
        return f"key:{self.key.id}"


@dataclass(frozen=True, slots=True)
class FormError:
    """An operating error as people read it, with the field to blame (if any)."""

    message: str
    field: str | None = None


FIELD_LABELS = {
    "model": "Model",
    "outputs": "Outputs",
    "count": "Requests",
    "seconds": "Seconds",
    "quality": "Quality",
    "option": "Option",
    "project": "Project",
    "buffer_percent": "Buffer",
    "amount": "Amount",
    "amount_credits": "Amount",
    "reason": "Reason",
    "expires_at": "Expires",
    "expires_in_days": "Expires in days",
    "price": "Price",
    "provider_cost": "Provider cost",
    "account_id": "Account",
    "account": "Account",
    "drafts": "Drafts",
    "finals": "Finals",
    "draft_model": "Draft model",
    "final_model": "Final model",
    "task": "Task",
    "max_credits_per_output": "Credit limit per output",
    "source": "Source",
    "key": "Key",
    "lines": "Lines",
}


def field_label(field: str) -> str:
    """``lines.2.outputs`` -> ``Line 3, outputs``; ``count`` -> ``Quantity``."""
    parts = field.split(".")
    name = FIELD_LABELS.get(parts[-1], parts[-1].replace("_", " ").capitalize())
    if len(parts) >= 3 and parts[0] == "lines" and parts[1].isdigit():
        return f"Line {int(parts[1]) + 1}, {name.lower()}"
    return name


def friendly(error: errors.GencreditsError) -> FormError:
    """One sentence for people, naming the field, from any operating error."""
    if isinstance(error, errors.InsufficientCredits):
        return FormError(
            f"Not enough credits: this needs {format_credits(error.required)} and "
            f"{format_credits(error.available)} are available. Nothing was charged.",
            "total",
        )
    if isinstance(error, errors.ProjectCapExceeded):
        return FormError(f"Project: {_sentence(error.message)} Nothing was charged.", "project")
    if isinstance(error, errors.IdempotencyConflict):
        return FormError(
            "This form was already sent with other choices; the page has a fresh form now, "
            "send it again."
        )
    if isinstance(error, errors.NotFound):
        return FormError(f"{field_label(error.field)}: no {error.what} {error.identifier!r}.",
                         error.field)
    field = getattr(error, "field", None)
    if isinstance(field, str) and field:
        return FormError(naming(field, error.message), field)
    return FormError(_sentence(error.message))


def naming(field: str, message: str) -> str:
    """The message with the field's label at its start: ``outputs must be ...`` becomes
    ``Outputs must be ...``, ``unknown model 'x'`` becomes ``Model: unknown model 'x'``, and a
    line of a request says which line (``Line 2: Requests must be ...``)."""
    parts = field.split(".")
    name = parts[-1]
    label = FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
    prefix = ""
    if len(parts) >= 3 and parts[0] == "lines" and parts[1].isdigit():
        prefix = f"Line {int(parts[1]) + 1}: "
    if message.startswith(name + " "):
        return prefix + _sentence(label + message[len(name):])
    text = message.strip()
    return prefix + f"{label}: {text if text.endswith(('.', '!', '?')) else text + '.'}"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def signed(amount_credits: int) -> str:
    return f"{amount_credits:+,}" if amount_credits else "0"


def day(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%b} {moment.day}, {moment:%Y}"


def when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


class Dashboard:
    """The dashboard's state: the service, the session signer and the templates."""

    def __init__(
        self, credits: Gencredits, signer: SessionSigner, *, secure_cookies: bool = True
    ) -> None:
        self.credits = credits
        self.signer = signer
        self.secure_cookies = secure_cookies
        self.templates = Environment(
            loader=PackageLoader("gencredits.web", "templates"),
            autoescape=select_autoescape(["html", "svg"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["credits"] = format_credits
        self.templates.filters["signed"] = signed
        self.templates.filters["day"] = day
        self.templates.filters["when"] = when
        self.templates.globals["field_label"] = field_label

    # --- sessions --------------------------------------------------------------------------

    def session(self, request: Request) -> Session:
        """The request's session; a fresh anonymous one (set on the response) if none."""
        existing = getattr(request.state, "web_session", None)
        if isinstance(existing, Session):
            return existing
        session = self.signer.load(request.cookies.get(COOKIE_NAME))
        if session is None:
            session = self.signer.new()
            request.state.web_session_is_new = True
        request.state.web_session = session
        return session

    def visitor(self, request: Request) -> Visitor:
        session = self.session(request)
        key = lookups.live_key(self.credits, session.key_id) if session.key_id else None
        if key is None:
            raise SignInRequired
        return Visitor(key, session, self.signer.csrf_token(session))

    def replace_session(self, request: Request, session: Session) -> None:
        request.state.web_session = session
        request.state.web_session_is_new = True

    def check_csrf(self, request: Request, session: Session, token: str | None) -> None:
        if not self.signer.check_csrf(session, token):
            raise PageError(
                403,
                "This form has expired",
                "The form was opened in another session or is too old. Go back, reload the "
                "page and send it again.",
            )

    def finish(self, request: Request, response: Response) -> Response:
        """Security headers, and the session cookie when it is new."""
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        if getattr(request.state, "web_session_is_new", False):
            session = request.state.web_session
            response.set_cookie(
                COOKIE_NAME,
                self.signer.dump(session),
                max_age=SESSION_LIFETIME_SECONDS,
                path="/",
                secure=self.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        return response

    # --- the account in view ---------------------------------------------------------------

    def viewed_account(
        self, visitor: Visitor, requested: str | None, *, required: bool = False
    ) -> AccountView | None:
        """The account the page shows: an account key's own (any other id is 'not found');
        for the operator, the ``account`` picked, if any."""
        requested = (requested or "").strip() or None
        if not visitor.is_operator:
            own = visitor.key.account_id
            assert own is not None
            if requested not in (None, own):
                raise not_found("account")
            return self.credits.account(own)
        if requested is None:
            if required:
                raise PageError(400, "Pick an account", "Choose the account to act on.")
            return None
        try:
            return self.credits.account(requested)
        except errors.NotFound:
            raise not_found("account") from None
        except errors.InvalidRequest:
            raise not_found("account") from None

    # --- rendering -------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        *,
        visitor: Visitor | None = None,
        account: AccountView | None = None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        session = self.session(request)
        account_param = account.id if account and visitor and visitor.is_operator else None

        def href(path: str, **params: Any) -> str:
            query = {"account": account_param} if account_param else {}
            query |= {k: v for k, v in params.items() if v not in (None, "")}
            return path + ("?" + urlencode(query) if query else "")

        values: dict[str, Any] = {
            "visitor": visitor,
            "account": account,
            "csrf_token": visitor.csrf_token if visitor else self.signer.csrf_token(session),
            "href": href,
            "path": request.url.path,
            "picker": (
                lookups.picker_accounts(self.credits)
                if visitor and visitor.is_operator else []
            ),
        }
        values.update(context)
        html = self.templates.get_template(template).render(values)
        return self.finish(request, HTMLResponse(html, status_code=status))

    def error_page(
        self, request: Request, status: int, title: str, message: str
    ) -> Response:
        visitor = None
        with contextlib.suppress(SignInRequired):
            visitor = self.visitor(request)
        return self.render(
            request, "error.html", visitor=visitor, status=status, code=status, title=title,
            message=message,
        )


def form_values(data: Mapping[str, str], *names: str) -> dict[str, str]:
    return {name: data.get(name, "") for name in names}
