"""``Gencredits`` and ``Client`` both answer ``CreditsApi``. mypy --strict holds their types to
it (``gencredits.server.credits_apis``); this checks the same at run time by name, so a door
renamed on one side fails here too."""

from __future__ import annotations

import inspect

import pytest

from gencredits import Client, Gencredits
from gencredits.protocol import CreditsApi

DOORS = sorted(
    name for name, value in vars(CreditsApi).items()
    if callable(value) and (not name.startswith("_") or name in ("__enter__", "__exit__"))
)


@pytest.mark.parametrize("implementation", [Gencredits, Client])
def test_both_front_doors_are_credits_apis(implementation: type) -> None:
    assert issubclass(implementation, CreditsApi)


@pytest.mark.parametrize("name", DOORS)
@pytest.mark.parametrize("implementation", [Gencredits, Client])
def test_every_keyword_of_the_protocol_is_taken(implementation: type, name: str) -> None:
    wanted = inspect.signature(getattr(CreditsApi, name)).parameters
    offered = inspect.signature(getattr(implementation, name)).parameters
    for parameter in wanted.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            assert parameter.name in offered, f"{implementation.__name__}.{name}: {parameter}"
            assert offered[parameter.name].default is not inspect.Parameter.empty or (
                parameter.default is inspect.Parameter.empty
            ), f"{implementation.__name__}.{name}: {parameter.name} needs a default"


def test_the_protocol_names_the_money_calls() -> None:
    assert {"charge", "hold", "capture", "release", "refund", "history", "grant", "transfer",
            "create_account", "verify"} <= set(DOORS)
