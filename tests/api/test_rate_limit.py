"""The per-key token bucket: past the burst a key gets 429 with Retry-After, others do not."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from tests.api.support import FLUX_4, QUIET, LiveServer, assert_problem, idem, open_account


def test_a_key_past_its_burst_gets_429_with_retry_after(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(replace(QUIET, rate_per_second=1.0, rate_burst=2))
    open_account(live.client(), "ana")  # the operator key spends one of its two tokens
    ana = live.client(live.account_key("ana"))
    written = live.entry_count()

    # Two requests fit the burst; the bucket refills one token a second, so within a few
    # quick requests one is refused (however slow this machine is).
    answers = []
    for _ in range(8):
        answers.append(ana.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem()))
        if answers[-1].status_code == 429:
            break
    assert [a.status_code for a in answers[:2]] == [201, 201]
    refused = answers[-1]
    assert_problem(refused, 429, "rate_limited")
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == 1  # under one token missing, at one token a second
    charged = sum(1 for answer in answers if answer.status_code == 201)
    assert live.entry_count() == written + charged  # the refused charge wrote nothing

    operator = live.client()  # another key has its own bucket
    assert operator.get("/v1/accounts/ana").status_code == 200
    assert live.anonymous().get("/healthz").status_code == 200  # no key, no bucket

    time.sleep(retry_after)
    assert ana.get("/v1/accounts/ana").status_code == 200
