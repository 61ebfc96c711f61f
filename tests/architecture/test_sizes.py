"""Rooms stay small: modules at most 400 lines, functions at most 70 (TigerBeetle's limit).

Today's offenders are ceilings that can only fall: growing past one fails, and so does
shrinking below it without lowering it here (or striking it, once within the limit). Two
rooms are exempt by name: the first migration's DDL (one table after another, read as a
whole) and the typed facade (one typed door per use case, no logic).
"""

from __future__ import annotations

from tests.architecture.source import function_lengths, line_count, modules

MODULE_LINES = 400
FUNCTION_LINES = 70

EXEMPT_MODULES = {
    "store/migrations/versions/0001_the_ledger_schema.py",
    "service/facade.py",
}

MODULE_CEILINGS: dict[str, int] = {
}

FUNCTION_CEILINGS: dict[str, int] = {
}


def module_sizes() -> dict[str, int]:
    return {m: line_count(m) for m in modules() if m not in EXEMPT_MODULES}


def function_sizes() -> dict[str, int]:
    return {
        f"{module}:{name}": lines
        for module in modules()
        if module not in EXEMPT_MODULES
        for name, lines in function_lengths(module)
    }


def ratchet(sizes: dict[str, int], ceilings: dict[str, int], limit: int) -> list[str]:
    problems = []
    for name, lines in sorted(sizes.items()):
        ceiling = ceilings.get(name, limit)
        if lines > ceiling:
            problems.append(f"{name} has {lines} lines (at most {ceiling}): split it")
    for name, ceiling in sorted(ceilings.items()):
        lines = sizes.get(name, 0)
        if lines <= limit:
            problems.append(f"{name} is within {limit} lines now: strike its ceiling")
        elif lines < ceiling:
            problems.append(f"{name} fell to {lines} lines: lower its ceiling from {ceiling}")
    return problems


def test_modules_stay_small() -> None:
    problems = ratchet(module_sizes(), MODULE_CEILINGS, MODULE_LINES)
    assert not problems, "\n".join(problems)


def test_functions_fit_on_a_screen() -> None:
    problems = ratchet(function_sizes(), FUNCTION_CEILINGS, FUNCTION_LINES)
    assert not problems, "\n".join(problems)


def test_the_exemptions_still_exist() -> None:
    assert set(modules()) >= EXEMPT_MODULES


def test_the_ratchet_refuses_growth_and_stale_ceilings() -> None:
    assert ratchet({"a.py": 401}, {}, 400) == ["a.py has 401 lines (at most 400): split it"]
    assert ratchet({"a.py": 500}, {"a.py": 510}, 400) == [
        "a.py fell to 500 lines: lower its ceiling from 510"
    ]
    assert ratchet({"a.py": 390}, {"a.py": 510}, 400) == [
        "a.py is within 400 lines now: strike its ceiling"
    ]
    assert ratchet({"a.py": 510}, {"a.py": 510}, 400) == []
