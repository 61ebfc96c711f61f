"""The reliability figures: what the tests below actually exercised, gathered as they run.

Each test asks for its :class:`Figures` (the ``figures`` fixture) and adds what it did: server
processes killed and survived, operations whose outcome it checked against the database,
inputs it tried. An anomaly is anything a check found wrong; a test records it before failing,
so the summary can say how many there were (there must be none). Figures from worker processes
are returned to the test and added there: nothing here is shared between processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Figures:
    """One test's figures."""

    name: str
    kills: int = 0
    operations: int = 0
    inputs: int = 0
    controls_flagged: int = 0
    notes: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, kills: int = 0, operations: int = 0, inputs: int = 0) -> None:
        with self._lock:
            self.kills += kills
            self.operations += operations
            self.inputs += inputs

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def anomaly(self, text: str) -> None:
        with self._lock:
            self.anomalies.append(text)

    def check(self, condition: bool, text: str) -> bool:
        """Record ``text`` as an anomaly unless ``condition`` holds; returns ``condition``."""
        if not condition:
            self.anomaly(text)
        return condition

    def assert_clean(self) -> None:
        """Fail the test with every anomaly found (at most 20 shown)."""
        assert not self.anomalies, f"{len(self.anomalies)} anomalies:\n" + "\n".join(
            self.anomalies[:20]
        )


@dataclass
class Tally:
    """Every reliability test's figures in this pytest session."""

    tests: dict[str, Figures] = field(default_factory=dict)

    def for_test(self, name: str) -> Figures:
        return self.tests.setdefault(name, Figures(name))

    def total(self, attribute: str) -> int:
        if attribute == "anomalies":
            return sum(len(f.anomalies) for f in self.tests.values())
        return sum(int(getattr(f, attribute)) for f in self.tests.values())

    def summary_line(self) -> str:
        return (
            f"reliability: kills survived {self.total('kills')}, "
            f"operations checked {self.total('operations')}, "
            f"inputs tried {self.total('inputs')}, "
            f"anomalies {self.total('anomalies')}"
        )

    def detail_lines(self) -> list[str]:
        lines = []
        for name, f in sorted(self.tests.items()):
            flagged = f.controls_flagged
            extra = f", negative controls flagged {flagged}" if flagged else ""
            notes = f"  ({'; '.join(f.notes)})" if f.notes else ""
            lines.append(
                f"  {name}: kills {f.kills}, operations {f.operations}, inputs {f.inputs}, "
                f"anomalies {len(f.anomalies)}{extra}{notes}"
            )
        return lines
