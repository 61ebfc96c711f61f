"""Reading catalog files: errors name the file, entry and field; documents round-trip."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gencredits.documents.catalog import (
    catalog_from_document,
    catalog_to_document,
    load_catalog_file,
)
from gencredits.domain.errors import CatalogInvalid

GOOD = """
version: 3
discounts:
  batch: {2: 5}
models:
  - id: a
    name: A
    kind: image
    tier: budget
    price: {rule: flat, credits: 2}
    max_outputs: 4
    discount: batch
  - id: v
    name: V
    kind: video
    tier: specialty
    price: {rule: per_second, credits_per_second: 12.5, min_seconds: 4, max_seconds: 10}
    max_outputs: 1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_decimals_are_read_exactly(tmp_path: Path) -> None:
    catalog = load_catalog_file(write(tmp_path, GOOD))
    assert catalog.version == 3
    rule = catalog.get("v").rule
    assert rule.credits_per_second == Decimal("12.5")  # type: ignore[union-attr]


def test_the_default_catalog_round_trips() -> None:
    catalog = load_catalog_file()
    again = catalog_from_document(catalog_to_document(catalog), source="round-trip")
    assert again == catalog


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("credits: 2", "credits: 0"), "models[0] (a): price.credits"),
        (("credits: 2", "credits: two"), "models[0] (a): price.credits"),
        (("kind: image", "kind: audio"), "models[0] (a): kind"),
        (("max_outputs: 1", "max_outputs: 1\n    colour: red"), "models[1] (v): colour"),
        (("discount: batch", "discount: mega"), "models[0] (a): discount"),
        (("min_seconds: 4", "min_seconds: 40"), "models[1] (v): min_seconds"),
        (("rule: flat", "rule: magic"), "models[0] (a): price"),
        (("credits: 2", "credits: .inf"), "not a finite decimal"),
        (("- id: v", "- id: a"), "duplicate id 'a'"),
    ],
)
def test_errors_name_file_entry_and_field(
    tmp_path: Path, mutation: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*mutation))
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog_file(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogInvalid, match="cannot read"):
        load_catalog_file(tmp_path / "absent.yaml")
    with pytest.raises(CatalogInvalid, match="not valid YAML"):
        load_catalog_file(write(tmp_path, "models: [unclosed"))
    with pytest.raises(CatalogInvalid, match="models"):
        load_catalog_file(write(tmp_path, "version: 1\n"))
