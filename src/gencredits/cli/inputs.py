"""What the command groups share: the ``--json`` flag, the quote flags, opening the service,
and turning typed text into credit amounts and times.

Amounts arrive as text and are parsed here rather than by Typer, so ``-50`` or ``2.5`` is
refused the same way as every other operating error: one sentence on stderr, exit code 2,
nothing written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gencredits.cli.output import refusals
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.pricing import LineItem, QuoteRequest

if TYPE_CHECKING:
    from gencredits.service.facade import Gencredits

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

# The quote flags, shared by `quote`, `charge` and `hold` so a priced request reads the same
# everywhere.
ModelArgument = Annotated[str | None, typer.Argument(help="Model id; omit with --file.")]
OutputsOption = Annotated[
    int, typer.Option("-n", "--outputs", help="Outputs per request (items for an edit batch).")
]
CountOption = Annotated[int, typer.Option("--count", help="How many such requests.")]
SecondsOption = Annotated[int | None, typer.Option(help="Video duration in seconds.")]
QualityOption = Annotated[str | None, typer.Option(help="Video quality, e.g. 1080p.")]
ChoiceOption = Annotated[str | None, typer.Option("--option", help="Named option, e.g. large.")]
FileOption = Annotated[Path | None, typer.Option("--file", "-f", help="A YAML/JSON file of lines.")]

KeyOption = Annotated[
    str | None,
    typer.Option("--key", help="Idempotency key: a retry with the same key does the work once."),
]
RequiredKeyOption = Annotated[
    str,
    typer.Option("--key", help="Idempotency key (required): a retry with the same key is safe."),
]

# Commands whose positional amount may start with "-": Click would otherwise read "-50" as an
# unknown option; with this it reaches parse_credits, which accepts or refuses it plainly.
AMOUNT_COMMAND = {"ignore_unknown_options": True}

# Digits, optionally grouped in thousands with commas; 30 digits is far past any limit.
_WHOLE_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,30})")


@contextmanager
def service() -> Iterator[Gencredits]:
    """The service for one command; operating errors become one line and an exit code."""
    from gencredits.service.runtime import open_service

    with refusals(), open_service() as credits:
        yield credits


def parse_credits(text: str, *, field: str, signed: bool = False) -> int:
    """A whole number of credits from ``text`` (``1,000`` reads as 1000).

    Negative amounts are refused unless ``signed``; ranges are the service's to check.
    """
    cleaned = text.strip()
    if not _WHOLE_NUMBER.fullmatch(cleaned):
        raise InvalidRequest(
            f"{field} must be a whole number of credits, got {text!r}", field=field
        )
    amount = int(cleaned.replace(",", ""))
    if amount < 0 and not signed:
        raise InvalidRequest(f"{field} cannot be negative, got {text!r}", field=field)
    return amount


def parse_moment(text: str | None, *, field: str) -> datetime | None:
    from gencredits.service.clock import parse_time

    return None if text is None else parse_time(text, field=field)


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
    from gencredits.documents.requests import parse_quote_request, read_document_file

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
