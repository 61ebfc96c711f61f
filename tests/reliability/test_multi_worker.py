"""Several processes, one truth: the real server with ``--workers 2`` on SQLite and on
PostgreSQL, driven by concurrent clients that each open fresh connections, so requests land
on both worker processes.

* an overdraft storm: many clients charging one small balance: never below zero, every 201 in
  the ledger once, every refusal a 402 that wrote nothing;
* a dashboard session signed out on one worker is refused by both (a copied cookie);
* a revoked API key is refused by both workers at once (their key caches warm beforehand);
* a key's rate limit is shared: within the window the workers admit at most the burst plus
  the documented slack (``workers * slack_per_worker``), the rest is 429 with ``Retry-After``;
* wrong API keys and dashboard sign-in guesses from one address: 429 after the failure burst
  (plus the slack), across both workers.

(Identical-key storms and event delivery across workers are tested in their own files.)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import gencredits
from gencredits.api.rate_limits import SharedRateLimiter
from gencredits.service import keys
from tests.reliability.checks import balances, keyed_entries
from tests.reliability.harness import ServerProcess, written_counts
from tests.reliability.tally import Figures

WORKERS = 2
CLIENTS = 8
REQUESTS = 48  # as in the reproduction: 22-28 of them reached the other worker
CHARGE = {"lines": [{"model": "flux-2-pro"}]}  # 5 credits
CHARGE_CREDITS = 5
TRIAL_CREDITS = 100  # the free plan's grant: 20 charges, then 402


class Setup:
    """Keys and an account made before the server starts (nothing through HTTP)."""

    def __init__(self, database_url: str) -> None:
        with gencredits.open(database_url, pool_size=2) as credits:
            credits.create_account("ana", name="Ana", plan="free")
            now = credits.clock.now()
            _, self.operator = keys.create_key(credits.engine, account_id=None, name="op",
                                               now=now)
            key, self.ana = keys.create_key(credits.engine, account_id="ana", name="ana",
                                            now=now)
            self.ana_key_id = key.id


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start the server with two worker processes (and ``environment``) over the database."""
    servers: list[ServerProcess] = []

    def start(**environment: str) -> ServerProcess:
        server = ServerProcess(database_url, tmp_path, workers=WORKERS, sweep_seconds=0,
                               environment=environment)
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()


def spread(server: ServerProcess, send: Callable[[httpx.Client, int], httpx.Response],
           count: int = REQUESTS) -> list[httpx.Response]:
    """``count`` requests from ``CLIENTS`` threads, each on a fresh connection (so either
    worker may accept it); the answers in request order."""

    def one(number: int) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            return send(client, number)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(count)))


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_an_overdraft_storm_over_two_workers_never_overdraws(
    database_url: str, two_workers: Callable[..., ServerProcess], figures: Figures
) -> None:
    setup = Setup(database_url)
    server = two_workers()
    idempotency_keys = [f"storm-{n}-{uuid.uuid4().hex}" for n in range(REQUESTS * 2)]

    def charge(client: httpx.Client, number: int) -> httpx.Response:
        return client.post("/v1/accounts/ana/charges", json=CHARGE,
                           headers=bearer(setup.ana) | {"Idempotency-Key":
                                                        idempotency_keys[number]})

    answers = spread(server, charge, len(idempotency_keys))
    server.stop()
    statuses = [answer.status_code for answer in answers]
    figures.add(operations=len(answers))
    figures.check(set(statuses) <= {201, 402}, f"statuses {sorted(set(statuses))}")
    with gencredits.open(database_url, pool_size=2) as credits:
        entries = keyed_entries(credits.engine)
        available, held = balances(credits.engine)["ana"]
    charged = [key for key, status in zip(idempotency_keys, statuses, strict=True)
               if status == 201]
    figures.check(len(charged) == TRIAL_CREDITS // CHARGE_CREDITS,
                  f"{len(charged)} charges admitted of {TRIAL_CREDITS} credits")
    figures.check(available == TRIAL_CREDITS - CHARGE_CREDITS * len(charged) >= 0,
                  f"available {available} after {len(charged)} charges")
    figures.check(held == 0, f"held {held}")
    for key, status in zip(idempotency_keys, statuses, strict=True):
        kinds = [row["kind"] for row in entries.get(key, [])]
        expected = ["charge"] if status == 201 else []
        figures.check(kinds == expected, f"{key} answered {status}, ledger has {kinds}")
    figures.assert_clean()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def session_cookie(response: httpx.Response) -> str:
    """The session cookie a response sets (sent back by hand: it is marked Secure)."""
    found = re.search(r"gc_session=([^;]+)", response.headers.get("set-cookie", ""))
    assert found, response.headers
    return found.group(1)


