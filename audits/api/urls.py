from django.urls import path

from audits.api import views as v

runs = v.BaselineRunViewSet
risks = v.RiskViewSet

urlpatterns = [
    path(
        "dataset-versions/<int:pk>/baseline-runs/",
        runs.as_view({"get": "list", "post": "create"}),
        name="api-baseline-run-list",
    ),
    path(
        "baseline-runs/<int:pk>/", runs.as_view({"get": "retrieve"}), name="api-baseline-run-detail"
    ),
    path(
        "projects/<slug:project_slug>/risks/",
        risks.as_view({"get": "list", "post": "create"}),
        name="api-risk-list",
    ),
    path(
        "projects/<slug:project_slug>/risks/starter/",
        risks.as_view({"post": "starter"}),
        name="api-risk-starter",
    ),
    path(
        "risks/<int:pk>/",
        risks.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-risk-detail",
    ),
]
