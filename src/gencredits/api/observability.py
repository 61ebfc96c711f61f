"""Request ids, structured JSON logs, Prometheus metrics, body limits and rate limits.

One pure-ASGI middleware does the per-request work, so streaming bodies are counted as they
arrive (a request over ``MAX_BODY_BYTES`` is refused with 413 before it is read whole).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException as StarletteHTTPException

from gencredits.api.problems import PROBLEM_JSON, TITLES
from gencredits.service.group_commit import GroupCommitter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024

log = logging.getLogger("gencredits.http")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gencredits_http_requests_total", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gencredits_http_request_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.charges = Counter(
            "gencredits_charges_total", "Charges accepted", registry=self.registry
        )
        self.charged_credits = Counter(
            "gencredits_charged_credits_total", "Credits charged", registry=self.registry
        )
        self.holds = Counter(
            "gencredits_holds_total", "Holds by outcome", ["outcome"], registry=self.registry
        )
        self.refusals = Counter(
            "gencredits_refusals_total", "Refused requests by problem code", ["code"],
            registry=self.registry,
        )
        # The labelled children of each (method, route, status), looked up once: ``labels()``
        # costs more than the increment. Routes are templates, so the set stays small.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._request_children.get((method, route, status))
        if children is None:
            children = (self.requests.labels(method, route, str(status)),
                        self.latency.labels(method, route))
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)


class GroupCommitCollector(Collector):
    """The group committer's counters, read when ``/metrics`` is scraped: transactions
    committed and the charges they carried (their ratio is the mean batch). Nothing while
    group commit is off."""

    def __init__(self, committer: Callable[[], GroupCommitter | None]) -> None:
        self._committer = committer

    def collect(self) -> Iterator[Metric]:
        committer = self._committer()
        if committer is None:
            return
        yield CounterMetricFamily(
            "gencredits_group_commit_batches", "Group-commit transactions (one fsync each)",
            value=committer.batches,
        )
        yield CounterMetricFamily(
            "gencredits_group_commit_charges", "Charges applied by group commit",
            value=committer.charges,
        )


class RequestMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or secrets.token_hex(16)
        started = time.perf_counter()
        status_holder = {"status": 500}
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _too_large(send, request_id, self.max_body_bytes)
            self._done(scope, 413, started, request_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            await _too_large(send, request_id, self.max_body_bytes)
            status_holder["status"] = 413
        self._done(scope, status_holder["status"], started, request_id)

    def _done(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.observe_request(method, path, status, elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(json.dumps({
                "event": "request", "request_id": request_id, "method": method,
                "path": scope.get("path"), "route": path, "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "key": getattr(scope.get("state", {}), "get", lambda _k: None)("principal"),
            }))


class BodyTooLarge(StarletteHTTPException):
    """Raised as a streamed body passes the limit. It is an HTTPException because FastAPI's
    body reader passes those on and turns any other error into a 400 ("error parsing the
    body"); the problem handler then answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    body = json.dumps({
        "type": "/problems/body_too_large", "title": TITLES["body_too_large"], "status": 413,
        "detail": f"request bodies are limited to {limit} bytes", "code": "body_too_large",
        "field": "body",
    }).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]})
    await send({"type": "http.response.body", "body": body})


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("gencredits")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
