"""gencredits.Client against a live server, and the same code in-process: one line apart.

``flow()`` is written once against the library's interface and run twice, on
``gencredits.open(...)`` and on ``gencredits.Client(url, key)`` over the same database (on
different accounts); the values and the errors must agree.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

import gencredits
from gencredits import (
    AccountView,
    BalanceCeilingExceeded,
    Entry,
    ExceedsHoldAmount,
    FeatureDisabled,
    GencreditsError,
    Hold,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    ProjectCapExceeded,
    Quote,
    QuoteRequest,
    Settlement,
    Transfer,
    UnknownModel,
)
from gencredits.client import ApiError, Forbidden, RateLimited, Unauthorized
from tests.api.support import QUIET, LiveServer

FLUX_4 = QuoteRequest.single("flux-2-pro", outputs=4)  # 18 credits
VEO_8 = QuoteRequest.single("veo-3", seconds=8, quality="1080p")  # 120 credits

Credits = Any  # gencredits.Gencredits or gencredits.Client: the point is they are alike


def entry_facts(entry: Entry | None) -> tuple[Any, ...] | None:
    """What must agree between two runs on different accounts (not ids, actors or keys)."""
    if entry is None:
        return None
    return (entry.kind, entry.amount_credits, entry.balance_delta, entry.held_delta,
            entry.balance_after, entry.available_after, entry.model_id, entry.price_version,
            entry.project, entry.job_ref, entry.reason, entry.details, entry.effective_at)


def hold_facts(hold: Hold) -> tuple[Any, ...]:
    return (hold.status, hold.amount_credits, hold.captured_credits, hold.price_version,
            hold.model_id, hold.project, hold.job_ref, hold.quote, hold.expires_at)


def account_facts(view: AccountView) -> tuple[Any, ...]:
    return (view.plan_id, view.pending_plan_id, view.balance_credits, view.available_credits,
            view.held_credits, view.active_holds, view.cycle_starts_at, view.cycle_ends_at,
            view.allowance_credits, view.allowance_used_credits, view.kind)


def flow(credits: Credits, me: str, friend: str) -> list[Any]:
    """A day of a creator's credits, written once against the library's interface."""
    facts: list[Any] = []
    opened = credits.create_account(me, name="Me", plan="pro", idempotency_key=f"{me}-open")
    credits.create_account(friend, name="Friend", plan="free")
    facts.append(account_facts(opened))
    quote = credits.quote(FLUX_4)
    assert isinstance(quote, Quote)
    facts.append(quote)
    charge = credits.charge(me, FLUX_4, idempotency_key=f"{me}-c1", project="acme",
                            job_ref="job-1")
    assert isinstance(charge, Entry) and charge.amount_credits == quote.total_credits == 18
    again = credits.charge(me, FLUX_4, idempotency_key=f"{me}-c1", project="acme",
                           job_ref="job-1")
    assert again == charge  # a replay is the same value
    facts.append(entry_facts(charge))

    hold = credits.hold(me, QuoteRequest.single("flux-2-pro", outputs=4), job_ref="job-2",
                        idempotency_key=f"{me}-h1")
    assert isinstance(hold, Hold)
    facts.append(hold_facts(hold))
    settled = credits.capture(hold.id, outputs_delivered=3, idempotency_key=f"{me}-cap")
    assert isinstance(settled, Settlement)
    facts.append((hold_facts(settled.hold), entry_facts(settled.capture),
                  entry_facts(settled.release)))

    second = credits.hold(me, VEO_8, idempotency_key=f"{me}-h2")
    released = credits.release(second.id, idempotency_key=f"{me}-rel")
    facts.append(hold_facts(released))

    refund = credits.refund(charge.id, amount_credits=5, reason="one was blurry",
                            idempotency_key=f"{me}-ref")
    facts.append(entry_facts(refund))
    facts.append(entry_facts(credits.grant(me, 40, source="promo", idempotency_key=f"{me}-g")))
    facts.append(entry_facts(credits.adjust(me, -3, reason="typo", idempotency_key=f"{me}-a")))
    moved = credits.transfer(me, friend, 10, reason="gift", idempotency_key=f"{me}-t")
    assert isinstance(moved, Transfer)
    facts.append((entry_facts(moved.outgoing), entry_facts(moved.incoming)))

    with pytest.raises(InsufficientCredits) as refused:
        credits.charge(friend, QuoteRequest.single("flux-2-pro", count=40))  # 200 of 110
    facts.append(("refused", refused.value.available, refused.value.required,
                  str(refused.value)))

    changed = credits.change_plan(me, "ultra", idempotency_key=f"{me}-plan")
    facts.append((changed.change, account_facts(changed.account)))
    page = credits.history(me, kinds=("charge", "capture"), limit=10)
    facts.append([entry_facts(entry) for entry in page.entries])
    assert credits.entry(charge.id) == charge
    facts.append(account_facts(credits.account(me)))
    assert credits.verify().ok
    return facts


def test_the_client_and_the_library_agree(live: LiveServer) -> None:
    in_process = flow(live.credits, "local", "local-friend")
    with gencredits.Client(live.base_url, live.operator_key) as remote:
        over_http = flow(remote, "remote", "remote-friend")
        assert [view.id for view in remote.accounts(limit=2)] == ["local", "local-friend"]
        assert remote.accounts(after="remote")[0].id == "remote-friend"
        assert remote.renew().accounts_updated == 0
    assert over_http == in_process


def test_the_client_takes_lines_as_dicts_and_returns_real_quotes(live: LiveServer) -> None:
    client = gencredits.Client(live.base_url, live.operator_key)
    from_dicts = client.quote([{"model": "sora", "seconds": 5}, {"model": "flux-2-pro",
                                                                 "outputs": 4, "count": 2}])
    from_request = live.credits.quote(QuoteRequest((
        gencredits.LineItem("sora", seconds=5), gencredits.LineItem("flux-2-pro", 4, 2),
    )))
    assert from_dicts == from_request
    assert from_dicts.total_credits == 63 + 36
    catalog = client.catalog()
    assert catalog["price_version"] == 1
    assert {model["id"] for model in catalog["models"]} >= {"flux-2-pro", "veo-3"}
    assert {plan["id"] for plan in client.plans()} >= {"free", "pro", "ultra"}
    client.close()


ERRORS: list[tuple[str, Callable[[Credits, str], Any], type[GencreditsError]]] = [
    ("insufficient", lambda c, a: c.charge(a, QuoteRequest.single("veo-3", seconds=8, count=20)),
     InsufficientCredits),
    ("unknown-account", lambda c, a: c.account(a + "-nobody"), NotFound),
    ("unknown-entry", lambda c, a: c.entry(999_999), NotFound),
    ("unknown-model", lambda c, a: c.charge(a, QuoteRequest.single("gpt-9")), UnknownModel),
    ("too-many-outputs",
     lambda c, a: c.charge(a, QuoteRequest.single("flux-2-pro", outputs=9)), InvalidRequest),
    ("reused-key", lambda c, a: (c.charge(a, FLUX_4, idempotency_key=f"{a}-k"),
                                 c.charge(a, VEO_8, idempotency_key=f"{a}-k")),
     IdempotencyConflict),
    ("settled-hold", lambda c, a: c.release(c.release(c.hold(a, FLUX_4).id).id),
     HoldNotPending),
    ("capture-too-much", lambda c, a: c.capture(c.hold(a, FLUX_4).id, amount_credits=19),
     ExceedsHoldAmount),
    ("topups-off", lambda c, a: c.grant(a, 100, source="topup"), FeatureDisabled),
    ("project-cap", lambda c, a: (c.set_project_cap(a, "acme", 10),
                                  c.charge(a, FLUX_4, project="acme")), ProjectCapExceeded),
    ("balance-ceiling", lambda c, a: c.grant(a, 2**53 - 1, source="promo"),
     BalanceCeilingExceeded),
]


def same_words(error: Exception) -> str:
    """The message with the run's own account and hold ids taken out."""
    text = re.sub(r"hold \d+", "hold N", str(error))
    return text.replace("'remote", "'ACCOUNT").replace("'local", "'ACCOUNT")


