"""CSV the product writes (usage reports, margins), safe to open in a spreadsheet.

Two defects of plain ``csv.writer`` output are closed here, for every CSV in one place:

* **Formula injection.** A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``,
  a tab or a carriage return as a formula, so a project label ``=HYPERLINK(...)`` would become a
  link in the operator's sheet. Such a text cell gets a leading ``'`` (OWASP's advice), which
  spreadsheets show as text; numbers, and text that is just a number (``-12.5``), are left as
  they are.
* **Line breaks.** With ``lineterminator="\\n"`` the writer leaves a lone ``\\r`` unquoted, which
  splits the row for most readers. Rows end with ``\\r\\n`` (RFC 4180), so every field holding
  ``\\r`` or ``\\n`` is quoted, and the ``csv`` module reads the same rows back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet will read it as data: formula-like text gets a leading '."""
    formula_like = isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
    if formula_like and not _PLAIN_NUMBER.fullmatch(str(value)):
        return "'" + str(value)
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document of ``header`` and ``rows``, every cell through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return buffer.getvalue()
