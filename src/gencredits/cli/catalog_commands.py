"""``gencredits catalog``, ``catalog set-price`` and ``quote``: what every generation costs.

Prices come from the database's current price version, so an operator's change shows up in
the next command; ``set-price`` publishes such a change.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from gencredits.cli.inputs import (
    AMOUNT_COMMAND,
    ChoiceOption,
    CountOption,
    FileOption,
    JsonOption,
    KeyOption,
    ModelArgument,
    OutputsOption,
    QualityOption,
    SecondsOption,
    build_request,
    service,
)
from gencredits.cli.output import console, emit
from gencredits.documents.catalog import entry_to_document
from gencredits.domain import limits
from gencredits.domain.bounds import bounded_decimal
from gencredits.domain.catalog import CatalogEntry, FlatRule, Kind, Tier
from gencredits.domain.credits import format_credits, plain_decimal, round_half_up
from gencredits.domain.errors import CatalogInvalid, InvalidRequest
from gencredits.domain.pricing import Quote

__all__ = ["build_request", "register"]


def register(app: typer.Typer) -> None:
    catalog_app = typer.Typer(help="The priced catalog of models and tools.")
    catalog_app.callback(invoke_without_command=True)(list_catalog)
    catalog_app.command("show")(show_entry)
    catalog_app.command("set-price", context_settings=AMOUNT_COMMAND)(set_price)
    app.add_typer(catalog_app, name="catalog")
    app.command("quote")(quote_command)


def list_catalog(
    ctx: typer.Context,
    as_json: JsonOption = False,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include models that are switched off.")
    ] = False,
) -> None:
    """List every model with its credits per generation, grouped by kind and tier."""
    if ctx.invoked_subcommand is not None:
        return
    with service() as credits:
        catalog = credits.catalog()
    entries = catalog.entries if include_inactive else catalog.active_entries()
    emit(
        as_json,
        lambda: {
            "price_version": catalog.version,
            "models": [entry_to_document(e) | {"credits": credits_label(e)} for e in entries],
        },
        lambda: console.print(catalog_table(entries, catalog.version)),
    )


def show_entry(
    model_id: Annotated[str, typer.Argument(help="Model id, e.g. flux-2-pro.")],
    as_json: JsonOption = False,
) -> None:
    """Show one model: its pricing rule, limits and strengths."""
    with service() as credits:
        catalog = credits.catalog()
        entry = catalog.get(model_id)

    def render() -> None:
        table = Table(title=f"{entry.name} ({entry.id})", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for label, value in entry_rows(entry):
            table.add_row(label, value)
        console.print(table)

    emit(as_json, lambda: entry_to_document(entry) | {"price_version": catalog.version}, render)


def quote_command(
    model: ModelArgument = None,
    outputs: OutputsOption = 1,
    count: CountOption = 1,
    seconds: SecondsOption = None,
    quality: QualityOption = None,
    option: ChoiceOption = None,
    file: FileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Price a request without charging: each line and the total."""
    with service() as credits:
        request = build_request(model, outputs, count, seconds, quality, option, file)
        priced = credits.quote(request)
    emit(as_json, priced.as_dict, lambda: console.print(quote_table(priced)))


