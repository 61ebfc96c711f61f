"""Where a charge's time goes: pyinstrument over the per-charge path and ``charge_many``.

pyinstrument is a development dependency (``pip install -e '.[dev]'``). Each profile is written
as text next to the JSON results, and its summary (the slowest frames) goes into the JSON.
``python -m benchmarks.profiling`` prints the per-charge profile on its own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.config import FULL, Config
from benchmarks.fixtures import CHARGE_REQUEST, Database, account_ids, context_of, spread
from benchmarks.fixtures import service_with_accounts as opened
from benchmarks.harness import RESULTS_DIRECTORY, Results
from gencredits.service.batch_apply import charge_many
from gencredits.service.charge_records import ChargeItem


def _profiler() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:  # pragma: no cover - a dev dependency
        return None
    return Profiler(interval=0.0002)


def profile_charges(config: Config, database: Database) -> dict[str, str]:
    """Text profiles of ``profile_charges`` charges, one by one and through ``charge_many``."""
    found: dict[str, str] = {}
    with opened(database.sqlite_url("profile"), 1) as service:
        ids = account_ids(1)
        for number in range(config.warmup):
            service.charge(ids[0], CHARGE_REQUEST, idempotency_key=f"warm-{number}")
        profiler = _profiler()
        if profiler is None:
            return {"skipped": "pyinstrument is not installed"}
        profiler.start()
        for number in range(config.profile_charges):
            service.charge(spread(ids, number), CHARGE_REQUEST, idempotency_key=f"p-{number}")
        profiler.stop()
        found["per-charge"] = profiler.output_text(unicode=False, color=False)
        items = [
            ChargeItem(ids[0], CHARGE_REQUEST, f"m-{n}") for n in range(config.profile_charges)
        ]
        profiler = _profiler()
        profiler.start()
        for start in range(0, len(items), 1000):
            charge_many(context_of(service), items[start : start + 1000])
        profiler.stop()
        found["charge_many"] = profiler.output_text(unicode=False, color=False)
    return found


def profile(results: Results, config: Config, database: Database) -> None:
    """pyinstrument profiles of the per-charge path and charge_many (text files)."""
    found = profile_charges(config, database)
    directory = database.output_directory or RESULTS_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in found.items():
        path = directory / f"profile-{name}.txt"
        path.write_text(text)
        paths[name] = str(path)
    results.extra["profiles"] = {
        name: {"file": paths[name], "head": text.splitlines()[:60]} for name, text in found.items()
    }


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        print(profile_charges(FULL, Database(Path(directory)))["per-charge"])
