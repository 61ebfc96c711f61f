"""The Typer application: each group of commands lives in its own module and registers here."""

from __future__ import annotations

import typer

from gencredits.cli import catalog_commands

app = typer.Typer(
    name="gencredits",
    help="Credits for generative-AI products: catalog, quotes, balances, charges and advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_commands.register(app)


def main() -> None:
    app()
