"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--suite NAME ...] [--postgres]``.

``--postgres`` starts a throwaway PostgreSQL server (``tests/pgserver.py``, needs the server
binaries) and destroys it at the end; ``--postgres-url URL`` uses a server you run (each
benchmark creates its own database there, so the URL's user needs CREATEDB). Without either,
the PostgreSQL parts are skipped and say so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from sqlalchemy.engine import make_url

from benchmarks import growth, harness, http_load, profiling, suites
from benchmarks.baseline import libpq_url
from benchmarks.config import FULL, QUICK, SUITES, Config, with_ten_million
from benchmarks.fixtures import Database
from benchmarks.harness import Results

SuiteFunction = Callable[[Results, Config, Database], None]

SUITE_FUNCTIONS: dict[str, SuiteFunction] = {
    "charges": suites.charges,
    "holds": suites.holds,
    "quotes": suites.quotes,
    "group": suites.group,
    "postgres": suites.postgres,
    "growth": growth.growth,
    "profile": profiling.profile,
    "http": http_load.http,
}
assert set(SUITE_FUNCTIONS) == set(SUITES)


@dataclass(frozen=True)
class PostgresAt:
    """A PostgreSQL server someone else runs, reached through ``url``."""

    url: str

    def create_database(self, name: str) -> str:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)


def postgres_version(server: object | None) -> str | None:
    if server is None:
        return None
    url = libpq_url(str(server.url))  # type: ignore[attr-defined]
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
        settings: dict[str, str] = dict(
            connection.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')"
            ).fetchall()
        )
    return (
        f"{row[0] if row else '?'} ({', '.join(f'{k}={v}' for k, v in sorted(settings.items()))})"
    )


@contextmanager
def postgres_server(start: bool, url: str | None) -> Iterator[object | None]:
    if url:
        yield PostgresAt(
            make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        )
        return
    if not start:
        yield None
        return
    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.pgserver import start_postgres  # a source checkout's throwaway server

    server = start_postgres()
    try:
        yield server
    finally:
        server.destroy()


def run(
    suite_names: Sequence[str],
    config: Config,
    *,
    start_postgres: bool = False,
    postgres_url: str | None = None,
    json_path: Path | None = None,
    output_directory: Path | None = None,
    console: Console | None = None,
) -> tuple[dict[str, Any], Path]:
    """Run the named suites; print the report, write the JSON, return both."""
    unknown = set(suite_names) - set(SUITES)
    if unknown:
        raise ValueError(f"unknown suites {sorted(unknown)}; choose from {', '.join(SUITES)}")
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    started_at = datetime.now(UTC)
    results = Results()
    with (
        tempfile.TemporaryDirectory(prefix="gencredits-bench-") as directory,
        postgres_server(start_postgres, postgres_url) as server,
    ):
        machine = harness.machine(Path(directory), postgres_version(server))
        database = Database(Path(directory), server, output_directory)
        for name in suite_names:
            console.print(f"[bold]{name}[/bold] ...")
            SUITE_FUNCTIONS[name](results, config, database)
    settings = {
        "suites": list(suite_names),
        "config": config.as_dict(),
        "sqlite": {"journal_mode": "WAL", "synchronous": "FULL", "begin": "IMMEDIATE"},
        "postgres": "throwaway server"
        if start_postgres
        else ("given URL" if postgres_url else "none"),
    }
    content = harness.document(
        results, started_at=started_at, machine_info=machine, settings=settings
    )
    if json_path is None and output_directory is not None:
        json_path = output_directory / f"bench-{started_at:%Y%m%dT%H%M%SZ}.json"
    path = harness.write_json(content, json_path)
    harness.print_report(results, console, machine)
    console.print(f"results: {path}")
    return content, path


def config_from(quick: bool, ten_million: bool, rounds: int | None) -> Config:
    config = QUICK if quick else FULL
    if ten_million:
        config = with_ten_million(config)
    if rounds is not None:
        config = replace(config, rounds=rounds)
    return config


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite",
        action="append",
        choices=SUITES,
        help="run only this suite (repeatable); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway PostgreSQL server for the PostgreSQL parts",
    )
    parser.add_argument("--postgres-url", help="use this PostgreSQL server instead")
    parser.add_argument(
        "--ten-million", action="store_true", help="growth: also a ledger of 10^7 entries (slow)"
    )
    parser.add_argument("--rounds", type=int, help="alternating rounds per comparison")
    parser.add_argument("--json", type=Path, help="write the results here")
    arguments = parser.parse_args(argv)
    run(
        arguments.suite or SUITES,
        config_from(arguments.quick, arguments.ten_million, arguments.rounds),
        start_postgres=arguments.postgres,
        postgres_url=arguments.postgres_url,
        json_path=arguments.json,
    )


if __name__ == "__main__":
    main()
