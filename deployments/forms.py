"""Forms of the deployment pages: a new deployment, a plan version, a reason for a move."""

from __future__ import annotations

import json

from django import forms
from django.forms.fields import InvalidJSONInput

from deployments.models import MonitoringReview
from portal.inputs import LONG_TEXT_MAX
from projects.forms import JSONObjectField


class DeploymentForm(forms.Form):
    #: The candidate the page showed: if another model became the candidate meanwhile,
    #: the service refuses rather than deploy a model the person did not see.
    model_version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="Leave blank for “<model> to <environment>”.",
    )
    environment = forms.CharField(max_length=60, required=False, initial="production")


class DeploymentTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="Leave blank for “metrics for <deployment>”."
    )
    days = forms.IntegerField(min_value=1, max_value=366, initial=90, label="Expires after (days)")


class DriftCheckForm(forms.Form):
    reference = forms.ModelChoiceField(
        queryset=None, help_text="The data the model was trained or validated on."
    )
    current = forms.ModelChoiceField(
        queryset=None, label="Production period", help_text="A profiled production sample."
    )

    def __init__(self, *args, versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("reference", "current"):
            self.fields[name].queryset = versions
            self.fields[name].label_from_instance = lambda v: f"{v.dataset.name} v{v.number}"


class ProductionPeriodForm(forms.Form):
    dataset_version = forms.ModelChoiceField(
        queryset=None,
        label="Data",
        help_text="A profiled version of a production_sample dataset: the rows of the period.",
    )
    period_start = forms.DateTimeField(label="From (UTC)", help_text="e.g. 2026-11-30 00:00")
    period_end = forms.DateTimeField(label="To (UTC)")
    score_column = forms.CharField(
        max_length=200,
        required=False,
        help_text="Leave blank for score, y_score, prediction or y_pred.",
    )
    id_column = forms.CharField(
        max_length=200,
        required=False,
        label="Prediction id column",
        help_text="Labels are joined on it. Blank: prediction_id, request_id or row_id.",
    )
    threshold = forms.FloatField(required=False, help_text="A score at or above is positive (0.5).")

    def __init__(self, *args, versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        _production_versions(self.fields["dataset_version"], versions)


def _production_versions(field: forms.ModelChoiceField, versions) -> None:
    field.queryset = versions
    field.label_from_instance = lambda v: f"{v.dataset.name} v{v.number} ({v.rows or 0} rows)"


class LabelBatchForm(forms.Form):
    dataset_version = forms.ModelChoiceField(
        queryset=None,
        label="Labels",
        help_text="A profiled version of a production_sample dataset: prediction ids and "
        "their true labels.",
    )
    id_column = forms.CharField(max_length=200, initial="prediction_id")
    label_column = forms.CharField(max_length=200, initial="label")

    def __init__(self, *args, versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        _production_versions(self.fields["dataset_version"], versions)


class PlanContentField(JSONObjectField):
    """A plan typed as JSON: a syntax error names its line and column; anything but an
    object is refused before the plan's own checks run."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise forms.ValidationError(
                    f"This is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                    code="invalid",
                ) from None
            except (RecursionError, ValueError):
                pass  # the parent says what is wrong
        value = super().to_python(value)
        if value is not None and not isinstance(value, dict):
            raise forms.ValidationError(
                'A plan is one JSON object: {"serving": …, "deployment_type": …, '
                '"pattern": …, "monitoring": …}.',
                code="invalid",
            )
        return value

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value  # shown again as typed
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


class PlanForm(forms.Form):
    content = PlanContentField(
        label="Plan (JSON)",
        widget=forms.Textarea(attrs={"rows": 24, "class": "mono", "spellcheck": "false"}),
    )
    note = forms.CharField(
        max_length=500,
        required=False,
        label="What changed and why",
        widget=forms.TextInput(attrs={"placeholder": "e.g. p95 target from 200 to 150 ms"}),
    )


class MoveForm(forms.Form):
    """Start, promote, roll back or abort: the reason goes on the rollout's history."""

    reason = forms.CharField(max_length=2000, required=False)
    #: Promote: the step the person saw, so a second click does not promote twice.
    step = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class ReviewForm(forms.Form):
    """A periodic review of a live deployment: what the reviewer concluded, and why."""

    outcome = forms.ChoiceField(
        choices=MonitoringReview.Outcome.choices,
        label="Conclusion",
        help_text="Start a new cycle records the conclusion; the move back to prototyping is "
        "made on the project page.",
    )
    notes = forms.CharField(
        max_length=LONG_TEXT_MAX,
        label="Notes",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What you looked at (metrics, drift, alerts, performance), what you "
        "concluded, and the actions agreed with their owners.",
    )
