"""Timing, results and reports shared by every benchmark.

A :class:`Measurement` is one subject (gencredits, or the raw-SQL baseline) doing one kind of
work: how many operations, how long, and the latency percentiles of single operations. A
:class:`Ratio` compares two measurements of the same run. Subjects are measured in alternating
rounds (gencredits, baseline, gencredits, ...) and the median round is kept, so a burst of
load from another process on the machine hits both sides rather than one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIRECTORY = Path(__file__).resolve().parent / "results"

# An operation: called with its sequence number within the round (0, 1, 2, ...).
Operation = Callable[[int], object]


@dataclass(frozen=True)
class Measurement:
    suite: str
    name: str  # what was measured, e.g. "charge, one account"
    subject: str  # "gencredits", "raw SQL", "group commit", ...
    backend: str  # "sqlite", "postgresql" or "in-process"
    operations: int
    seconds: float
    p50_us: float | None = None
    p99_us: float | None = None
    workers: int = 1
    # Process CPU time per operation (every thread): unlike throughput, barely moved by other
    # processes competing for the machine.
    cpu_us: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"per_second": round(self.per_second, 1)}


@dataclass(frozen=True)
class Ratio:
    """``subject`` / ``baseline`` in operations per second (higher is better for gencredits)."""

    suite: str
    name: str
    subject: Measurement
    baseline: Measurement
    target: float | None = None

    @property
    def value(self) -> float:
        base = self.baseline.per_second
        return self.subject.per_second / base if base else 0.0

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.value >= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "subject": self.subject.subject,
            "baseline": self.baseline.subject,
            "subject_per_second": round(self.subject.per_second, 1),
            "baseline_per_second": round(self.baseline.per_second, 1),
            "ratio": round(self.value, 3),
            "target": self.target,
            "meets_target": self.meets_target,
        }


@dataclass(frozen=True)
class Target:
    """An absolute goal: ``measurement`` reaches ``minimum_per_second`` and, when a latency
    bound is given, its p99 stays under ``maximum_p99_us`` (lower is better). ``failures``
    (error answers, requests never sent) are counted against it: any one misses the target."""

    suite: str
    name: str
    measurement: Measurement
    minimum_per_second: float
    maximum_p99_us: float | None = None
    failures: int = 0

    @property
    def met(self) -> bool:
        if self.measurement.per_second < self.minimum_per_second or self.failures:
            return False
        if self.maximum_p99_us is None:
            return True
        p99 = self.measurement.p99_us
        return p99 is not None and p99 < self.maximum_p99_us

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "per_second": round(self.measurement.per_second, 1),
            "minimum_per_second": self.minimum_per_second,
            "met": self.met,
            "p99_us": self.measurement.p99_us,
            "maximum_p99_us": self.maximum_p99_us,
            "failures": self.failures,
        }


@dataclass
class Results:
    measurements: list[Measurement] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, *measurements: Measurement) -> None:
        self.measurements.extend(measurements)

    def require(
        self,
        suite: str,
        name: str,
        measured: Measurement,
        minimum_per_second: float,
        *,
        maximum_p99_us: float | None = None,
        failures: int = 0,
    ) -> Target:
        target = Target(suite, name, measured, minimum_per_second, maximum_p99_us, failures)
        self.targets.append(target)
        return target

    def compare(
        self,
        suite: str,
        name: str,
        subject: Measurement,
        baseline: Measurement,
        target: float | None = None,
    ) -> Ratio:
        ratio = Ratio(suite, name, subject, baseline, target)
        self.ratios.append(ratio)
        return ratio


# --- timing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    operations: int
    seconds: float
    latencies_ns: tuple[int, ...]
    cpu_seconds: float = 0.0


# How the collector is set for timed rounds; recorded with every run (see settle_heap).
GC_SETTING = "setup heap frozen before each round (gc.collect + gc.freeze), as the server does"


def settle_heap() -> None:
    """Collect, then freeze what is left (modules, engines, caches, fixtures), as the server
    does after startup (``server.py``): the collector's full passes then walk only what the
    timed work allocates, not the whole setup heap (which cost a batched charge 9 of its 48
    µs). Both sides of every ratio run with it."""
    gc.collect()
    gc.freeze()


def time_round(operation: Operation, count: int, start: int = 0, *, settle: bool = True) -> Round:
    """Run ``operation`` ``count`` times in this thread, timing each call."""
    if settle:
        settle_heap()
    latencies = [0] * count
    clock = time.perf_counter_ns
    cpu = time.process_time()
    began = clock()
    for index in range(count):
        before = clock()
        operation(start + index)
        latencies[index] = clock() - before
    elapsed = (clock() - began) / 1e9
    return Round(count, elapsed, tuple(latencies), time.process_time() - cpu)


def time_threads(operation: Operation, count: int, workers: int, start: int = 0) -> Round:
    """``count`` operations shared by ``workers`` threads started together; each thread times
    its own calls. The operation gets a number unique across threads."""
    per_worker = max(1, count // workers)
    barrier = threading.Barrier(workers + 1)
    rounds: list[Round | BaseException] = [Round(0, 0.0, ())] * workers

    def work(worker: int) -> None:
        barrier.wait()
        try:
            rounds[worker] = time_round(
                operation, per_worker, start + worker * per_worker, settle=False
            )
        except BaseException as error:  # reported below, in the calling thread
            rounds[worker] = error

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    settle_heap()  # the workers wait at the barrier meanwhile
    barrier.wait()
    cpu = time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu_seconds = time.process_time() - cpu
    latencies: list[int] = []
    for outcome in rounds:
        if isinstance(outcome, BaseException):
            raise outcome
        latencies.extend(outcome.latencies_ns)
    return Round(per_worker * workers, elapsed, tuple(latencies), cpu_seconds)


def percentile_us(latencies_ns: Sequence[int], fraction: float) -> float | None:
    if not latencies_ns:
        return None
    ordered = sorted(latencies_ns)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return round(ordered[index] / 1000, 1)


def median_round(rounds: Sequence[Round]) -> Round:
    """The round of median throughput, with the latencies of every round."""
    ranked = sorted(rounds, key=lambda r: r.operations / r.seconds if r.seconds else 0.0)
    middle = ranked[len(ranked) // 2]
    latencies = tuple(latency for r in rounds for latency in r.latencies_ns)
    return Round(middle.operations, middle.seconds, latencies, middle.cpu_seconds)


def measurement(
    suite: str,
    name: str,
    subject: str,
    backend: str,
    timed: Round,
    *,
    workers: int = 1,
    **settings: Any,
) -> Measurement:
    return Measurement(
        suite=suite,
        name=name,
        subject=subject,
        backend=backend,
        operations=timed.operations,
        seconds=timed.seconds,
        p50_us=percentile_us(timed.latencies_ns, 0.50),
        p99_us=percentile_us(timed.latencies_ns, 0.99),
        workers=workers,
        cpu_us=round(timed.cpu_seconds / timed.operations * 1e6, 1) if timed.operations else None,
        settings=settings,
    )


def alternate(runners: dict[str, Callable[[int], Round]], rounds: int) -> dict[str, Round]:
    """Run each runner ``rounds`` times, interleaved, and keep each one's median round. A
    runner gets the round number, to keep its idempotency keys unique across rounds."""
    collected: dict[str, list[Round]] = {name: [] for name in runners}
    for number in range(rounds):
        for name, runner in runners.items():
            collected[name].append(runner(number))
    return {name: median_round(found) for name, found in collected.items()}


# --- the machine -----------------------------------------------------------------------------


def fsync_microseconds(directory: Path, samples: int = 200) -> float:
    """Median time of writing 4 KiB and fsyncing it, where the databases live: the floor
    under every durable commit."""
    path = Path(tempfile.mkstemp(dir=directory, prefix="fsync-")[1])
    timings: list[float] = []
    try:
        with path.open("r+b", buffering=0) as file:
            block = os.urandom(4096)
            for _ in range(samples):
                file.seek(0)
                file.write(block)
                began = time.perf_counter()
                os.fsync(file.fileno())
                timings.append(time.perf_counter() - began)
    finally:
        path.unlink(missing_ok=True)
    return round(statistics.median(timings) * 1e6, 1)


def python_probe_microseconds(samples: int = 15) -> float:
    """Median time of a fixed piece of pure-Python work (formatting, dicts, a hash): how fast
    this machine runs Python right now. Shared virtual machines change speed from day to day
    (the fifth round's ran CPU-bound work a fifth to a third slower than the fourth's); with
    this probe beside the fsync, two runs' wall-clock figures can be compared."""
    timings: list[float] = []
    for _ in range(samples):
        began = time.perf_counter()
        rows = [
            {"id": number, "text": f"entry-{number:06d}", "half": number / 2}
            for number in range(2_000)
        ]
        hashlib.sha256(repr(rows).encode()).hexdigest()
        timings.append(time.perf_counter() - began)
    return round(statistics.median(timings) * 1e6, 1)


