"""The balance ceiling from the command line: exit 5 (a conflict with the account's state),
one line on stderr, nothing written."""

from __future__ import annotations

from tests.cli.support import Cli

CEILING = 2**53 - 1


def test_a_grant_past_the_ceiling_exits_5_and_writes_nothing(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    cli.ok("grant", "ana", str(CEILING - 1_000), "--source", "promo")
    assert cli.json("accounts", "show", "ana")["balance"] == CEILING
    error = cli.refused("grant", "ana", "1", "--source", "promo", code=5)
    assert str(CEILING) in error and "cannot take 1 more" in error
    cli.refused("adjust", "ana", "1", "--reason", "bonus", code=5)
    assert cli.json("accounts", "show", "ana")["balance"] == CEILING
    assert len(cli.json("history", "ana")["entries"]) == 2
