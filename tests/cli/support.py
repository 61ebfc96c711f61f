"""Running the real ``gencredits`` command in a subprocess against a throwaway SQLite database,
with ``GENCREDITS_NOW`` to move time (the ``cli`` fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

START = "2026-01-31T09:00:00Z"


@dataclass
class Cli:
    database_url: str
    now: str = START

    def run(self, *args: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            # Wide enough that no table or error line wraps.
            "COLUMNS": "200",
            "GENCREDITS_DATABASE_URL": self.database_url,
            "GENCREDITS_NOW": now or self.now,
        }
        env.pop("GENCREDITS_CATALOG", None)
        return subprocess.run(
            [sys.executable, "-m", "gencredits", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, now: str | None = None) -> str:
        """Human output of a command that must succeed."""
        result = self.run(*args, now=now)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def json(self, *args: str, now: str | None = None) -> Any:
        """JSON output (``--json`` goes before a ``--`` that ends the options)."""
        at = args.index("--") if "--" in args else len(args)
        return json.loads(self.ok(*args[:at], "--json", *args[at:], now=now))

    def refused(self, *args: str, code: int, now: str | None = None) -> str:
        """A refusal: exit ``code``, nothing on stdout, one line on stderr (returned)."""
        result = self.run(*args, now=now)
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        return lines[0]
