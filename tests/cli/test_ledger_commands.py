"""Accounts, charges, holds, refunds, grants, transfers, plans, history and verify, run as an
operator would: the real command in a subprocess, on a throwaway database, with
``GENCREDITS_NOW`` moving time. Each subprocess costs about half a second, so every test
batches its assertions over as few commands as it can."""

from __future__ import annotations

import sqlite3

from tests.cli.support import Cli

RENEWAL = "2026-02-28T09:00:00Z"


def test_spec_worked_example_from_the_command_line(cli: Cli) -> None:
    ana = cli.json("accounts", "create", "ana", "--plan", "pro")
    assert (ana["plan"], ana["balance"], ana["available"], ana["held"]) == ("pro", 1000, 1000, 0)
    assert ana["cycle_start"] == "2026-01-31T09:00:00+00:00"
    assert ana["cycle_end"] == "2026-02-28T09:00:00+00:00"

    charged = cli.json("charge", "ana", "flux-2-pro", "--count", "120", "--key", "k1")
    assert (charged["kind"], charged["amount"], charged["balance_after"]) == ("charge", 600, 400)
    assert charged["details"]["total"] == 600
    replayed = cli.json("charge", "ana", "flux-2-pro", "--count", "120", "--key", "k1")
    assert replayed["id"] == charged["id"] and replayed["balance_after"] == 400
    conflict = cli.refused("charge", "ana", "flux-2-pro", "--count", "100", "--key", "k1", code=5)
    assert "'k1'" in conflict

    renewed = cli.json("accounts", "show", "ana", now=RENEWAL)
    assert (renewed["available"], renewed["balance"], renewed["held"]) == (1000, 1000, 0)
    assert renewed["cycle_start"] == "2026-02-28T09:00:00+00:00"
    expired = cli.json("history", "ana", "--kind", "expire", now=RENEWAL)
    assert [(e["kind"], e["amount"], e["balance_delta"]) for e in expired["entries"]] == [
        ("expire", 400, -400)
    ]
    assert expired["next_cursor"] is None
    assert "no differences" in cli.ok("verify", now=RENEWAL)


