"""The default catalog keeps SPEC section 4's published ranges, and bad entries are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gencredits.documents.catalog import load_catalog_file
from gencredits.domain.catalog import (
    Catalog,
    CatalogEntry,
    FlatRule,
    Kind,
    OptionTableRule,
    PerSecondRule,
    Tier,
    VolumeDiscount,
)
from gencredits.domain.credits import round_half_up
from gencredits.domain.errors import CatalogInvalid, UnknownModel

CATALOG = load_catalog_file()

# SPEC: budget 1-2, standard 3-5, premium 8-12, video 15-125, edits 2-5 credits.
RANGES = {
    (Kind.IMAGE, Tier.BUDGET): (1, 2),
    (Kind.IMAGE, Tier.STANDARD): (3, 5),
    (Kind.IMAGE, Tier.PREMIUM): (8, 12),
    (Kind.VIDEO, Tier.SPECIALTY): (15, 125),
}
SPEC_IDS = {
    "nano-banana-2",
    "flux-2-flex",
    "dall-e-3",
    "flux-2-pro",
    "imagen-4",
    "ideogram-3",
    "ideogram-3-flash",
    "recraft-v4",
    "imagen-4-ultra",
    "flux-2-max",
    "gpt-image-1.5",
    "kling",
    "motion-studio",
    "veo-3",
    "runway-gen-4",
    "sora",
    "background-removal",
    "quality-boost",
    "ai-expand",
}


def test_the_default_catalog_has_every_spec_entry() -> None:
    assert {entry.id for entry in CATALOG.entries} == SPEC_IDS
    assert CATALOG.version == 1


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.id)
def test_every_entry_prices_inside_its_tier_range(entry: CatalogEntry) -> None:
    low, high = RANGES.get((entry.kind, entry.tier), (2, 5) if entry.kind is Kind.EDIT else (0, 0))
    cheapest, dearest = (round_half_up(v) for v in entry.price_range())
    assert low <= cheapest <= dearest <= high


def test_limits_per_kind() -> None:
    for entry in CATALOG.entries:
        expected = {Kind.IMAGE: 4, Kind.VIDEO: 1, Kind.EDIT: 500}[entry.kind]
        assert entry.max_outputs == expected, entry.id


def test_video_defaults() -> None:
    veo = CATALOG.get("veo-3").rule
    assert isinstance(veo, PerSecondRule)
    assert veo.default_quality == "720p"
    assert veo.quality_multipliers["1080p"] == Decimal("1.5")
    expand = CATALOG.get("ai-expand").rule
    assert isinstance(expand, OptionTableRule) and expand.default_option == "small"


def test_unknown_ids_raise() -> None:
    with pytest.raises(UnknownModel):
        CATALOG.get("midjourney")
    assert "flux-2-pro" in CATALOG and "midjourney" not in CATALOG


@pytest.mark.parametrize(
    "build",
    [
        lambda: FlatRule(Decimal(0)),
        lambda: FlatRule(Decimal(-1)),
        lambda: FlatRule(Decimal("NaN")),
        lambda: PerSecondRule(Decimal(5), min_seconds=6, max_seconds=5),
        lambda: PerSecondRule(Decimal(5), min_seconds=1, max_seconds=5, allowed_seconds=(9,)),
        lambda: PerSecondRule(Decimal(5), min_seconds=1, max_seconds=5, default_quality="4k"),
        lambda: OptionTableRule(prices={}, default_option="x"),
        lambda: OptionTableRule(prices={"a": Decimal(1)}, default_option="b"),
        lambda: VolumeDiscount("batch", ((1, Decimal(5)),)),
        lambda: VolumeDiscount("batch", ((3, Decimal(5)), (2, Decimal(7)))),
        lambda: VolumeDiscount("batch", ((2, Decimal(100)),)),
        lambda: CatalogEntry("Bad Id", "x", Kind.IMAGE, Tier.BUDGET, FlatRule(Decimal(1)), 1),
        lambda: CatalogEntry("ok", "x", Kind.IMAGE, Tier.BUDGET, FlatRule(Decimal(1)), 0),
        lambda: CatalogEntry("ok", "x", Kind.IMAGE, Tier.BUDGET, FlatRule(Decimal(1)), 1, speed=9),
        lambda: Catalog(version=0, entries=()),
        lambda: Catalog(
            version=1,
            entries=(CATALOG.get("kling"), CATALOG.get("kling")),
        ),
    ],
)
def test_invalid_catalog_values_are_refused(build: object) -> None:
    with pytest.raises(CatalogInvalid):
        build()  # type: ignore[operator]
