from django.urls import path

from projects.api import views as v
from projects.api.criteria import CriteriaViewSet
from projects.api.datasets import DatasetViewSet, VersionViewSet
from projects.api.evaluations import BaselineViewSet, EvaluationViewSet, ModelViewSet
from projects.api.signoffs import MeasurementViewSet, SignOffViewSet

teams = v.TeamViewSet
memberships = v.MembershipViewSet
projects = v.ProjectViewSet
shares = v.ShareViewSet
exports = v.EventExportViewSet

urlpatterns = [
    path(
        "me/",
        v.ProfileViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-profile",
    ),
    path("teams/", teams.as_view({"get": "list"}), name="api-team-list"),
    path("teams/<slug:slug>/", teams.as_view({"get": "retrieve"}), name="api-team-detail"),
    path(
        "teams/<slug:team_slug>/memberships/",
        memberships.as_view({"get": "list", "post": "create"}),
        name="api-membership-list",
    ),
    path(
        "memberships/<int:pk>/",
        memberships.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="api-membership-detail",
    ),
    path("projects/", projects.as_view({"get": "list", "post": "create"}), name="api-project-list"),
    path(
        "projects/<slug:slug>/",
        projects.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-project-detail",
    ),
    path(
        "projects/<slug:slug>/gates/",
        v.GateViewSet.as_view({"get": "gates", "post": "gates"}),
        name="api-project-gates",
    ),
    path(
        "projects/<slug:slug>/transition/",
        projects.as_view({"post": "transition"}),
        name="api-project-transition",
    ),
    path(
        "projects/<slug:slug>/events/",
        v.EventViewSet.as_view({"get": "events"}),
        name="api-project-events",
    ),
    path(
        "projects/<slug:project_slug>/shares/",
        shares.as_view({"get": "list", "post": "create"}),
        name="api-share-list",
    ),
    path("shares/<int:pk>/", shares.as_view({"delete": "destroy"}), name="api-share-detail"),
    path(
        "projects/<slug:project_slug>/event-exports/",
        exports.as_view({"get": "list", "post": "create"}),
        name="api-event-export-list",
    ),
    path(
        "event-exports/<int:pk>/",
        exports.as_view({"get": "retrieve"}),
        name="api-event-export-detail",
    ),
    path(
        "event-exports/<int:pk>/download/",
        exports.as_view({"get": "download"}),
        name="api-event-export-download",
    ),
    path(
        "projects/<slug:project_slug>/datasets/",
        DatasetViewSet.as_view({"get": "list", "post": "create"}),
        name="api-dataset-list",
    ),
    path(
        "datasets/<int:pk>/",
        DatasetViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-dataset-detail",
    ),
    path(
        "datasets/<int:pk>/versions/",
        VersionViewSet.as_view({"get": "list", "post": "create"}),
        name="api-version-list",
    ),
    path(
        "dataset-versions/<int:pk>/",
        VersionViewSet.as_view({"get": "retrieve"}),
        name="api-version-detail",
    ),
    path(
        "projects/<slug:project_slug>/baselines/",
        BaselineViewSet.as_view({"get": "list", "post": "create"}),
        name="api-baseline-list",
    ),
    path(
        "projects/<slug:project_slug>/models/",
        ModelViewSet.as_view({"get": "list", "post": "create"}),
        name="api-model-list",
    ),
    path(
        "models/<int:pk>/",
        ModelViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-model-detail",
    ),
    path(
        "models/<int:pk>/candidate/",
        ModelViewSet.as_view({"post": "candidate"}),
        name="api-model-candidate",
    ),
    path(
        "models/<int:pk>/evaluations/",
        EvaluationViewSet.as_view({"get": "list", "post": "create"}),
        name="api-evaluation-list",
    ),
    path(
        "evaluations/<int:pk>/",
        EvaluationViewSet.as_view({"get": "retrieve"}),
        name="api-evaluation-detail",
    ),
    path(
        "projects/<slug:project_slug>/criteria/",
        CriteriaViewSet.as_view({"get": "list", "post": "create"}),
        name="api-criteria-list",
    ),
    path(
        "criteria-versions/<int:pk>/",
        CriteriaViewSet.as_view({"get": "retrieve"}),
        name="api-criteria-version-detail",
    ),
    path(
        "criteria-versions/<int:pk>/signoffs/",
        SignOffViewSet.as_view({"get": "list", "post": "create"}),
        name="api-signoff-list",
    ),
    path(
        "signoffs/inbox/",
        # One plain list, not pages: the schema must not promise pagination.
        SignOffViewSet.as_view({"get": "inbox"}, pagination_class=None),
        name="api-signoff-inbox",
    ),
    path(
        "signoffs/<int:pk>/", SignOffViewSet.as_view({"get": "retrieve"}), name="api-signoff-detail"
    ),
    path(
        "signoffs/<int:pk>/revoke/",
        SignOffViewSet.as_view({"post": "revoke"}),
        name="api-signoff-revoke",
    ),
    path(
        "projects/<slug:project_slug>/measurements/",
        MeasurementViewSet.as_view({"get": "list", "post": "create"}),
        name="api-measurement-list",
    ),
]
