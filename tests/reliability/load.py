"""HTTP load for the crash tests: client threads that charge, hold, capture, release and refund,
each mutation under its own idempotency key, retrying it until the server acknowledges it.

A client never gives up on a mutation it has sent: while the server is down (killed, or its
database stopped) it sends the same request with the same key again, so the server must apply
it exactly once however many times it arrives. What the server acknowledged is kept as an
:class:`Ack`, to be checked against the database afterwards (checks.py).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

IMAGE_MODELS = ("nano-banana-2", "flux-2-flex", "flux-2-pro", "imagen-4", "recraft-v4")
RETRY_PAUSE_SECONDS = 0.02
GIVE_UP_SECONDS = 120.0  # a mutation not acknowledged in this long is an anomaly
REFUSED = 402


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledged mutation: what was asked, under which key, and the answer."""

    operation: str  # charge, hold, capture, release, refund
    account_id: str
    key: str
    status: int
    body: dict[str, Any]
    attempts: int


@dataclass
class InFlight:
    """How many requests are on the wire right now (to know a kill hit work in progress)."""

    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> None:
        with self.lock:
            self.count += 1

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.count -= 1


class LoadClient(threading.Thread):
    """One client of one account, mutating it until ``stop`` is set."""

    def __init__(
        self,
        base_url: str,
        operator_key: str,
        account_id: str,
        seed: str,
        stop: threading.Event,
        in_flight: InFlight,
    ) -> None:
        super().__init__(name=f"load-{account_id}-{seed}", daemon=True)
        self.base_url = base_url
        self.operator_key = operator_key
        self.account_id = account_id
        self.random = random.Random(seed)
        self.stop = stop
        self.in_flight = in_flight
        self.acks: list[Ack] = []
        self.anomalies: list[str] = []
        self.retries = 0
        self.server_errors = 0
        # 5xx answers by (status, problem code, Retry-After): a database outage must be told as
        # 503 database_unavailable with Retry-After, never as a bare 500.
        self.server_error_kinds: dict[tuple[int, str | None, str | None], int] = {}
        self._refundable: list[int] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.operator_key}"}
        try:
            with httpx.Client(base_url=self.base_url, headers=headers, timeout=15.0) as client:
                while not self.stop.is_set():
                    self._one_operation(client)
        except _GaveUp as error:
            self.anomalies.append(str(error))
        except Exception as error:  # any surprise is an anomaly, not a silent thread death
            self.anomalies.append(f"{self.name}: {type(error).__name__}: {error}")

    # --- operations -----------------------------------------------------------------------

    def _one_operation(self, client: httpx.Client) -> None:
        roll = self.random.random()
        if roll < 0.55:
            self._charge(client)
        elif roll < 0.9:
            self._hold_and_settle(client)
        elif self._refundable:
            self._refund(client)
        else:
            self._charge(client)

    def _charge(self, client: httpx.Client) -> None:
        body = {
            "lines": [
                {
                    "model": self.random.choice(IMAGE_MODELS),
                    "outputs": self.random.randint(1, 4),
                    "count": self.random.randint(1, 2),
                }
            ]
        }
        ack = self._send(client, "charge", f"/v1/accounts/{self.account_id}/charges", body,
                         expected=(201, REFUSED))
        if ack.status == 201:
            self._refundable.append(int(ack.body["id"]))

    def _hold_and_settle(self, client: httpx.Client) -> None:
        if self.random.random() < 0.5:
            line: dict[str, Any] = {"model": "kling", "seconds": self.random.randint(3, 5)}
        else:
            line = {"model": self.random.choice(IMAGE_MODELS), "outputs": self.random.randint(2, 4)}
        held = self._send(client, "hold", f"/v1/accounts/{self.account_id}/holds",
                          {"lines": [line]}, expected=(201, REFUSED))
        if held.status != 201:
            return
        hold_id, amount = int(held.body["id"]), int(held.body["amount"])
        choice = self.random.randrange(4)
        if choice == 0:
            self._send(client, "release", f"/v1/holds/{hold_id}/release", None, expected=(200,))
            return
        settle: dict[str, Any] = {}
        if choice == 1:
            settle = {"amount": self.random.randint(0, amount)}
        elif choice == 2 and "outputs" in line:
            settle = {"outputs_delivered": self.random.randint(0, line["outputs"])}
        self._send(client, "capture", f"/v1/holds/{hold_id}/capture", settle, expected=(200,))

    def _refund(self, client: httpx.Client) -> None:
        entry_id = self._refundable.pop(self.random.randrange(len(self._refundable)))
        self._send(client, "refund", f"/v1/entries/{entry_id}/refund",
                   {"reason": "reliability test"}, expected=(201,))

    # --- the retry loop -------------------------------------------------------------------

    def _send(
        self,
        client: httpx.Client,
        operation: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        expected: tuple[int, ...],
    ) -> Ack:
        """POST until acknowledged: the same key and body every time."""
        key = f"{operation}-{uuid.uuid4().hex}"
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                with self.in_flight:
                    response = client.post(path, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 500:
                if response.status_code not in expected:
                    raise _GaveUp(
                        f"{operation} {path} (key {key}, attempt {attempts}) answered "
                        f"{response.status_code}: {response.text[:300]}"
                    )
                ack = Ack(operation, self.account_id, key, response.status_code,
                          response.json(), attempts)
                self.acks.append(ack)
                return ack
            if response is not None:
                self.server_errors += 1
                kind = (response.status_code, _problem_code(response),
                        response.headers.get("retry-after"))
                self.server_error_kinds[kind] = self.server_error_kinds.get(kind, 0) + 1
            self.retries += 1
            if time.monotonic() - started > GIVE_UP_SECONDS:
                raise _GaveUp(f"{operation} {path} (key {key}) never acknowledged")
            time.sleep(RETRY_PAUSE_SECONDS)


def _problem_code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        return str(response.json().get("code"))
    except ValueError:
        return None


class _GaveUp(Exception):
    pass
