"""Work run in other processes (``multiprocessing`` with ``spawn``) or threads by the cycle and
concurrency tests. Module-level functions, so a spawned process can import them; each process
opens its own ``gencredits.open(url)``, as separate servers would.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import gencredits
from gencredits import (
    Gencredits,
    HoldNotPending,
    InsufficientCredits,
    ManualClock,
    QuoteRequest,
)

single = QuoteRequest.single


# --- renewal from many places at once ----------------------------------------------------------


def renew_or_read(credits: Gencredits, account_ids: list[str], worker: int) -> list[int]:
    """Half the workers run the sweep, the others read each account (which renews it too);
    returns the balances seen."""
    if worker % 2 == 0:
        credits.renew()
    order = list(account_ids)
    random.Random(worker).shuffle(order)
    return [credits.account(account_id).balance_credits for account_id in order]


def renew_process(
    url: str,
    moments: tuple[datetime, ...],
    account_ids: list[str],
    worker: int,
    barrier: Any,
    results: Any,
) -> None:
    """A spawned process: open; then for each moment, wait for the others and renew or read.
    Reports the balances seen, or the traceback."""
    try:
        clock = ManualClock(moments[0])
        seen: list[int] = []
        with gencredits.open(url, clock=clock, pool_size=2) as credits:
            for moment in moments:
                clock.set(moment)
                barrier.wait(timeout=60)
                seen.extend(renew_or_read(credits, account_ids, worker))
        results.put((worker, seen, None))
    except Exception:  # reported to the parent, which fails the test
        results.put((worker, [], traceback.format_exc()))


# --- the storm: many workers spending one small balance -----------------------------------------


@dataclass
class Outcome:
    """What one worker saw: every accepted charge and settled hold, every refusal."""

    worker: int
    charges: list[tuple[str, int, int]] = field(default_factory=list)  # key, entry id, credits
    holds: list[tuple[str, int, int, int]] = field(default_factory=list)  # key, hold, held, kept
    refused: int = 0
    replays: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def charged_credits(self) -> int:
        return sum(credits for _, _, credits in self.charges)

    @property
    def captured_credits(self) -> int:
        return sum(kept for _, _, _, kept in self.holds)


STORM_REQUESTS = (
    single("flux-2-pro"),  # 5
    single("flux-2-pro", outputs=4),  # 18
    single("nano-banana-2", count=3),  # 3
    single("kling", seconds=3),  # 15
)


def storm(credits: Gencredits, account_id: str, worker: int, operations: int) -> Outcome:
    """Charge and hold (then capture, part-capture or release) until ``operations`` are done;
    now and then replay an earlier charge with its key, which must change nothing."""
    outcome = Outcome(worker)
    chance = random.Random(worker)
    for step in range(operations):
        key = f"w{worker}-{step}"
        request = chance.choice(STORM_REQUESTS)
        try:
            if chance.random() < 0.6:
                entry = credits.charge(account_id, request, idempotency_key=key)
                outcome.charges.append((key, entry.id, entry.amount_credits))
                if chance.random() < 0.3:
                    again = credits.charge(account_id, request, idempotency_key=key)
                    outcome.replays += 1
                    if again.id != entry.id:
                        outcome.errors.append(f"replay of {key} gave entry {again.id}")
            else:
                hold = credits.hold(account_id, request, idempotency_key=key)
                settle = chance.choice(("all", "part", "release"))
                kept = 0
                if settle == "release":
                    credits.release(hold.id, idempotency_key=f"{key}-settle")
                else:
                    amount = hold.amount_credits if settle == "all" else hold.amount_credits // 2
                    settled = credits.capture(
                        hold.id, amount_credits=amount, idempotency_key=f"{key}-settle"
                    )
                    kept = settled.capture.amount_credits if settled.capture else 0
                outcome.holds.append((key, hold.id, hold.amount_credits, kept))
        except InsufficientCredits:
            outcome.refused += 1
        except HoldNotPending as error:  # nobody else may settle this worker's holds
            outcome.errors.append(f"{key}: {error}")
        except Exception:
            outcome.errors.append(traceback.format_exc())
    return outcome


def storm_process(
    url: str,
    moment: datetime,
    account_id: str,
    worker: int,
    operations: int,
    barrier: Any,
    results: Any,
) -> None:
    try:
        with gencredits.open(url, clock=ManualClock(moment), pool_size=2) as credits:
            barrier.wait(timeout=60)
            results.put(storm(credits, account_id, worker, operations))
    except Exception:
        results.put(Outcome(worker, errors=[traceback.format_exc()]))


# --- running workers ---------------------------------------------------------------------------


def run_in_processes(
    target: Any, arguments: list[tuple[Any, ...]], timeout_s: float = 120
) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in one spawned process per ``args``; every
    process waits at the barrier so they start together. Returns what each put in ``results``."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments))
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args, barrier, results)) for args in arguments
    ]
    for process in processes:
        process.start()
    try:
        collected = [results.get(timeout=timeout_s) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=timeout_s)
            if process.is_alive():  # pragma: no cover - only when a worker hangs
                process.terminate()
                process.join()
            process.close()
        results.close()
        results.join_thread()
    return collected


def run_in_threads(
    target: Any, arguments: list[tuple[Any, ...]], timeout_s: float = 120
) -> list[Any]:
    """The same with threads: ``target(*args)`` after a shared barrier; returns the results."""
    barrier = threading.Barrier(len(arguments))

    def start_together(args: tuple[Any, ...]) -> Any:
        barrier.wait(timeout=timeout_s)
        return target(*args)

    with ThreadPoolExecutor(max_workers=len(arguments)) as pool:
        futures = [pool.submit(start_together, args) for args in arguments]
        return [future.result(timeout=timeout_s) for future in futures]
