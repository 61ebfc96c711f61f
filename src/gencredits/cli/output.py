"""Printing for the CLI: Rich tables for people, ``--json`` for scripts, errors to stderr.

Exit codes come from one table, :data:`EXIT_CODES`, keyed by error class; the most specific
class wins. Every refusal is one sentence on stderr and nothing on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from gencredits.domain import errors

console = Console()
error_console = Console(stderr=True)

EXIT_CODES: dict[type[errors.GencreditsError], int] = {
    errors.InvalidRequest: 2,
    errors.CatalogInvalid: 3,
    errors.NotFound: 4,
    errors.Conflict: 5,
    errors.BalanceCeilingExceeded: 5,
    errors.InsufficientCredits: 6,
    errors.ProjectCapExceeded: 6,
    errors.FeatureDisabled: 7,
    errors.GencreditsError: 1,
}


def exit_code_for(error: errors.GencreditsError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


@contextmanager
def refusals() -> Iterator[None]:
    """Turn an operating error into one line on stderr and its exit code."""
    try:
        yield
    except errors.GencreditsError as error:
        error_console.print(
            f"[red]error:[/red] {escape(error.message)}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(exit_code_for(error)) from None


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def emit(as_json: bool, document: Callable[[], Any], render: Callable[[], None]) -> None:
    """Print ``document()`` as JSON when asked, otherwise ``render()`` for people."""
    if as_json:
        print_json(document())
    else:
        render()