def sign_in(client: httpx.Client, secret: str) -> httpx.Response:
    """GET the sign-in form, then POST ``secret`` with its session and CSRF token."""
    form = client.get("/")
    cookie = session_cookie(form)
    token = CSRF.search(form.text)
    assert token, form.text
    return client.post("/signin", data={"key": secret, "csrf_token": token.group(1)},
                       headers={"Cookie": f"gc_session={cookie}"})


def test_a_session_signed_out_on_one_worker_is_refused_by_every_worker(
    database_url: str, two_workers: Callable[..., ServerProcess], figures: Figures
) -> None:
    setup = Setup(database_url)
    server = two_workers()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        signed_in = sign_in(client, setup.ana)
    figures.check(signed_in.status_code == 303, f"sign-in answered {signed_in.status_code}")
    copied = {"Cookie": f"gc_session={session_cookie(signed_in)}"}

    def page(client: httpx.Client, _: int) -> httpx.Response:
        return client.get("/app/generate", headers=copied)

    before = [answer.status_code for answer in spread(server, page)]
    figures.check(set(before) == {200}, f"signed in, the pages answered {sorted(set(before))}")
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        token = CSRF.search(client.get("/app/generate", headers=copied).text)
        assert token
        out = client.post("/signout", data={"csrf_token": token.group(1)}, headers=copied)
    figures.check(out.status_code == 303, f"sign-out answered {out.status_code}")
    after = spread(server, page)
    opened = [a.status_code for a in after if not a.headers.get("location", "").startswith("/?")]
    figures.add(operations=len(before) + len(after) + 3)
    figures.check(not opened, f"{len(opened)} of {len(after)} requests with the signed-out "
                              f"cookie were not sent to sign in: {sorted(set(opened))}")
    figures.assert_clean()


def test_a_revoked_key_is_refused_by_every_worker(
    database_url: str, two_workers: Callable[..., ServerProcess], figures: Figures
) -> None:
    setup = Setup(database_url)
    server = two_workers()

    def read(client: httpx.Client, _: int) -> httpx.Response:
        return client.get("/v1/accounts/ana", headers=bearer(setup.ana))

    warm = [answer.status_code for answer in spread(server, read)]  # both workers' caches
    figures.check(set(warm) == {200}, f"before revocation: {sorted(set(warm))}")
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        revoked = client.delete(f"/v1/keys/{setup.ana_key_id}", headers=bearer(setup.operator))
    figures.check(revoked.status_code == 200, f"revoke answered {revoked.status_code}")
    with gencredits.open(database_url, pool_size=1) as credits:
        written = written_counts(credits.engine)

    def charge(client: httpx.Client, number: int) -> httpx.Response:
        if number % 2:
            return read(client, number)
        return client.post("/v1/accounts/ana/charges", json=CHARGE,
                           headers=bearer(setup.ana) | {"Idempotency-Key": uuid.uuid4().hex})

    after = [answer.status_code for answer in spread(server, charge)]
    server.stop()
    figures.add(operations=len(warm) + len(after) + 1)
    figures.check(set(after) == {401}, f"after revocation: {sorted(set(after))}")
    with gencredits.open(database_url, pool_size=1) as credits:
        figures.check(written_counts(credits.engine) == written, "a revoked key wrote")
    figures.assert_clean()


