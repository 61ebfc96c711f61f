"""Every error carries its data as ``details()`` and is rebuilt from it by ``from_details()``;
the API sends ``error`` (the class name) and ``details`` in each problem body, and the HTTP
client raises the same exception from them without reading the message.

``EXAMPLES`` has one instance of every class of the tree: a new error class fails
``test_every_error_class_has_an_example`` until it is added here."""

from __future__ import annotations

import json
from typing import Any

import pytest

import gencredits
from gencredits import client_errors
from gencredits.api import problems
from gencredits.client_errors import ApiError, Forbidden, RateLimited, Unauthorized
from gencredits.domain import errors, limits
from gencredits.domain.pricing import QuoteRequest
from tests.api.support import LiveServer

EXAMPLES: list[errors.GencreditsError] = [
    errors.GencreditsError("something went wrong"),
    errors.InvalidRequest("a job reference has 1 to 200 characters", field="job_ref"),
    errors.UnknownModel("gpt-9"),
    errors.InactiveModel("flux-1", field="lines.0.model"),
    errors.UnknownOption("veo-3", "8k", ("720p", "1080p"), field="lines.0.quality"),
    errors.OutOfRange(9, 1, 4, field="lines.0.outputs", reason="at most 4 at once"),
    errors.TooManyOpenHolds(1_000),
    errors.AlreadyRefunded(42),
    errors.CatalogInvalid("price must be positive", location="catalog.yaml: flux-2-pro"),
    errors.NotFound("account", "ana", field="account_id"),
    errors.NotFound("hold", 17, field="hold_id"),
    errors.Conflict("the plan changed meanwhile"),
    errors.IdempotencyConflict("job-42"),
    errors.HoldNotPending("17", "captured"),
    errors.ExceedsHoldAmount("17", 18, 19),
    errors.BalanceCeilingExceeded(2**53 - 10, 100, 2**53 - 1),
    errors.InsufficientCredits(3, 18),
    errors.ProjectCapExceeded("acme", 10, 8, 18),
    errors.FeatureDisabled("top-up packs"),
    ApiError(502, "http_error", "bad gateway", {"detail": "bad gateway"}),
    Unauthorized(401, "unauthorized", "the key is unknown or revoked", {"status": 401}),
    Forbidden(403, "forbidden", "this needs the operator key", {"status": 403}),
    RateLimited(429, "rate_limited", "slow down", {"status": 429}, 7),
]
LIBRARY = [error for error in EXAMPLES if not isinstance(error, ApiError)]


def error_classes() -> set[type[errors.GencreditsError]]:
    """Every error class gencredits defines (the library's tree and the client's own)."""
    found: set[type[errors.GencreditsError]] = set()
    pending: list[type[errors.GencreditsError]] = [errors.GencreditsError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("gencredits.") and cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return found


def name_of(error: errors.GencreditsError) -> str:
    return f"{type(error).__name__}({error})"


def test_every_error_class_has_an_example() -> None:
    assert error_classes() == {type(error) for error in EXAMPLES}


def test_every_library_error_is_public() -> None:
    assert set(client_errors.LIBRARY_ERRORS) <= set(gencredits.__all__)
    assert set(client_errors.LIBRARY_ERRORS.values()) == {type(error) for error in LIBRARY}


@pytest.mark.parametrize("error", EXAMPLES, ids=name_of)
def test_details_rebuild_the_error(error: errors.GencreditsError) -> None:
    details = error.details()
    assert json.loads(json.dumps(details)) == details  # JSON-safe, as sent
    again = type(error).from_details(details)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.details() == details
    assert vars(again) == vars(error)


def problem_body(error: errors.GencreditsError) -> tuple[int, dict[str, Any]]:
    response = problems.from_error(error)
    body: dict[str, Any] = json.loads(bytes(response.body))
    return response.status_code, body


@pytest.mark.parametrize("error", LIBRARY, ids=name_of)
def test_the_client_rebuilds_every_error_from_the_problem_body(
    error: errors.GencreditsError,
) -> None:
    status, body = problem_body(error)
    assert body["error"] == type(error).__name__
    assert body["details"] == error.details()
    assert body["code"] == error.code and body["detail"] == str(error)
    # The message is no input: a client that reads only error and details gets it right.
    body["detail"] = body["title"] = "(not read)"
    again = client_errors.error_from_problem(status, body)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.details() == error.details()


def test_the_new_refusals_keep_their_wire_code_and_status() -> None:
    for error in (errors.TooManyOpenHolds(1_000), errors.AlreadyRefunded(42)):
        assert isinstance(error, errors.InvalidRequest)
        status, body = problem_body(error)
        assert (status, body["code"], body["type"]) == (422, "invalid_request",
                                                        "/problems/invalid_request")
    assert str(errors.TooManyOpenHolds(1_000)) == "an account may have at most 1000 open holds"
    assert errors.TooManyOpenHolds(3).field == "account_id"
    assert str(errors.AlreadyRefunded(42)) == "entry 42 is already fully refunded"
    assert errors.AlreadyRefunded(42).field == "entry_id"


def test_a_validation_error_names_its_class_too(live: LiveServer) -> None:
    with gencredits.Client(live.base_url, live.operator_key) as remote, \
            pytest.raises(errors.InvalidRequest) as refused:
        remote.grant("ana", 10, source="promo", priority=-5)
    assert type(refused.value) is errors.InvalidRequest
    assert refused.value.field == "priority"


def test_the_use_cases_raise_the_specific_refusals_in_process_and_over_http(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_OPEN_HOLDS", 2)
    flux = QuoteRequest.single("flux-2-pro", outputs=1)
    with gencredits.Client(live.base_url, live.operator_key) as remote:
        for credits, account in ((live.credits, "local"), (remote, "remote")):
            credits.create_account(account, name=account, plan="pro")
            credits.hold(account, flux)
            credits.hold(account, flux)
            with pytest.raises(errors.TooManyOpenHolds) as too_many:
                credits.hold(account, flux)
            assert too_many.value.maximum_holds == 2
            entry = credits.charge(account, flux)
            credits.refund(entry.id)
            with pytest.raises(errors.AlreadyRefunded) as refunded:
                credits.refund(entry.id)
            assert (refunded.value.entry_id, refunded.value.field) == (entry.id, "entry_id")
