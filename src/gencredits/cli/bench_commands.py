"""``gencredits bench``: the benchmarks of ``benchmarks/``, each against a baseline measured in
the same run (per-charge and raw SQL, holds, quotes, group commit, PostgreSQL, growth), and charges
through the running HTTP server.

The benchmark code lives next to the package in a source checkout, not inside it: an installed
service carries no benchmarks. This command finds them when gencredits runs from a checkout
(``pip install -e .``) and says so when it does not.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from rich.console import Console

from gencredits.cli.output import error_console, print_json

SUITES_HELP = "charges, holds, quotes, group, postgres, growth, profile, http"


def register(app: typer.Typer) -> None:
    bench_app = typer.Typer(
        help="Benchmarks: throughput and latency against a raw-SQL baseline in the same run."
    )
    bench_app.callback(invoke_without_command=True)(run_benchmarks)
    bench_app.command("list")(list_suites)
    app.add_typer(bench_app, name="bench")


def _benchmarks() -> ModuleType:
    """``benchmarks.run`` from the checkout this package was installed from."""
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "benchmarks" / "run.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        return importlib.import_module("benchmarks.run")
    except ImportError:
        error_console.print(
            "[red]error:[/red] the benchmarks live in a source checkout of gencredits "
            "(benchmarks/); run this command from one installed with `pip install -e .`",
            highlight=False,
        )
        raise typer.Exit(1) from None


def run_benchmarks(
    ctx: typer.Context,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help=f"Run only this suite (repeatable): {SUITES_HELP}."),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny counts: a smoke run.")] = False,
    postgres: Annotated[
        bool,
        typer.Option("--postgres", help="Start a throwaway PostgreSQL server (needs initdb)."),
    ] = False,
    postgres_url: Annotated[
        str | None,
        typer.Option("--postgres-url", help="Use this PostgreSQL server (user needs CREATEDB)."),
    ] = None,
    ten_million: Annotated[
        bool, typer.Option("--ten-million", help="Growth: also a 10^7-entry ledger (slow).")
    ] = False,
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", min=1, max=20, help="Alternating rounds per comparison."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the JSON results here."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON results instead of tables.")
    ] = False,
) -> None:
    """Run the benchmarks; print tables (or JSON) and write benchmarks/results/*.json."""
    if ctx.invoked_subcommand is not None:
        return
    bench = _benchmarks()
    unknown = sorted(set(suite or ()) - set(bench.SUITES))
    if unknown:
        error_console.print(
            f"[red]error:[/red] unknown suite {', '.join(unknown)}; choose from {SUITES_HELP}",
            highlight=False,
        )
        raise typer.Exit(2)
    content, _ = bench.run(
        suite or bench.SUITES,
        bench.config_from(quick, ten_million, rounds),
        start_postgres=postgres,
        postgres_url=postgres_url,
        json_path=output,
        console=Console(stderr=True) if as_json else None,
    )
    if as_json:
        print_json(content)


def list_suites() -> None:
    """List the benchmark suites."""
    bench = _benchmarks()
    for name in bench.SUITES:
        function = bench.SUITE_FUNCTIONS[name]
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
        typer.echo(f"{name:10} {summary}")
