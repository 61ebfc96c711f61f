"""gencredits: credits for generative-AI products.

The priced catalog, quotes, balances, safe charging (hold, capture, release), billing cycles,
history and advice. See README.md for the concepts.
"""

from gencredits.domain.catalog import Catalog, CatalogEntry, Kind, Tier
from gencredits.domain.errors import (
    CatalogInvalid,
    Conflict,
    ExceedsHoldAmount,
    FeatureDisabled,
    GencreditsError,
    HoldNotPending,
    IdempotencyConflict,
    InactiveModel,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    OutOfRange,
    ProjectCapExceeded,
    UnknownModel,
    UnknownOption,
)
from gencredits.domain.pricing import LineItem, Quote, QuoteLine, QuoteRequest, quote
from gencredits.store.catalog_document import load_catalog_file

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogInvalid",
    "Conflict",
    "ExceedsHoldAmount",
    "FeatureDisabled",
    "GencreditsError",
    "HoldNotPending",
    "IdempotencyConflict",
    "InactiveModel",
    "InsufficientCredits",
    "InvalidRequest",
    "Kind",
    "LineItem",
    "NotFound",
    "OutOfRange",
    "ProjectCapExceeded",
    "Quote",
    "QuoteLine",
    "QuoteRequest",
    "Tier",
    "UnknownModel",
    "UnknownOption",
    "__version__",
    "load_catalog_file",
    "quote",
]
