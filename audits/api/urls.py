from django.urls import path

from audits.api import views as v

runs = v.BaselineRunViewSet

urlpatterns = [
    path(
        "dataset-versions/<int:pk>/baseline-runs/",
        runs.as_view({"get": "list", "post": "create"}),
        name="api-baseline-run-list",
    ),
    path(
        "baseline-runs/<int:pk>/", runs.as_view({"get": "retrieve"}), name="api-baseline-run-detail"
    ),
]
