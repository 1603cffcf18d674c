"""The model card export: Model Card Toolkit JSON (schema 0.0.2) made from a project snapshot."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from audits.analysis.model_card import SCHEMA_VERSION, model_card

# Copied unchanged from tensorflow/model-card-toolkit,
# model_card_toolkit/schema/v0.0.2/model_card.schema.json (as shipped in release 2.0.0).
SCHEMA_PATH = Path(__file__).parent / "data" / "model_card.schema.v0.0.2.json"
GENERATED_AT = "2026-11-28T04:00:00+00:00"
SITE = "https://stagegate.example.org/"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    # FormatChecker: version.date must really be a date, as the schema says.
    return Draft7Validator(schema, format_checker=FormatChecker())


def _errors(validator: Draft7Validator, card: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(card)]


def _project(**extra: Any) -> dict[str, Any]:
    return {
        "slug": "credit-default",
        "name": "Credit default scoring",
        "team": "Credit Risk",
        "task_type": "Classification",
        "description": "Predicts whether a retail loan defaults within 12 months.",
        "business_owners": ["owner_b", "owner_a"],
        "ml_engineers": ["engineer"],
        "auditors": ["auditor"],
        **extra,
    }


def _group(name: str, count: int, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"feature": "sex", "name": name, "count": count, "share": 0.5, "metrics": metrics}


def audited_state() -> dict[str, Any]:
    """A classification candidate with a fairness audit whose rates carry intervals."""
    return {
        "project": _project(),
        "gate": {"target": "deployment", "passed": False, "checks": []},
        "criteria": {
            "version": 1,
            "rows": [
                {
                    "metric": "accuracy",
                    "label": "Accuracy",
                    "target": "≥ 0.9",
                    "value": 0.885,
                    "status": "not_met",
                    "detail": "Measured 0.885, which misses ≥ 0.9.",
                }
            ],
        },
        "signoffs": [],
        "candidate": {
            "model": {
                "id": 1,
                "name": "gbm-scorer",
                "version": "1.0.0",
                "framework": "scikit-learn",
                "code_commit": "7a0b3f1",
                "artifact_uri": "s3://models/gbm-scorer/1.0.0",
                "parameters": {"max_iter": 200, "learning_rate": 0.05},
                "registered_by": "engineer",
                "registered_at": "2026-11-28T03:02:35.709458+00:00",
            },
            "evaluation": {
                "id": 1,
                "sha256": "ab" * 32,
                "dataset_version": "loans v2",
                "dataset_version_id": 2,
                "rows": 2662,
                "task": "classification",
                "metrics": {"accuracy": 0.885, "recall": 0.7708830548926014, "roc_auc": None},
                "evaluated_at": "2026-11-28T03:02:35.738758+00:00",
            },
        },
        "datasets": [
            {
                "name": "loans",
                "purpose": "Training",
                "labeling_strategy": "Programmatic",
                "labeling_notes": "",
                "label_column": "defaulted",
                "sensitive_columns": ["sex"],
                "personal_data_columns": ["email"],
                "source": "Loan origination system",
                "licence": "Internal use",
                "owner": "Credit data office",
                "versions": [
                    {
                        "number": 2,
                        "status": "succeeded",
                        "sha256": "22" * 32,
                        "rows": 2662,
                        "source_uri": "",
                        "transformation": "Kept applicants aged 21 and over.",
                        "code_reference": "git:7a0b3f1",
                    },
                    {
                        "number": 1,
                        "status": "succeeded",
                        "sha256": "11" * 32,
                        "rows": 2800,
                        "source_uri": "https://data.example.org/loans/1",
                        "transformation": "",
                        "code_reference": "",
                    },
                ],
            },
        ],
        "lineage": {
            "nodes": [
                {"id": 1, "label": "loans v1", "sha256": "11" * 32, "current": False},
                {"id": 2, "label": "loans v2", "sha256": "22" * 32, "current": True},
            ],
            "edges": [[1, 2]],
        },
        "baselines": {"recorded": [], "names": [], "comparison": []},
        "audit": {
            "id": 7,
            "verdict": "fail",
            "result": {
                "kind": "classification",
                "thresholds": {"min_group_size": 30},
                "features": [
                    {
                        "feature": "sex",
                        "groups": [
                            _group(
                                "M",
                                1400,
                                {
                                    "selection_rate": {"value": 0.52, "interval": [0.49, 0.55]},
                                    "recall": {"value": None, "reason": "no positives"},
                                },
                            ),
                            _group(
                                "F",
                                1262,
                                {
                                    "selection_rate": {
                                        "value": 0.4597402597402597,
                                        "interval": [0.41060057601262523, 0.5096754148911765],
                                    },
                                    "base_rate": {"value": 0.47},
                                },
                            ),
                            _group("X", 12, {"selection_rate": {"value": 0.5}}),
                        ],
                        "disparities": {},
                        "summary": {"demographic_parity_difference": {"value": 0.0602597402597403}},
                    }
                ],
                "verdicts": [
                    {
                        "threshold": "demographic_parity_difference",
                        "feature": "sex",
                        "status": "fail",
                        "value": 0.0602597402597403,
                        "limit": 0.05,
                        "explanation": "Largest gap 0.0603 is above the limit 0.05.",
                    }
                ],
                "notes": [],
            },
            "reviews": [],
        },
        "risks": [
            {
                "title": "The model works worse for some groups",
                "category": "Bias and fairness",
                "severity": 12,
                "band": "high",
                "status": "Open",
                "owner": "auditor",
                "mitigation": "Fairness audit per sensitive feature before each release.",
                "rationale": "",
            },
            {
                "title": "Personal data leaks through logs",
                "category": "Privacy and personal data",
                "severity": 10,
                "band": "high",
                "status": "Mitigated",
                "owner": "",
                "mitigation": "Emails are dropped before training.",
                "rationale": "",
            },
        ],
        "measurements": [],
        "deployment": None,
    }


def empty_state() -> dict[str, Any]:
    """A new project: no candidate, no criteria, no audit, no datasets."""
    return {
        "project": _project(description="", business_owners=[], ml_engineers=[]),
        "gate": {"target": "deployment", "passed": False, "checks": []},
        "criteria": None,
        "signoffs": [],
        "candidate": None,
        "datasets": [],
        "lineage": None,
        "baselines": {"recorded": [], "names": [], "comparison": []},
        "audit": None,
        "risks": [],
        "measurements": [],
        "deployment": None,
    }


def regression_state() -> dict[str, Any]:
    """A regression candidate audited without thresholds; its evaluation has no metrics yet."""
    state = audited_state()
    state["candidate"]["evaluation"].update(task="regression", metrics={"mae": 31.6391875})
    state["audit"] = {
        "id": 2,
        "verdict": "reported",
        "result": {
            "kind": "regression",
            "min_group_size": 30,
            "features": [
                {
                    "feature": "sex",
                    "groups": [_group("F", 385, {"mae": {"value": 32.34041558441557}})],
                    "disparities": {"mae": {"difference": {"value": 1.3517649820059532}}},
                    "summary": {},
                }
            ],
            "notes": [],
        },
        "reviews": [],
    }
    return state


def unevaluated_state() -> dict[str, Any]:
    state = audited_state()
    state["candidate"]["evaluation"] = None
    state["audit"] = None
    return state


def _card(state: dict[str, Any], site_url: str = SITE) -> dict[str, Any]:
    return model_card(state, generated_at=GENERATED_AT, site_url=site_url)


def _metrics(card: dict[str, Any]) -> list[dict[str, Any]]:
    return card.get("quantitative_analysis", {}).get("performance_metrics", [])


def _find(card: dict[str, Any], kind: str, slice_: str) -> dict[str, Any]:
    matches = [m for m in _metrics(card) if m["type"] == kind and m["slice"] == slice_]
    assert len(matches) == 1, (kind, slice_, _metrics(card))
    return matches[0]


@pytest.mark.parametrize(
    "make",
    [audited_state, empty_state, regression_state, unevaluated_state],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize("site_url", [SITE, ""])
def test_every_card_follows_the_mct_schema(validator, make, site_url):
    card = _card(make(), site_url)
    assert _errors(validator, card) == []
    assert card["schema_version"] == SCHEMA_VERSION == "0.0.2"
    # Plain JSON: no NaN, nothing that needs a custom encoder.
    assert json.loads(json.dumps(card, allow_nan=False)) == card


def test_the_schema_check_can_fail(validator):
    card = _card(audited_state())
    # Schema 0.0.2 wants metric values as strings and has no top-level extras.
    _metrics(card)[0]["value"] = 0.885
    card["generated_at"] = GENERATED_AT
    errors = _errors(validator, card)
    assert any("performance_metrics[0].value" in e for e in errors)
    assert any("generated_at" in e for e in errors)


def test_overall_metrics_are_full_precision_strings_and_none_is_skipped():
    card = _card(audited_state())
    assert _find(card, "accuracy", "overall") == {
        "type": "accuracy",
        "value": "0.885",
        "slice": "overall",
    }
    assert _find(card, "recall", "overall")["value"] == "0.7708830548926014"
    assert not [m for m in _metrics(card) if m["type"] == "roc_auc"]


def test_group_metrics_are_sliced_by_feature_and_group_with_their_interval():
    card = _card(audited_state())
    female = _find(card, "selection_rate", "sex=F")
    assert female["value"] == "0.4597402597402597"
    assert female["confidence_interval"] == {
        "lower_bound": "0.41060057601262523",
        "upper_bound": "0.5096754148911765",
    }
    # No interval in the audit, none in the card; a None value is no metric at all.
    assert "confidence_interval" not in _find(card, "base_rate", "sex=F")
    assert not [m for m in _metrics(card) if m["slice"] == "sex=M" and m["type"] == "recall"]
    assert _find(card, "demographic_parity_difference", "sex")["value"] == "0.0602597402597403"
    slices = [m["slice"] for m in _metrics(card)]
    assert slices == ["overall", "overall", "sex=F", "sex=F", "sex=M", "sex=X", "sex"]


def test_model_details_come_from_the_project_and_the_candidate():
    details = _card(audited_state())["model_details"]
    assert details["name"] == "gbm-scorer"
    assert details["version"] == {"name": "1.0.0", "date": "2026-11-28"}
    assert details["overview"] == "Predicts whether a retail loan defaults within 12 months."
    assert details["path"] == "s3://models/gbm-scorer/1.0.0"
    page = "https://stagegate.example.org/projects/credit-default/"
    assert details["references"] == [{"reference": page}]
    assert details["owners"] == [
        {"name": "owner_a (business owner)", "contact": page},
        {"name": "owner_b (business owner)", "contact": page},
        {"name": "engineer (ML engineer)", "contact": page},
    ]
    assert GENERATED_AT in details["documentation"]


def test_datasets_use_the_list_form_with_sensitive_data_and_lineage():
    params = _card(audited_state())["model_parameters"]
    assert params["model_architecture"] == (
        "scikit-learn. Parameters: learning_rate=0.05, max_iter=200."
    )
    assert params["output_format"] == "A predicted class of defaulted."
    (loans,) = params["data"]
    assert loans["name"] == "loans"
    assert loans["sensitive"] == {
        "sensitive_data": ["sex (sensitive feature)", "email (personal data)"]
    }
    assert loans["link"] == "https://data.example.org/loans/1"
    assert (
        "made from loans v1, the evaluation set): Kept applicants aged 21 and over"
        in (loans["description"])
    )


def test_considerations_come_from_the_risk_register_criteria_and_audit():
    considerations = _card(audited_state())["considerations"]
    assert considerations["ethical_considerations"] == [
        {
            "name": "The model works worse for some groups",
            "mitigation_strategy": (
                "Fairness audit per sensitive feature before each release. "
                "Status: Open. Owner: auditor."
            ),
        },
        {
            "name": "Personal data leaks through logs",
            "mitigation_strategy": "Emails are dropped before training. Status: Mitigated.",
        },
    ]
    limitations = [item["description"] for item in considerations["limitations"]]
    # Only the open risk is a limitation; the mitigated one is not.
    assert any("The model works worse for some groups" in d for d in limitations)
    assert not any("Personal data leaks" in d for d in limitations)
    assert any(d.startswith("Success criterion not met: Accuracy ≥ 0.9.") for d in limitations)
    assert any(d.startswith("Group sex=X has 12 rows, fewer than 30") for d in limitations)
    tradeoffs = [item["description"] for item in considerations["tradeoffs"]]
    assert tradeoffs[0] == "Fairness audit 7 verdict: fail."
    assert tradeoffs[1].startswith(
        "Demographic-parity difference for sex: fail, measured 0.06026 against the limit 0.05. "
        "Largest gap 0.0603"
    )
    assert considerations["use_cases"] == [
        {"description": "Predicts whether a retail loan defaults within 12 months."}
    ]


def test_a_regression_audit_reports_its_gaps_as_tradeoffs():
    card = _card(regression_state())
    assert _find(card, "mae", "overall")["value"] == "31.6391875"
    assert _find(card, "mae", "sex=F")["value"] == "32.34041558441557"
    tradeoffs = [t["description"] for t in card["considerations"]["tradeoffs"]]
    assert tradeoffs == [
        "Fairness audit 2 verdict: reported (no thresholds apply).",
        "Gaps between groups of sex: mean absolute error difference 1.352.",
    ]
    assert card["model_parameters"]["output_format"] == "A predicted value of defaulted."


def test_a_project_without_a_candidate_still_gives_a_valid_card(validator):
    card = _card(empty_state(), site_url="")
    assert _errors(validator, card) == []
    assert card["model_details"]["name"] == "Credit default scoring"
    assert "owners" not in card["model_details"] and "version" not in card["model_details"]
    assert "quantitative_analysis" not in card and "model_parameters" not in card
    assert [item["description"] for item in card["considerations"]["limitations"]] == [
        "No candidate model is registered, so nothing about a model is measured yet."
    ]


def test_a_candidate_without_an_evaluation_has_no_metrics():
    card = _card(unevaluated_state())
    assert "quantitative_analysis" not in card
    assert "The candidate model has no evaluation on record." in [
        item["description"] for item in card["considerations"]["limitations"]
    ]


def test_the_same_state_in_another_order_gives_the_same_card():
    state = audited_state()
    shuffled = copy.deepcopy(state)
    shuffled["risks"].reverse()
    shuffled["candidate"]["evaluation"]["metrics"] = dict(
        reversed(state["candidate"]["evaluation"]["metrics"].items())
    )
    shuffled["audit"]["result"]["features"][0]["groups"].reverse()
    shuffled["project"]["business_owners"].reverse()
    assert _card(shuffled) == _card(state)


def test_it_repeats_the_judged_gap_and_the_groups_not_judged():
    # A result stored before headline gaps and verdicts shared their groups: its headline
    # counts a group the verdict left out, so the card repeats the verdict's figure.
    state = audited_state()
    result = state["audit"]["result"]
    result["features"][0]["summary"]["demographic_parity_difference"] = {"value": 0.2}
    result["verdicts"][0]["groups_excluded"] = {"X": "12 rows, fewer than the minimum of 30"}
    card = _card(state)
    assert _find(card, "demographic_parity_difference", "sex")["value"] == "0.0602597402597403"
    tradeoffs = [t["description"] for t in card["considerations"]["tradeoffs"]]
    assert "Not judged: X (12 rows, fewer than the minimum of 30)." in tradeoffs[1]
    assert "Gaps between groups of sex: demographic-parity difference 0.06026." in tradeoffs
