"""Every mutating command takes ``--key`` (SPEC 7: every mutating call takes an idempotency
key), and a retry with it does the work once. The command tree is walked: a new command must
be listed as mutating or as not, with why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from gencredits.cli.app import app
from tests.cli.support import Cli

MUTATING = {
    "accounts create", "accounts members", "accounts cap", "plan", "charge", "hold", "capture",
    "release", "refund", "grant", "adjust", "transfer", "renew", "topups",
    "catalog set-price", "keys create", "keys revoke",
}
NOT_MUTATING = {
    "quote": "prices", "plans": "lists", "history": "reads", "entry": "reads",
    "verify": "rebuilds and compares, writes nothing", "estimate": "estimates",
    "plan-drafts": "compares", "forecast": "reads", "report": "reads", "margins": "reads",
    "catalog show": "reads", "accounts show": "reads", "accounts list": "reads",
    "keys list": "reads", "advise model": "ranks", "advise plan": "reads",
    "bench list": "lists", "serve": "runs the server (its routes take keys)",
    "demo": "seeds an empty demo database once; refuses a database with accounts",
}


def commands(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield " ".join(prefix), command
        return
    for name, sub in subcommands.items():
        yield from commands(sub, (*prefix, name))


def test_every_mutating_command_takes_a_key() -> None:
    tree = dict(commands(typer.main.get_command(app)))
    assert set(tree) == MUTATING | set(NOT_MUTATING)
    for name in sorted(MUTATING):
        options = {option for param in tree[name].params for option in param.opts}
        assert "--key" in options, name


def test_a_retry_with_its_key_does_the_work_once(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--name", "Ana", "--plan", "pro", "--key", "k0")
    made = [cli.json("keys", "create", "--account", "ana", "--key", "k1") for _ in range(2)]
    assert made[0] == made[1] and made[0]["secret"]
    assert len(cli.json("keys", "list")) == 1
    priced = [cli.json("catalog", "set-price", "flux-2-pro", "6", "--key", "k2")
              for _ in range(2)]
    assert priced[0]["price_version"] == priced[1]["price_version"]
    revoked = [cli.json("keys", "revoke", made[0]["id"], "--key", "k3") for _ in range(2)]
    assert revoked[0] == revoked[1]
    for _ in range(2):
        cli.ok("accounts", "members", "ana", "--add", "m1", "--key", "k4")
        cli.ok("accounts", "cap", "ana", "acme", "100", "--key", "k5")
        cli.ok("topups", "on", "--key", "k6")
    assert cli.json("renew", "--key", "k7") == cli.json("renew", "--key", "k7")
