"""``gencredits catalog`` and ``gencredits quote``: what every generation costs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gencredits.cli.output import console, emit, refusals
from gencredits.domain.catalog import Catalog, CatalogEntry, Kind, Tier
from gencredits.domain.credits import format_credits, plain_decimal, round_half_up
from gencredits.domain.pricing import LineItem, Quote, QuoteRequest
from gencredits.service.documents import parse_quote_request, read_document_file
from gencredits.store.catalog_document import entry_to_document

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def register(app: typer.Typer) -> None:
    catalog_app = typer.Typer(help="The priced catalog of models and tools.")
    catalog_app.callback(invoke_without_command=True)(list_catalog)
    catalog_app.command("show")(show_entry)
    app.add_typer(catalog_app, name="catalog")
    app.command("quote")(quote_command)


def _catalog() -> Catalog:
    from gencredits.service.runtime import current_catalog

    return current_catalog()


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
    with refusals():
        catalog = _catalog()
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
    with refusals():
        catalog = _catalog()
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
    model: Annotated[str | None, typer.Argument(help="Model id; omit with --file.")] = None,
    outputs: Annotated[
        int, typer.Option("-n", "--outputs", help="Outputs per request (items for an edit batch).")
    ] = 1,
    count: Annotated[int, typer.Option("--count", help="How many such requests.")] = 1,
    seconds: Annotated[int | None, typer.Option(help="Video duration in seconds.")] = None,
    quality: Annotated[str | None, typer.Option(help="Video quality, e.g. 1080p.")] = None,
    option: Annotated[str | None, typer.Option(help="Named option, e.g. large.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="A YAML/JSON file of lines.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Price a request without charging: each line and the total."""
    from gencredits.service.runtime import quote

    with refusals():
        request = build_request(model, outputs, count, seconds, quality, option, file)
        priced = quote(request)
    emit(as_json, priced.as_dict, lambda: console.print(quote_table(priced)))


def build_request(
    model: str | None,
    outputs: int,
    count: int,
    seconds: int | None,
    quality: str | None,
    option: str | None,
    file: Path | None,
) -> QuoteRequest:
    """One request from either a model and its flags, or a file of lines (not both)."""
    from gencredits.domain.errors import InvalidRequest

    if file is not None:
        if model is not None:
            raise InvalidRequest("give a model or --file, not both", field="model")
        return parse_quote_request(read_document_file(file))
    if model is None:
        raise InvalidRequest(
            "name a model (see `gencredits catalog`) or give --file", field="model"
        )
    return QuoteRequest(
        lines=(
            LineItem(
                model, outputs=outputs, count=count, seconds=seconds, quality=quality, option=option
            ),
        )
    )


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
