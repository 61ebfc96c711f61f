"""The CLI keeps the bounds of every time and decimal it reads (SPEC section 7): a time outside
1970 to 9999 after its offset, or a price of 1e999999 or NaN, is one sentence on stderr naming
the option, exit code 2, and nothing written."""

from __future__ import annotations

from tests.cli.support import Cli

TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31",
         "1969-12-31T23:59:59Z")


def test_times_and_prices_out_of_bounds_are_refused_naming_the_option(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    for time in TIMES:
        assert "since" in cli.refused("history", "ana", "--since", time, code=2)
        assert "until" in cli.refused("history", "ana", "--until", time, code=2)
        assert "expires_at" in cli.refused("grant", "ana", "5", "--source", "promo",
                                           "--expires-at", time, code=2)
    for price in ("1e999999", "1e-999999", "NaN"):
        assert "credits" in cli.refused("catalog", "set-price", "flux-2-pro", price, code=2)
    assert cli.json("history", "ana")["entries"][0]["kind"] == "grant"  # the plan's only
    assert cli.json("catalog", "show", "flux-2-pro")["price_version"] == 1
