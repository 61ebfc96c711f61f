"""Identical-key storms on a real server with two worker processes (issue 16, defect 5: "on
any worker"): for every mutating route (tests/api/mutations.py, the OpenAPI document's
mutating operations), clients on fresh connections (so both workers answer) send the
identical request with one ``Idempotency-Key`` at once. Every answer equals the first, none is
a 409 or a 500, and the storm moves every table's row count exactly as one lone request does.
SQLite and PostgreSQL; bounded by the barrier's and the clients' timeouts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import gencredits
from tests.api.mutations import REQUESTS, Call, prepare, row_counts, send
from tests.api.support import idem
from tests.reliability.harness import ServerProcess, new_operator_key
from tests.reliability.tally import Figures

CLIENTS = 8
TIMEOUT_SECONDS = 30.0


def storm(base_url: str, secret: str, call: Call) -> list[tuple[int, bytes]]:
    key = idem()
    gate = threading.Barrier(CLIENTS)

    def one(_: int) -> tuple[int, bytes]:
        with httpx.Client(base_url=base_url, timeout=TIMEOUT_SECONDS,
                          headers={"Authorization": f"Bearer {secret}"}) as client:
            gate.wait(timeout=TIMEOUT_SECONDS)
            response = send(client, call, key)
        return response.status_code, response.content

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def test_identical_key_storms_on_two_workers_answer_once(
    database_url: str, tmp_path: Path, figures: Figures
) -> None:
    with gencredits.open(database_url, pool_size=2) as credits:
        secret = new_operator_key(credits)
        engine = credits.engine
        with ServerProcess(database_url, tmp_path, workers=2, sweep_seconds=0) as server:
            server.start()
            with httpx.Client(base_url=server.base_url, timeout=TIMEOUT_SECONDS,
                              headers={"Authorization": f"Bearer {secret}"}) as api:
                for number, operation in enumerate(sorted(REQUESTS)):
                    case = REQUESTS[operation]
                    lone, _ = case(prepare(api, f"lone{number}"))
                    before = row_counts(engine)
                    status = send(api, lone, idem()).status_code
                    figures.check(status in (200, 201, 204), f"{operation}: lone {status}")
                    after = row_counts(engine)
                    once = {table: after[table] - before[table] for table in after}

                    call, _ = case(prepare(api, f"storm{number}"))
                    before = row_counts(engine)
                    answers = storm(server.base_url, secret, call)
                    after = row_counts(engine)
                    statuses = sorted({status for status, _ in answers})
                    figures.add(operations=CLIENTS + 1)
                    figures.check(set(answers) == {answers[0]},
                                  f"{operation}: answers differ ({statuses})")
                    figures.check(answers[0][0] in (200, 201, 204),
                                  f"{operation}: first answer {answers[0][0]}")
                    figures.check({table: after[table] - before[table] for table in after}
                                  == once, f"{operation}: written more than once")
            server.stop()
    figures.assert_clean()
