"""Reading the ledger back and operating it: ``history``, ``entry``, ``renew``, ``verify`` and
``topups``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from gencredits.cli.inputs import JsonOption, KeyOption, parse_moment, service
from gencredits.cli.output import console, emit
from gencredits.cli.views import entry_table, explain, history_table
from gencredits.domain import limits
from gencredits.domain.ledger import EntryKind

# `verify` found a difference between the ledger and the cached balances: a bug, never a
# refusal, so it has its own exit code beside output.EXIT_CODES.
VERIFY_FAILED_EXIT_CODE = 8


class Switch(StrEnum):
    ON = "on"
    OFF = "off"


def register(app: typer.Typer) -> None:
    app.command("history")(history)
    app.command("entry")(show_entry)
    app.command("renew")(renew)
    app.command("verify")(verify)
    app.command("topups")(topups)


def history(
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account id.")],
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help=f"Only these kinds (repeatable): {', '.join(k.value for k in EntryKind)}.",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Only this project.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601 time.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", help=f"At most this many (1 to {limits.MAX_PAGE_SIZE}).")
    ] = limits.DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        int | None, typer.Option("--cursor", help="next_cursor of the previous page.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """An account's ledger, newest first."""
    with service() as credits:
        page = credits.history(
            account_id,
            kinds=tuple(kinds or ()),
            model_id=model,
            project=project,
            since=parse_moment(since, field="since"),
            until=parse_moment(until, field="until"),
            cursor=cursor,
            limit=limit,
        )

    def render() -> None:
        console.print(history_table(account_id, page.entries))
        if page.next_cursor is not None:
            console.print(f"more: --cursor {page.next_cursor}", highlight=False)

    emit(as_json, page.as_dict, render)


def show_entry(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY", help="Entry id.")],
    as_json: JsonOption = False,
) -> None:
    """One entry and why it cost what it did: the quote that priced it, line by line."""
    with service() as credits:
        entry = credits.entry(entry_id)
        quote: dict[str, Any] | None = entry.details
        if not quote and entry.related_entry_id is not None:
            quote = credits.entry(entry.related_entry_id).details
        if not quote and entry.hold_id is not None:
            quote = credits.get_hold(entry.hold_id).quote
        explanation = explain(entry, quote)

    def render() -> None:
        console.print(
            entry_table(entry, f"entry {entry.id}: {entry.kind.value} on {entry.account_id}")
        )
        console.print("[bold]Why[/bold]")
        for line in explanation:
            console.print(f"  {escape(line)}", highlight=False)

    emit(as_json, lambda: entry.as_dict() | {"explanation": explanation}, render)


def renew(key: KeyOption = None, as_json: JsonOption = False) -> None:
    """The sweep: renew cycles and expire grants and holds on every account that is due."""
    with service() as credits:
        result = credits.renew(idempotency_key=key)
    emit(
        as_json,
        result.as_dict,
        lambda: console.print(
            f"checked {result.accounts_checked} accounts, updated {result.accounts_updated}, "
            f"purged {result.keys_purged} idempotency keys",
            highlight=False,
        ),
    )


def verify(as_json: JsonOption = False) -> None:
    """Rebuild every balance from the ledger and compare; exit 8 on any difference."""
    with service() as credits:
        report = credits.verify()

    def render() -> None:
        summary = f"{report.accounts_checked} accounts, {report.entries_checked} entries"
        if report.ok:
            console.print(f"[green]ok[/green]: {summary}, no differences", highlight=False)
            return
        console.print(f"[red]{len(report.differences)} differences[/red] in {summary}:")
        for difference in report.differences:
            console.print(f"  {escape(difference)}", highlight=False)

    emit(as_json, report.as_dict, render)
    if not report.ok:
        raise typer.Exit(VERIFY_FAILED_EXIT_CODE)


def topups(
    state: Annotated[Switch, typer.Argument(metavar="on|off", help="Allow top-up grants or not.")],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The operator switch for top-up packs (off by default)."""
    with service() as credits:
        credits.set_topups_enabled(state is Switch.ON, idempotency_key=key)
    emit(
        as_json,
        lambda: {"topups_enabled": state is Switch.ON},
        lambda: console.print(f"top-ups are {state.value}", highlight=False),
    )
