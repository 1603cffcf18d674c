from __future__ import annotations

from django import forms

from audits.analysis.risks import CATEGORIES, SCALE
from audits.models import RiskItem

LEVELS = [(n, str(n)) for n in SCALE]


class RiskForm(forms.Form):
    title = forms.CharField(max_length=200)
    category = forms.ChoiceField(choices=CATEGORIES)
    likelihood = forms.TypedChoiceField(
        choices=LEVELS, coerce=int, help_text="1 rare to 5 almost certain"
    )
    impact = forms.TypedChoiceField(choices=LEVELS, coerce=int, help_text="1 minor to 5 severe")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    mitigation = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    owner = forms.CharField(max_length=200, required=False)
    status = forms.ChoiceField(choices=RiskItem.Status.choices)
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Required to accept a risk.",
    )
