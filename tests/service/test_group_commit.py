"""Group commit and ``charge_many``: many charges in one transaction, each with its own answer,
and exactly the rules of a single charge (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gencredits import (
    Entry,
    Gencredits,
    GencreditsError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
    NotFound,
    OutOfRange,
    QuoteRequest,
    UnknownModel,
)
from gencredits.service import batch_apply, batches, group_commit
from gencredits.service.batch_apply import charge_many
from gencredits.service.charge_records import ChargeItem, prepare_charge
from gencredits.service.context import Context
from gencredits.service.group_commit import GroupCommitter
from gencredits.store import queries
from gencredits.store.engine import read_transaction
from gencredits.store.tables import entries, grants, refused_charges
from gencredits.store.tables import events as events_table

FLUX = QuoteRequest.single("flux-2-pro")  # 5 credits
FLUX_4 = QuoteRequest.single("flux-2-pro", outputs=4)  # 18 credits


def context_of(credits: Gencredits) -> Context:
    return credits._context


def count(credits: Gencredits, statement: Any) -> int:
    with read_transaction(credits.engine) as connection:
        return int(connection.execute(statement).scalar_one())


def charge_entries(credits: Gencredits, account_id: str) -> int:
    return count(
        credits,
        select(func.count()).where(entries.c.account_id == account_id, entries.c.kind == "charge"),
    )


@pytest.fixture
def committer(credits: Gencredits) -> Iterator[GroupCommitter]:
    with GroupCommitter(context_of(credits), window_seconds=0.002) as started:
        yield started


def test_charge_many_gives_each_item_its_own_outcome(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")  # 1,000 credits
    credits.charge("ana", FLUX, idempotency_key="before")
    items = [
        ChargeItem("ana", FLUX_4, "one"),
        ChargeItem("ana", QuoteRequest.single("flux-2-max", count=100), "too-much"),
        ChargeItem("ana", FLUX, "two"),
        ChargeItem("ana", FLUX_4, "before"),  # the key of an earlier charge, other payload
        ChargeItem("ana", FLUX_4, "one"),  # a replay inside the batch
        ChargeItem("nobody", FLUX, "three"),
        ChargeItem("ana", QuoteRequest.single("no-such-model"), "four"),
    ]
    outcomes = charge_many(context_of(credits), items)
    one, too_much, two, conflict, replay, missing, unknown = outcomes
    assert isinstance(one, Entry) and one.amount_credits == 18
    assert isinstance(too_much, InsufficientCredits) and too_much.required == 1200
    assert isinstance(two, Entry) and two.amount_credits == 5
    assert isinstance(conflict, IdempotencyConflict)
    assert replay == one
    assert isinstance(missing, NotFound)
    assert isinstance(unknown, UnknownModel)
    assert credits.account("ana").available_credits == 1000 - 5 - 18 - 5
    assert charge_entries(credits, "ana") == 3
    assert count(credits, select(func.count()).select_from(refused_charges)) == 1
    assert credits.verify().ok


def test_entries_returned_are_the_entries_stored(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    outcomes = charge_many(
        context_of(credits),
        [ChargeItem("ana", FLUX_4, "a", project="launch", job_ref="job-1")]
        + [ChargeItem("ana", FLUX, f"k{n}") for n in range(3)],
    )
    for outcome in outcomes:
        assert isinstance(outcome, Entry)
        assert credits.entry(outcome.id) == outcome
    single = credits.charge("ana", FLUX_4, idempotency_key="single", project="launch")
    assert credits.entry(single.id) == single


def test_a_replay_after_the_model_was_switched_off_gets_its_entry(
    credits: Gencredits, committer: GroupCommitter
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    first = credits.charge("ana", FLUX, idempotency_key="before")
    entry = credits.catalog().get("flux-2-pro")
    credits.put_catalog_entry(replace(entry, active=False))
    assert charge_many(context_of(credits), [ChargeItem("ana", FLUX, "before")]) == [first]
    assert committer.charge("ana", FLUX, idempotency_key="before") == first
    (refused,) = charge_many(context_of(credits), [ChargeItem("ana", FLUX, "new")])
    assert isinstance(refused, InvalidRequest)
    assert credits.account("ana").available_credits == 995


def test_a_failing_item_is_rolled_back_alone(
    credits: Gencredits, monkeypatch: pytest.MonkeyPatch
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("bob", name="Bob", plan="pro")
    original = batches.ChargeBatch.charge

    def broken_for_bob(charges: Any, pending: Any) -> Any:
        result = original(charges, pending)  # writes, then fails
        if pending.account_id == "bob":
            raise RuntimeError("a bug after the writes")
        return result

    # Batched first (fails, rolled back to the batch's savepoint), then one by one.
    monkeypatch.setattr(batches.ChargeBatch, "charge", broken_for_bob)
    pending = [
        prepare_charge(context_of(credits), ChargeItem(account_id, FLUX, f"{account_id}-1"))
        for account_id in ("ana", "bob", "ana")
    ]
    first, failed, third = batch_apply.apply_batch(context_of(credits), pending)
    assert isinstance(failed, RuntimeError)
    assert isinstance(first, Entry) and third == first  # the same key replays
    assert credits.account("bob").available_credits == 1000
    assert charge_entries(credits, "bob") == 0
    assert credits.account("ana").available_credits == 995
    assert credits.verify().ok


def test_a_write_refused_by_the_database_is_rolled_back_alone(
    credits: Gencredits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's writes go out together (one pipeline on PostgreSQL), their row counts checked
    at the end: a grant update that changes no row fails the batch there, which is rolled back
    and applied again one by one, so only the charge it belonged to fails; the connection, its
    pipeline failed inside a savepoint, goes on serving the others."""
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("bob", name="Bob", plan="pro")
    with read_transaction(context_of(credits).engine) as connection:
        bobs = set(connection.scalars(select(grants.c.id).where(grants.c.account_id == "bob")))
    original = queries.take_from_grants

    def greedy_for_bob(connection: Any, allocations: Any) -> None:
        original(connection, [(g, 10**12 if g in bobs else c) for g, c in allocations])

    monkeypatch.setattr(queries, "take_from_grants", greedy_for_bob)
    pending = [
        prepare_charge(context_of(credits), ChargeItem(account_id, FLUX, f"{account_id}-{n}"))
        for n, account_id in enumerate(("ana", "bob", "ana", "ana"))
    ]
    outcomes = batch_apply.apply_batch(context_of(credits), pending)
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Entry", "RowCountMismatch", "Entry", "Entry"
    ]
    assert credits.account("bob").available_credits == 1000
    assert charge_entries(credits, "bob") == 0
    assert credits.account("ana").available_credits == 985
    assert credits.verify().ok


