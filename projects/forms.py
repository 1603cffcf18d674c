from __future__ import annotations

from django import forms

from projects import selectors
from projects.models import ApiToken, Project, Role, Team


class ProjectForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=120)
    slug = forms.SlugField(max_length=80, help_text="Short name used in URLs and the API.")
    task_type = forms.ChoiceField(choices=Project.TaskType.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


class ProjectEditForm(forms.Form):
    name = forms.CharField(max_length=120)
    task_type = forms.ChoiceField(choices=Project.TaskType.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False)


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=Project.Stage.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


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
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"]
    )
    days = forms.IntegerField(min_value=1, max_value=366, initial=90, label="Expires after (days)")

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        if projects is not None:
            self.fields["project"].queryset = projects
