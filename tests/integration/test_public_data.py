"""A fairness audit of a real public data set, end to end through the API and a real worker.

The Toronto arrests data (Fox and Weisberg's carData::Arrests: 5,226 arrests for
possession of marijuana; released with a summons or not, with the arrestee's colour and
sex) ships in scikit-lego. A logistic regression predicts release; the audit's numbers
must equal fairlearn's on the same predictions, for each feature and their intersection.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from rest_framework.test import APIClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklego.datasets import load_arrests

from projects.models import Role
from tests.factories import UserFactory, build_team
from tests.harness import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def team(transactional_db):
    return build_team("r", UserFactory(username="r_external"))


def _csv(frame: pd.DataFrame) -> SimpleUploadedFile:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return SimpleUploadedFile("data.csv", buffer.getvalue().encode())


def _done(api, url: str):
    def check():
        body = api.get(url).json()
        return body if body["status"] in ("succeeded", "failed") else None

    return check


def _predictions(data: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold predictions of release, without colour or sex among the features."""
    features = pd.get_dummies(data[["year", "age", "employed", "citizen", "checks"]])
    target = data["released"] == "Yes"
    proba = cross_val_predict(
        LogisticRegression(max_iter=2000), features, target, cv=5, method="predict_proba"
    )[:, 1]
    return pd.DataFrame(
        {
            "arrest_id": data["arrest_id"],
            "released": data["released"],
            "predicted": np.where(proba >= 0.8, "Yes", "No"),
            "score": proba.round(6),
            "colour": data["colour"],
            "sex": data["sex"],
        }
    )


def test_an_audit_of_the_toronto_arrests_data_matches_fairlearn(worker, team, api):
    data = load_arrests(as_frame=True)
    assert len(data) == 5226  # as carData documents it
    data.insert(0, "arrest_id", [f"T{i:05d}" for i in range(len(data))])
    api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
    slug = team.project.slug
    dataset = api.post(
        f"/api/v1/projects/{slug}/datasets/",
        {
            "name": "toronto-arrests",
            "purpose": "training",
            "label_column": "released",
            "sensitive_columns": ["colour", "sex"],
            "labeling_strategy": "in_house",
            "source": "carData::Arrests (Toronto Star)",
        },
        format="json",
    )
    assert dataset.status_code == 201, dataset.json()
    version = api.post(dataset.json()["versions"], {"file": _csv(data)}, format="multipart")
    profiled = wait_for(_done(api, version["Location"]), 90, "the profile")
    assert profiled["status"] == "succeeded", profiled["error"]

    model = api.post(
        f"/api/v1/projects/{slug}/models/",
        {"name": "release-logit", "version": "1", "framework": "scikit-learn"},
        format="json",
    )
    predictions = _predictions(data)
    evaluation = api.post(
        model.json()["evaluations"],
        {
            "file": _csv(predictions),
            "dataset_version": profiled["id"],
            "y_true": "released",
            "y_pred": "predicted",
            "y_score": "score",
            "row_id": "arrest_id",
            "sensitive": ["colour", "sex"],
        },
        format="multipart",
    )
    scored = wait_for(_done(api, evaluation["Location"]), 90, "the evaluation")
    assert scored["status"] == "succeeded", scored["error"]

    config = api.post(
        f"/api/v1/projects/{slug}/audit-configs/",
        {
            "sensitive_features": ["colour", "sex"],
            "intersections": [["colour", "sex"]],
            "positive_label": "Yes",
            "note": "Release with a summons is the favourable outcome.",
        },
        format="json",
    )
    assert config.status_code == 201, config.json()
    audit = api.post(f"/api/v1/evaluations/{scored['id']}/audits/")
    assert audit.status_code == 202, audit.json()
    done = wait_for(_done(api, audit["Location"]), 90, "the audit")
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert result["rows"] == 5226 and result["positive_label"] == "Yes"

    y = predictions["released"] == "Yes"
    p = predictions["predicted"] == "Yes"
    score = predictions["score"]
    metrics = {
        "count": count,
        "selection_rate": selection_rate,
        "recall": recall_score,
        "precision": precision_score,
        "accuracy": accuracy_score,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
    }
    features = {
        "colour": predictions["colour"],
        "sex": predictions["sex"],
        "colour \u00d7 sex": predictions[["colour", "sex"]],
    }
    checked = 0
    for feature in result["features"]:
        sensitive = features[feature["feature"]]
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=sensitive)
        auc = MetricFrame(
            metrics=roc_auc_score, y_true=y, y_pred=score, sensitive_features=sensitive
        )
        for group in feature["groups"]:
            key = (
                tuple(group["name"].split(" \u00d7 "))
                if "\u00d7" in feature["feature"]
                else (group["name"])
            )
            expected = frame.by_group.loc[key]
            assert group["count"] == expected["count"]
            for name in metrics.keys() - {"count"}:
                assert group["metrics"][name]["value"] == pytest.approx(expected[name], abs=1e-9)
                checked += 1
            assert group["metrics"]["roc_auc"]["value"] == pytest.approx(auc.by_group.loc[key])
        summary = feature["summary"]
        for name, reference in (
            ("demographic_parity_difference", demographic_parity_difference),
            ("demographic_parity_ratio", demographic_parity_ratio),
            ("equalized_odds_difference", equalized_odds_difference),
        ):
            expected = reference(y, p, sensitive_features=sensitive)
            assert summary[name]["value"] == pytest.approx(expected, abs=1e-9), name
    assert checked == 6 * (2 + 2 + 4)

    # The base rates are the data's own release rates by colour.
    by_colour = next(f for f in result["features"] if f["feature"] == "colour")
    for group in by_colour["groups"]:
        rate = (data.loc[data["colour"] == group["name"], "released"] == "Yes").mean()
        assert group["metrics"]["base_rate"]["value"] == pytest.approx(rate, abs=1e-12)

    auditor = APIClient()
    auditor.force_authenticate(team.people[Role.AUDITOR])
    inbox = auditor.get("/api/v1/audits/inbox/").json()["results"]
    assert done["id"] in [a["id"] for a in inbox]
