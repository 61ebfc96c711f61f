"""Looking back and trying it out: ``report`` (usage per cycle or month), ``margins`` (the
operator's margin on every model) and ``demo``, which seeds accounts to try them on.

Each command is one service call and prints a Rich table, or ``--json`` (the value's own
``as_dict()``); ``report`` and ``margins`` also print ``--csv``. Percentages and money are read
as exact decimals from text, never through a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gencredits.cli.advice_commands import AccountArgument, CsvOption, parse_decimal
from gencredits.cli.inputs import JsonOption, service
from gencredits.cli.output import console, emit, error_console, print_json, refusals
from gencredits.config import Settings
from gencredits.domain.advice import DEFAULT_TARGET_MARGIN_PERCENT
from gencredits.domain.credits import format_credits, plain_decimal
from gencredits.domain.errors import InvalidRequest
from gencredits.service import demo
from gencredits.service.advice import MarginReport, UsageReport, report_csv
from gencredits.service.clock import clock_from_environment
from gencredits.service.csv_text import csv_text


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("margins")(margins_command)
    app.command("demo")(demo_command)


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


__all__ = ["margins_csv", "register", "seed_with_progress"]
