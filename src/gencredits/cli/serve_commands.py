"""``gencredits serve`` and ``gencredits keys``: running the HTTP service and its API keys."""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gencredits import config
from gencredits.cli.inputs import KeyOption
from gencredits.cli.output import console, emit, refusals
from gencredits.cli.report_commands import seed_with_progress
from gencredits.service.demo import has_accounts
from gencredits.service.facade import open as open_service

if TYPE_CHECKING:
    import uvicorn

APP_FACTORY = "gencredits.server:app_from_environment"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.")
    keys_app.command("create")(create_key)
    keys_app.command("list")(list_keys)
    keys_app.command("revoke")(revoke_key)
    app.add_typer(keys_app, name="keys")


def serve(
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: GENCREDITS_DATABASE_URL or "
                                      "sqlite:///var/gencredits.db).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    sweep_seconds: Annotated[
        float, typer.Option(help="Seconds between renewal/expiry sweeps (0: off).")
    ] = 30.0,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the demo accounts first if the database has "
                                          "no accounts yet (see `gencredits demo`).")
    ] = False,
) -> None:
    """Start the HTTP API (and the dashboard) with the embedded SQLite database by default."""
    import uvicorn

    # The worker processes read these from the environment (and share one session secret).
    config.export_for_workers(database_url=database_url, sweep_seconds=sweep_seconds)
    with refusals():
        config.Settings.from_environment().group_commit  # noqa: B018 - refused here, once
        credits = open_service()
    if credits.operator_key_count() == 0:
        _, secret = credits.create_key(account_id=None, name="operator (first start)")
        console.print("[bold]Operator key[/bold] (shown once, keep it safe):")
        console.print(secret, highlight=False, soft_wrap=True)
    seed_demo = demo and not has_accounts(credits)
    credits.close()
    if seed_demo:
        with refusals():
            result = seed_with_progress()
        console.print(f"Demo accounts seeded: {', '.join(result.accounts)}.", highlight=False)
    console.print(f"gencredits serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    # The app logs every request itself (JSON, with its request id); uvicorn's access log
    # would be a second, plainer line. httptools and uvloop are picked when installed.
    options: dict[str, Any] = {
        "host": host, "port": port, "workers": workers, "log_level": "warning",
        "access_log": False, "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        uvicorn.run(APP_FACTORY, factory=True, **options)
    else:
        _run_workers(uvicorn.Config(APP_FACTORY, factory=True, **options))


def _run_workers(config: uvicorn.Config) -> None:
    """``uvicorn.run`` for ``--workers N``, with a listening socket whose accepted
    connections get ``TCP_NODELAY``.

    uvicorn creates the shared listener with ``socket.socket(family)``, protocol 0, and
    asyncio sets ``TCP_NODELAY`` only on accepted sockets whose protocol says TCP (uvicorn issue
    #3149); without it the second write of an answer on a busy keep-alive connection waits for
    the client's delayed ACK, ~40 ms. uvloop sets it on every TCP connection, but the plain
    asyncio loop (no uvloop, or ``loop="asyncio"``) does not."""
    from uvicorn.supervisors import Multiprocess

    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()


def tcp_listener(sock: socket.socket) -> socket.socket:
    """``sock`` (bound by uvicorn) as a socket object that says it is TCP: same descriptor,
    same options, and connections accepted from it carry ``IPPROTO_TCP`` too."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


def create_key(
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    account: Annotated[
        str | None, typer.Option(help="An account key for this account (default: operator key).")
    ] = None,
    idempotency_key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API key; its secret is printed once and stored only as a hash (and with
    ``--key``, kept with the key so that a retry prints the same key)."""
    with refusals():
        credits = open_service()
        key, secret = credits.create_key(account_id=account, name=name,
                                         idempotency_key=idempotency_key)
    emit(as_json, lambda: key.as_dict() | {"secret": secret},
         lambda: console.print(f"{key.id}  {'operator' if key.is_operator else key.account_id}\n"
                               f"{secret}", highlight=False, soft_wrap=True))


def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API keys (never their secrets)."""
    with refusals(), open_service() as credits:
        found = credits.list_keys()

    def render() -> None:
        for k in found:
            revoked = "  (revoked)" if k.revoked_at else ""
            console.print(f"{k.id}  {k.prefix}…  {k.account_id or 'operator'}  {k.name}{revoked}")

    emit(as_json, lambda: [k.as_dict() for k in found], render)


def revoke_key(
    key_id: str,
    idempotency_key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revoke an API key at once, in every server process on this SQLite database (on
    PostgreSQL, a server with GENCREDITS_KEY_CACHE_SECONDS set may take it that long)."""
    with refusals():
        credits = open_service()
        key = credits.revoke_key(key_id, idempotency_key=idempotency_key)
    emit(as_json, key.as_dict, lambda: console.print(f"revoked {key.id}"))
