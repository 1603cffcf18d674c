"""The numbers of a fairness audit as people read them, through HTTP: one gap wherever it is
shown, three significant digits with the full value as a tooltip, metric names in words,
and the judged gap in the approval pack and the model card."""

from __future__ import annotations

import html
import io
import re

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference

from audits.models import ApprovalPack
from audits.services.fairness import audit_config_save
from audits.services.packs import static_root
from projects.analysis.numbers import significant
from projects.models import Role
from tests.factories import make_audit, make_pack
from tests.test_audits import _frame, _upload

pytestmark = pytest.mark.django_db

#: 120 rows: "tiny" is left out by the minimum group size, "a" and "b" are compared.
GROUPS = ["tiny"] * 10 + ["a"] * 55 + ["b"] * 55
CONFIG = {
    "sensitive_features": ["grp"],
    "thresholds": {
        "equalized_odds_difference": {"limit": 0.5, "rationale": "Half, for this test."},
        "min_group_size": {"limit": 30, "rationale": "Smaller groups are too noisy."},
        # Any interval decides here, so the one group left out is left out for its size.
        "max_interval_width": {"limit": 1.0, "rationale": "Every interval decides."},
    },
}


def _audited(world):
    w = world["a"]
    engineer = w.people[Role.ML_ENGINEER]
    audit_config_save(actor=engineer, project=w.project, changes=CONFIG, note="By grp.")
    content = _frame(grp=GROUPS)
    audit = make_audit(_upload(world, content), engineer)
    assert audit.status == "succeeded", audit.error
    return audit, content


def _verdict(audit) -> dict:
    return next(
        v
        for v in audit.result["verdicts"]
        if v["feature"] == "grp" and v["threshold"] == "equalized_odds_difference"
    )


def _tooltips(page: str) -> list[str]:
    return re.findall(r'<span class="n" title="([^"]+)">([^<]+)</span>', page)


def test_it_shows_the_judged_gap_in_the_summary_and_the_between_groups_table(client, world):
    audit, content = _audited(world)
    rows = pd.read_csv(io.BytesIO(content))
    kept = rows["grp"] != "tiny"
    expected = equalized_odds_difference(
        rows.loc[kept, "label"],
        rows.loc[kept, "prediction"],
        sensitive_features=rows.loc[kept, "grp"],
    )
    verdict = _verdict(audit)
    assert verdict["value"] == pytest.approx(expected, abs=1e-12)

    client.force_login(world["a"].people[Role.VIEWER])
    page = client.get(f"/audits/{audit.pk}/").content.decode()
    full = repr(float(verdict["value"]))
    shown = significant(verdict["value"])
    # The verdict row and the headline row of the between-groups table: one number, the
    # same three digits and the same full value in the tooltip.
    assert _tooltips(page).count((full, shown)) >= 2
    headline = re.search(r'<tr class="headline"><td>Equalized-odds difference</td>(.*?)</tr>', page)
    assert headline is not None
    assert f'title="{full}"' in headline.group(1)
    # The group the minimum size left out is named, with why, beside the headline.
    assert "tiny: 10 rows, fewer than the minimum of 30" in html.unescape(headline.group(1))


def test_it_rounds_table_numbers_to_three_significant_digits(client, world):
    audit, _ = _audited(world)
    client.force_login(world["a"].people[Role.VIEWER])
    page = client.get(f"/audits/{audit.pk}/").content.decode()
    pairs = _tooltips(page)
    assert len(pairs) > 20
    for full, shown in pairs:
        value = float(full)
        assert shown == significant(value)
        if value != 0:
            assert len(shown.lstrip("-0.").replace(".", "")) <= 3, shown
    # Downloads keep every digit.
    csv_text = client.get(f"/audits/{audit.pk}/report.csv").content.decode()
    share = next(g["share"] for g in audit.result["features"][0]["groups"] if g["name"] == "a")
    assert repr(share) in csv_text


def test_it_names_metrics_in_words(client, world):
    audit, _ = _audited(world)
    client.force_login(world["a"].people[Role.VIEWER])
    page = html.unescape(client.get(f"/audits/{audit.pk}/").content.decode())
    visible = re.sub(r"<[^>]+>", " ", page)
    for code in ("selection_rate", "false_positive_rate", "equalized_odds_difference"):
        assert code not in visible, code
    assert "False-positive rate" in visible


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.05436239654971442, "0.0544"),
        (0.75, "0.750"),
        (0.1, "0.100"),
        (1.0, "1.00"),
        (12345.6, "12300"),
        (0, "0"),
        (0.0, "0"),
        (7, "7"),
        (-0.012345, "-0.0123"),
        (0.00001234, "1.23e-05"),
        (None, "—"),
    ],
)
def test_it_rounds_to_three_significant_digits(value, text):
    assert significant(value) == text


@pytest.mark.slow  # renders PDFs or walks a whole journey: CI's PostgreSQL stage runs it
def test_the_pack_shows_the_measured_gap_beside_the_limit(world):
    audit, _ = _audited(world)
    w = world["a"]
    w.project.candidate_model = audit.evaluation.model_version
    w.project.save(update_fields=["candidate_model"])
    make_pack(w)
    pack = ApprovalPack.objects.filter(project=w.project).latest("pk")
    verdict = _verdict(audit)
    table = re.search(r'<table class="grid verdict-table">(.*?)</table>', pack.html, re.S)
    assert table is not None
    check = re.search(
        r"<tbody[^>]*><tr><td[^>]*>Equalized-odds difference</td>(.*?)</tbody>",
        table.group(1),
        re.S,
    )
    row = re.search(r"<td>grp</td>(.*?)</tr>", check.group(1), re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    measured, limit = cells[0], cells[1]
    assert f'title="{verdict["value"]!r}"' in measured
    assert significant(verdict["value"]) in measured
    assert limit == "0.5"
    assert "tiny (10 rows, fewer than the minimum of 30)" in html.unescape(row)
    assert np.isfinite(verdict["value"])


def test_pack_cells_hyphenate_a_long_word_instead_of_cutting_it():
    css = (static_root() / "css" / "pack.css").read_text()
    cells = re.search(r"^th, td \{([^}]*)\}", css, re.M)
    assert cells is not None
    rules = dict(
        (part.split(":")[0].strip(), part.split(":")[1].strip())
        for part in cells.group(1).split(";")
        if ":" in part
    )
    # "Decision" in a narrow column reads "Deci-sion", never "Decisi on".
    assert rules["hyphens"] == "auto"
    assert rules.get("word-break", "normal") == "normal"
