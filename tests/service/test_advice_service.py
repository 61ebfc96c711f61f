"""Advice and reports read from the real ledger: every history here is made by charging,
holding, capturing, refunding and being refused through the service, with a ManualClock
moved across billing cycles; none is written as rows by hand.

The subscription is anchored on 2026-01-31 09:00 UTC (tests/service/conftest.py), so Pro's
cycles end on Feb 28, Mar 31, Apr 30, ...
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event

import gencredits
from gencredits import Gencredits, ManualClock, QuoteRequest
from gencredits.domain.advice import PlanAction
from gencredits.domain.catalog import Tier
from gencredits.domain.errors import (
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    OutOfRange,
    ProjectCapExceeded,
)
from gencredits.service import demo
from gencredits.service.reports import report_csv
from tests.service.conftest import START

single = QuoteRequest.single


def spend(credits: Gencredits, account_id: str, amount: int, **options: object) -> None:
    """Charge exactly ``amount`` credits: ``amount`` images at 1 credit (count has no discount)."""
    credits.charge(account_id, single("nano-banana-2", count=amount), **options)


def try_spend(credits: Gencredits, account_id: str, amount: int, **options: object) -> bool:
    try:
        spend(credits, account_id, amount, **options)
    except (InsufficientCredits, ProjectCapExceeded):
        return False
    return True


def live_cycles(
    credits: Gencredits,
    clock: ManualClock,
    account_id: str,
    cycles: Sequence[Sequence[tuple[int, int]]],
) -> None:
    """Live through one cycle per item, spending ``(day, credits)`` pairs (refusals allowed),
    then move past the cycle's end so it is complete."""
    for spends in cycles:
        account = credits.account(account_id)
        for day, amount in spends:
            clock.set(account.cycle_starts_at + timedelta(days=day))
            try_spend(credits, account_id, amount)
        clock.set(account.cycle_ends_at + timedelta(hours=1))


def ledger_usage(credits: Gencredits, account_id: str, since: datetime, until: datetime) -> int:
    """Charges and captures less refunds, summed from the history pages entry by entry."""
    total, cursor = 0, None
    while True:
        page = credits.history(account_id, kinds=("charge", "capture", "refund"), since=since,
                               until=until, cursor=cursor, limit=500)
        for entry in page.entries:
            total += entry.amount_credits if entry.kind.value != "refund" else -entry.amount_credits
        cursor = page.next_cursor
        if cursor is None:
            return total


# --- the estimator ---------------------------------------------------------------------------


