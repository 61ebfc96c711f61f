"""Access, where tests/api/ leaves gaps (it covers 401 for missing, unknown and revoked keys,
403 for account keys on every operator route, 422 for ``balance``/``owner`` on account and
charge bodies, and 429 with Retry-After in one server):

* a key revoked through one server process is refused at once by every other process of the
  server (keys are checked against the database on each request, never cached per process);
* a request refused with 429 is not half-done: sent again with its idempotency key after
  Retry-After, it is applied exactly once;
* no mutating endpoint lets a body set what only the ledger decides (balance, available,
  owner, actor, id, status...): 422 naming the field, nothing written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

import gencredits
from gencredits.service import keys
from tests.reliability.checks import keyed_entries
from tests.reliability.harness import QUIET, InThreadServer, ServerProcess, written_counts
from tests.reliability.tally import Figures


def test_a_revoked_key_is_refused_by_every_server_process(
    database_url: str, tmp_path: Path, figures: Figures
) -> None:
    with gencredits.open(database_url, pool_size=2) as credits:
        credits.create_account("ana", name="Ana", plan="pro")
        _, operator_secret = keys.create_key(credits.engine, account_id=None, name="op",
                                             now=credits.clock.now())
        ana_key, ana_secret = keys.create_key(credits.engine, account_id="ana", name="ana",
                                              now=credits.clock.now())
    charge = {"lines": [{"model": "nano-banana-2"}]}
    with ServerProcess(database_url, tmp_path, workers=2, sweep_seconds=0) as server:
        server.start()

        def fresh(secret: str) -> httpx.Client:  # a new connection: any worker may take it
            return httpx.Client(base_url=server.base_url, timeout=10,
                                headers={"Authorization": f"Bearer {secret}"})

        for _ in range(10):
            with fresh(ana_secret) as ana:
                figures.check(ana.get("/v1/accounts/ana").status_code == 200, "ana's key works")
        with fresh(operator_secret) as operator:
            revoked = operator.delete(f"/v1/keys/{ana_key.id}")
            figures.check(revoked.status_code == 200, f"revoke: {revoked.status_code}")
        before = written_counts_of(database_url)
        answers = []
        for n in range(40):
            with fresh(ana_secret) as ana:
                if n % 2:
                    answers.append(ana.get("/v1/accounts/ana").status_code)
                else:
                    answers.append(ana.post("/v1/accounts/ana/charges", json=charge,
                                            headers={"Idempotency-Key": uuid.uuid4().hex}
                                            ).status_code)
        server.stop()
    figures.add(operations=len(answers) + 11)
    figures.check(set(answers) == {401}, f"after revocation: {sorted(set(answers))}")
    figures.check(written_counts_of(database_url) == before, "a revoked key wrote something")
    figures.assert_clean()


def written_counts_of(database_url: str) -> dict[str, int]:
    with gencredits.open(database_url, pool_size=1) as credits:
        return written_counts(credits.engine)


def test_a_rate_limited_mutation_retried_with_its_key_is_applied_once(
    serve: Callable[..., InThreadServer], figures: Figures
) -> None:
    live = serve(replace(QUIET, rate_per_second=1.0, rate_burst=2))
    live.credits.create_account("ana", name="Ana", plan="pro")
    _, secret = keys.create_key(live.credits.engine, account_id="ana", name="ana",
                                now=live.clock.now())
    ana = live.client(secret)
    key = {"Idempotency-Key": "once-" + uuid.uuid4().hex}
    charge = {"lines": [{"model": "flux-2-pro", "outputs": 4}]}
    answers = [ana.get("/v1/accounts/ana").status_code for _ in range(2)]
    limited = ana.post("/v1/accounts/ana/charges", json=charge, headers=key)
    figures.check(answers == [200, 200] and limited.status_code == 429,
                  f"answers {answers}, then {limited.status_code}")
    figures.check(key["Idempotency-Key"] not in keyed_entries(live.credits.engine),
                  "a 429 wrote an entry")
    time.sleep(int(limited.headers["retry-after"]))
    applied = ana.post("/v1/accounts/ana/charges", json=charge, headers=key)
    time.sleep(1.0)
    replayed = ana.post("/v1/accounts/ana/charges", json=charge, headers=key)
    figures.check(applied.status_code == replayed.status_code == 201,
                  f"retries answered {applied.status_code}, {replayed.status_code}")
    figures.check(applied.json() == replayed.json(), "the replay differs from the first answer")
    stored = keyed_entries(live.credits.engine).get(key["Idempotency-Key"], [])
    figures.check(len(stored) == 1, f"{len(stored)} entries under the key")
    figures.check(live.credits.account("ana").balance_credits == 1000 - 18, "balance")
    figures.add(operations=6)
    figures.assert_clean()


# What only the ledger decides, tried on every mutating body.
FORBIDDEN_FIELDS = ("balance", "available", "held", "owner", "account_id", "actor", "id",
                    "created_at", "status", "captured", "credits", "price", "balance_after",
                    "kind", "grants", "idempotency_key")


def test_no_body_sets_what_the_ledger_decides(
    serve: Callable[..., InThreadServer], figures: Figures
) -> None:
    live = serve()
    credits = live.credits
    credits.create_account("ana", name="Ana", plan="pro")
    credits.create_account("bob", name="Bob", plan="pro")
    from gencredits import QuoteRequest

    hold = credits.hold("ana", QuoteRequest.single("kling", seconds=3)).id
    charge = credits.charge("ana", QuoteRequest.single("flux-2-pro")).id
    line = {"lines": [{"model": "flux-2-pro"}]}
    bodies = {
        ("POST", "/v1/accounts"): {"id": "eve", "name": "Eve", "plan": "pro"},
        ("POST", "/v1/accounts/ana/charges"): line,
        ("POST", "/v1/accounts/ana/holds"): line,
        ("POST", f"/v1/holds/{hold}/capture"): {"amount": 1},
        ("POST", f"/v1/entries/{charge}/refund"): {"amount": 1},
        ("POST", "/v1/accounts/ana/grants"): {"amount": 5, "source": "promo"},
        ("POST", "/v1/accounts/ana/adjustments"): {"amount": 5, "reason": "r"},
        ("POST", "/v1/transfers"): {"from_account": "ana", "to_account": "bob", "amount": 1},
        ("PUT", "/v1/accounts/ana/plan"): {"plan": "ultra"},
        ("POST", "/v1/quotes"): line,
    }
    api = live.client()
    before = live.counts()
    tried = 0
    for (method, path), body in bodies.items():
        for name in FORBIDDEN_FIELDS:
            if name in body:
                continue
            for value in (10**9, "mallory", None):
                response = api.request(method, path, json={**body, name: value},
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
                tried += 1
                problem = response.json() if response.status_code == 422 else {}
                figures.check(problem.get("field") == name,
                              f"{method} {path} with {name}={value!r}: {response.status_code} "
                              f"{response.text[:160]}")
    figures.check(live.counts() == before, "an unknown field got something written")
    figures.add(inputs=tried)
    figures.assert_clean()
