"""The advice commands run as a user would: a subprocess of ``gencredits`` on a throwaway
SQLite file (``GENCREDITS_DATABASE_URL``), its clock frozen by ``GENCREDITS_NOW``.

One database is shared by the module: ``gencredits demo`` seeds it once with 40 days of usage
(ending at the frozen now), and the commands read it back.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.cli.support import Cli

DEMO_DAYS = "40"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    shared = Cli(f"sqlite:///{tmp_path_factory.mktemp('advice') / 'advice.db'}")
    seeded = shared.json("demo", "--days", DEMO_DAYS)
    assert seeded["created"] and seeded["accounts"] == ["demo-heavy", "demo-light",
                                                        "demo-agency"]
    assert seeded["charges"] > 0 and seeded["holds"] > 0
    return shared


def test_demo_runs_once(cli: Cli) -> None:
    before = cli.json("verify")
    assert cli.json("demo", "--days", DEMO_DAYS)["created"] is False
    after = cli.json("verify")
    assert after["ok"] and after["entries_checked"] == before["entries_checked"] > 0


def test_estimate_the_spec_example(cli: Cli, tmp_path: Path) -> None:
    human = cli.ok("estimate", "flux-2-pro", "--count", "50")
    assert "│ total" in human and "300" in human
    assert "Cheaper models" in human and "imagen-4" in human and "flux-2-flex" in human
    project = tmp_path / "project.yaml"
    project.write_text(
        "lines:\n  - {model: flux-2-pro, count: 50}\n  - {model: kling, seconds: 5}\n"
    )
    from_file = cli.json("estimate", "--file", str(project), "--buffer", "10",
                         "--account", "demo-light")
    assert (from_file["subtotal"], from_file["buffer"], from_file["total"]) == (275, 28, 303)
    assert from_file["available"] > 0 and from_file["shortfall"] == 0
    assert "buffer" in cli.refused("estimate", "flux-2-pro", "--buffer", "lots", code=2)


def test_plan_drafts_and_model_advice(cli: Cli) -> None:
    assert "220 (73.3%)" in cli.ok("plan-drafts", "nano-banana-2", "flux-2-max", "--drafts",
                                   "20", "--finals", "5")
    advice = cli.json("advise", "model", "photoreal", "--kind", "image", "--max-credits", "5")
    assert [m["model"] for m in advice] == ["flux-2-flex", "imagen-4", "flux-2-pro"]
    assert "task" in cli.refused("advise", "model", "hologram", code=2)


def test_plan_advice_and_forecast(cli: Cli) -> None:
    advice = cli.json("advise", "plan", "demo-heavy")
    assert advice["action"] in ("upgrade", "stay") and advice["current_plan"] == "pro"
    assert advice["cycles"] and advice["cycles"][0]["used"] > 0
    human = cli.ok("advise", "plan", "demo-light")
    assert "Plan advice for demo-light" in human and "Last cycles" in human
    forecast = cli.json("forecast", "demo-light")
    assert forecast["used"] > 0 and forecast["expiring"] > 0 and forecast["runs_out_at"] is None


def test_reports_as_tables_json_and_csv(cli: Cli) -> None:
    report = cli.json("report", "demo-agency", "--period", "month", "--periods", "2")
    assert [p["label"] for p in report["periods"]] == ["2025-12", "2026-01"]
    assert report["used"] == sum(p["used"] for p in report["periods"]) > 0
    january = report["periods"][1]
    assert {line["key"] for line in january["by_project"]} == {"acme", "globex", "initech"}
    assert sum(line["credits"] for line in january["by_kind"]) == january["used"]
    exported = cli.ok("report", "demo-agency", "--period", "month", "--periods", "2", "--csv")
    rows = list(csv.DictReader(io.StringIO(exported)))
    used = [int(r["credits"]) for r in rows if (r["group"], r["key"]) == ("total", "used")]
    assert used == [p["used"] for p in report["periods"]]
    human = cli.ok("report", "demo-agency")
    assert "demo-agency: usage per cycle" in human and "By project" in human
    assert "period" in cli.refused("report", "demo-agency", "--period", "week", code=2)


def test_margins(cli: Cli) -> None:
    margins = cli.json("margins")
    assert margins["credit_value"] == "0.0096" and margins["below_target"] == ["dall-e-3"]
    rows = list(csv.DictReader(io.StringIO(cli.ok("margins", "--csv"))))
    assert rows[0]["model"] == "dall-e-3" and rows[0]["below_target"] == "True"
    human = cli.ok("margins", "--target", "40", "--credit-value", "0.01")
    assert "Margins at 0.01 USD a credit (given)" in human