def test_the_client_raises_the_libraries_errors(
    live: LiveServer, subtests: pytest.Subtests
) -> None:
    with gencredits.Client(live.base_url, live.operator_key) as remote:
        for case, call, expected in ERRORS:
            with subtests.test(case):
                caught: list[GencreditsError] = []
                for credits, account in ((live.credits, f"local-{case}"),
                                         (remote, f"remote-{case}")):
                    credits.create_account(account, name=account, plan="pro")
                    with pytest.raises(expected) as raised:
                        call(credits, account)
                    caught.append(raised.value)
                local, over_http = caught
                assert type(over_http) is type(local)
                assert same_words(over_http) == same_words(local)
                for name in ("field", "available", "required", "held_credits",
                             "requested_credits", "cap_credits", "used_credits", "project",
                             "balance_credits", "amount_credits", "ceiling_credits"):
                    assert getattr(over_http, name, None) == getattr(local, name, None), name


def test_client_side_errors(live: LiveServer, serve: Callable[..., LiveServer]) -> None:
    live.credits.create_account("ana", name="Ana", plan="pro")
    with gencredits.Client(live.base_url, "gc_op_wrong") as wrong, \
            pytest.raises(Unauthorized) as unauthorized:
        wrong.account("ana")
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")
    ana = gencredits.Client(live.base_url, live.account_key("ana"))
    with pytest.raises(Forbidden):
        ana.grant("ana", 10**6, source="promo")
    with pytest.raises(NotFound):  # another account's id looks missing
        ana.account("bob")
    assert ana.account("ana").balance_credits == 1000
    ana.close()

    limited = serve(replace(QUIET, rate_per_second=0.1, rate_burst=1))  # a token per 10 s
    with gencredits.Client(limited.base_url, limited.operator_key) as client:
        client.plans()
        with pytest.raises(RateLimited) as slowed:
            client.plans()
    assert slowed.value.retry_after_seconds is not None
    assert 1 <= slowed.value.retry_after_seconds <= 10


