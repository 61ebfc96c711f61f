"""What the architecture guards read: the package's modules, their imports, their sizes.

Every guard here is a ratchet: today's exceptions are listed by name, a new one fails the
suite, and an exception that is no longer needed fails it too, so each list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "gencredits"


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, as a path below the package: "api/app.py"
    name: str  # the imported module: "gencredits.store.engine"
    names: tuple[str, ...]  # for "from x import a, b": ("a", "b"); for "import x": ()


def modules() -> list[str]:
    """Every module of the package, as a path below it ("service/holds.py")."""
    return sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))


@cache
def tree_of(module: str) -> ast.Module:
    path = PACKAGE / module
    return ast.parse(path.read_text(), filename=str(path))


def layer_of(module: str) -> str:
    """The folder a module belongs to ("service"), or the module's own name at the top
    ("client", "server")."""
    first = module.split("/")[0]
    return first.removesuffix(".py")


def imports_of(module: str) -> Iterator[Import]:
    """Every absolute import in ``module``, at any depth (imports inside functions count)."""
    for node in ast.walk(tree_of(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, ())
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(module, node.module, tuple(alias.name for alias in node.names))


def line_count(module: str) -> int:
    return len((PACKAGE / module).read_text().splitlines())


def function_lengths(module: str) -> Iterator[tuple[str, int]]:
    """(qualified name, lines from the first decorator to the last line) of every function."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                assert child.end_lineno is not None
                name = f"{prefix}{child.name}"
                yield name, child.end_lineno - start + 1
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree_of(module), "")
