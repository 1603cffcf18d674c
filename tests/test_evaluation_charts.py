"""An evaluation's charts, threshold and metrics against the best baseline, on its page and
in the approval pack, through HTTP; the numbers against scikit-learn on the same data."""

from __future__ import annotations

import copy
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from django.http import HttpRequest
from sklearn import metrics as skm

from audits.services.packs import pack_html
from projects.analysis.curves import regression_curves
from projects.analysis.numbers import significant
from projects.models import Evaluation, Role
from projects.services import evaluations
from tests.data import predictions_csv, sample_frame
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

CLASSIFICATION_CHARTS = ("confusion", "roc", "pr", "calibration", "scores")


def _login(client, user):
    # Login protection (axes) checks every authentication against a request.
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)
    return client


def _predictions() -> pd.DataFrame:
    """The world's evaluation's predictions file (tests.factories.make_evaluation)."""
    return pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, re.S)]


def _row(html: str, label: str) -> str:
    """The table row whose first cell is ``label``."""
    start = html.index(f"<td>{label}</td>")
    return html[start : html.index("</tr>", start)]


def test_it_computes_the_curves_with_the_metrics_in_the_worker(world):
    frame = _predictions()
    curves = world["a"].evaluation.curves
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    assert curves["roc"]["auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert curves["pr"]["average_precision"] == pytest.approx(
        skm.average_precision_score(y, s), abs=1e-12
    )
    assert curves["confusion"] == skm.confusion_matrix(y, p).tolist()


def test_it_shows_the_charts_on_the_evaluation_page(world, client):
    a = world["a"]
    _login(client, a.people[Role.VIEWER])
    response = client.get(f"/evaluations/{a.evaluation.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    section = page[page.index('id="evaluation-curves"') :]
    for key in CLASSIFICATION_CHARTS:
        assert f'id="chart-{key}"' in section
    charts = _svgs(section)
    assert len(charts) == len(CLASSIFICATION_CHARTS)
    for chart in charts:
        assert chart.get("width") == "100%" and chart.get("aria-label")
    frame = _predictions()
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    assert f"AUC {skm.roc_auc_score(y, s):.3f}" in section
    assert f"AP {skm.average_precision_score(y, s):.3f}" in section
    tn, _, _, tp = skm.confusion_matrix(y, p).ravel()
    assert f"{tn + tp:,} of {len(y):,} rows on the diagonal" in section
    # Each chart has its summary in words beside it.
    assert section.count('<p class="chart-text">') == len(CLASSIFICATION_CHARTS)
    # The predictions' labels are not one threshold of their scores: the page says so.
    differ = int(np.count_nonzero((s >= 0.5) != (p == 1)))
    threshold = page[page.index('id="decision-threshold"') :]
    threshold = threshold[: threshold.index("</p>")]
    assert "No decision threshold is stored" in threshold
    assert "column prediction" in threshold
    assert f"{differ:,} rows differ from score ≥ 0.5" in threshold


def test_it_shows_each_metric_against_the_best_baseline_in_its_direction(world, client):
    a = world["a"]
    engineer = a.people[Role.ML_ENGINEER]
    for kind, name, metric, value in (
        ("human_level", "Analysts", "log_loss", 0.2),
        ("literature", "Paper", "log_loss", 0.3),
        ("previous_system", "Coin", "accuracy", 0.5),
    ):
        evaluations.baseline_record(
            actor=engineer,
            project=a.project,
            kind=kind,
            name=name,
            metric=metric,
            value=value,
            citation="Smith 2020" if kind == "literature" else "",
        )
    frame = _predictions()
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    _login(client, a.people[Role.VIEWER])
    page = client.get(f"/evaluations/{a.evaluation.pk}/").content.decode()
    # Log loss: lower is better, so 0.2 is the best baseline and the model's is worse.
    loss = skm.log_loss(y, s)
    row = _row(page, "Log loss")
    assert 'class="delta delta-worse"' in row
    assert "+" + significant(loss - 0.2) in row and "Analysts" in row and "lower is better" in row
    row = _row(page, "Accuracy")
    assert 'class="delta delta-better"' in row
    assert "+" + significant(skm.accuracy_score(y, p) - 0.5) in row and "Coin" in row
    # The world's F1 baseline: Rules at 0.75.
    f1 = skm.f1_score(y, p)
    row = _row(page, "F1")
    verdict = "better" if f1 > 0.75 else "worse"
    assert f'class="delta delta-{verdict}"' in row
    assert significant(abs(f1 - 0.75)) in row
    assert "no baseline on this metric" in _row(page, "Recall")


def test_an_evaluation_from_before_the_curves_says_so_and_does_not_fail(world, client):
    a = world["a"]
    Evaluation.objects.filter(pk=a.evaluation.pk).update(curves={})
    _login(client, a.people[Role.VIEWER])
    response = client.get(f"/evaluations/{a.evaluation.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "curves are computed for evaluations run from now on" in page
    assert 'id="chart-roc"' not in page
    assert "No decision threshold is stored" in page


def test_a_regression_evaluation_shows_its_residuals(world, client):
    a = world["a"]
    rng = np.random.default_rng(0)
    truth = rng.normal(50, 10, 3000)
    predicted = truth + rng.normal(0, 4, 3000)
    curves = regression_curves(truth, predicted)
    Evaluation.objects.filter(pk=a.evaluation.pk).update(task="regression", curves=curves)
    _login(client, a.people[Role.VIEWER])
    page = client.get(f"/evaluations/{a.evaluation.pk}/").content.decode()
    section = page[page.index('id="evaluation-curves"') :]
    assert 'id="chart-residuals"' in section and 'id="chart-residual-histogram"' in section
    assert "Decision threshold" not in section
    scatter, _ = _svgs(section)
    points = scatter.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(points) == 1000
    assert "1,000 of 3,000 rows" in section


def test_the_approval_pack_shows_the_candidates_charts_and_differences(packed_world):
    a = packed_world["a"]
    pack = a.project.approval_packs.get()
    html = pack.html
    section = html[html.index('id="evaluation"') : html.index('id="audit"')]
    for key in CLASSIFICATION_CHARTS:
        assert f'id="pack-chart-{key}"' in section
    assert len(_svgs(section)) == len(CLASSIFICATION_CHARTS)
    frame = _predictions()
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    assert f"AUC {skm.roc_auc_score(y, s):.3f}" in section
    assert "Decision threshold." in section and "column prediction" in section
    f1 = skm.f1_score(y, p)
    verdict = "better" if f1 > 0.75 else "worse"
    assert f'<span class="delta delta-{verdict}">' in section
    assert significant(abs(f1 - 0.75)) in section and "than Rules" in section
    assert pack.pdf  # rendered by WeasyPrint with the charts in it


def test_a_pack_without_curve_data_renders_and_says_why(packed_world):
    pack = packed_world["a"].project.approval_packs.get()
    older = copy.deepcopy(pack.snapshot)
    del older["evaluation_curves"]  # a pack taken before curves were kept
    html = pack_html(older, pack.pk, pack.snapshot_sha256)
    assert 'id="pack-chart-roc"' not in html and "run from now on" not in html
    empty = copy.deepcopy(pack.snapshot)
    empty["evaluation_curves"] = {"curves": {}, "y_pred": "prediction"}
    html = pack_html(empty, pack.pk, pack.snapshot_sha256)
    assert 'id="pack-chart-roc"' not in html
    assert "curves are computed for evaluations run from now on" in html
