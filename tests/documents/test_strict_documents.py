"""Operator documents are strict, as the creator routes are (issue 16, defect 11).

A catalog or plans document, as a YAML file, a JSON file (the CLI's GENCREDITS_CATALOG) or a
JSON body (PUT /v1/catalog/{id}, PUT /v1/plans/{id}), with ``"5"``, ``true`` or ``5.0`` in
an integer field, ``"true"`` or ``1`` in a boolean, a number where text belongs, or a decimal
past its bounds, is refused naming the field, and nothing is published.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gencredits.documents.catalog import catalog_from_document, parse_yaml
from gencredits.documents.plans import plans_from_document
from gencredits.domain.errors import CatalogInvalid

FLAT = {"id": "probe", "name": "Probe", "kind": "image", "tier": "budget",
        "price": {"rule": "flat", "credits": "2"}, "max_outputs": 4, "speed": 3,
        "active": True, "strengths": ["draft"], "provider_cost": "0.01"}
VIDEO = {"id": "clip", "name": "Clip", "kind": "video", "tier": "specialty",
         "price": {"rule": "per_second", "credits_per_second": "5", "min_seconds": 3,
                   "max_seconds": 5, "allowed_seconds": [3, 5]}, "max_outputs": 1}
PLAN = {"id": "probe-plan", "name": "Probe", "allowance_credits": 100, "period": "month",
        "duration_days": 30, "price": "9.5"}

INTEGER_FIELDS = (("max_outputs",), ("speed",), ("price", "min_seconds"),
                  ("price", "max_seconds"), ("price", "allowed_seconds", 0))
PLAN_INTEGER_FIELDS = (("allowance_credits",), ("duration_days",))
NOT_INTEGERS = ("5", True, 5.0)
# (path, wrong values): booleans, text and decimals past their bounds.
OTHER_FIELDS = (
    (("active",), ("true", 1)),
    (("name",), (5, True)),
    (("provider_cost",), ("1e999999", "NaN", "0." + "0" * 30 + "1", 0.5)),
    (("price", "credits"), ("1e-999999", "Infinity", 2.5)),
)


def with_field(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def entry_cases(*, files: bool) -> list[tuple[dict[str, Any], str, Any]]:
    """(entry, the field's name, the wrong value) of every wrong entry. In a file a decimal
    such as 2.5 is read exactly from its text, so it is wrong only in a JSON body, where
    it arrives as a float."""
    cases = []
    for path in INTEGER_FIELDS:
        base = VIDEO if path[0] == "price" else FLAT
        cases += [(with_field(base, path, value), str(next(p for p in reversed(path)
                                                      if isinstance(p, str))), value)
                  for value in NOT_INTEGERS]
    for path, values in OTHER_FIELDS:
        cases += [(with_field(FLAT, path, value), str(path[-1]), value) for value in values
                  if not (files and isinstance(value, float))]
    return cases


def as_file(document: dict[str, Any], how: str) -> Any:
    """The document as the YAML or JSON file an operator writes, read back as the CLI does."""
    text = json.dumps(document) if how == "json" else yaml.safe_dump(document)
    return parse_yaml(text, source=f"catalog.{how}")


@pytest.mark.parametrize("how", ["yaml", "json"])
def test_catalog_files_refuse_loose_values_naming_the_field(how: str) -> None:
    for entry, field, value in entry_cases(files=True):
        document = as_file({"version": 1, "models": [entry]}, how)
        with pytest.raises(CatalogInvalid) as refused:
            catalog_from_document(document, source=f"catalog.{how}")
        assert field in str(refused.value), (field, value, str(refused.value))
    document = as_file({"version": "1", "models": [FLAT]}, how)
    with pytest.raises(CatalogInvalid, match="version"):
        catalog_from_document(document, source="catalog")


@pytest.mark.parametrize("how", ["yaml", "json"])
def test_plans_files_refuse_loose_values_naming_the_field(how: str) -> None:
    for path in PLAN_INTEGER_FIELDS:
        for value in NOT_INTEGERS:
            document = as_file({"plans": [with_field(PLAN, path, value)],
                                "default_plan": "probe-plan"}, how)
            with pytest.raises(CatalogInvalid) as refused:
                plans_from_document(document, source=f"plans.{how}")
            assert path[-1] in str(refused.value), (path, value, str(refused.value))


def test_the_cli_refuses_a_loose_catalog_file(tmp_path: Path) -> None:
    catalog = yaml.safe_load(Path(__file__).parents[2].joinpath(
        "src/gencredits/data/catalog.yaml").read_text())
    catalog["models"][0]["max_outputs"] = "4"
    for suffix, text in (("yaml", yaml.safe_dump(catalog)), ("json", json.dumps(catalog))):
        path = tmp_path / f"catalog.{suffix}"
        path.write_text(text)
        env = {**os.environ, "GENCREDITS_CATALOG": str(path),
               "GENCREDITS_DATABASE_URL": f"sqlite:///{tmp_path / suffix}.db"}
        result = subprocess.run([sys.executable, "-m", "gencredits", "catalog"], env=env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode != 0 and result.stdout == "", result.stdout
        assert "max_outputs" in result.stderr and "Traceback" not in result.stderr, result.stderr
