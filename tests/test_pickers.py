"""Say it once, pick don't type: column pickers, carried provenance, preselected team."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from projects.models import Dataset, DatasetVersion, Role
from projects.services import datasets, teams
from tests.data import sample_frame
from tests.factories import make_dataset, make_team, make_version

COLUMNS = list(sample_frame().columns)


@pytest.fixture
def engineer(client, world):
    user = world["a"].people[Role.ML_ENGINEER]
    client.force_login(user)
    return user


def _edit_body(dataset: Dataset, **changes) -> dict:
    body = {
        "name": dataset.name,
        "purpose": dataset.purpose,
        "status": dataset.status,
        "labeling_strategy": dataset.labeling_strategy,
        "label_column": dataset.label_column,
        "sensitive_columns": dataset.sensitive_columns,
        "personal_data_columns": dataset.personal_data_columns,
    }
    return {**body, **changes}


def _csv(frame) -> bytes:
    return frame.to_csv(index=False).encode()


# --- The dataset's columns are picked from its latest version ------------------------------
def test_it_offers_the_latest_versions_columns_to_pick(client, engineer, world):
    dataset = world["a"].dataset
    response = client.get(reverse("dataset-edit", args=[dataset.pk]))
    form = response.context["form"]
    assert [value for value, _ in form.fields["label_column"].choices] == ["", *COLUMNS]
    for name in ("sensitive_columns", "personal_data_columns"):
        assert [value for value, _ in form.fields[name].choices] == COLUMNS
    html = response.content.decode()
    assert '<select name="label_column"' in html
    assert '<option value="defaulted" selected>defaulted</option>' in html
    assert 'type="checkbox" name="sensitive_columns" value="sex"' in html
    assert "The columns of loans v1." in html

    # A newer version with another column: the pickers follow it.
    frame = sample_frame(seed=3).assign(branch="main")
    make_version(dataset, engineer, _csv(frame), name="more.csv")
    form = client.get(reverse("dataset-edit", args=[dataset.pk])).context["form"]
    assert [value for value, _ in form.fields["label_column"].choices] == ["", *COLUMNS, "branch"]
    assert "loans v2" in form.fields["label_column"].help_text


def test_it_saves_picked_columns(client, engineer, world):
    dataset = world["a"].dataset
    body = _edit_body(dataset, sensitive_columns=["sex", "region"])
    response = client.post(reverse("dataset-edit", args=[dataset.pk]), body)
    assert response.status_code == 302, response.context["form"].errors
    dataset.refresh_from_db()
    assert dataset.sensitive_columns == ["sex", "region"]


def test_it_refuses_a_column_the_latest_version_lacks(client, engineer, world):
    dataset = world["a"].dataset
    body = _edit_body(dataset, label_column="defaultd", sensitive_columns=["sex", "regoin"])
    response = client.post(reverse("dataset-edit", args=[dataset.pk]), body)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["label_column"] == [
        "defaultd is not a column of loans v1; pick one of its columns."
    ]
    assert errors["sensitive_columns"] == [
        "regoin is not a column of loans v1; pick one of its columns."
    ]
    dataset.refresh_from_db()
    assert dataset.label_column == "defaulted"
    assert dataset.sensitive_columns == ["sex"]


def test_it_keeps_a_name_a_later_file_dropped_and_says_so(client, engineer, world):
    dataset = world["a"].dataset
    make_version(dataset, engineer, _csv(sample_frame(seed=4).drop(columns="email")), "anon.csv")
    response = client.get(reverse("dataset-edit", args=[dataset.pk]))
    choices = dict(response.context["form"].fields["personal_data_columns"].choices)
    assert choices["email"] == "email (not in loans v2)"
    body = _edit_body(dataset, licence="internal")
    response = client.post(reverse("dataset-edit", args=[dataset.pk]), body)
    assert response.status_code == 302, response.context["form"].errors
    dataset.refresh_from_db()
    assert dataset.personal_data_columns == ["email"]
    assert dataset.licence == "internal"


def test_it_refuses_a_new_unknown_column_through_the_api(api, world):
    dataset = world["a"].dataset
    api.force_authenticate(world["a"].people[Role.ML_ENGINEER])
    url = f"/api/v1/datasets/{dataset.pk}/"
    response = api.patch(url, {"personal_data_columns": ["email", "phnoe"]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_column"
    assert response.json()["detail"].startswith(
        "The personal-data column 'phnoe' is not a column of loans v1. Its columns are "
        "'customer_id', 'email', 'income'"
    )
    response = api.patch(url, {"label_column": "defaultd"}, format="json")
    assert response.status_code == 400
    assert "Did you mean 'defaulted'?" in response.json()["detail"]
    dataset.refresh_from_db()
    assert (dataset.label_column, dataset.personal_data_columns) == ("defaulted", ["email"])
    response = api.patch(url, {"sensitive_columns": ["sex", "region"]}, format="json")
    assert response.status_code == 200


def test_it_has_columns_typed_until_a_file_is_profiled_then_checks_them(client, engineer, world):
    project = world["a"].project
    body = {
        "name": "applications",
        "purpose": "test",
        "status": "needed",
        "labeling_strategy": "programmatic",
        "label_column": "defaultd",
        "sensitive_columns": "sex",
        "personal_data_columns": "email",
    }
    create = reverse("dataset-create", args=[project.slug])
    html = client.get(create).content.decode()
    assert 'type="text" name="label_column"' in html
    response = client.post(create, body)
    assert response.status_code == 302, response.context["form"].errors
    dataset = Dataset.objects.get(project=project, name="applications")
    assert dataset.label_column == "defaultd"
    form = client.get(reverse("dataset-edit", args=[dataset.pk])).context["form"]
    assert form.fields["label_column"].widget.input_type == "text"

    upload = SimpleUploadedFile("applications.csv", _csv(sample_frame()))
    body = {"file": upload, "encoding": "utf-8"}
    response = client.post(reverse("version-upload", args=[dataset.pk]), body)
    assert response.status_code == 302
    version = DatasetVersion.objects.get(dataset=dataset)
    datasets.version_ingest(version_id=version.pk)
    version.refresh_from_db()
    message = "The label column 'defaultd' is not a column of the file. Did you mean 'defaulted'?"
    assert version.status == "failed"
    assert version.error.startswith(message)
    assert escape(message) in client.get(version.get_absolute_url()).content.decode()
    # Still no profiled version: the fields are still typed, to put right.
    form = client.get(reverse("dataset-edit", args=[dataset.pk])).context["form"]
    assert form.fields["label_column"].widget.input_type == "text"


# --- Provenance carried over ----------------------------------------------------------------
def test_it_prefills_a_new_versions_source_from_the_dataset_then_the_last_version(
    client, engineer, world
):
    project = world["a"].project
    dataset = make_dataset(project, engineer, "crm", source="CRM export, nightly")
    url = reverse("dataset-detail", args=[dataset.pk])
    form = client.get(url).context["upload_form"]
    assert form["source_uri"].value() == "CRM export, nightly"
    assert form.fields["source_uri"].help_text.startswith("As the dataset card says")
    assert 'value="CRM export, nightly"' in client.get(url).content.decode()

    make_version(dataset, engineer, source_uri="s3://crm/2026-12.csv")
    form = client.get(url).context["upload_form"]
    assert form["source_uri"].value() == "s3://crm/2026-12.csv"
    assert form.fields["source_uri"].help_text.startswith("As v1 says")


def test_it_prefills_no_source_when_none_is_known(client, engineer, world):
    dataset = make_dataset(world["a"].project, engineer, "bare")
    form = client.get(reverse("dataset-detail", args=[dataset.pk])).context["upload_form"]
    assert form["source_uri"].value() in (None, "")
    assert form.fields["source_uri"].help_text == ""


# --- A new project ------------------------------------------------------------------------
def test_it_preselects_the_one_team_the_user_may_create_projects_in(client, engineer, world):
    response = client.get(reverse("project-create"))
    form = response.context["form"]
    assert form["team"].value() == world["a"].team.pk
    html = response.content.decode()
    assert f'<option value="{world["a"].team.pk}" selected>' in html
    assert 'data-slug-from="id_name"' in html


def test_it_preselects_no_team_when_the_user_may_create_in_two(client, engineer, world):
    other = make_team("c-team")
    teams.membership_add(actor=None, team=other, user=engineer, role=Role.ML_ENGINEER)
    # A team where the person may not create projects does not count.
    viewer_team = make_team("d-team")
    teams.membership_add(actor=None, team=viewer_team, user=engineer, role=Role.VIEWER)
    form = client.get(reverse("project-create")).context["form"]
    assert form["team"].value() is None
    assert len(form.fields["team"].queryset) == 2


def test_it_preselects_the_team_when_the_other_is_one_to_read(client, engineer, world):
    viewer_team = make_team("d-team")
    teams.membership_add(actor=None, team=viewer_team, user=engineer, role=Role.VIEWER)
    form = client.get(reverse("project-create")).context["form"]
    assert form["team"].value() == world["a"].team.pk


# --- Mapping a predictions file -----------------------------------------------------------
def test_it_says_which_columns_can_come_from_the_dataset_version(client, engineer, world):
    a = world["a"]
    response = client.get(reverse("model-detail", args=[a.model.pk]))
    html = response.content.decode()
    assert "data-header-picker" in html
    assert "js/pickers.js" in html
    hint = next(h for h in response.context["version_hints"] if h["version"] == a.version)
    assert hint["label"] == "defaulted"
    assert hint["sensitive"] == ["sex"]
    assert json.loads(hint["columns_json"]) == COLUMNS
    assert (
        "Sensitive features can come from loans v1 instead: the audit reads its sensitive "
        "column <code>sex</code> from there when the file lacks it"
    ) in html
    assert "checked against its label column <code>defaulted</code>" in html


def test_it_offers_no_dataset_column_the_version_lacks(client, engineer, world):
    a = world["a"]
    dataset = make_dataset(a.project, engineer, "unlabelled", label_column="", sensitive_columns=[])
    version = make_version(dataset, engineer, _csv(sample_frame(seed=8)), name="u.csv")
    hints = client.get(reverse("model-detail", args=[a.model.pk])).context["version_hints"]
    hint = next(h for h in hints if h["version"] == version)
    assert (hint["label"], hint["sensitive"]) == ("", [])


def test_it_shows_no_mapping_hints_to_a_viewer(client, world):
    a = world["a"]
    client.force_login(a.people[Role.VIEWER])
    response = client.get(reverse("model-detail", args=[a.model.pk]))
    assert response.context["version_hints"] == []
    assert "data-header-picker" not in response.content.decode()


# --- The version page ---------------------------------------------------------------------
def test_it_lists_a_versions_columns_at_the_top_of_its_page(client, engineer, world):
    version = world["a"].version
    html = client.get(version.get_absolute_url()).content.decode()
    listing = html[
        html.index('class="column-list"') : html.index("</p>", html.index("column-list"))
    ]
    assert listing.index(">7 columns:<") >= 0
    for number, name in enumerate(COLUMNS, start=1):
        assert f'<a class="mono" href="#column-{number}">{name}</a>' in listing
        assert f'<tr id="column-{number}">' in html
    assert "label</span>" in listing and "personal data</span>" in listing
