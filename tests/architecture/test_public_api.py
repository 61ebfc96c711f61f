"""The public API is a pinned list (httpx's tests/test_exported_members.py): a name added to
or dropped from ``gencredits`` is a decision made here, not a side effect of an import."""

from __future__ import annotations

import types

import gencredits

PINNED = [
    "AccountKind", "AccountView", "AlreadyRefunded", "BalanceCeilingExceeded", "Catalog",
    "CatalogEntry", "CatalogInvalid", "Client", "Conflict", "Entry", "EntryKind",
    "ExceedsHoldAmount", "FeatureDisabled", "Gencredits", "GencreditsError", "GrantSource", "Hold",
    "HoldNotPending", "HoldStatus", "IdempotencyConflict", "InactiveModel", "InsufficientCredits",
    "InvalidRequest", "Kind", "LineItem", "ManualClock", "NotFound", "OutOfRange", "Page", "Plan",
    "PlanChangeResult", "Plans", "ProjectCapExceeded", "Quote", "QuoteLine", "QuoteRequest",
    "Settlement", "SweepResult", "SystemClock", "Tier", "TooManyOpenHolds", "Transfer",
    "UnknownModel", "UnknownOption", "VerifyReport", "__version__", "load_catalog_file", "open",
    "quote",
]  # fmt: skip


def test_all_is_the_pinned_list() -> None:
    assert sorted(gencredits.__all__) == sorted(PINNED)
    assert len(set(gencredits.__all__)) == len(gencredits.__all__)


def test_every_public_name_is_exported() -> None:
    public = {
        name
        for name, value in vars(gencredits).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(gencredits.__all__) - {"__version__"}


def test_every_exported_name_resolves() -> None:
    for name in gencredits.__all__:
        assert getattr(gencredits, name) is not None