# One token per 1,000 s: nothing refills while a test runs, so the burst is the whole window.
SLOW_RATE = {"GENCREDITS_RATE_PER_SECOND": "0.001"}
KEY_BURST = 20


def slack(burst: int) -> int:
    """What the workers may admit beyond one exact bucket (see ``api/rate_limits.py``)."""
    return WORKERS * SharedRateLimiter(1.0, burst, fold=lambda *_: 0).slack_per_worker


def check_limited(figures: Figures, answers: list[httpx.Response], passed: int, burst: int,
                  what: str, in_flight: int = 0) -> None:
    """At least the burst passed, at most the burst plus the slack (and, for failures, which
    are counted once they have failed, the requests in flight when the limit was reached)."""
    statuses = [answer.status_code for answer in answers]
    admitted = statuses.count(passed)
    most = burst + slack(burst) + in_flight
    figures.add(operations=len(answers))
    figures.check(burst <= admitted <= most, f"{what}: {admitted} admitted, at most {most}")
    figures.check(set(statuses) <= {passed, 429}, f"{what}: statuses {sorted(set(statuses))}")
    figures.check(all(answer.headers.get("retry-after", "").isdigit() for answer in answers
                      if answer.status_code == 429), f"{what}: a 429 without Retry-After")


def test_a_key_rate_limit_holds_across_both_workers(
    database_url: str, two_workers: Callable[..., ServerProcess], figures: Figures
) -> None:
    setup = Setup(database_url)
    server = two_workers(**SLOW_RATE, GENCREDITS_RATE_BURST=str(KEY_BURST))

    def read(client: httpx.Client, _: int) -> httpx.Response:
        return client.get("/v1/accounts/ana", headers=bearer(setup.ana))

    answers = spread(server, read, REQUESTS * 2)
    check_limited(figures, answers, 200, KEY_BURST, "one key")
    with httpx.Client(base_url=server.base_url, timeout=30) as client:  # its own bucket
        other = client.get("/v1/accounts/ana", headers=bearer(setup.operator))
    figures.check(other.status_code == 200, f"the operator key answered {other.status_code}")
    figures.assert_clean()


FAILURE_BURST = 10
FAILURE_LIMITS = {"GENCREDITS_RATE_PER_SECOND": "1000",  # limits on; keys far from theirs
                  "GENCREDITS_AUTH_FAILURES_PER_MINUTE": "0.06",  # a token per 1,000 s
                  "GENCREDITS_AUTH_FAILURE_BURST": str(FAILURE_BURST)}


def test_a_flood_of_unknown_keys_from_one_address_is_limited_across_workers(
    database_url: str, two_workers: Callable[..., ServerProcess], figures: Figures
) -> None:
    Setup(database_url)
    server = two_workers(**FAILURE_LIMITS)

    def guess(client: httpx.Client, _: int) -> httpx.Response:
        return client.get("/v1/accounts/ana", headers=bearer("gc_ak_" + uuid.uuid4().hex))

    check_limited(figures, spread(server, guess), 401, FAILURE_BURST, "unknown keys",
                  in_flight=CLIENTS)
    figures.inputs += REQUESTS
    figures.assert_clean()


def test_sign_in_guesses_from_one_address_are_limited_across_workers(
    database_url: str, two_workers: Callable[..., ServerProcess], figures: Figures
) -> None:
    Setup(database_url)
    server = two_workers(**FAILURE_LIMITS)

    def guess(client: httpx.Client, _: int) -> httpx.Response:
        return sign_in(client, "gc_ak_" + uuid.uuid4().hex)

    answers = spread(server, guess)
    check_limited(figures, answers, 401, FAILURE_BURST, "sign-in guesses",
                  in_flight=CLIENTS)
    figures.check(all("Too many wrong keys" in answer.text for answer in answers
                      if answer.status_code == 429), "a 429 page without its message")
    figures.inputs += REQUESTS
    figures.assert_clean()
