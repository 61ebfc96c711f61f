"""gencredits: credits for generative-AI products.

The priced catalog, quotes, balances, safe charging (hold, capture, release), billing cycles,
history and advice. ``gencredits.open()`` gives the whole domain in-process on the embedded
SQLite database; see README.md for the concepts.
"""

from gencredits.client import Client
from gencredits.documents.catalog import load_catalog_file
from gencredits.domain.catalog import Catalog, CatalogEntry, Kind, Tier
from gencredits.domain.errors import (
    AlreadyRefunded,
    BalanceCeilingExceeded,
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
    TooManyOpenHolds,
    UnknownModel,
    UnknownOption,
)
from gencredits.domain.ledger import AccountKind, Entry, EntryKind, GrantSource, Hold, HoldStatus
from gencredits.domain.plans import Plan, Plans
from gencredits.domain.pricing import LineItem, Quote, QuoteLine, QuoteRequest, quote
from gencredits.domain.results import (
    AccountView,
    Page,
    PlanChangeResult,
    Settlement,
    SweepResult,
    Transfer,
    VerifyReport,
)
from gencredits.service.clock import ManualClock, SystemClock
from gencredits.service.facade import Gencredits, open

__version__ = "0.1.0"

__all__ = [
    "AccountKind",
    "AccountView",
    "AlreadyRefunded",
    "BalanceCeilingExceeded",
    "Catalog",
    "CatalogEntry",
    "CatalogInvalid",
    "Client",
    "Conflict",
    "Entry",
    "EntryKind",
    "ExceedsHoldAmount",
    "FeatureDisabled",
    "Gencredits",
    "GencreditsError",
    "GrantSource",
    "Hold",
    "HoldNotPending",
    "HoldStatus",
    "IdempotencyConflict",
    "InactiveModel",
    "InsufficientCredits",
    "InvalidRequest",
    "Kind",
    "LineItem",
    "ManualClock",
    "NotFound",
    "OutOfRange",
    "Page",
    "Plan",
    "PlanChangeResult",
    "Plans",
    "ProjectCapExceeded",
    "Quote",
    "QuoteLine",
    "QuoteRequest",
    "Settlement",
    "SweepResult",
    "SystemClock",
    "Tier",
    "TooManyOpenHolds",
    "Transfer",
    "UnknownModel",
    "UnknownOption",
    "VerifyReport",
    "__version__",
    "load_catalog_file",
    "open",
    "quote",
]
