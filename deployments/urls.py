from django.urls import path

from deployments import views

urlpatterns = [
    path(
        "projects/<slug:slug>/deployments/",
        views.deployment_create_view,
        name="deployment-create",
    ),
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment"),
    path(
        "deployments/<int:pk>/dashboard/", views.deployment_dashboard, name="deployment-dashboard"
    ),
    path(
        "deployments/<int:pk>/dashboard/live/",
        views.deployment_dashboard_live,
        name="deployment-dashboard-live",
    ),
    path("deployments/<int:pk>/plans/", views.plan_create, name="deployment-plan-create"),
    path("deployments/<int:pk>/rollouts/", views.rollout_start_view, name="rollout-start"),
    path("deployments/<int:pk>/promote/", views.rollout_promote_view, name="rollout-promote"),
    path("deployments/<int:pk>/rollback/", views.rollout_rollback_view, name="rollout-rollback"),
    path("deployments/<int:pk>/abort/", views.rollout_abort_view, name="rollout-abort"),
    path(
        "deployments/<int:pk>/tokens/",
        views.deployment_token_create_view,
        name="deployment-token-create",
    ),
    path(
        "deployments/<int:pk>/drift-checks/",
        views.drift_check_create_view,
        name="drift-check-create",
    ),
    path("drift-checks/<int:pk>/", views.drift_check_detail, name="drift-check"),
    path(
        "deployments/<int:pk>/production-periods/",
        views.production_period_create_view,
        name="production-period-create",
    ),
    path(
        "deployments/<int:pk>/label-batches/",
        views.label_batch_create_view,
        name="label-batch-create",
    ),
    path("deployments/<int:pk>/reviews/", views.review_create_view, name="review-create"),
    path(
        "alerts/<int:pk>/acknowledge/",
        views.alert_acknowledge_view,
        name="alert-acknowledge",
    ),
    path("alerts/<int:pk>/resolve/", views.alert_resolve_view, name="alert-resolve"),
    path(
        "deployments/<int:pk>/alert-webhooks/",
        views.alert_webhook_create_view,
        name="alert-webhook-create",
    ),
    path("drift-checks/<int:pk>/status/", views.drift_check_status, name="drift-check-status"),
    path("deployment-plans/<int:pk>/", views.plan_detail, name="deployment-plan"),
    path(
        "deployment-plans/<int:pk>/signoffs/",
        views.plan_signoff_create,
        name="plan-signoff-create",
    ),
    path(
        "plan-signoffs/<int:pk>/revoke/",
        views.plan_signoff_revoke,
        name="plan-signoff-revoke",
    ),
]
