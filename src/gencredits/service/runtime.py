"""The process-wide setup the CLI uses: catalog source and clock.

Until the ledger's database holds price versions, the catalog is the YAML file named by
``GENCREDITS_CATALOG`` or the default shipped with the package.
"""

from __future__ import annotations

import os

from gencredits.domain.catalog import Catalog
from gencredits.domain.pricing import Quote, QuoteRequest
from gencredits.domain.pricing import quote as price
from gencredits.service.clock import clock_from_environment
from gencredits.store.catalog_document import load_catalog_file


def current_catalog() -> Catalog:
    return load_catalog_file(os.environ.get("GENCREDITS_CATALOG") or None)


def quote(request: QuoteRequest) -> Quote:
    return price(request, current_catalog(), issued_at=clock_from_environment().now())