def set_price(
    model_id: Annotated[str, typer.Argument(metavar="MODEL", help="A flat-priced model id.")],
    credits_text: Annotated[
        str, typer.Argument(metavar="CREDITS", help="New credits per output, e.g. 6 or 4.5.")
    ],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a flat-priced model's credits per output; publishes a new price version."""
    with service() as credits:
        entry = credits.catalog().get(model_id)
        if not isinstance(entry.rule, FlatRule):
            raise InvalidRequest(
                f"{model_id} is priced by the {entry.rule.name} rule; set-price changes flat "
                "prices only",
                field="model",
            )
        old_price = entry.rule.credits_per_output
        new_rule = FlatRule(_rate(credits_text), unit=entry.rule.unit)
        published = credits.put_catalog_entry(
            replace(entry, rule=new_rule), note=f"set-price {model_id} {credits_text}",
            idempotency_key=key,
        )
    document = {
        "model": model_id,
        "old_credits": plain_decimal(old_price),
        "new_credits": plain_decimal(new_rule.credits_per_output),
        "unit": new_rule.unit,
        "price_version": published.version,
    }
    emit(
        as_json,
        lambda: document,
        lambda: console.print(
            f"{model_id}: {document['old_credits']} -> {document['new_credits']} credits per "
            f"{new_rule.unit} (price version {published.version})",
            highlight=False,
        ),
    )


def _rate(text: str) -> Decimal:
    """A price from text, exactly (never through a float); FlatRule checks its range."""
    try:
        rate = bounded_decimal(Decimal(text.strip()), field="credits")
        return FlatRule(rate).credits_per_output
    except (InvalidOperation, CatalogInvalid, InvalidRequest):
        raise InvalidRequest(
            f"credits must be a number above 0 and at most {limits.MAX_RATE_CREDITS}, got {text!r}",
            field="credits",
        ) from None


def credits_label(entry: CatalogEntry) -> str:
    """Credits for one generation: ``5``, or a range ``15-25`` where options change it."""
    low, high = (round_half_up(value) for value in entry.price_range())
    return str(low) if low == high else f"{low}-{high}"


def catalog_table(entries: tuple[CatalogEntry, ...], version: int) -> Table:
    """The model selector: models grouped by kind, then tier and price."""
    table = Table(title=f"gencredits catalog (price version {version})")
    table.add_column("Model", no_wrap=True)
    table.add_column("ID", style="dim", no_wrap=True)
    table.add_column("Tier")
    table.add_column("Credits", justify="right")
    table.add_column("Strengths")
    tiers = list(Tier)
    for kind in Kind:
        group = sorted(
            (e for e in entries if e.kind is kind),
            key=lambda e: (tiers.index(e.tier), e.price_range()[0], e.id),
        )
        if not group:
            continue
        table.add_section()
        table.add_row(f"[bold]{kind.value.upper()}[/bold]", "", "", "", "")
        for entry in group:
            name = entry.name if entry.active else f"{entry.name} (off)"
            table.add_row(
                name, entry.id, entry.tier.value, credits_label(entry), ", ".join(entry.strengths)
            )
    return table


def entry_rows(entry: CatalogEntry) -> list[tuple[str, str]]:
    rows = [
        ("kind", entry.kind.value),
        ("tier", entry.tier.value),
        ("credits", credits_label(entry)),
        ("pricing", f"{entry.rule.name}: {entry.rule.describe()}"),
        ("max outputs per request", str(entry.max_outputs)),
        (
            "discount",
            f"{entry.discount.name}: {entry.discount.describe()}" if entry.discount else "none",
        ),
        ("strengths", ", ".join(entry.strengths) or "-"),
        ("speed", f"{entry.speed} of 5"),
        ("active", "yes" if entry.active else "no"),
    ]
    if entry.provider_cost is not None:
        rows.append(("provider cost", f"${plain_decimal(entry.provider_cost)} per output"))
    return rows


def quote_table(priced: Quote) -> Table:
    table = Table(
        title=f"Quote (price version {priced.price_version})",
        caption=f"valid until {priced.expires_at:%Y-%m-%d %H:%M} UTC",
    )
    table.add_column("Model")
    table.add_column("Outputs", justify="right")
    table.add_column("Options")
    table.add_column("Per request", justify="right")
    table.add_column("Discount", justify="right")
    table.add_column("Count", justify="right")
    table.add_column("Subtotal", justify="right")
    for line in priced.lines:
        options = ", ".join(
            text
            for text in (
                f"{line.seconds} s" if line.seconds else "",
                line.quality or "",
                line.option or "",
            )
            if text
        )
        discount = f"{plain_decimal(line.discount_percent)}%" if line.discount_percent else "-"
        table.add_row(
            line.model_id,
            str(line.outputs),
            options or "-",
            format_credits(line.request_credits),
            discount,
            str(line.count),
            format_credits(line.subtotal_credits),
        )
    table.add_section()
    table.add_row(
        "[bold]Total[/bold]",
        "",
        "",
        "",
        "",
        "",
        f"[bold]{format_credits(priced.total_credits)}[/bold]",
    )
    return table
