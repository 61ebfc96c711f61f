"""Rich renderings of accounts, entries and explanations, shared by the command modules.

Only for people: ``--json`` prints the values' own ``as_dict()`` and never passes through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from gencredits.domain.credits import format_credits
from gencredits.domain.ledger import Entry, EntryKind
from gencredits.domain.results import AccountView

VERBS: dict[EntryKind, str] = {
    EntryKind.GRANT: "granted",
    EntryKind.EXPIRE: "expired",
    EntryKind.CHARGE: "charged",
    EntryKind.HOLD: "held",
    EntryKind.CAPTURE: "captured",
    EntryKind.RELEASE: "released",
    EntryKind.REFUND: "refunded",
    EntryKind.ADJUST: "adjusted",
    EntryKind.TRANSFER_OUT: "sent",
    EntryKind.TRANSFER_IN: "received",
}


def when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def signed(amount_credits: int) -> str:
    return f"{amount_credits:+,}" if amount_credits else "0"


def fields(title: str | None, rows: Iterable[tuple[str, str]]) -> Table:
    """A two-column table of labelled values."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for label, value in rows:
        table.add_row(label, value)
    return table


def account_table(account: AccountView) -> Table:
    plan = account.plan_id
    if account.pending_plan_id:
        plan += f" (moves to {account.pending_plan_id} at renewal)"
    return fields(
        escape(f"{account.name} ({account.id})"),
        [
            ("plan", plan),
            ("kind", account.kind),
            ("balance", format_credits(account.balance_credits)),
            ("available", format_credits(account.available_credits)),
            ("held", f"{format_credits(account.held_credits)} in {account.active_holds} holds"),
            ("cycle", f"{when(account.cycle_starts_at)} to {when(account.cycle_ends_at)}"),
            (
                "allowance",
                f"{format_credits(account.allowance_used_credits)} of "
                f"{format_credits(account.allowance_credits)} used",
            ),
            ("members", escape(", ".join(account.members)) or "-"),
        ],
    )


def entry_amount(entry: Entry) -> str:
    """The entry's effect, signed: on the balance, or on the held part for holds/releases."""
    if entry.balance_delta:
        return signed(entry.balance_delta)
    if entry.held_delta > 0:
        return f"[dim]{format_credits(entry.amount_credits)} held[/dim]"
    if entry.held_delta < 0:
        return f"[dim]{format_credits(entry.amount_credits)} returned[/dim]"
    return "0"


def entry_table(entry: Entry, title: str | None = None) -> Table:
    """The short receipt of a charge, refund, grant or any other entry."""
    amount = format_credits(entry.amount_credits)
    if entry.kind is EntryKind.ADJUST:
        amount = signed(entry.balance_delta)
    rows = [
        (VERBS[entry.kind], f"{amount} credits"),
        ("balance after", format_credits(entry.balance_after)),
        ("available after", format_credits(entry.available_after)),
        ("entry", str(entry.id)),
    ]
    if entry.hold_id is not None:
        rows.append(("hold", str(entry.hold_id)))
    if entry.related_entry_id is not None:
        rows.append(("for entry", str(entry.related_entry_id)))
    return fields(title or escape(f"{entry.account_id}: {entry.kind.value}"), rows)


def history_table(account_id: str, entries: Iterable[Entry]) -> Table:
    table = Table(
        title=escape(f"{account_id}: history, newest first"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    # The figures never wrap; the free text (project, reason) takes what width is left, so
    # the table still reads in an 80-column terminal.
    table.add_column("ID", justify="right", style="dim", no_wrap=True)
    table.add_column("Time (UTC)", no_wrap=True)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Amount", justify="right", no_wrap=True)
    table.add_column("Balance\nafter", justify="right", no_wrap=True)
    table.add_column("Model", no_wrap=True)
    table.add_column("Project", max_width=16)
    table.add_column("Reason", ratio=1)
    for entry in entries:
        table.add_row(
            str(entry.id),
            f"{entry.effective_at:%Y-%m-%d %H:%M}",
            entry.kind.value,
            entry_amount(entry),
            format_credits(entry.balance_after),
            escape(entry.model_id or ""),
            escape(entry.project or ""),
            escape(entry.reason or ""),
        )
    return table


def explain(entry: Entry, quote: dict[str, Any] | None) -> list[str]:
    """Why an entry moved what it did: the priced lines of its quote, or its reason."""
    if not quote or not quote.get("lines"):
        return [entry.reason or f"{VERBS[entry.kind]} {format_credits(entry.amount_credits)}"]
    lines = [f"{line['model']}: {line['explanation']}" for line in quote["lines"]]
    total = quote.get("total")
    lines.append(f"total {total} credits at price version {quote.get('price_version')}")
    if entry.kind is EntryKind.CAPTURE and total != entry.amount_credits:
        lines.append(f"captured {entry.amount_credits} of the {total} held")
    elif entry.kind is EntryKind.REFUND:
        lines.append(f"refunded {entry.amount_credits} of entry {entry.related_entry_id}")
    elif entry.kind is EntryKind.RELEASE:
        lines.append(f"released {entry.amount_credits} of hold {entry.hold_id}")
    return lines
