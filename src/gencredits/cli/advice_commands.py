"""Helping people spend well: ``estimate``, ``plan-drafts``, ``advise model``, ``advise plan``
and ``forecast`` (the reports, margins and demo are in :mod:`report_commands`).

Each command is one service call and prints a Rich table, or ``--json`` (the value's own
``as_dict()``). Percentages and money are read as exact decimals from text, never through a
float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from gencredits.cli.inputs import (
    ChoiceOption,
    CountOption,
    FileOption,
    JsonOption,
    ModelArgument,
    OutputsOption,
    QualityOption,
    SecondsOption,
    build_request,
    service,
)
from gencredits.cli.output import console, emit
from gencredits.cli.views import fields, when
from gencredits.domain.advice import (
    DEFAULT_BUFFER_PERCENT,
    Estimate,
    Forecast,
    ModelAdvice,
    PlanAdvice,
)
from gencredits.domain.bounds import bounded_decimal
from gencredits.domain.credits import format_credits, plain_decimal
from gencredits.domain.errors import InvalidRequest

AccountArgument = Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account id.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV (for spreadsheets).")]
MAX_ALTERNATIVES_SHOWN = 8


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_command)
    app.command("plan-drafts")(plan_drafts_command)
    advise_app = typer.Typer(help="Which model suits a task; which plan suits an account.",
                             no_args_is_help=True)
    advise_app.command("model")(advise_model)
    advise_app.command("plan")(advise_plan)
    app.add_typer(advise_app, name="advise")
    app.command("forecast")(forecast_command)


def parse_decimal(text: str | None, *, field: str, default: Decimal) -> Decimal:
    """An exact decimal from text (``20``, ``12.5``); the service checks its range."""
    if text is None:
        return default
    try:
        value = Decimal(text.strip().rstrip("%"))
    except InvalidOperation:
        raise InvalidRequest(f"{field} must be a number such as 20 or 12.5, got {text!r}",
                             field=field) from None
    return bounded_decimal(value, field=field)  # finite, few digits, a small exponent


# --- estimate and plan-drafts ----------------------------------------------------------------


def estimate_command(
    model: ModelArgument = None,
    outputs: OutputsOption = 1,
    count: CountOption = 1,
    seconds: SecondsOption = None,
    quality: QualityOption = None,
    option: ChoiceOption = None,
    file: FileOption = None,
    buffer: Annotated[
        str | None, typer.Option("--buffer", metavar="PCT", help="Safety buffer in percent "
                                 f"(default {DEFAULT_BUFFER_PERCENT}), rounded up.")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Compare with this account's credits.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate a project: subtotal, buffer, total; the shortfall and cheaper models."""
    with service() as credits:
        request = build_request(model, outputs, count, seconds, quality, option, file)
        percent = parse_decimal(buffer, field="buffer_percent", default=DEFAULT_BUFFER_PERCENT)
        estimated = credits.estimate(request, account_id=account, buffer_percent=percent)
    emit(as_json, estimated.as_dict, lambda: render_estimate(estimated, account))


