from __future__ import annotations

from django import forms

from audits.analysis.audit_config import (
    CLASSIFICATION_METRICS,
    MAX_ROWS,
    THRESHOLDS,
    WATCHING_CHECKS,
)
from audits.analysis.risks import CATEGORIES, SCALE
from audits.models import AuditReview, RiskItem
from portal.inputs import LONG_TEXT_MAX
from projects.analysis.metric_names import metric_name
from projects.selectors import person_label

LEVELS = [(n, str(n)) for n in SCALE]


class RiskForm(forms.Form):
    title = forms.CharField(max_length=200)
    category = forms.ChoiceField(choices=CATEGORIES)
    likelihood = forms.TypedChoiceField(
        choices=LEVELS, coerce=int, help_text="1 rare to 5 almost certain"
    )
    impact = forms.TypedChoiceField(choices=LEVELS, coerce=int, help_text="1 minor to 5 severe")
    description = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    mitigation = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    owner = forms.CharField(max_length=200, required=False)
    status = forms.ChoiceField(choices=RiskItem.Status.choices)
    rationale = forms.CharField(
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Required to accept a risk.",
    )
    audit_checks = forms.MultipleChoiceField(
        choices=[(s.name, s.label) for s in THRESHOLDS if s.name in WATCHING_CHECKS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Watched by the audit checks",
        help_text="The fairness-audit thresholds whose verdicts tell how this risk stands.",
    )


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


class AuditConfigForm(forms.Form):
    """A new configuration version; every threshold has a limit (blank: off) and a reason."""

    sensitive_features = forms.CharField(
        max_length=2000, help_text="Column names, separated by commas."
    )
    intersections = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="One per line, features joined by commas (for example: sex, age_band).",
    )
    positive_label = forms.CharField(
        max_length=200,
        required=False,
        help_text="The outcome counted as positive, as written in y_true (1, yes, >50K). "
        "Blank: 1 for 0/1 labels.",
    )
    metrics = forms.MultipleChoiceField(
        choices=[(m, metric_name(m)) for m in CLASSIFICATION_METRICS],
        widget=forms.CheckboxSelectMultiple,
        help_text="Group metrics shown in the report (all are computed).",
    )
    confidence = forms.FloatField(min_value=0.5, max_value=0.999, help_text="Of the intervals.")
    min_class_support = forms.IntegerField(
        min_value=1,
        max_value=MAX_ROWS,
        help_text="Classes with fewer rows in y_true are flagged as rare.",
    )
    note = forms.CharField(max_length=500, required=False, help_text="What changed and why.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for spec in THRESHOLDS:
            self.fields[f"{spec.name}__limit"] = forms.CharField(
                label=spec.label,
                required=spec.kind == "rule",
                max_length=20,
                help_text="Blank switches this check off." if spec.kind != "rule" else "",
            )
            self.fields[f"{spec.name}__rationale"] = forms.CharField(
                label="Why this number",
                max_length=LONG_TEXT_MAX,
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    def threshold_fields(self) -> list[tuple]:
        """(limit field, rationale field) per threshold, for the template."""
        return [(self[f"{s.name}__limit"], self[f"{s.name}__rationale"]) for s in THRESHOLDS]

    @staticmethod
    def initial_from(config: dict) -> dict:
        initial = {
            "sensitive_features": ", ".join(config["sensitive_features"]),
            "intersections": "\n".join(", ".join(c) for c in config["intersections"]),
            "positive_label": config["positive_label"],
            "metrics": config["metrics"],
            "confidence": config["confidence"],
            "min_class_support": config["min_class_support"],
        }
        for name, entry in config["thresholds"].items():
            limit = entry["limit"]
            initial[f"{name}__limit"] = "" if limit is None else f"{limit:g}"
            initial[f"{name}__rationale"] = entry["rationale"]
        return initial

    def config(self) -> tuple[dict, str]:
        """The configuration dict for the service, and the note."""
        data = self.cleaned_data
        return {
            "sensitive_features": _names(data["sensitive_features"]),
            "intersections": [
                _names(line) for line in data["intersections"].splitlines() if line.strip()
            ],
            "positive_label": data["positive_label"],
            "metrics": data["metrics"],
            "confidence": data["confidence"],
            "min_class_support": data["min_class_support"],
            "thresholds": {
                s.name: {
                    "limit": data[f"{s.name}__limit"].strip() or None,
                    "rationale": data[f"{s.name}__rationale"],
                }
                for s in THRESHOLDS
            },
        }, data["note"]


class ExceptionForm(forms.Form):
    """The parts of an exception (the service checks them and says what is missing);
    ``owners`` are the people who may own it."""

    finding = forms.CharField(
        required=False,
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What fails, in the words the business owner will read.",
    )
    conditions = forms.CharField(
        required=False,
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The compensating controls it is accepted under.",
    )
    owner = forms.ChoiceField(required=False, help_text="Who sees to the conditions.")
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The last day it holds; the gate fails again after it.",
    )
    EXCEPTION_FIELDS = ("finding", "conditions", "owner", "expires_on")

    def __init__(self, *args, owners=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "—")] + [(u.username, u.username) for u in owners]

    def exception(self) -> dict | None:
        """The exception's parts, or None when none was given."""
        exception = {k: self.cleaned_data.get(k) for k in self.EXCEPTION_FIELDS}
        return exception if any(v not in (None, "") for v in exception.values()) else None

    def exception_parts(self) -> list:
        return [self[name] for name in self.EXCEPTION_FIELDS]


class AuditReviewForm(ExceptionForm):
    """A review; for a failing audit, also the exception an approval needs."""

    decision = forms.ChoiceField(choices=AuditReview.Decision.choices, widget=forms.RadioSelect)
    rationale = forms.CharField(
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Why: what you checked, what convinced you, what must change.",
    )

    def review_fields(self) -> dict:
        """The service's arguments: the exception only when any part of it was given."""
        data = self.cleaned_data
        return {
            "decision": data["decision"],
            "rationale": data["rationale"],
            "exception": self.exception(),
        }


class ReviewRequestForm(forms.Form):
    """Ask for a review: who, by when and what to look at."""

    reviewer = forms.ChoiceField(required=False, help_text="Blank: any independent auditor.")
    due_on = forms.DateField(
        required=False,
        label="Due on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the review is wanted by.",
    )
    note = forms.CharField(
        required=False,
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What changed since the last review, or what to look at first.",
    )

    def __init__(self, *args, reviewers=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(u.username, person_label(u)) for u in reviewers]
        self.fields["reviewer"].choices = [("", "Any independent auditor"), *choices]


class ReviewCommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
