"""The environment is read in one place: ``gencredits/config.py``. No other module touches
``os.environ`` (or ``getenv``/``putenv``), every variable config.py reads is in its
``VARIABLES``, and README's configuration table lists exactly those."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gencredits import config
from gencredits.config import Settings
from tests.architecture.source import PACKAGE, modules, tree_of

README = PACKAGE.parents[1] / "README.md"
ENVIRONMENT_NAMES = {"environ", "getenv", "putenv", "unsetenv", "environb"}


def environment_uses(module: str) -> list[int]:
    """Lines of ``module`` that read or write the process environment."""
    def touches(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in ENVIRONMENT_NAMES
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            return any(alias.name in ENVIRONMENT_NAMES for alias in node.names)
        return False

    return [getattr(node, "lineno", 0) for node in ast.walk(tree_of(module)) if touches(node)]


@pytest.mark.parametrize("module", [m for m in modules() if m != "config.py"])
def test_only_config_reads_the_environment(module: str) -> None:
    assert not environment_uses(module), (
        f"{module} reads the environment on lines {environment_uses(module)}: "
        "add the setting to gencredits/config.py"
    )


def test_the_checker_sees_an_environment_read() -> None:
    assert environment_uses("config.py")


def readme_variables() -> set[str]:
    text = README.read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `GENCREDITS_")]
    return {name for row in rows for name in re.findall(r"`(GENCREDITS_\w+)`",
                                                        row.split(" | ")[0])}


def test_the_readme_table_lists_every_variable() -> None:
    assert readme_variables() == set(config.VARIABLES)


def test_every_variable_read_is_listed() -> None:
    source = Path(config.__file__).read_text()
    read = set(re.findall(r"\"(GENCREDITS_\w+)\"", source.split("VARIABLES", 2)[2]))
    assert read == set(config.VARIABLES)


def test_settings_parse_and_default() -> None:
    empty = Settings.of()
    assert empty.database_url == config.DEFAULT_DATABASE_URL
    assert (empty.sweep_seconds, empty.webhook_seconds, empty.pool_size) == (30, 2, 20)
    assert (empty.rate_per_second, empty.rate_burst) == (200, 400)
    assert (empty.auth_failures_per_minute, empty.auth_failure_burst) == (10, 20)
    assert empty.key_cache_seconds is None and empty.group_commit is True
    assert empty.now is None and empty.catalog_path is None and not empty.prepare_on_server
    assert empty.session_secret == ""
    given = Settings.of(database_url="postgresql://x/y", key_cache_seconds=" ",
                        group_commit="off", prepare_on_server="On", pool_size="4")
    assert given.database_url == "postgresql://x/y" and given.key_cache_seconds is None
    assert given.group_commit is False and given.prepare_on_server and given.pool_size == 4


def test_settings_are_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENCREDITS_POOL_SIZE", "7")
    monkeypatch.setenv("UNRELATED_SETTING", "1")
    settings = Settings.from_environment()
    monkeypatch.setenv("GENCREDITS_POOL_SIZE", "8")
    assert settings.pool_size == 7
    assert "UNRELATED_SETTING" not in settings.variables
