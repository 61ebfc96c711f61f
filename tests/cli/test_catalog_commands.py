"""The catalog and quote commands, run as a user would, through the installed entry point.

The catalog comes from the database's current price version; every test here reads one
throwaway database seeded with the default catalog (``set-price`` tests get their own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.support import Cli

ENV = {**os.environ, "COLUMNS": "120", "GENCREDITS_NOW": "2026-01-31T09:00:00Z"}
ENV.pop("GENCREDITS_CATALOG", None)


@pytest.fixture(scope="module", autouse=True)
def _database(tmp_path_factory: pytest.TempPathFactory) -> None:
    ENV["GENCREDITS_DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'x.db'}"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gencredits", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "total"),
    [
        (["flux-2-pro", "--count", "50"], 250),
        (["flux-2-pro", "-n", "4"], 18),
        (["veo-3", "--seconds", "8", "--quality", "1080p"], 120),
        (["background-removal", "-n", "100"], 180),
        (["ai-expand", "--option", "large"], 5),
    ],
)
def test_quote_totals(args: list[str], total: int) -> None:
    result = run("quote", *args, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["total"] == total
    assert sum(line["subtotal"] for line in document["lines"]) == total
    human = run("quote", *args)
    assert human.returncode == 0
    assert f"{total:,}" in human.stdout.splitlines()[-3]  # the Total row


def test_refusal_is_one_sentence_on_stderr_and_nothing_on_stdout() -> None:
    result = run("quote", "kling", "-n", "2")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "one clip per request" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["quote", "midjourney"], "unknown model 'midjourney'"),
        (["quote", "veo-3", "--seconds", "30"], "seconds must be between 5 and 8"),
        (["quote", "veo-3", "--quality", "8k"], "choose from: 720p, 1080p"),
        (["quote"], "name a model"),
        (["catalog", "show", "nope"], "unknown model 'nope'"),
    ],
)
def test_errors(args: list[str], needle: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    assert needle in result.stderr
    assert result.stdout == ""


def test_quote_from_a_file(tmp_path: Path) -> None:
    project = tmp_path / "project.yaml"
    project.write_text(
        "lines:\n"
        "  - {model: flux-2-pro, count: 50}\n"
        "  - {model: veo-3, seconds: 8, quality: 1080p}\n"
        "  - {model: background-removal, outputs: 100}\n"
    )
    result = run("quote", "--file", str(project), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 250 + 120 + 180
    as_json = tmp_path / "project.json"
    as_json.write_text(json.dumps([{"model": "flux-2-pro", "outputs": 4}]))
    assert json.loads(run("quote", "-f", str(as_json), "--json").stdout)["total"] == 18


def test_quote_file_errors_name_the_line_and_field(tmp_path: Path) -> None:
    project = tmp_path / "bad.yaml"
    project.write_text("lines:\n  - {model: flux-2-pro}\n  - {model: kling, outputs: 2}\n")
    result = run("quote", "--file", str(project))
    assert result.returncode != 0 and "one clip" in result.stderr
    project.write_text("lines:\n  - {model: flux-2-pro, outputs: 2.5}\n")
    result = run("quote", "--file", str(project))
    assert result.returncode != 0 and "lines.0.outputs" in result.stderr
    project.write_text("lines:\n  - {model: flux-2-pro, colour: red}\n")
    assert "lines.0.colour" in run("quote", "--file", str(project)).stderr


def test_catalog_table_groups_by_kind() -> None:
    result = run("catalog")
    assert result.returncode == 0
    text = result.stdout
    assert text.index("IMAGE") < text.index("VIDEO") < text.index("EDIT")
    assert "Flux 2 Pro" in text and "15-25" in text and "50-125" in text


def test_catalog_json_and_show() -> None:
    document = json.loads(run("catalog", "--json").stdout)
    assert len(document["models"]) == 19
    veo = json.loads(run("catalog", "show", "veo-3", "--json").stdout)
    assert veo["price"]["qualities"] == {"720p": "1", "1080p": "1.5"}
    assert "x1.5 at 1080p" in run("catalog", "show", "veo-3").stdout


def test_set_price_publishes_a_price_version_that_quotes_and_charges_use(cli: Cli) -> None:
    said = cli.ok("catalog", "set-price", "flux-2-pro", "6")
    assert "5 -> 6" in said and "price version 2" in said
    assert cli.json("catalog", "set-price", "flux-2-pro", "4.5") == {
        "model": "flux-2-pro",
        "old_credits": "6",
        "new_credits": "4.5",
        "unit": "image",
        "price_version": 3,
    }
    priced = cli.json("quote", "flux-2-pro", "--count", "2")
    assert (priced["price_version"], priced["total"]) == (3, 10)  # 4.5 rounds half up to 5
    assert "flat: 4.5 / image" in cli.ok("catalog", "show", "flux-2-pro")
    assert "per_second" in cli.refused("catalog", "set-price", "veo-3", "6", code=2)
    assert "above 0" in cli.refused("catalog", "set-price", "flux-2-pro", "-1", code=2)
    assert cli.json("catalog")["price_version"] == 3
    cli.ok("accounts", "create", "ana", "--plan", "pro")
    charged = cli.json("charge", "ana", "flux-2-pro", "--key", "k1")
    assert (charged["amount"], charged["price_version"]) == (5, 3)
