"""No SQL outside ``store/``: elsewhere SQLAlchemy is imported only for the ``Connection`` and
``Engine`` types, and no string holds a statement. Today's exceptions are listed per module
with what each still uses; the lists only shrink (a name no longer used must be struck)."""

from __future__ import annotations

import ast
import re

from tests.architecture.source import imports_of, modules, tree_of

TYPES_ONLY = {"Connection", "Engine"}
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|PRAGMA|BEGIN|CREATE|ALTER)\b")

EXCEPTIONS: dict[str, set[str]] = {}


def sql_uses(module: str) -> set[str]:
    """What ``module`` uses of SQL: SQLAlchemy names past the two types, and statement text."""
    found: set[str] = set()
    for imported in imports_of(module):
        if imported.name.split(".")[0] != "sqlalchemy":
            continue
        if not imported.names:
            found.add(imported.name)
        found.update(
            f"{imported.name}.{name}" for name in imported.names if name not in TYPES_ONLY
        )
    for node in ast.walk(tree_of(module)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = STATEMENT.match(node.value)
            if match:
                found.add(f"sql: {match.group(1)}")
    return found


def outside_store() -> dict[str, set[str]]:
    uses = {m: sql_uses(m) for m in modules() if not m.startswith("store/")}
    return {module: names for module, names in uses.items() if names}


def test_no_sql_outside_the_store() -> None:
    found = outside_store()
    new = {m: sorted(n - EXCEPTIONS.get(m, set())) for m, n in found.items()}
    new = {m: n for m, n in new.items() if n}
    assert not new, f"SQL outside store/ (move it into store/queries): {new}"


def test_every_exception_is_still_needed() -> None:
    found = outside_store()
    gone = {m: sorted(n - found.get(m, set())) for m, n in EXCEPTIONS.items()}
    gone = {m: n for m, n in gone.items() if n}
    assert not gone, f"strike these from EXCEPTIONS, they are gone: {gone}"


def test_the_checker_sees_sql() -> None:
    assert STATEMENT.match("  SELECT 1")
    assert STATEMENT.match("INSERT INTO x VALUES (1)")
    assert not STATEMENT.match("Select a plan")
