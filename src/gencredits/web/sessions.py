"""Dashboard sessions: who is signed in, in a signed cookie, and the CSRF token bound to it.

The cookie holds ``nonce.key_id.issued_at.signature`` and never the key itself: the signature is
an HMAC-SHA256 over the rest with a secret that is ``GENCREDITS_SESSION_SECRET`` when set (so
several worker processes and restarts share sessions) or 32 random bytes generated at start.
Each request checks the signature, the age (at most :data:`SESSION_LIFETIME_SECONDS`) and that
the key is still live, so revoking a key ends its sessions at once. Signing out records the
nonce as signed out (in the database when the dashboard serves one: every worker process then
refuses the cookie, one read by primary key per signed-in request) and clears the cookie.

A visitor who is not signed in still gets a session (``key_id`` empty), so the sign-in form
carries a CSRF token too; signing in issues a fresh nonce (no session fixation). The CSRF
token is ``HMAC(secret, "csrf:" + nonce)``: bound to the session, never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from gencredits.config import Settings
from gencredits.service.facade import Gencredits

COOKIE_NAME = "gc_session"

# A working day and a bit: long enough not to sign people out mid-task, short enough that a
# cookie left on a shared machine stops working by the next morning.
SESSION_LIFETIME_SECONDS = 12 * 60 * 60

# Signed-out nonces remembered by a process without a database (a signer in a unit test) until
# their cookie would have expired anyway; bounded so a flood of sign-outs cannot grow memory.
MAX_SIGNED_OUT_REMEMBERED = 100_000


class SignedOut(Protocol):
    """Where signed-out nonces are kept until their cookie expires."""

    def add(self, nonce: str, expires_at_seconds: int, now_seconds: int) -> None: ...

    def holds(self, nonce: str) -> bool: ...


class SignedOutInProcess:
    """This process only: enough for one process, wrong for several (a signed-out cookie
    would still open pages on the others)."""

    def __init__(self) -> None:
        self._nonces: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, nonce: str, expires_at_seconds: int, now_seconds: int) -> None:
        with self._lock:
            while self._nonces and (
                len(self._nonces) >= MAX_SIGNED_OUT_REMEMBERED
                or next(iter(self._nonces.values())) < now_seconds
            ):
                self._nonces.popitem(last=False)
            self._nonces[nonce] = expires_at_seconds

    def holds(self, nonce: str) -> bool:
        with self._lock:
            return nonce in self._nonces


class SignedOutInDatabase:
    """In the database: every worker process sharing it refuses a signed-out cookie."""

    def __init__(self, credits: Gencredits) -> None:
        self._credits = credits

    def add(self, nonce: str, expires_at_seconds: int, now_seconds: int) -> None:
        self._credits.record_signed_out(nonce, expires_at_seconds, now_seconds)

    def holds(self, nonce: str) -> bool:
        return self._credits.is_signed_out(nonce)


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    key_id: str | None
    issued_at_seconds: int

    @property
    def signed_in(self) -> bool:
        return self.key_id is not None


class SessionSigner:
    """Issues, signs and checks session cookies and their CSRF tokens."""

    def __init__(self, secret: bytes, signed_out: SignedOut | None = None) -> None:
        assert len(secret) >= 16, "a session secret has at least 16 bytes"
        self._secret = secret
        self._signed_out = signed_out if signed_out is not None else SignedOutInProcess()

    @classmethod
    def from_environment(cls, signed_out: SignedOut | None = None) -> SessionSigner:
        text = Settings.from_environment().session_secret
        return cls(text.encode() if len(text) >= 16 else secrets.token_bytes(32), signed_out)

    def new(self, key_id: str | None = None) -> Session:
        return Session(secrets.token_urlsafe(18), key_id, int(time.time()))

    def dump(self, session: Session) -> str:
        payload = f"{session.nonce}.{session.key_id or '-'}.{session.issued_at_seconds}"
        return f"{payload}.{self._sign(payload)}"

    def load(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when forged, malformed, old or signed out."""
        if not value or len(value) > 400:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        parts = payload.split(".")
        if len(parts) != 3 or not parts[2].isdigit():
            return None
        nonce, key_id, issued = parts[0], parts[1], int(parts[2])
        age = int(time.time()) - issued
        if not 0 <= age <= SESSION_LIFETIME_SECONDS:
            return None
        # Only a signed-in session is looked up: an anonymous one opens nothing, so a
        # visitor's pages cost no read.
        if key_id != "-" and self._signed_out.holds(nonce):
            return None
        return Session(nonce, None if key_id == "-" else key_id, issued)

    def csrf_token(self, session: Session) -> str:
        return self._sign("csrf:" + session.nonce)

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def sign_out(self, session: Session) -> None:
        if session.signed_in:
            expires = session.issued_at_seconds + SESSION_LIFETIME_SECONDS
            self._signed_out.add(session.nonce, expires, int(time.time()))

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