def test_human_output_charge_history_and_entry_explanation(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    receipt = cli.ok("charge", "ana", "flux-2-pro", "-n", "4", "--key", "j1", "--project", "acme")
    assert "charged" in receipt and "18 credits" in receipt and "982" in receipt
    assert "entry" in receipt and "2" in receipt

    table = cli.ok("history", "ana")
    rows = [line for line in table.splitlines() if line.strip()[:1].isdigit()]
    assert [row.split()[0] for row in rows] == ["2", "1"]  # newest first
    assert all(text in rows[0] for text in ("charge", "-18", "982", "flux-2-pro", "acme"))
    assert "+1,000" in rows[1] and "Pro allowance" in rows[1]

    why = cli.ok("entry", "2")
    assert "flux-2-pro: 4 x 5 = 20, 10% batch discount -> 18" in why
    entry = cli.json("entry", "2")
    assert entry["id"] == 2 and entry["details"]["lines"][0]["unit_credits"] == 18
    assert entry["explanation"] == [
        "flux-2-pro: 4 x 5 = 20, 10% batch discount -> 18",
        "total 18 credits at price version 1",
    ]


def test_hold_capture_release_round_trip(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    held = cli.json("hold", "ana", "flux-2-pro", "-n", "4", "--key", "h1", "--ttl", "600")
    assert (held["status"], held["amount"]) == ("pending", 18)
    assert held["expires_at"] == "2026-01-31T09:10:00+00:00"
    ana = cli.json("accounts", "show", "ana")
    assert (ana["balance"], ana["available"], ana["held"], ana["active_holds"]) == (
        1000,
        982,
        18,
        1,
    )

    settled = cli.json("capture", str(held["id"]), "--outputs", "3")
    assert settled["hold"]["status"] == "captured"
    assert (settled["capture"]["amount"], settled["release"]["amount"]) == (14, 4)
    assert "already captured" in cli.refused("release", str(held["id"]), code=5)

    video = cli.json("hold", "ana", "veo-3", "--seconds", "8", "--key", "h2")
    assert video["amount"] == 80 and video["id"] != held["id"]
    released = cli.json("release", str(video["id"]), "--key", "r2")
    assert (released["id"], released["status"]) == (video["id"], "released")
    ana = cli.json("accounts", "show", "ana")
    assert (ana["balance"], ana["available"], ana["held"], ana["active_holds"]) == (986, 986, 0, 0)

    why = cli.json("entry", str(settled["capture"]["id"]))
    assert why["explanation"][-1] == "captured 14 of the 18 held"
    assert "no differences" in cli.ok("verify")


def test_refunds_return_credits_once(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    charged = cli.json("charge", "ana", "flux-2-pro", "--count", "120", "--key", "k1")
    entry_id = str(charged["id"])
    part = cli.json("refund", entry_id, "--amount", "100", "--reason", "two failed")
    assert (part["kind"], part["amount"], part["balance_after"]) == ("refund", 100, 500)
    assert (part["related_entry_id"], part["reason"]) == (charged["id"], "two failed")
    rest = cli.json("refund", entry_id, "--key", "rest")
    assert (rest["amount"], rest["balance_after"]) == (500, 1000)
    assert "already fully refunded" in cli.refused("refund", entry_id, code=2)
    assert "cannot be negative" in cli.refused("refund", entry_id, "--amount", "-5", code=2)


def test_refused_when_short_with_nothing_written(cli: Cli) -> None:
    cli.ok("accounts", "create", "bo")  # the free trial: 100 credits
    short = ("veo-3", "--seconds", "8", "--quality", "1080p")
    error = cli.refused("charge", "bo", *short, "--key", "c1", code=6)
    assert "120" in error and "100" in error
    cli.refused("hold", "bo", *short, "--key", "h1", code=6)
    assert cli.json("history", "bo", "--kind", "charge", "--kind", "hold")["entries"] == []
    assert cli.json("accounts", "show", "bo")["available"] == 100
    assert "'nobody'" in cli.refused("charge", "nobody", "flux-2-pro", "--key", "x", code=4)


def test_amounts_are_whole_numbers_and_only_adjust_takes_negatives(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    assert "cannot be negative" in cli.refused("grant", "ana", "-50", "--source", "promo", code=2)
    assert "whole number" in cli.refused("grant", "ana", "2.5", "--source", "promo", code=2)
    assert "one of" in cli.refused("grant", "ana", "50", "--source", "plan", code=2)
    assert "switched off" in cli.refused("grant", "ana", "50", "--source", "topup", code=7)
    assert "amount" in cli.refused("transfer", "ana", "bo", "-5", "--key", "t1", code=2)
    assert "expires_at" in cli.refused(
        "grant", "ana", "5", "--source", "promo", "--expires-at", "soon", code=2
    )

    assert cli.json("adjust", "ana", "-50", "--reason", "oops")["balance_after"] == 950
    assert cli.json("adjust", "ana", "--reason", "again", "--", "-50")["balance_after"] == 900
    assert cli.json("adjust", "ana", "1,000", "--reason", "gift")["balance_after"] == 1900
    adjustments = cli.json("history", "ana", "--kind", "adjust", "--kind", "grant")["entries"]
    assert [(e["kind"], e["balance_delta"]) for e in adjustments] == [
        ("adjust", 1000),
        ("adjust", -50),
        ("adjust", -50),
        ("grant", 1000),
    ]


def test_pools_transfers_topups_caps_and_plans(cli: Cli) -> None:
    agency = cli.json("accounts", "create", "agency", "--plan", "ultra", "--member", "bo")
    assert (agency["kind"], agency["members"], agency["available"]) == ("pool", ["bo"], 5000)
    cli.ok("accounts", "create", "ana", "--name", "Ana", "--plan", "pro")
    moved = cli.json("transfer", "agency", "ana", "500", "--key", "fund", "--reason", "seed")
    assert (moved["out"]["balance_after"], moved["in"]["balance_after"]) == (4500, 1500)
    again = cli.json("transfer", "agency", "ana", "500", "--key", "fund", "--reason", "seed")
    assert (again["out"]["id"], again["in"]["id"]) == (moved["out"]["id"], moved["in"]["id"])

    assert cli.json("topups", "on") == {"topups_enabled": True}
    topup = cli.json(
        "grant", "ana", "200", "--source", "topup", "--expires-at", "2026-12-31T00:00:00Z"
    )
    assert (topup["kind"], topup["amount"], topup["balance_after"]) == ("grant", 200, 1700)

    upgrade = cli.json("plan", "ana", "ultra")
    assert (upgrade["change"], upgrade["account"]["plan"]) == ("upgrade", "ultra")
    downgrade = cli.json("plan", "ana", "pro")
    assert (downgrade["change"], downgrade["account"]["pending_plan"]) == ("downgrade", "pro")
    plans = cli.json("plans")
    assert plans["default_plan"] == "free"
    assert [(p["id"], p["allowance_credits"]) for p in plans["plans"]] == [
        ("free", 100),
        ("pro", 1000),
        ("ultra", 5000),
    ]

    first = cli.json("accounts", "list", "--limit", "1")
    assert [a["id"] for a in first["accounts"]] == ["agency"] and first["next_cursor"] == "agency"
    rest = cli.json("accounts", "list", "--after", "agency")
    assert [a["id"] for a in rest["accounts"]] == ["ana"] and rest["next_cursor"] is None
    members = cli.json("accounts", "members", "agency", "--add", "cy", "--remove", "bo")
    assert members["members"] == ["cy"]

    assert cli.json("accounts", "cap", "agency", "launch", "100")["cap"] == 100
    launch = ("charge", "agency", "flux-2-pro", "--count", "30", "--project", "launch")
    assert "cap" in cli.refused(*launch, "--key", "p1", code=6)
    assert cli.json("accounts", "cap", "agency", "launch", "--remove")["cap"] is None
    assert cli.json(*launch, "--key", "p2")["amount"] == 150
    assert "no differences" in cli.ok("verify")


def test_renew_and_verify_report_differences_with_exit_8(cli: Cli) -> None:
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    swept = cli.json("renew", now=RENEWAL)
    assert (swept["accounts_checked"], swept["accounts_updated"]) == (1, 1)
    database = cli.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:  # a cached balance that lies
        connection.execute("UPDATE accounts SET available_credits = available_credits + 7")
    result = cli.run("verify", "--json", now=RENEWAL)
    assert result.returncode == 8
    assert '"ok": false' in result.stdout and "ana: balance from entries" in result.stdout
