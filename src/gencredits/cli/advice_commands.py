"""Helping people spend well: ``estimate``, ``plan-drafts``, ``advise model``, ``advise plan``,
``forecast``, ``report`` and ``margins``, and ``demo``, which seeds accounts to try them on.

Each command is one service call and prints a Rich table, or ``--json`` (the value's own
``as_dict()``); ``report`` and ``margins`` also print ``--csv``. Percentages and money are read
as exact decimals from text, never through a float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
from gencredits.cli.output import console, emit, error_console, print_json, refusals
from gencredits.cli.views import fields, when
from gencredits.config import Settings
from gencredits.domain.advice import (
    DEFAULT_BUFFER_PERCENT,
    DEFAULT_TARGET_MARGIN_PERCENT,
    Estimate,
    Forecast,
    ModelAdvice,
    PlanAdvice,
)
from gencredits.domain.bounds import bounded_decimal
from gencredits.domain.credits import format_credits, plain_decimal
from gencredits.domain.errors import InvalidRequest
from gencredits.service import demo
from gencredits.service.advice import MarginReport, UsageReport, report_csv
from gencredits.service.clock import clock_from_environment
from gencredits.service.csv_text import csv_text

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
    app.command("report")(report_command)
    app.command("margins")(margins_command)
    app.command("demo")(demo_command)


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


def report_command(
    account_id: AccountArgument,
    period: Annotated[str, typer.Option("--period", help="cycle or month.")] = "cycle",
    periods: Annotated[int, typer.Option("--periods", help="How many, the current last.")] = 3,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Usage per cycle or month: by model, kind, tier and project; expired; refused."""
    with service() as credits:
        if as_json and as_csv:
            raise InvalidRequest("choose --json or --csv, not both", field="csv")
        report = credits.usage_report(account_id, period=period, periods=periods)
    if as_csv:
        typer.echo(report_csv(report), nl=False)
        return
    emit(as_json, report.as_dict, lambda: render_report(report))


def render_report(report: UsageReport) -> None:
    summary = Table(title=escape(f"{report.account_id}: usage per {report.period}"),
                    title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("Period", "From", "To", "Used", "Refunded", "Expired", "Refused",
                   "Top model"):
        summary.add_column(column, justify="left" if column in ("Period", "From", "To",
                                                                "Top model") else "right")
    for period in report.periods:
        totals = period.totals
        top = period.top_models[0].key if period.top_models else "-"
        label = period.label if period.complete else f"{period.label} (current)"
        summary.add_row(
            label, f"{period.starts_at:%Y-%m-%d}", f"{period.ends_at:%Y-%m-%d}",
            format_credits(totals.used_credits), format_credits(totals.refunded_credits),
            format_credits(totals.expired_credits),
            f"{totals.refused_charges} ({format_credits(totals.refused_credits)})",
            escape(top),
        )
    console.print(summary)
    for group in ("by_model", "by_kind", "by_tier", "by_project"):
        table = Table(title=group.replace("_", " ").capitalize(), title_justify="left",
                      box=box.SIMPLE_HEAD)
        table.add_column(group.split("_")[1].capitalize())
        for period in report.periods:
            table.add_column(period.label, justify="right")
        keys = sorted({line.key for period in report.periods for line in getattr(period, group)})
        for key in keys:
            cells = []
            for period in report.periods:
                found = {line.key: line.credits for line in getattr(period, group)}
                cells.append(format_credits(found[key]) if key in found else "-")
            table.add_row(escape(key), *cells)
        if keys:
            console.print(table)


# --- margins ---------------------------------------------------------------------------------


def margins_command(
    target: Annotated[
        str | None, typer.Option("--target", metavar="PCT", help="Target margin in percent "
                                 f"(default {DEFAULT_TARGET_MARGIN_PERCENT}).")
    ] = None,
    credit_value: Annotated[
        str | None, typer.Option("--credit-value", metavar="MONEY",
                                 help="Money per credit (default: from the plans' prices).")
    ] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="e.g. USD.")] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """The operator's margin on every model at a credit's money value, thinnest first."""
    with service() as credits:
        if as_json and as_csv:
            raise InvalidRequest("choose --json or --csv, not both", field="csv")
        value = None
        if credit_value is not None:
            value = parse_decimal(credit_value, field="credit_value", default=Decimal(0))
        report = credits.margins(
            target_margin_percent=parse_decimal(target, field="target_margin_percent",
                                                default=DEFAULT_TARGET_MARGIN_PERCENT),
            credit_value=value, currency=currency,
        )
    if as_csv:
        typer.echo(margins_csv(report), nl=False)
        return
    emit(as_json, report.as_dict, lambda: console.print(margins_table(report)))


