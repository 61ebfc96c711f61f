"""The reliability suite's plugin: a session-wide tally of what the tests exercised, printed at
the end of every run that included them (``make test`` and ``make reliability-report``)::

    reliability: kills survived N, operations checked N, inputs tried N, anomalies 0

Each test takes the ``figures`` fixture and adds its own numbers (see tally.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from gencredits.api.app import ApiSettings
from tests.reliability.harness import QUIET, InThreadServer
from tests.reliability.tally import Figures, Tally

TALLY_KEY = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TALLY_KEY] = Tally()


@pytest.fixture(scope="session")
def reliability_tally(request: pytest.FixtureRequest) -> Tally:
    """The session's collector (one per pytest run)."""
    return request.config.stash[TALLY_KEY]


@pytest.fixture
def figures(request: pytest.FixtureRequest, reliability_tally: Tally) -> Figures:
    """This test's figures, registered with the session's collector."""
    name = request.node.nodeid.rsplit("/", 1)[-1]
    return reliability_tally.for_test(name)


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., InThreadServer]]:
    """Start in-thread servers over ``database_url`` (sweep, webhooks and rate limit off unless
    the settings say otherwise); each is stopped, and its clients closed, after the test."""
    with contextlib.ExitStack() as stack:

        def start(settings: ApiSettings = QUIET) -> InThreadServer:
            return stack.enter_context(InThreadServer(database_url, settings))

        yield start


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    tally = config.stash.get(TALLY_KEY, None)
    if tally is None or not tally.tests:
        return
    terminalreporter.section("reliability summary")
    for line in tally.detail_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(tally.summary_line(), bold=True)
