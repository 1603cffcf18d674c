from django.urls import path

from deployments.api import views as v

deployments = v.DeploymentViewSet
signoffs = v.PlanSignOffViewSet

urlpatterns = [
    path(
        "projects/<slug:project_slug>/deployments/",
        deployments.as_view({"get": "list", "post": "create"}),
        name="api-deployment-list",
    ),
    path(
        "deployments/<int:pk>/",
        deployments.as_view({"get": "retrieve"}),
        name="api-deployment-detail",
    ),
    path(
        "deployments/<int:pk>/plans/",
        deployments.as_view({"get": "plans", "post": "plan_create"}),
        name="api-plan-list",
    ),
    path(
        "deployments/<int:pk>/rollouts/",
        deployments.as_view({"get": "rollouts", "post": "rollout_create"}),
        name="api-rollout-list",
    ),
    path(
        "deployments/<int:pk>/promote/",
        deployments.as_view({"post": "promote"}),
        name="api-deployment-promote",
    ),
    path(
        "deployments/<int:pk>/rollback/",
        deployments.as_view({"post": "rollback"}),
        name="api-deployment-rollback",
    ),
    path(
        "deployments/<int:pk>/abort/",
        deployments.as_view({"post": "abort"}),
        name="api-deployment-abort",
    ),
    path(
        "deployments/<int:pk>/metrics/",
        deployments.as_view({"post": "metrics"}),
        name="api-deployment-metrics",
    ),
    path(
        "deployments/<int:pk>/drift-checks/",
        v.DriftCheckViewSet.as_view({"get": "list", "post": "create"}),
        name="api-drift-check-list",
    ),
    path(
        "deployments/<int:pk>/alerts/",
        v.AlertViewSet.as_view({"get": "list"}),
        name="api-alert-list",
    ),
    path("alerts/<int:pk>/", v.AlertViewSet.as_view({"get": "retrieve"}), name="api-alert-detail"),
    path(
        "alerts/<int:pk>/acknowledge/",
        v.AlertViewSet.as_view({"post": "acknowledge"}),
        name="api-alert-acknowledge",
    ),
    path(
        "alerts/<int:pk>/resolve/",
        v.AlertViewSet.as_view({"post": "resolve"}),
        name="api-alert-resolve",
    ),
    path(
        "deployments/<int:pk>/alert-webhooks/",
        v.AlertWebhookViewSet.as_view({"get": "list", "post": "create"}),
        name="api-alert-webhook-list",
    ),
    path(
        "deployments/<int:pk>/alertmanager/",
        v.AlertmanagerViewSet.as_view({"post": "create"}),
        name="api-deployment-alertmanager",
    ),
    path(
        "drift-checks/<int:pk>/",
        v.DriftCheckViewSet.as_view({"get": "retrieve"}),
        name="api-drift-check-detail",
    ),
    path(
        "deployment-plans/<int:pk>/",
        v.PlanViewSet.as_view({"get": "retrieve"}),
        name="api-plan-detail",
    ),
    path(
        "deployment-plans/<int:pk>/signoffs/",
        signoffs.as_view({"get": "list", "post": "create"}),
        name="api-plan-signoff-list",
    ),
    path(
        "plan-signoffs/<int:pk>/",
        signoffs.as_view({"get": "retrieve"}),
        name="api-plan-signoff-detail",
    ),
    path(
        "plan-signoffs/<int:pk>/revoke/",
        signoffs.as_view({"post": "revoke"}),
        name="api-plan-signoff-revoke",
    ),
    path(
        "rollouts/<int:pk>/",
        v.RolloutViewSet.as_view({"get": "retrieve"}),
        name="api-rollout-detail",
    ),
    path(
        "analyses/<int:pk>/",
        v.AnalysisViewSet.as_view({"get": "retrieve"}),
        name="api-analysis-detail",
    ),
]

# Release tools: Flagger's webhooks and the verdict an Argo Rollouts analysis reads.
from deployments.api import release_tools  # noqa: E402

urlpatterns += [
    path(
        "deployments/<int:pk>/flagger/<slug:hook>/",
        release_tools.FlaggerViewSet.as_view({"post": "hook"}),
        name="api-deployment-flagger",
    ),
    path(
        "deployments/<int:pk>/analysis/",
        release_tools.AnalysisVerdictViewSet.as_view({"get": "retrieve", "post": "judge"}),
        name="api-deployment-analysis",
    ),
]

# Production periods: the data a deployment saw, and the metrics derived from it.
from deployments.api import production  # noqa: E402

urlpatterns += [
    path(
        "deployments/<int:pk>/production-periods/",
        production.ProductionPeriodViewSet.as_view({"get": "list", "post": "create"}),
        name="api-production-period-list",
    ),
    path(
        "production-periods/<int:pk>/",
        production.ProductionPeriodViewSet.as_view({"get": "retrieve"}),
        name="api-production-period-detail",
    ),
    path(
        "deployments/<int:pk>/label-batches/",
        production.LabelBatchViewSet.as_view({"get": "list", "post": "create"}),
        name="api-label-batch-list",
    ),
    path(
        "label-batches/<int:pk>/",
        production.LabelBatchViewSet.as_view({"get": "retrieve"}),
        name="api-label-batch-detail",
    ),
]

# Periodic reviews of live deployments.
from deployments.api import reviews  # noqa: E402

urlpatterns += [
    path(
        "deployments/<int:pk>/reviews/",
        reviews.ReviewViewSet.as_view({"get": "list", "post": "create"}),
        name="api-review-list",
    ),
    path(
        "reviews/<int:pk>/",
        reviews.ReviewViewSet.as_view({"get": "retrieve"}),
        name="api-review-detail",
    ),
]
