from django.urls import path

from audits.api import fairness as f
from audits.api import mitigation as m
from audits.api import monitoring_reports as mr
from audits.api import packs as p
from audits.api import review_workflow as rw
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
        # The whole register as one plain list, not pages.
        risks.as_view({"post": "starter"}, pagination_class=None),
        name="api-risk-starter",
    ),
    path(
        "risks/<int:pk>/",
        risks.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-risk-detail",
    ),
]

configs = f.AuditConfigViewSet
audits = f.AuditViewSet
reviews = f.AuditReviewViewSet
urlpatterns += [
    path(
        "projects/<slug:project_slug>/audit-configs/",
        configs.as_view({"get": "list", "post": "create"}),
        name="api-audit-config-list",
    ),
    path(
        "evaluations/<int:pk>/audits/",
        audits.as_view({"get": "list", "post": "create"}),
        name="api-audit-list",
    ),
    path("audits/inbox/", audits.as_view({"get": "inbox"}), name="api-audit-inbox"),
    path("audits/<int:pk>/", audits.as_view({"get": "retrieve"}), name="api-audit-detail"),
    path("audits/<int:pk>/csv/", audits.as_view({"get": "csv"}), name="api-audit-csv"),
    path(
        "audits/<int:pk>/reviews/",
        reviews.as_view({"get": "list", "post": "create"}),
        name="api-audit-review-list",
    ),
    path(
        "audits/<int:pk>/review-requests/",
        rw.ReviewRequestViewSet.as_view({"get": "list", "post": "create"}),
        name="api-audit-review-request-list",
    ),
    path(
        "audits/<int:pk>/comments/",
        rw.ReviewCommentViewSet.as_view({"get": "list", "post": "create"}),
        name="api-audit-comment-list",
    ),
    path(
        "audits/<int:pk>/mitigation/",
        m.MitigationViewSet.as_view({"get": "retrieve", "post": "create"}),
        name="api-audit-mitigation",
    ),
    path(
        "projects/<slug:project_slug>/exceptions/",
        f.ExceptionViewSet.as_view({"get": "list"}),
        name="api-exception-list",
    ),
    path(
        "exceptions/<int:pk>/",
        f.ExceptionViewSet.as_view({"get": "retrieve"}),
        name="api-exception-detail",
    ),
    path(
        "criteria-versions/<int:pk>/exceptions/",
        f.ExceptionViewSet.as_view({"post": "criterion"}),
        name="api-criterion-exception",
    ),
]

packs = p.PackViewSet
urlpatterns += [
    path(
        "projects/<slug:project_slug>/approval-packs/",
        packs.as_view({"get": "list", "post": "create"}),
        name="api-pack-list",
    ),
    path("approval-packs/<int:pk>/", packs.as_view({"get": "retrieve"}), name="api-pack-detail"),
    path("approval-packs/<int:pk>/pdf/", packs.as_view({"get": "pdf"}), name="api-pack-pdf"),
    path(
        "projects/<slug:project_slug>/model-card/",
        p.ModelCardViewSet.as_view({"get": "retrieve"}),
        name="api-model-card",
    ),
]

reports = mr.MonitoringReportViewSet
urlpatterns += [
    path(
        "deployments/<int:pk>/monitoring-reports/",
        reports.as_view({"get": "list", "post": "create"}),
        name="api-monitoring-report-list",
    ),
    path(
        "monitoring-reports/<int:pk>/",
        reports.as_view({"get": "retrieve"}),
        name="api-monitoring-report-detail",
    ),
    path(
        "monitoring-reports/<int:pk>/pdf/",
        reports.as_view({"get": "pdf"}),
        name="api-monitoring-report-pdf",
    ),
]
