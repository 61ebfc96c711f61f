"""Every CSV the product writes is safe to open in a spreadsheet (issue 16, defect 4).

Labels a creator or operator chose (projects, model names) that start like a formula get a
leading ``'``; fields holding CR or LF are quoted; the ``csv`` module reads back exactly the rows
written. Covered: the usage report (``GET /v1/accounts/{id}/report.csv``, the same text as
``gencredits report --csv``) and the margins (``gencredits margins --csv``), on both backends.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace

from gencredits.cli.report_commands import margins_csv
from gencredits.service.csv_text import FORMULA_PREFIXES
from tests.api.support import LiveServer

LABELS = ('=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3",
          "@SUM(1,2)", "\t=1+1", "\r=1+1", "line\rbreak", "line\r\nbreak", "line\nbreak",
          'quote "inside", comma', "plain label", "-12.5")


def expected(label: str) -> str:
    """What a spreadsheet must be given: formula-like text behind a ', numbers as they are."""
    if label.startswith(FORMULA_PREFIXES) and not re.fullmatch(r"[+-]?[0-9.]+", label):
        return "'" + label
    return label


def assert_no_bare_line_breaks(text: str) -> None:
    """Outside quoted fields, CR and LF appear only together, as the end of a row."""
    unquoted = re.sub(r'"(?:[^"]|"")*"', "", text)
    assert "\r" not in unquoted.replace("\r\n", "")
    assert "\n" not in unquoted.replace("\r\n", "")


def test_the_usage_report_neutralises_labels_and_quotes_line_breaks(live: LiveServer) -> None:
    credits = live.credits
    credits.create_account("ana", name="Ana", plan="ultra")
    api = live.client()
    for number, label in enumerate(LABELS):
        answer = api.post("/v1/accounts/ana/charges", headers={"Idempotency-Key": f"c{number}"},
                          json={"lines": [{"model": "nano-banana-2"}], "project": label})
        assert answer.status_code == 201, answer.text
    exported = api.get("/v1/accounts/ana/report.csv", params={"periods": 1})
    assert exported.status_code == 200
    assert_no_bare_line_breaks(exported.text)
    rows = list(csv.reader(io.StringIO(exported.text, newline="")))
    header, body = rows[0], rows[1:]
    assert all(len(row) == len(header) for row in body)
    projects = {row[header.index("key")] for row in body if row[header.index("group")] ==
                "project"}
    assert projects == {expected(label) for label in LABELS}
    assert exported.text == credits.usage_report_csv("ana", period="cycle", periods=1)


def test_the_margins_neutralise_model_names(live: LiveServer) -> None:
    credits = live.credits
    catalog = credits.catalog()
    base = catalog.get("flux-2-pro")
    for number, label in enumerate(LABELS[:6]):
        credits.put_catalog_entry(replace(base, id=f"probe-{number}", name=label))
    document = margins_csv(credits.margins())
    assert_no_bare_line_breaks(document)
    rows = list(csv.DictReader(io.StringIO(document, newline="")))
    names = {row["model_name"] for row in rows if row["model"].startswith("probe-")}
    assert names == {expected(label) for label in LABELS[:6]}
    margins = {row["model"]: row["margin"] for row in rows}
    assert all(re.fullmatch(r"-?[0-9.]+", value) for value in margins.values())
