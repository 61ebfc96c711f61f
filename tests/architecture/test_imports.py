"""The import contracts of ARCHITECTURE.md, checked by walking every module's imports.

Layers import one way (domain <- documents, store <- service <- api, cli, web); the edges and
the HTTP client never reach the store; the client never reaches the service; the dashboard
uses only the API's shared HTTP module. Today's violations are listed in ``EXCEPTIONS``: a new
one fails, and one that is gone must be struck off (the list only shrinks).
"""

from __future__ import annotations

import ast
import sys

import pytest

from tests.architecture.source import Import, imports_of, layer_of, modules, tree_of

# The gencredits layers each layer may import. Top-level modules are layers of their own:
# the package's __init__ and server.py (the composition root) may import anything.
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "documents": {"domain", "documents"},
    "store": {"domain", "documents", "store", "config"},
    "service": {"domain", "documents", "store", "service", "config"},
    "api": {"domain", "documents", "service", "api", "config"},
    "cli": {"domain", "documents", "service", "cli", "server", "config", "client"},
    "web": {"domain", "documents", "service", "web", "api.http", "config"},
    "client": {"domain", "documents", "protocol", "client_errors", "client_http"},
    "client_http": {"domain", "documents", "client_errors"},
    "client_errors": {"domain", "documents"},
    "protocol": {"domain", "documents"},
    "config": {"domain"},
    "data": set(),
    "__main__": {"cli"},
}
EVERYTHING = {"__init__", "server"}

# (importing module, imported module) pairs that break a contract today, each to be removed
# by the renovation (issue: the renovation). The test below fails when one is no longer needed.
EXCEPTIONS: set[tuple[str, str]] = set()  # all struck: a new violation fails the suite


def breaks_contract(found: Import) -> bool:
    parts = found.name.split(".")
    if parts[0] != "gencredits" or len(parts) < 2:
        return False
    layer = layer_of(found.module)
    if layer in EVERYTHING:
        return False
    allowed = ALLOWED[layer]
    target = parts[1].removesuffix(".py")
    # A layer may be allowed as a whole ("api") or one module of it ("api.http").
    return target not in allowed and ".".join(parts[1:3]) not in allowed


def violations() -> set[tuple[str, str]]:
    return {
        (found.module, found.name)
        for module in modules()
        for found in imports_of(module)
        if breaks_contract(found)
    }


def test_every_layer_is_known() -> None:
    unknown = {layer_of(module) for module in modules()} - set(ALLOWED) - EVERYTHING
    assert not unknown, f"add the new layer(s) to ALLOWED: {sorted(unknown)}"


def test_layers_import_one_way() -> None:
    new = violations() - EXCEPTIONS
    assert not new, "imports that break the layer contracts: " + ", ".join(
        f"{module} -> {name}" for module, name in sorted(new)
    )


def test_every_exception_is_still_needed() -> None:
    gone = EXCEPTIONS - violations()
    assert not gone, "strike these from EXCEPTIONS, they are fixed: " + ", ".join(
        f"{module} -> {name}" for module, name in sorted(gone)
    )


@pytest.mark.parametrize("module", [m for m in modules() if m.startswith("domain/")])
def test_domain_imports_only_the_standard_library(module: str) -> None:
    for found in imports_of(module):
        top = found.name.split(".")[0]
        if top == "gencredits":
            assert found.name.startswith("gencredits.domain"), f"{module} imports {found.name}"
        else:
            assert top in sys.stdlib_module_names, f"{module} imports {found.name}"


def test_the_checker_sees_a_forbidden_import() -> None:
    assert breaks_contract(Import("api/app.py", "gencredits.store.engine", ()))
    assert breaks_contract(Import("web/core.py", "gencredits.api.deps", ()))
    assert not breaks_contract(Import("web/core.py", "gencredits.api.http", ()))
    assert breaks_contract(Import("client.py", "gencredits.service.holds", ()))
    assert not breaks_contract(Import("server.py", "gencredits.store.engine", ()))
    assert not breaks_contract(Import("api/app.py", "sqlalchemy", ()))


EDGES = ("api", "cli", "web")


@pytest.mark.parametrize("module", [m for m in modules() if layer_of(m) in EDGES])
def test_edges_never_reach_past_the_facade(module: str) -> None:
    """The edges call ``Gencredits``' doors (ping, keys, events, webhooks, shared state), never
    its ``engine``: a statement an edge needs is a facade method, not a connection."""
    reaches = [
        node.lineno
        for node in ast.walk(tree_of(module))
        if isinstance(node, ast.Attribute) and node.attr in ("engine", "_context")
    ]
    assert not reaches, f"{module} reaches past the facade on lines {reaches}"
