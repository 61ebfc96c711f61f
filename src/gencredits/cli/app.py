"""The Typer application: each group of commands lives in its own module and registers here.

catalog_commands   catalog, catalog show, catalog set-price, quote
account_commands   accounts create/show/list/members/cap, plan, plans
ledger_commands    charge, hold, capture, release, refund, grant, adjust, transfer
audit_commands     history, entry, renew, verify, topups
serve_commands     serve, keys
advice_commands    estimate, plan-drafts, advise model/plan, forecast
report_commands    report, margins, demo
bench_commands     bench
"""

from __future__ import annotations

import typer

from gencredits.cli import (
    account_commands,
    advice_commands,
    audit_commands,
    bench_commands,
    catalog_commands,
    ledger_commands,
    report_commands,
    serve_commands,
)

app = typer.Typer(
    name="gencredits",
    help="Credits for generative-AI products: catalog, quotes, balances, charges and advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_commands.register(app)
account_commands.register(app)
ledger_commands.register(app)
audit_commands.register(app)
serve_commands.register(app)
advice_commands.register(app)
report_commands.register(app)
bench_commands.register(app)


def main() -> None:
    app()