def test_threads_hammering_one_account_never_overdraw(
    credits: Gencredits, committer: GroupCommitter
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")  # 1,000 credits: 200 charges of 5
    workers, per_worker = 8, 40
    accepted: list[tuple[str, Entry]] = []
    refused: list[InsufficientCredits] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for number in range(per_worker):
            # Every third key is shared by two workers: one charge, replayed to the other.
            key = f"shared-{number}" if number % 3 == 0 else f"w{worker}-{number}"
            try:
                entry = committer.charge("ana", FLUX, idempotency_key=key)
            except InsufficientCredits as error:
                with lock:
                    refused.append(error)
            else:
                with lock:
                    accepted.append((key, entry))

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(accepted) + len(refused) == workers * per_worker
    by_key: dict[str, set[int]] = {}
    for key, entry in accepted:
        by_key.setdefault(key, set()).add(entry.id)
    assert all(len(ids) == 1 for ids in by_key.values()), "one entry per key"
    charged = len(by_key)
    assert charged == 200, "every credit spent, none twice"
    assert charge_entries(credits, "ana") == charged
    account = credits.account("ana")
    assert account.available_credits == 1000 - 5 * charged == 0
    assert all(error.required == 5 for error in refused)
    assert committer.batches < committer.charges, "charges shared transactions"
    assert credits.verify().ok


def test_charges_through_the_service_share_transactions_once_started(
    credits: Gencredits,
) -> None:
    """``start_group_commit``: ``Gencredits.charge`` from many threads (a server's request
    threads) is batched, with the answers a lone charge gives; ``close`` stops the writer."""
    credits.create_account("ana", name="Ana", plan="pro")  # 1,000 credits: 200 charges of 5
    credits.start_group_commit()
    committer = credits.committer
    assert committer is not None
    outcomes: list[Entry | GencreditsError] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for number in range(30):
            try:
                entry: Entry | GencreditsError = credits.charge(
                    "ana", FLUX, idempotency_key=f"w{worker}-{number}"
                )
            except GencreditsError as error:
                entry = error
            with lock:
                outcomes.append(entry)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    charged = [o for o in outcomes if isinstance(o, Entry)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert len(charged) == 200 and len(refused) == 40
    assert committer.charges == 240 and committer.batches < 240
    assert credits.charge("ana", FLUX, idempotency_key="w0-0") == charged_with(charged, "w0-0")
    assert credits.account("ana").available_credits == 0
    assert count(credits, select(func.count()).select_from(refused_charges)) == 40
    credits.close()
    assert credits.committer is None


def charged_with(charged: list[Entry], key: str) -> Entry:
    return next(entry for entry in charged if entry.idempotency_key == key)


def test_several_writers_share_the_accounts_out(credits: Gencredits) -> None:
    ids = [f"acct-{number}" for number in range(6)]
    for account_id in ids:
        credits.create_account(account_id, name=account_id, plan="pro")
    outcomes: list[Entry | BaseException] = []
    lock = threading.Lock()

    with GroupCommitter(context_of(credits), writers=3) as committer:

        def work(worker: int) -> None:
            for number in range(30):
                account_id = ids[(worker + number) % len(ids)]
                try:
                    entry: Entry | BaseException = committer.charge(
                        account_id, FLUX_4, idempotency_key=f"{worker}-{number}"
                    )
                except InsufficientCredits as error:
                    entry = error
                with lock:
                    outcomes.append(entry)

        threads = [threading.Thread(target=work, args=(worker,)) for worker in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    accepted = [outcome for outcome in outcomes if isinstance(outcome, Entry)]
    assert len(outcomes) == 180 and len(accepted) == 180  # 30 charges of 18 per account
    for account_id in ids:
        assert credits.account(account_id).available_credits == 1000 - 30 * 18
    assert credits.verify().ok


def test_concurrent_replays_get_the_same_entry(
    credits: Gencredits, committer: GroupCommitter
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    results: list[Entry | BaseException] = []
    barrier = threading.Barrier(6)

    def work(request: QuoteRequest) -> None:
        barrier.wait()
        try:
            results.append(committer.charge("ana", request, idempotency_key="same"))
        except IdempotencyConflict as error:
            results.append(error)

    requests = [FLUX] * 5 + [FLUX_4]
    threads = [threading.Thread(target=work, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kinds = Counter(type(result).__name__ for result in results)
    assert charge_entries(credits, "ana") == 1
    entries_seen = {result.id for result in results if isinstance(result, Entry)}
    assert len(entries_seen) == 1
    # Whichever payload came first won the key; the other payload is refused.
    assert kinds["IdempotencyConflict"] in (1, 5)
    assert credits.verify().ok


def test_bad_input_is_refused_in_the_callers_thread(
    credits: Gencredits, committer: GroupCommitter
) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    with pytest.raises(UnknownModel):
        committer.charge("ana", QuoteRequest.single("no-such-model"), idempotency_key="x")
    with pytest.raises(InvalidRequest):
        committer.charge("ana", FLUX, idempotency_key="")
    assert committer.charges == 0


def test_closing_applies_what_was_submitted(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    ctx = context_of(credits)
    committer = GroupCommitter(ctx, window_seconds=0.05)
    futures = [
        committer.submit(prepare_charge(ctx, ChargeItem("ana", FLUX, f"k{n}")))
        for n in range(5)
    ]
    committer.close()
    assert all(isinstance(future.result(timeout=0), Entry) for future in futures)
    assert committer.batches == 1
    with pytest.raises(RuntimeError):
        committer.submit(prepare_charge(ctx, ChargeItem("ana", FLUX, "late")))


def test_limits(credits: Gencredits) -> None:
    ctx = context_of(credits)
    with pytest.raises(OutOfRange):
        charge_many(ctx, [])
    with pytest.raises(OutOfRange):
        charge_many(ctx, [ChargeItem("ana", FLUX, None)] * (group_commit.MAX_BATCH_ITEMS + 1))
    with pytest.raises(InvalidRequest):
        GroupCommitter(ctx, window_seconds=1.0)
    with pytest.raises(OutOfRange):
        GroupCommitter(ctx, max_items=0)
    with pytest.raises(OutOfRange):
        GroupCommitter(ctx, writers=group_commit.MAX_WRITERS + 1)


def test_the_library_offers_the_batch_and_the_group_committer(credits: Gencredits) -> None:
    credits.create_account("batch", name="Batch", plan="pro")
    items = [
        ChargeItem("batch", QuoteRequest.single("flux-2-max", count=40), f"k{n}")  # 480 each
        for n in range(3)
    ]
    outcomes = credits.charge_many(items)
    assert [type(o).__name__ for o in outcomes] == ["Entry", "Entry", "InsufficientCredits"]
    with credits.group_committer(window_seconds=0.001) as committer:
        entry = committer.charge("batch", QuoteRequest.single("nano-banana-2"),
                                 idempotency_key="g1")
    assert entry.balance_after == 1000 - 960 - 1
    assert credits.verify().ok


# --- a batch is its charges one after another ------------------------------------------------

BATCH_REQUESTS = (FLUX, FLUX_4, QuoteRequest.single("flux-2-pro", outputs=2))
BATCH_PLANS = ("pro", "free", "pro")  # free: 100 trial credits that lapse after 14 days
BATCH_CAP = ("promo", 20)  # the third account caps project "promo" at 20 credits
_examples = Counter[str]()
Step = tuple[int, int, str | None, str | None, int]


def _comparable(outcome: Any) -> tuple[Any, ...]:
    """An outcome without its database ids: the two sides' entries and grants differ in id."""
    if isinstance(outcome, Entry):
        return (
            "entry", outcome.kind, outcome.amount_credits, outcome.balance_after,
            outcome.available_after, tuple(credits for _, credits in outcome.grants),
            outcome.idempotency_key, outcome.project, outcome.effective_at, outcome.details,
        )
    return (type(outcome).__name__, getattr(outcome, "available", None),
            getattr(outcome, "required", None))


def _books(credits: Gencredits, account_id: str) -> tuple[Any, ...]:
    view = credits.account(account_id)
    with read_transaction(credits.engine) as connection:
        kinds = connection.execute(
            select(entries.c.kind, entries.c.amount_credits, entries.c.balance_after)
            .where(entries.c.account_id == account_id)
            .order_by(entries.c.id)
        ).all()
        refusals = connection.execute(
            select(func.count()).where(refused_charges.c.account_id == account_id)
        ).scalar_one()
        raised = connection.execute(
            select(events_table.c.type)
            .where(events_table.c.account_id == account_id)
            .order_by(events_table.c.id)
        ).scalars().all()
    return (view.available_credits, view.held_credits, view.plan_id, [tuple(k) for k in kinds],
            refusals, list(raised))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 2),  # account
            st.integers(0, len(BATCH_REQUESTS) - 1),  # request
            st.one_of(st.none(), st.integers(0, 6).map(lambda n: f"key-{n}")),  # key, reused
            st.sampled_from([None, "promo"]),  # project
            st.sampled_from([0, 0, 0, 1, 60, 6 * 86_400]),  # seconds since the step before
        ),
        min_size=1,
        max_size=40,
    )
)
@pytest.mark.parametrize("few", [0, batch_apply.FEW], ids=["in-lists", "one-row"])
def test_a_batch_gives_what_its_charges_give_one_after_another(
    credits: Gencredits, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, few: int,
    steps: list[Step],
) -> None:
    """Differential: the same charges, at the same moments, applied one by one on three
    accounts and as one batch on three twins. Every outcome (entry, refusal, replay,
    idempotency conflict), balance, entry, refusal note and event must be the same, across
    renewals and the trial's expiry falling inside the batch. Both ways a batch reads its
    accounts: statements with IN lists (many accounts) and one-row statements (a few)."""
    monkeypatch.setattr(batch_apply, "FEW", few)
    _examples["n"] += 1
    example, base = _examples["n"], clock.now()
    alone = [f"alone-{example}-{n}" for n in range(3)]
    batched = [f"batch-{example}-{n}" for n in range(3)]
    for names in (alone, batched):
        for name, plan in zip(names, BATCH_PLANS, strict=True):
            credits.create_account(name, name=name, plan=plan)
        credits.set_project_cap(names[2], *BATCH_CAP)
    moments, at = [], base
    for *_, seconds in steps:
        at += timedelta(seconds=seconds)
        moments.append(at)

    one_by_one: list[Any] = []
    for (account, request, key, project, _), moment in zip(steps, moments, strict=True):
        clock.set(moment)
        try:
            one_by_one.append(credits.charge(
                alone[account], BATCH_REQUESTS[request], idempotency_key=key, project=project
            ))
        except GencreditsError as error:
            one_by_one.append(error)

    pending: list[Any] = []
    for (account, request, key, project, _), moment in zip(steps, moments, strict=True):
        clock.set(moment)
        item = ChargeItem(batched[account], BATCH_REQUESTS[request], key, project=project)
        pending.append(prepare_charge(context_of(credits), item))
    together = batch_apply.apply_batch(context_of(credits), pending)

    assert [_comparable(o) for o in together] == [_comparable(o) for o in one_by_one]
    for outcome in together:  # each answer is the entry stored under its id
        if isinstance(outcome, Entry):
            assert credits.entry(outcome.id) == outcome
    for mine, twin in zip(alone, batched, strict=True):
        assert _books(credits, mine) == _books(credits, twin)
    clock.set(moments[-1] + timedelta(seconds=1))


def test_charge_async_from_an_event_loop_shares_transactions(credits: Gencredits) -> None:
    """``charge_async``: tasks on one event loop, no thread per charge; the writer checks and
    prices each charge, and each task gets its own answer."""
    credits.create_account("ana", name="Ana", plan="pro")  # 1,000 credits: 200 charges of 5
    credits.start_group_commit(window_seconds=0.002)
    committer = credits.committer
    assert committer is not None

    async def one(number: int) -> Entry | BaseException:
        try:
            return await credits.charge_async("ana", FLUX, idempotency_key=f"k-{number % 230}")
        except GencreditsError as error:
            return error

    async def everything() -> list[Entry | BaseException]:
        answers = await asyncio.gather(*(one(number) for number in range(250)))
        bad = [
            credits.charge_async("ana", QuoteRequest.single("no-such-model"), idempotency_key="x"),
            credits.charge_async("ana", QuoteRequest.single("flux-2-pro", outputs=0)),
            credits.charge_async("nobody", FLUX, idempotency_key="y"),
        ]
        return answers + await asyncio.gather(*bad, return_exceptions=True)

    outcomes = asyncio.run(everything())
    answers, (unknown, invalid, missing) = outcomes[:250], outcomes[250:]
    charged = [answer for answer in answers if isinstance(answer, Entry)]
    refused = [answer for answer in answers if isinstance(answer, InsufficientCredits)]
    assert len(charged) + len(refused) == 250
    # Keys 0..19 were sent twice: a replay gets the first entry, or the same refusal.
    assert len({entry.id for entry in charged}) == 200
    assert {entry.idempotency_key for entry in charged} <= {f"k-{n}" for n in range(230)}
    assert isinstance(unknown, UnknownModel) and unknown.field == "lines.0.model"
    assert isinstance(invalid, InvalidRequest) and invalid.field == "lines.0.outputs"
    assert isinstance(missing, NotFound)
    assert committer.batches < committer.charges
    assert credits.account("ana").available_credits == 0
    assert charge_entries(credits, "ana") == 200
    assert credits.verify().ok


def test_charge_async_without_group_commit_runs_in_a_thread(credits: Gencredits) -> None:
    credits.create_account("ana", name="Ana", plan="pro")
    entry = asyncio.run(credits.charge_async("ana", FLUX_4, idempotency_key="one"))
    assert entry.amount_credits == 18
    assert credits.charge("ana", FLUX_4, idempotency_key="one") == entry


def test_cancelled_async_charges_never_stop_the_writer(credits: Gencredits) -> None:
    """A task cancelled while its charge waits (a client gone) leaves the charge applied or
    not, never half; the writer goes on, and every applied charge is in the ledger."""
    credits.create_account("ana", name="Ana", plan="pro")
    credits.start_group_commit(window_seconds=0.005)

    async def cancel_half() -> None:
        tasks = [
            asyncio.create_task(credits.charge_async("ana", FLUX, idempotency_key=f"c-{n}"))
            for n in range(60)
        ]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(cancel_half())
    after = asyncio.run(credits.charge_async("ana", FLUX, idempotency_key="after"))
    assert after.amount_credits == 5
    charged = charge_entries(credits, "ana")
    assert 31 <= charged <= 61  # the 30 never cancelled and "after", and maybe some cancelled
    assert credits.account("ana").available_credits == 1000 - 5 * charged
    assert credits.verify().ok


def test_callers_charging_in_a_loop_do_not_wait_out_the_window(
    credits: Gencredits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once as many charges as the last batch answered are back, the writer starts: callers
    charging in a loop (worker threads, each charge waiting for its answer) are not held for
    the whole window every round. With a 2 s window, 20 rounds of 4 callers would take at
    least 40 s if each batch waited its window out (a batch holds at most one charge a caller);
    only the first batch and the tail, as callers finish, may wait it (a few windows). The
    margin is that wide so a loaded machine cannot fail it."""
    credits.create_account("ana", name="Ana", plan="pro")
    rounds, callers, window = 20, 4, 2.0
    monkeypatch.setattr(group_commit, "MAX_WINDOW_SECONDS", window)  # the lane's rule, slowed
    with GroupCommitter(context_of(credits), window_seconds=window) as committer:

        def work(caller: int) -> None:
            for number in range(rounds):
                committer.charge("ana", FLUX, idempotency_key=f"c{caller}-{number}")

        threads = [threading.Thread(target=work, args=(caller,)) for caller in range(callers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert committer.charges == rounds * callers
        assert committer.batches >= rounds
        assert committer.mean_batch_items >= 2, "callers still share batches"
    assert elapsed < rounds * window / 2, f"{committer.batches} batches took {elapsed:.2f} s"
    assert credits.account("ana").available_credits == 1_000 - 5 * rounds * callers
