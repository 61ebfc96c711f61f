"""Demo data: three accounts with four months of realistic usage, made through the real ledger.

``gencredits demo`` (and ``gencredits serve --demo`` on an empty database) opens the service
with a :class:`~gencredits.service.clock.ManualClock` set about four months back and moves it
day by day to the present, charging, holding and capturing, releasing, refunding and being
refused exactly as a generation pipeline would. Nothing is written around the ledger, so every
report, forecast and piece of advice reads a history the ledger itself made, and
``gencredits verify`` holds.

The three accounts are chosen so each advice has something to say:

* ``demo-heavy``, Maya on Pro (1,000 a month), spends about 60 credits a day and runs out
  around day 17 of each cycle, then sees her charges refused: **upgrade** to Ultra.
* ``demo-light``, Leo on Ultra (5,000 a month), uses a few hundred credits a month:
  a **cheaper plan**, Pro, would still cover him.
* ``demo-agency``, Northwind Studio, a shared pool on Ultra with three members and projects
  for three clients (one capped per cycle), uses two thirds of its allowance: **stay**.

Randomness comes from ``random.Random(seed)``, so the same ``seed`` and ``now`` make the same
history. Seeding is skipped when any demo account exists, so running it twice changes
nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gencredits.domain.errors import InsufficientCredits, ProjectCapExceeded
from gencredits.domain.ledger import AccountKind, GrantSource
from gencredits.domain.pricing import LineItem, QuoteRequest
from gencredits.service.clock import ManualClock
from gencredits.service.facade import Gencredits
from gencredits.service.facade import open as open_service
from gencredits.store.engine import read_transaction
from gencredits.store.queries import accounts as account_queries

DEMO_SEED = 20_260_131
DEMO_DAYS = 122  # about four months: four completed monthly cycles and the current one
MAX_DEMO_DAYS = 400
DEMO_ACTOR = "demo"
# Working hours (UTC) in which the demo's generations happen.
FIRST_HOUR, LAST_HOUR = 8, 22
# A held job settles within minutes; none starts closer than this to the end of the demo.
SETTLE_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Job:
    """One kind of generation an account makes; videos and some batches go through a hold."""

    model: str
    outputs: int = 1
    seconds: int | None = None
    quality: str | None = None
    option: str | None = None
    hold: bool = False

    def request(self) -> QuoteRequest:
        return QuoteRequest(
            (
                LineItem(
                    self.model,
                    outputs=self.outputs,
                    seconds=self.seconds,
                    quality=self.quality,
                    option=self.option,
                ),
            )
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """How one demo account works: its plan, its daily rhythm and its mix of jobs."""

    account_id: str
    name: str
    plan: str
    jobs_per_day: tuple[int, int]  # inclusive range
    jobs: tuple[tuple[int, Job], ...]  # (weight, job)
    kind: AccountKind = AccountKind.PERSON
    members: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    project_caps: tuple[tuple[str, int], ...] = ()


PROFILES: tuple[Profile, ...] = (
    Profile(
        account_id="demo-heavy",
        name="Maya Chen (heavy user)",
        plan="pro",
        jobs_per_day=(3, 6),
        jobs=(
            (4, Job("flux-2-pro", outputs=4)),
            (3, Job("imagen-4")),
            (2, Job("ideogram-3", outputs=2)),
            (1, Job("kling", seconds=5, hold=True)),
        ),
    ),
    Profile(
        account_id="demo-light",
        name="Leo Park (light user)",
        plan="ultra",
        jobs_per_day=(0, 2),
        jobs=(
            (3, Job("nano-banana-2", outputs=4)),
            (2, Job("recraft-v4")),
            (2, Job("dall-e-3", outputs=2)),
            (1, Job("flux-2-pro")),
        ),
    ),
    Profile(
        account_id="demo-agency",
        name="Northwind Studio (agency)",
        plan="ultra",
        kind=AccountKind.POOL,
        members=("ana@northwind.studio", "ben@northwind.studio", "cleo@northwind.studio"),
        projects=("acme", "globex", "initech"),
        project_caps=(("globex", 1_000),),
        jobs_per_day=(3, 6),
        jobs=(
            (2, Job("flux-2-max", outputs=4, hold=True)),
            (3, Job("imagen-4-ultra")),
            (2, Job("gpt-image-1.5", outputs=2)),
            (1, Job("background-removal", outputs=20)),
            (2, Job("ai-expand", option="large")),
            (1, Job("runway-gen-4", seconds=10, hold=True)),
        ),
    ),
)
DEMO_ACCOUNTS: tuple[str, ...] = tuple(profile.account_id for profile in PROFILES)


@dataclass
class DemoResult:
    """What seeding did (``created`` is False when the demo accounts already existed)."""

    created: bool
    accounts: tuple[str, ...] = DEMO_ACCOUNTS
    days: int = 0
    charges: int = 0
    holds: int = 0
    captures: int = 0
    releases: int = 0
    refunds: int = 0
    refused: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "accounts": list(self.accounts),
            "days": self.days,
            "charges": self.charges,
            "holds": self.holds,
            "captures": self.captures,
            "releases": self.releases,
            "refunds": self.refunds,
            "refused": self.refused,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }


def demo_exists(credits: Gencredits) -> bool:
    """True when any demo account is in the database."""
    with read_transaction(credits.engine) as connection:
        return account_queries.count_accounts_among(connection, DEMO_ACCOUNTS) > 0


def has_accounts(credits: Gencredits) -> bool:
    with read_transaction(credits.engine) as connection:
        return account_queries.has_accounts(connection)


def seed_demo(
    database_url: str | None = None,
    *,
    now: datetime | None = None,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    progress: Callable[[int, int], None] | None = None,
    catalog_path: str | None = None,
) -> DemoResult:
    """Make the demo accounts and their history from ``days`` ago until ``now`` (default: the
    real now), unless they exist. ``progress(done, total)`` is told after each day;
    ``catalog_path`` is the catalog a new database starts with (the packaged one by default)."""
    assert 1 <= days <= MAX_DEMO_DAYS, f"days must be from 1 to {MAX_DEMO_DAYS}"
    finish = (now or datetime.now(UTC)).astimezone(UTC)
    start = (finish - timedelta(days=days)).replace(hour=FIRST_HOUR, minute=0, second=0,
                                                    microsecond=0)
    clock = ManualClock(start)
    with open_service(database_url, clock=clock, catalog_path=catalog_path) as credits:
        if demo_exists(credits):
            return DemoResult(created=False)
        result = DemoResult(created=True, days=days, started_at=start, finished_at=finish)
        _open_accounts(credits)
        rng = random.Random(seed)
        day = start.replace(hour=0)
        total = (finish.date() - start.date()).days + 1
        for done in range(1, total + 1):
            _play_day(credits, clock, rng, day, finish, result)
            if progress is not None:
                progress(done, total)
            day += timedelta(days=1)
        clock.set(finish)
        credits.renew()  # renewals, expiries and lapsed holds up to now
    return result


def _open_accounts(credits: Gencredits) -> None:
    for profile in PROFILES:
        credits.create_account(
            profile.account_id,
            name=profile.name,
            plan=profile.plan,
            kind=profile.kind,
            members=profile.members,
            idempotency_key=f"demo:{profile.account_id}:open",
            actor=DEMO_ACTOR,
        )
        for project, cap in profile.project_caps:
            credits.set_project_cap(profile.account_id, project, cap)
    credits.grant(
        "demo-heavy",
        200,
        source=GrantSource.PROMO,
        expires_at=credits.clock.now() + timedelta(days=45),
        reason="welcome offer",
        idempotency_key="demo:demo-heavy:welcome",
        actor=DEMO_ACTOR,
    )


def _play_day(
    credits: Gencredits,
    clock: ManualClock,
    rng: random.Random,
    day: datetime,
    finish: datetime,
    result: DemoResult,
) -> None:
    """Every demo account's jobs of one day, in time order, until ``finish``."""
    plans: list[tuple[datetime, int, Profile]] = []
    for order, profile in enumerate(PROFILES):
        low, high = profile.jobs_per_day
        for _ in range(rng.randint(low, high)):
            seconds = rng.randrange((LAST_HOUR - FIRST_HOUR) * 3600)
            plans.append((day + timedelta(hours=FIRST_HOUR, seconds=seconds), order, profile))
    plans.sort(key=lambda plan: (plan[0], plan[1]))
    refused_today: set[str] = set()
    for number, (moment, _, profile) in enumerate(plans):
        if moment + SETTLE_MARGIN >= finish or profile.account_id in refused_today:
            continue  # after a refusal a person stops for the day
        clock.set(max(moment, clock.now()))  # a held job may have run past this moment
        job = _pick(rng, profile.jobs)
        key = f"demo:{profile.account_id}:{moment:%Y%m%d}:{number}"
        project = rng.choice(profile.projects) if profile.projects else None
        actor = rng.choice(profile.members) if profile.members else DEMO_ACTOR
        try:
            if job.hold:
                _run_held_job(credits, clock, rng, profile, job, key, (project, actor), result)
            else:
                entry = credits.charge(profile.account_id, job.request(), project=project,
                                       actor=actor, idempotency_key=key)
                result.charges += 1
                if rng.random() < 0.03:  # the operator judges the generation failed
                    credits.refund(entry.id, reason="generation failed",
                                   idempotency_key=f"{key}:refund", actor=DEMO_ACTOR)
                    result.refunds += 1
        except (InsufficientCredits, ProjectCapExceeded):
            result.refused += 1
            refused_today.add(profile.account_id)