def machine(directory: Path, postgres_version: str | None) -> dict[str, Any]:
    import sqlalchemy

    import gencredits

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres_version,
        "sqlalchemy": sqlalchemy.__version__,
        "gencredits": gencredits.__version__,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "fsync_4k_us": fsync_microseconds(directory),
        "python_probe_us": python_probe_microseconds(),
        "gc": GC_SETTING,
    }


# --- reporting -------------------------------------------------------------------------------


def _figure(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def tables(results: Results) -> list[Table]:
    measured = Table(title="Measurements", show_lines=False)
    for column in (
        "suite",
        "what",
        "subject",
        "backend",
        "workers",
        "ops",
        "per s",
        "p50 µs",
        "p99 µs",
        "CPU µs/op",
    ):
        measured.add_column(
            column, justify="right" if column not in ("suite", "what", "subject") else "left"
        )
    for m in results.measurements:
        measured.add_row(
            m.suite,
            m.name,
            m.subject,
            m.backend,
            str(m.workers),
            f"{m.operations:,}",
            _figure(m.per_second),
            _figure(m.p50_us, 1),
            _figure(m.p99_us, 1),
            _figure(m.cpu_us, 1),
        )
    compared = Table(title="Ratios (subject / baseline, measured in the same run)")
    for column in ("suite", "what", "subject", "baseline", "ratio", "target"):
        compared.add_column(column, justify="right" if column in ("ratio", "target") else "left")
    for r in results.ratios:
        target = "-" if r.target is None else f">= {r.target:g}"
        style = "" if r.meets_target is None else ("green" if r.meets_target else "red")
        compared.add_row(
            r.suite,
            r.name,
            r.subject.subject,
            r.baseline.subject,
            f"[{style}]{r.value:.2f}x[/]" if style else f"{r.value:.2f}x",
            target,
        )
    if results.targets:
        goals = Table(title="Absolute targets")
        for column in ("suite", "what", "per s", "p99 µs", "failures", "target", "met"):
            goals.add_column(column, justify="left" if column in ("suite", "what") else "right")
        for t in results.targets:
            wanted = f">= {t.minimum_per_second:,.0f}/s"
            if t.maximum_p99_us is not None:
                wanted += f", p99 < {t.maximum_p99_us:,.0f} µs"
            goals.add_row(
                t.suite,
                t.name,
                _figure(t.measurement.per_second),
                _figure(t.measurement.p99_us, 1),
                f"{t.failures:,}",
                wanted,
                "[green]yes[/]" if t.met else "[red]no[/]",
            )
        return [measured, compared, goals]
    return [measured, compared]


def conditions_table(machine_info: dict[str, Any]) -> Table:
    """Where and how the run was measured: what the figures depend on most (the load and
    the fsync move wall-clock figures 2-4x; see benchmarks/RESULTS.md)."""
    shown = Table(title="Conditions", show_header=False)
    shown.add_column("what", style="bold")
    shown.add_column("value")
    load = machine_info.get("load_average")
    for label, value in (
        ("machine", f"{machine_info.get('cpu_count')} CPUs, {machine_info.get('platform')}"),
        ("versions", f"Python {machine_info.get('python')}, SQLite {machine_info.get('sqlite')}, "
                     f"SQLAlchemy {machine_info.get('sqlalchemy')}, "
                     f"gencredits {machine_info.get('gencredits')}"),
        ("PostgreSQL", machine_info.get("postgres") or "not in this run"),
        ("load average at start", ", ".join(map(str, load)) if load else "-"),
        ("fsync of 4 KiB (median)", f"{machine_info.get('fsync_4k_us')} µs"),
        ("Python probe (fixed work, median)", f"{machine_info.get('python_probe_us')} µs"),
        ("garbage collector", machine_info.get("gc", "-")),
    ):
        shown.add_row(label, str(value))
    return shown


def print_report(
    results: Results, console: Console | None = None, machine_info: dict[str, Any] | None = None
) -> None:
    console = console or Console()
    if machine_info is not None:
        console.print(conditions_table(machine_info))
    for table in tables(results):
        console.print(table)
    for note in results.notes:
        console.print(f"[dim]- {note}[/dim]")


def document(
    results: Results,
    *,
    started_at: datetime,
    machine_info: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    return {
        "schema": "gencredits-bench/1",
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine_info,
        "settings": settings,
        "measurements": [m.as_dict() for m in results.measurements],
        "ratios": [r.as_dict() for r in results.ratios],
        "targets": [t.as_dict() for t in results.targets],
        "notes": list(results.notes),
        **results.extra,
    }


def write_json(content: dict[str, Any], path: Path | None = None) -> Path:
    if path is None:
        RESULTS_DIRECTORY.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIRECTORY / f"bench-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, default=str) + "\n")
    return path