def recording_transport(answers: list[httpx.Response], sent: list[httpx.Request]
                        ) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    return httpx.MockTransport(handle)


def test_idempotency_keys_are_generated_unless_given() -> None:
    sent: list[httpx.Request] = []
    problem = {"type": "/problems/not_found", "title": "Not found", "status": 404,
               "detail": "account 'x' not found", "code": "not_found", "field": "account_id"}
    answers = [httpx.Response(404, json=problem) for _ in range(3)]
    client = gencredits.Client("http://credits.test/", "gc_op_x",
                               transport=recording_transport(answers, sent))
    for key in (None, None, "mine"):
        with pytest.raises(NotFound) as missing:
            client.charge("x", [{"model": "flux-2-pro"}], idempotency_key=key)
        assert missing.value.field == "account_id" and str(missing.value) == problem["detail"]
    generated = [request.headers["idempotency-key"] for request in sent]
    assert generated[2] == "mine" and generated[0] != generated[1]
    assert all(uuid.UUID(key).version == 4 for key in generated[:2])
    assert sent[0].headers["authorization"] == "Bearer gc_op_x"
    assert str(sent[0].url) == "http://credits.test/v1/accounts/x/charges"
    assert json.loads(sent[0].content) == {"lines": [{"model": "flux-2-pro"}]}


def test_refusals_without_a_library_error_are_api_errors() -> None:
    sent: list[httpx.Request] = []
    answers = [
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(413, json={"type": "/problems/body_too_large", "status": 413,
                                  "title": "The request body is too large", "field": "body",
                                  "detail": "too large", "code": "body_too_large"}),
    ]
    with gencredits.Client("http://credits.test", "k",
                           transport=recording_transport(answers, sent)) as client:
        with pytest.raises(ApiError) as gateway:
            client.verify()
        assert (gateway.value.status, gateway.value.code) == (502, "http_error")
        assert "bad gateway" in str(gateway.value)
        with pytest.raises(ApiError) as too_large:
            client.adjust("a", 5, reason="x" * 10)
        assert too_large.value.code == "body_too_large"
        assert too_large.value.problem["field"] == "body"
    assert [request.url.path for request in sent] == ["/v1/verify", "/v1/accounts/a/adjustments"]


def test_ids_are_one_path_segment() -> None:
    sent: list[httpx.Request] = []
    ok = httpx.Response(404, json={"code": "not_found", "detail": "x", "field": "account_id"})
    client = gencredits.Client("http://credits.test", "k",
                               transport=recording_transport([ok], sent))
    with pytest.raises(NotFound):
        client.account("../v1/keys?x=1")
    assert sent[0].url.raw_path == b"/v1/accounts/..%2Fv1%2Fkeys%3Fx%3D1"


def test_client_is_exported() -> None:
    assert "Client" in gencredits.__all__ and gencredits.Client is gencredits.client.Client