def test_the_spec_estimate_against_an_account(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    fifty_shots = single("flux-2-pro", count=50)
    estimated = credits.estimate(fifty_shots, account_id="ana")
    assert (estimated.subtotal_credits, estimated.buffer_credits, estimated.total_credits) == (
        250, 50, 300,
    )
    assert estimated.available_credits == 1_000 and estimated.shortfall_credits == 0
    assert estimated.allowance_credits == 1_000 and estimated.cycles_needed == 1
    assert {a.model_id: a.saved_credits for a in estimated.alternatives} == {
        "imagen-4": 50, "flux-2-flex": 150,
    }
    spend(credits, "ana", 880)  # 120 left: the SPEC's shortfall of 180
    assert credits.estimate(fifty_shots, account_id="ana").shortfall_credits == 180
    bare = credits.estimate(fifty_shots, buffer_percent=10)
    assert bare.total_credits == 275 and bare.available_credits is None
    assert [(fit.plan_id, fit.cycles_needed) for fit in bare.plan_fits] == [("pro", 1),
                                                                          ("ultra", 1)]


def test_the_catalog_advisors_use_todays_prices(credits: Gencredits) -> None:
    plan = credits.plan_drafts(draft_model="nano-banana-2", drafts=20, final_model="flux-2-max",
                               finals=5)
    assert (plan.planned_credits, plan.all_final_credits, plan.saved_credits) == (80, 300, 220)
    advice = credits.advise_models("photoreal", kind="image", max_credits_per_output=5)
    assert [a.model_id for a in advice] == ["flux-2-flex", "imagen-4", "flux-2-pro"]
    with pytest.raises(InvalidRequest) as refused:
        credits.advise_models("vector", kind="hologram")
    assert refused.value.field == "kind"


# --- the plan advisor, one history per branch ------------------------------------------------


def test_running_out_in_two_of_three_cycles_advises_an_upgrade(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("maya", name="Maya", plan="pro")
    live_cycles(credits, clock, "maya", [
        [(5, 500), (14, 500), (20, 50)],  # out on day 14, then refused
        [(3, 700)],  # fits
        [(10, 1_000), (12, 10)],  # out on day 10, then refused
    ])
    advice = credits.advise_plan("maya")
    assert advice.action is PlanAction.UPGRADE and advice.recommended_plan_id == "ultra"
    used = [cycle.used_credits for cycle in advice.cycles]
    assert used == [1_000, 700, 1_000]
    assert [cycle.refused_charges for cycle in advice.cycles] == [1, 0, 1]
    assert advice.cycles[0].ran_out_at == START + timedelta(days=14)
    # 1,000 in 10 of the 30 days of March 31 - April 30: a demand of 3,000, which Ultra covers.
    assert advice.cycles[2].demand_credits == 3_000
    assert "2 of the last 3" in advice.reason and "1,000, 700, 1,000" in advice.reason


def test_refused_charges_alone_in_two_cycles_advise_an_upgrade(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("ivy", name="Ivy", plan="pro")
    # 2 credits are always left, so the balance never reaches zero, but a charge is refused.
    live_cycles(credits, clock, "ivy", [[(20, 998), (21, 5)], [(5, 300)], [(25, 998), (26, 5)]])
    advice = credits.advise_plan("ivy")
    assert advice.action is PlanAction.UPGRADE
    assert [c.refused_charges for c in advice.cycles] == [1, 0, 1]
    assert [c.expired_credits for c in advice.cycles] == [2, 700, 2]


def test_using_under_half_in_each_of_three_cycles_advises_a_cheaper_plan(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("leo", name="Leo", plan="ultra")
    live_cycles(credits, clock, "leo", [[(2, 300)], [(9, 450), (20, 100)], [(1, 200)]])
    advice = credits.advise_plan("leo")
    assert advice.action is PlanAction.DOWNGRADE and advice.recommended_plan_id == "pro"
    assert [c.used_credits for c in advice.cycles] == [300, 550, 200]
    assert [c.expired_credits for c in advice.cycles] == [4_700, 4_450, 4_800]
    assert "under half" in advice.reason and "550" in advice.reason


def test_a_plan_that_fits_stays(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("ada", name="Ada", plan="pro")
    live_cycles(credits, clock, "ada", [[(4, 700)], [(4, 600)], [(4, 990), (28, 20)]])
    advice = credits.advise_plan("ada")
    assert advice.action is PlanAction.STAY and advice.recommended_plan_id == "pro"
    assert "ran short in 1 of them, not 2" in advice.reason


def test_a_light_user_whom_no_smaller_plan_covers_stays(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("bo", name="Bo", plan="pro")
    live_cycles(credits, clock, "bo", [[(1, 100)], [(1, 200)], [(1, 300)]])
    advice = credits.advise_plan("bo")  # under half of Pro, but no recurring plan below Pro
    assert advice.action is PlanAction.STAY and "no smaller plan" in advice.reason


def test_two_cycles_are_not_enough_history(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("cy", name="Cy", plan="ultra")
    live_cycles(credits, clock, "cy", [[(1, 10)], [(1, 10)]])
    advice = credits.advise_plan("cy")
    assert advice.action is PlanAction.STAY and "not enough history" in advice.reason
    assert len(advice.cycles) == 2


def test_project_cap_refusals_do_not_mean_the_plan_is_too_small(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("agency", name="Agency", plan="pro")
    credits.set_project_cap("agency", "acme", 100)
    for _ in range(3):
        account = credits.account("agency")
        clock.set(account.cycle_starts_at + timedelta(days=3))
        spend(credits, "agency", 600)
        assert not try_spend(credits, "agency", 150, project="acme")  # the cap refuses
        clock.set(account.cycle_ends_at + timedelta(hours=1))
    advice = credits.advise_plan("agency")
    assert advice.action is PlanAction.STAY
    assert [c.refused_charges for c in advice.cycles] == [0, 0, 0]
    report = credits.usage_report("agency", periods=4)
    assert [p.totals.refused_charges for p in report.periods] == [1, 1, 1, 0]


def test_cycle_history_reads_holds_captures_refunds_and_grants(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("eve", name="Eve", plan="pro")
    clock.set(START + timedelta(days=2))
    credits.grant("eve", 50, source="promo", reason="welcome")
    held = credits.hold("eve", single("veo-3", seconds=8, quality="1080p"))  # 120
    credits.capture(held.id, amount_credits=100)
    charged = credits.charge("eve", single("flux-2-pro", outputs=4))  # 18
    credits.refund(charged.id, amount_credits=8)
    released = credits.hold("eve", single("kling", seconds=5))
    credits.release(released.id)
    clock.set(START + timedelta(days=40))
    (cycle,) = credits.cycle_history("eve", cycles=1)
    assert cycle.used_credits == 100 + 18 - 8
    assert cycle.granted_credits == 1_050 and cycle.allowance_credits == 1_000
    assert cycle.expired_credits == 1_000 - 110  # the promo lasts; the allowance lapsed
    assert cycle.ran_out_at is None and cycle.refused_charges == 0


# --- the forecast ----------------------------------------------------------------------------


def test_the_forecast_runs_out_or_expires(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("fay", name="Fay", plan="pro")
    clock.set(START + timedelta(days=1))
    spend(credits, "fay", 100)
    clock.set(START + timedelta(days=10))  # 100 in 10 of 28 days: 10 a day, 180 more to come
    calm = credits.forecast("fay")
    assert calm.runs_out_at is None and calm.used_credits == 100
    assert calm.projected_use_credits == 180 and calm.expiring_credits == 720
    spend(credits, "fay", 400)  # 500 in 10 days: 50 a day; 500 left last 10 more days
    busy = credits.forecast("fay")
    assert busy.runs_out_at == START + timedelta(days=20)
    assert busy.expiring_credits == 0 and "run out" in busy.summary


# --- usage reports ---------------------------------------------------------------------------


def busy_history(credits: Gencredits, clock: ManualClock) -> None:
    """Three cycles of mixed work on an agency pool with projects."""
    credits.create_account("studio", name="Studio", plan="ultra", kind="pool",
                           members=("ana", "ben"))
    jobs = [
        (single("flux-2-max", outputs=4), "acme"),
        (single("imagen-4", count=3), "globex"),
        (single("background-removal", outputs=20), None),
        (single("ai-expand", option="large"), "acme"),
    ]
    for cycle in range(3):
        account = credits.account("studio")
        for number, day in enumerate(range(0, 25, 4)):
            clock.set(account.cycle_starts_at + timedelta(days=day, hours=cycle))
            request, project = jobs[(number + cycle) % len(jobs)]
            entry = credits.charge("studio", request, project=project)
            if day % 8 == 0:
                credits.refund(entry.id, amount_credits=1)
            held = credits.hold("studio", single("runway-gen-4", seconds=10), project="globex")
            credits.capture(held.id, amount_credits=60 + day)
        clock.set(account.cycle_ends_at + timedelta(days=2))


def test_report_totals_equal_the_ledger(credits: Gencredits, clock: ManualClock) -> None:
    busy_history(credits, clock)
    for period, count in (("cycle", 4), ("month", 5)):
        report = credits.usage_report("studio", period=period, periods=count)
        assert len(report.periods) == count
        first, last = report.periods[0].starts_at, report.periods[-1].ends_at
        assert report.used_credits == ledger_usage(credits, "studio", first, last) > 0
        for item in report.periods:
            assert item.used_credits == ledger_usage(credits, "studio", item.starts_at,
                                                     item.ends_at)
            for group in (item.by_model, item.by_kind, item.by_tier, item.by_project):
                assert sum(line.credits for line in group) == item.used_credits
            assert item.totals.charged_credits - item.totals.refunded_credits == item.used_credits
    cycles = credits.usage_report("studio", periods=4).periods
    assert [p.complete for p in cycles] == [True, True, True, False]
    assert {line.key for line in cycles[0].by_kind} == {"image", "video", "edit"}
    assert {line.key for line in cycles[0].by_project} == {"acme", "globex", "(no project)"}
    assert cycles[0].top_models[0].key == "runway-gen-4"
    assert cycles[0].totals.expired_credits == 5_000 - cycles[0].used_credits


def test_the_csv_export_parses_back(credits: Gencredits, clock: ManualClock) -> None:
    busy_history(credits, clock)
    report = credits.usage_report("studio", period="month", periods=4)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert rows and set(rows[0]) == {"account", "period", "label", "starts_at", "ends_at",
                                     "group", "key", "credits", "charges"}
    for item in report.periods:
        mine = [row for row in rows if row["label"] == item.label]
        totals = {row["key"]: int(row["credits"]) for row in mine if row["group"] == "total"}
        assert totals["used"] == item.used_credits
        assert totals["expired"] == item.totals.expired_credits
        by_model = {row["key"]: int(row["credits"]) for row in mine if row["group"] == "model"}
        assert by_model == {line.key: line.credits for line in item.by_model}
    assert credits.usage_report_csv("studio", period="month", periods=4) == report_csv(report)


def test_kind_and_tier_come_from_the_price_version_charged(
    credits: Gencredits, clock: ManualClock
) -> None:
    credits.create_account("gus", name="Gus", plan="pro")
    clock.set(START + timedelta(days=1))
    spend(credits, "gus", 10)
    entry = credits.catalog().get("nano-banana-2")
    credits.put_catalog_entry(replace(entry, tier=Tier.STANDARD))
    spend(credits, "gus", 5)
    (period,) = credits.usage_report("gus", periods=1).periods
    assert {line.key: line.credits for line in period.by_tier} == {"budget": 10, "standard": 5}


def test_a_report_runs_a_fixed_number_of_statements(
    credits: Gencredits, clock: ManualClock
) -> None:
    """Aggregated in SQL: ten times the entries cost no more statements."""
    credits.create_account("hal", name="Hal", plan="ultra")
    counts = []
    for charges in (5, 50):
        clock.advance(minutes=1)
        for _ in range(charges):
            spend(credits, "hal", 1)
        statements = []

        def count(_connection: object, _cursor: object, sql: str, *_: object) -> None:
            # The plan and price caches refresh after a second of real time, whenever a slow
            # machine crosses it: those reads are the caches', not the report's.
            if not re.search(r"\bFROM (plans|catalog_versions)\b", sql):
                statements.append(1)  # noqa: B023 - read right after, inside the loop

        event.listen(credits.engine, "before_cursor_execute", count)
        try:
            credits.usage_report("hal", period="month", periods=6)
        finally:
            event.remove(credits.engine, "before_cursor_execute", count)
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_reports_refuse_bad_input(credits: Gencredits) -> None:
    credits.create_account("ina", name="Ina", plan="pro")
    with pytest.raises(InvalidRequest) as bad:
        credits.usage_report("ina", period="week")
    assert bad.value.field == "period"
    with pytest.raises(OutOfRange):
        credits.usage_report("ina", periods=0)
    with pytest.raises(OutOfRange):
        credits.cycle_history("ina", cycles=25)
    with pytest.raises(NotFound):
        credits.forecast("nobody")
    report = credits.usage_report("ina", period="month", periods=2)  # nothing used yet
    assert report.used_credits == 0 and report.periods[-1].by_model == ()


# --- margins ---------------------------------------------------------------------------------


def test_margins_from_the_plans_or_a_given_credit_value(credits: Gencredits) -> None:
    report = credits.margins()
    assert report.credit_value == Decimal("0.0096") and report.currency == "USD"
    assert [m.model_id for m in report.below_target] == ["dall-e-3"]
    given = credits.margins(credit_value=Decimal("0.02"), target_margin_percent=61)
    assert given.credit_value_source == "given"
    # dall-e-3 sells 2 credits for 0.04 and costs 0.016: 60%, now below the 61% target.
    dall_e = next(m for m in given.models if m.model_id == "dall-e-3")
    assert dall_e.margin_percent == 60 and dall_e.below_target


# --- the demo --------------------------------------------------------------------------------


NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def test_the_demo_gives_every_advice_something_to_say(tmp_path: Path) -> None:
    demo_database = f"sqlite:///{tmp_path / 'demo.db'}"
    seen: list[int] = []
    result = demo.seed_demo(demo_database, now=NOW, days=100,
                            progress=lambda done, total: seen.append(done))
    assert result.created and result.charges > 500 and result.refused > 0
    assert result.holds and result.captures and result.releases and result.refunds
    assert seen[-1] == len(seen)
    with gencredits.open(demo_database, clock=ManualClock(NOW)) as credits:
        actions = {account: credits.advise_plan(account).action for account in demo.DEMO_ACCOUNTS}
        assert actions == {"demo-heavy": PlanAction.UPGRADE, "demo-light": PlanAction.DOWNGRADE,
                           "demo-agency": PlanAction.STAY}
        assert credits.forecast("demo-heavy").runs_out_at is not None
        assert credits.forecast("demo-light").expiring_credits > 0
        agency = credits.usage_report("demo-agency", period="month", periods=4)
        assert {line.key for line in agency.periods[-2].by_project} == {"acme", "globex",
                                                                        "initech"}
        assert credits.verify().ok
        entries_before = credits.verify().entries_checked
    again = demo.seed_demo(demo_database, now=NOW + timedelta(days=3))
    assert not again.created
    with gencredits.open(demo_database, clock=ManualClock(NOW)) as credits:
        assert credits.verify().entries_checked == entries_before


def test_the_demo_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    histories = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / name}.db"
        demo.seed_demo(url, now=NOW, days=6)
        with gencredits.open(url, clock=ManualClock(NOW)) as credits:
            page = credits.history("demo-agency", limit=500)
            histories.append([(e.kind, e.amount_credits, e.model_id, e.project, e.effective_at)
                              for e in page.entries])
    assert histories[0] == histories[1] and histories[0]
