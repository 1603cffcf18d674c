from django.urls import path

from audits.views import exceptions, fairness, mitigation, monitoring_reports, packs, risks

urlpatterns = [
    path("projects/<slug:slug>/risks/", risks.risk_list, name="risk-list"),
    path("projects/<slug:slug>/risks/starter/", risks.risk_starter, name="risk-starter"),
    path("risks/<int:pk>/edit/", risks.risk_edit, name="risk-edit"),
    path("projects/<slug:slug>/audits/", fairness.audit_settings, name="audit-settings"),
    path("evaluations/<int:pk>/audits/", fairness.audit_create, name="audit-create"),
    path("audits/inbox/", fairness.audit_inbox, name="audit-inbox"),
    path(
        "projects/<slug:slug>/exceptions/",
        exceptions.project_exception_list,
        name="project-exception-list",
    ),
    path(
        "teams/<slug:slug>/exceptions/", exceptions.team_exception_list, name="team-exception-list"
    ),
    path(
        "criteria-versions/<int:pk>/exceptions/",
        exceptions.criterion_exception_create,
        name="criterion-exception-create",
    ),
    path("audits/<int:pk>/", fairness.audit_detail, name="audit-detail"),
    path("audits/<int:pk>/status/", fairness.audit_status, name="audit-status"),
    path("audits/<int:pk>/reviews/", fairness.audit_review_create, name="audit-review-create"),
    path(
        "audits/<int:pk>/review-requests/",
        fairness.review_request_create,
        name="audit-review-request-create",
    ),
    path("audits/<int:pk>/comments/", fairness.review_comment_create, name="audit-comment-create"),
    path("audits/<int:pk>/mitigation/", mitigation.mitigation_create, name="mitigation-create"),
    path(
        "audits/<int:pk>/mitigation/status/",
        mitigation.mitigation_status,
        name="mitigation-status",
    ),
    path("audits/<int:pk>/report.json", fairness.audit_download, {"fmt": "json"}, "audit-json"),
    path("audits/<int:pk>/report.csv", fairness.audit_download, {"fmt": "csv"}, "audit-csv"),
    path("projects/<slug:slug>/approval-packs/", packs.pack_list, name="pack-list"),
    path("projects/<slug:slug>/approval-packs/new/", packs.pack_create, name="pack-create"),
    path("approval-packs/<int:pk>/", packs.pack_detail, name="pack-detail"),
    path("approval-packs/<int:pk>/status/", packs.pack_status, name="pack-status"),
    path("approval-packs/<int:pk>/pdf/", packs.pack_pdf, name="pack-pdf"),
    path("projects/<slug:slug>/model-card.json", packs.model_card, name="model-card"),
    path(
        "deployments/<int:pk>/monitoring-reports/",
        monitoring_reports.monitoring_report_create,
        name="monitoring-report-create",
    ),
    path(
        "monitoring-reports/<int:pk>/",
        monitoring_reports.monitoring_report_detail,
        name="monitoring-report",
    ),
    path(
        "monitoring-reports/<int:pk>/status/",
        monitoring_reports.monitoring_report_status,
        name="monitoring-report-status",
    ),
    path(
        "monitoring-reports/<int:pk>/pdf/",
        monitoring_reports.monitoring_report_pdf,
        name="monitoring-report-pdf",
    ),
]
