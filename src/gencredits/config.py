"""Every ``GENCREDITS_*`` setting, read from the environment in one place.

:meth:`Settings.from_environment` takes one snapshot of the process environment's
``GENCREDITS_*`` variables; each setting is a typed property over that snapshot, parsed when
asked for (a malformed server setting does not stop a command that never reads it, as before
there was one place). No other module reads ``os.environ``: a guard test says so, and another
that README's configuration table lists exactly :data:`VARIABLES`.

``gencredits serve`` hands its command-line choices to its worker processes through the
environment (uvicorn starts them from ``gencredits.server:app_from_environment``):
:func:`export_for_workers` is that one write.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gencredits.domain.errors import InvalidRequest

PREFIX = "GENCREDITS_"
DEFAULT_DATABASE_URL = "sqlite:///var/gencredits.db"

# Every variable, with its meaning and default as README's configuration table gives them
# (tests/test_config.py holds the table to this list).
VARIABLES: dict[str, str] = {
    "GENCREDITS_DATABASE_URL": "the database (SQLAlchemy URL)",
    "GENCREDITS_NOW": "freeze the clock (ISO 8601)",
    "GENCREDITS_CATALOG": "the catalog file seeded into a new database",
    "GENCREDITS_SWEEP_SECONDS": "seconds between in-server sweeps",
    "GENCREDITS_WEBHOOK_SECONDS": "seconds between webhook delivery rounds",
    "GENCREDITS_RATE_PER_SECOND": "per-key rate limit",
    "GENCREDITS_RATE_BURST": "per-key burst",
    "GENCREDITS_AUTH_FAILURES_PER_MINUTE": "wrong keys per client address per minute",
    "GENCREDITS_AUTH_FAILURE_BURST": "wrong keys per client address at once",
    "GENCREDITS_PREPARE_ON_SERVER": "prepare statements on the PostgreSQL server",
    "GENCREDITS_POOL_SIZE": "database connections per process",
    "GENCREDITS_GROUP_COMMIT": "the server's concurrent charges share a transaction",
    "GENCREDITS_KEY_CACHE_SECONDS": "trust an authenticated key this long",
    "GENCREDITS_SESSION_SECRET": "the dashboard's session-signing secret",
}

SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    """The ``GENCREDITS_*`` variables as read once; typed settings over them."""

    variables: Mapping[str, str]

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(MappingProxyType(
            {name: value for name, value in os.environ.items() if name.startswith(PREFIX)}
        ))

    @classmethod
    def of(cls, **values: str) -> Settings:
        """Settings from ``database_url="..."``-style names (for tests and embedding)."""
        return cls(MappingProxyType({PREFIX + name.upper(): value
                                     for name, value in values.items()}))

    def _text(self, name: str) -> str | None:
        return self.variables.get(name)

    # --- the library ----------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """``GENCREDITS_DATABASE_URL``, else the SQLite file ``var/gencredits.db``."""
        return self._text("GENCREDITS_DATABASE_URL") or DEFAULT_DATABASE_URL

    @property
    def now(self) -> str | None:
        """``GENCREDITS_NOW``: the ISO 8601 moment the clock is frozen at (parsed, with its
        bounds, by ``service.clock``), or None for the system clock."""
        return self._text("GENCREDITS_NOW") or None

    @property
    def catalog_path(self) -> str | None:
        """``GENCREDITS_CATALOG``: the catalog file a new database is seeded with."""
        return self._text("GENCREDITS_CATALOG") or None

    @property
    def prepare_on_server(self) -> bool:
        """``GENCREDITS_PREPARE_ON_SERVER``: off unless 1, true or on."""
        text = self._text("GENCREDITS_PREPARE_ON_SERVER") or ""
        return text.strip().lower() in ("1", "true", "on")

    @property
    def pool_size(self) -> int:
        return int(self._text("GENCREDITS_POOL_SIZE") or "20")

    # --- the server -----------------------------------------------------------------------------

    @property
    def sweep_seconds(self) -> float:
        return float(self._text("GENCREDITS_SWEEP_SECONDS") or "30")

    @property
    def webhook_seconds(self) -> float:
        return float(self._text("GENCREDITS_WEBHOOK_SECONDS") or "2")

    @property
    def rate_per_second(self) -> float:
        return float(self._text("GENCREDITS_RATE_PER_SECOND") or "200")

    @property
    def rate_burst(self) -> int:
        return int(self._text("GENCREDITS_RATE_BURST") or "400")

    @property
    def auth_failures_per_minute(self) -> float:
        return float(self._text("GENCREDITS_AUTH_FAILURES_PER_MINUTE") or "10")

    @property
    def auth_failure_burst(self) -> int:
        return int(self._text("GENCREDITS_AUTH_FAILURE_BURST") or "20")

    @property
    def key_cache_seconds(self) -> float | None:
        """``GENCREDITS_KEY_CACHE_SECONDS``; None (unset or blank): the server decides."""
        text = self._text("GENCREDITS_KEY_CACHE_SECONDS")
        return None if text is None or not text.strip() else float(text)

    @property
    def group_commit(self) -> bool:
        """``GENCREDITS_GROUP_COMMIT``: on unless 0/false/no/off; anything else is refused."""
        return switch(self.variables, "GENCREDITS_GROUP_COMMIT", default=True)

    @property
    def session_secret(self) -> str:
        """``GENCREDITS_SESSION_SECRET`` ('' when unset: the dashboard draws its own)."""
        return self._text("GENCREDITS_SESSION_SECRET") or ""


def switch(variables: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off in any case, ``default`` when unset;
    anything else is refused, naming the variable."""
    value = variables.get(name)
    if value is None:
        return default
    if value.strip().lower() in SWITCH_ON:
        return True
    if value.strip().lower() in SWITCH_OFF:
        return False
    raise InvalidRequest(f"{name} must be 1, true, on or 0, false, off; not {value!r}",
                         field=name)


def export_for_workers(*, database_url: str | None, sweep_seconds: float) -> None:
    """``gencredits serve``'s choices, for the worker processes uvicorn starts (each reads
    them with :meth:`Settings.from_environment`); every worker must also sign dashboard
    sessions with one secret, drawn here unless one is set."""
    if database_url:
        os.environ["GENCREDITS_DATABASE_URL"] = database_url
    os.environ["GENCREDITS_SWEEP_SECONDS"] = str(sweep_seconds)
    os.environ.setdefault("GENCREDITS_SESSION_SECRET", secrets.token_hex(32))
