"""Operator documents through the API are strict (issue 16, defect 11): the entries and plans of
tests/documents/test_strict_documents.py sent as JSON bodies to PUT /v1/catalog/{id} and
PUT /v1/plans/{id} are refused with a 422 naming the field, and nothing is published."""

from __future__ import annotations

from tests.api.support import LiveServer
from tests.documents.test_strict_documents import (
    NOT_INTEGERS,
    PLAN,
    PLAN_INTEGER_FIELDS,
    entry_cases,
    with_field,
)


def test_the_api_refuses_loose_operator_documents(live: LiveServer) -> None:
    api = live.client()
    version = live.credits.catalog().version
    for entry, field, value in entry_cases(files=False):
        body = {k: v for k, v in entry.items() if k != "id"}
        answer = api.put(f"/v1/catalog/{entry['id']}", json=body)
        assert answer.status_code == 422, (field, value, answer.text)
        assert field in f"{answer.json()['field']} {answer.json()['detail']}", answer.text
    for path in PLAN_INTEGER_FIELDS:
        for value in NOT_INTEGERS:
            body = {k: v for k, v in with_field(PLAN, path, value).items() if k != "id"}
            answer = api.put("/v1/plans/probe-plan", json=body)
            assert answer.status_code == 422, (path, value, answer.text)
            assert path[-1] in answer.json()["field"], answer.text
    assert live.credits.catalog().version == version
    assert "probe-plan" not in {plan.id for plan in live.credits.plans()}
