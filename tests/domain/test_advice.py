"""Advice: the SPEC's worked examples, every plan-advisor branch, boundaries and properties."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gencredits.documents.catalog import load_catalog_file
from gencredits.documents.plans import load_plans_file
from gencredits.domain.advice import (
    CycleUsage,
    Forecast,
    PlanAction,
    advise_models,
    advise_plan,
    credit_value,
    estimate,
    forecast,
    margins,
    plan_drafts,
)
from gencredits.domain.catalog import (
    Catalog,
    CatalogEntry,
    FlatRule,
    Kind,
    OptionTableRule,
    PerSecondRule,
    Tier,
)
from gencredits.domain.errors import InvalidRequest, OutOfRange, UnknownModel
from gencredits.domain.plans import Period, Plan
from gencredits.domain.pricing import LineItem, QuoteRequest, price_line

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CATALOG = load_catalog_file()
ACTIVE = CATALOG.active_entries()
PLANS = tuple(load_plans_file())
FREE, PRO, ULTRA = (next(p for p in PLANS if p.id == i) for i in ("free", "pro", "ultra"))


def json_round_trip(value: dict[str, Any]) -> None:
    assert json.loads(json.dumps(value)) == value


# --- estimator --------------------------------------------------------------------------------


def test_spec_estimate_50_product_shots_cost_300_with_the_buffer() -> None:
    result = estimate(
        QuoteRequest.single("flux-2-pro", count=50),
        CATALOG,
        issued_at=NOW,
        available_credits=120,
        allowance_credits=1000,
        plans=PLANS,
    )
    assert (result.subtotal_credits, result.buffer_credits, result.total_credits) == (250, 50, 300)
    assert result.shortfall_credits == 180
    assert result.cycles_needed == 1
    assert [(fit.plan_id, fit.cycles_needed) for fit in result.plan_fits] == [
        ("pro", 1),
        ("ultra", 1),
    ]
    assert [(a.model_id, a.saved_credits) for a in result.alternatives] == [
        ("flux-2-flex", 150),
        ("imagen-4", 50),
    ]
    assert result.as_dict()["total"] == 300
    json_round_trip(result.as_dict())


def test_estimate_without_comparisons_and_with_enough_credits() -> None:
    bare = estimate(QuoteRequest.single("nano-banana-2"), CATALOG, issued_at=NOW)
    assert (bare.total_credits, bare.shortfall_credits, bare.cycles_needed) == (2, None, None)
    assert bare.plan_fits == () and bare.alternatives == ()  # nothing cheaper than 1 credit
    enough = estimate(
        QuoteRequest.single("flux-2-pro", count=50), CATALOG, issued_at=NOW, available_credits=300
    )
    assert enough.shortfall_credits == 0


def test_cycles_needed_round_up_and_trial_plans_are_not_fits() -> None:
    result = estimate(
        QuoteRequest.single("flux-2-max", count=200),  # 2,400 + 480 = 2,880
        CATALOG,
        issued_at=NOW,
        allowance_credits=1000,
        plans=PLANS,
    )
    assert result.total_credits == 2880
    assert result.cycles_needed == 3
    assert [(fit.plan_id, fit.cycles_needed) for fit in result.plan_fits] == [
        ("pro", 3),
        ("ultra", 1),
    ]


@pytest.mark.parametrize(("percent", "buffer"), [(0, 0), (Decimal("0.1"), 1), (100, 250)])
def test_buffer_bounds(percent: Decimal, buffer: int) -> None:
    result = estimate(
        QuoteRequest.single("flux-2-pro", count=50), CATALOG, issued_at=NOW, buffer_percent=percent
    )
    assert result.buffer_credits == buffer


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"buffer_percent": Decimal(-1)}, "buffer_percent"),
        ({"buffer_percent": Decimal("100.5")}, "buffer_percent"),
        ({"buffer_percent": 20.0}, "buffer_percent"),
        ({"buffer_percent": Decimal("NaN")}, "buffer_percent"),
        ({"available_credits": -1}, "available_credits"),
        ({"allowance_credits": 0}, "allowance_credits"),
        ({"allowance_credits": True}, "allowance_credits"),
    ],
)
def test_estimate_refuses_bad_figures_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        estimate(QuoteRequest.single("flux-2-pro"), CATALOG, issued_at=NOW, **options)
    assert raised.value.field == field


def test_bad_lines_keep_the_quote_errors() -> None:
    with pytest.raises(UnknownModel) as raised:
        estimate(QuoteRequest.single("no-such-model"), CATALOG, issued_at=NOW)
    assert raised.value.field == "lines.0.model"


def test_video_and_edit_alternatives_adjust_their_options() -> None:
    request = QuoteRequest(
        lines=(
            LineItem("veo-3", seconds=8, quality="1080p"),  # 120
            LineItem("ai-expand", option="large", outputs=10),  # 48
        )
    )
    result = estimate(request, CATALOG, issued_at=NOW)
    found = {(a.line_index, a.model_id): a for a in result.alternatives}
    runway = found[(0, "runway-gen-4")]
    assert runway.line.seconds == 10  # the nearest duration runway makes that is long enough
    assert runway.adjustments == ("seconds 8 -> 10", "quality 1080p -> 720p")
    assert runway.saved_credits == 20
    sora = found[(0, "sora")]
    assert (sora.line.seconds, sora.line.quality, sora.saved_credits) == (8, "720p", 20)
    removal = found[(1, "background-removal")]
    assert removal.adjustments == ("option large does not apply",)
    assert removal.line.outputs == 10
    assert (1, "quality-boost") not in found  # 47.5 -> 48 is not cheaper than 48
    savings = [a.saved_credits for a in result.alternatives]
    assert savings == sorted(savings, reverse=True)
    json_round_trip(result.as_dict())


def test_alternatives_that_cannot_make_the_line_are_skipped() -> None:
    small = CatalogEntry(
        id="tiny-photo",
        name="Tiny Photo",
        kind=Kind.IMAGE,
        tier=Tier.BUDGET,
        rule=FlatRule(Decimal(1)),
        max_outputs=2,
        strengths=("photoreal",),
    )
    catalog = CATALOG.with_entry(small)
    four = estimate(QuoteRequest.single("flux-2-pro", outputs=4), catalog, issued_at=NOW)
    assert "tiny-photo" not in {a.model_id for a in four.alternatives}
    two = estimate(QuoteRequest.single("flux-2-pro", outputs=2), catalog, issued_at=NOW)
    assert two.alternatives[0].model_id == "tiny-photo"


@st.composite
def valid_lines(draw: st.DrawFn) -> LineItem:
    entry = draw(st.sampled_from(ACTIVE))
    outputs = draw(st.integers(1, min(entry.max_outputs, 60)))
    count = draw(st.integers(1, 50))
    rule = entry.rule
    if isinstance(rule, PerSecondRule):
        return LineItem(
            entry.id,
            outputs=outputs,
            count=count,
            seconds=draw(st.sampled_from(rule.durations())),
            quality=draw(st.sampled_from(sorted(rule.quality_multipliers))),
        )
    if isinstance(rule, OptionTableRule):
        option = draw(st.sampled_from(sorted(rule.prices)))
        return LineItem(entry.id, outputs=outputs, count=count, option=option)
    return LineItem(entry.id, outputs=outputs, count=count)


PERCENTS = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)


@given(st.lists(valid_lines(), min_size=1, max_size=5), PERCENTS)
def test_buffer_is_the_ceiling_of_the_percentage(lines: list[LineItem], percent: Decimal) -> None:
    result = estimate(QuoteRequest(tuple(lines)), CATALOG, issued_at=NOW, buffer_percent=percent)
    subtotal = result.subtotal_credits
    assert result.buffer_credits == math.ceil(Fraction(subtotal) * Fraction(percent) / 100)
    assert result.total_credits == subtotal + result.buffer_credits >= subtotal


@given(st.lists(valid_lines(), min_size=1, max_size=4))
def test_alternatives_are_strictly_cheaper_and_of_the_same_kind(lines: list[LineItem]) -> None:
    result = estimate(QuoteRequest(tuple(lines)), CATALOG, issued_at=NOW)
    for alternative in result.alternatives:
        original = result.quote.lines[alternative.line_index]
        assert alternative.line.kind is original.kind
        assert alternative.model_id != original.model_id
        assert alternative.line.subtotal_credits < original.subtotal_credits
        assert alternative.saved_credits == (
            original.subtotal_credits - alternative.line.subtotal_credits
        )
        assert (alternative.line.outputs, alternative.line.count) == (
            original.outputs,
            original.count,
        )
        if original.kind is Kind.IMAGE:
            assert alternative.shared_strengths
        # Re-pricing the alternative's request gives the same figures: one pricing function.
        repriced = price_line(
            LineItem(
                alternative.model_id,
                outputs=alternative.line.outputs,
                count=alternative.line.count,
                seconds=alternative.line.seconds,
                quality=alternative.line.quality,
                option=alternative.line.option,
            ),
            CATALOG,
        )
        assert repriced == alternative.line


# --- draft -> final planner -------------------------------------------------------------------


def test_spec_draft_plan_saves_73_percent() -> None:
    plan = plan_drafts(
        CATALOG,
        draft_model="nano-banana-2",
        drafts=20,
        final_model="flux-2-max",
        finals=5,
        issued_at=NOW,
    )
    assert (plan.draft_credits, plan.final_credits, plan.planned_credits) == (20, 60, 80)
    assert plan.all_final_credits == 300
    assert plan.saved_credits == 220
    assert plan.saved_percent == Decimal("73.3")
    assert plan.as_dict()["saved_percent"] == "73.3"
    json_round_trip(plan.as_dict())


def test_no_drafts_save_nothing_and_a_dear_draft_model_costs_more() -> None:
    none = plan_drafts(
        CATALOG,
        draft_model="nano-banana-2",
        drafts=0,
        final_model="flux-2-max",
        finals=3,
        issued_at=NOW,
    )
    assert (none.planned_credits, none.all_final_credits, none.saved_credits) == (36, 36, 0)
    assert none.saved_percent == Decimal("0.0")
    backwards = plan_drafts(
        CATALOG,
        draft_model="flux-2-max",
        drafts=1,
        final_model="nano-banana-2",
        finals=1,
        issued_at=NOW,
    )
    assert (backwards.saved_credits, backwards.saved_percent) == (-11, Decimal("-550.0"))


def test_percent_saved_rounds_half_up() -> None:
    # 1 draft at 1 + 1 final at 8 = 9 vs 16: saved 7 of 16 = 43.75% -> 43.8
    plan = plan_drafts(
        CATALOG,
        draft_model="nano-banana-2",
        drafts=1,
        final_model="gpt-image-1.5",
        finals=1,
        issued_at=NOW,
    )
    assert plan.saved_percent == Decimal("43.8")


@pytest.mark.parametrize(
    ("options", "error", "field"),
    [
        ({"drafts": -1}, OutOfRange, "drafts"),
        ({"finals": 0}, OutOfRange, "finals"),
        ({"finals": 10_001}, OutOfRange, "finals"),
        ({"drafts": 1.5}, InvalidRequest, "drafts"),
        ({"draft_model": "nope"}, UnknownModel, "draft_model"),
        ({"final_model": "nope"}, UnknownModel, "final_model"),
    ],
)
def test_draft_plan_errors_name_the_field(
    options: dict[str, Any], error: type[Exception], field: str
) -> None:
    arguments: dict[str, Any] = {
        "draft_model": "nano-banana-2",
        "drafts": 20,
        "final_model": "flux-2-max",
        "finals": 5,
    } | options
    with pytest.raises(error) as raised:
        plan_drafts(CATALOG, issued_at=NOW, **arguments)
    assert getattr(raised.value, "field", None) == field


def test_the_largest_draft_plan_stays_within_the_count_limit() -> None:
    plan = plan_drafts(
        CATALOG,
        draft_model="nano-banana-2",
        drafts=10_000,
        final_model="flux-2-max",
        finals=10_000,
        issued_at=NOW,
    )
    assert plan.all_final_credits == 20_000 * 12


# --- model advisor ----------------------------------------------------------------------------


def test_recraft_is_advised_for_vector() -> None:
    (advice,) = advise_models(CATALOG, "vector")
    assert (advice.rank, advice.model_id, advice.credits_per_output) == (1, "recraft-v4", 4)
    assert advice.reason == "recraft-v4 does vector; 4 credits per output, 8 less than flux-2-max"
    json_round_trip(advice.as_dict())


def test_budget_filter_says_how_many_were_excluded() -> None:
    advice = advise_models(CATALOG, "photoreal", kind=Kind.IMAGE, max_credits_per_output=5)
    assert [(a.rank, a.model_id, a.credits_per_output) for a in advice] == [
        (1, "flux-2-flex", 2),
        (2, "imagen-4", 4),
        (3, "flux-2-pro", 5),
    ]
    assert all(a.reason.endswith("2 models above 5 credits per output excluded") for a in advice)
    assert advise_models(CATALOG, "vector", max_credits_per_output=3) == ()


def test_prefer_speed_puts_fast_models_first() -> None:
    by_cost = [a.model_id for a in advise_models(CATALOG, "draft")]
    assert by_cost == ["nano-banana-2", "dall-e-3", "flux-2-flex"]  # 1, 2, 2 (then by id)
    fast = [a.model_id for a in advise_models(CATALOG, "photoreal", prefer_speed=True)]
    assert fast[0] == "flux-2-flex"  # speed 4
    assert fast[-2:] == ["sora", "veo-3"]  # speed 1, 50 credits each, then by id


def test_per_second_and_option_models_are_advised_at_their_cheapest_output() -> None:
    advice = {a.model_id: a for a in advise_models(CATALOG, "motion")}
    assert advice["kling"].credits_per_output == 15  # 3 s at 5
    assert advice["sora"].credits_per_output == 50  # 4 s at 12.5
    edit = {a.model_id: a for a in advise_models(CATALOG, "edit")}
    assert edit["ai-expand"].credits_per_output == 3  # small


def test_a_kind_without_the_task_lists_that_kind_by_cost() -> None:
    advice = advise_models(CATALOG, "vector", kind=Kind.VIDEO)
    assert [a.model_id for a in advice] == [
        "kling",
        "motion-studio",
        "runway-gen-4",
        "sora",
        "veo-3",
    ]
    assert all(a.reason.startswith("no model lists vector") for a in advice)
    assert not any(a.fits_task for a in advice)


def test_unknown_tasks_list_the_known_ones() -> None:
    with pytest.raises(InvalidRequest) as raised:
        advise_models(CATALOG, "3d")
    assert raised.value.field == "task"
    assert "vector" in raised.value.message and "typography" in raised.value.message


def test_a_budget_below_one_is_refused() -> None:
    with pytest.raises(OutOfRange) as raised:
        advise_models(CATALOG, "vector", max_credits_per_output=0)
    assert raised.value.field == "max_credits_per_output"


def test_inactive_models_are_not_advised() -> None:
    catalog = CATALOG.without_entry("recraft-v4")
    with pytest.raises(InvalidRequest):
        advise_models(catalog, "vector")  # nobody active lists it any more


@given(
    st.permutations(CATALOG.entries),
    st.sampled_from(sorted({tag for entry in ACTIVE for tag in entry.strengths})),
    st.sampled_from([None, *Kind]),
    st.one_of(st.none(), st.integers(1, 60)),
    st.booleans(),
)
def test_ranking_is_stable_under_catalog_order(
    entries: list[CatalogEntry],
    task: str,
    kind: Kind | None,
    budget: int | None,
    prefer_speed: bool,
) -> None:
    shuffled = Catalog(CATALOG.version, tuple(entries))
    options: dict[str, Any] = {
        "kind": kind,
        "max_credits_per_output": budget,
        "prefer_speed": prefer_speed,
    }
    assert advise_models(shuffled, task, **options) == advise_models(CATALOG, task, **options)


# --- plan advisor -----------------------------------------------------------------------------


def cycles_of(
    plan: Plan,
    *used: int,
    ran_out_day: dict[int, int] | None = None,
    refused: dict[int, int] | None = None,
) -> tuple[CycleUsage, ...]:
    """30-day cycles on ``plan`` with the given use; ``ran_out_day[i]`` is the day cycle i ran
    out, ``refused[i]`` its refused charges."""
    ran_out_day = ran_out_day or {}
    refused = refused or {}
    cycles = []
    for index, used_credits in enumerate(used):
        starts_at = NOW + timedelta(days=30 * index)
        day = ran_out_day.get(index)
        cycles.append(
            CycleUsage(
                index=index,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(days=30),
                plan_id=plan.id,
                allowance_credits=plan.allowance_credits,
                granted_credits=plan.allowance_credits,
                used_credits=used_credits,
                expired_credits=plan.allowance_credits - used_credits,
                refused_charges=refused.get(index, 0),
                ran_out_at=None if day is None else starts_at + timedelta(days=day),
            )
        )
    return tuple(cycles)


def test_running_out_twice_upgrades_to_the_plan_that_covers_demand() -> None:
    # Cycles 0 and 1 ran out on day 20 of 30: demand 1,000 x 30 / 20 = 1,500.
    history = cycles_of(PRO, 1000, 1000, 700, ran_out_day={0: 20, 1: 20})
    advice = advise_plan(PRO, PLANS, history)
    assert advice.action is PlanAction.UPGRADE
    assert advice.recommended_plan_id == "ultra"
    assert "2 of the last 3 cycles" in advice.reason
    assert "1,500" in advice.reason and "Ultra" in advice.reason
    assert [c.demand_credits for c in advice.cycles] == [1500, 1500, 700]
    assert [(c.used_credits, c.expired_credits) for c in advice.cycles] == [
        (1000, 0),
        (1000, 0),
        (700, 300),
    ]
    json_round_trip(advice.as_dict())


def test_refused_charges_count_as_running_short() -> None:
    history = cycles_of(PRO, 900, 950, 980, refused={1: 3, 2: 1})
    advice = advise_plan(PRO, PLANS, history)
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.UPGRADE, "ultra")
    assert [c.refused_charges for c in advice.cycles] == [0, 3, 1]


def test_upgrade_picks_the_smallest_plan_that_covers() -> None:
    plus = Plan("plus", "Plus", 2000, Period.MONTH, price=Decimal(22))
    history = cycles_of(PRO, 1000, 1000, 1000, ran_out_day={1: 20, 2: 25})  # demand 1,500
    advice = advise_plan(PRO, (*PLANS, plus), history)
    assert advice.recommended_plan_id == "plus"


def test_upgrade_goes_to_the_largest_when_none_covers() -> None:
    history = cycles_of(PRO, 1000, 1000, ran_out_day={0: 3, 1: 5})  # demand 10,000 and 6,000
    advice = advise_plan(PRO, PLANS, history)  # two cycles are enough to upgrade
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.UPGRADE, "ultra")
    assert "10,000" in advice.reason and "falls short" in advice.reason


def test_the_largest_plan_stays_when_it_runs_out() -> None:
    history = cycles_of(ULTRA, 5000, 5000, 5000, ran_out_day={0: 25, 2: 28})
    advice = advise_plan(ULTRA, PLANS, history)
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.STAY, "ultra")
    assert "no larger plan" in advice.reason


def test_light_use_downgrades_to_a_plan_that_still_covers_it() -> None:
    history = cycles_of(ULTRA, 4000, 900, 950, 800)  # only the last 3 count
    advice = advise_plan(ULTRA, PLANS, history)
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.DOWNGRADE, "pro")
    assert "950" in advice.reason and "each of the last 3 cycles" in advice.reason
    assert [c.index for c in advice.cycles] == [1, 2, 3]


def test_no_downgrade_to_a_plan_that_would_have_run_out() -> None:
    history = cycles_of(ULTRA, 900, 1200, 800)
    advice = advise_plan(ULTRA, PLANS, history)
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.STAY, "ultra")
    assert "1,200" in advice.reason


def test_downgrade_chooses_the_cheapest_plan_that_covers() -> None:
    lite = Plan("lite", "Lite", 500, Period.MONTH, price=Decimal(7))
    history = cycles_of(ULTRA, 300, 400, 450)
    advice = advise_plan(ULTRA, (*PLANS, lite), history)
    assert advice.recommended_plan_id == "lite"


def test_yearly_plans_are_not_compared_with_monthly_cycles() -> None:
    yearly = Plan("pro-year", "Pro yearly", 12_000, Period.YEAR, price=Decimal(120))
    history = cycles_of(PRO, 1000, 1000, 1000, ran_out_day={0: 20, 1: 20})
    assert advise_plan(PRO, (*PLANS, yearly), history).recommended_plan_id == "ultra"


def test_fewer_than_three_cycles_is_not_enough_history_to_downgrade() -> None:
    advice = advise_plan(ULTRA, PLANS, cycles_of(ULTRA, 300, 400))
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.STAY, "ultra")
    assert "not enough history" in advice.reason
    assert advise_plan(PRO, PLANS, ()).reason.startswith("not enough history")


def test_one_short_cycle_of_three_stays() -> None:
    advice = advise_plan(PRO, PLANS, cycles_of(PRO, 700, 1000, 800, ran_out_day={1: 29}))
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.STAY, "pro")
    assert "Pro fits" in advice.reason and "ran short in 1" in advice.reason


def test_half_the_allowance_exactly_is_not_light_use() -> None:
    advice = advise_plan(ULTRA, PLANS, cycles_of(ULTRA, 2500, 100, 100))
    assert advice.action is PlanAction.STAY


def test_the_trial_upgrades_to_a_recurring_plan() -> None:
    trial = cycles_of(FREE, 100, 100, ran_out_day={0: 2, 1: 3})  # demand 1,500 and 1,000
    advice = advise_plan(FREE, PLANS, trial)
    assert (advice.action, advice.recommended_plan_id) == (PlanAction.UPGRADE, "ultra")


@st.composite
def plan_histories(draw: st.DrawFn) -> tuple[Plan, tuple[Plan, ...], tuple[CycleUsage, ...]]:
    allowances = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=5, unique=True))
    plans = tuple(
        Plan(f"plan-{a}", f"Plan {a}", a, Period.MONTH, price=Decimal(a) / 100) for a in allowances
    )
    current = draw(st.sampled_from(plans))
    count = draw(st.integers(0, 5))
    cycles = []
    for index in range(count):
        used = draw(st.integers(0, current.allowance_credits))
        ran_out = used == current.allowance_credits and draw(st.booleans())
        day = draw(st.integers(1, 29))
        (cycle,) = cycles_of(current, used, ran_out_day={0: day} if ran_out else None)
        cycles.append(
            replace(
                cycle,
                index=index,
                refused_charges=draw(st.integers(0, 2)),
            )
        )
    return current, plans, tuple(cycles)


@given(plan_histories())
def test_never_recommends_a_plan_that_would_have_run_out_when_a_larger_exists(
    history: tuple[Plan, tuple[Plan, ...], tuple[CycleUsage, ...]],
) -> None:
    current, plans, cycles = history
    advice = advise_plan(current, plans, cycles)
    recommended = next(p for p in plans if p.id == advice.recommended_plan_id)
    recent = cycles[-3:]
    most_used = max((c.used_credits for c in recent), default=0)
    largest = max(p.allowance_credits for p in plans)
    assert recommended.allowance_credits >= most_used or recommended.allowance_credits == largest
    if advice.action is PlanAction.UPGRADE:
        assert recommended.allowance_credits > current.allowance_credits
    if advice.action is PlanAction.DOWNGRADE:
        assert most_used <= recommended.allowance_credits < current.allowance_credits
    if advice.action is PlanAction.STAY:
        assert recommended == current


# --- forecast ---------------------------------------------------------------------------------

CYCLE_ENDS_AT = NOW + timedelta(days=30)


def forecast_at(day: int, used: int, available: int, *, seconds: int = 0) -> Forecast:
    return forecast(
        now=NOW + timedelta(days=day, seconds=seconds),
        cycle_starts_at=NOW,
        cycle_ends_at=CYCLE_ENDS_AT,
        used_credits=used,
        available_credits=available,
    )


def test_fast_burn_runs_out_before_renewal() -> None:
    result = forecast_at(10, used=500, available=400)
    assert result.burn_rate_credits_per_day == Decimal(50)
    assert result.projected_use_credits == 1000
    assert result.runs_out_at == datetime(2026, 3, 19, tzinfo=UTC)
    assert result.expiring_credits == 0
    json_round_trip(result.as_dict())


def test_slow_burn_leaves_credits_to_expire() -> None:
    result = forecast_at(10, used=100, available=900)
    assert (result.runs_out_at, result.projected_use_credits, result.expiring_credits) == (
        None,
        200,
        700,
    )
    assert "700" in result.summary
    json_round_trip(result.as_dict())


def test_projected_use_rounds_half_up_and_exact_fit_does_not_run_out() -> None:
    assert forecast_at(12, used=5, available=100).projected_use_credits == 8  # 7.5 -> 8
    exact = forecast_at(10, used=100, available=200)  # 20 days at 10 use exactly 200
    assert (exact.runs_out_at, exact.expiring_credits) == (None, 0)


def test_zero_usage_lets_everything_expire() -> None:
    result = forecast_at(10, used=0, available=1000)
    assert (result.burn_rate_credits_per_day, result.expiring_credits) == (Decimal(0), 1000)


def test_no_credits_left_runs_out_now() -> None:
    result = forecast_at(10, used=1000, available=0)
    assert result.runs_out_at == NOW + timedelta(days=10)


@pytest.mark.parametrize("day", [0, -1])
def test_no_elapsed_time_means_no_burn_rate(day: int) -> None:
    result = forecast_at(day, used=0, available=1000)
    assert (result.runs_out_at, result.expiring_credits) == (None, 1000)
    assert "no burn rate" in result.summary


@pytest.mark.parametrize("day", [30, 31])
def test_at_or_after_the_end_everything_available_expires(day: int) -> None:
    result = forecast_at(day, used=600, available=400)
    assert (result.runs_out_at, result.expiring_credits) == (None, 400)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"now": datetime(2026, 3, 2)}, "now"),
        ({"cycle_ends_at": NOW}, "cycle_ends_at"),
        ({"used_credits": -1}, "used_credits"),
        ({"available_credits": -5}, "available_credits"),
    ],
)
def test_forecast_refuses_bad_input_naming_the_field(options: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {
        "now": NOW + timedelta(days=1),
        "cycle_starts_at": NOW,
        "cycle_ends_at": CYCLE_ENDS_AT,
        "used_credits": 10,
        "available_credits": 10,
    } | options
    with pytest.raises(InvalidRequest) as raised:
        forecast(**arguments)
    assert raised.value.field == field


@given(
    st.integers(1, 30 * 24 * 3600 - 1),
    st.integers(0, 100_000),
    st.integers(0, 100_000),
)
def test_forecast_either_runs_out_within_the_cycle_or_expires_a_part(
    seconds: int, used: int, available: int
) -> None:
    result = forecast_at(0, used=used, available=available, seconds=seconds)
    if result.runs_out_at is not None:
        assert result.now <= result.runs_out_at <= CYCLE_ENDS_AT
        assert result.expiring_credits == 0
    else:
        assert 0 <= result.expiring_credits <= available


# --- operator margins -------------------------------------------------------------------------


def test_credit_value_is_the_most_generous_plan() -> None:
    assert credit_value(PLANS) == Decimal("0.0096")  # Ultra: 48 / 5,000
    assert credit_value([FREE]) is None
    assert credit_value([replace(PRO, price=None)]) is None


def test_credit_value_needs_one_currency() -> None:
    euro = Plan("pro-eu", "Pro EU", 1000, Period.MONTH, price=Decimal(11), currency="EUR")
    with pytest.raises(InvalidRequest) as raised:
        credit_value((*PLANS, euro))
    assert raised.value.field == "currency"
    assert credit_value((*PLANS, euro), currency="EUR") == Decimal("0.011")


def test_margins_flag_models_below_target() -> None:
    rows = margins(CATALOG, credit_value=Decimal("0.0096"))
    first = rows[0]
    assert first.model_id == "dall-e-3"
    assert (first.revenue, first.margin, first.margin_percent) == (
        Decimal("0.0192"),
        Decimal("0.0032"),
        Decimal("16.7"),
    )
    assert first.below_target
    assert [r.model_id for r in rows if r.below_target] == ["dall-e-3"]
    percents = [r.margin_percent for r in rows]
    assert percents == sorted(percents)
    assert {r.model_id for r in rows} == {e.id for e in ACTIVE}
    json_round_trip(first.as_dict())


def test_margins_skip_models_without_a_provider_cost_and_take_a_target() -> None:
    catalog = CATALOG.with_entry(replace(CATALOG.get("dall-e-3"), provider_cost=None))
    rows = margins(catalog, credit_value=Decimal("0.0096"), target_margin_percent=Decimal(40))
    assert "dall-e-3" not in {r.model_id for r in rows}
    assert rows[0].model_id == "ai-expand"  # 30.6%
    assert all(r.below_target == (r.margin_percent < 40) for r in rows)


def test_a_loss_shows_as_a_negative_margin() -> None:
    rows = margins(CATALOG, credit_value=Decimal("0.001"))
    nano = next(r for r in rows if r.model_id == "nano-banana-2")
    assert (nano.margin, nano.margin_percent) == (Decimal("-0.003"), Decimal("-300.0"))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"credit_value": Decimal(0)}, "credit_value"),
        ({"credit_value": 0.01}, "credit_value"),
        (
            {"credit_value": Decimal(1), "target_margin_percent": Decimal(101)},
            "target_margin_percent",
        ),
    ],
)
def test_margins_refuse_bad_figures(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        margins(CATALOG, **options)
    assert raised.value.field == field
