"""Moving credits: ``charge``, ``hold``, ``capture``, ``release``, ``refund``, ``grant``,
``adjust`` and ``transfer``.

Each command is one service call. ``--key`` makes a retry safe: the same key and payload
replay the first answer, a different payload under the same key is refused (exit 5).
``charge``, ``hold`` and ``transfer`` require it; the rest accept it.
"""

from __future__ import annotations

from typing import Annotated

import typer

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
    RequiredKeyOption,
    SecondsOption,
    build_request,
    parse_credits,
    parse_moment,
    service,
)
from gencredits.cli.output import console, emit
from gencredits.cli.views import entry_table, fields, when
from gencredits.domain import limits
from gencredits.domain.credits import format_credits
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.ledger import GrantSource
from gencredits.service.grants import MANUAL_GRANT_SOURCES

AccountArgument = Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account id.")]
ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Project label, for caps and reports.")
]
JobOption = Annotated[
    str | None, typer.Option("--job", help="Your job reference (capture/refund by job later).")
]
PriceVersionOption = Annotated[
    int | None,
    typer.Option("--price-version", help="Price at this quoted version (while still honoured)."),
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the history.")]


def register(app: typer.Typer) -> None:
    app.command("charge")(charge)
    app.command("hold")(hold)
    app.command("capture")(capture)
    app.command("release")(release)
    app.command("refund")(refund)
    app.command("grant", context_settings=AMOUNT_COMMAND)(grant)
    app.command("adjust", context_settings=AMOUNT_COMMAND)(adjust)
    app.command("transfer", context_settings=AMOUNT_COMMAND)(transfer)


def charge(
    account_id: AccountArgument,
    key: RequiredKeyOption,
    model: ModelArgument = None,
    outputs: OutputsOption = 1,
    count: CountOption = 1,
    seconds: SecondsOption = None,
    quality: QualityOption = None,
    option: ChoiceOption = None,
    file: FileOption = None,
    project: ProjectOption = None,
    job: JobOption = None,
    price_version: PriceVersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charge the price of a request at once (refused, with nothing written, if short)."""
    with service() as credits:
        request = build_request(model, outputs, count, seconds, quality, option, file)
        entry = credits.charge(
            account_id,
            request,
            idempotency_key=key,
            project=project,
            job_ref=job,
            price_version=price_version,
        )
    emit(as_json, entry.as_dict, lambda: console.print(entry_table(entry)))


def hold(
    account_id: AccountArgument,
    key: RequiredKeyOption,
    model: ModelArgument = None,
    outputs: OutputsOption = 1,
    count: CountOption = 1,
    seconds: SecondsOption = None,
    quality: QualityOption = None,
    option: ChoiceOption = None,
    file: FileOption = None,
    project: ProjectOption = None,
    job: JobOption = None,
    price_version: PriceVersionOption = None,
    ttl_seconds: Annotated[
        int, typer.Option("--ttl", metavar="SECONDS", help="Release by itself after this long.")
    ] = limits.DEFAULT_HOLD_TTL_SECONDS,
    as_json: JsonOption = False,
) -> None:
    """Reserve the price of a request until it is captured or released (or the TTL passes)."""
    with service() as credits:
        request = build_request(model, outputs, count, seconds, quality, option, file)
        held = credits.hold(
            account_id,
            request,
            idempotency_key=key,
            project=project,
            job_ref=job,
            price_version=price_version,
            ttl_seconds=ttl_seconds,
        )
    emit(
        as_json,
        held.as_dict,
        lambda: console.print(
            fields(
                f"{held.account_id}: hold {held.id}",
                [
                    ("held", f"{format_credits(held.amount_credits)} credits"),
                    ("status", held.status.value),
                    ("expires", when(held.expires_at)),
                    ("hold", str(held.id)),
                ],
            )
        ),
    )


HoldArgument = Annotated[int, typer.Argument(metavar="HOLD", help="Hold id.")]


def capture(
    hold_id: HoldArgument,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Capture this many credits (default: all).")
    ] = None,
    outputs: Annotated[
        int | None,
        typer.Option("--outputs", help="Capture the price of this many delivered outputs."),
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Capture a pending hold, all or part; the rest returns to the account."""
    with service() as credits:
        amount_credits = None if amount is None else parse_credits(amount, field="amount")
        settled = credits.capture(
            hold_id, amount_credits=amount_credits, outputs_delivered=outputs, idempotency_key=key
        )

    def render() -> None:
        rows = [
            ("captured", f"{format_credits(settled.hold.captured_credits or 0)} credits"),
            ("released", f"{format_credits(settled.release.amount_credits)} credits")
            if settled.release
            else ("released", "0 credits"),
        ]
        last = settled.release or settled.capture
        if last is not None:
            rows.append(("balance after", format_credits(last.balance_after)))
        if settled.capture is not None:
            rows.append(("entry", str(settled.capture.id)))
        console.print(fields(f"{settled.hold.account_id}: hold {settled.hold.id} captured", rows))

    emit(as_json, settled.as_dict, render)


def release(hold_id: HoldArgument, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Release a pending hold: every credit returns to the account."""
    with service() as credits:
        held = credits.release(hold_id, idempotency_key=key)
    emit(
        as_json,
        held.as_dict,
        lambda: console.print(
            f"released hold {held.id}: {format_credits(held.amount_credits)} credits back to "
            f"{held.account_id}",
            highlight=False,
        ),
    )


def refund(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY", help="A charge or capture entry.")],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Refund this many credits (default: the rest).")
    ] = None,
    reason: ReasonOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Return all or part of a charge to the grants it burned."""
    with service() as credits:
        amount_credits = None if amount is None else parse_credits(amount, field="amount")
        entry = credits.refund(
            entry_id, amount_credits=amount_credits, reason=reason, idempotency_key=key
        )
    emit(as_json, entry.as_dict, lambda: console.print(entry_table(entry)))


def grant(
    account_id: AccountArgument,
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="Credits to add.")],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help=f"Where they come from: {', '.join(sorted(MANUAL_GRANT_SOURCES))}.",
        ),
    ],
    expires_at: Annotated[
        str | None, typer.Option("--expires-at", help="ISO 8601 time; default: never.")
    ] = None,
    reason: ReasonOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add credits as a grant (promo, topup, trial or adjustment)."""
    with service() as credits:
        amount_credits = parse_credits(amount, field="amount")
        if source not in {s.value for s in MANUAL_GRANT_SOURCES}:
            choices = ", ".join(sorted(MANUAL_GRANT_SOURCES))
            raise InvalidRequest(f"source must be one of {choices}, got {source!r}", field="source")
        entry = credits.grant(
            account_id,
            amount_credits,
            source=GrantSource(source),
            expires_at=parse_moment(expires_at, field="expires_at"),
            reason=reason,
            idempotency_key=key,
        )
    emit(as_json, entry.as_dict, lambda: console.print(entry_table(entry)))


def adjust(
    account_id: AccountArgument,
    amount: Annotated[
        str, typer.Argument(metavar="AMOUNT", help="Credits to add, or remove if negative.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """An operator's correction: add credits, or remove them with a negative amount."""
    with service() as credits:
        amount_credits = parse_credits(amount, field="amount", signed=True)
        entry = credits.adjust(account_id, amount_credits, reason=reason, idempotency_key=key)
    emit(as_json, entry.as_dict, lambda: console.print(entry_table(entry)))


def transfer(
    from_account_id: Annotated[str, typer.Argument(metavar="FROM", help="Paying account.")],
    to_account_id: Annotated[str, typer.Argument(metavar="TO", help="Receiving account.")],
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="Credits to move.")],
    key: RequiredKeyOption,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move credits from one account to another, atomically."""
    with service() as credits:
        amount_credits = parse_credits(amount, field="amount")
        moved = credits.transfer(
            from_account_id, to_account_id, amount_credits, reason=reason, idempotency_key=key
        )
    emit(
        as_json,
        moved.as_dict,
        lambda: console.print(
            fields(
                f"transfer {from_account_id} -> {to_account_id}",
                [
                    ("moved", f"{format_credits(amount_credits)} credits"),
                    (
                        f"{from_account_id} balance after",
                        format_credits(moved.outgoing.balance_after),
                    ),
                    (
                        f"{to_account_id} balance after",
                        format_credits(moved.incoming.balance_after),
                    ),
                    ("entries", f"{moved.outgoing.id}, {moved.incoming.id}"),
                ],
            )
        ),
    )
