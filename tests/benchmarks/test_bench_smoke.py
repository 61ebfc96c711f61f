"""A smoke run of the benchmarks with tiny counts: the code runs and its JSON has the promised
shape. Nothing here is timed; the figures of a smoke run mean nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from benchmarks.config import QUICK
from benchmarks.run import run
from rich.console import Console
from typer.testing import CliRunner

from benchmarks import baseline, suites
from gencredits.cli import bench_commands
from tests.pgserver import PostgresServer

MEASUREMENT_KEYS = {
    "suite",
    "name",
    "subject",
    "backend",
    "operations",
    "seconds",
    "per_second",
    "p50_us",
    "p99_us",
    "cpu_us",
    "workers",
    "settings",
}
RATIO_KEYS = {
    "suite",
    "name",
    "subject",
    "baseline",
    "subject_per_second",
    "baseline_per_second",
    "ratio",
    "target",
    "meets_target",
}
MACHINE_KEYS = {
    "cpu_count", "python", "sqlite", "postgres", "platform", "fsync_4k_us", "python_probe_us"
}


def quiet() -> Console:
    return Console(file=io.StringIO(), width=160)


def check_shape(content: dict[str, Any], path: Path) -> None:
    assert json.loads(path.read_text()) == json.loads(json.dumps(content, default=str))
    assert content["schema"] == "gencredits-bench/1"
    assert content["machine"].keys() >= MACHINE_KEYS
    assert content["settings"]["sqlite"] == {
        "journal_mode": "WAL",
        "synchronous": "FULL",
        "begin": "IMMEDIATE",
    }
    assert content["measurements"] and content["ratios"]
    for found in content["measurements"]:
        assert set(found) == MEASUREMENT_KEYS
        assert found["operations"] > 0 and found["per_second"] > 0
    for ratio in content["ratios"]:
        assert set(ratio) == RATIO_KEYS
        assert ratio["ratio"] > 0


def test_a_quick_run_writes_the_results(tmp_path: Path) -> None:
    suites = ("charges", "holds", "quotes", "group", "growth", "profile", "postgres")
    content, path = run(suites, QUICK, output_directory=tmp_path, console=quiet())
    check_shape(content, path)
    assert content["machine"]["postgres"] is None
    seen = {(m["suite"], m["subject"]) for m in content["measurements"]}
    assert {
        ("charges", "gencredits"),
        ("charges", "raw SQL"),
        ("charges", "raw SQL, gencredits' statements"),
        ("charges", "raw SQL, key in the entry row"),
        ("group", "group commit"),
        ("group", "charge_many x1000"),
        ("quotes", "gencredits"),
    } <= seen
    assert [target["name"] for target in content["targets"]] == ["quote, 5 lines"]
    assert [size["entries"] for size in content["growth"]] == [0, *QUICK.growth_sizes]
    assert set(content["profiles"]) == {"per-charge", "charge_many"}
    assert any("postgres: skipped" in note for note in content["notes"])


@pytest.mark.postgres
def test_the_postgres_parts(tmp_path: Path, postgres_server: PostgresServer) -> None:
    content, path = run(
        ("postgres",),
        QUICK,
        postgres_url=postgres_server.url,
        output_directory=tmp_path,
        console=quiet(),
    )
    check_shape(content, path)
    assert content["machine"]["postgres"].startswith(("1", "2"))
    workers = {m["workers"] for m in content["measurements"] if m["subject"] == "raw SQL"}
    assert workers == set(QUICK.postgres_workers)


def test_the_command(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    bench_commands.register(app)
    output = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", "--quick", "--suite", "quotes", "--json", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    content = json.loads(output.read_text())
    assert content["settings"]["suites"] == ["quotes"]
    assert content["machine"]["gc"].startswith("setup heap frozen")
    # Without --json the tables come first, the run's conditions above them.
    shown = CliRunner().invoke(
        app, ["bench", "--quick", "--suite", "quotes", "--output", str(tmp_path / "b.json")]
    )
    assert shown.exit_code == 0, shown.output
    conditions = shown.output.index("Conditions")
    assert conditions < shown.output.index("Measurements")
    measured = json.loads((tmp_path / "b.json").read_text())["machine"]
    assert f"{measured['fsync_4k_us']} µs" in shown.output
    assert measured["python_probe_us"] > 0
    assert f"{measured['python_probe_us']} µs" in shown.output
    refused = CliRunner().invoke(app, ["bench", "--suite", "nope"])
    assert refused.exit_code == 2


@pytest.mark.parametrize("suite", ["charges", "holds", "group"])
def test_a_failed_round_still_closes_the_raw_connections(
    tmp_path: Path, suite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    for name in ("RawSqliteLedger", "RawSqliteCharges"):
        cls = getattr(baseline, name)
        real_close = cls.close

        def close(self: Any, real_close: Any = real_close, name: str = name) -> None:
            closed.append(name)
            real_close(self)

        monkeypatch.setattr(cls, "close", close)

    def failing(*_: Any, **__: Any) -> None:
        raise RuntimeError("a round failed")

    monkeypatch.setattr(suites, "alternate", failing)
    with pytest.raises(RuntimeError, match="a round failed"):
        run((suite,), QUICK, output_directory=tmp_path, console=quiet())
    opened = {"charges": ["RawSqliteCharges", "RawSqliteCharges", "RawSqliteLedger"]}.get(
        suite, ["RawSqliteLedger"]
    )  # the floor, the smaller ledger's floor (a RawSqliteCharges too) and the raw debit
    assert sorted(closed) == opened