def render_estimate(estimated: Estimate, account: str | None) -> None:
    rows = [
        ("subtotal", format_credits(estimated.subtotal_credits)),
        (f"buffer ({plain_decimal(estimated.buffer_percent)}%, rounded up)",
         format_credits(estimated.buffer_credits)),
        ("total", f"[bold]{format_credits(estimated.total_credits)}[/bold]"),
    ]
    if estimated.available_credits is not None:
        rows.append(("available", format_credits(estimated.available_credits)))
        shortfall = estimated.shortfall_credits or 0
        rows.append(("shortfall", f"[red]{format_credits(shortfall)}[/red]" if shortfall
                     else "none: it fits"))
    if estimated.allowance_credits is not None and estimated.cycles_needed is not None:
        rows.append(("cycles of the allowance",
                     f"{estimated.cycles_needed} of {format_credits(estimated.allowance_credits)}"))
    for fit in estimated.plan_fits:
        rows.append((f"cycles of {fit.plan_name}", str(fit.cycles_needed)))
    title = "Estimate" + (escape(f" for {account}") if account else "")
    console.print(fields(title, rows))
    if estimated.alternatives:
        table = Table(title="Cheaper models", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("Line", "Instead of", "Model", "Credits", "Saves", "Shared strengths"):
            table.add_column(column, justify="right" if column in ("Credits", "Saves") else "left")
        for alternative in estimated.alternatives[:MAX_ALTERNATIVES_SHOWN]:
            table.add_row(
                str(alternative.line_index + 1), alternative.replaces_model_id,
                alternative.model_id, format_credits(alternative.line.subtotal_credits),
                format_credits(alternative.saved_credits),
                ", ".join(alternative.shared_strengths) or "-",
            )
        console.print(table)


def plan_drafts_command(
    draft_model: Annotated[str, typer.Argument(metavar="DRAFT_MODEL", help="A budget model.")],
    final_model: Annotated[str, typer.Argument(metavar="FINAL_MODEL", help="A premium model.")],
    drafts: Annotated[int, typer.Option("--drafts", help="Drafts to explore with.")] = 20,
    finals: Annotated[int, typer.Option("--finals", help="Finals to finish with.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Drafts on a budget model + finals on a premium one, against all on the premium one."""
    with service() as credits:
        plan = credits.plan_drafts(draft_model=draft_model, drafts=drafts,
                                   final_model=final_model, finals=finals)
    rows = [
        (f"{plan.drafts} drafts on {plan.draft_model_id}", format_credits(plan.draft_credits)),
        (f"{plan.finals} finals on {plan.final_model_id}", format_credits(plan.final_credits)),
        ("planned", format_credits(plan.planned_credits)),
        (f"all {plan.drafts + plan.finals} on {plan.final_model_id}",
         format_credits(plan.all_final_credits)),
        ("saved", f"[bold]{format_credits(plan.saved_credits)}[/bold] "
                  f"({plain_decimal(plan.saved_percent)}%)"),
    ]
    emit(as_json, plan.as_dict, lambda: console.print(fields("Draft, then final", rows)))


# --- advise ----------------------------------------------------------------------------------


def advise_model(
    task: Annotated[str, typer.Argument(metavar="TASK", help="A strength tag, e.g. vector.")],
    kind: Annotated[str | None, typer.Option("--kind", help="image, video or edit.")] = None,
    max_credits: Annotated[
        int | None, typer.Option("--max-credits", metavar="N", help="Budget per output.")
    ] = None,
    fast: Annotated[bool, typer.Option("--fast", help="Prefer faster models.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Models for a task, best fit first, then cheapest (or fastest with --fast)."""
    with service() as credits:
        advice = credits.advise_models(task, kind=kind, max_credits_per_output=max_credits,
                                       prefer_speed=fast)
    emit(as_json, lambda: [item.as_dict() for item in advice],
         lambda: console.print(models_table(task, advice)))


def models_table(task: str, advice: tuple[ModelAdvice, ...]) -> Table:
    table = Table(title=escape(f"Models for {task}"), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("Model", no_wrap=True)
    table.add_column("Kind")
    table.add_column("Credits/output", justify="right")
    table.add_column("Speed", justify="right")
    table.add_column("Why", ratio=1)
    for item in advice:
        table.add_row(str(item.rank), item.model_id, item.kind.value,
                      format_credits(item.credits_per_output), f"{item.speed}/5",
                      escape(item.reason))
    if not advice:
        table.caption = "no model within the budget"
    return table


def advise_plan(account_id: AccountArgument, as_json: JsonOption = False) -> None:
    """Upgrade, downgrade or stay, from the account's last three completed cycles, and why."""
    with service() as credits:
        advice = credits.advise_plan(account_id)
    emit(as_json, advice.as_dict, lambda: render_plan_advice(account_id, advice))


def render_plan_advice(account_id: str, advice: PlanAdvice) -> None:
    change = advice.current_plan_id
    if advice.recommended_plan_id != advice.current_plan_id:
        change += f" -> {advice.recommended_plan_id}"
    console.print(fields(escape(f"Plan advice for {account_id}"), [
        ("advice", f"[bold]{advice.action.value}[/bold]"),
        ("plan", change),
        ("why", escape(advice.reason)),
    ]))
    table = Table(title="Last cycles", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("Cycle", "Plan", "Allowance", "Used", "Expired", "Refused", "Ran out"):
        table.add_column(column, justify="left" if column in ("Plan", "Ran out") else "right")
    for cycle in advice.cycles:
        table.add_row(str(cycle.index), cycle.plan_id, format_credits(cycle.allowance_credits),
                      format_credits(cycle.used_credits), format_credits(cycle.expired_credits),
                      str(cycle.refused_charges), when(cycle.ran_out_at))
    console.print(table)


# --- forecast and report ---------------------------------------------------------------------


def forecast_command(account_id: AccountArgument, as_json: JsonOption = False) -> None:
    """At this cycle's burn rate: when the credits run out, or how many will expire."""
    with service() as credits:
        projected = credits.forecast(account_id)
    emit(as_json, projected.as_dict, lambda: render_forecast(account_id, projected))


def render_forecast(account_id: str, projected: Forecast) -> None:
    rate = projected.burn_rate_credits_per_day.quantize(Decimal("0.01"))
    rows = [
        ("cycle", f"{when(projected.cycle_starts_at)} to {when(projected.cycle_ends_at)}"),
        ("used so far", format_credits(projected.used_credits)),
        ("available", format_credits(projected.available_credits)),
        ("burn rate", f"{plain_decimal(rate)} credits a day"),
        ("rest of the cycle", f"about {format_credits(projected.projected_use_credits)}"),
    ]
    if projected.runs_out_at is not None:
        rows.append(("runs out", f"[red]{when(projected.runs_out_at)}[/red]"))
    else:
        rows.append(("expiring at renewal", format_credits(projected.expiring_credits)))
    console.print(fields(escape(f"Forecast for {account_id}"), rows))
    console.print(escape(projected.summary), highlight=False)


__all__ = ["parse_decimal", "register"]
