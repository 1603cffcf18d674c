"""API for trained baselines: start a run on a dataset version, poll it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.analysis.audit_config import WATCHING_CHECKS
from audits.api.fairness import ExceptionRequestSerializer, ExceptionSerializer
from audits.api.shapes import BaselineResultSerializer
from audits.models import BaselineRun, RiskItem
from audits.services.baselines import baseline_run_request
from audits.services.risks import RISK_FIELDS, risk_create, risk_starter_import, risk_update
from portal import access
from portal.api.schema import json_of
from portal.api.views import ApiViewSet
from portal.inputs import LONG_TEXT_MAX
from portal.sudo import require_recent_password
from projects import selectors
from projects.api.datasets import JOB_FIELDS


class BaselineRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-baseline-run-detail")
    dataset_version = serializers.PrimaryKeyRelatedField(read_only=True)
    requested_task = serializers.ChoiceField(
        choices=BaselineRun.Task.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank: detected from the target column.",
    )
    task = serializers.ChoiceField(
        choices=BaselineRun.Task.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank until the run has started.",
    )
    result = json_of(BaselineResultSerializer, read_only=True)

    class Meta:
        model = BaselineRun
        fields = [
            "url",
            "id",
            "dataset_version",
            "target",
            "requested_task",
            "task",
            "row_cap",
            "rows_used",
            "sampled",
            *JOB_FIELDS,
            "result",
        ]
        read_only_fields = fields


class BaselineRunRequestSerializer(serializers.Serializer):
    target = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Default: the label column."
    )
    task = serializers.ChoiceField(
        choices=BaselineRun.Task.choices, required=False, help_text="Default: detected."
    )


class BaselineRunViewSet(ApiViewSet):
    serializer_class = BaselineRunSerializer
    queryset = BaselineRun.objects.none()

    @extend_schema(responses=BaselineRunSerializer(many=True))
    def list(self, request, pk: int):
        version = selectors.version_get(request.user, pk, self.token)
        page = self.paginate_queryset(version.baseline_runs.all())
        data = BaselineRunSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=BaselineRunRequestSerializer, responses={202: BaselineRunSerializer})
    def create(self, request, pk: int):
        """Train the dummy, linear and gradient-boosted baselines; poll the returned URL."""
        version = selectors.version_get(request.user, pk, self.token)
        project = version.dataset.project
        access.require_project_perm(request.user, project, access.CHANGE, self.token)
        data = BaselineRunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = baseline_run_request(
            actor=request.user, version=version, token=self.token, **data.validated_data
        )
        body = BaselineRunSerializer(run, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    def retrieve(self, request, pk: int):
        run = audit_selectors.baseline_run_get(request.user, pk, self.token)
        return Response(BaselineRunSerializer(run, context={"request": request}).data)


class RiskSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-risk-detail")
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    severity = serializers.IntegerField(read_only=True)
    audit_checks = serializers.ListField(
        child=serializers.ChoiceField(choices=WATCHING_CHECKS),
        required=False,
        help_text="Audit thresholds that watch this risk.",
    )
    severity_band = serializers.CharField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", default=None, allow_null=True, read_only=True
    )
    exception = ExceptionRequestSerializer(
        write_only=True,
        required=False,
        help_text="To accept a high or critical risk (a business owner, with the status "
        "accepted): the finding, conditions, owner and expiry date of the exception.",
    )
    accepted_as_exception = serializers.SerializerMethodField(
        help_text="The risk's newest exception, if a business owner accepted it as one."
    )

    class Meta:
        model = RiskItem
        fields = [
            "url",
            "id",
            "project",
            *RISK_FIELDS,
            "exception",
            "accepted_as_exception",
            "severity",
            "severity_band",
            "starter_key",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["starter_key", "created_at", "updated_at"]
        extra_kwargs = {
            name: {"max_length": LONG_TEXT_MAX}
            for name in ("description", "mitigation", "rationale")
        }
        validators = []  # the service checks the rules and answers with their codes

    @extend_schema_field(ExceptionSerializer(allow_null=True))
    def get_accepted_as_exception(self, risk: RiskItem) -> dict | None:
        newest = risk.exceptions.order_by("-created_at", "-pk").first()
        return ExceptionSerializer(newest, context=self.context).data if newest else None


class RiskViewSet(ApiViewSet):
    serializer_class = RiskSerializer
    queryset = RiskItem.objects.none()

    @extend_schema(responses=RiskSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(audit_selectors.risk_list(project))
        data = RiskSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=RiskSerializer, responses={201: RiskSerializer})
    def create(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        access.require_any_project_perm(request.user, project, access.EDIT_RISKS, self.token)
        data = RiskSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        if "exception" in data.validated_data:
            require_recent_password(request, self.token)
        risk = risk_create(
            actor=request.user, project=project, token=self.token, **data.validated_data
        )
        body = RiskSerializer(risk, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    def retrieve(self, request, pk: int):
        risk = audit_selectors.risk_get(request.user, pk, self.token)
        return Response(RiskSerializer(risk, context={"request": request}).data)

    @extend_schema(request=RiskSerializer, responses=RiskSerializer)
    def partial_update(self, request, pk: int):
        risk = audit_selectors.risk_get(request.user, pk, self.token)
        access.require_any_project_perm(request.user, risk.project, access.EDIT_RISKS, self.token)
        data = RiskSerializer(risk, data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        if "exception" in data.validated_data:
            require_recent_password(request, self.token)
        risk = risk_update(actor=request.user, risk=risk, token=self.token, **data.validated_data)
        return Response(RiskSerializer(risk, context={"request": request}).data)

    @extend_schema(request=None, responses={200: RiskSerializer(many=True)})
    def starter(self, request, project_slug: str):
        """Add the starter list of common failure modes the project does not have yet."""
        project = access.access_project(request.user, project_slug, token=self.token)
        access.require_any_project_perm(request.user, project, access.EDIT_RISKS, self.token)
        risk_starter_import(actor=request.user, project=project, token=self.token)
        data = RiskSerializer(
            audit_selectors.risk_list(project), many=True, context={"request": request}
        ).data
        return Response(data)
