"""API for monitoring reports: a deployment's period as a PDF, with its snapshot."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.api.packs import rendered_pdf_response
from audits.models import MonitoringReport
from audits.services.monitoring_reports import monitoring_report_request
from deployments import selectors as deployment_selectors
from deployments.models import Deployment
from portal import access
from portal.api.schema import NOT_READY
from portal.api.views import ApiViewSet
from projects.api.datasets import JOB_FIELDS


class MonitoringReportSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-monitoring-report-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    pdf = serializers.SerializerMethodField()
    requested_by = serializers.CharField(
        source="requested_by.username", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = MonitoringReport
        fields = [
            "url",
            "id",
            "deployment",
            "period_start",
            "period_end",
            *JOB_FIELDS,
            "snapshot_sha256",
            "pdf",
            "pdf_sha256",
            "pdf_bytes",
            "pages",
            "requested_by",
        ]
        read_only_fields = fields

    def get_pdf(self, report: MonitoringReport) -> str | None:
        """Where to download the PDF once it is rendered."""
        if report.status != MonitoringReport.Status.SUCCEEDED:
            return None
        return self.context["request"].build_absolute_uri(
            f"/api/v1/monitoring-reports/{report.pk}/pdf/"
        )


class MonitoringReportDetailSerializer(MonitoringReportSerializer):
    snapshot = serializers.JSONField(
        read_only=True,
        help_text="What the PDF is laid out from: the period's metrics per hour (or minute) "
        "with their targets, drift checks, alerts and decisions.",
    )

    class Meta(MonitoringReportSerializer.Meta):
        fields = [*MonitoringReportSerializer.Meta.fields, "snapshot"]
        read_only_fields = fields


class MonitoringReportWriteSerializer(serializers.Serializer):
    # Text, not DateTimeField: a time without a zone is refused, not read as the server's.
    period_start = serializers.CharField(
        max_length=40, help_text="ISO 8601 with a time zone: 2026-11-01T00:00:00Z."
    )
    period_end = serializers.CharField(
        max_length=40,
        help_text="ISO 8601 with a time zone, after period_start, not later than now.",
    )


def report_pdf_response(report: MonitoringReport) -> HttpResponse:
    return rendered_pdf_response(
        report,
        "Monitoring report",
        f"{report.deployment.project.slug}-monitoring-report-{report.pk}.pdf",
    )


class MonitoringReportViewSet(ApiViewSet):
    serializer_class = MonitoringReportSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=MonitoringReportSerializer(many=True))
    def list(self, request, pk: int):
        """The deployment's monitoring reports, newest first."""
        deployment = deployment_selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(audit_selectors.monitoring_reports_of(deployment))
        data = MonitoringReportSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=MonitoringReportWriteSerializer, responses={202: MonitoringReportSerializer}
    )
    def create(self, request, pk: int):
        """Snapshot the period and render its report: 202 and the report's URL to poll."""
        deployment = deployment_selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        data = MonitoringReportWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = monitoring_report_request(
            actor=request.user, deployment=deployment, token=self.token, **data.validated_data
        )
        body = MonitoringReportSerializer(report, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    @extend_schema(responses=MonitoringReportDetailSerializer)
    def retrieve(self, request, pk: int):
        report = audit_selectors.monitoring_report_get(request.user, pk, self.token)
        return Response(MonitoringReportDetailSerializer(report, context={"request": request}).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, 409: NOT_READY})
    def pdf(self, request, pk: int):
        """The PDF; its sha256 is in the ``X-Content-SHA256`` header and on the report."""
        return report_pdf_response(
            audit_selectors.monitoring_report_get(request.user, pk, self.token)
        )
