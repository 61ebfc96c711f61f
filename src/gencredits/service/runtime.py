"""Opening the service for the command line, from the environment.

``GENCREDITS_DATABASE_URL`` names the database (default ``sqlite:///var/gencredits.db``,
relative to the current directory), ``GENCREDITS_NOW`` freezes the clock, and
``GENCREDITS_CATALOG`` names the catalog file seeded into a new database (the packaged
default otherwise). After the first start the catalog lives in the database as price
versions, so operators' price changes show up in every later command.
"""

from __future__ import annotations

from gencredits.config import Settings
from gencredits.service.facade import Gencredits
from gencredits.service.facade import open as open_database


def open_service() -> Gencredits:
    """Connect, migrate and seed on first use; the caller closes it (it is a context manager)."""
    return open_database(catalog_path=Settings.from_environment().catalog_path)
