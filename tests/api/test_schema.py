"""Schemathesis against the served ``/openapi.json``: no input makes a 5xx, and every
documented answer matches its schema.

Each operation gets 25 schema-valid and 10 schema-invalid examples (Hypothesis derandomized:
the same examples every run, no example database), sent over HTTP with the operator key and a
fresh ``Idempotency-Key`` (so mutations really happen instead of replaying). Half the examples
name the real ``ana`` account, a real hold and a real entry instead of random ids, so the
generated bodies reach the ledger code and not only the 404 path.

Checks: ``not_a_server_error`` and ``response_schema_conformance``. Not run:
``status_code_conformance``, because the routes document their success and the shared
401/402/422 answers but not every 404/409 a state can produce; the problem-details shape of
those is asserted in test_problems.py instead.

Schemathesis' own pytest plugin (``schemathesis.pytest.from_fixture``) writes
``request.node._nodeid``, which pytest 9 no longer has, so the operations are driven here with
``APIOperation.as_strategy()`` and Hypothesis directly.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.support import FLUX_4, LiveServer, idem, open_account

# Schema-valid examples reach the code behind validation, so they get most of the budget;
# schema-invalid ones mostly meet the 422 at the edge.
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
CHECKS = [not_a_server_error, response_schema_conformance]


def check_operation(
    operation: Any, mode: GenerationMode, live: LiveServer, real_ids: dict[str, Any],
    session: requests.Session,
) -> None:
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), use_real_ids=st.booleans())
    def run(case: Any, use_real_ids: bool) -> None:
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        if use_real_ids and case.path_parameters:
            for name in case.path_parameters:
                case.path_parameters[name] = real_ids.get(name, case.path_parameters[name])
        case.call_and_validate(
            session=session, headers={"Authorization": f"Bearer {live.operator_key}"},
            checks=CHECKS,
        )

    run()


def test_the_api_keeps_its_schema(live: LiveServer) -> None:
    api = live.client()
    open_account(api, "ana")
    charge = api.post("/v1/accounts/ana/charges", json=FLUX_4, headers=idem()).json()
    hold = api.post("/v1/accounts/ana/holds", json=FLUX_4, headers=idem()).json()
    real_ids = {"account_id": "ana", "entry_id": charge["id"], "hold_id": hold["id"],
                "model_id": "flux-2-pro", "plan_id": "pro"}
    schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
    failures: list[str] = []
    operations = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    check_operation(operation, mode, live, real_ids, session)
                except Unsatisfiable:
                    # Negative mode has nothing to break in an operation whose every input
                    # is valid (no parameters, or free strings only): nothing to test there.
                    assert mode is GenerationMode.NEGATIVE, operation.label
                except (Exception, BaseExceptionGroup) as failure:  # report them all
                    failures.append(f"{mode.value} {operation.label}:\n{failure}")
    assert operations >= 37  # every documented operation was exercised
    assert not failures, "\n\n".join(failures)
    assert api.get("/v1/verify").json()["ok"] is True  # and the ledger still adds up
