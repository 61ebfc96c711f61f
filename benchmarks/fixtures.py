"""What every benchmark starts from: a service on a fresh database, funded accounts, requests.

Accounts are on a benchmark plan whose monthly allowance (10^12 credits) no run can exhaust,
so a charge never meets a renewal or an empty balance unless a benchmark wants it to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gencredits
from gencredits import Gencredits, LineItem, QuoteRequest
from gencredits.domain.plans import Period, Plan
from gencredits.service.context import Context

BENCH_PLAN = Plan(
    id="bench",
    name="Benchmark",
    allowance_credits=10**12,
    period=Period.MONTH,
    description="Funds benchmark accounts; never exhausted by a run.",
)

# One image on a standard model: 5 credits, the typical charge behind a Generate button.
CHARGE_REQUEST = QuoteRequest.single("flux-2-pro")
# A five-second clip: the typical hold, captured when the job succeeds.
HOLD_REQUEST = QuoteRequest.single("kling", seconds=5)
# The five-line request of the quotes benchmark: every pricing rule and discount.
QUOTE_REQUEST = QuoteRequest(
    (
        LineItem("flux-2-pro", outputs=4),
        LineItem("sora", seconds=5),
        LineItem("ai-expand", option="large", count=3),
        LineItem("background-removal", outputs=50),
        LineItem("veo-3", seconds=6, quality="1080p"),
    )
)
CHARGE_CREDITS = 5


@dataclass(frozen=True)
class Database:
    """Where a benchmark's databases live: a directory for SQLite files, and optionally a
    PostgreSQL server on which each benchmark creates its own database."""

    directory: Path
    postgres_server: object | None = None  # tests.pgserver.PostgresServer, or run.PostgresAt
    output_directory: Path | None = None  # profiles go here (default benchmarks/results)

    def sqlite_url(self, label: str) -> str:
        return f"sqlite:///{self.directory / f'{label}-{uuid.uuid4().hex[:8]}.db'}"

    def postgres_url(self, label: str) -> str:
        assert self.postgres_server is not None, "no PostgreSQL server for this run"
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        return str(self.postgres_server.create_database(name))  # type: ignore[attr-defined]

    def url(self, backend: str, label: str) -> str:
        return self.sqlite_url(label) if backend == "sqlite" else self.postgres_url(label)


def context_of(service: Gencredits) -> Context:
    """The service's unit-of-work context, which group commit runs on."""
    return service._context


def account_ids(count: int) -> list[str]:
    return [f"acct-{number:05d}" for number in range(count)]


def spread(ids: list[str], number: int) -> str:
    """The account of operation ``number``: a fixed, well-mixed walk over ``ids``."""
    return ids[(number * 7919) % len(ids)]


@contextmanager
def service_with_accounts(url: str, accounts: int, *, workers: int = 1) -> Iterator[Gencredits]:
    """A migrated, seeded service with ``accounts`` funded accounts; closed afterwards."""
    service = gencredits.open(url, pool_size=max(20, workers + 4))
    try:
        service.put_plan(BENCH_PLAN)
        create_accounts(service, account_ids(accounts), workers=workers)
        yield service
    finally:
        service.close()


def create_accounts(service: Gencredits, ids: list[str], *, workers: int = 1) -> None:
    def create(account_id: str) -> None:
        service.create_account(
            account_id, name=account_id, plan=BENCH_PLAN.id, idempotency_key=f"open-{account_id}"
        )

    if workers <= 1:
        for account_id in ids:
            create(account_id)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, ids))
