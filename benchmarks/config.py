"""How much work each benchmark does: the full run, and a tiny one for the smoke test."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

SUITES = ("charges", "holds", "quotes", "group", "postgres", "growth", "profile", "http")


@dataclass(frozen=True)
class Config:
    rounds: int = 3  # alternating rounds per comparison; the median round is kept
    warmup: int = 50  # untimed charges first: statement and catalog caches filled
    charges: int = 2_000  # charges per round, per subject
    many_accounts: int = 10_000
    holds: int = 1_000  # hold + capture pairs per round
    quotes: int = 50_000
    group_charges: int = 4_000
    group_threads: int = 64  # concurrent callers submitting to the group committer
    group_window_seconds: float = 0.001
    postgres_charges: int = 2_000
    postgres_workers: tuple[int, ...] = (1, 4, 16)
    postgres_group_writers: int = 1  # group-commit writer threads (1 beat 4: bigger batches)
    growth_sizes: tuple[int, ...] = (100_000, 1_000_000)
    growth_accounts: int = 1_000
    growth_heavy_share: float = 0.10  # the heavy account's share of the ledger
    growth_charges: int = 1_000
    report_repeats: int = 50
    profile_charges: int = 2_000
    # HTTP: the server (`gencredits serve`) in a subprocess, on loopback; each phase stops at
    # its count or its seconds, whichever comes first.
    http_workers: tuple[int, ...] = (1, 2, 4)  # server worker processes, one server each
    http_accounts: int = 100  # charges are spread over these accounts
    http_clients: int = 8  # closed loop: concurrent clients, one keep-alive connection each
    http_closed_charges: int = 10_000
    http_closed_seconds: float = 15.0
    http_rate: float = 1_000.0  # open loop: charges a second, sent on schedule
    http_open_charges: int = 10_000
    http_open_seconds: float = 10.0
    http_senders: int = 32  # open loop: sender threads, one keep-alive connection each
    # Also an open loop at this share of the rate the closed loop reached (0: none): the
    # latency at a load the server can carry.
    http_open_share: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Config()

# Everything once, with counts small enough for the test suite (a few seconds).
QUICK = Config(
    rounds=1,
    warmup=2,
    charges=10,
    many_accounts=8,
    holds=5,
    quotes=200,
    group_charges=24,
    group_threads=4,
    postgres_charges=8,
    postgres_workers=(1, 2),
    postgres_group_writers=2,
    growth_sizes=(200,),
    growth_accounts=5,
    growth_charges=10,
    report_repeats=3,
    profile_charges=10,
    http_workers=(1, 2),
    http_accounts=4,
    http_clients=4,
    http_closed_charges=40,
    http_closed_seconds=3.0,
    http_rate=100.0,
    http_open_charges=30,
    http_open_seconds=2.0,
    http_senders=4,
)


def with_ten_million(config: Config) -> Config:
    """The 10^7-entry ledger too: about ten minutes of seeding on a laptop."""
    return replace(config, growth_sizes=(*config.growth_sizes, 10_000_000))
