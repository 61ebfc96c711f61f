"""Reading plans files: the SPEC defaults, errors naming file, plan and field, round trips."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gencredits.documents.plans import (
    load_plans_file,
    plan_from_document,
    plan_to_document,
    plans_from_document,
    plans_to_document,
)
from gencredits.domain.errors import CatalogInvalid
from gencredits.domain.plans import Period, Plan

GOOD = """
default_plan: trial
plans:
  - id: trial
    name: Trial
    allowance_credits: 50
    period: once
    duration_days: 7
    grant_source: trial
  - id: studio
    name: Studio
    allowance_credits: 2500
    period: month
    price: 24.99
  - id: studio-yearly
    name: Studio yearly
    allowance_credits: 30000
    period: year
    price: "249"
    currency: EUR
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plans.yaml"
    path.write_text(text)
    return path


def test_the_default_plans_are_the_spec_figures() -> None:
    plans = load_plans_file()
    assert [plan.id for plan in plans] == ["free", "pro", "ultra"]
    assert plans.default_plan_id == "free"
    free, pro, ultra = plans.get("free"), plans.get("pro"), plans.get("ultra")
    assert (free.name, free.allowance_credits, free.period, free.duration_days) == (
        "Free trial",
        100,
        Period.ONCE,
        14,
    )
    assert (free.grant_source, free.price) == ("trial", Decimal(0))
    assert (pro.name, pro.allowance_credits, pro.period, pro.price) == (
        "Pro",
        1_000,
        Period.MONTH,
        Decimal(12),
    )
    assert (ultra.name, ultra.allowance_credits, ultra.period, ultra.price) == (
        "Ultra",
        5_000,
        Period.MONTH,
        Decimal(48),
    )
    assert pro.grant_source == ultra.grant_source == "plan"


def test_a_custom_file_reads_prices_exactly(tmp_path: Path) -> None:
    plans = load_plans_file(write(tmp_path, GOOD))
    assert plans.default_plan.id == "trial"
    assert plans.get("studio").price == Decimal("24.99")
    yearly = plans.get("studio-yearly")
    assert (yearly.period, yearly.currency, yearly.price) == (Period.YEAR, "EUR", Decimal(249))


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("allowance_credits: 2500", "allowance_credits: -1"), "plans[1] (studio): allowance"),
        (("allowance_credits: 2500", "allowance_credits: 2.5"), "plans[1] (studio): allowance"),
        (("allowance_credits: 2500", "allowance_credits: lots"), "plans[1] (studio): allowance"),
        (("period: month", "period: week"), "plans[1] (studio): period"),
        (("price: 24.99", "price: -1"), "plans[1] (studio): price"),
        (("price: 24.99", "price: 24.99\n    colour: red"), "plans[1] (studio): colour"),
        (("currency: EUR", "currency: euro"), "plans[2] (studio-yearly): currency"),
        (("grant_source: trial", "grant_source: promo"), "plans[0] (trial): grant_source"),
        (("    duration_days: 7\n", ""), "plans[0] (trial): duration_days"),
        (("period: month", "period: month\n    duration_days: 30"), "(studio): duration_days"),
        (("id: studio\n", "id: Studio Plan\n"), "plans[1] (Studio Plan): id"),
        (("id: studio\n", "id: trial\n"), "duplicate id 'trial'"),
        (("default_plan: trial", "default_plan: gold"), "no plan 'gold'"),
        (("price: 24.99", "price: .nan"), "not a finite decimal"),
        (("plans:", "planz:"), "plans: Field required"),
    ],
)
def test_errors_name_file_plan_and_field(
    tmp_path: Path, mutation: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*mutation, 1))
    with pytest.raises(CatalogInvalid) as raised:
        load_plans_file(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogInvalid, match=r"nowhere\.yaml: cannot read"):
        load_plans_file(tmp_path / "nowhere.yaml")


def pro_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "pro",
        "name": "Pro",
        "allowance_credits": 1000,
        "period": "month",
        "price": "12",
    }
    return document | changes


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": 12.5}, "price"),
        ({"allowance_credits": 1000.0}, "allowance_credits"),
        ({"allowance_credits": True}, "allowance_credits"),
        ({"period": "once"}, "duration_days"),
    ],
)
def test_api_documents_refuse_floats_and_name_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(CatalogInvalid) as raised:
        plan_from_document(pro_document(**changes))
    assert raised.value.location == f"plan (pro): {field}"


def test_floats_are_refused_in_a_whole_document() -> None:
    document = plans_to_document(load_plans_file())
    document["plans"][1]["price"] = 12.0
    with pytest.raises(CatalogInvalid, match=r"api: plans\[1\] \(pro\): price: .*not floats"):
        plans_from_document(document, source="api")


def test_one_plan_round_trips_through_its_document() -> None:
    plan = Plan(
        "studio",
        "Studio",
        2_500,
        Period.MONTH,
        price=Decimal("24.990"),
        currency="EUR",
        description="For small teams.",
    )
    document = plan_to_document(plan)
    assert document["price"] == "24.99"  # JSON-safe: decimals as strings
    assert plan_from_document(document) == plan


def test_the_default_plans_round_trip() -> None:
    plans = load_plans_file()
    again = plans_from_document(plans_to_document(plans), source="round-trip")
    assert again == plans
    for plan in plans:
        assert plan_from_document(plan_to_document(plan)) == plan
