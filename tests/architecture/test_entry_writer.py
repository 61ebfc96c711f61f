"""One writer of entry rows: ``service/book.py`` lays out every entry (``entry_row``) and
writes it (``write_entries``); no other module builds an insert into the ``entries`` table or
calls the store's entry insert. A new column of the ledger is then added in one place."""

from __future__ import annotations

import ast

from tests.architecture.source import modules, tree_of

WRITER = "service/book.py"
# The statement itself, and the package that re-exports it for the writer.
STORE = {"store/queries/entries.py", "store/queries/__init__.py"}
STORE_INSERT = "insert_entries"


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def entry_inserts(tree: ast.AST) -> list[str]:
    """What in ``tree`` writes entry rows: ``insert(entries)``, ``entries.insert()``, an
    ``INSERT INTO entries`` string, or a use of the store's ``insert_entries``."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = _name(node.func)
            if callee == "insert" and node.args and _name(node.args[0]) == "entries":
                found.append(f"line {node.lineno}: insert(entries)")
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "insert"
                and _name(node.func.value) == "entries"
                and not node.args  # Table.insert(), not a list's insert(index, item)
            ):
                found.append(f"line {node.lineno}: entries.insert()")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "insert into entries" in " ".join(node.value.lower().split()):
                found.append(f"line {node.lineno}: INSERT INTO entries")
        elif isinstance(node, ast.Name | ast.Attribute) and _name(node) == STORE_INSERT:
            found.append(f"line {node.lineno}: {STORE_INSERT}")
        elif isinstance(node, ast.ImportFrom) and any(
            alias.name == STORE_INSERT for alias in node.names
        ):
            found.append(f"line {node.lineno}: imports {STORE_INSERT}")
    return found


def test_only_the_book_writes_entries() -> None:
    offenders = {
        module: found
        for module in modules()
        if module != WRITER and module not in STORE
        for found in [entry_inserts(tree_of(module))]
        if found
    }
    assert not offenders, (
        f"entry rows are laid out by service/book.py's entry_row and written by its "
        f"write_entries alone: {offenders}"
    )


def test_the_book_is_the_writer() -> None:
    assert entry_inserts(tree_of(WRITER)), "service/book.py no longer writes entries: update"


def test_the_checker_sees_an_entry_insert() -> None:
    assert entry_inserts(ast.parse("connection.execute(insert(entries).values(a=1))"))
    assert entry_inserts(ast.parse("connection.execute(tables.entries.insert())"))
    assert entry_inserts(ast.parse("c.exec_driver_sql('INSERT  INTO entries (id) VALUES (1)')"))
    assert entry_inserts(ast.parse("queries.insert_entries(connection, rows)"))
    assert not entry_inserts(ast.parse("connection.execute(insert(holds).values(a=1))"))
    assert not entry_inserts(ast.parse("entries.insert(0, entry)"))
