"""The import rules of CONVENTIONS.md, checked by walking every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gencredits"

# Which gencredits layers each layer may import. Imports flow one way:
# domain <- store, service <- api, cli, web.
ALLOWED = {
    "domain": {"domain"},
    "store": {"domain", "store"},
    "service": {"domain", "store", "service"},
    "api": {"domain", "store", "service", "api"},
    "cli": {"domain", "store", "service", "cli", "api", "web"},
    "web": {"domain", "store", "service", "api", "web"},
    "data": set(),
}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("path", modules_of("domain"), ids=lambda p: p.name)
def test_domain_imports_only_the_standard_library(path: Path) -> None:
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top == "gencredits":
            assert name.startswith("gencredits.domain"), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names, f"{path.name} imports {name}"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_one_way(layer: str) -> None:
    for path in modules_of(layer):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "gencredits" and len(parts) > 1:
                assert parts[1] in ALLOWED[layer], f"{layer}/{path.name} imports {name}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom gencredits.store import x\n")
    assert imported_modules(bad) == ["sqlalchemy", "gencredits.store"]
