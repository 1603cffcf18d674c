from __future__ import annotations

from django import forms
from django.forms.fields import InvalidJSONInput

from portal.inputs import LONG_TEXT_MAX, json_problem, validate_json_value
from projects import selectors
from projects.models import (
    ApiToken,
    Baseline,
    Dataset,
    DatasetVersion,
    Metric,
    Project,
    Role,
    Team,
)


class ProjectForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=120)
    slug = forms.SlugField(
        max_length=80,
        help_text="Short name used in URLs and the API; it follows the name until you edit it.",
    )
    task_type = forms.ChoiceField(choices=Project.TaskType.choices)
    description = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 4}), required=False
    )

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()
        # The slug follows the name as it is typed, until edited by hand (pickers.js).
        self.fields["slug"].widget.attrs["data-slug-from"] = self["name"].auto_id
        if teams is not None and len(teams) == 1:
            # One team to choose from: chosen already.
            self.fields["team"].initial = teams[0].pk


def _long_text(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )


class ProjectEditForm(forms.Form):
    name = forms.CharField(max_length=120)
    task_type = forms.ChoiceField(choices=Project.TaskType.choices)
    description = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 5}), required=False
    )
    intended_use = _long_text(
        "Intended use", "Who uses the model's output, for which decision, on which population."
    )
    out_of_scope_use = _long_text(
        "Out-of-scope use", "Uses the model is not built or validated for and must not serve."
    )
    limitations = _long_text(
        "Known limitations", "What the model is known to do badly or not to cover."
    )


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=Project.Stage.choices)
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why the project moves: a move always records a reason."},
    )


class ShareForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    username = forms.CharField(max_length=150, required=False, label="or person (username)")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean(self):
        data = super().clean()
        if bool(data.get("team")) == bool(data.get("username")):
            raise forms.ValidationError("Choose a team or give a username, not both.")
        if data.get("username"):
            user = selectors.active_user(data["username"])
            if user is None:
                self.add_error("username", "No active user has that username.")
            data["user"] = user
        return data


class MembershipForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
    is_admin = forms.BooleanField(required=False, label="Team admin")

    def clean_username(self):
        user = selectors.active_user(self.cleaned_data["username"])
        if user is None:
            raise forms.ValidationError("No active user has that username.")
        return user


class MembershipChangeForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    is_admin = forms.BooleanField(required=False, label="Team admin")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI release'.")
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        empty_label="All my projects",
        help_text="A CI token should be bound to one project.",
    )
    scopes = forms.MultipleChoiceField(
        # A metrics token is made on its deployment's page, bound to it.
        choices=[c for c in ApiToken.Scope.choices if c[0] != ApiToken.Scope.METRICS],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    days = forms.IntegerField(min_value=1, max_value=366, initial=90, label="Expires after (days)")

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        if projects is not None:
            self.fields["project"].queryset = projects


# --- Datasets, baselines, models ----------------------------------------------------------
class ColumnListField(forms.CharField):
    """Column names separated by commas."""

    # The value is a list: CharField's own checks would look at its repr.
    default_validators = [validate_json_value]

    def to_python(self, value) -> list[str]:
        names = [c.strip() for c in (value or "").split(",") if c.strip()]
        if any(len(name) > 200 for name in names):
            raise forms.ValidationError("Keep each column name to at most 200 characters.")
        return names

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


class MetadataField(forms.CharField):
    """``key = value`` lines."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "region = EU\nrefresh = monthly"})
    # The value is a dict: CharField's own checks would look at its repr.
    default_validators = [validate_json_value]

    def to_python(self, value) -> dict[str, str]:
        result = {}
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, val = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(f"Line {number} of the metadata is not 'key = value'.")
            result[key.strip()] = val.strip()
        return result

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k} = {v}" for k, v in value.items())
        return value


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=120)
    purpose = forms.ChoiceField(choices=Dataset.Purpose.choices)
    status = forms.ChoiceField(choices=Dataset.Status.choices)
    description = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    labeling_strategy = forms.ChoiceField(choices=Dataset.Labeling.choices)
    labeling_notes = forms.CharField(
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Guidelines, vendor, quality checks.",
    )
    label_column = forms.CharField(max_length=200, required=False)
    sensitive_columns = ColumnListField(required=False, help_text="Comma-separated.")
    personal_data_columns = ColumnListField(
        required=False, help_text="Comma-separated; never used as features by baselines."
    )
    source = forms.CharField(max_length=300, required=False)
    licence = forms.CharField(max_length=200, required=False)
    owner = forms.CharField(max_length=200, required=False)
    metadata = MetadataField(required=False)

    COLUMN_FIELDS = ("label_column", "sensitive_columns", "personal_data_columns")

    def __init__(self, *args, version: DatasetVersion | None = None, columns=(), **kwargs):
        """With ``version`` (the latest profiled one) and its ``columns``, the column fields
        offer those columns to pick from; without, they are typed, and the first file's
        profile checks them."""
        super().__init__(*args, **kwargs)
        if version is None:
            return
        initial = {name: self.initial.get(name) for name in self.COLUMN_FIELDS}
        label = initial["label_column"] or ""
        self.fields["label_column"] = forms.ChoiceField(
            required=False,
            choices=[("", "None"), *_column_choices(columns, [label] if label else [], version)],
            help_text=f"The columns of {version}.",
            error_messages={"invalid_choice": _not_a_column(version)},
        )
        for name, help_text in (
            ("sensitive_columns", "Groups the fairness audit compares."),
            ("personal_data_columns", "Their values are never shown; baselines leave them out."),
        ):
            self.fields[name] = forms.MultipleChoiceField(
                required=False,
                choices=_column_choices(columns, initial[name] or [], version),
                widget=forms.CheckboxSelectMultiple,
                help_text=help_text,
                error_messages={"invalid_choice": _not_a_column(version)},
            )


def _column_choices(columns, kept: list[str], version: DatasetVersion) -> list[tuple[str, str]]:
    """The version's columns, and names the dataset holds already that it lacks (so an
    edit of another field keeps them), said to be missing."""
    choices = [(name, name) for name in columns]
    choices += [(name, f"{name} (not in {version})") for name in kept if name not in columns]
    return choices


def _not_a_column(version: DatasetVersion) -> str:
    # Django fills in %(value)s: a % in the dataset's name must stay itself.
    name = str(version).replace("%", "%%")
    return f"%(value)s is not a column of {name}; pick one of its columns."


class VersionUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, CSV.gz or Parquet.")
    parents = forms.ModelMultipleChoiceField(
        queryset=DatasetVersion.objects.none(),
        required=False,
        help_text="The versions this one was made from.",
    )
    transformation = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    code_reference = forms.CharField(max_length=200, required=False, help_text="e.g. a git commit.")
    command = forms.CharField(max_length=2000, required=False)
    source_uri = forms.CharField(max_length=500, required=False, label="Source URI or system")
    collected_at = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    collected_by = forms.CharField(max_length=200, required=False)
    labeling_batch = forms.CharField(max_length=200, required=False)
    encoding = forms.CharField(max_length=40, initial="utf-8")
    delimiter = forms.CharField(
        max_length=1, required=False, strip=False, help_text="Blank: detect."
    )

    def __init__(self, *args, versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if versions is not None:
            self.fields["parents"].queryset = versions


class BaselineRunForm(forms.Form):
    target = forms.CharField(max_length=200, required=False, help_text="Default: label column.")
    task = forms.ChoiceField(
        choices=[
            ("", "Detect"),
            ("classification", "Classification"),
            ("regression", "Regression"),
        ],
        required=False,
    )


class BaselineForm(forms.Form):
    kind = forms.ChoiceField(choices=Baseline.Kind.choices)
    name = forms.CharField(max_length=120)
    metric = forms.ChoiceField(choices=Metric.choices)
    value = forms.FloatField()
    citation = forms.CharField(max_length=500, required=False, help_text="Needed for literature.")
    evidence = forms.CharField(
        max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class JSONObjectField(forms.JSONField):
    """JSON typed by a person: a document too deep or too long for ``json`` to read, or
    holding what no database here stores, is a form error, not a 500."""

    default_validators = [validate_json_value]

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError("This JSON nests too deeply.", code="invalid") from None
        except ValueError:  # e.g. an integer of more digits than Python converts
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def bound_data(self, data, initial):
        # Shown again as typed: parsing it again would fail the same way, and text that
        # UTF-8 cannot encode must not reach the page.
        try:
            value = super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)
        if data is not None and json_problem(value):
            return InvalidJSONInput(data)
        return value


def _training_data_field(**kwargs) -> forms.ModelChoiceField:
    """A choice of the project's dataset versions (given to the form as ``versions``)."""
    return forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(),
        error_messages={
            "invalid_choice": "Dataset version %(value)s is not one of this project's; choose "
            "the version the model was trained on."
        },
        **kwargs,
    )


class _TrainingDataChoices:
    """Offers ``versions`` (the project's) in the form's training_data field."""

    def __init__(self, *args, versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if versions is not None:
            self.fields["training_data"].queryset = versions


class ModelVersionForm(_TrainingDataChoices, forms.Form):
    name = forms.CharField(max_length=120)
    version = forms.CharField(max_length=60)
    artifact_uri = forms.CharField(max_length=500, required=False)
    code_commit = forms.CharField(max_length=100, required=False)
    framework = forms.CharField(max_length=100, required=False)
    parameters = JSONObjectField(required=False, initial=dict, help_text="A JSON object.")
    training_data = _training_data_field(
        required=False,
        help_text="The dataset version the model was trained on. The gate into deployment "
        "asks for it, and that the candidate is evaluated on validation or test data that is "
        "neither this version nor derived from it.",
    )

    def clean_parameters(self) -> dict:
        value = self.cleaned_data["parameters"] or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Give the parameters as a JSON object.")
        return value


class TrainingDataForm(_TrainingDataChoices, forms.Form):
    """The training data of a model registered without it, recorded once."""

    training_data = _training_data_field(
        help_text="The dataset version the model was trained on; it cannot be changed after."
    )


class EvaluationUploadForm(forms.Form):
    file = forms.FileField(help_text="Predictions as CSV, CSV.gz or Parquet.")
    dataset_version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none())
    y_true = forms.CharField(
        max_length=200,
        required=False,
        label="Column with the true value",
        help_text="Leave it blank to take the true value from the dataset version's label column.",
    )
    y_pred = forms.CharField(max_length=200, label="Column with the prediction")
    y_score = forms.CharField(
        max_length=200, required=False, label="Column with the score (optional)"
    )
    row_id = forms.CharField(max_length=200, required=False, label="Row id column (optional)")
    sensitive = ColumnListField(
        required=False,
        label="Sensitive-feature columns",
        help_text="Comma-separated; only columns of this file.",
    )

    def __init__(self, *args, versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if versions is not None:
            self.fields["dataset_version"].queryset = versions


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    job_title = forms.CharField(
        max_length=120,
        required=False,
        help_text="Shown beside your name in approval packs, sign-off trails and e-mails.",
    )
