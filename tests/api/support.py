"""Helpers shared by the API tests: the running server's handle and problem checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

import gencredits
from gencredits.api.app import ApiSettings
from gencredits.service import keys
from gencredits.store.engine import read_transaction
from gencredits.store.tables import entries

START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
QUIET = ApiSettings(sweep_interval_seconds=0, webhook_interval_seconds=0, rate_per_second=0)


@dataclass
class LiveServer:
    """One running server, its service, its clock and an operator key."""

    base_url: str
    credits: gencredits.Gencredits
    clock: gencredits.ManualClock
    operator_key: str
    app: Any
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        """An httpx client that sends ``key`` (the operator key by default) as a bearer."""
        sent = {"Authorization": f"Bearer {key or self.operator_key}", **headers}
        client = httpx.Client(base_url=self.base_url, headers=sent, timeout=30)
        self._clients.append(client)
        return client

    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self._clients.append(client)
        return client

    def account_key(self, account_id: str) -> str:
        _, secret = keys.create_key(
            self.credits.engine, account_id=account_id, name=f"key for {account_id}",
            now=self.clock.now(),
        )
        return secret

    def entry_count(self, account_id: str | None = None) -> int:
        """Ledger entries of one account (or of all): refused mutations must not change it."""
        statement = select(func.count()).select_from(entries)
        if account_id is not None:
            statement = statement.where(entries.c.account_id == account_id)
        with read_transaction(self.credits.engine) as connection:
            return int(connection.execute(statement).scalar_one())

    def close(self) -> None:
        for client in self._clients:
            client.close()


def new_key() -> str:
    return uuid.uuid4().hex


def idem(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or new_key()}


def open_account(api: httpx.Client, account_id: str, plan: str = "pro", **body: Any) -> Any:
    response = api.post(
        "/v1/accounts", json={"id": account_id, "name": account_id.title(), "plan": plan, **body},
        headers=idem(),
    )
    assert response.status_code == 201, response.text
    return response.json()


FLUX_4 = {"lines": [{"model": "flux-2-pro", "outputs": 4}]}  # 18 credits (10% off 20)


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem detail with the given status (and code and field, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    for member in ("type", "title", "status", "detail", "code"):
        assert member in body, f"{member} missing from {body}"
    assert body["status"] == status
    assert body["type"] == f"/problems/{body['code']}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body