def _run_held_job(
    credits: Gencredits,
    clock: ManualClock,
    rng: random.Random,
    profile: Profile,
    job: Job,
    key: str,
    project_and_actor: tuple[str | None, str],
    result: DemoResult,
) -> None:
    """Hold, let the job run a few minutes, then capture (sometimes part), release or forget."""
    project, actor = project_and_actor
    held = credits.hold(profile.account_id, job.request(), job_ref=key, project=project,
                        actor=actor, idempotency_key=key)
    result.holds += 1
    clock.advance(minutes=rng.randint(1, 6))
    outcome = rng.random()
    settle_key = f"{key}:settle"
    if outcome < 0.10:
        credits.release(held.id, idempotency_key=settle_key, actor=DEMO_ACTOR)  # the job failed
        result.releases += 1
    elif outcome < 0.14:
        pass  # never settled: the hold lapses after its TTL and is released by itself
    elif job.outputs > 1 and outcome < 0.30:
        credits.capture(held.id, outputs_delivered=job.outputs - 1,
                        idempotency_key=settle_key, actor=DEMO_ACTOR)
        result.captures += 1
    else:
        credits.capture(held.id, idempotency_key=settle_key, actor=DEMO_ACTOR)
        result.captures += 1


def _pick(rng: random.Random, weighted: tuple[tuple[int, Job], ...]) -> Job:
    return rng.choices([job for _, job in weighted], weights=[w for w, _ in weighted])[0]