def margins_csv(report: MarginReport) -> str:
    rows = [model.as_dict() for model in report.models]
    columns = list(rows[0]) if rows else ["model"]
    return csv_text(columns, [[row[column] for column in columns] for row in rows])


def margins_table(report: MarginReport) -> Table:
    table = Table(
        title=f"Margins at {plain_decimal(report.credit_value)} {report.currency} a credit "
              f"({'from the plans' if report.credit_value_source == 'plans' else 'given'})",
        title_justify="left", box=box.SIMPLE_HEAD,
        caption=f"target {plain_decimal(report.target_margin_percent)}%; "
                f"{len(report.below_target)} below it",
    )
    for column in ("Model", "Kind", "Credits/output", "Revenue", "Provider cost", "Margin",
                   "Margin %"):
        table.add_column(column, justify="left" if column in ("Model", "Kind") else "right")
    for model in report.models:
        style = "red" if model.below_target else ""
        table.add_row(
            model.model_id, model.kind.value, format_credits(model.credits_per_output),
            plain_decimal(model.revenue), plain_decimal(model.provider_cost),
            plain_decimal(model.margin), f"{plain_decimal(model.margin_percent)}%",
            style=style,
        )
    return table


# --- demo ------------------------------------------------------------------------------------


def demo_command(
    days: Annotated[int, typer.Option("--days", min=1, max=demo.MAX_DEMO_DAYS,
                                      help="How far back the history starts.")] = demo.DEMO_DAYS,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same history).")
                    ] = demo.DEMO_SEED,
    as_json: JsonOption = False,
) -> None:
    """Seed demo accounts with months of realistic usage (skipped if they exist)."""
    with refusals():
        result = seed_with_progress(days=days, seed=seed)
    if as_json:
        print_json(result.as_dict())
    elif not result.created:
        console.print("The demo accounts exist already; nothing was changed.")
    else:
        console.print(
            f"Seeded {', '.join(result.accounts)} with {result.days} days of usage: "
            f"{result.charges} charges, {result.holds} holds, {result.refunds} refunds, "
            f"{result.refused} refused. Try `gencredits advise plan demo-heavy` or "
            "`gencredits report demo-agency --period month`.",
            highlight=False,
        )


def seed_with_progress(*, days: int = demo.DEMO_DAYS, seed: int = demo.DEMO_SEED,
                       database_url: str | None = None) -> demo.DemoResult:
    """Seed the demo with a progress bar on stderr (stdout stays clean for --json), up to
    ``GENCREDITS_NOW`` when it is set, else the real now."""
    with Progress(
        TextColumn("seeding demo accounts"), BarColumn(), MofNCompleteColumn(),
        TextColumn("days"), TimeElapsedColumn(), console=error_console, transient=True,
    ) as bar:
        task = bar.add_task("demo", total=days + 1)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return demo.seed_demo(
            database_url, now=clock_from_environment().now(), days=days, seed=seed,
            progress=advance, catalog_path=Settings.from_environment().catalog_path,
        )


__all__ = ["register", "seed_with_progress"]
