"""Work for the concurrency tests, run the same way in threads and in worker processes.

Each function takes a :class:`Gencredits` (``run_*``); the ``*_in_process`` twins open one per
worker process (cached, so a pool's process opens its database once) with a clock of its own,
set to the moment the test asks for. Process workers are started with the ``spawn`` method, so
they share nothing with the test process but the database. Results are plain tuples and dicts,
sent back to the test, which checks them against the database.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import gencredits
from gencredits import Gencredits, HoldNotPending, InsufficientCredits, ManualClock
from gencredits.domain.pricing import QuoteRequest

WON = "capture succeeded"
_SERVICES: dict[str, tuple[Gencredits, ManualClock]] = {}


def service(database_url: str, moment: datetime) -> Gencredits:
    """This process's service on ``database_url``, its clock set to ``moment``."""
    if database_url not in _SERVICES:
        clock = ManualClock(moment)
        _SERVICES[database_url] = (gencredits.open(database_url, clock=clock, pool_size=4), clock)
    credits, clock = _SERVICES[database_url]
    clock.set(moment)
    return credits


def wait_until(start_at: float) -> None:
    """Start together: every worker sleeps until the same wall-clock instant."""
    pause = start_at - time.time()
    if pause > 0:
        time.sleep(pause)


# --- bank transfers ---------------------------------------------------------------------------


def run_transfers(
    credits: Gencredits, account_ids: Sequence[str], seed: str, seconds: float, start_at: float
) -> dict[str, int]:
    """Random transfers between random pairs for ``seconds``; refusals (402) are fine."""
    rng = random.Random(seed)
    wait_until(start_at)
    done = refused = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        source, target = rng.sample(list(account_ids), 2)
        try:
            credits.transfer(source, target, rng.randint(1, 150),
                             idempotency_key=f"bank-{seed}-{done + refused}")
            done += 1
        except InsufficientCredits:
            refused += 1
    return {"transfers": done, "refused": refused}


def transfers_in_process(
    database_url: str, moment: datetime, account_ids: Sequence[str], seed: str, seconds: float,
    start_at: float,
) -> dict[str, int]:
    return run_transfers(service(database_url, moment), account_ids, seed, seconds, start_at)


# --- holds racing their expiry ----------------------------------------------------------------


def run_captures(
    credits: Gencredits, holds: Sequence[tuple[int, int]], seed: str, start_at: float
) -> list[tuple[int, str, int | None]]:
    """Try to capture each hold (all of it, or a random part): ``(hold, outcome, kept)`` where
    outcome is ``WON`` or the status of the hold that refused the capture."""
    rng = random.Random(seed)
    wait_until(start_at)
    outcomes: list[tuple[int, str, int | None]] = []
    for hold_id, amount in holds:
        # A pause of up to 3 ms between captures leaves the write lock free now and then, so
        # the sweep interleaves with them instead of waiting for all of them (or they for it).
        time.sleep(rng.uniform(0, 0.003))
        part = rng.choice((None, rng.randint(0, amount)))
        try:
            settled = credits.capture(hold_id, amount_credits=part,
                                      idempotency_key=f"capture-{seed}-{hold_id}")
        except HoldNotPending as refusal:
            outcomes.append((hold_id, refusal.status, None))
        else:
            outcomes.append((hold_id, WON, settled.hold.captured_credits))
    return outcomes


def captures_in_process(
    database_url: str, moment: datetime, holds: Sequence[tuple[int, int]], seed: str,
    start_at: float,
) -> list[tuple[int, str, int | None]]:
    return run_captures(service(database_url, moment), holds, seed, start_at)


def run_sweeps(credits: Gencredits, times: int, start_at: float) -> int:
    """The renewal/expiry sweep, ``times`` in a row; returns the accounts it updated."""
    wait_until(start_at)
    return sum(credits.renew().accounts_updated for _ in range(times))


def sweeps_in_process(database_url: str, moment: datetime, times: int, start_at: float) -> int:
    return run_sweeps(service(database_url, moment), times, start_at)


# --- renewals ---------------------------------------------------------------------------------

CHARGE = QuoteRequest.single("flux-2-flex", outputs=1)  # 2 credits


def run_renewal_round(
    credits: Gencredits, actions: Sequence[tuple[str, str]], start_at: float
) -> dict[str, int]:
    """Everything that renews an account, racing: the sweep, reads (which catch up) and charges
    (which catch up under the account's lock). ``actions`` are ``(kind, account or key)``."""
    wait_until(start_at)
    counts = {"renew": 0, "read": 0, "charge": 0}
    for kind, argument in actions:
        if kind == "renew":
            credits.renew()
        elif kind == "read":
            credits.account(argument)
        else:
            account_id, key = argument.split("/", 1)
            credits.charge(account_id, CHARGE, idempotency_key=key)
        counts[kind] += 1
    return counts


def renewal_round_in_process(
    database_url: str, moment: datetime, actions: Sequence[tuple[str, str]], start_at: float
) -> dict[str, int]:
    return run_renewal_round(service(database_url, moment), actions, start_at)


def call(function: Any, *arguments: Any) -> Any:
    """For ``Pool.starmap``: apply ``function`` (a module-level callable) to ``arguments``."""
    return function(*arguments)
