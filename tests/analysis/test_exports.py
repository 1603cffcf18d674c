"""CSV cells that a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io

import pytest

from projects.analysis.exports import spreadsheet_safe


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_starts_get_a_quote(text):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "a=b", "", None, 42, "1-2"])
def test_other_cells_are_kept(value):
    assert spreadsheet_safe(value) == ("" if value is None else str(value))


def test_the_text_survives_a_round_trip():
    buffer = io.StringIO()
    csv.writer(buffer).writerow([spreadsheet_safe("=1+2"), spreadsheet_safe("fine")])
    row = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert row == ["'=1+2", "fine"]
    assert row[0][1:] == "=1+2"
