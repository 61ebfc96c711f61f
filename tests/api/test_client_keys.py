"""The Python client sends an ``Idempotency-Key`` with every mutation it offers (SPEC 7), a
fresh one unless given, the given one otherwise. The methods are found by what they send: any
call of the client that is a POST, PUT, PATCH or DELETE must carry the key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import gencredits
from gencredits.domain.errors import NotFound
from tests.api.test_client import recording_transport

LINE = [{"model": "flux-2-pro"}]
# Every public method of the client, with arguments; reads are listed to show they send none.
CALLS: dict[str, Callable[[gencredits.Client, str | None], Any]] = {
    "create_account": lambda c, k: c.create_account("x", name="X", idempotency_key=k),
    "set_members": lambda c, k: c.set_members("x", add=["m"], idempotency_key=k),
    "change_plan": lambda c, k: c.change_plan("x", "pro", idempotency_key=k),
    "set_project_cap": lambda c, k: c.set_project_cap("x", "p", 5, idempotency_key=k),
    "charge": lambda c, k: c.charge("x", LINE, idempotency_key=k),
    "hold": lambda c, k: c.hold("x", LINE, idempotency_key=k),
    "capture": lambda c, k: c.capture(1, idempotency_key=k),
    "release": lambda c, k: c.release(1, idempotency_key=k),
    "refund": lambda c, k: c.refund(1, idempotency_key=k),
    "grant": lambda c, k: c.grant("x", 5, source="promo", idempotency_key=k),
    "adjust": lambda c, k: c.adjust("x", 5, reason="r", idempotency_key=k),
    "transfer": lambda c, k: c.transfer("x", "y", 5, idempotency_key=k),
    "renew": lambda c, k: c.renew(idempotency_key=k),
}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
PROBLEM = {"type": "/problems/not_found", "title": "Not found", "status": 404,
           "detail": "not found", "code": "not_found", "field": "account_id"}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_client_mutation_sends_an_idempotency_key(name: str) -> None:
    sent: list[httpx.Request] = []
    answers = [httpx.Response(404, json=PROBLEM) for _ in range(2)]
    client = gencredits.Client("http://credits.test/", "gc_op_x",
                               transport=recording_transport(answers, sent))
    for key in (None, "mine"):
        with pytest.raises(NotFound):
            CALLS[name](client, key)
    assert [request.method in MUTATING for request in sent] == [True, True]
    generated, given = (request.headers.get("idempotency-key") for request in sent)
    assert generated and given == "mine"


def test_every_mutating_client_method_is_listed() -> None:
    """A new client method that mutates needs a row above (so that it is checked)."""
    offered = {name for name in dir(gencredits.Client)
               if not name.startswith("_")
               and "idempotency_key" in getattr(gencredits.Client, name).__code__.co_varnames}
    assert offered == set(CALLS)
